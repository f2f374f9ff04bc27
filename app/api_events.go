package app

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

type eventJSON struct {
	ID            string          `json:"id"`
	Event         string          `json:"event"`
	Timestamp     string          `json:"timestamp"`
	Data          any             `json:"data"`
	CreatedAt     string          `json:"created_at"`
	Cursor        string          `json:"cursor"` // resume GET /events after this one
	Deliveries    *[]deliveryJSON `json:"deliveries,omitempty"`
	DeliveryCount *int            `json:"delivery_count,omitempty"` // in lists; 0: it matched no webhook
	// Delivery is, in a list filtered by webhook_id, the event's delivery to that webhook.
	Delivery *eventDeliveryJSON `json:"delivery,omitempty"`
}

// eventDeliveryJSON is an event's delivery to one webhook, in GET /events?webhook_id=.
type eventDeliveryJSON struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	LastStatusCode int    `json:"last_status_code"`
	NextAttemptAt  string `json:"next_attempt_at,omitempty"` // while pending or retrying
}

func toEventJSON(e *Event) eventJSON {
	return eventJSON{ID: e.ID, Event: e.Event, Timestamp: store.FormatTime(e.Timestamp), Data: e.Data,
		CreatedAt: store.FormatTime(e.CreatedAt), Cursor: strconv.FormatInt(e.Seq, 10)}
}

type ingestAnswer struct {
	ID         string `json:"id"`
	Event      string `json:"event"`
	Timestamp  string `json:"timestamp"`
	Deliveries int    `json:"deliveries"`
}

func (a *App) handleEventCreate(c *fiber.Ctx) error {
	var in EventInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	ev, verr := prepareEvent(&in, "", a.store.Now(), a.ids)
	if verr != nil {
		return verr
	}
	results, err := a.ingest(c, []*Event{ev})
	if err != nil {
		return err
	}
	r := results[0]
	status := fiber.StatusAccepted
	if r.Existing {
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(ingestAnswer{ID: r.Event.ID, Event: r.Event.Event, Timestamp: store.FormatTime(r.Event.Timestamp), Deliveries: r.Deliveries})
}

// ingest stores evs, starts the deliveries it could take in flight at once
// (see reserve) and wakes the dispatcher for the rest.
func (a *App) ingest(c *fiber.Ctx, evs []*Event) ([]store.IngestResult, error) {
	ho := a.disp.reserve(evs)
	results, err := a.store.InsertEvents(c.UserContext(), evs, ho)
	a.disp.handed(ho)
	if err != nil {
		return nil, err
	}
	left := 0 // deliveries left pending
	for _, r := range results {
		if !r.Existing {
			a.metrics.ingested.WithLabelValues(r.Event.Event).Inc()
			left += r.Deliveries
		}
	}
	if ho != nil {
		left -= len(ho.Claimed)
	}
	if left > 0 {
		a.disp.Wake()
	}
	return results, nil
}

func (a *App) handleEventBatch(c *fiber.Ctx) error {
	var in struct {
		Events []EventInput `json:"events"`
	}
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	if len(in.Events) == 0 {
		return errorf(CodeInvalidEvent, "events", "events must hold at least one event")
	}
	if len(in.Events) > MaxBatch {
		return errorf(CodeInvalidEvent, "events", "a batch holds at most %d events, not %d", MaxBatch, len(in.Events))
	}
	evs := make([]*Event, len(in.Events))
	for i := range in.Events {
		ev, verr := prepareEvent(&in.Events[i], "events["+strconv.Itoa(i)+"].", a.store.Now(), a.ids)
		if verr != nil {
			verr.Message = "events[" + strconv.Itoa(i) + "]: " + verr.Message
			return verr
		}
		evs[i] = ev
	}
	results, err := a.ingest(c, evs)
	if err != nil {
		return err
	}
	type item struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	out := make([]item, len(results))
	for i, r := range results {
		out[i] = item{ID: r.Event.ID, Deliveries: r.Deliveries}
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"events": out})
}

func (a *App) handleEventList(c *fiber.Ctx) error {
	limit, after, err := listParams(c, "event", "contact_id", "webhook_id", "delivery_status", "order")
	if err != nil {
		return err
	}
	f := store.EventFilter{Limit: limit + 1, Event: c.Query("event"), ContactID: c.Query("contact_id"),
		WebhookID: c.Query("webhook_id"), DeliveryStatus: c.Query("delivery_status")}
	if after != "" {
		if f.After, err = strconv.ParseInt(after, 10, 64); err != nil || f.After < 0 {
			return invalid("after", "after must be the next_cursor of a previous page")
		}
	}
	if f.Event != "" && catalogByName[f.Event] == nil {
		return invalid("event", "unknown event %q", f.Event)
	}
	if f.DeliveryStatus != "" {
		if f.WebhookID == "" {
			return invalid("delivery_status", "delivery_status needs webhook_id")
		}
		if err := checkStatus("delivery_status", f.DeliveryStatus); err != nil {
			return err
		}
	}
	if f.WebhookID != "" {
		if _, err := a.store.FindWebhookByID(c.UserContext(), f.WebhookID); err != nil {
			return err // 404: a filter on a webhook that does not exist
		}
	}
	switch c.Query("order", "asc") {
	case "asc":
	case "desc":
		f.Newest = true
	default:
		return invalid("order", "order must be asc (oldest first) or desc (newest first)")
	}
	evs, err := a.store.FindEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = toEventJSON(e)
		out[i].DeliveryCount = &e.DeliveryCount
		if d := e.Delivery; d != nil {
			out[i].Delivery = &eventDeliveryJSON{ID: d.ID, Status: d.Status, Attempts: d.AttemptCount, LastStatusCode: d.LastStatusCode,
				NextAttemptAt: nextAttemptAt(d)}
		}
	}
	return c.JSON(pageOf(out, out, limit, func(e eventJSON) string { return e.Cursor }))
}

func (a *App) handleEventGet(c *fiber.Ctx) error {
	ev, err := a.store.FindEventByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	ds, err := a.store.FindDeliveries(c.UserContext(), store.DeliveryFilter{EventID: ev.ID, Limit: 1000})
	if err != nil {
		return err
	}
	out := toEventJSON(ev)
	dj := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		dj[i] = toDeliveryJSON(d)
	}
	out.Deliveries = &dj
	return c.JSON(out)
}

func (a *App) handleEventTypes(c *fiber.Ctx) error {
	if err := onlyQuery(c); err != nil {
		return err
	}
	return c.JSON(newList(catalog, ""))
}
