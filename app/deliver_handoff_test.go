package app

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Ingest hands deliveries straight to the dispatcher when their webhooks
// have room, and leaves the rest to claims. Under concurrent ingest, with
// caps small enough that both happen, every delivery arrives once, ordered
// webhooks keep each contact's order, and the room set aside for hand-offs
// is all given back.
func TestIngestHandsDeliveriesOver(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Delivery.Workers = 8
		c.Delivery.PerWebhook = 2
	})
	fast, slow, ordered := newReceiver(t), newReceiver(t), newReceiver(t)
	slow.setRespond(func(received) (int, string, map[string]string) {
		time.Sleep(5 * time.Millisecond)
		return http.StatusOK, "ok", nil
	})
	s.createWebhook(map[string]any{"url": fast.URL, "events": []string{"*"}})
	s.createWebhook(map[string]any{"url": slow.URL, "events": []string{"*"}})
	s.createWebhook(map[string]any{"url": ordered.URL, "events": []string{"*"}, "ordered": true})

	// One event on an idle dispatcher: handed over, not claimed.
	s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "first"}})
	for _, rc := range []*receiver{fast, slow, ordered} {
		rc.next(t, 5*time.Second)
	}
	s.App.disp.mu.Lock()
	handed := s.App.disp.handoffs
	s.App.disp.mu.Unlock()
	if handed != 2 {
		t.Fatalf("%d deliveries handed over; want 2 (the ordered webhook's goes through a claim)", handed)
	}

	const clients, each, contacts = 8, 25, 5
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				body := map[string]any{"event": "contact_created", "id": fmt.Sprintf("evt-%d-%d", c, i),
					"data": map[string]any{"contact": map[string]any{"id": fmt.Sprint("ct", c%contacts), "n": i}}}
				if code, out := s.request("POST", "/api/v1/events", body, s.Token); code != http.StatusAccepted {
					t.Errorf("ingest: %d %s", code, out)
				}
			}
		})
	}
	wg.Wait()
	const total = clients * each
	for name, rc := range map[string]*receiver{"fast": fast, "slow": slow, "ordered": ordered} {
		seen := map[string]bool{}
		last := map[string]float64{} // per client: the last n the ordered webhook got
		for len(seen) < total {
			r := rc.next(t, 20*time.Second)
			if seen[r.Env.ID] {
				t.Errorf("%s: %s arrived twice", name, r.Env.ID)
			}
			seen[r.Env.ID] = true
			if rc == ordered {
				var c, i int
				if _, err := fmt.Sscanf(r.Env.ID, "evt-%d-%d", &c, &i); err == nil {
					if n, ok := last[fmt.Sprint(c)]; ok && float64(i) < n {
						t.Errorf("ordered: %s arrived after a later event of its contact", r.Env.ID)
					}
					last[fmt.Sprint(c)] = float64(i)
				}
			}
		}
	}
	eventually(t, 5*time.Second, "the dispatcher to hold no room", func() bool {
		d := s.App.disp
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, n := range d.pending {
			if n != 0 {
				return false
			}
		}
		return d.total == 0 && len(d.queues) == 0
	})
	s.App.disp.mu.Lock()
	handed = s.App.disp.handoffs
	s.App.disp.mu.Unlock()
	if handed <= 2 || handed >= 2+2*total {
		t.Errorf("%d of %d deliveries handed over; want some, not all (caps of 2 leave some to claims)", handed-2, 2*total)
	}
	t.Logf("%d of %d deliveries handed over", handed-2, 2*total)
}

// A claim that ran alongside a reservation can leave a webhook holding more
// than its room; a reservation then takes nothing for it, rather than one
// slot for every event that matches.
func TestReserveTakesNothingPastTheCap(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.PerWebhook = 2 })
	rc := newReceiver(t)
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	d := s.App.disp
	eventually(t, 5*time.Second, "the dispatcher to know the webhook", func() bool {
		d.Wake()
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.hooks[id] != nil
	})
	evs := []*Event{{Event: "contact_created"}, {Event: "contact_created"}, {Event: "contact_created"}}
	d.mu.Lock()
	d.pending[id] = handoffDepth*d.perHook + 1
	d.total += handoffDepth*d.perHook + 1
	d.mu.Unlock()
	if ho := d.reserve(evs); ho != nil && ho.Slots[id] != 0 {
		t.Fatalf("reserved %d slots for a webhook already past its room", ho.Slots[id])
	}
	d.mu.Lock()
	d.pending[id] -= handoffDepth*d.perHook + 1
	d.total -= handoffDepth*d.perHook + 1
	d.mu.Unlock()
}

// A delivery that ingest left pending for want of room is not overtaken,
// while it waits, by the deliveries that later ingests hand over. With the
// whole room open to hand-offs, they refilled it as fast as attempts freed
// it, the claim that would take what was left pending never found room,
// and it waited for a lull in the load: 15 to 69 later events went first
// here, and 100 ms to seconds under make bench's steady ingest. Now a
// hand-off may still start in the moment before each claim that reaches
// it (with a pool of one worker, a claim takes one or two): an event is
// overtaken by a few at most (0 to 3 in 30 runs under -race). Both kinds
// of room: a webhook's own cap, and the shared pool. With one attempt at a
// time, arrival order is the order attempts start.
func TestHandOffsDoNotOvertakeLeftDeliveries(t *testing.T) {
	const mostOvertakes = 8
	for _, tc := range []struct {
		name             string
		workers, perHook int
	}{
		{"webhook cap", 8, 1},
		{"shared pool", 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, func(c *Config) {
				c.Delivery.Workers = tc.workers
				c.Delivery.PerWebhook = tc.perHook
			})
			rc := newReceiver(t)
			rc.setRespond(func(received) (int, string, map[string]string) {
				time.Sleep(time.Millisecond) // attempts overlap the next ingests
				return http.StatusOK, "ok", nil
			})
			s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
			const clients, each = 4, 60
			var mu sync.Mutex
			sent, acked := map[string]time.Time{}, map[string]time.Time{}
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					for i := range each {
						id := fmt.Sprintf("evt-%d-%d", c, i)
						mu.Lock()
						sent[id] = time.Now()
						mu.Unlock()
						body := map[string]any{"event": "contact_created", "id": id, "data": map[string]any{"contact": map[string]any{"id": "c"}}}
						if code, out := s.request("POST", "/api/v1/events", body, s.Token); code != http.StatusAccepted {
							t.Errorf("ingest: %d %s", code, out)
						}
						mu.Lock()
						acked[id] = time.Now()
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			var order []string
			for len(order) < clients*each {
				order = append(order, rc.next(t, 20*time.Second).Env.ID)
			}
			// overtakes[id]: the events sent after id was acknowledged
			// that arrived before it.
			overtakes := map[string]int{}
			for i, first := range order {
				for _, then := range order[i+1:] {
					if acked[then].Before(sent[first]) {
						overtakes[then]++
					}
				}
			}
			most, worst := 0, ""
			for id, n := range overtakes {
				if n > most {
					most, worst = n, id
				}
			}
			t.Logf("%d of %d events overtaken, by %d at most", len(overtakes), len(order), most)
			if most > mostOvertakes {
				t.Errorf("%s was overtaken by %d events sent after it was acknowledged; want at most %d", worst, most, mostOvertakes)
			}
		})
	}
}
