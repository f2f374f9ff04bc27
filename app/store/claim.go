package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Claimed is a delivery taken for an attempt, with its event.
type Claimed struct {
	*Delivery
	Ev    *Event
	Lease int64 // lease_until as claimed: the token that proves the claim is still ours
	// Probe: claimed by ClaimProbes out of its turn. If it fails, it goes
	// back to NextAttemptAt, the time its own schedule said.
	Probe bool
}

// claimQuery selects a webhook's due waiting deliveries with their events,
// in the order they are sent: by when they are due, then by id (creation).
// Arguments: webhook id, now, limit.
const claimQuery = "SELECT " + deliveryColumns + ", e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at" +
	deliveryFrom + `WHERE d.webhook_id = ? AND d.status IN ('pending', 'retrying') AND d.next_attempt_at <= ?
	ORDER BY d.next_attempt_at, d.id LIMIT ?`

// claimOrderedQuery is claimQuery for an ordered webhook: a delivery whose
// event has a contact is taken only while no earlier event (by seq) of that
// contact is still on its way to the same webhook (pending, in_flight or
// retrying). Succeeded and failed ones do not hold the next back, so a head
// that fails for good lets its contact move on. Only the head of each
// contact can pass, so one claim never takes two of the same contact.
//
// The check walks the contact's earlier events (index events_contact) and
// looks each one's delivery up by (event_id, webhook_id) (the unique index):
// its cost grows with the contact's history within retention, not with the
// size of the queue.
const claimOrderedQuery = "SELECT " + deliveryColumns + ", e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at" +
	deliveryFrom + `WHERE d.webhook_id = ? AND d.status IN ('pending', 'retrying') AND d.next_attempt_at <= ?
	AND (e.contact_id = '' OR NOT EXISTS (
		SELECT 1 FROM events pe JOIN deliveries p ON p.event_id = pe.id
		WHERE pe.contact_id = e.contact_id AND pe.seq < e.seq
			AND p.webhook_id = d.webhook_id AND p.status IN ('pending', 'in_flight', 'retrying')))
	ORDER BY d.next_attempt_at, d.id LIMIT ?`

// ClaimDue marks due waiting (pending or retrying) deliveries in_flight, up to slots[webhookID]
// for each webhook in order, and at most total overall. For an ordered
// webhook it takes only the head of each contact (see claimOrderedQuery).
func (s *SQLite) ClaimDue(ctx context.Context, order []string, slots map[string]int, total int, leaseMS int64) ([]*Claimed, error) {
	var out []*Claimed
	err := s.write(ctx, "claim", func(tx *txn) error {
		out = out[:0]
		now := s.NowMS()
		lease := now + leaseMS
		hooks, err := s.webhooksForMatch(tx)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		ordered := map[string]bool{}
		for _, h := range hooks {
			if h.Ordered {
				ordered[h.ID] = true
			}
		}
		for _, hookID := range order {
			n := min(slots[hookID], total-len(out))
			if n <= 0 {
				continue
			}
			q := claimQuery
			if ordered[hookID] {
				q = claimOrderedQuery
			}
			rows, err := tx.Query(q, hookID, now, n)
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			var batch []*Claimed
			for rows.Next() {
				c, err := scanClaimed(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("claim: %w", err)
				}
				c.Lease = lease
				batch = append(batch, c)
			}
			rows.Close()
			if len(batch) == 0 {
				continue
			}
			ids := make([]any, 0, len(batch)+2)
			ids = append(ids, lease, now)
			for _, c := range batch {
				ids = append(ids, c.ID)
			}
			if _, err := tx.Exec(`UPDATE deliveries SET status = 'in_flight', lease_until = ?, updated_at = ? WHERE id IN (`+
				strings.TrimSuffix(strings.Repeat("?,", len(batch)), ",")+`)`, ids...); err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			out = append(out, batch...)
		}
		return nil
	})
	return out, err
}

func scanClaimed(rows *sql.Rows) (*Claimed, error) {
	var d Delivery
	var e Event
	var data string
	if err := rows.Scan(append(d.columns(), e.columns(&data)...)...); err != nil {
		return nil, err
	}
	e.SetData(data)
	return &Claimed{Delivery: &d, Ev: &e}, nil
}

