package app

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestListRules(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	s.createWebhook(map[string]any{"url": rc.URL + "/2", "events": []string{"contact_created"}})
	s.ingest("contact_created", contactData("c1"))
	s.ingest("contact_created", contactData("c2"))
	for _, name := range []string{"one", "two"} {
		s.must("POST", "/api/v1/tokens", map[string]any{"name": name, "scope": "ingest"}, http.StatusCreated)
	}
	reconcileNow(t, s)
	reconcileNow(t, s)
	eventually(t, 5*time.Second, "both deliveries to the first webhook made", func() bool {
		return len(deliveriesOf(s, id, StatusSucceeded)) == 2
	})

	lists := []string{
		"/api/v1/events",
		"/api/v1/events?webhook_id=" + id,
		"/api/v1/webhooks",
		"/api/v1/webhooks/" + id + "/deliveries",
		"/api/v1/tokens",
		"/api/v1/plugins",
		"/api/v1/reconcile/runs",
		"/api/v1/stats",
		"/api/v1/event-types",
	}
	join := func(path, q string) string {
		if u, _ := url.Parse(path); u.RawQuery != "" {
			return path + "&" + q
		}
		return path + "?" + q
	}
	errorField := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		f, _ := e["field"].(string)
		return f
	}
	for _, path := range lists {
		t.Run(path+": an unknown query parameter is a 422 naming it", func(t *testing.T) {
			code, m := s.do("GET", join(path, "colour=blue"), nil)
			if code != 422 || errorField(m) != "colour" {
				t.Fatalf("%d %v", code, m)
			}
		})
		if path == "/api/v1/stats" || path == "/api/v1/event-types" {
			continue // not paged
		}
		t.Run(path+": a bad cursor or limit is a 422 naming it", func(t *testing.T) {
			for _, q := range []string{"after=not-a-cursor", "after=wh_%20", "after=-1"} {
				code, m := s.do("GET", join(path, q), nil)
				if code != 422 || errorField(m) != "after" {
					t.Fatalf("%s: %d %v", q, code, m)
				}
			}
			code, m := s.do("GET", join(path, "limit=0"), nil)
			if code != 422 || errorField(m) != "limit" {
				t.Fatalf("limit=0: %d %v", code, m)
			}
		})
		if path == "/api/v1/plugins" {
			continue // none installed here
		}
		t.Run(path+": paging ends with an empty next_cursor, also on a full last page", func(t *testing.T) {
			var all []any
			cursor, pages := "", 0
			for {
				q := "limit=1"
				if cursor != "" {
					q += "&after=" + url.QueryEscape(cursor)
				}
				m := s.must("GET", join(path, q), nil, 200)
				data := m["data"].([]any)
				all = append(all, data...)
				pages++
				cursor = m["next_cursor"].(string)
				if cursor == "" {
					if len(data) != 1 {
						t.Fatalf("last page has %d items", len(data))
					}
					break
				}
				if pages > 10 {
					t.Fatal("paging does not end")
				}
			}
			full := s.must("GET", join(path, "limit=1000"), nil, 200)
			if len(all) != len(full["data"].([]any)) || len(all) < 2 || full["next_cursor"] != "" {
				t.Fatalf("paged %d items over %d pages; one page has %v", len(all), pages, full)
			}
		})
	}
	t.Run("an unknown webhook_id in a filter is a 404", func(t *testing.T) {
		for _, path := range []string{
			"/api/v1/events?webhook_id=wh_nope",
			"/api/v1/events?webhook_id=wh_nope&delivery_status=undelivered",
			"/api/v1/webhooks/wh_nope/deliveries",
			"/api/v1/stats?webhook_id=wh_nope",
		} {
			if code, m := s.do("GET", path, nil); code != 404 {
				t.Fatalf("%s: %d %v", path, code, m)
			}
		}
	})
	t.Run("a bad filter value is a 422 naming it", func(t *testing.T) {
		for q, field := range map[string]string{
			"/api/v1/events?event=nope":                                 "event",
			"/api/v1/events?webhook_id=" + id + "&delivery_status=nope": "delivery_status",
			"/api/v1/events?delivery_status=failed":                     "delivery_status",
			"/api/v1/events?order=sideways":                             "order",
			"/api/v1/webhooks/" + id + "/deliveries?status=cancelled":   "status",
			"/api/v1/stats?window=2h":                                   "window",
		} {
			if code, m := s.do("GET", q, nil); code != 422 || errorField(m) != field {
				t.Fatalf("%s: %d %v", q, code, m)
			}
		}
	})
	t.Run("undelivered and retrying are accepted as filters", func(t *testing.T) {
		for _, q := range []string{
			"/api/v1/events?webhook_id=" + id + "&delivery_status=undelivered",
			"/api/v1/events?webhook_id=" + id + "&delivery_status=retrying",
			"/api/v1/webhooks/" + id + "/deliveries?status=undelivered",
			"/api/v1/webhooks/" + id + "/deliveries?status=retrying",
		} {
			if m := s.must("GET", q, nil, 200); len(m["data"].([]any)) != 0 {
				t.Fatalf("%s: %v", q, m)
			}
		}
	})
}

