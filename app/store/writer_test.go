package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// An ingest that comes less than the commit gap after a commit that several
// requests shared waits for the gap, and shares the next commit; a write
// that should not wait (here a plain one, as a claim or an API change is)
// ends the wait.
func TestSteadyWritesWaitForTheCommitGap(t *testing.T) {
	s := mustOpen(t, Options{commitGap: time.Hour})
	newWebhook(t, s, "*")
	ctx := context.Background()
	// Two requests share a commit: the gap runs from it.
	release := holdWriter(t, s)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "new_message", "c1")}, nil); err != nil {
				t.Error(err)
			}
		})
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	stored := make(chan error, 1)
	go func() {
		_, err := s.InsertEvents(ctx, []*Event{eventFor(s, "new_message", "c1")}, nil)
		stored <- err
	}()
	select {
	case err := <-stored:
		t.Fatalf("an ingest right after a commit was answered at once (%v); want it to wait for the gap", err)
	case <-time.After(100 * time.Millisecond):
	}
	before := s.commits.Load()
	if err := s.write(ctx, "prompt", func(*txn) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	if n := s.commits.Load() - before; n != 1 {
		t.Fatalf("%d commits; want one: the waiting ingest shares the prompt write's", n)
	}
}

// Under steady ingests, commits begin at least the gap apart, however many
// requests there are: they share commits instead of each writing the same
// pages to the WAL again.
func TestSteadyIngestsSharePacedCommits(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	ctx := context.Background()
	var ops atomic.Int64
	before := s.commits.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 300*time.Millisecond {
				if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "new_message", "c1")}, nil); err != nil {
					t.Error(err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	checkPaced(t, s.commits.Load()-before, time.Since(start), ops.Load(), "ingests")
}

// checkPaced fails unless n writes over elapsed took commits that began at
// least the gap apart, and shared them.
func checkPaced(t *testing.T, commits int64, elapsed time.Duration, n int64, what string) {
	t.Helper()
	t.Logf("%d %s in %d commits over %s", n, what, commits, elapsed.Round(time.Millisecond))
	if most := int64(elapsed/commitGap) + 2; commits > most {
		t.Fatalf("%d commits in %s; want at most %d, one per %s", commits, elapsed, most, commitGap)
	}
	if n < 2*commits {
		t.Fatalf("%d %s in %d commits; want them to share", n, what, commits)
	}
}

// Attempt records that come steadily from several deliveries at once (a
// burst being delivered) share paced commits too.
func TestSteadyAttemptRecordsSharePacedCommits(t *testing.T) {
	s := mustOpen(t, Options{})
	h := newWebhook(t, s, "*")
	ctx := context.Background()
	const senders = 8
	var evs []*Event
	for i := range senders {
		evs = append(evs, eventFor(s, "contact_created", fmt.Sprintf("c%d", i)))
	}
	if _, err := s.InsertEvents(ctx, evs, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: senders}, senders, 60_000)
	if err != nil || len(cs) != senders {
		t.Fatalf("claim: %v, %d claimed", err, len(cs))
	}
	var records atomic.Int64
	before := s.commits.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			// Each sender records attempts of its own delivery, one after
			// another (after the first, they are counted, as a lost lease's).
			for time.Since(start) < 300*time.Millisecond {
				o := &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
					StatusCode: 500, Error: "500", Trigger: "auto", Status: StatusRetrying, NextAttemptAt: s.NowMS() + 60_000}
				if _, err := s.RecordAttempt(ctx, o); err != nil {
					t.Error(err)
					return
				}
				records.Add(1)
			}
		})
	}
	wg.Wait()
	checkPaced(t, s.commits.Load()-before, time.Since(start), records.Load(), "attempt records")
}

// Attempt records that share a commit with a lone ingest do not start the
// wait: the next ingest of that client would only be slowed by it.
func TestRecordsBesideALoneIngestDoNotPace(t *testing.T) {
	s := mustOpen(t, Options{commitGap: time.Hour})
	h := newWebhook(t, s, "*")
	ctx := context.Background()
	if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1"), eventFor(s, "contact_created", "c2")}, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 2}, 2, 60_000)
	if err != nil || len(cs) != 2 {
		t.Fatalf("claim: %v, %d claimed", err, len(cs))
	}
	// One ingest and two records share a commit.
	release := holdWriter(t, s)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "new_message", "c3")}, nil); err != nil {
			t.Error(err)
		}
	})
	waitQueued(t, s, 1)
	for i, c := range cs {
		wg.Go(func() {
			o := &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
				StatusCode: 200, Trigger: "auto", Status: StatusSucceeded}
			if _, err := s.RecordAttempt(ctx, o); err != nil {
				t.Error(err)
			}
		})
		waitQueued(t, s, i+2)
	}
	release()
	wg.Wait()
	stored := make(chan error, 1)
	go func() {
		_, err := s.InsertEvents(ctx, []*Event{eventFor(s, "new_message", "c3")}, nil)
		stored <- err
	}()
	select {
	case err := <-stored:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next ingest waited for the gap after a commit of one ingest and two attempt records")
	}
}

// A client that posts one event after another, each once the last is
// answered, never waits for the gap: no one would share its commits.
func TestASequentialClientIsNotPaced(t *testing.T) {
	s := mustOpen(t, Options{commitGap: time.Hour})
	newWebhook(t, s, "*")
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		for range 20 {
			if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "new_message", "c1")}, nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("20 events posted one after another did not go through: each waited for the gap")
	}
}
