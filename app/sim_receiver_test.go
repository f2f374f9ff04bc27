package app

import (
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// How a simulated receiver answers, set by the simulation's plan.
const (
	modeOK    = iota // 200 at once
	modeFlaky        // 500 now and then
	modeHang         // now and then holds the request, sometimes past Herald's timeout
	modeSlow         // answers late, well within the timeout
	modeDown         // 500 to everything
	numModes
)

var modeNames = [numModes]string{"ok", "flaky", "hang", "slow", "down"}

// simRequest is one request a receiver got: when it came and went, by its
// own clock, and what it answered.
type simRequest struct {
	delivery, event string
	attempt         int
	start, end      time.Time
	status          int
	// cancelled: Herald gave up (timeout, shutdown) before the answer; when
	// exactly is not known here, so end is only an upper bound.
	cancelled bool
	// token is the answer's body, unique to this request. An attempt logged
	// with it proves Herald read the answer, so its attempt ended after end.
	token string
	// The signature, checked at the end: a request may come before the
	// webhook's create answer gave the secret.
	ts   int64
	body []byte
	sig  string
}

// simReceiver is a loopback webhook receiver whose answers the plan
// controls. What it answers a given request depends only on the seed, the
// receiver, the event and the attempt number, not on timing.
type simReceiver struct {
	*httptest.Server
	idx       int
	seed      uint64
	timeout   time.Duration // Herald's delivery timeout
	secret    atomic.Pointer[string]
	mode      atomic.Int32
	gone      atomic.Bool            // answer the next request 410 Gone
	goneAt    atomic.Int64           // unix ns of the last 410 answer
	goneToken atomic.Pointer[string] // and its token

	mu      sync.Mutex
	reqs    []simRequest
	changed chan struct{} // a request arrived (buffered 1)
}

func newSimReceiver(t *testing.T, idx int, seed uint64, timeout time.Duration) *simReceiver {
	rc := &simReceiver{idx: idx, seed: seed, timeout: timeout, changed: make(chan struct{}, 1)}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

// roll is a number in [0, 1000) fixed by the seed and the request's identity.
func (rc *simReceiver) roll(event string, attempt int, salt string) int {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s/%d/%s", rc.seed, rc.idx, event, attempt, salt)
	return int(h.Sum64() % 1000)
}

func (rc *simReceiver) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	req := simRequest{delivery: r.Header.Get("herald-delivery-id"), event: r.Header.Get("webhook-id"), start: start}
	req.attempt, _ = strconv.Atoi(r.Header.Get("herald-attempt"))
	req.ts, _ = strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	req.body, req.sig = body, r.Header.Get("webhook-signature")

	req.status = http.StatusOK
	var hold time.Duration
	roll := rc.roll(req.event, req.attempt, "answer")
	switch int(rc.mode.Load()) {
	case modeFlaky:
		if roll < 400 {
			req.status = http.StatusInternalServerError
		}
	case modeHang:
		if roll < 350 {
			// From half the timeout to twice it: some answer late, some
			// are cut off by Herald's timeout.
			hold = rc.timeout/2 + time.Duration(rc.roll(req.event, req.attempt, "hold"))*rc.timeout*3/2/1000
		}
	case modeSlow:
		hold = time.Duration(5+rc.roll(req.event, req.attempt, "hold")%40) * time.Millisecond
		if roll < 200 {
			req.status = http.StatusInternalServerError
		}
	case modeDown:
		req.status = http.StatusInternalServerError
	}
	if rc.gone.CompareAndSwap(true, false) {
		req.status, hold = http.StatusGone, 0
		rc.goneAt.Store(time.Now().UnixNano())
	}
	if hold > 0 {
		timer := time.NewTimer(hold)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			req.cancelled = true
		}
		timer.Stop()
	}
	req.end = time.Now() // before the answer is written: Herald's attempt ends after this
	rc.mu.Lock()
	req.token = fmt.Sprintf("%s #%d.%d", modeNames[rc.mode.Load()], rc.idx, len(rc.reqs))
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	if req.status == http.StatusGone {
		rc.goneToken.Store(&req.token)
	}
	select {
	case rc.changed <- struct{}{}:
	default:
	}
	if !req.cancelled {
		w.WriteHeader(req.status)
		_, _ = io.WriteString(w, req.token)
	}
}

func (rc *simReceiver) requests() []simRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]simRequest(nil), rc.reqs...)
}

// badSignatures counts requests whose signature does not verify with the
// webhook's secret.
func (rc *simReceiver) badSignatures() int {
	secret := rc.secret.Load()
	n := 0
	for _, r := range rc.requests() {
		if secret == nil || !sinks.Verify(*secret, r.event, r.ts, r.body, r.sig) {
			n++
		}
	}
	return n
}

func (rc *simReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}