func TestReplayCountsAndOrder(t *testing.T) {
	clock := &testClock{}
	s := newClockServer(t, clock, func(c *Config) {
		c.Delivery.RetrySchedule = "10ms"
		c.Delivery.ProbeInterval = Duration{time.Hour} // no probes: the states stay as set up
		c.Delivery.PerWebhook = 1                      // arrival order is send order
	})
	rc := newReceiver(t)
	var healthy sync.Map // contact id -> true once it may succeed
	rc.setRespond(func(r received) (int, string, map[string]string) {
		contact, _ := contactAndN(t, r)
		if _, ok := healthy.Load(contact); ok || contact[:2] == "ok" {
			return 200, "ok", nil
		}
		if contact[:4] == "wait" {
			return 503, "later", map[string]string{"Retry-After": "3600"} // retrying, an hour away
		}
		return 500, "no", nil // failed after its one retry
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}, "auto_replay": false})
	type window struct {
		since, until       time.Time
		ok, failed, waited string // event ids
	}
	var ws []window
	for i := range 3 {
		w := window{since: clock.Now()}
		w.failed = s.ingest("contact_created", contactData(fmt.Sprint("fail", i)))
		w.ok = s.ingest("contact_created", contactData(fmt.Sprint("ok", i)))
		w.waited = s.ingest("contact_created", contactData(fmt.Sprint("wait", i)))
		// Settled before the clock jumps, or leases would run out mid-attempt.
		eventually(t, 5*time.Second, "the window's deliveries settled", func() bool {
			return deliveryOf(t, s, w.failed)["status"] == StatusFailed && deliveryOf(t, s, w.ok)["status"] == StatusSucceeded &&
				deliveryOf(t, s, w.waited)["status"] == StatusRetrying
		})
		clock.Advance(10 * time.Minute)
		w.until = clock.Now()
		ws = append(ws, w)
	}
	eventually(t, 5*time.Second, "3 failed, 3 succeeded, 3 retrying", func() bool {
		return len(deliveriesOf(s, id, StatusFailed)) == 3 && len(deliveriesOf(s, id, StatusSucceeded)) == 3 &&
			len(deliveriesOf(s, id, StatusRetrying)) == 3
	})
	dlv := func(evID string) string { return deliveryOf(t, s, evID)["id"].(string) }
	replay := func(body map[string]any) (int, []string) {
		m := s.must("POST", "/api/v1/webhooks/"+id+"/replay", body, 200)
		var ids []string
		for _, v := range m["delivery_ids"].([]any) {
			ids = append(ids, v.(string))
		}
		return int(m["count"].(float64)), ids
	}
	mid := ws[1]
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		status string
		want   []string // event ids, oldest first
	}{
		{"", []string{mid.failed, mid.waited}},
		{"undelivered", []string{mid.failed, mid.waited}},
		{"failed", []string{mid.failed}},
		{"all", []string{mid.failed, mid.ok, mid.waited}},
	} {
		t.Run("since/until and status "+tc.status+": exact count and ids, oldest first", func(t *testing.T) {
			body := map[string]any{"since": rfc(mid.since), "until": rfc(mid.until), "dry_run": true}
			if tc.status != "" {
				body["status"] = tc.status
			}
			var want []string
			for _, ev := range tc.want {
				want = append(want, dlv(ev))
			}
			n, ids := replay(body)
			if n != len(want) || !slices.Equal(ids, want) {
				t.Fatalf("dry run: %d %v, want %v", n, ids, want)
			}
		})
	}
	t.Run("since alone reaches to now", func(t *testing.T) {
		n, _ := replay(map[string]any{"since": rfc(ws[1].since), "dry_run": true})
		if n != 4 {
			t.Fatalf("count = %d, want 4", n)
		}
	})

	t.Run("two concurrent replays send each delivery once, oldest first", func(t *testing.T) {
		last := ws[2]
		healthy.Store("fail2", true)
		healthy.Store("wait2", true)
		for len(rc.arrived) > 0 {
			<-rc.arrived
		}
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				counts[i], _ = replay(map[string]any{"since": rfc(last.since), "until": rfc(last.until)})
			}()
		}
		wg.Wait()
		// Each answers what it queued or moved up: both, or none if the
		// other's were already on their way (in flight or delivered).
		if counts[0]+counts[1] < 2 || counts[0] > 2 || counts[1] > 2 {
			t.Fatalf("counts = %v", counts)
		}
		var got []string
		for range 2 {
			got = append(got, rc.next(t, 5*time.Second).Env.ID)
		}
		if want := []string{last.failed, last.waited}; !slices.Equal(got, want) {
			t.Fatalf("arrived %v, want %v", got, want)
		}
		rc.none(t, 300*time.Millisecond)
		for _, ev := range []string{last.failed, last.waited} {
			if d := deliveryOf(t, s, ev); d["status"] != StatusSucceeded {
				t.Fatalf("%s: %v", ev, d)
			}
		}
	})
}
