package app

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// handleWebhookTest sends a catalog example to one webhook now and answers
// with what the receiver said. It is logged like any delivery (trigger
// "test"), but never retried and never disables the webhook.
func (a *App) handleWebhookTest(c *fiber.Ctx) error {
	h, err := a.store.FindWebhookByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	var in struct {
		Event string `json:"event"`
	}
	if body := c.Request().Body(); len(strings.TrimSpace(string(body))) > 0 {
		if err := decodeStrict(body, &in); err != nil {
			return err
		}
	}
	if in.Event == "" {
		in.Event = TestEvent
	}
	et, ok := catalogByName[in.Event]
	if !ok {
		return invalid("event", "unknown event %q; see GET /api/v1/event-types", in.Event)
	}
	now := a.store.Now()
	data, _ := json.Marshal(et.Example)
	ev := &Event{ID: a.ids.New("evt_", now), Event: et.Name, Timestamp: now.UnixMilli(), Source: "test", CreatedAt: now.UnixMilli()}
	ev.SetData(string(data))
	ev.ContactID = store.LookupString(ev.Fields, "contact.id")
	ev.ContentHash = store.ContentHash(ev)

	cd := &store.Claimed{Delivery: &Delivery{ID: a.ids.New("dlv_", now), EventID: ev.ID, Event: ev.Event, WebhookID: h.ID, Trigger: "test"},
		Ev: ev, Lease: now.UnixMilli() + a.disp.lease().Milliseconds()}
	if err := a.store.InsertTestDelivery(c.UserContext(), ev, cd); err != nil {
		return err
	}

	start := time.Now()
	var res sinks.Result
	req, err := a.prepareRequest(c.UserContext(), cd, h)
	if err == nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), a.cfg.Delivery.Timeout.Duration)
		res, err = a.sinks[h.Sink].Deliver(ctx, req)
		cancel()
	}
	o := &store.AttemptOutcome{DeliveryID: cd.ID, WebhookID: h.ID, Lease: cd.Lease, Number: 1, StartedAt: now.UnixMilli(),
		DurationMS: time.Since(start).Milliseconds(), StatusCode: res.StatusCode, Body: string(res.Body), Trigger: "test", Status: StatusSucceeded}
	if err != nil {
		o.Status, o.Error = StatusFailed, sinks.Redact(err.Error(), requestSecrets(req)...)
	}
	if _, rerr := a.store.RecordAttempt(context.Background(), o); rerr != nil {
		return rerr
	}
	return c.JSON(fiber.Map{"delivered": err == nil, "status_code": o.StatusCode, "duration_ms": o.DurationMS,
		"response_body": o.Body, "error": o.Error, "delivery_id": cd.ID, "event_id": ev.ID})
}
