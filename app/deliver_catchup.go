package app

import (
	"context"
	"time"
)

// catchUpBatch bounds one catch-up write: a webhook that was down for days
// has its backlog made due in several short transactions, not one long one.
const catchUpBatch = 1000

// probeFailing makes each failing webhook's oldest undelivered delivery due
// now (DESIGN.md §5): a receiver that comes back is noticed within one
// probe interval, not on the retry schedule. Failing is read from the
// database, so it holds across restarts.
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
	probes, err := d.store.ProbeFailing(ctx, len(d.schedule))
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("Probe failing webhooks failed", "error", err)
		}
		return
	}
	for _, p := range probes {
		d.log.Debug("Probing a failing webhook", "webhook_id", p.WebhookID, "delivery_id", p.DeliveryID)
	}
}

// catchUp runs when a webhook that was failing succeeds again (at is when
// that attempt started): every retrying delivery is made due at once, and
// with auto_replay the failed ones too, oldest first; the claim then sends
// them within the webhook's cap. onRecover runs first: it leaves a durable
// mark, so if Herald stops halfway the reconcile job replays what is left.
func (d *Dispatcher) catchUp(webhookID string, at int64) {
	if d.onRecover != nil {
		d.onRecover(webhookID)
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
