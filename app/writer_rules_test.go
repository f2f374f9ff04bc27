package app

import (
	"context"
	"testing"
	"time"
)

// Saving a plugin webhook once ran the plugin's Validate (up to 10 s, maybe
// a process start) inside a write, so every ingest waited on it. The change
// (and its checks) now runs before the write: an ingest goes through while
// a slow check is still running.
func TestWebhookChecksRunOutsideTheWriter(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	ingested := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		_, err := s.App.updateWebhook(context.Background(), id, func(h *Webhook) error {
			ev, verr := prepareEvent(&EventInput{Event: "contact_created", Data: []byte(`{"contact":{"id":"c1"}}`)}, "", time.Now(), s.App.ids)
			if verr != nil {
				return verr
			}
			go func() {
				_, err := s.App.store.InsertEvents(context.Background(), []*Event{ev}, nil)
				ingested <- err
			}()
			// A slow check: it waits for the ingest, which would never
			// come if this ran inside the writer.
			select {
			case err := <-ingested:
				return err
			case <-time.After(5 * time.Second):
				t.Error("an ingest waited on a webhook check")
				return nil
			}
		})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A claim that waited in line past its lease margin is renewed before it
// is sent; one whose lease ran out and was re-queued is not sent at all, so
// two attempts of one delivery never overlap.
func TestLeaseIsHeldBeforeASend(t *testing.T) {
	// An App that is built but not started: no dispatcher races the test.
	cfg := testConfig(t.TempDir())
	cfg.Delivery.Timeout.Duration = time.Second
	a, err := New(cfg, Options{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.Close() })
	ctx := context.Background()
	st := a.store
	h := &Webhook{ID: st.NewID("wh_"), URL: "https://example.com/x", Sink: "webhook", Events: []string{"*"}, Enabled: true,
		Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0",
		CreatedAt: st.NowMS(), UpdatedAt: st.NowMS()}
	if err := st.CreateWebhook(ctx, h); err != nil {
		t.Fatal(err)
	}
	ev, _ := prepareEvent(&EventInput{Event: "contact_created", Data: []byte(`{"contact":{"id":"c1"}}`)}, "", time.Now(), a.ids)
	if _, err := st.InsertEvents(ctx, []*Event{ev}, nil); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 1}, 1, 100) // 100 ms: it "waited in line" past it
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	c := claimed[0]
	t.Run("a claim close to its end is renewed", func(t *testing.T) {
		old := c.Lease
		if !a.disp.holdLease(c) || c.Lease <= old {
			t.Fatalf("lease %d -> %d: not renewed", old, c.Lease)
		}
	})
	t.Run("a claim that was lost is not sent", func(t *testing.T) {
		if _, err := st.RequeueInFlight(ctx, c.Lease+1); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 1}, 1, 60_000); err != nil {
			t.Fatal(err)
		}
		c.Lease = st.NowMS() + 1 // still "ours" as far as the stale holder knows, but short
		if a.disp.holdLease(c) {
			t.Fatal("a lost claim was renewed: two attempts could overlap")
		}
	})
}
