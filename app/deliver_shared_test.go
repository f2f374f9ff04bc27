package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app/store"
)

// heldElsewhere is a store whose claims take nothing, as on PostgreSQL
// when other nodes hold the webhook's whole cap.
type heldElsewhere struct{ Store }

func (heldElsewhere) ClaimDue(context.Context, []string, map[string]int, int, int64) ([]*store.Claimed, error) {
	return nil, nil
}

// Due work that another node's leases keep from being claimed is looked at
// again within tens of milliseconds when nothing of this node's is in
// flight to wake it (backing off to a second), and after a second when
// something is.
func TestClaimBlockedElsewherePollsSoon(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(store.Options{Dir: t.TempDir(), Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &Webhook{ID: "wh_1", Name: "one", URL: "https://example.com/h", Sink: "webhook", Enabled: true, Config: map[string]any{},
		Events: []string{"*"}, Tags: []string{}, Headers: map[string]string{}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	if err := st.CreateWebhook(ctx, h); err != nil {
		t.Fatal(err)
	}
	ev := &Event{ID: "evt_1", Event: "contact_created", Timestamp: st.NowMS(), CreatedAt: st.NowMS(), Source: "api"}
	ev.SetData(`{"contact":{"id":"c1"}}`)
	ev.ContentHash = store.ContentHash(ev)
	if _, err := st.InsertEvents(ctx, []*Event{ev}, nil); err != nil {
		t.Fatal(err)
	}
	d := newDispatcher(&Dispatcher{store: heldElsewhere{st}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), workers: 4, perHook: 2,
		timeout: time.Second})

	var waits []time.Duration
	for range 8 {
		waits = append(waits, d.step(ctx))
	}
	if waits[0] > 50*time.Millisecond {
		t.Fatalf("first wait %s with nothing of ours in flight; want tens of milliseconds", waits[0])
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] || waits[i] > time.Second {
			t.Fatalf("waits %v: want them to grow, up to a second", waits)
		}
	}
	if waits[len(waits)-1] != time.Second {
		t.Fatalf("waits %v: want the back-off to reach a second", waits)
	}

	// One of ours in flight: its end wakes the dispatcher, no need to poll.
	d.mu.Lock()
	d.total = 1
	d.mu.Unlock()
	if w := d.step(ctx); w != time.Second {
		t.Fatalf("wait %s with an attempt of ours in flight; want 1s", w)
	}
	// That step broke the run of empty claims: the back-off starts over.
	d.mu.Lock()
	d.total = 0
	d.mu.Unlock()
	if w := d.step(ctx); w != waits[0] {
		t.Fatalf("wait %s after a step with one of ours in flight; want the back-off to start over at %s", w, waits[0])
	}
}
