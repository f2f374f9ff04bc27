package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/herald-webhooks/herald/app/store/pgtest"
)

// The claim runs several times a second on every node, over a table that
// keeps every delivery until retention, and the prunes go batch by batch
// over tables that hold weeks: they must read by index, whatever the tables
// hold. The claim once joined its few claimed ids back to deliveries by a
// hash over the whole table (the planner cannot size a LIMIT that is an
// expression): 17 ms a claim at 20,000 rows, growing with the table; two
// nodes drained a burst at 500 deliveries a second. A contact's
// conversation is read from events, by its index on (contact_id, seq).
func TestPostgresPlansReadByIndex(t *testing.T) {
	pgtest.URL(t)
	ctx := context.Background()
	s := mustOpenPostgres(t, Options{NodeID: "a"})
	h := newWebhook(t, s, "*")
	for b := range 10 {
		evs := make([]*Event, 500)
		for i := range evs {
			evs[i] = eventFor(s, "contact_created", fmt.Sprint("c", b*500+i))
		}
		if _, err := s.InsertEvents(ctx, evs, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE deliveries; ANALYZE events"); err != nil {
		t.Fatal(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release() // plan_cache_mode goes with this test's pool
	now := s.NowMS()
	check := func(name, sql string, args ...any) {
		t.Helper()
		// A custom plan for the first runs of a prepared statement, then
		// perhaps a generic one: both must hold.
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			var plan string
			if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&plan); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var nodes []map[string]any
			if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				if scan := seqScan(n["Plan"]); scan != "" {
					t.Errorf("%s, %s: reads all of %s:\n%s", name, mode, scan, plan)
				}
			}
		}
	}
	check("claim", pgClaimTake, h.ID, now, 64, now+60_000, "a", 32, 64)

	// As a database lives: many more events, nearly every delivery done,
	// a few past retention. (At a few thousand rows, hashing a whole
	// table is rightly the cheaper plan.)
	for _, q := range []string{
		`INSERT INTO events (id, event, timestamp, data, content_hash, created_at)
			SELECT 'evt_old' || g, 'contact_created', g, '{}', 'h', g FROM generate_series(1, 50000) g`,
		`INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, trigger, created_at, updated_at)
			SELECT 'dlv_old' || g, 'evt_old' || g, '` + h.ID + `', 'succeeded', 0, 'auto', g, g FROM generate_series(1, 50000) g`,
		"ANALYZE deliveries", "ANALYZE events",
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	check("prune events", pgPruneEvents, int64(2000), 100)
	check("conversation", "SELECT "+eventColumns+" FROM events"+pgConversationWhere+" LIMIT $4", "c7", int64(math.MaxInt64), int64(0), 50)
}

// seqScan names a table some node of an EXPLAIN JSON plan reads whole.
func seqScan(node any) string {
	m, ok := node.(map[string]any)
	if !ok {
		return ""
	}
	if m["Node Type"] == "Seq Scan" {
		return fmt.Sprint(m["Relation Name"])
	}
	kids, _ := m["Plans"].([]any)
	for _, k := range kids {
		if s := seqScan(k); s != "" {
			return s
		}
	}
	return ""
}

// What the prunes delete: only what is older than the cut, a batch at a
// time, and never an event that still has a delivery to make.
func TestPostgresPrunes(t *testing.T) {
	pgtest.URL(t)
	ctx := context.Background()
	s := mustOpenPostgres(t, Options{NodeID: "a"})
	newWebhook(t, s, "*")
	count := func(q string) (n int) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Two old events, one delivered, one still waiting; one new event.
	evs := []*Event{eventFor(s, "contact_created", "c1"), eventFor(s, "contact_created", "c2"), eventFor(s, "contact_created", "c3")}
	if _, err := s.InsertEvents(ctx, evs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "UPDATE events SET created_at = 1 WHERE id = ANY($1)", []string{evs[0].ID, evs[1].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "UPDATE deliveries SET status = 'succeeded' WHERE event_id = $1", evs[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneEvents(ctx, 2, 100); err != nil || n != 1 {
		t.Fatalf("pruned %d events (%v); want the delivered old one", n, err)
	}
	if n := count("SELECT count(*) FROM events"); n != 2 {
		t.Fatalf("%d events left; want the waiting old one and the new one", n)
	}
}
