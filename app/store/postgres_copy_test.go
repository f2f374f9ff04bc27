package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/app/store/pgtest"
)

func TestCopySQLiteToPostgres(t *testing.T) {
	pgtest.URL(t)
	ctx := context.Background()
	dir := t.TempDir()
	lite := mustOpen(t, Options{Dir: dir})
	h := newWebhook(t, lite, "*")
	h.GenerateSummary, h.Ordered = true, true
	saveWebhook(t, lite, h)
	var ids []string
	for i := range 5 {
		ev := eventFor(lite, "new_message", fmt.Sprint("c", i))
		ev.SetData(fmt.Sprintf(`{"contact":{"id":"c%d"},"message":{"text":"hi %d"}}`, i, i))
		ev.ContentHash = ContentHash(ev)
		if _, err := lite.InsertEvents(ctx, []*Event{ev}, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	done := claimOne(t, lite, h)
	if _, err := lite.RecordAttempt(ctx, &AttemptOutcome{DeliveryID: done.ID, WebhookID: h.ID, Lease: done.Lease, Number: 1,
		StartedAt: lite.NowMS(), StatusCode: 200, Body: "ok", Trigger: "auto", Status: StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	inFlight := claimOne(t, lite, h) // the server stopped while this was in flight
	if err := lite.CreateToken(ctx, &Token{ID: lite.NewID("tok_"), Name: "t", Scope: ScopeAdmin, CreatedAt: lite.NowMS()}, "hrld_adm_copy"); err != nil {
		t.Fatal(err)
	}
	if err := lite.Close(); err != nil {
		t.Fatal(err)
	}

	u := pgtest.Schema(t)
	counts, err := CopySQLiteToPostgres(ctx, dir, u)
	if err != nil {
		t.Fatal(err)
	}
	if counts["events"] != 5 || counts["deliveries"] != 5 || counts["attempts"] != 1 || counts["webhooks"] != 1 {
		t.Fatalf("counts = %v", counts)
	}
	pg := mustOpenPostgres(t, Options{DatabaseURL: u})
	got, err := pg.FindWebhookByID(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mustOpen(t, Options{Dir: dir}).FindWebhookByID(ctx, h.ID)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("webhook differs:\n%+v\n%+v", got, want)
	}
	evs, _ := pg.FindEvents(ctx, EventFilter{Limit: 10})
	if len(evs) != 5 || evs[0].ID != ids[0] || evs[4].ID != ids[4] {
		t.Fatalf("events = %v", evs)
	}
	if tok, _ := pg.Authenticate(ctx, "hrld_adm_copy"); tok == nil {
		t.Fatal("the copied token does not authenticate")
	}
	d, _ := pg.FindDeliveryByID(ctx, inFlight.ID)
	if d.Status != StatusPending || d.LeaseUntil != 0 {
		t.Fatalf("the delivery in flight at the stop is %s, lease %d; want pending", d.Status, d.LeaseUntil)
	}
	if a, _ := pg.FindAttempts(ctx, done.ID); len(a) != 1 || a[0].ResponseBody != "ok" {
		t.Fatalf("attempts = %+v", a)
	}
	// New rows continue after the copied ones.
	res, err := pg.InsertEvents(ctx, []*Event{eventFor(pg, "contact_created", "c9")}, nil)
	if err != nil || res[0].Event.Seq <= evs[4].Seq || res[0].Deliveries != 1 {
		t.Fatalf("insert after copy: %+v, %v", res, err)
	}
	if msgs, _ := pg.RecentMessages(ctx, "c1", 10, 0); len(msgs) != 1 || msgs[0].Text != "hi 1" {
		t.Fatalf("messages = %+v", msgs)
	}
	if _, err := CopySQLiteToPostgres(ctx, dir, u); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("a second copy = %v; want a refusal", err)
	}
}
