package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A lease that runs out while its attempt is still being sent (the process
// stalled, the clock stepped) lets the delivery be claimed again. The new
// attempt must wait for the old one to end: two attempts of one delivery
// never overlap. Found by the fault simulation.
func TestAttemptsOfOneDeliveryNeverOverlapWhenTheLeaseRunsOut(t *testing.T) {
	s := newTestServer(t)
	var calls, open, maxOpen atomic.Int32
	firstIn, release, second := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		cur := open.Add(1)
		defer open.Add(-1)
		for m := maxOpen.Load(); cur > m && !maxOpen.CompareAndSwap(m, cur); m = maxOpen.Load() {
		}
		switch n {
		case 1:
			close(firstIn)
			<-release
		case 2:
			second <- struct{}{}
		}
	}))
	defer rc.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c1"}})
	<-firstIn

	// The first attempt is being sent; its lease runs out and the delivery
	// is re-queued, as reconcile does with a lease past its end.
	n, err := s.App.store.RequeueInFlight(context.Background(), 1<<62)
	if err != nil || n != 1 {
		t.Fatalf("requeue: %d, %v", n, err)
	}
	s.App.disp.Wake()
	select {
	case <-second:
		t.Fatalf("a second attempt was sent while the first was still open")
	case <-time.After(300 * time.Millisecond): // room for the re-claim to be sent, if it were
	}
	close(release)
	select {
	case <-second: // the re-claimed attempt goes out once the first ended
	case <-time.After(5 * time.Second):
		t.Fatalf("the re-queued delivery was not sent again after the first attempt ended")
	}
	if m := maxOpen.Load(); m != 1 {
		t.Fatalf("%d attempts of one delivery were open at once", m)
	}
}
