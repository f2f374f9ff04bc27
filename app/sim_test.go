package app

// The randomized fault simulation (issue 10, "Prove it"). Each seed plays a
// short scenario against the real store, dispatcher and webhook sink, with
// in-process receivers on 127.0.0.1, and injects faults at random: receiver
// 500s, hangs, 410s and slow answers; webhook changes during load; lease
// expiry and reconcile runs; restarts, clean and as a crash; failing ops
// inside shared group commits; a full disk. Then it heals everything and
// checks the invariants (sim_check_test.go).
//
// A seed fixes the plan: which faults, in which order, and how each receiver
// answers each attempt. Goroutine timing is not fixed, so a rerun replays the
// same plan, not the same interleaving; a failure that needs one usually
// shows again within a few reruns:
//
//	go test ./app -run TestFaultSimulation -sim.seed=123 -count=20
//	HERALD_SIM_SEED=123 go test ./app -run TestFaultSimulation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app/store"
)

var (
	simSeedFlag  = flag.Uint64("sim.seed", 0, "TestFaultSimulation: run only this seed")
	simSeedsFlag = flag.Int("sim.seeds", 200, "TestFaultSimulation: how many seeds to run")
)

// simParallel is how many seeds run at once. Each spends most of its time
// waiting on timers and loopback HTTP, so more than the cores.
const simParallel = 16

func TestFaultSimulation(t *testing.T) {
	seeds := simSeeds(t)
	t.Logf("%d seeds from %d (rerun one: go test ./app -run TestFaultSimulation -sim.seed=N)", len(seeds), seeds[0])
	start := time.Now()
	work := make(chan uint64)
	var wg sync.WaitGroup
	for range min(simParallel, len(seeds)) {
		wg.Go(func() {
			for seed := range work {
				t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) { runSim(t, seed) })
			}
		})
	}
	for _, s := range seeds {
		work <- s
	}
	close(work)
	wg.Wait()
	t.Logf("%d seeds in %s", len(seeds), time.Since(start).Round(time.Millisecond))
}

// simSeeds is the one seed asked for (-sim.seed or HERALD_SIM_SEED), or
// -sim.seeds consecutive seeds from a fresh base.
func simSeeds(t *testing.T) []uint64 {
	one := *simSeedFlag
	if v := os.Getenv("HERALD_SIM_SEED"); v != "" && one == 0 {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("HERALD_SIM_SEED=%q: %v", v, err)
		}
		one = n
	}
	if one != 0 {
		return []uint64{one}
	}
	base := uint64(time.Now().UnixNano()%1_000_000_000) * 1000
	out := make([]uint64, *simSeedsFlag)
	for i := range out {
		out[i] = base + uint64(i) + 1
	}
	return out
}

// Timing of one scenario: small, so that hundreds of seeds fit in CI.
const (
	simTimeout  = 200 * time.Millisecond
	simSchedule = "5ms,10ms,20ms"
	simLease    = 2*simTimeout + leaseMargin // the dispatcher's lease
)

// sim is one scenario in progress.
type sim struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand // the plan's; used by the driver goroutine only
	dir    string
	cfg    Config
	offset atomic.Int64 // the store clock runs this far ahead of the wall clock (ns)
	app    *App
	ln     net.Listener
	url    string
	client *http.Client

	// Faults in force.
	faultPerMille atomic.Int32 // chance that a write op fails after it ran
	faultMu       sync.Mutex
	faultRng      *rand.Rand
	diskFull      atomic.Bool
	crashing      atomic.Bool // every write fails: the process "died"

	mu       sync.Mutex // guards what follows: bursts post concurrently
	hooks    []*simHook
	live     []*simHook // not deleted
	events   []*simEvent
	nextRecv int
	problems []string    // invariant violations seen during the run
	answers  map[int]int // ingest answers by status
	steps    []string
}

func (s *sim) now() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }

