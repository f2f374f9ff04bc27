package plugins

import (
	"context"
	"sync"
	"time"
)

// maxCrashes is how many times an event may take the plugin down with it
// before it fails for good.
const maxCrashes = 3

// crashReason is the delivery's error when it reaches maxCrashes.
const crashReason = "plugin crashed while delivering this event"

// gate lets calls share the plugin, except a call that must run alone: it
// waits for the calls in flight to end and holds new ones back until it
// is done. An event that was in flight when the plugin died is sent alone
// next time, so if it crashes the plugin again nothing else goes down
// with it, and the crash is surely its own.
type gate struct {
	mu      sync.Mutex
	shared  int  // calls in flight
	alone   bool // a call is running alone
	waiting int  // calls waiting to run alone
	changed chan struct{}
}

// enter waits for a turn and returns the function that ends it.
func (g *gate) enter(ctx context.Context, alone bool) (func(), error) {
	queued := false
	for {
		g.mu.Lock()
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		switch {
		case alone && !g.alone && g.shared == 0:
			g.alone = true
			if queued {
				g.waiting--
			}
			g.mu.Unlock()
			return g.leaveAlone, nil
		case alone && !queued:
			g.waiting++
			queued = true
		case !alone && !g.alone && g.waiting == 0:
			g.shared++
			g.mu.Unlock()
			return g.leaveShared, nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if queued {
				g.mu.Lock()
				g.waiting--
				g.broadcastLocked()
				g.mu.Unlock()
			}
			return nil, ctx.Err()
		}
	}
}

func (g *gate) leaveShared() {
	g.mu.Lock()
	g.shared--
	g.broadcastLocked()
	g.mu.Unlock()
}

func (g *gate) leaveAlone() {
	g.mu.Lock()
	g.alone = false
	g.broadcastLocked()
	g.mu.Unlock()
}

func (g *gate) broadcastLocked() {
	if g.changed != nil {
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// strikes counts, per delivery, the crashes it was in flight for. Entries
// go when the plugin answers the delivery; a delivery never sent again is
// forgotten after strikeTTL.
type strikes struct {
	mu sync.Mutex
	m  map[string]strike
}

type strike struct {
	n  int
	at time.Time
}

const (
	strikeTTL      = 24 * time.Hour
	strikesPruneAt = 10_000
)

func (s *strikes) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key].n
}

func (s *strikes) add(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]strike{}
	}
	now := time.Now()
	if len(s.m) >= strikesPruneAt {
		for k, v := range s.m {
			if now.Sub(v.at) > strikeTTL {
				delete(s.m, k)
			}
		}
	}
	st := s.m[key]
	st.n++
	st.at = now
	s.m[key] = st
	return st.n
}

func (s *strikes) clear(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}
