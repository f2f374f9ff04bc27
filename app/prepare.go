package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/app/summary"
	"github.com/herald-webhooks/herald/sinks"
)

// prepareRequest builds what a sink needs for one attempt. The body is
// derived only from stored rows, so every attempt sends the same bytes.
func (a *App) prepareRequest(ctx context.Context, c *store.Claimed, h *Webhook) (*sinks.Request, error) {
	env, err := a.envelopeFor(ctx, c.Ev, h, true)
	if err != nil {
		return nil, err
	}
	req := &sinks.Request{DeliveryID: c.ID, Attempt: c.AttemptCount + 1, Trigger: c.Trigger, Target: a.target(h),
		Envelope: env, Body: envelopeBody(env)}
	if h.Sink == "slack" && c.Ev.ContactID != "" {
		msgs, err := a.conversation(ctx, c.Ev)
		if err != nil {
			return nil, err
		}
		req.Context = &sinks.EventContext{RecentMessages: msgs}
	}
	return req, nil
}

// envelopeFor is the event's envelope for webhook h: with data.summary added
// for tag_applied when h asks for it. With generate false a missing summary
// is left out (previews).
func (a *App) envelopeFor(ctx context.Context, ev *Event, h *Webhook, generate bool) (sinks.Envelope, error) {
	env := envelopeOf(ev)
	if !h.GenerateSummary || ev.Event != "tag_applied" {
		return env, nil
	}
	sum, err := a.summaryFor(ctx, ev, generate)
	if err != nil || sum == nil {
		return env, err
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		return env, fmt.Errorf("add summary: %w", err)
	}
	data["summary"] = sum
	// Map keys marshal sorted: the same inputs give the same bytes.
	if env.Data, err = json.Marshal(data); err != nil {
		return env, fmt.Errorf("add summary: %w", err)
	}
	return env, nil
}

// summaryJSON is data.summary on the wire.
type summaryJSON struct {
	Text        string `json:"text"`
	Messages    int    `json:"messages"`
	GeneratedAt string `json:"generated_at"`
	Method      string `json:"method"`
}

// summaryFor returns the event's stored summary, making and storing it first
// if needed. The first one stored wins, so every webhook sends the same one.
func (a *App) summaryFor(ctx context.Context, ev *Event, generate bool) (json.RawMessage, error) {
	stored, err := a.store.FindSummary(ctx, ev.ID)
	if err != nil || stored != nil || !generate {
		return stored, err
	}
	msgs, err := a.conversation(ctx, ev)
	if err != nil {
		return nil, err
	}
	fields := ev.DataFields()
	c := summary.Contact{ID: ev.ContactID, Name: store.LookupString(fields, "contact.name"), Phone: store.LookupString(fields, "contact.phone"),
		Email: store.LookupString(fields, "contact.email"), Channel: store.LookupString(fields, "contact.channel")}
	sctx, cancel := context.WithTimeout(ctx, a.cfg.Summary.Timeout.Duration+time.Second)
	defer cancel()
	s := a.extras.summarizer.Summarize(sctx, c, store.LookupString(fields, "tag"), msgs)
	body, err := json.Marshal(summaryJSON{Text: s.Text, Messages: s.Messages, GeneratedAt: store.FormatTime(s.GeneratedAt.UnixMilli()), Method: s.Method})
	if err != nil {
		return nil, err
	}
	return a.store.SaveSummary(ctx, ev.ID, body)
}

// conversation is the contact's stored messages plus any data.conversation
// the event carries, oldest first.
func (a *App) conversation(ctx context.Context, ev *Event) ([]sinks.Message, error) {
	var out []sinks.Message
	if ev.ContactID != "" {
		since := a.store.Now().Add(-a.cfg.Summary.MaxAge.Duration).UnixMilli()
		stored, err := a.store.RecentMessages(ctx, ev.ContactID, a.cfg.Summary.MaxMessages, since)
		if err != nil {
			return nil, err
		}
		for _, m := range stored {
			out = append(out, sinks.Message{Text: m.Text, Direction: m.Direction, Channel: m.Channel, At: time.UnixMilli(m.AtMS).UTC()})
		}
	}
	if conv, ok := store.Lookup(ev.DataFields(), "conversation"); ok {
		items, _ := conv.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			text, _ := m["text"].(string)
			if text == "" {
				continue
			}
			dir, _ := m["direction"].(string)
			if dir == "" {
				dir = "inbound"
			}
			out = append(out, sinks.Message{Text: text, Direction: dir})
		}
	}
	return out, nil
}

// payloadPreview is the envelope a delivery sends (or sent), for the API.
func (a *App) payloadPreview(ctx context.Context, d *Delivery) ([]byte, error) {
	ev, err := a.store.FindEventByID(ctx, d.EventID)
	if err != nil {
		return nil, err
	}
	h, err := a.store.FindWebhookByID(ctx, d.WebhookID)
	if err != nil {
		return nil, err
	}
	env, err := a.envelopeFor(ctx, ev, h, false)
	if err != nil {
		return nil, err
	}
	return envelopeBody(env), nil
}
