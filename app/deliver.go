package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// Dispatcher claims due deliveries and runs them on a shared pool of
// workers, with a cap per webhook so one slow receiver cannot hold them all.
//
// It claims up to twice a webhook's cap at a time and runs cap of them at
// once; the rest wait their turn in memory. So it claims (a write) about once
// per cap attempts instead of once per attempt, and a receiver that answers
// fast always has its next delivery ready.
type Dispatcher struct {
	store    Store
	sinks    map[string]sinks.Sink
	log      *slog.Logger
	metrics  *Metrics
	schedule []time.Duration
	timeout  time.Duration
	probe    time.Duration // how often failing webhooks are probed (HERALD_PROBE_INTERVAL)
	workers  int
	perHook  int
	prepare  func(ctx context.Context, c *store.Claimed, h *Webhook) (*sinks.Request, error)
	// onRecover is called when a webhook that was failing succeeds again,
	// onDisabled when a receiver's answer disabled its webhook.
	onRecover  func(webhookID string)
	onDisabled func(webhookID, reason string)

	wake chan struct{}
	done chan struct{} // a webhook has room for more

	global chan struct{} // one token per attempt running, all webhooks

	mu       sync.Mutex
	pending  map[string]int           // per webhook: claimed and not yet answered
	sems     map[string]chan struct{} // per webhook: one token per attempt running
	queues   map[string][]queued      // per webhook: claimed, waiting for a turn, in claim order
	total    int
	rotate   int  // where the next claim round starts, for fairness
	running  bool // Run is claiming: ingest may hand deliveries over (reserve)
	handoffs int  // deliveries ingest handed over, in all
	blocked  bool // Run's own: the last step left due work for want of room
	// Run's own: the steps in a row that found due work, took none, and
	// had none of ours in flight (see step).
	emptyClaims int

	sending map[string]chan struct{} // per delivery with an attempt running here: closed when it ends

	hookVersion uint64
	hooks       map[string]*Webhook
	hookOrder   []string

	wg       sync.WaitGroup
	runCtx   context.Context // cancelled when shutdown starts: queued claims are released
	hardStop context.Context // cancelled when shutdown stops waiting for attempts
}

func newDispatcher(d *Dispatcher) *Dispatcher {
	d.wake = make(chan struct{}, 1)
	d.done = make(chan struct{}, 1)
	d.global = make(chan struct{}, d.workers)
	d.pending = map[string]int{}
	d.sems = map[string]chan struct{}{}
	d.queues = map[string][]queued{}
	d.sending = map[string]chan struct{}{}
	return d
}

// queued is a claimed delivery waiting for its turn.
type queued struct {
	c *store.Claimed
	h *Webhook
}

// Wake tells the dispatcher there may be new work (after ingest or retry).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// lease covers a short wait for a turn plus the attempt itself. A claim
// that waits longer is renewed before it is sent (holdLease).
func (d *Dispatcher) lease() time.Duration { return 2*d.timeout + leaseMargin }

// leaseMargin is the room a lease keeps beyond the attempt's timeout, for
// recording the outcome.
const leaseMargin = 5 * time.Second

// Run loops until ctx ends, then waits for attempts in flight (up to grace)
// and releases what did not finish.
func (d *Dispatcher) Run(ctx context.Context, grace time.Duration) {
	hardCtx, hardCancel := context.WithCancel(context.Background())
	d.runCtx, d.hardStop = ctx, hardCtx
	defer hardCancel()
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	timer := time.NewTimer(0)
	defer timer.Stop()
	probe := time.NewTicker(d.probe)
	defer probe.Stop()
	d.probeFailing(ctx) // failing webhooks are known from the database, also after a restart
	for {
		timer.Reset(d.step(ctx))
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				d.stopTaking()
				d.drain(grace, hardCancel)
				return
			case <-d.wake:
				waiting = false
			case <-d.done:
				// Room was made: worth a look only if due work was
				// waiting for it. (Otherwise, with deliveries handed
				// over at ingest, every finished attempt would cost a
				// query that finds nothing.)
				waiting = !d.blocked
			case <-timer.C:
				waiting = false
			case <-probe.C:
				d.probeFailing(ctx)
				waiting = false
			}
		}
	}
}

