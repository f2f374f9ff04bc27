package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// heal ends every fault: receivers answer 200, faults and the full disk
// are gone, every webhook is enabled. Then it re-queues what a lost write
// left in flight and replays what failed, until every delivery succeeded.
// It says whether that happened in time.
func (s *sim) heal() bool {
	s.faultPerMille.Store(0)
	if s.diskFull.Load() {
		s.toggleDiskFull()
	}
	s.mu.Lock()
	live := append([]*simHook(nil), s.live...)
	all := append([]*simHook(nil), s.hooks...)
	s.mu.Unlock()
	for _, h := range all {
		h.rc.mode.Store(modeOK)
		h.rc.gone.Store(false)
	}
	for _, h := range live {
		if !h.current().enabled {
			s.patchHook(h, map[string]any{"enabled": true})
		}
	}
	s.logf("healed: every receiver answers 200")
	db := rawDB(s.t, &testServer{Dir: s.dir})
	type claim struct {
		id    string
		lease int64
	}
	firstSeen := map[claim]time.Time{}
	lastReplay := time.Time{}
	// Generous: under -race on a loaded 2-core machine one seed can be slow.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rows, err := db.Query("SELECT id, status, lease_until FROM deliveries WHERE status != 'succeeded'")
		if err != nil {
			s.problem("heal: %v", err)
			return false
		}
		left, failed := 0, false
		stale := int64(0)
		for rows.Next() {
			var c claim
			var status string
			if err := rows.Scan(&c.id, &status, &c.lease); err != nil {
				s.problem("heal: %v", err)
			}
			left++
			failed = failed || status == StatusFailed
			if status != StatusInFlight {
				continue
			}
			// In flight for longer than an attempt lasts: its outcome was
			// most likely lost with a write. Its lease would run out; end
			// it now. Were it still running, nothing breaks: the dispatcher
			// sends it again only after that attempt ends.
			if _, ok := firstSeen[c]; !ok {
				firstSeen[c] = time.Now()
			} else if time.Since(firstSeen[c]) > simStale {
				stale = max(stale, c.lease)
			}
		}
		rows.Close()
		if left == 0 {
			return true
		}
		if stale > 0 {
			n, err := s.app.store.RequeueInFlight(context.Background(), stale+1)
			s.logf("heal: requeued %d deliveries whose outcome was lost (err %v)", n, err)
			s.app.disp.Wake()
		}
		if failed && time.Since(lastReplay) > 100*time.Millisecond {
			lastReplay = time.Now()
			for _, h := range live {
				code, raw := s.call("POST", "/api/v1/webhooks/"+h.id+"/replay", map[string]any{"since": "2000-01-01T00:00:00Z"})
				s.expectCode("replay", code, raw, http.StatusOK)
			}
		}
		time.Sleep(10 * time.Millisecond) // poll while the dispatcher delivers
	}
	return false
}

// simStale is how long heal lets a delivery stay in flight before it takes
// its outcome for lost (a crash lost the write) and re-queues it. Much more
// than an attempt lasts (simTimeout): stealing a claim from an attempt that
// is merely slow, on a loaded machine, would only start it over.
const simStale = 2 * time.Second

type simDelivery struct {
	ID           string `json:"id"`
	EventID      string `json:"event_id"`
	WebhookID    string `json:"webhook_id"`
	Status       string `json:"status"`
	AttemptCount int    `json:"attempt_count"`
	LastStatus   int    `json:"last_status_code"`
	Attempts     []struct {
		Number     int `json:"number"`
		StatusCode int `json:"status_code"`
	} `json:"attempts"`
}

