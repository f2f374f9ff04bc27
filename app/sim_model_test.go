package app

import (
	"slices"
	"time"
)

// simVersion is one state of a webhook as the simulation knows it, with
// the window in which it may have been the one in effect: from the moment
// the change that made it was asked for, to the moment the next change was
// acknowledged (zero: still in effect).
type simVersion struct {
	from, to time.Time
	exists   bool
	enabled  bool
	events   []string
	tags     []string
}

// matches is the simulation's own reading of DESIGN.md §4 (not the code's).
func (v simVersion) matches(ev *simEvent) bool {
	if !v.exists || !v.enabled {
		return false
	}
	if slices.Contains(v.events, ev.name) || slices.Contains(v.events, "*") {
		return true
	}
	return ev.name == "tag_applied" && slices.Contains(v.tags, ev.tag)
}

// simHook is one webhook the simulation created, with its history.
type simHook struct {
	id       string
	rc       *simReceiver
	versions []simVersion
}

func (h *simHook) current() *simVersion { return &h.versions[len(h.versions)-1] }

// change records a change asked for at from and acknowledged at to.
func (h *simHook) change(from, to time.Time, next simVersion) {
	h.current().to = to
	next.from, next.to = from, time.Time{}
	h.versions = append(h.versions, next)
}

// possible says whether an event ingested within [s, e] may have matched
// the webhook (some version in effect then matches), and whether it must
// have (every such version matches).
func (h *simHook) possible(ev *simEvent) (may, must bool) {
	must = true
	for _, v := range h.versions {
		if v.from.After(ev.acked) || (!v.to.IsZero() && v.to.Before(ev.sent)) {
			continue
		}
		if v.matches(ev) {
			may = true
		} else {
			must = false
		}
	}
	return may, must && may
}

// simEvent is one event the simulation posted, and what Herald answered.
type simEvent struct {
	id, name, tag string
	body          string // the JSON posted
	alt           string // the same event with data in another key order
	sent, acked   time.Time
	codes         []int // every answer, in order
	deliveries    int   // from the 202
	ackedOK       bool  // some answer was 2xx
	unsure        bool  // a request got no answer: stored or not is unknown
}
