package main

import (
	"fmt"
	"testing"
)

// BenchmarkHeraldPostgres is BenchmarkHerald on PostgreSQL
// (HERALD_TEST_DATABASE_URL; `make bench` starts a throwaway server with
// fsync on), with one node and with two nodes sharing the database.
func BenchmarkHeraldPostgres(b *testing.B) {
	bin := buildHerald(b)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			dbURL := testPostgresSchema(b)
			var nodes []*heraldProc
			for range n {
				vars := benchVars(b.TempDir())
				vars["HERALD_DATABASE_URL"] = dbURL
				nodes = append(nodes, startHerald(b, bin, vars))
			}
			runBench(b, fmt.Sprintf("PostgreSQL, %d node(s)", n), nodes, nil)
		})
	}
}
