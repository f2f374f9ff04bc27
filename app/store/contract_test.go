package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The contract suite: what every engine must do. TestContract runs it on
// SQLite; another engine adds a TestContract<Engine> that calls runContract
// with its own opener.
func TestContractSQLite(t *testing.T) {
	runContract(t, func(t *testing.T) Store { return mustOpen(t, Options{}) })
}

func runContract(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("an acknowledged event has a delivery to every enabled webhook it matches, and no other", func(t *testing.T) {
		s := open(t)
		a := newWebhook(t, s, "contact_created")
		b := newWebhook(t, s, "*")
		newWebhook(t, s, "new_message")
		off := newWebhook(t, s, "contact_created")
		off.Enabled = false
		saveWebhook(t, s, off)
		res, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil)
		if err != nil || len(res) != 1 || res[0].Deliveries != 2 {
			t.Fatalf("insert = %+v, %v; want 2 deliveries", res, err)
		}
		ds, _ := s.FindDeliveries(ctx, DeliveryFilter{EventID: res[0].Event.ID, Limit: 10})
		var to []string
		for _, d := range ds {
			to = append(to, d.WebhookID)
		}
		slices.Sort(to)
		want := []string{a.ID, b.ID}
		slices.Sort(want)
		if !slices.Equal(to, want) {
			t.Fatalf("deliveries to %v, want %v", to, want)
		}
	})

	t.Run("a claimed event carries its data as stored, decoded on first use", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		ev := eventFor(s, "new_message", "c1")
		ev.SetData(`{"contact":{"id":"c1","name":"Ana"},"amount":1.50,"conversation":[{"text":"hi"}]}`)
		ev.ContentHash = ContentHash(ev)
		if _, err := s.InsertEvents(ctx, []*Event{ev}, nil); err != nil {
			t.Fatal(err)
		}
		c := claimOne(t, s, h)
		if string(c.Ev.Data) != string(ev.Data) {
			t.Fatalf("claimed data %s, want %s", c.Ev.Data, ev.Data)
		}
		fields := c.Ev.DataFields()
		if LookupString(fields, "contact.name") != "Ana" || fields["amount"] != json.Number("1.50") {
			t.Fatalf("decoded fields %#v; want contact.name Ana and amount 1.50 as written", fields)
		}
		if conv, _ := Lookup(c.Ev.DataFields(), "conversation"); len(conv.([]any)) != 1 {
			t.Fatalf("conversation %#v, want one message", conv)
		}
	})

	t.Run("a contact's conversation is its newest message events with a text, oldest first", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		base := s.NowMS()
		add := func(name, contact, message string, at int64) *Event {
			ev := eventFor(s, name, contact)
			ev.Timestamp = base + at
			ev.SetData(fmt.Sprintf(`{"contact":{"id":%q},"message":%s}`, contact, message))
			ev.ContentHash = ContentHash(ev)
			return ev
		}
		// One request per event, each its own commit: seq follows this
		// order, which is not the timestamps' order.
		for _, ev := range []*Event{
			add("new_message", "c1", `{"text":"too old"}`, -5000),
			add("new_message", "c1", `{"text":"hello","channel":"sms"}`, 10),
			add("contact_created", "c1", `{"text":"not a message event"}`, 20),
			add("new_message", "c2", `{"text":"another contact"}`, 30),
			add("message_replied", "c1", `{"text":"hi, how can I help?","direction":"outbound","channel":"sms"}`, 5),
			add("new_message", "c1", `{"text":""}`, 40),
			add("new_message", "c1", `{"direction":"outbound"}`, 50),
			add("new_message", "c1", `{"text":"my order is late"}`, 60),
		} {
			if _, err := s.InsertEvents(ctx, []*Event{ev}, nil); err != nil {
				t.Fatal(err)
			}
		}
		test := add("new_message", "c1", `{"text":"a test event"}`, 70)
		test.Source = "test"
		if err := s.InsertTestDelivery(ctx, test, &Claimed{Delivery: &Delivery{ID: s.NewID("dlv_"), WebhookID: h.ID}, Lease: base + 60_000}); err != nil {
			t.Fatal(err)
		}
		want := []Message{
			{Text: "hello", Direction: "inbound", Channel: "sms", AtMS: base + 10},
			{Text: "hi, how can I help?", Direction: "outbound", Channel: "sms", AtMS: base + 5},
			{Text: "my order is late", Direction: "inbound", AtMS: base + 60},
		}
		// n = 1 and 2 read past the events without a text page by page.
		for n := 1; n <= 4; n++ {
			got, err := s.RecentMessages(ctx, "c1", n, base-1000)
			if err != nil {
				t.Fatal(err)
			}
			if w := want[max(0, len(want)-n):]; !reflect.DeepEqual(got, w) {
				t.Fatalf("n = %d: %+v\nwant %+v", n, got, w)
			}
		}
		if got, _ := s.RecentMessages(ctx, "c1", 10, base-10_000); len(got) != 4 || got[0].Text != "too old" {
			t.Fatalf("with an older bound: %+v; want the old message first", got)
		}
		if got, _ := s.RecentMessages(ctx, "nobody", 10, 0); len(got) != 0 {
			t.Fatalf("a contact without events: %+v", got)
		}
	})

	t.Run("a repeated id with the same meaning is the same event, with other data a conflict", func(t *testing.T) {
		s := open(t)
		newWebhook(t, s, "*")
		first := eventFor(s, "contact_created", "c1")
		first.SetData(`{"contact":{"id":"c1","name":"Ana"},"n":1}`)
		first.ContentHash = ContentHash(first)
		if _, err := s.InsertEvents(ctx, []*Event{first}, nil); err != nil {
			t.Fatal(err)
		}
		again := &Event{ID: first.ID, Event: first.Event, Timestamp: first.Timestamp, CreatedAt: first.CreatedAt, Source: "api"}
		again.SetData(`{ "n": 1, "contact": {"name": "Ana", "id": "c1"} }`) // other key order and spacing
		again.ContentHash = ContentHash(again)
		res, err := s.InsertEvents(ctx, []*Event{again}, nil)
		if err != nil || !res[0].Existing || res[0].Deliveries != 1 {
			t.Fatalf("same meaning: %+v, %v; want the stored event", res, err)
		}
		other := &Event{ID: first.ID, Event: first.Event, Timestamp: first.Timestamp, CreatedAt: first.CreatedAt, Source: "api"}
		other.SetData(`{"contact":{"id":"c1","name":"Bo"},"n":1}`)
		other.ContentHash = ContentHash(other)
		if _, err := s.InsertEvents(ctx, []*Event{other}, nil); !IsConflict(err) {
			t.Fatalf("other data: %v; want a conflict", err)
		}
	})

	t.Run("the webhook version moves only after the change is committed and readable", func(t *testing.T) {
		s := open(t)
		before := s.WebhookVersion()
		var seenVersion uint64
		var seenHooks int
		s.SetFaultHook(func(op string) error {
			if op == "create webhook" {
				// Inside the writer, after the op, before the commit: a
				// dispatcher refreshing now must not record a new version
				// with the old list (the webhook would be skipped until
				// some other change).
				seenVersion = s.WebhookVersion()
				all, _ := s.AllWebhooks(ctx)
				seenHooks = len(all)
			}
			return nil
		})
		h := newWebhook(t, s, "*")
		s.SetFaultHook(nil)
		if seenVersion != before || seenHooks != 0 {
			t.Fatalf("before the commit: version %d (was %d), %d webhooks readable", seenVersion, before, seenHooks)
		}
		all, _ := s.AllWebhooks(ctx)
		if s.WebhookVersion() == before || len(all) != 1 || all[0].ID != h.ID {
			t.Fatalf("after the commit: version %d, webhooks %v", s.WebhookVersion(), all)
		}
		// And ingest in the same store sees it at once.
		res, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil)
		if err != nil || res[0].Deliveries != 1 {
			t.Fatalf("ingest after create: %+v, %v", res, err)
		}
	})

	t.Run("a failing op in a shared commit fails alone", func(t *testing.T) {
		s := open(t)
		newWebhook(t, s, "*")
		hold, busy := make(chan struct{}), make(chan struct{})
		var once sync.Once
		var ingests atomic.Int32
		s.SetFaultHook(func(op string) error {
			switch op {
			case "ingest":
				// One ingest fails after it wrote its event and deliveries
				// (the hot path once ran without a savepoint and took the
				// whole group down with it).
				if ingests.Add(1) == 10 {
					return errors.New("injected failure after writing")
				}
			case "create reconcile run":
				return errors.New("injected failure after writing")
			case "set aside":
				once.Do(func() { close(busy); <-hold }) // keep the writer busy while the others queue up
			}
			return nil
		})
		defer s.SetFaultHook(nil)
		// On SQLite the writer is held so that all of them share one
		// commit; engines without a shared commit run them side by side.
		sq, shared := s.(*SQLite)
		if shared {
			go func() { _ = sq.write(ctx, "set aside", func(*txn) error { return nil }) }()
			<-busy
		} else {
			close(busy)
		}
		released := false
		defer func() {
			if !released {
				close(hold)
			}
		}()
		var wg sync.WaitGroup
		errs := make([]error, 20)
		ids := make([]string, 20)
		for i := range errs {
			wg.Go(func() {
				ev := eventFor(s, "contact_created", fmt.Sprint("c", i))
				ids[i] = ev.ID
				_, errs[i] = s.InsertEvents(ctx, []*Event{ev}, nil)
			})
		}
		var runErr error
		wg.Go(func() {
			runErr = s.CreateReconcileRun(ctx, &ReconcileRun{ID: "rec_1", Trigger: "manual", StartedAt: s.NowMS()})
		})
		if shared {
			waitQueued(t, sq, 21)
		}
		released = true
		close(hold)
		wg.Wait()
		if runErr == nil {
			t.Fatal("the failing op succeeded")
		}
		failed := 0
		for i, err := range errs {
			_, findErr := s.FindEventByID(ctx, ids[i])
			switch {
			case err != nil && findErr == nil:
				t.Fatalf("ingest %d failed but its event was kept", i)
			case err != nil:
				failed++
			case findErr != nil:
				t.Fatalf("event %d acknowledged but lost: %v", i, findErr)
			}
		}
		if failed != 1 {
			t.Fatalf("%d ingests failed; want only the one that was made to fail", failed)
		}
		if runs, _ := s.FindReconcileRuns(ctx, "", 10); len(runs) != 0 {
			t.Fatalf("the failed op's row was kept: %v", runs)
		}
	})

	t.Run("only the lease holder moves a delivery on, and a lost claim cannot be renewed", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 10}, 10, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v, %v", claimed, err)
		}
		c := claimed[0]
		time.Sleep(2 * time.Millisecond) // past the 1 ms lease
		if n, err := s.RequeueInFlight(ctx, s.NowMS()); err != nil || n != 1 {
			t.Fatalf("requeue: %d, %v", n, err)
		}
		if got, err := s.RenewLease(ctx, c.ID, c.Lease, s.NowMS()+60_000); err != nil || got != 0 {
			t.Fatalf("renewing a lost claim = %d, %v; want 0", got, err)
		}
		again, _ := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 10}, 10, 60_000)
		if len(again) != 1 {
			t.Fatalf("re-claim: %v", again)
		}
		// The old holder's late answer is logged but moves nothing.
		if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1,
			StartedAt: s.NowMS(), StatusCode: 200, Trigger: "auto", Status: StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
		d, _ := s.FindDeliveryByID(ctx, c.ID)
		if d.Status != StatusInFlight {
			t.Fatalf("status = %s; the stale holder moved it", d.Status)
		}
		renewed, err := s.RenewLease(ctx, c.ID, again[0].Lease, s.NowMS()+120_000)
		if err != nil || renewed == 0 {
			t.Fatalf("the holder could not renew: %v", err)
		}
	})

	t.Run("ingest hands off only what it has room for, and a handed-off delivery is a claim like any other", func(t *testing.T) {
		s := open(t)
		a := newWebhook(t, s, "*")
		b := newWebhook(t, s, "*")
		ord := newWebhook(t, s, "*")
		ord.Ordered = true
		saveWebhook(t, s, ord)
		evs := []*Event{eventFor(s, "contact_created", "c1"), eventFor(s, "contact_created", "c2"), eventFor(s, "contact_created", "c3")}
		ho := &Handoff{Slots: map[string]int{a.ID: 2, ord.ID: 3}, LeaseMS: 60_000}
		res, err := s.InsertEvents(ctx, evs, ho)
		if err != nil || len(res) != 3 || res[0].Deliveries != 3 {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
		want := 0
		if s.HandsOff() {
			want = 2 // a's slots; none of b's, which has no slot, nor the ordered one's
		}
		if len(ho.Claimed) != want {
			t.Fatalf("handed off %d; want %d", len(ho.Claimed), want)
		}
		handed := map[string]bool{}
		for i, c := range ho.Claimed {
			if c.WebhookID != a.ID || c.EventID != evs[i].ID || c.Ev != evs[i] {
				t.Fatalf("handed off %s of %s to %s; want the first events' deliveries to a", c.ID, c.EventID, c.WebhookID)
			}
			d, err := s.FindDeliveryByID(ctx, c.ID)
			if err != nil || d.Status != StatusInFlight || d.LeaseUntil != c.Lease {
				t.Fatalf("handed-off delivery = %+v, %v; want in_flight under lease %d", d, err, c.Lease)
			}
			handed[c.ID] = true
		}
		// A claim takes the rest, never a handed-off one.
		claimed, err := s.ClaimDue(ctx, []string{a.ID, b.ID, ord.ID}, map[string]int{a.ID: 10, b.ID: 10, ord.ID: 10}, 30, 60_000)
		if err != nil || len(claimed)+len(ho.Claimed) != 9 { // three contacts: the ordered webhook's three are all heads
			t.Fatalf("claimed %d after %d handed off, %v; want all 9 between them", len(claimed), len(ho.Claimed), err)
		}
		for _, c := range claimed {
			if handed[c.ID] {
				t.Fatalf("%s was claimed while handed off", c.ID)
			}
		}
		// The holder of a hand-off records its attempt like a claimant.
		for _, c := range ho.Claimed {
			if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: c.WebhookID, Lease: c.Lease, Number: 1,
				StartedAt: s.NowMS(), StatusCode: 200, Trigger: "auto", Status: StatusSucceeded}); err != nil {
				t.Fatal(err)
			}
			if d, _ := s.FindDeliveryByID(ctx, c.ID); d.Status != StatusSucceeded || d.AttemptCount != 1 {
				t.Fatalf("after its attempt: %+v", d)
			}
		}
		// A refused ingest hands off nothing.
		again := *evs[0]
		again.SetData(`{"contact":{"id":"c1","name":"Other"}}`)
		again.ContentHash = ContentHash(&again)
		ho = &Handoff{Slots: map[string]int{a.ID: 2}, LeaseMS: 60_000}
		if _, err := s.InsertEvents(ctx, []*Event{&again}, ho); !IsConflict(err) || len(ho.Claimed) != 0 {
			t.Fatalf("a conflicting id: %v, handed off %d", err, len(ho.Claimed))
		}
	})

	t.Run("a failed attempt leaves the delivery retrying; undelivered lists it", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		res, _ := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil)
		c := claimOne(t, s, h)
		if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
			StatusCode: 500, Trigger: "auto", Status: StatusRetrying, NextAttemptAt: s.NowMS() + 60_000}); err != nil {
			t.Fatal(err)
		}
		evs, _ := s.FindEvents(ctx, EventFilter{WebhookID: h.ID, DeliveryStatus: StatusUndelivered, Limit: 10})
		if len(evs) != 1 || evs[0].ID != res[0].Event.ID {
			t.Fatalf("undelivered = %v", evs)
		}
		d, _ := s.FindDeliveryByID(ctx, c.ID)
		if d.Status != StatusRetrying || d.AttemptCount != 1 {
			t.Fatalf("delivery = %+v", d)
		}
	})

	t.Run("stats count deliveries, not attempts", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil); err != nil {
			t.Fatal(err)
		}
		// Two failed attempts, then a success: one delivery, delivered.
		for n, st := range []string{StatusRetrying, StatusRetrying, StatusSucceeded} {
			c := claimOne(t, s, h)
			code := 500
			if st == StatusSucceeded {
				code = 200
			}
			if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: n + 1, StartedAt: s.NowMS(),
				StatusCode: code, Trigger: "auto", Status: st, NextAttemptAt: s.NowMS()}); err != nil {
				t.Fatal(err)
			}
		}
		st, err := s.WebhookStats(ctx, h.ID, s.NowMS())
		if err != nil || st.Deliveries24h != 1 || st.Succeeded24h != 1 || st.Failed24h != 0 || st.FailureRate24h != 0 {
			t.Fatalf("stats = %+v, %v; want one delivery, delivered, 0%% failed", st, err)
		}
	})

	t.Run("a failing webhook is probed with its oldest delivery, and its recovery makes the backlog due", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		var ids []string
		for i := range 3 {
			res, _ := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", fmt.Sprint("c", i))}, nil)
			ids = append(ids, res[0].Event.ID)
		}
		for range 3 {
			c := claimOne(t, s, h)
			if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
				StatusCode: 503, Trigger: "auto", Status: StatusRetrying, NextAttemptAt: s.NowMS() + 3_600_000}); err != nil {
				t.Fatal(err)
			}
		}
		probes, err := s.ClaimProbes(ctx, 3, 60_000)
		if err != nil || len(probes) != 1 || !probes[0].Probe || probes[0].EventID != ids[0] {
			t.Fatalf("probes = %v, %v; want the oldest delivery, once", probes, err)
		}
		if again, _ := s.ClaimProbes(ctx, 3, 60_000); len(again) != 0 {
			t.Fatalf("a webhook with a probe in flight was probed again: %v", again)
		}
		p := probes[0]
		recovered, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: p.ID, WebhookID: h.ID, Lease: p.Lease, Number: 2, StartedAt: s.NowMS(),
			StatusCode: 200, Trigger: "auto", Status: StatusSucceeded})
		if err != nil || !recovered {
			t.Fatalf("recovered = %v, %v", recovered, err)
		}
		res, err := s.CatchUp(ctx, h.ID, s.NowMS(), 100)
		if err != nil || res.Retrying != 2 || res.More {
			t.Fatalf("catch up = %+v, %v; want the 2 retrying made due", res, err)
		}
		claimed, _ := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 10}, 10, 60_000)
		if len(claimed) != 2 || claimed[0].EventID != ids[1] || claimed[1].EventID != ids[2] {
			t.Fatalf("after catch-up claimed %v; want the other two, oldest first", claimed)
		}
	})

	t.Run("an ordered webhook sends each contact's events one at a time", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		h.Ordered = true
		saveWebhook(t, s, h)
		for _, c := range []string{"A", "A", "B"} {
			if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", c)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		claimed, _ := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 10}, 10, 60_000)
		if len(claimed) != 2 || claimed[0].Ev.ContactID != "A" || claimed[1].Ev.ContactID != "B" {
			t.Fatalf("claimed %d; want A's head and B's, not A's second", len(claimed))
		}
		if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: claimed[0].ID, WebhookID: h.ID, Lease: claimed[0].Lease, Number: 1,
			StartedAt: s.NowMS(), StatusCode: 200, Trigger: "auto", Status: StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
		next, _ := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 10}, 10, 60_000)
		if len(next) != 1 || next[0].Ev.ContactID != "A" {
			t.Fatalf("after A's head succeeded claimed %v; want A's second", next)
		}
	})

	t.Run("send-test attempts leave webhook health alone", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		now := s.Now()
		ev := &Event{ID: s.NewID("evt_"), Event: TestEvent, Timestamp: now.UnixMilli(), Source: "test", CreatedAt: now.UnixMilli()}
		ev.SetData(`{}`)
		ev.ContentHash = ContentHash(ev)
		c := &Claimed{Delivery: &Delivery{ID: s.NewID("dlv_"), EventID: ev.ID, WebhookID: h.ID, Trigger: "test"}, Ev: ev, Lease: now.UnixMilli() + 60_000}
		if err := s.InsertTestDelivery(ctx, ev, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
			StatusCode: 500, Trigger: "test", Status: StatusFailed}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.FindWebhookByID(ctx, h.ID)
		if got.FailingSince != 0 {
			t.Fatal("a failed test started the auto-disable clock")
		}
	})

	t.Run("an update saves only over the version it read", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		stale := *h
		h.Name, h.UpdatedAt = "first", h.UpdatedAt+1
		if err := s.UpdateWebhook(ctx, h, stale.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		stale.Name, stale.UpdatedAt = "second", stale.UpdatedAt+2
		if err := s.UpdateWebhook(ctx, &stale, stale.UpdatedAt-2); !IsConflict(err) {
			t.Fatalf("a save over a changed webhook = %v; want a conflict", err)
		}
		got, _ := s.FindWebhookByID(ctx, h.ID)
		if got.Name != "first" {
			t.Fatalf("name = %q", got.Name)
		}
	})

	t.Run("every rotated secret signs until its own expiry", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		first := h.Secret
		h.Rotate("whsec_second", 1000, 24*3600*1000)
		h.Rotate("whsec_third", 2000, 24*3600*1000)
		prev := h.UpdatedAt
		h.UpdatedAt++
		if err := s.UpdateWebhook(ctx, h, prev); err != nil {
			t.Fatal(err)
		}
		got, _ := s.FindWebhookByID(ctx, h.ID)
		if sec := got.Secrets(3000); !slices.Equal(sec, []string{"whsec_third", "whsec_second", first}) {
			t.Fatalf("secrets = %v", sec)
		}
		if sec := got.Secrets(1000 + 24*3600*1000 + 1); !slices.Equal(sec, []string{"whsec_third", "whsec_second"}) {
			t.Fatalf("after the first expiry: %v", sec)
		}
	})

	t.Run("a revoked token stops working at once; use is remembered", func(t *testing.T) {
		s := open(t)
		tok := &Token{ID: s.NewID("tok_"), Name: "platform", Scope: ScopeIngest, CreatedAt: s.NowMS()}
		if err := s.CreateToken(ctx, tok, "hrld_ing_x"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Authenticate(ctx, "hrld_ing_x"); err != nil || got == nil || got.Scope != ScopeIngest {
			t.Fatalf("authenticate = %v, %v", got, err)
		}
		list, _ := s.FindTokens(ctx)
		if len(list) != 1 || list[0].LastUsedAt == 0 {
			t.Fatalf("last_used_at not kept: %+v", list)
		}
		if err := s.DeleteToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Authenticate(ctx, "hrld_ing_x"); got != nil {
			t.Fatal("a revoked token still authenticates")
		}
	})

	t.Run("replay counts exactly, in event order, and overlapping replays queue each delivery once", func(t *testing.T) {
		s := open(t)
		h := newWebhook(t, s, "*")
		var ids []string
		for i := range 5 {
			res, _ := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", fmt.Sprint("c", i))}, nil)
			ids = append(ids, res[0].Event.ID)
		}
		// Fail every delivery for good.
		for range 5 {
			c := claimOne(t, s, h)
			if _, err := s.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: 1, StartedAt: s.NowMS(),
				StatusCode: 500, Trigger: "auto", Status: StatusFailed}); err != nil {
				t.Fatal(err)
			}
		}
		dry, err := s.Replay(ctx, ReplayOptions{WebhookID: h.ID, Status: ReplayFailed, DryRun: true})
		if err != nil || dry.Count != 5 {
			t.Fatalf("dry run = %+v, %v", dry, err)
		}
		first, _ := s.Replay(ctx, ReplayOptions{WebhookID: h.ID, Status: ReplayFailed})
		second, _ := s.Replay(ctx, ReplayOptions{WebhookID: h.ID, Status: ReplayFailed})
		if first.Count != 5 || second.Count != 0 {
			t.Fatalf("replays queued %d then %d; want 5 then 0", first.Count, second.Count)
		}
		undelivered, _ := s.Replay(ctx, ReplayOptions{WebhookID: h.ID, Status: ReplayUndelivered})
		if undelivered.Count != 5 {
			t.Fatalf("undelivered replay = %d", undelivered.Count)
		}
		claimed, _ := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 10}, 10, 60_000)
		var order []string
		for _, c := range claimed {
			order = append(order, c.EventID)
		}
		if !slices.Equal(order, ids) {
			t.Fatalf("claimed in order %v, want %v", order, ids)
		}
	})
}

