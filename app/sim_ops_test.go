package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// What the simulated webhooks subscribe to, and the events posted.
var (
	simEventSets = [][]string{{"*"}, {"contact_created"}, {"contact_paused", "new_message"}, {"tag_applied"}, {"new_message"}}
	simTagSets   = [][]string{nil, {"vip"}, {"vip", "churn"}}
	simEvents    = []string{"contact_created", "contact_paused", "new_message", "tag_applied"}
	simTags      = []string{"vip", "churn", "other"}
)

type simHookJSON struct {
	ID      string   `json:"id"`
	Secret  string   `json:"secret"`
	Enabled bool     `json:"enabled"`
	Events  []string `json:"events"`
	Tags    []string `json:"tags"`
}

func (j simHookJSON) version() simVersion {
	return simVersion{exists: true, enabled: j.Enabled, events: j.Events, tags: j.Tags}
}

// subscription picks what a webhook listens to.
func (s *sim) subscription() map[string]any {
	body := map[string]any{"events": simEventSets[s.rng.IntN(len(simEventSets))]}
	if tags := simTagSets[s.rng.IntN(len(simTagSets))]; tags != nil {
		body["tags"] = tags
	}
	return body
}

// createHook creates a webhook with its own receiver.
func (s *sim) createHook() {
	s.mu.Lock()
	idx := s.nextRecv
	s.nextRecv++
	s.mu.Unlock()
	rc := newSimReceiver(s.t, idx, s.seed, simTimeout)
	body := s.subscription()
	body["url"] = rc.URL
	from := time.Now()
	code, raw := s.call("POST", "/api/v1/webhooks", body)
	to := time.Now()
	s.logf("create webhook for receiver %d %v: %d", idx, body["events"], code)
	s.expectCode("create webhook", code, raw, http.StatusCreated)
	if code != http.StatusCreated {
		return // not stored: the store says so, and check finds any that was
	}
	var j simHookJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		s.problem("create webhook: %v: %s", err, raw)
		return
	}
	rc.secret.Store(&j.Secret)
	h := &simHook{id: j.ID, rc: rc, versions: []simVersion{{}}}
	h.change(from, to, j.version())
	s.mu.Lock()
	s.hooks = append(s.hooks, h)
	s.live = append(s.live, h)
	s.mu.Unlock()
}

// hookOp changes a webhook: create, update, disable, enable or delete.
func (s *sim) hookOp() {
	s.mu.Lock()
	live := append([]*simHook(nil), s.live...)
	total := len(s.hooks)
	s.mu.Unlock()
	r := s.rng.IntN(100)
	if len(live) < 2 || (r < 20 && total < 7) {
		s.createHook()
		return
	}
	h := live[s.rng.IntN(len(live))]
	var body map[string]any
	switch {
	case r < 50:
		body = s.subscription()
	case r < 70:
		body = map[string]any{"enabled": false}
	case r < 90:
		body = map[string]any{"enabled": true}
	default:
		s.deleteHook(h)
		return
	}
	s.patchHook(h, body)
}

func (s *sim) patchHook(h *simHook, body map[string]any) {
	from := time.Now()
	code, raw := s.call("PATCH", "/api/v1/webhooks/"+h.id, body)
	to := time.Now()
	s.logf("patch webhook of receiver %d %v: %d", h.rc.idx, body, code)
	s.expectCode("patch webhook", code, raw, http.StatusOK)
	if code != http.StatusOK {
		return
	}
	var j simHookJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		s.problem("patch webhook: %v: %s", err, raw)
		return
	}
	s.mu.Lock()
	h.change(from, to, j.version())
	s.mu.Unlock()
}

func (s *sim) deleteHook(h *simHook) {
	from := time.Now()
	code, raw := s.call("DELETE", "/api/v1/webhooks/"+h.id, nil)
	to := time.Now()
	s.logf("delete webhook of receiver %d: %d", h.rc.idx, code)
	s.expectCode("delete webhook", code, raw, http.StatusNoContent)
	if code != http.StatusNoContent {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h.change(from, to, simVersion{})
	for i, l := range s.live {
		if l == h {
			s.live = append(s.live[:i], s.live[i+1:]...)
			break
		}
	}
}

// goneStep has one receiver answer its next request 410 Gone, and waits
// until Herald has disabled its webhook. Faults are paused meanwhile, so the
// disable is certain to be recorded.
func (s *sim) goneStep() {
	s.mu.Lock()
	live := append([]*simHook(nil), s.live...)
	s.mu.Unlock()
	if len(live) == 0 {
		return
	}
	h := live[s.rng.IntN(len(live))]
	if !h.current().enabled {
		return
	}
	faults, full := s.faultPerMille.Swap(0), s.diskFull.Load()
	if full {
		s.toggleDiskFull()
	}
	defer func() {
		s.faultPerMille.Store(faults)
		if full {
			s.toggleDiskFull()
		}
	}()
	// A request for it to answer: an event its webhook matches.
	h.rc.goneAt.Store(0)
	h.rc.goneToken.Store(nil)
	h.rc.gone.Store(true)
	s.postNew(s.eventFor(h.current()))
	deadline := time.Now().Add(5 * time.Second)
	for h.rc.goneAt.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond) // poll: the dispatcher sends it on its own time
	}
	if h.rc.gone.CompareAndSwap(true, false) {
		s.logf("gone: receiver %d got no request in time", h.rc.idx)
		return
	}
	for h.rc.goneToken.Load() == nil {
		time.Sleep(time.Millisecond) // the handler stores it right after answering
	}
	goneAt := time.Unix(0, h.rc.goneAt.Load())
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		code, raw := s.call("GET", "/api/v1/webhooks/"+h.id, nil)
		var j simHookJSON
		if code == http.StatusOK && json.Unmarshal(raw, &j) == nil && !j.Enabled {
			s.mu.Lock()
			h.change(goneAt, time.Now(), j.version())
			s.mu.Unlock()
			s.logf("gone: receiver %d answered 410; its webhook is disabled", h.rc.idx)
			return
		}
		time.Sleep(2 * time.Millisecond) // poll until the attempt is recorded
	}
	// Herald may not have read the answer: its request can time out waiting
	// for a connection and reach the receiver just as it gives up. Then no
	// attempt logs the 410, and the webhook rightly stays enabled.
	var logged int
	db := rawDB(s.t, &testServer{Dir: s.dir})
	if err := db.QueryRow("SELECT count(*) FROM attempts WHERE response_body = ?", *h.rc.goneToken.Load()).Scan(&logged); err != nil {
		s.problem("gone: %v", err)
	}
	if logged > 0 {
		s.problem("gone: receiver %d answered 410 at %s, Herald logged it, but its webhook is still enabled", h.rc.idx, goneAt.Format(time.StampMilli))
		return
	}
	s.logf("gone: receiver %d answered 410, but Herald had given up on the request", h.rc.idx)
}

