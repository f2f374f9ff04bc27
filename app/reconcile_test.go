package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app/store"
)

// testClock is the real time plus an offset that a test moves, so timers
// still fire while the store sees days pass at once.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// newClockServer is newTestServer with the store on clock.
func newClockServer(t *testing.T, clock *testClock, opts ...func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t.TempDir())
	for _, o := range opts {
		o(&cfg)
	}
	return startTestServer(t, cfg, clock.Now)
}

// reconcileNow runs the job in the test's goroutine and returns the run.
func reconcileNow(t *testing.T, s *testServer) *ReconcileRun {
	t.Helper()
	run, err := s.App.extras.reconcile.run(context.Background(), "manual")
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return run
}

// deliveriesOf lists a webhook's deliveries, newest first; status may be "".
func deliveriesOf(s *testServer, webhookID, status string) []any {
	return s.must("GET", "/api/v1/webhooks/"+webhookID+"/deliveries?status="+status, nil, 200)["data"].([]any)
}

// deliveryOf returns the only delivery of an event.
func deliveryOf(t *testing.T, s *testServer, eventID string) map[string]any {
	t.Helper()
	ds := s.must("GET", "/api/v1/events/"+eventID, nil, 200)["deliveries"].([]any)
	if len(ds) != 1 {
		t.Fatalf("event %s has %d deliveries, want 1", eventID, len(ds))
	}
	return ds[0].(map[string]any)
}

// repairs reads herald_reconcile_repairs_total for a kind from /metrics.
func repairs(t *testing.T, s *testServer, kind string) string {
	t.Helper()
	_, body := s.request("GET", "/metrics", nil, "")
	prefix := `herald_reconcile_repairs_total{kind="` + kind + `"} `
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return "0"
}

func contactData(id string) map[string]any {
	return map[string]any{"contact": map[string]any{"id": id}}
}

func TestReconcileRequeuesStuckLeases(t *testing.T) {
	clock := &testClock{}
	s := newClockServer(t, clock)
	rc := newReceiver(t)
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}, "enabled": false})
	stuck := s.ingest("contact_created", contactData("c1"))
	busy := s.ingest("contact_created", contactData("c2"))
	// A process died holding stuck; another still holds busy.
	now := clock.Now().UnixMilli()
	for _, d := range []struct {
		id, event string
		lease     int64
	}{{"dlv_stuck", stuck, now - 1000}, {"dlv_busy", busy, now + time.Hour.Milliseconds()}} {
		execSQL(t, s, `INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, lease_until, created_at, updated_at)
			VALUES (?, ?, ?, 'in_flight', ?, ?, ?, ?)`, d.id, d.event, id, now, d.lease, now, now)
	}
	s.must("PATCH", "/api/v1/webhooks/"+id, map[string]any{"enabled": true}, 200)

	run := reconcileNow(t, s)
	t.Run("the delivery past its lease is re-queued and delivered", func(t *testing.T) {
		if run.Steps.Requeued != 1 {
			t.Fatalf("requeued = %d, want 1", run.Steps.Requeued)
		}
		if r := rc.next(t, 5*time.Second); r.Env.ID != stuck {
			t.Fatalf("delivered %s, want %s", r.Env.ID, stuck)
		}
		eventually(t, 5*time.Second, "the stuck delivery succeeded", func() bool {
			return s.must("GET", "/api/v1/deliveries/dlv_stuck", nil, 200)["status"] == StatusSucceeded
		})
	})
	t.Run("a delivery whose lease still runs is left alone", func(t *testing.T) {
		if st := s.must("GET", "/api/v1/deliveries/dlv_busy", nil, 200)["status"]; st != StatusInFlight {
			t.Fatalf("status = %v, want in_flight", st)
		}
	})
	t.Run("the repair is counted in the metrics", func(t *testing.T) {
		if v := repairs(t, s, "requeued"); v != "1" {
			t.Fatalf("requeued metric = %s", v)
		}
	})
}