func newWebhook(t testing.TB, s Store, events ...string) *Webhook {
	t.Helper()
	now := s.NowMS()
	h := &Webhook{ID: s.NewID("wh_"), URL: "https://example.com/hook", Sink: "webhook", Events: events, Enabled: true, AutoReplay: true,
		Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateWebhook(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

func saveWebhook(t *testing.T, s Store, h *Webhook) {
	t.Helper()
	prev := h.UpdatedAt
	h.UpdatedAt++
	if err := s.UpdateWebhook(context.Background(), h, prev); err != nil {
		t.Fatal(err)
	}
}

func eventFor(s Store, name, contact string) *Event {
	now := s.Now()
	ev := &Event{ID: s.NewID("evt_"), Event: name, Timestamp: now.UnixMilli(), Source: "api", CreatedAt: now.UnixMilli(), ContactID: contact}
	ev.SetData(fmt.Sprintf(`{"contact":{"id":%q,"name":"Ana"}}`, contact))
	ev.ContentHash = ContentHash(ev)
	return ev
}

func claimOne(t *testing.T, s Store, h *Webhook) *Claimed {
	t.Helper()
	claimed, err := s.ClaimDue(context.Background(), []string{h.ID}, map[string]int{h.ID: 1}, 1, 60_000)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	return claimed[0]
}

// waitQueued waits until n ops wait in the writer's queue.
func waitQueued(t *testing.T, s *SQLite, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d ops queued, want %d", len(s.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}