// eventFor is a new event that v matches.
func (s *sim) eventFor(v *simVersion) *simEvent {
	for _, name := range simEvents {
		for _, tag := range simTags {
			ev := &simEvent{name: name}
			if name == "tag_applied" {
				ev.tag = tag
			}
			if v.matches(ev) {
				return ev
			}
		}
	}
	return &simEvent{name: "contact_created"}
}

// burst posts a few new events at once, sometimes while a webhook changes.
func (s *sim) burst() {
	n := 2 + s.rng.IntN(5)
	evs := make([]*simEvent, n)
	for i := range evs {
		ev := &simEvent{name: simEvents[s.rng.IntN(len(simEvents))]}
		if ev.name == "tag_applied" {
			ev.tag = simTags[s.rng.IntN(len(simTags))]
		}
		evs[i] = ev
	}
	withOp := s.rng.IntN(100) < 40
	s.logf("burst of %d events (with a webhook change: %v)", n, withOp)
	var wg sync.WaitGroup
	for _, ev := range evs {
		wg.Go(func() { s.postNew(ev) })
	}
	if withOp {
		s.hookOp()
	}
	wg.Wait()
}

// postNew gives ev an id and body and posts it.
func (s *sim) postNew(ev *simEvent) {
	s.mu.Lock()
	n := len(s.events)
	ev.id = fmt.Sprintf("sim-%d-%d", s.seed, n)
	s.events = append(s.events, ev)
	s.mu.Unlock()
	contact := fmt.Sprintf("c%d", n%5)
	extra := ""
	switch ev.name {
	case "tag_applied":
		extra = fmt.Sprintf(`,"tag":%q`, ev.tag)
	case "new_message":
		extra = `,"message":{"text":"hi","channel":"sms"}`
	}
	ev.body = fmt.Sprintf(`{"id":%q,"event":%q,"data":{"contact":{"id":%q,"name":"Sim"},"n":%d%s}}`, ev.id, ev.name, contact, n, extra)
	ev.alt = fmt.Sprintf(`{"event":%q,"id":%q,"data":{"n":%d%s, "contact":{"name":"Sim","id":%q}}}`, ev.name, ev.id, n, extra, contact)
	s.post(ev, ev.body)
	s.mu.Lock()
	code := ev.codes[len(ev.codes)-1]
	s.mu.Unlock()
	s.expectCode("ingest "+ev.id, code, nil, http.StatusAccepted)
}

// post sends one ingest request for ev and records the answer.
func (s *sim) post(ev *simEvent, body string) {
	sent := time.Now()
	code, raw := s.call("POST", "/api/v1/events", body)
	acked := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ev.codes = append(ev.codes, code)
	s.answers[code]++
	switch {
	case code == 0:
		ev.unsure = true
		s.problems = append(s.problems, fmt.Sprintf("ingest %s: no answer: %s", ev.id, raw))
	case code == http.StatusAccepted:
		if ev.ackedOK {
			s.problems = append(s.problems, fmt.Sprintf("ingest %s: 202 again for an id already stored", ev.id))
		}
		var a struct{ Deliveries int }
		_ = json.Unmarshal(raw, &a)
		ev.ackedOK, ev.sent, ev.acked, ev.deliveries = true, sent, acked, a.Deliveries
	case code == http.StatusOK:
		if !ev.ackedOK {
			// An earlier answer said it failed, yet it was stored.
			s.problems = append(s.problems, fmt.Sprintf("ingest %s: answered %v, then 200 (already stored)", ev.id, ev.codes))
		}
	}
}

// repeatEvents posts some stored events again, some with their data in
// another key order, and some that failed before: a client retrying.
func (s *sim) repeatEvents() {
	s.mu.Lock()
	var pick []*simEvent
	for _, ev := range s.events {
		if s.rng.IntN(4) == 0 && !ev.unsure {
			pick = append(pick, ev)
		}
	}
	s.mu.Unlock()
	s.logf("repeat %d events", len(pick))
	for _, ev := range pick {
		body := ev.body
		if s.rng.IntN(2) == 0 {
			body = ev.alt
		}
		was := ev.ackedOK
		s.post(ev, body)
		code := ev.codes[len(ev.codes)-1]
		want := http.StatusAccepted
		if was {
			want = http.StatusOK
		}
		s.expectCode("repeat "+ev.id, code, nil, want)
	}
}
