package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app/store/pgtest"
)

// Two stores on one database are two nodes.
func twoNodes(t *testing.T, cap int) (*Postgres, *Postgres) {
	t.Helper()
	u := pgtest.Schema(t)
	a := mustOpenPostgres(t, Options{DatabaseURL: u, NodeID: "a", PerWebhook: cap})
	b := mustOpenPostgres(t, Options{DatabaseURL: u, NodeID: "b", PerWebhook: cap})
	return a, b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPostgresNodes(t *testing.T) {
	pgtest.URL(t)
	ctx := context.Background()

	t.Run("two nodes claiming at once never take the same delivery", func(t *testing.T) {
		a, b := twoNodes(t, 1000)
		h := newWebhook(t, a, "*")
		evs := make([]*Event, 300)
		for i := range evs {
			evs[i] = eventFor(a, "contact_created", fmt.Sprint("c", i))
		}
		if _, err := a.InsertEvents(ctx, evs, nil); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for _, s := range []*Postgres{a, b, a, b} {
			wg.Go(func() {
				for {
					got, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 2000}, 7, 60_000) // slots: 2 × cap, nothing held
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, c := range got {
						if by, dup := seen[c.ID]; dup {
							t.Errorf("%s claimed by %s and %s", c.ID, by, s.node)
						}
						seen[c.ID] = s.node
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 300 {
			t.Fatalf("claimed %d of 300", len(seen))
		}
	})

	t.Run("the per-webhook cap is shared by the live nodes", func(t *testing.T) {
		a, b := twoNodes(t, 4)
		waitFor(t, 3*time.Second, "both nodes count two", func() bool { return a.LiveNodes() == 2 && b.LiveNodes() == 2 })
		h := newWebhook(t, a, "*")
		for i := range 20 {
			if _, err := a.InsertEvents(ctx, []*Event{eventFor(a, "contact_created", fmt.Sprint("c", i))}, nil); err != nil {
				t.Fatal(err)
			}
		}
		// As the dispatcher asks: slots are twice the cap less what the
		// node holds.
		held := map[*Postgres]int{}
		claim := func(s *Postgres) int {
			got, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 2*4 - held[s]}, 10, 60_000)
			if err != nil {
				t.Fatal(err)
			}
			held[s] += len(got)
			return len(got)
		}
		if n := claim(a); n != 2 {
			t.Fatalf("a claimed %d; want its share, 2 of the cap of 4", n)
		}
		if n := claim(a); n != 0 {
			t.Fatalf("a claimed %d more beyond its share", n)
		}
		if n := claim(b); n != 2 {
			t.Fatalf("b claimed %d; want its share, 2", n)
		}
		// b stops (or is killed: its requests may still be running). While
		// its leases are live, a, alone, stays within the cap less them.
		b.Close()
		waitFor(t, 3*time.Second, "a counts itself alone", func() bool { return a.LiveNodes() == 1 })
		if n := claim(a); n != 0 {
			t.Fatalf("a alone claimed %d while b's 2 leases were live; want none: the cap of 4 less a's 2 and b's 2", n)
		}
		// b's leases go back to the queue (as once they run out): a, alone,
		// may keep twice the cap.
		if _, err := a.pool.Exec(ctx, "UPDATE deliveries SET status = 'pending', lease_until = 0, lease_owner = '' WHERE lease_owner = $1", b.node); err != nil {
			t.Fatal(err)
		}
		if n := claim(a); n != 6 {
			t.Fatalf("a alone claimed %d more; want up to twice the cap, 6 more", n)
		}
	})

	t.Run("a starting node takes only leases that ran out, and those are taken over", func(t *testing.T) {
		a, b := twoNodes(t, 10)
		h := newWebhook(t, a, "*")
		for i := range 2 {
			if _, err := a.InsertEvents(ctx, []*Event{eventFor(a, "contact_created", fmt.Sprint("c", i))}, nil); err != nil {
				t.Fatal(err)
			}
		}
		live, _ := a.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 20}, 1, 60_000)
		dead, _ := a.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 19}, 1, 1)
		if len(live) != 1 || len(dead) != 1 {
			t.Fatal("claims failed")
		}
		time.Sleep(2 * time.Millisecond) // past the 1 ms lease
		// What app.Start asks for: everything in flight.
		n, err := b.RequeueInFlight(ctx, 1<<62)
		if err != nil || n != 1 {
			t.Fatalf("requeued %d, %v; want only the expired one", n, err)
		}
		d, _ := b.FindDeliveryByID(ctx, live[0].ID)
		if d.Status != StatusInFlight {
			t.Fatalf("a live lease was taken: %s", d.Status)
		}
		again, _ := b.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 20}, 5, 60_000)
		if len(again) != 1 || again[0].ID != dead[0].ID {
			t.Fatalf("b took %v; want the expired delivery", again)
		}
	})

	t.Run("a webhook change reaches the other node within a second", func(t *testing.T) {
		a, b := twoNodes(t, 4)
		before := b.WebhookVersion()
		start := time.Now()
		h := newWebhook(t, a, "*")
		waitFor(t, time.Second, "b's webhook version moves", func() bool { return b.WebhookVersion() != before })
		all, _ := b.AllWebhooks(ctx)
		if len(all) != 1 || all[0].ID != h.ID {
			t.Fatalf("b sees %v", all)
		}
		t.Logf("seen after %s", time.Since(start))
		// Ingest on b matches it at once, cache or not.
		res, err := b.InsertEvents(ctx, []*Event{eventFor(b, "contact_created", "c1")}, nil)
		if err != nil || res[0].Deliveries != 1 {
			t.Fatalf("ingest on b: %+v, %v", res, err)
		}
		h.Enabled = false
		saveWebhook(t, a, h)
		res, err = b.InsertEvents(ctx, []*Event{eventFor(b, "contact_created", "c2")}, nil)
		if err != nil || res[0].Deliveries != 0 {
			t.Fatalf("ingest on b right after a disabled the webhook: %+v, %v", res, err)
		}
	})

	t.Run("a token revoked on one node stops working on the other within a second", func(t *testing.T) {
		a, b := twoNodes(t, 4)
		tok := &Token{ID: a.NewID("tok_"), Name: "x", Scope: ScopeIngest, CreatedAt: a.NowMS()}
		if err := a.CreateToken(ctx, tok, "hrld_ing_y"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "b knows the new token", func() bool { got, _ := b.Authenticate(ctx, "hrld_ing_y"); return got != nil })
		if err := a.DeleteToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "b refuses the revoked token", func() bool { got, _ := b.Authenticate(ctx, "hrld_ing_y"); return got == nil })
	})

	t.Run("an exclusive job runs on one node at a time", func(t *testing.T) {
		a, b := twoNodes(t, 4)
		inside, leave := make(chan struct{}), make(chan struct{})
		doneA := make(chan error, 1)
		go func() {
			ran, err := a.TryExclusive(ctx, "reconcile", func() error { close(inside); <-leave; return nil })
			if err == nil && !ran {
				err = errors.New("a did not run")
			}
			doneA <- err
		}()
		<-inside
		var ran atomic.Bool
		ok, err := b.TryExclusive(ctx, "reconcile", func() error { ran.Store(true); return nil })
		if err != nil || ok || ran.Load() {
			t.Fatalf("b ran while a held the job: %v, %v", ok, err)
		}
		close(leave)
		if err := <-doneA; err != nil {
			t.Fatal(err)
		}
		ok, err = b.TryExclusive(ctx, "reconcile", func() error { return nil })
		if err != nil || !ok {
			t.Fatalf("b could not run after a finished: %v, %v", ok, err)
		}
	})

	t.Run("ingest racing webhook creation gives every event committed after it a delivery", func(t *testing.T) {
		a, b := twoNodes(t, 4)
		newWebhook(t, a, "*")
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var created atomic.Int64 // unix ms when the second webhook's create returned
		var stored atomic.Int64
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.InsertEvents(ctx, []*Event{eventFor(b, "contact_created", fmt.Sprint("c", i))}, nil); err != nil {
					t.Error(err)
					return
				}
				stored.Add(1)
			}
		})
		// Ingest runs before, during and after the change.
		waitFor(t, 5*time.Second, "ingest runs", func() bool { return stored.Load() >= 20 })
		second := newWebhook(t, a, "*")
		created.Store(time.Now().UnixMilli())
		n := stored.Load()
		waitFor(t, 5*time.Second, "ingest runs on", func() bool { return stored.Load() >= n+20 })
		close(stop)
		wg.Wait()
		// Every event stored after the create returned must have a delivery to it.
		evs, _ := a.FindEvents(ctx, EventFilter{Limit: 100000})
		after := 0
		for _, ev := range evs {
			if ev.CreatedAt <= created.Load() {
				continue
			}
			after++
			ds, _ := a.FindDeliveries(ctx, DeliveryFilter{EventID: ev.ID, WebhookID: second.ID, Limit: 1})
			if len(ds) != 1 {
				t.Fatalf("event %s, stored after the webhook, has no delivery to it", ev.ID)
			}
		}
		if after == 0 {
			t.Fatal("no event was stored after the change: the test proved nothing")
		}
	})

	t.Run("deleting webhooks while their events are ingested neither fails nor waits on a deadlock", func(t *testing.T) {
		a, b := twoNodes(t, 4)
		var hooks []*Webhook
		for range 20 {
			hooks = append(hooks, newWebhook(t, a, "*"))
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var slowest atomic.Int64
		for range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					if _, err := b.InsertEvents(ctx, []*Event{eventFor(b, "contact_created", fmt.Sprint("c", i))}, nil); err != nil {
						t.Error(err)
						return
					}
					if d := time.Since(start).Milliseconds(); d > slowest.Load() {
						slowest.Store(d)
					}
				}
			})
		}
		for _, h := range hooks {
			start := time.Now()
			if err := a.DeleteWebhook(ctx, h.ID); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start).Milliseconds(); d > slowest.Load() {
				slowest.Store(d)
			}
		}
		close(stop)
		wg.Wait()
		// PostgreSQL looks for deadlocks after deadlock_timeout (1 s).
		if ms := slowest.Load(); ms >= 900 {
			t.Fatalf("an ingest or delete took %d ms: it waited on a deadlock", ms)
		}
	})
}
