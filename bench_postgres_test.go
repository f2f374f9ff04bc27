package main

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/herald-webhooks/herald/app/store/pgtest"
)

// BenchmarkHeraldPostgres is BenchmarkHerald's workload on PostgreSQL
// (HERALD_TEST_DATABASE_URL; `make bench` starts a throwaway server with
// fsync on), with one node and with two nodes sharing the database.
func BenchmarkHeraldPostgres(b *testing.B) {
	bin := buildHerald(b)
	t := &benchTable{b: b}
	for _, n := range []int{1, 2} {
		baseline := benchBaseline(b)
		t.row("", "", "", "")
		t.row(fmt.Sprintf("raw loopback HTTP, 64 clients (baseline for %d node(s))", n), fmt.Sprintf("%.0f req/s", baseline), "1.00", "")
		dbURL := pgtest.Schema(b)
		var nodes []*heraldProc
		for range n {
			p, _ := startBenchHerald(b, bin, "normal", "HERALD_DATABASE_URL", dbURL)
			nodes = append(nodes, p)
		}
		benchWorkload(b, t, nodes, fmt.Sprintf("PostgreSQL, %d node(s)", n), fmt.Sprintf("pg%d", n), baseline)
		for _, p := range nodes {
			p.kill()
		}
	}
	b.ReportMetric(0, "ns/op") // one long workload: time per op means nothing here
	fmt.Printf("\nBenchmarkHeraldPostgres (%d cores shared with whatever else runs)\n", runtime.NumCPU())
	t.print()
}
