package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The WAL once grew without bound under steady writes with readers about
// (3.8 GB in 5 minutes at 100 events/s): a checkpoint beside the writer
// never caught up, so the log never restarted. It must stay bounded.
func TestWALStaysBoundedUnderLoad(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	const bound = 64 << 20
	// Until as much has been written as the bound, so that a WAL that never
	// restarts would pass it: time varies with the machine's load.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	big := strings.Repeat("x", 200<<10) // 200 KiB a message: lots of WAL per second
	// One event decoded once and copied under new ids: the test measures the
	// store, not JSON (slow under -race).
	tmpl := eventFor(s, "new_message", "c1")
	tmpl.SetData(fmt.Sprintf(`{"contact":{"id":"c1"},"message":{"text":%q,"channel":"sms"}}`, big))
	tmpl.ContentHash = ContentHash(tmpl)
	var wg sync.WaitGroup
	var written atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var evs []*Event
				for range 8 {
					ev := *tmpl
					ev.ID = s.NewID("evt_")
					evs = append(evs, &ev)
				}
				if _, err := s.InsertEvents(ctx, evs); err == nil {
					written.Add(int64(len(evs) * len(big)))
				}
			}
		})
	}
	for range 4 { // readers, always about, as the dispatcher's and the API's are: they once kept the WAL from restarting
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.NextDue(ctx)
				_, _, _ = s.QueueDepth(ctx)
				_, _ = s.FindDeliveries(ctx, DeliveryFilter{Limit: 50})
				_, _ = s.FindEvents(ctx, EventFilter{Limit: 1, Newest: true})
			}
		})
	}
	var peak int64
	for ctx.Err() == nil && written.Load() < bound {
		wal, _ := s.Sizes()
		peak = max(peak, wal)
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("wrote %d MiB of messages; WAL peak %d MiB", written.Load()>>20, peak>>20)
	if written.Load() < bound {
		t.Fatalf("only %d MiB written: not enough load to test the bound", written.Load()>>20)
	}
	if peak > bound {
		t.Fatalf("WAL peaked at %d MiB; want under %d MiB", peak>>20, bound>>20)
	}
}