func TestReconcileFillsDeliveryGaps(t *testing.T) {
	clock := &testClock{}
	s := newClockServer(t, clock)
	rc := newReceiver(t)
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	offID, _ := s.createWebhook(map[string]any{"url": rc.URL + "/off", "events": []string{"contact_created"}, "enabled": false})
	ev := s.ingest("contact_created", contactData("c1"))
	rc.next(t, 5*time.Second)
	eventually(t, 5*time.Second, "the first delivery succeeded", func() bool {
		return deliveryOf(t, s, ev)["status"] == StatusSucceeded
	})
	execSQL(t, s, "DELETE FROM deliveries WHERE event_id = ?", ev) // lost, by a bug or a hand edit
	lateID, _ := s.createWebhook(map[string]any{"url": rc.URL + "/late", "events": []string{"contact_created"}})

	t.Run("an event younger than a minute is left for a later run", func(t *testing.T) {
		if run := reconcileNow(t, s); run.Steps.GapFilled != 0 {
			t.Fatalf("gap_filled = %d, want 0", run.Steps.GapFilled)
		}
	})
	clock.Advance(2 * time.Minute)
	t.Run("the missing delivery is created and sent", func(t *testing.T) {
		if run := reconcileNow(t, s); run.Steps.GapFilled != 1 {
			t.Fatalf("gap_filled = %d, want 1", run.Steps.GapFilled)
		}
		if r := rc.next(t, 5*time.Second); r.Env.ID != ev || r.Header.Get("herald-attempt") != "1" {
			t.Fatalf("got %s attempt %s", r.Env.ID, r.Header.Get("herald-attempt"))
		}
		var d map[string]any
		eventually(t, 5*time.Second, "the new delivery succeeded", func() bool {
			d = deliveryOf(t, s, ev)
			return d["status"] == StatusSucceeded
		})
		a := s.must("GET", "/api/v1/deliveries/"+d["id"].(string), nil, 200)["attempts"].([]any)
		if d["webhook_id"] != id || a[0].(map[string]any)["trigger"] != "reconcile" {
			t.Fatalf("delivery = %v, attempts = %v", d, a)
		}
	})
	t.Run("webhooks created later or disabled get nothing", func(t *testing.T) {
		for _, h := range []string{offID, lateID} {
			if n := len(deliveriesOf(s, h, "")); n != 0 {
				t.Fatalf("webhook %s has %d deliveries", h, n)
			}
		}
	})
	t.Run("the next run does not look at the same events again", func(t *testing.T) {
		execSQL(t, s, "DELETE FROM deliveries WHERE event_id = ?", ev)
		if run := reconcileNow(t, s); run.Steps.GapFilled != 0 {
			t.Fatalf("gap_filled = %d, want 0: events behind the mark were checked again", run.Steps.GapFilled)
		}
		if v := repairs(t, s, "gap_filled"); v != "1" {
			t.Fatalf("gap_filled metric = %s", v)
		}
	})
}

func TestAutoReplayOnRecovery(t *testing.T) {
	// A receiver down long enough to be probed: the probe that finds it back
	// replays what failed meanwhile at once, without the reconcile job.
	s := newClockServer(t, &testClock{}, func(c *Config) {
		c.Delivery.RetrySchedule = "10ms"
		c.Delivery.ProbeInterval = Duration{100 * time.Millisecond}
	})
	rc := newReceiver(t)
	var healthy atomic.Bool
	got := &successes{}
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if healthy.Load() {
			got.add(r.Env.ID)
			return 200, "ok", nil
		}
		return 500, "down", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	var evs []string
	for i := range 3 {
		evs = append(evs, s.ingest("contact_created", contactData(fmt.Sprint("c", i))))
	}
	eventually(t, 5*time.Second, "three failed deliveries, then a failed probe", func() bool {
		n := 0
		for _, d := range deliveriesOf(s, id, StatusFailed) {
			n += int(d.(map[string]any)["attempt_count"].(float64))
		}
		return n > 6
	})
	healthy.Store(true)
	eventually(t, 5*time.Second, "every delivery succeeded", func() bool { return len(deliveriesOf(s, id, StatusSucceeded)) == 3 })
	ids, _ := got.get()
	slices.Sort(ids)
	if !slices.Equal(ids, evs) {
		t.Fatalf("arrived %v, want each of %v once", ids, evs)
	}
	if v := repairs(t, s, "replayed"); v != "2" {
		t.Fatalf("replayed metric = %s; want the two the probe did not send", v)
	}
	if run := reconcileNow(t, s); run.Steps.Replayed != 0 {
		t.Fatalf("the reconcile run replayed %d more, want 0", run.Steps.Replayed)
	}
}

