package app

import (
	"context"
	"time"
)

// catchUpBatch bounds one catch-up write: a webhook that was down for days
// has its backlog made due in several short transactions, not one long one.
const catchUpBatch = 1000

// probeFailing sends each failing webhook's oldest undelivered delivery
// now, out of its turn (DESIGN.md §5): a receiver that comes back is
// noticed within one probe interval, not on the retry schedule. Failing is
// read from the database, so it holds across restarts.
func (d *Dispatcher) probeFailing(ctx context.Context) {
	if err := d.refreshHooks(ctx); err != nil {
		d.log.Error("Load webhooks failed", "error", err)
		return
	}
	d.mu.Lock()
	failing := false
	for _, h := range d.hooks {
		failing = failing || h.Enabled && h.FailingSince != 0
	}
	d.mu.Unlock()
	if !failing {
		return // an idle or healthy Herald writes nothing here
	}
	probes, err := d.store.ClaimProbes(ctx, len(d.schedule), d.lease().Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("Probe failing webhooks failed", "error", err)
		}
		return
	}
	for _, c := range probes {
		d.log.Debug("Probing a failing webhook", "webhook_id", c.WebhookID, "delivery_id", c.ID)
		d.start(c)
	}
}

// failingSince is when the webhook's current run of failures began, as
// the dispatcher last read it; 0 if it was not failing.
func (d *Dispatcher) failingSince(webhookID string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h := d.hooks[webhookID]; h != nil {
		return h.FailingSince
	}
	return 0
}

// catchUp runs when a webhook that was failing succeeds again (at is when
// that attempt started): every retrying delivery is made due at once, and
// with auto_replay the failed ones too, oldest first; the claim then sends
// them within the webhook's cap. onRecover runs first: it leaves a durable
// mark, so if Herald stops halfway the reconcile job replays what is left.
//
// Only a real outage counts: the success is a probe's, or it ends failures
// that lasted at least a probe interval. A receiver that refuses one event
// while taking the others is not down, and its retrying deliveries keep
// their schedule rather than being sent again on every other success.
func (d *Dispatcher) catchUp(webhookID string, at int64, probe bool, failingSince int64) {
	if d.onRecover != nil {
		d.onRecover(webhookID)
	}
	if !probe && (failingSince == 0 || at-failingSince < d.probe.Milliseconds()) {
		return
	}
	start := time.Now()
	var retrying, replayed int
	for {
		res, err := d.store.CatchUp(context.Background(), webhookID, at, catchUpBatch)
		if err != nil {
			d.log.Error("Catch-up failed", "webhook_id", webhookID, "error", err)
			return
		}
		retrying += res.Retrying
		replayed += res.Replayed
		if retrying+replayed > 0 {
			d.Wake()
		}
		if !res.More {
			break
		}
	}
	d.metrics.reconciled.WithLabelValues("caught_up").Add(float64(retrying))
	d.metrics.reconciled.WithLabelValues("replayed").Add(float64(replayed))
	d.log.Info("Webhook recovered: catching up", "webhook_id", webhookID, "retrying", retrying, "replayed", replayed,
		"duration_ms", time.Since(start).Milliseconds())
}
