package store

import (
	"context"
	"testing"
)

// Attempts recorded in one commit share their statements (recordAttempts);
// the outcome is the same as recording them one by one, in queue order: each
// logged and counted, only the lease holder moves its delivery on, a deleted
// delivery records nothing, and only the first success after a failure
// reports the webhook recovered.
func TestAttemptsRecordedTogetherActAsOneByOne(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{})
	h := newWebhook(t, s, "*")
	gone := newWebhook(t, s, "*")
	if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1"), eventFor(s, "contact_created", "c2"),
		eventFor(s, "contact_created", "c3"), eventFor(s, "contact_created", "c4")}, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := s.ClaimDue(ctx, []string{h.ID, gone.ID}, map[string]int{h.ID: 4, gone.ID: 1}, 5, 60_000)
	if err != nil || len(cs) != 5 {
		t.Fatalf("claim: %v, %d claimed", err, len(cs))
	}
	// The webhook is failing: its first delivery failed.
	fail := &AttemptOutcome{DeliveryID: cs[0].ID, WebhookID: h.ID, Lease: cs[0].Lease, Number: 1, StartedAt: s.NowMS(),
		StatusCode: 500, Error: "500", Trigger: "auto", Status: StatusRetrying, NextAttemptAt: s.NowMS() + 60_000}
	if _, err := s.RecordAttempt(ctx, fail); err != nil {
		t.Fatal(err)
	}
	outcome := func(c *Claimed, lease int64) *AttemptOutcome {
		return &AttemptOutcome{DeliveryID: c.ID, WebhookID: c.WebhookID, Lease: lease, Number: 1, StartedAt: s.NowMS(),
			StatusCode: 200, Body: "ok", Trigger: "auto", Status: StatusSucceeded}
	}
	outs := []*AttemptOutcome{
		outcome(cs[1], cs[1].Lease),
		outcome(cs[2], cs[2].Lease),
		outcome(cs[3], cs[3].Lease+1), // the lease was lost: counted only
		outcome(cs[4], cs[4].Lease),   // its webhook is deleted first
	}

	// Hold the writer so that the records queue up and share one commit.
	if err := s.DeleteWebhook(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	type answer struct {
		recovered bool
		err       error
	}
	answers := make([]chan answer, len(outs))
	for i, o := range outs {
		answers[i] = make(chan answer, 1)
		go func() {
			r, err := s.RecordAttempt(ctx, o)
			answers[i] <- answer{r, err}
		}()
		waitQueued(t, s, i+1)
	}
	release()
	var recovered []bool
	for _, a := range answers {
		got := <-a
		if got.err != nil {
			t.Fatal(got.err)
		}
		recovered = append(recovered, got.recovered)
	}
	if !recovered[0] || recovered[1] || recovered[2] || recovered[3] {
		t.Fatalf("recovered %v, want only the first success", recovered)
	}
	for i, want := range []struct {
		status string
		count  int
	}{{StatusSucceeded, 1}, {StatusSucceeded, 1}, {StatusInFlight, 1}} {
		d, err := s.FindDeliveryByID(ctx, cs[i+1].ID)
		if err != nil {
			t.Fatal(err)
		}
		as, err := s.FindAttempts(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != want.status || d.AttemptCount != want.count || len(as) != 1 || as[0].Number != 1 {
			t.Fatalf("delivery %d: %s, attempt_count %d, %d attempts; want %s, %d, 1", i+1, d.Status, d.AttemptCount, len(as), want.status, want.count)
		}
	}
	if _, err := s.FindDeliveryByID(ctx, cs[4].ID); err == nil {
		t.Fatal("the deleted webhook's delivery is still there")
	}
	w, err := s.FindWebhookByID(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w.FailingSince != 0 || w.LastSuccessAt == 0 {
		t.Fatalf("webhook failing_since %d, last_success_at %d; want recovered", w.FailingSince, w.LastSuccessAt)
	}
}

// Single events stored in one commit share their statements (insertEvents);
// each gets the answer it would get alone: a repeat of an id stored earlier
// in the same group is that event, with its deliveries; an id reused with
// other content is refused and nothing of it is stored, and the others are.
func TestEventsStoredTogetherActAsOneByOne(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	old := eventFor(s, "contact_created", "c0")
	if _, err := s.InsertEvents(ctx, []*Event{old}, nil); err != nil {
		t.Fatal(err)
	}
	first := eventFor(s, "contact_created", "c1")
	repeat := *first
	clash := eventFor(s, "contact_created", "other")
	clash.ID = old.ID
	last := eventFor(s, "contact_created", "c2")
	evs := []*Event{first, &repeat, clash, last}

	release := holdWriter(t, s)
	type answer struct {
		res []IngestResult
		err error
	}
	answers := make([]chan answer, len(evs))
	for i, ev := range evs {
		answers[i] = make(chan answer, 1)
		go func() {
			res, err := s.InsertEvents(ctx, []*Event{ev}, nil)
			answers[i] <- answer{res, err}
		}()
		waitQueued(t, s, i+1)
	}
	release()
	got := make([]answer, len(evs))
	for i := range answers {
		got[i] = <-answers[i]
	}
	if a := got[0]; a.err != nil || a.res[0].Existing || a.res[0].Deliveries != 1 {
		t.Fatalf("first: %+v", a)
	}
	if a := got[1]; a.err != nil || !a.res[0].Existing || a.res[0].Deliveries != 1 {
		t.Fatalf("repeat: %+v", a)
	}
	if a := got[2]; a.err == nil {
		t.Fatalf("an id reused with other content was accepted: %+v", a)
	}
	if a := got[3]; a.err != nil || a.res[0].Existing || a.res[0].Deliveries != 1 || a.res[0].Event.Seq <= got[0].res[0].Event.Seq {
		t.Fatalf("last: %+v", a)
	}
	stored, err := s.FindEventByID(ctx, old.ID)
	if err != nil || stored.ContactID != "c0" {
		t.Fatalf("the clashing event changed the stored one: %+v, %v", stored, err)
	}
}
