package app

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// Dispatcher claims due deliveries and runs them on a shared pool of
// workers, with a cap per webhook so one slow receiver cannot hold them all.
type Dispatcher struct {
	store    *Store
	sinks    map[string]sinks.Sink
	log      *slog.Logger
	metrics  *Metrics
	schedule []time.Duration
	timeout  time.Duration
	workers  int
	perHook  int
	prepare  func(ctx context.Context, c *claimedDelivery, h *Webhook) (*sinks.Request, error)
	// onRecover is called when a webhook that was failing succeeds again.
	onRecover func(webhookID string)

	wake chan struct{}
	done chan struct{} // a worker finished

	mu       sync.Mutex
	inflight map[string]int // per webhook
	total    int
	rotate   int // where the next claim round starts, for fairness

	hookVersion uint64
	hooks       map[string]*Webhook
	hookOrder   []string

	wg       sync.WaitGroup
	hardStop context.Context // cancelled when shutdown stops waiting for attempts
}

// Wake tells the dispatcher there may be new work (after ingest or retry).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) lease() time.Duration { return 2*d.timeout + 5*time.Second }

// Run loops until ctx ends, then waits for attempts in flight (up to grace)
// and releases what did not finish.
func (d *Dispatcher) Run(ctx context.Context, grace time.Duration) {
	hardCtx, hardCancel := context.WithCancel(context.Background())
	d.hardStop = hardCtx
	defer hardCancel()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(d.step(ctx))
		select {
		case <-ctx.Done():
			d.drain(grace, hardCancel)
			return
		case <-d.wake:
		case <-d.done:
		case <-timer.C:
		}
	}
}

// step claims what is due and says how long to sleep when nothing wakes the
// dispatcher. It looks on a reader first, so an idle round writes nothing.
func (d *Dispatcher) step(ctx context.Context) time.Duration {
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
	claimed, err := d.claimRound(ctx)
	if err != nil && ctx.Err() == nil {
		d.log.Error("Claim deliveries failed", "error", err)
	}
	if claimed > 0 {
		return 0 // there may be more
	}
	// Due but not claimable: its webhook is at its cap. A finishing worker
	// wakes us; poll now and then in case a signal was missed.
	return time.Second
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
	v := d.store.webhookVersion()
	if d.hooks != nil && v == d.hookVersion {
		return nil
	}
	all, err := d.store.AllWebhooks(ctx)
	if err != nil {
		return err
	}
	d.hooks = make(map[string]*Webhook, len(all))
	d.hookOrder = d.hookOrder[:0]
	for _, h := range all {
		d.hooks[h.ID] = h
		if h.Enabled {
			d.hookOrder = append(d.hookOrder, h.ID)
		}
	}
	d.hookVersion = v
	return nil
}

func (d *Dispatcher) claimRound(ctx context.Context) (int, error) {
	if ctx.Err() != nil {
		return 0, nil
	}
	if err := d.refreshHooks(ctx); err != nil {
		return 0, err
	}
	d.mu.Lock()
	free := d.workers - d.total
	slots := make(map[string]int, len(d.hookOrder))
	order := make([]string, 0, len(d.hookOrder))
	n := len(d.hookOrder)
	for i := range n {
		id := d.hookOrder[(d.rotate+i)%n]
		if s := d.perHook - d.inflight[id]; s > 0 {
			slots[id] = s
			order = append(order, id)
		}
	}
	d.rotate++
	d.mu.Unlock()
	if free <= 0 || len(order) == 0 {
		return 0, nil
	}
	claimed, err := d.store.ClaimDue(ctx, order, slots, free, d.lease().Milliseconds())
	if err != nil {
		return 0, err
	}
	for _, c := range claimed {
		h := d.hooks[c.WebhookID]
		d.mu.Lock()
		d.inflight[c.WebhookID]++
		d.total++
		d.mu.Unlock()
		d.wg.Add(1)
		go d.work(c, h)
	}
	return len(claimed), nil
}

func (d *Dispatcher) work(c *claimedDelivery, h *Webhook) {
	defer d.wg.Done()
	var once sync.Once
	// The slot is freed as soon as the receiver has answered: recording the
	// attempt needs no receiver, so the next claim need not wait for it.
	release := func() {
		once.Do(func() {
			d.mu.Lock()
			d.inflight[c.WebhookID]--
			d.total--
			d.mu.Unlock()
			select {
			case d.done <- struct{}{}:
			default:
			}
		})
	}
	defer release()
	d.attempt(c, h, release)
}

// attempt runs one try and records it.
func (d *Dispatcher) attempt(c *claimedDelivery, h *Webhook, release func()) {
	ctx := d.hardStop
	start := time.Now()
	o := &attemptOutcome{DeliveryID: c.ID, WebhookID: c.WebhookID, Lease: c.Lease, Number: c.AttemptCount + 1,
		StartedAt: d.store.now(), Trigger: c.Trigger}

	var res sinks.Result
	var err error
	req, err := d.prepare(ctx, c, h)
	if err == nil {
		sink := d.sinks[h.Sink]
		if sink == nil {
			err = sinks.Permanent(errors.New("no sink named " + h.Sink))
		} else {
			actx, cancel := context.WithTimeout(ctx, d.timeout)
			res, err = sink.Deliver(actx, req)
			cancel()
		}
	}
	release()
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short by us, not by the receiver.
		if rerr := d.store.ReleaseDelivery(context.Background(), c.ID, c.Lease, d.store.now()); rerr != nil {
			d.log.Error("Release delivery failed", "delivery_id", c.ID, "error", rerr)
		}
		return
	}
	o.DurationMS = time.Since(start).Milliseconds()
	o.StatusCode = res.StatusCode
	o.Body = string(res.Body)
	d.decide(o, c, err)
	d.metrics.observeAttempt(h.Sink, o.Status, time.Since(start))

	recovered, rerr := d.store.RecordAttempt(context.Background(), o)
	if rerr != nil {
		// The lease runs out and reconcile re-queues it: at least once holds.
		d.log.Error("Record attempt failed", "delivery_id", c.ID, "error", rerr)
		return
	}
	if o.Status == StatusPending {
		d.Wake() // so the dispatcher times the retry
	}
	if o.Status != StatusSucceeded {
		d.log.Warn("Delivery failed", "delivery_id", c.ID, "webhook_id", c.WebhookID, "attempt", o.Number,
			"status_code", o.StatusCode, "error", o.Error, "next", o.Status)
	}
	if recovered && d.onRecover != nil {
		d.onRecover(h.ID)
	}
}

// decide fills in what happens after an attempt: done, retry when, or failed.
func (d *Dispatcher) decide(o *attemptOutcome, c *claimedDelivery, err error) {
	if err == nil {
		o.Status = StatusSucceeded
		return
	}
	o.Error = err.Error()
	if sinks.IsUnavailable(err) {
		// The sink is not ready (a plugin is missing): wait, keeping every retry.
		_, _, wait := sinks.Classify(err)
		o.Status, o.NextAttemptAt, o.KeepCycle = StatusPending, d.store.now()+wait.Milliseconds(), true
		return
	}
	permanent, gone, retryAfter := sinks.Classify(err)
	o.Gone = gone
	inCycle := o.Number - c.CycleStart
	if permanent || inCycle > len(d.schedule) {
		o.Status = StatusFailed
		return
	}
	delay := jitter(d.schedule[inCycle-1])
	if retryAfter > 0 {
		delay = retryAfter
	}
	o.Status = StatusPending
	o.NextAttemptAt = d.store.now() + delay.Milliseconds()
}

// jitter spreads retries ±20% so failures that happened together do not
// retry together.
func jitter(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}
