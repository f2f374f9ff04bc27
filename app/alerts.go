package app

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// AlertEvent names operator alerts in Slack. It is not a catalog event:
// webhooks cannot subscribe to it; it goes only to slack.alert_*.
const AlertEvent = "webhook_disabled"

// alertDisabled tells the operator in Slack that a webhook was switched off,
// when slack.alert_url or slack.alert_channel is set. It never blocks the
// caller; a failed alert is logged, not retried.
func (a *App) alertDisabled(webhookID, reason string) {
	cfg := a.cfg.Slack
	if cfg.AlertURL == "" && cfg.AlertChannel == "" {
		return
	}
	a.alerts.Add(1)
	go func() {
		defer a.alerts.Done()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Delivery.Timeout.Duration)
		defer cancel()
		h, err := a.store.FindWebhookByID(ctx, webhookID)
		if err != nil {
			a.log.Warn("Operator alert skipped", "webhook_id", webhookID, "error", err)
			return
		}
		data, _ := json.Marshal(map[string]any{
			// The host only: webhook URLs often carry a token.
			"webhook": map[string]any{"id": h.ID, "name": h.Name, "host": urlHost(h.URL), "sink": h.Sink},
			"reason":  reason,
			"action":  "Fix the receiver, then enable the webhook again; replay what failed meanwhile.",
		})
		now := a.store.Now()
		env := sinks.Envelope{ID: a.ids.New("alrt_", now), Event: AlertEvent, Timestamp: store.FormatTime(now.UnixMilli()), Data: data}
		req := &sinks.Request{Attempt: 1, Trigger: "alert", Envelope: env, Body: envelopeBody(env),
			Target: sinks.Target{Name: "operator alerts", URL: cfg.AlertURL, Config: map[string]any{"channel": cfg.AlertChannel}}}
		if _, err := a.sinks["slack"].Deliver(ctx, req); err != nil {
			a.log.Warn("Operator alert failed", "webhook_id", webhookID, "error", err)
		}
	}()
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
