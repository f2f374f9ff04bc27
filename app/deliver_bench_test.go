package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// BenchmarkDeliveryBurst measures the delivery loop alone: b.N stored events
// for one webhook, delivered to a loopback receiver that answers at once.
func BenchmarkDeliveryBurst(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(dir)
	a, err := New(cfg, Options{Schema: testSchema(b), Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	total := int64(b.N)
	srv := newCountingServer(func() {
		if got.Add(1) == total {
			close(done)
		}
	})
	defer srv.Close()
	ctx := context.Background()
	h := &Webhook{ID: "wh_bench", URL: srv.URL, Sink: "webhook", Events: []string{"*"}, Enabled: true,
		Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: sinks.NewSecret()}
	if err := a.store.CreateWebhook(ctx, h); err != nil {
		b.Fatal(err)
	}
	var evs []*Event
	for i := range b.N {
		ev, verr := prepareEvent(&EventInput{Event: "contact_created", Data: []byte(fmt.Sprintf(`{"contact":{"id":"c%d"}}`, i))}, "", time.Now(), a.ids)
		if verr != nil {
			b.Fatal(verr)
		}
		evs = append(evs, ev)
	}
	for i := 0; i < len(evs); i += 500 {
		if _, err := a.store.InsertEvents(ctx, evs[i:min(i+500, len(evs))], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	if err := a.Start(); err != nil {
		b.Fatal(err)
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	_ = a.Shutdown(ctx)
}