// check verifies the invariants, through the API while the App runs, then
// in the database and the receivers' logs once it has stopped.
func (s *sim) check(healed bool) {
	db := rawDB(s.t, &testServer{Dir: s.dir})
	s.mu.Lock()
	hooks := map[string]*simHook{}
	for _, h := range s.hooks {
		hooks[h.id] = h
	}
	s.mu.Unlock()

	// Each delivery's status and attempt count agree with its attempt log.
	var ids []string
	rows, err := db.Query("SELECT id FROM deliveries ORDER BY id")
	if err != nil {
		s.problem("check: %v", err)
		return
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	deliveries := map[string]*simDelivery{}
	pairs := map[[2]string]int{}
	for _, id := range ids {
		code, raw := s.call("GET", "/api/v1/deliveries/"+id, nil)
		var d simDelivery
		if code != http.StatusOK || json.Unmarshal(raw, &d) != nil {
			s.problem("GET delivery %s: %d %s", id, code, raw)
			continue
		}
		deliveries[id] = &d
		pairs[[2]string{d.EventID, d.WebhookID}]++
		if hooks[d.WebhookID] == nil {
			s.problem("delivery %s is for webhook %s, which the simulation never created", id, d.WebhookID)
		}
		if healed && d.Status != StatusSucceeded {
			s.problem("delivery %s: %s after healing", id, d.Status)
		}
		if len(d.Attempts) != d.AttemptCount {
			s.problem("delivery %s: attempt_count %d but %d attempts logged: %+v", id, d.AttemptCount, len(d.Attempts), d.Attempts)
		}
		for i, a := range d.Attempts {
			if a.Number != i+1 {
				s.problem("delivery %s: attempt %d of the log is numbered %d: %+v", id, i+1, a.Number, d.Attempts)
				break
			}
		}
		if d.Status == StatusPending && d.AttemptCount > 0 {
			s.problem("delivery %s: pending (waiting for its first attempt) after %d attempts", id, d.AttemptCount)
		}
		if n := len(d.Attempts); n > 0 && d.Status != StatusInFlight {
			// (In flight, the attempt under way is not logged yet, and the
			// last logged one may be a stale holder's.)
			last := d.Attempts[n-1]
			ok := last.StatusCode >= 200 && last.StatusCode < 300
			if (d.Status == StatusSucceeded) != ok || last.StatusCode != d.LastStatus {
				s.problem("delivery %s: %s with last_status_code %d, but its last attempt answered %d", id, d.Status, d.LastStatus, last.StatusCode)
			}
		} else if n == 0 && d.Status != StatusPending && d.Status != StatusInFlight {
			s.problem("delivery %s: %s with no attempt logged", id, d.Status)
		}
	}

	// Nothing acknowledged is missing; nothing refused was stored.
	stored := map[string]bool{}
	rows, err = db.Query("SELECT id FROM events")
	if err != nil {
		s.problem("check: %v", err)
		return
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		stored[id] = true
	}
	rows.Close()
	s.mu.Lock()
	events := append([]*simEvent(nil), s.events...)
	s.mu.Unlock()
	acked := 0
	for _, ev := range events {
		switch {
		case ev.ackedOK && !stored[ev.id]:
			s.problem("event %s was acknowledged (%v) but is not stored", ev.id, ev.codes)
		case !ev.ackedOK && !ev.unsure && stored[ev.id]:
			s.problem("event %s was refused (%v) but is stored", ev.id, ev.codes)
		}
		if !ev.ackedOK {
			continue
		}
		acked++
		// Exactly one delivery per webhook that matched it at ingest.
		lo, hi := 0, 0
		for _, h := range hooks {
			may, must := h.possible(ev)
			if must {
				lo++
			}
			if may {
				hi++
			}
			if !h.current().exists {
				continue // deleted, with its deliveries
			}
			has := pairs[[2]string{ev.id, h.id}]
			switch {
			case must && has == 0:
				s.problem("event %s (%s, sent %s, acked %s) has no delivery to webhook of receiver %d, which matched it: %s",
					ev.id, ev.name, stamp(ev.sent), stamp(ev.acked), h.rc.idx, h.history())
			case !may && has > 0:
				s.problem("event %s (%s, sent %s, acked %s) has a delivery to webhook of receiver %d, which did not match it: %s",
					ev.id, ev.name, stamp(ev.sent), stamp(ev.acked), h.rc.idx, h.history())
			case has > 1:
				s.problem("event %s has %d deliveries to one webhook", ev.id, has)
			}
		}
		if ev.deliveries < lo || ev.deliveries > hi {
			s.problem("event %s: ingest said %d deliveries; between %d and %d webhooks matched it", ev.id, ev.deliveries, lo, hi)
		}
	}

	// Every delivery arrived at its receiver, and no two requests of one
	// delivery overlapped there.
	for _, h := range hooks {
		reqs := h.rc.requests()
		got := map[string]bool{}
		for _, r := range reqs {
			if r.status/100 == 2 && !r.cancelled {
				got[r.delivery] = true
			}
		}
		for id, d := range deliveries {
			if d.WebhookID == h.id && d.Status == StatusSucceeded && !got[id] {
				s.problem("delivery %s succeeded but receiver %d never answered it 2xx", id, h.rc.idx)
			}
		}
		if n := h.rc.badSignatures(); n > 0 {
			s.problem("receiver %d: %d requests with a signature that does not verify", h.rc.idx, n)
		}
	}

	// The outbox writes every delivery with its event, so reconcile never
	// has a gap to fill: one it fills is a delivery ingest missed, or one
	// the event never should have had.
	var filled int
	if err := db.QueryRow("SELECT coalesce(sum(json_extract(steps, '$.gap_filled')), 0) FROM reconcile_runs").Scan(&filled); err != nil {
		s.problem("check reconcile runs: %v", err)
	} else if filled > 0 {
		s.problem("reconcile filled %d delivery gaps", filled)
	}

	s.stop(false)
	s.checkAttemptLog(db)
	s.checkReceiverOverlap(db, hooks)
	s.logf("checked %d events (%d acknowledged), %d deliveries", len(events), acked, len(deliveries))
}

// checkAttemptLog looks for two logged attempts of one delivery that
// overlap in time. started_at is the store's clock, which only jumps
// forward, so an attempt's end computed from it is never late: an overlap
// found is real.
func (s *sim) checkAttemptLog(db *sql.DB) {
	rows, err := db.Query("SELECT delivery_id, number, started_at, duration_ms FROM attempts ORDER BY delivery_id, started_at, id")
	if err != nil {
		s.problem("check attempts: %v", err)
		return
	}
	defer rows.Close()
	prev, prevNum, end := "", 0, int64(0)
	for rows.Next() {
		var id string
		var num int
		var at, dur int64
		if err := rows.Scan(&id, &num, &at, &dur); err != nil {
			s.problem("check attempts: %v", err)
			return
		}
		if id == prev && at < end {
			s.problem("delivery %s: logged attempt %d started %d ms before attempt %d ended", id, num, end-at, prevNum)
		}
		if id != prev || at+dur > end {
			prevNum, end = num, at+dur
		}
		prev = id
	}
}

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

func (h *simHook) history() string {
	out := ""
	for _, v := range h.versions {
		state := "absent"
		if v.exists {
			state = fmt.Sprintf("enabled=%v events=%v tags=%v", v.enabled, v.events, v.tags)
		}
		out += fmt.Sprintf("[%s..%s %s] ", stamp(v.from), stamp(v.to), state)
	}
	return out
}

// checkReceiverOverlap looks, at each receiver, for a request of a delivery
// that came while an earlier one of it was still open. The receiver cannot
// tell when Herald gave up on a request (a timeout), so only requests whose
// answer Herald logged (the answer's body is unique) count as open until
// they were answered.
func (s *sim) checkReceiverOverlap(db *sql.DB, hooks map[string]*simHook) {
	read := map[string]bool{}
	rows, err := db.Query("SELECT response_body FROM attempts")
	if err != nil {
		s.problem("check attempts: %v", err)
		return
	}
	for rows.Next() {
		var b string
		_ = rows.Scan(&b)
		read[b] = true
	}
	rows.Close()
	for _, h := range hooks {
		byDelivery := map[string][]simRequest{}
		for _, r := range h.rc.requests() {
			byDelivery[r.delivery] = append(byDelivery[r.delivery], r)
		}
		for id, rs := range byDelivery {
			sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
			for i, a := range rs {
				if a.cancelled || !read[a.token] {
					continue
				}
				for _, b := range rs[i+1:] {
					if b.start.Before(a.end) {
						s.problem("receiver %d: attempts %d and %d of delivery %s overlapped: %s-%s and %s-%s", h.rc.idx, a.attempt, b.attempt, id,
							stamp(a.start), stamp(a.end), stamp(b.start), stamp(b.end))
					}
				}
			}
		}
	}
}
