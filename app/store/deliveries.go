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
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// DeliveryStatuses are the states a delivery can be in.
var DeliveryStatuses = []string{StatusPending, StatusInFlight, StatusSucceeded, StatusFailed, StatusCancelled}

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
func (s *Store) FindDeliveryByID(ctx context.Context, id string) (*Delivery, error) {
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
func (s *Store) FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.WebhookID != "" {
		add("d.webhook_id = ?", f.WebhookID)
	}
	if f.EventID != "" {
		add("d.event_id = ?", f.EventID)
	}
	if f.Status != "" {
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
func (s *Store) FindAttempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
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

// RetryDelivery makes a delivery due now. A pending one just moves up; a
// finished one gets one more attempt (a manual retry is not a new cycle).
func (s *Store) RetryDelivery(ctx context.Context, id string, retries int) error {
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
		case StatusPending:
			_, err = tx.Exec("UPDATE deliveries SET next_attempt_at = ?, trigger = 'manual', updated_at = ? WHERE id = ?", now, now, id)
		default:
			// cycle_start so that after this one attempt no retries remain.
			_, err = tx.Exec(`UPDATE deliveries SET status = 'pending', next_attempt_at = ?, trigger = 'manual', cycle_start = ?,
				updated_at = ? WHERE id = ?`, now, count-retries, now, id)
		}
		return err
	})
}

// ReplayOptions select what a replay sends again.
type ReplayOptions struct {
	WebhookID string
	Since     int64 // events created at or after, unix ms
	Status    string
	DryRun    bool
}

// Replay re-queues a webhook's deliveries since a time with a fresh retry
// cycle. With status "all" it also creates deliveries for matching events the
// webhook never had (it did not exist yet, or was disabled). Returns the count.
func (s *Store) Replay(ctx context.Context, o ReplayOptions) (int, error) {
	n := 0
	err := s.write(ctx, "replay", func(tx *txn) error {
		n = 0
		h, err := scanWebhook(tx.QueryRow("SELECT "+webhookColumns+" FROM webhooks WHERE id = ?", o.WebhookID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("webhook")
		}
		if err != nil {
			return err
		}
		now := s.NowMS()
		statusCond := "status = 'failed'"
		if o.Status == "all" {
			statusCond = "status IN ('failed', 'succeeded', 'cancelled')"
		}
		sel := `FROM deliveries WHERE webhook_id = ? AND ` + statusCond + ` AND event_id IN (SELECT id FROM events WHERE created_at >= ?)`
		if err := tx.QueryRow("SELECT count(*) "+sel, h.ID, o.Since).Scan(&n); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if !o.DryRun {
			if _, err := tx.Exec(`UPDATE deliveries SET status = 'pending', next_attempt_at = ?, trigger = 'replay', cycle_start = attempt_count,
				updated_at = ? WHERE id IN (SELECT id `+sel+`)`, now, now, h.ID, o.Since); err != nil {
				return fmt.Errorf("replay: %w", err)
			}
		}
		if o.Status != "all" {
			return nil
		}
		missing, err := missingDeliveries(tx, h, o.Since)
		if err != nil {
			return err
		}
		n += len(missing)
		if o.DryRun {
			return nil
		}
		for _, evID := range missing {
			if err := insertDelivery(tx, s.NewID("dlv_"), evID, h.ID, "replay", now); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// missingDeliveries finds events since a time that match h (as if it had been
// enabled then) but have no delivery to it.
func missingDeliveries(tx *txn, h *Webhook, since int64) ([]string, error) {
	rows, err := tx.Query("SELECT "+eventColumns+` FROM events e WHERE created_at >= ? AND source != 'test'
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.webhook_id = ?) ORDER BY seq`, since, h.ID)
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
func (s *Store) QueueDepth(ctx context.Context) (pending, inFlight int, err error) {
	// Two counts, so each one walks its partial index only.
	err = s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'),
		(SELECT count(*) FROM deliveries WHERE status = 'in_flight')`).Scan(&pending, &inFlight)
	return pending, inFlight, err
}

// HurryPluginDeliveries makes every waiting delivery to a plugin webhook due
// now (after the plugins were reloaded, one that was missing may be there).
func (s *Store) HurryPluginDeliveries(ctx context.Context) error {
	return s.write(ctx, "hurry plugin deliveries", func(tx *txn) error {
		now := s.NowMS()
		_, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at > ?
			AND webhook_id IN (SELECT id FROM webhooks WHERE sink = 'plugin')`, now, now)
		return err
	})
}
