package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// undeliveredEvents follows GET /events?webhook_id=&delivery_status=undelivered
// page by page, as a receiver catching up would, and returns the items.
func undeliveredEvents(t *testing.T, s *testServer, webhookID string, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := ""
	for {
		q := url.Values{"webhook_id": {webhookID}, "delivery_status": {"undelivered"}, "limit": {fmt.Sprint(limit)}}
		if after != "" {
			q.Set("after", after)
		}
		page := s.must("GET", "/api/v1/events?"+q.Encode(), nil, 200)
		for _, it := range page["data"].([]any) {
			out = append(out, it.(map[string]any))
		}
		after = page["next_cursor"].(string)
		if after == "" {
			return out
		}
	}
}

// successes records, in order, the event ids a receiver answered 200 to.
type successes struct {
	mu   sync.Mutex
	ids  []string
	last time.Time
}

func (s *successes) add(id string) {
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.last = time.Now()
	s.mu.Unlock()
}

func (s *successes) get() ([]string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), s.last
}

func TestDownThenUpCatchesUpWithinAProbeInterval(t *testing.T) {
	const probe = 2 * time.Second
	s := newTestServer(t, func(c *Config) {
		c.Delivery.RetrySchedule = "1s,10m"
		c.Delivery.ProbeInterval = Duration{probe}
		// One at a time, so that arrival order is send order.
		c.Delivery.PerWebhook = 1
	})
	rc := newReceiver(t)
	var up atomic.Bool
	got := &successes{}
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if !up.Load() {
			return 503, "down for maintenance", nil
		}
		got.add(r.Env.ID)
		return 200, "ok", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	var evs []string
	for i := range 40 {
		evs = append(evs, s.ingest("contact_created", contactData(fmt.Sprint("c", i))))
	}

	t.Run("undelivered lists all 40, oldest first, while they are still retrying", func(t *testing.T) {
		// Each has had its first attempt and its 1 s retry: the next one is
		// 10 minutes away.
		eventually(t, 15*time.Second, "every delivery waiting on its 10 minute retry", func() bool {
			items := undeliveredEvents(t, s, id, 15)
			if len(items) != 40 {
				return false
			}
			for _, it := range items {
				d := it["delivery"].(map[string]any)
				if d["attempts"].(float64) < 2 || d["status"] == StatusInFlight {
					return false
				}
			}
			return true
		})
		items := undeliveredEvents(t, s, id, 15)
		for i, it := range items {
			d := it["delivery"].(map[string]any)
			if it["id"] != evs[i] || d["status"] != StatusRetrying || d["last_status_code"].(float64) != 503 || d["id"] == "" {
				t.Fatalf("item %d = %v; want %s, retrying after a 503", i, it, evs[i])
			}
		}
	})

	back := time.Now()
	up.Store(true)
	t.Run("all 40 arrive within the probe interval + 5 s, in event order, each once", func(t *testing.T) {
		eventually(t, probe+5*time.Second, "all 40 delivered", func() bool {
			ids, _ := got.get()
			return len(ids) >= 40
		})
		ids, last := got.get()
		if !slices.Equal(ids, evs) {
			t.Fatalf("arrived %v\nwant %v", ids, evs)
		}
		took := last.Sub(back)
		t.Logf("receiver back -> last missed delivery: %s (probe interval %s)", took.Round(time.Millisecond), probe)
		if took > probe+5*time.Second {
			t.Fatalf("caught up in %s", took)
		}
		time.Sleep(300 * time.Millisecond) // a request sent twice would be here by now
		if ids, _ := got.get(); len(ids) != 40 {
			t.Fatalf("%d deliveries arrived, want 40: %v", len(ids), ids)
		}
		eventually(t, 5*time.Second, "every delivery succeeded", func() bool {
			return len(undeliveredEvents(t, s, id, 100)) == 0
		})
	})

	t.Run("the probes did not use up the oldest delivery's retries", func(t *testing.T) {
		d := deliveryOf(t, s, evs[0])
		if d["status"] != StatusSucceeded || d["attempt_count"].(float64) < 3 {
			t.Fatalf("oldest delivery = %v; want it probed past its 3 attempts and succeeded", d)
		}
	})
}

