package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The gap check fills deliveries an event should have had at ingest, from
// webhooks unchanged since the event. A webhook's created_at and
// updated_at were stamped by the caller before its write was queued, so an
// event stored between the stamp and the commit looked older than the
// webhook: a minute later the gap check sent it an event from before it
// existed (found by the fault simulation). The store now stamps them when
// it commits.
func TestGapCheckNeverFillsFromAWebhookSavedAfterTheEvent(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	s := mustOpen(t, Options{Now: func() time.Time { return time.UnixMilli(clock.Load()) }})
	gaps := func(t *testing.T) int {
		t.Helper()
		clock.Add(2 * time.Minute.Milliseconds()) // every event so far has settled
		res, err := s.FillDeliveryGaps(ctx, s.NowMS()-time.Minute.Milliseconds(), 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		return res.Filled
	}
	ingest := func(t *testing.T) {
		t.Helper()
		ev := eventFor(s, "contact_created", "c1")
		if _, err := s.InsertEvents(ctx, []*Event{ev}, nil); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a webhook created while an event came in", func(t *testing.T) {
		now := s.NowMS()
		h := &Webhook{ID: s.NewID("wh_"), URL: "https://example.com/a", Sink: "webhook", Events: []string{"*"}, Enabled: true,
			Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now}
		clock.Add(5) // the handler validates; meanwhile an event is stored
		ingest(t)
		clock.Add(5)
		if err := s.CreateWebhook(ctx, h); err != nil {
			t.Fatal(err)
		}
		if h.CreatedAt != s.NowMS() || h.UpdatedAt != s.NowMS() {
			t.Errorf("created_at %d, updated_at %d: want the commit's time %d", h.CreatedAt, h.UpdatedAt, s.NowMS())
		}
		if n := gaps(t); n != 0 {
			t.Fatalf("the gap check created %d deliveries to a webhook made after the event", n)
		}
	})
	t.Run("an event in the same millisecond as a webhook saved after it", func(t *testing.T) {
		h := newWebhook(t, s, "contact_paused")
		ingest(t)
		h.Events = []string{"contact_created"}
		if err := s.UpdateWebhook(ctx, h, h.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		if n := gaps(t); n != 0 {
			t.Fatalf("the gap check created %d deliveries to a webhook changed after the event", n)
		}
	})
	t.Run("a webhook enabled while an event came in", func(t *testing.T) {
		h := newWebhook(t, s, "contact_created")
		prev := h.UpdatedAt
		h.Enabled = false
		clock.Add(1)
		h.UpdatedAt = s.NowMS()
		if err := s.UpdateWebhook(ctx, h, prev); err != nil {
			t.Fatal(err)
		}
		prev = h.UpdatedAt
		h.Enabled = true
		clock.Add(1)
		h.UpdatedAt = s.NowMS() // stamped by the handler
		clock.Add(5)
		ingest(t) // stored while the webhook is still disabled
		clock.Add(5)
		if err := s.UpdateWebhook(ctx, h, prev); err != nil {
			t.Fatal(err)
		}
		if n := gaps(t); n != 0 {
			t.Fatalf("the gap check created %d deliveries to a webhook that was disabled when the event came", n)
		}
	})
}