func (s *sim) logf(format string, args ...any) {
	s.mu.Lock()
	s.steps = append(s.steps, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// problem records an invariant violation; the test fails at the end, with
// the steps that led to it.
func (s *sim) problem(format string, args ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func runSim(t *testing.T, seed uint64) {
	s := &sim{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 1)), faultRng: rand.New(rand.NewPCG(seed, 2)),
		dir: t.TempDir(), client: &http.Client{Timeout: 10 * time.Second}, answers: map[int]int{}}
	s.cfg = testConfig(s.dir)
	s.cfg.Delivery.RetrySchedule = simSchedule
	s.cfg.Delivery.Timeout = Duration{simTimeout}
	s.cfg.Delivery.Workers = 4
	s.cfg.Delivery.PerWebhook = 2 // claims wait their turn in memory
	t.Logf("seed %d: rerun with go test ./app -run TestFaultSimulation -sim.seed=%d", seed, seed)
	began := time.Now()
	s.start()
	t.Cleanup(func() {
		if s.app != nil {
			s.stop(false)
		}
	})

	for range 2 + s.rng.IntN(2) {
		s.createHook()
	}
	steps := 10 + s.rng.IntN(8)
	for range steps {
		s.step()
	}
	healed := s.heal()
	s.check(healed)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) > 0 {
		for _, st := range s.steps {
			t.Log("step: " + st)
		}
		for _, p := range s.problems {
			t.Error(p)
		}
		t.Errorf("seed %d failed; rerun with -sim.seed=%d", seed, seed)
	}
	t.Logf("seed %d: %d steps, %d events (answers %v), %d webhooks, %s", seed, steps, len(s.events), s.answers, len(s.hooks), time.Since(began).Round(time.Millisecond))
}

// step runs one step of the plan.
func (s *sim) step() {
	switch r := s.rng.IntN(100); {
	case r < 30:
		s.burst()
	case r < 40:
		s.hookOp()
	case r < 52:
		s.setMode()
	case r < 56:
		s.goneStep()
	case r < 64:
		s.toggleFaults()
	case r < 69:
		s.toggleDiskFull()
	case r < 78:
		s.expireLeases()
	case r < 84:
		s.restart(s.rng.IntN(2) == 0)
	case r < 88:
		s.repeatEvents()
	default:
		s.waitProgress()
	}
}