func TestProbingResumesAfterARestart(t *testing.T) {
	// Failing is read from the database: a restarted Herald probes at once.
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Delivery.RetrySchedule = "10ms,1h"
	cfg.Delivery.ProbeInterval = Duration{time.Hour} // only the probe at start can send it
	rc := newReceiver(t)
	var up atomic.Bool
	rc.setRespond(func(received) (int, string, map[string]string) {
		if up.Load() {
			return 200, "ok", nil
		}
		return 500, "down", nil
	})
	first := startTestServer(t, cfg)
	id, _ := first.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	evID := first.ingest("contact_created", contactData("c1"))
	eventually(t, 5*time.Second, "the delivery waiting on its 1 h retry", func() bool {
		d := deliveryOf(t, first, evID)
		return d["status"] == StatusRetrying && d["attempt_count"].(float64) == 2
	})
	// Stopped as SIGTERM would (the test's cleanup then does nothing).
	if err := first.App.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	up.Store(true)
	for len(rc.arrived) > 0 {
		<-rc.arrived
	}
	second := startTestServer(t, cfg)
	r := rc.next(t, 5*time.Second)
	if r.Env.ID != evID {
		t.Fatalf("got %s, want %s", r.Env.ID, evID)
	}
	eventually(t, 5*time.Second, "delivered", func() bool { return len(undeliveredEvents(t, second, id, 10)) == 0 })
}

func TestOrderedWebhookKeepsEachContactInOrder(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.RetrySchedule = "300ms,300ms,300ms,300ms" })
	rc := newReceiver(t)
	type hit struct {
		contact string
		n       string
		ok      bool
	}
	var mu sync.Mutex
	var hits []hit
	failsA1 := 0
	rc.setRespond(func(r received) (int, string, map[string]string) {
		mu.Lock()
		defer mu.Unlock()
		contact, n := contactAndN(t, r)
		ok := true
		switch {
		case contact == "A" && n == "1" && failsA1 < 3:
			failsA1++
			ok = false
		case contact == "C" && n == "1":
			ok = false // C's head always fails: it fails for good
		}
		hits = append(hits, hit{contact, n, ok})
		if !ok {
			return 500, "not now", nil
		}
		return 200, "ok", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created", "credits_spent"}, "ordered": true})
	if h := s.must("GET", "/api/v1/webhooks/"+id, nil, 200); h["ordered"] != true {
		t.Fatalf("ordered = %v", h["ordered"])
	}
	for i := 1; i <= 5; i++ {
		for _, c := range []string{"A", "B", "C"} {
			if c == "C" && i > 3 {
				continue
			}
			s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": c}, "n": fmt.Sprint(i)})
		}
	}
	eventually(t, 15*time.Second, "every contact's events delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, h := range hits {
			if h.ok {
				n++
			}
		}
		return n == 5+5+2
	})
	mu.Lock()
	defer mu.Unlock()
	seq := func(contact string) (all []string) {
		for _, h := range hits {
			if h.contact == contact {
				all = append(all, fmt.Sprintf("%s%v", h.n, map[bool]string{true: "", false: "x"}[h.ok]))
			}
		}
		return all
	}
	t.Run("A's arrive in order 1..5, the head retried before the next is sent", func(t *testing.T) {
		if got, want := seq("A"), []string{"1x", "1x", "1x", "1", "2", "3", "4", "5"}; !slices.Equal(got, want) {
			t.Fatalf("A got %v, want %v", got, want)
		}
	})
	t.Run("B's are not delayed by A's failing head", func(t *testing.T) {
		if got, want := seq("B"), []string{"1", "2", "3", "4", "5"}; !slices.Equal(got, want) {
			t.Fatalf("B got %v, want %v", got, want)
		}
		lastB, a1 := -1, -1
		for i, h := range hits {
			if h.contact == "B" {
				lastB = i
			}
			if h.contact == "A" && h.n == "1" && h.ok && a1 < 0 {
				a1 = i
			}
		}
		if lastB > a1 {
			t.Fatalf("B's last event arrived after A's head got through: %v", hits)
		}
	})
	t.Run("a contact whose head fails for good moves on", func(t *testing.T) {
		if got, want := seq("C"), []string{"1x", "1x", "1x", "1x", "1x", "2", "3"}; !slices.Equal(got, want) {
			t.Fatalf("C got %v, want %v", got, want)
		}
	})
}

