package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

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
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeStrict(c.Body(), &in); err != nil {
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
	ev.setData(string(data))
	ev.ContactID = lookupString(ev.data, "contact.id")
	ev.ContentHash = sha256Hex(ev.Event + "\n" + string(data))

	cd := &claimedDelivery{Delivery: &Delivery{ID: a.ids.New("dlv_", now), EventID: ev.ID, Event: ev.Event, WebhookID: h.ID, Trigger: "test"},
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
	o := &attemptOutcome{DeliveryID: cd.ID, WebhookID: h.ID, Lease: cd.Lease, Number: 1, StartedAt: now.UnixMilli(),
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

// InsertTestDelivery stores a test event and its one delivery, already in
// flight (the API attempts it right away).
func (s *Store) InsertTestDelivery(ctx context.Context, ev *Event, d *claimedDelivery) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, source, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 'test', ?)`, ev.ID, ev.Event, ev.Timestamp, string(ev.Data), ev.ContactID, ev.ContentHash, ev.CreatedAt); err != nil {
			return fmt.Errorf("insert test event: %w", err)
		}
		_, err := tx.Exec(`INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, lease_until, trigger, created_at, updated_at)
			VALUES (?, ?, ?, 'in_flight', ?, ?, 'test', ?, ?)`, d.ID, ev.ID, d.WebhookID, ev.CreatedAt, d.Lease, ev.CreatedAt, ev.CreatedAt)
		return err
	})
}