// start opens an App on the scenario's data dir, as a process start does.
func (s *sim) start() {
	s.t.Helper()
	a, err := New(s.cfg, Options{Schema: testSchema(s.t), Version: "sim", Now: s.now})
	if err != nil {
		s.t.Fatalf("new app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatalf("listen: %v", err)
	}
	if err := a.Start(); err != nil {
		s.t.Fatalf("start: %v", err)
	}
	go func() { _ = a.Serve(ln) }()
	a.store.SetFaultHook(s.fault)
	s.app, s.ln, s.url = a, ln, "http://"+ln.Addr().String()
	s.diskFull.Store(false) // the page cap belongs to the connection
	s.crashing.Store(false)
}

// stop shuts the App down. A crash first makes every write fail, as if the
// process died: attempts still running are sent but never recorded, and
// nothing more commits.
func (s *sim) stop(crash bool) {
	if crash {
		s.crashing.Store(true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.app.Shutdown(ctx); err != nil && !crash {
		s.problem("shutdown: %v", err)
	}
	// Fiber closes only a listener it has started serving; a shutdown
	// right after the start may come first.
	s.ln.Close()
	s.app = nil
}

func (s *sim) restart(crash bool) {
	s.logf("restart (crash: %v)", crash)
	s.stop(crash)
	s.start()
}

// fault is the store's fault hook: it fails write ops at random while
// faults are on, and every one while crashing.
func (s *sim) fault(op string) error {
	if op == "set max pages" {
		return nil
	}
	if s.crashing.Load() {
		return errors.New("sim: the process is gone")
	}
	p := s.faultPerMille.Load()
	if p == 0 {
		return nil
	}
	s.faultMu.Lock()
	r := s.faultRng.IntN(1000)
	s.faultMu.Unlock()
	if int32(r) < p {
		return fmt.Errorf("sim: injected failure of %q", op)
	}
	return nil
}

func (s *sim) toggleFaults() {
	if s.faultPerMille.Load() > 0 {
		s.faultPerMille.Store(0)
		s.logf("faults off")
		return
	}
	p := int32(50 + s.rng.IntN(200))
	s.faultPerMille.Store(p)
	s.logf("faults on: %d‰ of write ops fail", p)
}

func (s *sim) toggleDiskFull() {
	ctx := context.Background()
	if s.diskFull.Load() {
		if _, err := s.app.store.(*store.SQLite).SetMaxPages(ctx, 1<<30); err != nil {
			s.problem("free the disk: %v", err)
		}
		s.diskFull.Store(false)
		s.logf("disk freed")
		return
	}
	n, err := s.app.store.(*store.SQLite).PageCount(ctx)
	if err != nil {
		s.problem("page count: %v", err)
		return
	}
	s.diskFull.Store(true) // before the cap: answers from now on may be 507
	got, err := s.app.store.(*store.SQLite).SetMaxPages(ctx, n+s.rng.IntN(3))
	if err != nil {
		s.problem("fill the disk: %v", err)
	}
	s.logf("disk full at %d pages", got)
}

// expireLeases moves the store's clock past every lease and re-queues, as
// a stalled process or a clock step would, through a reconcile run or
// directly.
func (s *sim) expireLeases() {
	jump := simLease + time.Second
	if s.rng.IntN(3) == 0 {
		jump += 2 * time.Minute // past gapSettle: reconcile's gap check looks at everything so far
	}
	s.offset.Add(int64(jump))
	if s.rng.IntN(2) == 0 {
		code, body := s.call("POST", "/api/v1/reconcile/run", nil)
		s.logf("clock +%s, leases expired; reconcile run: %d %.300s", jump, code, body)
		s.expectCode("reconcile run", code, body, http.StatusOK, http.StatusConflict)
		return
	}
	n, err := s.app.store.RequeueInFlight(context.Background(), s.app.store.NowMS())
	s.logf("clock +%s, leases expired; requeued %d (err %v)", jump, n, err)
	s.app.disp.Wake()
}

func (s *sim) setMode() {
	s.mu.Lock()
	hooks := append([]*simHook(nil), s.hooks...)
	s.mu.Unlock()
	if len(hooks) == 0 {
		return
	}
	h := hooks[s.rng.IntN(len(hooks))]
	m := s.rng.IntN(numModes)
	h.rc.mode.Store(int32(m))
	s.logf("receiver %d: %s", h.rc.idx, modeNames[m])
}

// waitProgress lets deliveries run until some receiver gets a request.
func (s *sim) waitProgress() {
	s.mu.Lock()
	hooks := append([]*simHook(nil), s.live...)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	progress := make(chan struct{}, 1)
	for _, h := range hooks {
		go func() {
			select {
			case <-h.rc.changed:
				select {
				case progress <- struct{}{}:
				default:
				}
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-progress:
	case <-ctx.Done():
	}
	s.logf("waited for progress")
}

// call sends an admin request to the running App.
func (s *sim) call(method, path string, body any) (int, []byte) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// expectCode records a problem unless code is one of want, or a failure
// the faults in force explain: 500 while writes fail, 507 while the disk
// is full.
func (s *sim) expectCode(what string, code int, body []byte, want ...int) {
	for _, w := range want {
		if code == w {
			return
		}
	}
	if code == http.StatusInternalServerError && s.faultPerMille.Load() > 0 {
		return
	}
	if code == http.StatusInsufficientStorage && s.diskFull.Load() {
		return
	}
	s.problem("%s: answered %d %s", what, code, body)
}