// NextDue is when the earliest waiting delivery of an enabled webhook is due
// (unix ms), or 0 if none is pending.
func (s *SQLite) NextDue(ctx context.Context) (int64, error) {
	var next sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM deliveries
		WHERE `+sqlWaiting+` AND webhook_id IN (SELECT id FROM webhooks WHERE enabled = 1)`).Scan(&next)
	return next.Int64, err
}

// AttemptOutcome is what one attempt did and what happens next.
type AttemptOutcome struct {
	DeliveryID    string
	WebhookID     string
	Lease         int64
	Number        int // as the claim saw it (attempt_count + 1); the log numbers attempts in the order recorded
	StartedAt     int64
	DurationMS    int64
	StatusCode    int
	Body          string
	Error         string
	Trigger       string
	Status        string // succeeded, retrying (at NextAttemptAt), failed
	NextAttemptAt int64
	Gone          bool // the target is gone: disable the webhook
}

// RecordAttempt logs an attempt and moves the delivery on, in one transaction.
// It reports whether the webhook had been failing before this success.
func (s *SQLite) RecordAttempt(ctx context.Context, o *AttemptOutcome) (recovered bool, err error) {
	err = s.write(ctx, "record attempt", func(tx *txn) error {
		recovered = false
		now := s.NowMS()
		var exists int
		if err := tx.QueryRow("SELECT count(*) FROM deliveries WHERE id = ?", o.DeliveryID).Scan(&exists); err != nil || exists == 0 {
			return err // deleted with its webhook meanwhile: nothing to record
		}
		// Every attempt is logged and counted, numbered in the order
		// recorded: also one whose lease ran out meanwhile, since it was
		// sent all the same. So the log and attempt_count always agree.
		if _, err := tx.Exec(`INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_body, error, trigger)
			SELECT id, attempt_count + 1, ?, ?, ?, ?, ?, ? FROM deliveries WHERE id = ?`,
			o.StartedAt, o.DurationMS, o.StatusCode, o.Body, o.Error, o.Trigger, o.DeliveryID); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		// Only the holder of the lease moves the delivery on: if the lease
		// ran out and someone else took it, this attempt is just counted.
		res, err := tx.Exec(`UPDATE deliveries SET status = ?, attempt_count = attempt_count + 1, next_attempt_at = ?, lease_until = 0, trigger = 'auto',
			last_status_code = ?, last_error = ?, last_duration_ms = ?, updated_at = ?
			WHERE id = ? AND status = 'in_flight' AND lease_until = ?`,
			o.Status, o.NextAttemptAt, o.StatusCode, o.Error, o.DurationMS, now, o.DeliveryID, o.Lease)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(`UPDATE deliveries SET attempt_count = attempt_count + 1, updated_at = ?,
				status = CASE WHEN status = 'pending' THEN 'retrying' ELSE status END WHERE id = ?`, now, o.DeliveryID); err != nil {
				return fmt.Errorf("record attempt: %w", err)
			}
		}
		if o.Trigger == "test" {
			// Send Test Event says nothing of how real deliveries go: it
			// neither clears a failure (which would skip auto-replay) nor
			// starts the auto-disable clock.
			return nil
		}
		return s.updateWebhookHealth(tx, o, now, &recovered)
	})
	return recovered, err
}

func (s *SQLite) updateWebhookHealth(tx *txn, o *AttemptOutcome, now int64, recovered *bool) error {
	var err error
	switch {
	case o.Status == StatusSucceeded:
		// No reads, and writes only when something changes: this runs on
		// every success. The first update says whether it was failing.
		res, err := tx.Exec("UPDATE webhooks SET failing_since = 0, last_success_at = ? WHERE id = ? AND failing_since != 0", now, o.WebhookID)
		if err != nil {
			return fmt.Errorf("webhook health: %w", err)
		}
		n, _ := res.RowsAffected()
		*recovered = n > 0
		_, err = tx.Exec("UPDATE webhooks SET last_success_at = ? WHERE id = ? AND last_success_at < ?", now, o.WebhookID, now-60_000)
		if err != nil {
			return fmt.Errorf("webhook health: %w", err)
		}
		return nil
	case o.Gone:
		_, err = tx.Exec(`UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?`,
			"the receiver answered 410 Gone at "+FormatTime(now)+": it says this endpoint no longer exists", now, o.WebhookID)
	default:
		_, err = tx.Exec("UPDATE webhooks SET failing_since = ? WHERE id = ? AND failing_since = 0", now, o.WebhookID)
	}
	if err != nil {
		return fmt.Errorf("webhook health: %w", err)
	}
	return nil
}

// ReleaseDelivery puts a claimed delivery back without an attempt (shutdown,
// or the plugin or rate limit it needs is not ready). A reason, if given,
// shows in last_error so the wait is not a mystery.
func (s *SQLite) ReleaseDelivery(ctx context.Context, id string, lease, nextAt int64, reason string) error {
	return s.write(ctx, "release delivery", func(tx *txn) error {
		_, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, lease_until = 0, next_attempt_at = ?, updated_at = ?,
			last_error = CASE WHEN ? = '' THEN last_error ELSE ? END
			WHERE id = ? AND status = 'in_flight' AND lease_until = ?`, nextAt, s.NowMS(), reason, reason, id, lease)
		return err
	})
}

// RequeueInFlight puts deliveries whose lease ended before beforeMS (all of
// them at start-up, with beforeMS far ahead) back in the queue. Returns how
// many.
func (s *SQLite) RequeueInFlight(ctx context.Context, beforeMS int64) (int, error) {
	var n int64
	err := s.write(ctx, "requeue in flight", func(tx *txn) error {
		now := s.NowMS()
		res, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, lease_until = 0, next_attempt_at = ?, updated_at = ?
			WHERE status = 'in_flight' AND lease_until < ?`, now, now, beforeMS)
		if err != nil {
			return fmt.Errorf("requeue in flight: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// RenewLease extends a claim that is still ours to untilMS, just before an
// attempt is sent, so that a delivery that waited its turn in memory is not
// re-queued and sent by someone else at the same time. It returns the new
// lease, or 0 when the claim was lost (the lease ran out and the delivery was
// re-queued): then the attempt must not be made.
func (s *SQLite) RenewLease(ctx context.Context, id string, lease, untilMS int64) (int64, error) {
	var got int64
	err := s.write(ctx, "renew lease", func(tx *txn) error {
		got = 0
		res, err := tx.Exec(`UPDATE deliveries SET lease_until = ? WHERE id = ? AND status = 'in_flight' AND lease_until = ?`, untilMS, id, lease)
		if err != nil {
			return fmt.Errorf("renew lease: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			got = untilMS
		}
		return nil
	})
	return got, err
}
