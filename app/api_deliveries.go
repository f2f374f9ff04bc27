package app

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

type deliveryJSON struct {
	ID             string        `json:"id"`
	WebhookID      string        `json:"webhook_id"`
	EventID        string        `json:"event_id"`
	Event          string        `json:"event"`
	Status         string        `json:"status"`
	AttemptCount   int           `json:"attempt_count"`
	NextAttemptAt  string        `json:"next_attempt_at"`
	LastStatusCode int           `json:"last_status_code"`
	LastDurationMS int64         `json:"last_duration_ms"`
	LastError      string        `json:"last_error"`
	CreatedAt      string        `json:"created_at"`
	UpdatedAt      string        `json:"updated_at"`
	Attempts       []attemptJSON `json:"attempts,omitempty"`
	Payload        any           `json:"payload,omitempty"`
}

type attemptJSON struct {
	Number       int    `json:"number"`
	StartedAt    string `json:"started_at"`
	DurationMS   int64  `json:"duration_ms"`
	StatusCode   int    `json:"status_code"`
	ResponseBody string `json:"response_body"`
	Error        string `json:"error"`
	Trigger      string `json:"trigger"`
}

func toDeliveryJSON(d *Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, Event: d.Event, Status: d.Status,
		AttemptCount: d.AttemptCount, LastStatusCode: d.LastStatusCode, LastDurationMS: d.LastDurationMS,
		LastError: d.LastError, CreatedAt: store.FormatTime(d.CreatedAt), UpdatedAt: store.FormatTime(d.UpdatedAt)}
	out.NextAttemptAt = nextAttemptAt(d)
	return out
}

// nextAttemptAt is when a waiting (pending or retrying) delivery is tried
// next; "" for the others.
func nextAttemptAt(d *Delivery) string {
	if d.Status == StatusPending || d.Status == store.StatusRetrying {
		return store.FormatTime(d.NextAttemptAt)
	}
	return ""
}

// checkStatus checks a delivery state filter: a state, or undelivered (any
// state but succeeded).
func checkStatus(field, s string) error {
	if s != store.StatusUndelivered && !slices.Contains(store.DeliveryStatuses, s) {
		return invalid(field, "%s must be one of %s or %s", field, strings.Join(store.DeliveryStatuses, ", "), store.StatusUndelivered)
	}
	return nil
}

func (a *App) handleDeliveryList(c *fiber.Ctx) error {
	h, err := a.store.FindWebhookByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	limit, after, err := listParams(c, "status")
	if err != nil {
		return err
	}
	if err := idCursor(after, "dlv_"); err != nil {
		return err
	}
	f := store.DeliveryFilter{WebhookID: h.ID, Status: c.Query("status"), Before: after, Limit: limit + 1}
	if f.Status != "" {
		if err := checkStatus("status", f.Status); err != nil {
			return err
		}
	}
	ds, err := a.store.FindDeliveries(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeliveryJSON(d)
	}
	return c.JSON(pageOf(out, ds, limit, func(d *Delivery) string { return d.ID }))
}

func (a *App) handleDeliveryGet(c *fiber.Ctx) error {
	d, err := a.store.FindDeliveryByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	attempts, err := a.store.FindAttempts(c.UserContext(), d.ID)
	if err != nil {
		return err
	}
	out := toDeliveryJSON(d)
	out.Attempts = make([]attemptJSON, len(attempts))
	for i, at := range attempts {
		out.Attempts[i] = attemptJSON{Number: at.Number, StartedAt: store.FormatTime(at.StartedAt), DurationMS: at.DurationMS,
			StatusCode: at.StatusCode, ResponseBody: at.ResponseBody, Error: at.Error, Trigger: at.Trigger}
	}
	if body, err := a.payloadPreview(c.UserContext(), d); err == nil {
		out.Payload = json.RawMessage(body)
	}
	return c.JSON(out)
}

func (a *App) handleDeliveryRetry(c *fiber.Ctx) error {
	if err := a.store.RetryDelivery(c.UserContext(), c.Params("id"), len(a.schedule)); err != nil {
		return err
	}
	a.disp.Wake()
	d, err := a.store.FindDeliveryByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(toDeliveryJSON(d))
}

// handleReplay sends a webhook's deliveries of a time range again, oldest
// first: by default every one not yet delivered (DESIGN.md §6).
func (a *App) handleReplay(c *fiber.Ctx) error {
	var in struct {
		Since  string `json:"since"`
		Until  string `json:"until"`
		Status string `json:"status"`
		DryRun bool   `json:"dry_run"`
	}
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	o := store.ReplayOptions{WebhookID: c.Params("id"), Status: in.Status, DryRun: in.DryRun}
	since, err := time.Parse(time.RFC3339Nano, in.Since)
	if err != nil {
		return invalid("since", "since must be an RFC 3339 time, like 2026-11-27T08:00:00Z")
	}
	o.Since = since.UnixMilli()
	if in.Until != "" {
		until, err := time.Parse(time.RFC3339Nano, in.Until)
		if err != nil {
			return invalid("until", "until must be an RFC 3339 time, like 2026-11-28T08:00:00Z")
		}
		if !until.After(since) {
			return invalid("until", "until must be after since")
		}
		o.Until = until.UnixMilli()
	}
	switch o.Status {
	case "":
		o.Status = store.ReplayUndelivered
	case store.ReplayFailed, store.ReplayUndelivered, store.ReplayAll:
	default:
		return invalid("status", "status must be failed, undelivered or all")
	}
	res, err := a.store.Replay(c.UserContext(), o)
	if err != nil {
		return err
	}
	if !in.DryRun && res.Count > 0 {
		a.disp.Wake()
	}
	ids := res.DeliveryIDs
	if ids == nil {
		ids = []string{}
	}
	return c.JSON(fiber.Map{"count": res.Count, "delivery_ids": ids, "dry_run": in.DryRun})
}