// step claims what is due and says how long to sleep when nothing wakes the
// dispatcher. It looks on a reader first, so an idle round writes nothing.
func (d *Dispatcher) step(ctx context.Context) time.Duration {
	d.blocked = false
	emptyClaims := d.emptyClaims // counts only steps in a row that end blocked elsewhere
	d.emptyClaims = 0
	if err := d.refreshHooks(ctx); err != nil {
		d.log.Error("Load webhooks failed", "error", err)
		return time.Second
	}
	order, slots, free := d.room()
	if len(order) == 0 || free <= 0 {
		d.blocked = true
		return time.Second // every webhook is busy: a finishing attempt wakes us
	}
	next, err := d.store.NextDue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("Find due deliveries failed", "error", err)
		}
		return time.Second
	}
	if next == 0 {
		return time.Minute // nothing pending: ingest and retries wake us
	}
	if wait := time.UnixMilli(next).Sub(d.store.Now()); wait > 0 {
		return min(wait, time.Minute)
	}
	claimed, err := d.store.ClaimDue(ctx, order, slots, free, d.lease().Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("Claim deliveries failed", "error", err)
		}
		return time.Second
	}
	for _, c := range claimed {
		d.start(c)
	}
	if len(claimed) > 0 {
		return 0 // there may be more
	}
	// Due but not claimable (its webhook is full): an attempt of ours
	// that finishes wakes us; poll now and then in case a signal was
	// missed. With none of ours in flight, the room is held by other nodes
	// (on PostgreSQL the cap is shared), whose attempts do not signal here:
	// look again soon, backing off to the second, rather than idle for a
	// whole second while they finish.
	d.blocked = true
	d.mu.Lock()
	ours := d.total
	d.mu.Unlock()
	if ours > 0 {
		return time.Second
	}
	d.emptyClaims = emptyClaims + 1
	return min(time.Second, blockedPoll<<min(emptyClaims, 6))
}

// blockedPoll is the first wait before claiming again when due work was
// left to other nodes' leases; it doubles on each empty claim up to 1s.
const blockedPoll = 20 * time.Millisecond

// Depth: how many deliveries a webhook may hold claimed, as a multiple of
// its cap: the attempts running, and a queue waiting for a turn in claim
// order. Where ingest hands deliveries over (SQLite), a deep queue rides
// out a moment's slowness of the receiver or of the commits without
// falling back on claims: a claim is a write that waits its turn at the
// writer (10 to 60 ms under steady load, measured), and a webhook that fell
// back caught up only 16 deliveries a claim. At twice the cap, make bench's
// steady phase spent its p99 (40 to 400 ms) waiting for claims; at eight
// times, the slowest deliveries start as their events are acknowledged.
// PostgreSQL claims only, its nodes sharing the cap, and keeps
// store.ClaimDepth. The pool stays at store.ClaimDepth times the workers
// on both: that bounds the events held in memory (each up to the body
// limit) as before.
const handoffDepth = 8

// depth is this dispatcher's: handoffDepth, or store.ClaimDepth where
// ingest does not hand off.
func (d *Dispatcher) depth() int {
	if d.store.HandsOff() {
		return handoffDepth
	}
	return store.ClaimDepth
}

// room says which webhooks may take more claims, how many each, and how
// many in all. A webhook is topped up only once half its claims are done.
func (d *Dispatcher) room() (order []string, slots map[string]int, free int) {
	depth := d.depth()
	d.mu.Lock()
	defer d.mu.Unlock()
	free = store.ClaimDepth*d.workers - d.total
	slots = make(map[string]int, len(d.hookOrder))
	n := len(d.hookOrder)
	for i := range n {
		id := d.hookOrder[(d.rotate+i)%n]
		if p := d.pending[id]; p <= depth/2*d.perHook {
			slots[id] = depth*d.perHook - p
			order = append(order, id)
		}
	}
	d.rotate++
	return order, slots, free
}

func (d *Dispatcher) drain(grace time.Duration, hardCancel context.CancelFunc) {
	finished := make(chan struct{})
	go func() { d.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(grace):
		hardCancel() // attempts still running are cancelled and released, not failed
		<-finished
	}
}

