package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
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
func mustOpen(t testing.TB, o Options) *SQLite {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Schema = testSchema(t)
	s, err := OpenSQLite(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkStoreIngest measures the outbox write path alone (no HTTP):
// 64 goroutines store events that each match one webhook.
func BenchmarkStoreIngest(b *testing.B) {
	s := mustOpen(b, Options{})
	newWebhook(b, s, "*")
	ctx := context.Background()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", fmt.Sprint("c", i%500))}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/event")
}

// BenchmarkStoreDeliveryCycle measures the delivery write path alone (no
// HTTP): per round, 32 events are stored, claimed in one claim, and their
// 32 attempts recorded by 32 goroutines at once, as a dispatcher does.
// ns/op is per delivery.
func BenchmarkStoreDeliveryCycle(b *testing.B) {
	s := mustOpen(b, Options{})
	h := newWebhook(b, s, "*")
	ctx := context.Background()
	const round = 32
	cpu0 := cpuTime()
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		evs := make([]*Event, round)
		for i := range evs {
			evs[i] = eventFor(s, "contact_created", fmt.Sprint("c", (done+i)%500))
		}
		if _, err := s.InsertEvents(ctx, evs, nil); err != nil {
			b.Fatal(err)
		}
		claimed, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: round}, round, 60_000)
		if err != nil || len(claimed) != round {
			b.Fatalf("claimed %d: %v", len(claimed), err)
		}
		var wg sync.WaitGroup
		for _, c := range claimed {
			wg.Go(func() {
				o := &AttemptOutcome{DeliveryID: c.ID, WebhookID: c.WebhookID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
					DurationMS: 1, StatusCode: 200, Trigger: "auto", Status: StatusSucceeded}
				if _, err := s.RecordAttempt(ctx, o); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/delivery")
}

// cpuTime is the CPU time (user and system) this process used so far: on a
// shared machine it says more about the cost of a path than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// holdWriter keeps the writer busy until release is called, so that the
// writes queued meanwhile share one commit. release waits for the hold to
// end.
func holdWriter(t *testing.T, s *SQLite) (release func()) {
	t.Helper()
	hold, holding := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.write(context.Background(), "hold", func(*txn) error { close(holding); <-hold; return nil })
	}()
	<-holding
	return func() {
		close(hold)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
}
