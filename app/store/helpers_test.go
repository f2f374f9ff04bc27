package store

import (
	"context"
	"fmt"
	"os"
	"testing"
)

func testSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../../schema.sql")
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	return string(b)
}

// mustOpen opens a store in a temp dir, closed when the test ends.
func mustOpen(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Schema = testSchema(t)
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testWebhook is an enabled webhook for events, created in s.
func testWebhook(t testing.TB, s *Store, events ...string) *Webhook {
	t.Helper()
	now := s.NowMS()
	h := &Webhook{ID: s.NewID("wh_"), URL: "https://example.com/hook", Sink: "webhook", Events: events, Enabled: true, AutoReplay: true,
		Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateWebhook(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

// testEvent is a contact_created event for contact, ready to insert.
func testEvent(s *Store, name, contact string) *Event {
	now := s.Now()
	ev := &Event{ID: s.NewID("evt_"), Event: name, Timestamp: now.UnixMilli(), Source: "api", CreatedAt: now.UnixMilli(), ContactID: contact}
	ev.SetData(fmt.Sprintf(`{"contact":{"id":%q,"name":"Ana"}}`, contact))
	ev.ContentHash = ContentHash(ev)
	return ev
}

// BenchmarkStoreIngest measures the outbox write path alone (no HTTP):
// 64 goroutines store events that each match one webhook.
func BenchmarkStoreIngest(b *testing.B) {
	s := mustOpen(b, Options{})
	testWebhook(b, s, "*")
	ctx := context.Background()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := s.InsertEvents(ctx, []*Event{testEvent(s, "contact_created", fmt.Sprint("c", i%500))}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
