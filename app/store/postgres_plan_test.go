package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/herald-webhooks/herald/app/store/pgtest"
)

// The claim runs several times a second on every node, over a table that
// keeps every delivery until retention: it must read by index, whatever the
// table holds. It once joined its few claimed ids back to deliveries by a
// hash over the whole table (the planner cannot size a LIMIT that is an
// expression), 17 ms a claim at 20,000 rows, growing with the table: two
// nodes drained a burst at 500 deliveries a second.
func TestPostgresClaimPlanReadsByIndex(t *testing.T) {
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
	defer conn.Release()
	now := s.NowMS()
	// A custom plan for the first runs of a prepared statement, then
	// perhaps a generic one: both must hold.
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
			t.Fatal(err)
		}
		var plan string
		err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+pgClaimTake,
			h.ID, now, 64, now+60_000, "a", 32, 64).Scan(&plan)
		if err != nil {
			t.Fatal(err)
		}
		var nodes []map[string]any
		if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if scan := seqScan(n["Plan"]); scan != "" {
				t.Errorf("%s: the claim reads all of %s:\n%s", mode, scan, plan)
			}
		}
	}
	if _, err := conn.Exec(ctx, "RESET plan_cache_mode"); err != nil {
		t.Fatal(err)
	}
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
