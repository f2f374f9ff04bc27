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
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", fmt.Sprint("c", i%500))}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