func TestReconcileAutoReplay(t *testing.T) {
	tests := []struct {
		name       string
		autoReplay bool
	}{
		{"failed deliveries are replayed oldest first, in batches, once the webhook recovers", true},
		{"nothing is replayed when auto_replay is off", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newClockServer(t, &testClock{}, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
			s.App.extras.reconcile.replayLimit = 2
			rc := newReceiver(t)
			var healthy atomic.Bool
			rc.setRespond(func(received) (int, string, map[string]string) {
				if healthy.Load() {
					return 200, "ok", nil
				}
				return 500, "down", nil
			})
			id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}, "auto_replay": tc.autoReplay})
			var evs []string
			for i := range 3 {
				evs = append(evs, s.ingest("contact_created", contactData(fmt.Sprint("c", i))))
			}
			eventually(t, 5*time.Second, "three failed deliveries", func() bool { return len(deliveriesOf(s, id, StatusFailed)) == 3 })
			healthy.Store(true)
			s.ingest("contact_created", contactData("c-new"))
			eventually(t, 5*time.Second, "the recovery to be noticed", func() bool {
				return kvValue(t, s, "reconcile.replay:"+id) != ""
			})

			run := reconcileNow(t, s)
			if !tc.autoReplay {
				if run.Steps.Replayed != 0 || len(deliveriesOf(s, id, StatusFailed)) != 3 {
					t.Fatalf("replayed = %d with auto_replay off", run.Steps.Replayed)
				}
				if ids, _ := s.App.store.RecoveredWebhooks(context.Background()); len(ids) != 0 {
					t.Fatalf("recovery marks left: %v", ids)
				}
				return
			}
			if run.Steps.Replayed != 2 || deliveryOf(t, s, evs[0])["status"] == StatusFailed || deliveryOf(t, s, evs[2])["status"] != StatusFailed {
				t.Fatalf("first run replayed %d; want the two oldest", run.Steps.Replayed)
			}
			if run := reconcileNow(t, s); run.Steps.Replayed != 1 {
				t.Fatalf("second run replayed %d, want 1", run.Steps.Replayed)
			}
			eventually(t, 5*time.Second, "every delivery succeeded", func() bool {
				return len(deliveriesOf(s, id, StatusSucceeded)) == 4
			})
			d := deliveryOf(t, s, evs[0])
			a := s.must("GET", "/api/v1/deliveries/"+d["id"].(string), nil, 200)["attempts"].([]any)
			if len(a) != 3 || a[2].(map[string]any)["trigger"] != "replay" {
				t.Fatalf("attempts = %v", a)
			}
			if run := reconcileNow(t, s); run.Steps.Replayed != 0 {
				t.Fatalf("third run replayed %d, want 0", run.Steps.Replayed)
			}
			if v := repairs(t, s, "replayed"); v != "3" {
				t.Fatalf("replayed metric = %s", v)
			}
		})
	}
}

