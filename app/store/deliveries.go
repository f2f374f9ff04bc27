package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Delivery states.
const (
	StatusPending   = "pending"
	StatusInFlight  = "in_flight"
	StatusRetrying  = "retrying" // an attempt failed and another is scheduled
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	// StatusUndelivered is a filter, not a state: any state but succeeded.
	StatusUndelivered = "undelivered"
)

// DeliveryStatuses are the states a delivery can be in.
var DeliveryStatuses = []string{StatusPending, StatusInFlight, StatusRetrying, StatusSucceeded, StatusFailed}

// SQL for the states a claim takes from, and the state a delivery goes back
// to when it is released without an attempt.
const (
	sqlWaiting  = "status IN ('pending', 'retrying')"
	sqlRequeued = "CASE WHEN attempt_count = 0 THEN 'pending' ELSE 'retrying' END"
)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID             string
	EventID        string
	Event          string // the event's name
	WebhookID      string
	Status         string
	AttemptCount   int
	CycleStart     int
	NextAttemptAt  int64
	LeaseUntil     int64
	Trigger        string
	LastStatusCode int
	LastError      string
	LastDurationMS int64
	CreatedAt      int64
	UpdatedAt      int64
}

// Attempt is one logged try.
type Attempt struct {
	Number       int
	StartedAt    int64
	DurationMS   int64
	StatusCode   int
	ResponseBody string
	Error        string
	Trigger      string
}

const deliveryColumns = `d.id, d.event_id, e.event, d.webhook_id, d.status, d.attempt_count, d.cycle_start, d.next_attempt_at, d.lease_until,
	d.trigger, d.last_status_code, d.last_error, d.last_duration_ms, d.created_at, d.updated_at`

const deliveryFrom = " FROM deliveries d JOIN events e ON e.id = d.event_id "

func scanDelivery(row scanner) (*Delivery, error) {
	var d Delivery
	err := row.Scan(d.columns()...)
	return &d, err
}

// columns are the scan targets for deliveryColumns.
func (d *Delivery) columns() []any {
	return []any{&d.ID, &d.EventID, &d.Event, &d.WebhookID, &d.Status, &d.AttemptCount, &d.CycleStart, &d.NextAttemptAt, &d.LeaseUntil,
		&d.Trigger, &d.LastStatusCode, &d.LastError, &d.LastDurationMS, &d.CreatedAt, &d.UpdatedAt}
}

// FindDeliveryByID returns a delivery.
func (s *SQLite) FindDeliveryByID(ctx context.Context, id string) (*Delivery, error) {
	d, err := scanDelivery(s.read.QueryRowContext(ctx, "SELECT "+deliveryColumns+deliveryFrom+"WHERE d.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("delivery")
	}
	return d, err
}

// DeliveryFilter selects deliveries, newest first.
type DeliveryFilter struct {
	WebhookID string
	EventID   string
	Status    string
	Before    string // id cursor
	Limit     int
}

// FindDeliveries lists deliveries newest first.
func (s *SQLite) FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.WebhookID != "" {
		add("d.webhook_id = ?", f.WebhookID)
	}
	if f.EventID != "" {
		add("d.event_id = ?", f.EventID)
	}
	if f.Status == StatusUndelivered {
		where = append(where, "d.status != 'succeeded'")
	} else if f.Status != "" {
		add("d.status = ?", f.Status)
	}
	if f.Before != "" {
		add("d.id < ?", f.Before)
	}
	q := "SELECT " + deliveryColumns + deliveryFrom
	if len(where) > 0 {
		q += "WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("find deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// FindAttempts returns a delivery's attempts in order.
func (s *SQLite) FindAttempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT number, started_at, duration_ms, status_code, response_body, error, trigger
		FROM attempts WHERE delivery_id = ? ORDER BY number`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.Number, &a.StartedAt, &a.DurationMS, &a.StatusCode, &a.ResponseBody, &a.Error, &a.Trigger); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RetryDelivery makes a delivery due now. A waiting one just moves up; a
// finished one gets one more attempt (a manual retry is not a new cycle).
func (s *SQLite) RetryDelivery(ctx context.Context, id string, retries int) error {
	return s.write(ctx, "retry delivery", func(tx *txn) error {
		var status string
		var count int
		err := tx.QueryRow("SELECT status, attempt_count FROM deliveries WHERE id = ?", id).Scan(&status, &count)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("delivery")
		}
		if err != nil {
			return err
		}
		now := s.NowMS()
		switch status {
		case StatusInFlight:
			return errorf(CodeConflict, "", "the delivery is being attempted right now")
		case StatusPending, StatusRetrying:
			_, err = tx.Exec("UPDATE deliveries SET next_attempt_at = ?, trigger = 'manual', updated_at = ? WHERE id = ?", now, now, id)
		default:
			// cycle_start so that after this one attempt no retries remain.
			_, err = tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, next_attempt_at = ?, trigger = 'manual', cycle_start = ?,
				updated_at = ? WHERE id = ?`, now, count-retries, now, id)
		}
		return err
	})
}

