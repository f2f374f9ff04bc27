package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// An attempt whose lease ran out before it was recorded was still sent: it
// is logged and counted, and the next attempt gets the next number. Before,
// it was logged with the number the claim saw but not counted, so the log
// held two attempts numbered 1 and attempt_count said 1.
func TestRecordAttemptAfterTheLeaseRanOutKeepsLogAndCountInStep(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	s := mustOpen(t, Options{Now: func() time.Time { return time.UnixMilli(clock.Load()) }})
	h := newWebhook(t, s, "*")
	claim := func(t *testing.T) *Claimed {
		t.Helper()
		clock.Add(10) // each claim a different lease
		c, err := s.ClaimDue(ctx, []string{h.ID}, map[string]int{h.ID: 1}, 1, 60_000)
		if err != nil || len(c) != 1 {
			t.Fatalf("claim: %v, %d claimed", err, len(c))
		}
		return c[0]
	}
	record := func(t *testing.T, c *Claimed, status string) {
		t.Helper()
		o := &AttemptOutcome{DeliveryID: c.ID, WebhookID: h.ID, Lease: c.Lease, Number: c.AttemptCount + 1, StartedAt: s.NowMS(),
			StatusCode: 500, Trigger: "auto", Status: status, NextAttemptAt: s.NowMS()}
		if status == StatusSucceeded {
			o.StatusCode = 200
		}
		if _, err := s.RecordAttempt(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(t *testing.T, id, status string, numbers ...int) {
		t.Helper()
		d, err := s.FindDeliveryByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		as, err := s.FindAttempts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, a := range as {
			got = append(got, a.Number)
		}
		if d.Status != status || d.AttemptCount != len(numbers) || len(got) != len(numbers) {
			t.Fatalf("delivery %s with attempt_count %d, attempts numbered %v; want %s, %d, %v", d.Status, d.AttemptCount, got, status, len(numbers), numbers)
		}
		for i := range got {
			if got[i] != numbers[i] {
				t.Fatalf("attempts numbered %v, want %v", got, numbers)
			}
		}
	}

	t.Run("recorded while the delivery waits again", func(t *testing.T) {
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil); err != nil {
			t.Fatal(err)
		}
		a := claim(t)
		if _, err := s.RequeueInFlight(ctx, 1<<62); err != nil { // the lease ran out
			t.Fatal(err)
		}
		record(t, a, StatusSucceeded)
		expect(t, a.ID, StatusRetrying, 1) // not pending: it had an attempt
		b := claim(t)
		record(t, b, StatusSucceeded)
		expect(t, a.ID, StatusSucceeded, 1, 2)
	})
	t.Run("recorded while another holder sends it", func(t *testing.T) {
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c2")}, nil); err != nil {
			t.Fatal(err)
		}
		a := claim(t)
		if _, err := s.RequeueInFlight(ctx, 1<<62); err != nil {
			t.Fatal(err)
		}
		b := claim(t)
		record(t, a, StatusRetrying) // stale: counted, but b holds the delivery
		expect(t, a.ID, StatusInFlight, 1)
		record(t, b, StatusSucceeded)
		expect(t, a.ID, StatusSucceeded, 1, 2)
	})
}