// contactAndN reads data.contact.id and data.n of a received event.
func contactAndN(t *testing.T, r received) (string, string) {
	var data struct {
		Contact struct {
			ID string `json:"id"`
		} `json:"contact"`
		N string `json:"n"`
	}
	if err := json.Unmarshal(r.Env.Data, &data); err != nil {
		t.Errorf("data: %v", err)
	}
	return data.Contact.ID, data.N
}

func TestReadmeCatchUpRecipeWorksDuringRetries(t *testing.T) {
	// README "Catching up (receivers)", step by step, while Herald is still
	// retrying: no probe or retry gets there first.
	s := newTestServer(t, func(c *Config) {
		c.Delivery.RetrySchedule = "10ms,1h"
		c.Delivery.ProbeInterval = Duration{time.Hour}
		c.Delivery.PerWebhook = 1
	})
	rc := newReceiver(t)
	var up atomic.Bool
	got := &successes{}
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if !up.Load() {
			return 503, "down", nil
		}
		got.add(r.Env.ID)
		return 200, "ok", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	since := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	var evs []string
	for i := range 30 {
		evs = append(evs, s.ingest("contact_created", contactData(fmt.Sprint("c", i))))
	}
	eventually(t, 10*time.Second, "all 30 waiting on their 1 h retry", func() bool {
		ds := deliveriesOf(s, id, StatusRetrying)
		for _, d := range ds {
			if d.(map[string]any)["attempt_count"].(float64) < 2 { // still due for the 10 ms retry
				return false
			}
		}
		return len(ds) == 30
	})
	up.Store(true)

	// 1. What has the receiver not got? Oldest first, paged.
	items := undeliveredEvents(t, s, id, 100)
	var listed []string
	for _, it := range items {
		listed = append(listed, it["id"].(string))
		if d := it["delivery"].(map[string]any); d["status"] != StatusRetrying || d["next_attempt_at"] == "" {
			t.Fatalf("delivery = %v", d)
		}
	}
	if !slices.Equal(listed, evs) {
		t.Fatalf("undelivered lists %d events, want all 30 oldest first", len(listed))
	}
	// Paged as the README says: with a small limit too.
	if paged := undeliveredEvents(t, s, id, 7); len(paged) != 30 {
		t.Fatalf("paging by 7 listed %d", len(paged))
	}

	// 2. A dry run counts, then the replay sends them, oldest first.
	dry := s.must("POST", "/api/v1/webhooks/"+id+"/replay", map[string]any{"since": since, "dry_run": true}, 200)
	if dry["count"].(float64) != 30 || dry["dry_run"] != true {
		t.Fatalf("dry run = %v", dry)
	}
	if got, _ := got.get(); len(got) != 0 {
		t.Fatalf("a dry run sent %d", len(got))
	}
	res := s.must("POST", "/api/v1/webhooks/"+id+"/replay", map[string]any{"since": since}, 200)
	if res["count"].(float64) != 30 || len(res["delivery_ids"].([]any)) != 30 {
		t.Fatalf("replay = %v", res)
	}
	eventually(t, 10*time.Second, "all 30 delivered", func() bool { ids, _ := got.get(); return len(ids) >= 30 })
	if ids, _ := got.get(); !slices.Equal(ids, evs) {
		t.Fatalf("arrived %v, want %v", ids, evs)
	}
	eventually(t, 5*time.Second, "nothing undelivered", func() bool { return len(undeliveredEvents(t, s, id, 100)) == 0 })
}