// Replay statuses: what a replay sends again.
const (
	ReplayFailed      = "failed"      // deliveries that failed for good
	ReplayUndelivered = "undelivered" // every delivery not yet succeeded (failed, retrying, pending)
	ReplayAll         = "all"         // also the succeeded ones, and matching events the webhook never had
)

// ReplayOptions select what a replay sends again.
type ReplayOptions struct {
	WebhookID string
	Since     int64 // events created at or after, unix ms
	Until     int64 // and before; 0: no end
	Status    string
	DryRun    bool
}

// ReplayResult is what a replay queued (or, dry, would queue), oldest first.
type ReplayResult struct {
	Count       int
	DeliveryIDs []string
}

// Replay makes a webhook's deliveries of events in [Since, Until) due now,
// oldest first, finished ones with a fresh retry cycle. Deliveries in flight
// are left to their attempt, and one already waiting is only moved up, so
// replays that overlap each other or a catch-up send each delivery once.
// With ReplayAll it also creates deliveries for matching events the webhook
// never had (it did not exist yet, or was disabled).
func (s *SQLite) Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	var out ReplayResult
	err := s.write(ctx, "replay", func(tx *txn) error {
		out = ReplayResult{}
		h, err := scanWebhook(tx.QueryRow("SELECT "+webhookColumns+" FROM webhooks WHERE id = ?", o.WebhookID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("webhook")
		}
		if err != nil {
			return err
		}
		until := o.Until
		if until == 0 {
			until = 1 << 62
		}
		var states string
		switch o.Status {
		case ReplayFailed:
			states = "'failed'"
		case ReplayAll:
			states = "'pending', 'retrying', 'failed', 'succeeded'"
		default:
			states = "'pending', 'retrying', 'failed'"
		}
		rows, err := tx.Query(`SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id
			WHERE d.webhook_id = ? AND d.status IN (`+states+`) AND e.created_at >= ? AND e.created_at < ? ORDER BY e.seq`,
			h.ID, o.Since, until)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("replay: %w", err)
			}
			out.DeliveryIDs = append(out.DeliveryIDs, id)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		var missing []string
		if o.Status == ReplayAll {
			if missing, err = missingDeliveries(tx, h, o.Since, until); err != nil {
				return err
			}
		}
		if o.DryRun {
			out.Count = len(out.DeliveryIDs) + len(missing)
			return nil
		}
		now := s.NowMS()
		// All due now: the claim takes equal times in id order, which is
		// the order their events came in.
		for _, id := range out.DeliveryIDs {
			if _, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = ?, trigger = 'replay', updated_at = ?,
				cycle_start = CASE WHEN status IN ('failed', 'succeeded') THEN attempt_count ELSE cycle_start END,
				status = CASE WHEN status IN ('failed', 'succeeded') THEN `+sqlRequeued+` ELSE status END
				WHERE id = ?`, now, now, id); err != nil {
				return fmt.Errorf("replay: %w", err)
			}
		}
		for _, evID := range missing {
			id := s.NewID("dlv_")
			if err := insertDelivery(tx, id, evID, h.ID, "replay", now); err != nil {
				return err
			}
			out.DeliveryIDs = append(out.DeliveryIDs, id)
		}
		out.Count = len(out.DeliveryIDs)
		return nil
	})
	return out, err
}

// missingDeliveries finds events in [since, until) that match h (as if it had been
// enabled then) but have no delivery to it.
func missingDeliveries(tx *txn, h *Webhook, since, until int64) ([]string, error) {
	rows, err := tx.Query("SELECT "+eventColumns+` FROM events e WHERE created_at >= ? AND created_at < ? AND source != 'test'
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.webhook_id = ?) ORDER BY seq`, since, until, h.ID)
	if err != nil {
		return nil, fmt.Errorf("find missing deliveries: %w", err)
	}
	defer rows.Close()
	probe := *h
	probe.Enabled = true
	var out []string
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		if probe.Matches(ev) {
			out = append(out, ev.ID)
		}
	}
	return out, rows.Err()
}

// QueueDepth counts deliveries waiting or in flight, for /metrics.
func (s *SQLite) QueueDepth(ctx context.Context) (pending, inFlight int, err error) {
	// Two counts, so each one walks its partial index only.
	err = s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE `+sqlWaiting+`),
		(SELECT count(*) FROM deliveries WHERE status = 'in_flight')`).Scan(&pending, &inFlight)
	return pending, inFlight, err
}

// HurryPluginDeliveries makes every waiting delivery to a plugin webhook due
// now (after the plugins were reloaded, one that was missing may be there).
func (s *SQLite) HurryPluginDeliveries(ctx context.Context) error {
	return s.write(ctx, "hurry plugin deliveries", func(tx *txn) error {
		now := s.NowMS()
		_, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = ? WHERE `+sqlWaiting+` AND next_attempt_at > ?
			AND webhook_id IN (SELECT id FROM webhooks WHERE sink = 'plugin')`, now, now)
		return err
	})
}
