package app

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// attempt runs one try and records it.
func (d *Dispatcher) attempt(c *claimedDelivery, h *Webhook, release func()) {
	ctx := d.hardStop
	start := time.Now()
	o := &attemptOutcome{DeliveryID: c.ID, WebhookID: c.WebhookID, Lease: c.Lease, Number: c.AttemptCount + 1,
		StartedAt: d.store.now(), Trigger: c.Trigger}

	var res sinks.Result
	var err error
	req, err := d.prepare(ctx, c, h)
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
		if rerr := d.store.ReleaseDelivery(context.Background(), c.ID, c.Lease, d.store.now()); rerr != nil {
			d.log.Error("Release delivery failed", "delivery_id", c.ID, "error", rerr)
		}
		return
	}
	o.DurationMS = time.Since(start).Milliseconds()
	o.StatusCode = res.StatusCode
	o.Body = string(res.Body)
	d.decide(o, c, err)
	o.Error = sinks.Redact(o.Error, requestSecrets(req)...)
	d.metrics.observeAttempt(h.Sink, o.Status, time.Since(start))

	recovered, rerr := d.store.RecordAttempt(context.Background(), o)
	if rerr != nil {
		// The lease runs out and reconcile re-queues it: at least once holds.
		d.log.Error("Record attempt failed", "delivery_id", c.ID, "error", rerr)
		return
	}
	if o.Status == StatusPending {
		d.Wake() // so the dispatcher times the retry
	}
	if o.Status != StatusSucceeded {
		d.log.Warn("Delivery failed", "delivery_id", c.ID, "webhook_id", c.WebhookID, "attempt", o.Number,
			"status_code", o.StatusCode, "error", o.Error, "next", o.Status)
	}
	if recovered && d.onRecover != nil {
		d.onRecover(h.ID)
	}
	if o.Gone && d.onDisabled != nil {
		d.onDisabled(h.ID, "the receiver answered 410 Gone: it says this endpoint no longer exists")
	}
}

// decide fills in what happens after an attempt: done, retry when, or failed.
func (d *Dispatcher) decide(o *attemptOutcome, c *claimedDelivery, err error) {
	if err == nil {
		o.Status = StatusSucceeded
		return
	}
	o.Error = err.Error()
	if sinks.IsUnavailable(err) {
		// The sink is not ready (a plugin is missing): wait, keeping every retry.
		_, _, wait := sinks.Classify(err)
		o.Status, o.NextAttemptAt, o.KeepCycle = StatusPending, d.store.now()+wait.Milliseconds(), true
		return
	}
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
	o.Status = StatusPending
	o.NextAttemptAt = d.store.now() + delay.Milliseconds()
}

// jitter spreads retries ±20% so failures that happened together do not
// retry together.
func jitter(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}