func TestReconcileAutoReplaysAnEventOnlyOnce(t *testing.T) {
	s := newClockServer(t, &testClock{}, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
	rc := newReceiver(t)
	var healthy atomic.Bool
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if healthy.Load() && !strings.Contains(string(r.Body), `"poison"`) {
			return 200, "ok", nil
		}
		return 500, "no", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	poison := s.ingest("contact_created", contactData("poison"))
	eventually(t, 5*time.Second, "the delivery failed", func() bool { return deliveryOf(t, s, poison)["status"] == StatusFailed })
	succeedOnce := func() {
		t.Helper()
		s.ingest("contact_created", contactData(fmt.Sprint("ok-", time.Now().UnixNano())))
		eventually(t, 5*time.Second, "the recovery to be noticed", func() bool {
			v := kvValue(t, s, "reconcile.replay:"+id)
			return v != ""
		})
	}
	healthy.Store(true)
	succeedOnce()
	if run := reconcileNow(t, s); run.Steps.Replayed != 1 {
		t.Fatalf("first recovery replayed %d, want 1", run.Steps.Replayed)
	}
	eventually(t, 5*time.Second, "the replay failed too", func() bool {
		d := deliveryOf(t, s, poison)
		return d["status"] == StatusFailed && d["attempt_count"].(float64) == 4
	})
	succeedOnce()
	if run := reconcileNow(t, s); run.Steps.Replayed != 0 {
		t.Fatalf("an event the receiver always refuses was replayed again (%d)", run.Steps.Replayed)
	}
}

func TestReconcileAutoDisable(t *testing.T) {
	clock := &testClock{}
	s := newClockServer(t, clock, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
	bad, good := newReceiver(t), newReceiver(t)
	bad.setRespond(func(received) (int, string, map[string]string) { return 500, "down", nil })
	badID, _ := s.createWebhook(map[string]any{"url": bad.URL, "events": []string{"contact_created"}})
	goodID, _ := s.createWebhook(map[string]any{"url": good.URL, "events": []string{"contact_paused"}})
	s.ingest("contact_created", contactData("c1"))
	s.ingest("contact_paused", contactData("c1"))
	eventually(t, 5*time.Second, "one failed and one succeeded delivery", func() bool {
		return len(deliveriesOf(s, badID, StatusFailed)) == 1 && len(deliveriesOf(s, goodID, StatusSucceeded)) == 1
	})
	h, err := s.App.store.FindWebhookByID(context.Background(), badID)
	if err != nil || h.FailingSince == 0 {
		t.Fatalf("failing_since = %d, %v", h.FailingSince, err)
	}
	enabled := func(id string) bool { return s.must("GET", "/api/v1/webhooks/"+id, nil, 200)["enabled"].(bool) }

	t.Run("a webhook failing for less than the window stays enabled", func(t *testing.T) {
		clock.Advance(DefaultDisableAfter - time.Minute)
		if run := reconcileNow(t, s); run.Steps.Disabled != 0 || !enabled(badID) {
			t.Fatalf("disabled = %d", run.Steps.Disabled)
		}
	})
	t.Run("after the window it is disabled and says why and since when", func(t *testing.T) {
		clock.Advance(2 * time.Minute)
		if run := reconcileNow(t, s); run.Steps.Disabled != 1 {
			t.Fatalf("disabled = %d, want 1", run.Steps.Disabled)
		}
		w := s.must("GET", "/api/v1/webhooks/"+badID, nil, 200)
		reason, _ := w["disabled_reason"].(string)
		if w["enabled"] != false || !strings.Contains(reason, store.FormatTime(h.FailingSince)) || !strings.Contains(reason, "5 days") {
			t.Fatalf("enabled = %v, disabled_reason = %q", w["enabled"], reason)
		}
		if !enabled(goodID) {
			t.Fatal("the healthy webhook was disabled")
		}
	})
	t.Run("enabling it again starts the window over", func(t *testing.T) {
		s.must("PATCH", "/api/v1/webhooks/"+badID, map[string]any{"enabled": true}, 200)
		if run := reconcileNow(t, s); run.Steps.Disabled != 0 || !enabled(badID) {
			t.Fatalf("disabled = %d right after being enabled", run.Steps.Disabled)
		}
	})
}

func TestReconcileRetention(t *testing.T) {
	clock := &testClock{}
	clock.Advance(-40 * 24 * time.Hour)
	s := newClockServer(t, clock, func(c *Config) {
		c.Summary.MaxMessages = 3
		c.Delivery.RetrySchedule = "1h"
	})
	ok, down := newReceiver(t), newReceiver(t)
	down.setRespond(func(received) (int, string, map[string]string) { return 500, "down", nil })
	okID, _ := s.createWebhook(map[string]any{"url": ok.URL, "events": []string{"contact_created"}})
	downID, _ := s.createWebhook(map[string]any{"url": down.URL, "events": []string{"contact_paused"}})
	message := func(contact, text string) string {
		return s.ingest("new_message", map[string]any{"contact": map[string]any{"id": contact}, "message": map[string]any{"text": text, "channel": "sms"}})
	}
	old := s.ingest("contact_created", contactData("c1"))
	kept := s.ingest("contact_paused", contactData("c1"))
	message("c9", "old 1")
	message("c9", "old 2")
	eventually(t, 5*time.Second, "one delivery succeeded and one waits for a retry", func() bool {
		p := deliveriesOf(s, downID, StatusRetrying)
		return len(deliveriesOf(s, okID, StatusSucceeded)) == 1 && len(p) == 1 && p[0].(map[string]any)["attempt_count"].(float64) == 1
	})
	oldDelivery := deliveryOf(t, s, old)["id"].(string)
	s.must("PATCH", "/api/v1/webhooks/"+downID, map[string]any{"enabled": false}, 200) // its delivery stays pending
	reconcileNow(t, s)

	clock.Advance(40 * 24 * time.Hour)
	for i := 1; i <= 5; i++ {
		message("c2", fmt.Sprint("new ", i))
	}
	run := reconcileNow(t, s)

	t.Run("old events go with their deliveries and attempts", func(t *testing.T) {
		if run.Steps.Pruned.Events != 3 {
			t.Fatalf("pruned events = %d, want 3", run.Steps.Pruned.Events)
		}
		if code, _ := s.do("GET", "/api/v1/events/"+old, nil); code != 404 {
			t.Fatalf("old event: %d", code)
		}
		var n int
		if err := rawDB(t, s).QueryRow("SELECT count(*) FROM attempts WHERE delivery_id = ?", oldDelivery).Scan(&n); err != nil || n != 0 {
			t.Fatalf("attempts left: %d, %v", n, err)
		}
	})
	t.Run("an old event with a pending delivery is kept", func(t *testing.T) {
		s.must("GET", "/api/v1/events/"+kept, nil, 200)
	})
	t.Run("the conversation goes with its events", func(t *testing.T) {
		ctx := context.Background()
		c2, _ := s.App.store.RecentMessages(ctx, "c2", s.App.cfg.Summary.MaxMessages, 0)
		c9, _ := s.App.store.RecentMessages(ctx, "c9", 10, 0)
		var texts []string
		for _, m := range c2 {
			texts = append(texts, m.Text)
		}
		if !slices.Equal(texts, []string{"new 3", "new 4", "new 5"}) || len(c9) != 0 {
			t.Fatalf("c2 = %q, c9 = %d messages", texts, len(c9))
		}
	})
	t.Run("old runs are pruned too", func(t *testing.T) {
		runs := s.must("GET", "/api/v1/reconcile/runs", nil, 200)["data"].([]any)
		if run.Steps.Pruned.Runs != 1 || len(runs) != 1 || runs[0].(map[string]any)["id"] != run.ID {
			t.Fatalf("pruned runs = %d, runs left = %v", run.Steps.Pruned.Runs, runs)
		}
		if v := repairs(t, s, "pruned_events"); v != "3" {
			t.Fatalf("pruned_events metric = %s", v)
		}
	})
}

func TestReconcileStepPanicIsRecorded(t *testing.T) {
	s := newClockServer(t, &testClock{})
	var called []string
	panicked := false
	s.App.extras.reconcile.beforeStep = func(step string) {
		called = append(called, step)
		if step == "gap_check" && !panicked {
			panicked = true
			panic("boom")
		}
	}
	first := reconcileNow(t, s)
	t.Run("the panic is recorded as the step's error", func(t *testing.T) {
		if !slices.Equal(first.Steps.Errors, []string{"gap_check: panic: boom"}) || first.Error != "gap_check: panic: boom" {
			t.Fatalf("errors = %q, error = %q", first.Steps.Errors, first.Error)
		}
	})
	t.Run("the other steps still run", func(t *testing.T) {
		want := []string{"requeue", "gap_check", "source", "auto_replay", "auto_disable", "retention"}
		if !slices.Equal(called, want) {
			t.Fatalf("steps run = %q", called)
		}
	})
	t.Run("the next run goes ahead", func(t *testing.T) {
		second := reconcileNow(t, s)
		runs := s.must("GET", "/api/v1/reconcile/runs", nil, 200)["data"].([]any)
		if second.Error != "" || len(runs) != 2 || runs[1].(map[string]any)["error"] != first.Error {
			t.Fatalf("second error = %q, runs = %v", second.Error, runs)
		}
	})
}

func TestReconcileRunsAPI(t *testing.T) {
	s := newClockServer(t, &testClock{})
	first := s.must("POST", "/api/v1/reconcile/run", nil, 200)
	t.Run("a run now answers with the run", func(t *testing.T) {
		steps, _ := first["steps"].(map[string]any)
		id, _ := first["id"].(string)
		if !strings.HasPrefix(id, "rec_") || first["trigger"] != "manual" || first["started_at"] == "" || first["finished_at"] == "" || first["error"] != "" {
			t.Fatalf("run = %v", first)
		}
		for _, k := range []string{"requeued", "gap_filled", "source", "replayed", "disabled", "pruned"} {
			if _, ok := steps[k]; !ok {
				t.Fatalf("steps lack %q: %v", k, steps)
			}
		}
		if errs, ok := steps["errors"].([]any); !ok || len(errs) != 0 {
			t.Fatalf("steps.errors = %v, want []", steps["errors"])
		}
	})
	second := s.must("POST", "/api/v1/reconcile/run", nil, 200)
	t.Run("runs are listed newest first with a cursor", func(t *testing.T) {
		page := s.must("GET", "/api/v1/reconcile/runs?limit=1", nil, 200)
		data := page["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != second["id"] || page["next_cursor"] != second["id"] {
			t.Fatalf("page 1 = %v", page)
		}
		data = s.must("GET", "/api/v1/reconcile/runs?limit=1&after="+second["id"].(string), nil, 200)["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != first["id"] {
			t.Fatalf("page 2 = %v", data)
		}
	})
	t.Run("a run while one is in progress is a 409", func(t *testing.T) {
		r := s.App.extras.reconcile
		started, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		var once sync.Once
		r.beforeStep = func(string) { once.Do(func() { close(started); <-release }) }
		go func() {
			defer close(done)
			_, _ = r.run(context.Background(), "manual")
		}()
		<-started
		code, body := s.do("POST", "/api/v1/reconcile/run", nil)
		close(release)
		<-done
		if e, _ := body["error"].(map[string]any); code != 409 || e["code"] != CodeConflict {
			t.Fatalf("status %d, body %v", code, body)
		}
		s.must("POST", "/api/v1/reconcile/run", nil, 200)
	})
	t.Run("ingest tokens may not see runs", func(t *testing.T) {
		tok := s.must("POST", "/api/v1/tokens", map[string]any{"name": "pusher", "scope": "ingest"}, 201)["token"].(string)
		if code, _ := s.request("GET", "/api/v1/reconcile/runs", nil, tok); code != 403 {
			t.Fatalf("status %d, want 403", code)
		}
		if code, _ := s.do("GET", "/api/v1/reconcile/runs?limit=0", nil); code != 422 {
			t.Fatalf("limit=0: status %d, want 422", code)
		}
	})
}

func TestReconcileCronRunsOnSchedule(t *testing.T) {
	s := newClockServer(t, &testClock{}, func(c *Config) { c.Reconcile.Schedule = "@every 1s" })
	eventually(t, 5*time.Second, "a finished cron run", func() bool {
		for _, r := range s.must("GET", "/api/v1/reconcile/runs", nil, 200)["data"].([]any) {
			if m := r.(map[string]any); m["trigger"] == "cron" && m["finished_at"] != "" {
				return true
			}
		}
		return false
	})
}

func TestCatchUpOnFailedEventsByReceiver(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
	rc := newReceiver(t)
	var healthy atomic.Bool
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if !healthy.Load() && strings.Contains(string(r.Env.Data), `"bad-`) {
			return 500, "cannot store", nil
		}
		return 200, "ok", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}, "auto_replay": false})
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var bad []string
	for _, c := range []string{"ok-1", "bad-1", "ok-2", "bad-2"} {
		if e := s.ingest("contact_created", contactData(c)); strings.HasPrefix(c, "bad") {
			bad = append(bad, e)
		}
	}
	eventually(t, 5*time.Second, "two failed and two succeeded", func() bool {
		return len(deliveriesOf(s, id, StatusFailed)) == 2 && len(deliveriesOf(s, id, StatusSucceeded)) == 2
	})

	t.Run("the receiver lists exactly its failed events", func(t *testing.T) {
		data := s.must("GET", "/api/v1/events?webhook_id="+id+"&delivery_status=failed", nil, 200)["data"].([]any)
		var got []string
		for _, e := range data {
			got = append(got, e.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, bad) {
			t.Fatalf("failed events = %q, want %q", got, bad)
		}
	})
	t.Run("and replays them in one call", func(t *testing.T) {
		healthy.Store(true)
		if n := s.must("POST", "/api/v1/webhooks/"+id+"/replay", map[string]any{"since": since, "status": "failed"}, 200)["count"]; n != 2.0 {
			t.Fatalf("count = %v", n)
		}
		eventually(t, 5*time.Second, "all four succeeded", func() bool { return len(deliveriesOf(s, id, StatusSucceeded)) == 4 })
	})
}