func (d *Dispatcher) refreshHooks(ctx context.Context) error {
	v := d.store.WebhookVersion()
	if d.hooks != nil && v == d.hookVersion {
		return nil
	}
	all, err := d.store.AllWebhooks(ctx)
	if err != nil {
		return err
	}
	hooks := make(map[string]*Webhook, len(all))
	var order []string
	for _, h := range all {
		hooks[h.ID] = h
		if h.Enabled {
			order = append(order, h.ID)
		}
	}
	d.mu.Lock()
	d.hooks, d.hookOrder, d.hookVersion = hooks, order, v
	d.mu.Unlock()
	return nil
}

// start queues a claimed delivery for its turn. Each webhook's claims are
// sent in the order they were claimed (oldest first): a worker that gets a
// turn takes the head of its webhook's queue, not a delivery of its own.
func (d *Dispatcher) start(c *store.Claimed) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queue(c, d.hooks[c.WebhookID])
}

// queue counts a claim against its webhook's room, puts it in the
// webhook's queue and starts a worker for it. d.mu is held.
func (d *Dispatcher) queue(c *store.Claimed, h *Webhook) {
	d.pending[c.WebhookID]++
	d.total++
	sem := d.sems[c.WebhookID]
	if sem == nil {
		sem = make(chan struct{}, d.perHook)
		d.sems[c.WebhookID] = sem
	}
	d.queues[c.WebhookID] = append(d.queues[c.WebhookID], queued{c: c, h: h})
	d.wg.Add(1)
	go d.work(c.WebhookID, sem)
}

// next takes the head of a webhook's queue.
func (d *Dispatcher) next(webhookID string) queued {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[webhookID]
	head := q[0]
	q[0] = queued{}
	if len(q) == 1 {
		delete(d.queues, webhookID)
	} else {
		d.queues[webhookID] = q[1:]
	}
	return head
}

func (d *Dispatcher) work(webhookID string, sem chan struct{}) {
	defer d.wg.Done()
	var once sync.Once
	// Room is made as soon as the receiver has answered: recording the
	// attempt needs no receiver, so the next claim need not wait for it.
	release := func() {
		once.Do(func() {
			d.mu.Lock()
			d.pending[webhookID]--
			d.total--
			d.mu.Unlock()
			select {
			case d.done <- struct{}{}:
			default:
			}
		})
	}
	defer release()
	// Wait for a turn: the webhook's cap first, then the shared pool.
	select {
	case sem <- struct{}{}:
	case <-d.runCtx.Done():
		d.releaseUnstarted(d.next(webhookID).c)
		return
	}
	select {
	case d.global <- struct{}{}:
	case <-d.runCtx.Done():
		<-sem
		d.releaseUnstarted(d.next(webhookID).c)
		return
	}
	it := d.next(webhookID)
	done, ok := d.exclusive(it.c.ID)
	if !ok {
		<-d.global
		<-sem
		d.releaseUnstarted(it.c)
		return
	}
	defer done()
	d.attempt(it.c, it.h, func() {
		<-d.global
		<-sem
		release()
	})
}

// exclusive waits until no other attempt of delivery id runs in this
// process, then marks one as running until done is called. A lease that ran
// out while its attempt was still being sent (a stalled process, a clock
// step) lets the delivery be claimed again; this keeps the two attempts from
// overlapping. It says false if shutdown began while it waited.
func (d *Dispatcher) exclusive(id string) (done func(), ok bool) {
	for {
		d.mu.Lock()
		busy, running := d.sending[id]
		if !running {
			ch := make(chan struct{})
			d.sending[id] = ch
			d.mu.Unlock()
			return func() {
				d.mu.Lock()
				delete(d.sending, id)
				d.mu.Unlock()
				close(ch)
			}, true
		}
		d.mu.Unlock()
		select {
		case <-busy:
		case <-d.runCtx.Done():
			return nil, false
		}
	}
}

// releaseUnstarted hands back a claim that never got its turn (shutdown).
func (d *Dispatcher) releaseUnstarted(c *store.Claimed) {
	if err := d.store.ReleaseDelivery(context.Background(), c.ID, c.Lease, d.store.NowMS(), ""); err != nil {
		d.log.Error("Release delivery failed", "delivery_id", c.ID, "error", err)
	}
}
