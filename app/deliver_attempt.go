package app

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// attempt runs one try and records it.
func (d *Dispatcher) attempt(c *store.Claimed, h *Webhook, release func()) {
	ctx := d.hardStop
	start := time.Now()
	o := &store.AttemptOutcome{DeliveryID: c.ID, WebhookID: c.WebhookID, Lease: c.Lease, Number: c.AttemptCount + 1,
		StartedAt: d.store.NowMS(), Trigger: c.Trigger}

	var res sinks.Result
	req, err := d.prepare(ctx, c, h)
	if err == nil && !d.holdLease(c) {
		// The lease ran out while this waited its turn, and the delivery
		// went back to the queue: whoever claims it next sends it.
		release()
		return
	}
	if err == nil {
		sink := d.sinks[h.Sink]
		if sink == nil {
			err = sinks.Permanent(errors.New("no sink named " + h.Sink))
		} else {
			actx, cancel := context.WithTimeout(ctx, d.timeout)
			res, err = sink.Deliver(actx, req)
			cancel()
		}
	}
	release()
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short by us, not by the receiver.
		if rerr := d.store.ReleaseDelivery(context.Background(), c.ID, c.Lease, d.store.NowMS(), ""); rerr != nil {
			d.log.Error("Release delivery failed", "delivery_id", c.ID, "error", rerr)
		}
		return
	}
	if sinks.IsUnavailable(err) {
		// The sink is not ready (a plugin is missing, a rate limit is
		// full): no attempt was made, so none is logged or charged.
		_, _, wait := sinks.Classify(err)
		if rerr := d.store.ReleaseDelivery(context.Background(), c.ID, c.Lease, d.store.NowMS()+wait.Milliseconds(), err.Error()); rerr != nil {
			d.log.Error("Release delivery failed", "delivery_id", c.ID, "error", rerr)
		}
		d.Wake()
		return
	}
	o.DurationMS = time.Since(start).Milliseconds()
	o.StatusCode = res.StatusCode
	o.Body = string(res.Body)
	d.decide(o, c, err)
	o.Error = sinks.Redact(o.Error, requestSecrets(req)...)
	d.metrics.observeAttempt(h.Sink, o.Status, time.Since(start))

	failingSince := d.failingSince(c.WebhookID) // before this attempt's outcome is read back
	recovered, rerr := d.store.RecordAttempt(context.Background(), o)
	if rerr != nil {
		// The lease runs out and reconcile re-queues it: at least once holds.
		d.log.Error("Record attempt failed", "delivery_id", c.ID, "error", rerr)
		return
	}
	if o.Status == StatusRetrying || h.Ordered {
		// Time the retry; or, ordered, the contact's next event may go now.
		d.Wake()
	}
	if o.Status != StatusSucceeded {
		d.log.Warn("Delivery failed", "delivery_id", c.ID, "webhook_id", c.WebhookID, "attempt", o.Number,
			"status_code", o.StatusCode, "error", o.Error, "next", o.Status)
	}
	if recovered {
		d.catchUp(h.ID, o.StartedAt, c.Probe, failingSince)
	}
	if o.Gone && d.onDisabled != nil {
		d.onDisabled(h.ID, "the receiver answered 410 Gone: it says this endpoint no longer exists")
	}
}

// holdLease makes sure the claim on c lasts past this attempt's timeout,
// renewing it if the wait for a turn used up too much of it. It says false
// when the claim was lost: then the attempt must not be made, or two could
// overlap.
func (d *Dispatcher) holdLease(c *store.Claimed) bool {
	now := d.store.NowMS()
	if c.Lease-now > (d.timeout + leaseMargin).Milliseconds() {
		return true
	}
	lease, err := d.store.RenewLease(context.Background(), c.ID, c.Lease, now+d.lease().Milliseconds())
	if err != nil {
		d.log.Error("Renew lease failed", "delivery_id", c.ID, "error", err)
		return false
	}
	if lease == 0 {
		d.log.Warn("Claim lost while waiting; the delivery was re-queued", "delivery_id", c.ID)
		return false
	}
	c.Lease = lease
	return true
}

// decide fills in what happens after an attempt: done, retry when, or failed.
func (d *Dispatcher) decide(o *store.AttemptOutcome, c *store.Claimed, err error) {
	if err == nil {
		o.Status = StatusSucceeded
		return
	}
	o.Error = err.Error()
	permanent, gone, retryAfter := sinks.Classify(err)
	o.Gone = gone
	inCycle := o.Number - c.CycleStart
	if permanent || inCycle > len(d.schedule) {
		o.Status = StatusFailed
		return
	}
	delay := jitter(d.schedule[inCycle-1])
	if retryAfter > 0 {
		delay = retryAfter
	}
	o.Status = StatusRetrying
	o.NextAttemptAt = d.store.NowMS() + delay.Milliseconds()
	if c.Probe && retryAfter == 0 {
		// A probe is an extra attempt: its own schedule goes on as it was.
		o.NextAttemptAt = max(c.NextAttemptAt, d.store.NowMS())
	}
}

// jitter spreads retries ±20% so failures that happened together do not
// retry together.
func jitter(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}
