package app

import "github.com/herald-webhooks/herald/app/store"

// Hand-off: ingest starts the deliveries it creates itself, when their
// webhooks have room, instead of leaving them pending for the next claim.
// That saves the claim's write (a commit, and reading the event back) and
// its wait, which is most of the time from an acknowledged event to its
// first attempt. The room is set aside before the write (reserve) and what
// the write did not use is given back after it (handed), so a webhook's cap
// and the shared pool hold as they do for claims.

// reserve sets aside room for the deliveries evs will create: per enabled
// webhook they match (ordered ones excepted: their claim keeps each
// contact's order), as many as it has room for. It answers nil when there
// is none, while the dispatcher is not running, or when the store does not
// hand off (room set aside for nothing would hold claims back meanwhile).
func (d *Dispatcher) reserve(evs []*Event) *store.Handoff {
	if !d.store.HandsOff() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return nil
	}
	// Hand-offs take half the room, a webhook's and the pool's (see
	// handoffDepth); claims may fill the rest. So a claim finds room
	// whenever the dispatcher looks (room), and what ingest left pending
	// is claimed at its next look; with the whole room, hand-offs refilled
	// it as fast as attempts freed it, and a delivery left pending waited
	// for a lull in the load, while newer events went first.
	half := handoffDepth / 2
	free := store.ClaimDepth/2*d.workers - d.total
	var slots map[string]int
	for _, id := range d.hookOrder {
		if free <= 0 {
			break
		}
		h := d.hooks[id]
		if h.Ordered {
			continue
		}
		// A claim that ran alongside may have left pending above the cap:
		// then room is below zero and nothing is reserved.
		room := min(half*d.perHook-d.pending[id], free)
		n := 0
		for _, ev := range evs {
			if n >= room {
				break
			}
			if h.Matches(ev) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		if slots == nil {
			slots = map[string]int{}
		}
		slots[id] = n
		d.pending[id] += n
		d.total += n
		free -= n
	}
	if slots == nil {
		return nil
	}
	return &store.Handoff{Slots: slots, LeaseMS: d.lease().Milliseconds()}
}

// handed starts what ingest took in flight (ho.Claimed) and gives back the
// room it did not use. Called once per reserve, after the write, whether it
// succeeded or not (then ho.Claimed is empty).
func (d *Dispatcher) handed(ho *store.Handoff) {
	if ho == nil {
		return
	}
	var orphans []*store.Claimed
	d.mu.Lock()
	// Give back all the room, then take again what is started.
	returned := 0
	for id, n := range ho.Slots {
		d.pending[id] -= n
		d.total -= n
		returned += n
	}
	for _, c := range ho.Claimed {
		h := d.hooks[c.WebhookID]
		if !d.running || h == nil {
			// Shutdown began meanwhile, or the webhook is gone: back to
			// the queue, for whoever runs next.
			orphans = append(orphans, c)
			continue
		}
		returned--
		d.queue(c, h)
		d.handoffs++
	}
	d.mu.Unlock()
	for _, c := range orphans {
		d.releaseUnstarted(c)
	}
	if returned > 0 {
		select {
		case d.done <- struct{}{}: // room was given back
		default:
		}
	}
}

// stopTaking ends hand-offs: after it, nothing new is queued, so the
// workers can be waited for.
func (d *Dispatcher) stopTaking() {
	d.mu.Lock()
	d.running = false
	d.mu.Unlock()
}
