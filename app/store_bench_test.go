package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// BenchmarkStoreIngest measures the outbox write path alone (no HTTP):
// 64 goroutines store events that each match one webhook.
func BenchmarkStoreIngest(b *testing.B) {
	store, err := OpenStore(b.TempDir(), testSchema(b), "normal", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	h := &Webhook{ID: "wh_bench", URL: "https://example.com", Sink: "webhook", Events: []string{"*"}, Enabled: true,
		Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: sinks.NewSecret()}
	if err := store.CreateWebhook(ctx, h); err != nil {
		b.Fatal(err)
	}
	ids := newIDGen()
	var n atomic.Int64
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in := &EventInput{Event: "new_message", Data: []byte(fmt.Sprintf(
				`{"contact":{"id":"c%d","name":"Ana"},"message":{"text":"Hello, a table for 4 on Friday?","channel":"whatsapp"}}`, n.Add(1)%500))}
			ev, verr := prepareEvent(in, "", time.Now(), ids)
			if verr != nil {
				b.Fatal(verr)
			}
			if _, err := store.InsertEvents(ctx, []*Event{ev}, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
