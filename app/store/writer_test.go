package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Ops that share a commit run first without savepoints; when one fails,
// the commit is rolled back whole and the batch runs again with a savepoint
// each. So a batch in which nothing fails runs each op once, and one in
// which an op fails stores the others once and nothing of the failed one.
func TestSharedCommitSavepointsOnlyWhenAnOpFails(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{})
	boom := errors.New("refused after writing")
	run := func(fail bool) (runs []int32, errs []error) {
		release := holdWriter(t, s)
		var counts [3]atomic.Int32
		errs = make([]error, 3)
		var wg sync.WaitGroup
		for i, key := range []string{"first", "failing", "last"} {
			wg.Go(func() {
				errs[i] = s.write(ctx, "put "+key, func(tx *txn) error {
					counts[i].Add(1)
					if _, err := tx.Exec("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", key, "v"); err != nil {
						return err
					}
					if fail && key == "failing" {
						return boom
					}
					return nil
				})
			})
			waitQueued(t, s, i+1)
		}
		release()
		wg.Wait()
		for i := range counts {
			runs = append(runs, counts[i].Load())
		}
		return runs, errs
	}
	stored := func(key string) bool {
		var n int
		_ = s.read.QueryRow("SELECT count(*) FROM kv WHERE key = ?", key).Scan(&n)
		return n == 1
	}

	runs, errs := run(false)
	if errors.Join(errs...) != nil || runs[0] != 1 || runs[1] != 1 || runs[2] != 1 {
		t.Fatalf("nothing failing: runs %v, errors %v; want each op run once", runs, errs)
	}
	if err := s.write(ctx, "clear", func(tx *txn) error { _, err := tx.Exec("DELETE FROM kv"); return err }); err != nil {
		t.Fatal(err)
	}

	runs, errs = run(true)
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Fatalf("errors %v; want only the failing op's", errs)
	}
	// Before it: once without savepoints (rolled back), once with. After
	// it: the first run stopped at the failure, so only the second.
	if runs[0] != 2 || runs[1] != 2 || runs[2] != 1 {
		t.Fatalf("runs %v; want [2 2 1]", runs)
	}
	if !stored("first") || stored("failing") || !stored("last") {
		t.Fatalf("stored: first %v, failing %v, last %v; want the failing op's row undone and the others kept",
			stored("first"), stored("failing"), stored("last"))
	}
}
