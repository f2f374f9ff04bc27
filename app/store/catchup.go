package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Fast catch-up (DESIGN.md §5). A webhook is failing while
// webhooks.failing_since != 0: its last attempt failed. The dispatcher
// probes each failing webhook every probe interval (ProbeFailing), and the
// first success after failures makes the webhook's backlog due at once
// (CatchUp). Both derive everything from the database, so they work the
// same after a restart.

// Probe is one failing webhook's delivery made due now by ProbeFailing.
type Probe struct {
	WebhookID  string
	DeliveryID string
}

// ProbeFailing makes, for every enabled failing webhook with nothing in
// flight, its oldest undelivered delivery due now, whatever its own
// schedule says, so a receiver that came back is noticed within one probe
// interval. It returns the deliveries it moved up.
//
// The oldest waiting (pending or retrying) delivery is taken first. Its
// probe attempt is free: cycle_start moves up by one, so a failed probe does
// not use up the delivery's retries, and the schedule goes on from the same
// step. A webhook with nothing waiting but auto_replay on is probed with its
// oldest failed delivery not yet replayed automatically, given one attempt
// (as a manual retry is): if it fails it is failed again; if it succeeds,
// the recovery replays the rest. retries is the length of the retry schedule.
func (s *SQLite) ProbeFailing(ctx context.Context, retries int) ([]Probe, error) {
	var out []Probe
	err := s.write(ctx, "probe failing webhooks", func(tx *txn) error {
		out = out[:0]
		now := s.NowMS()
		rows, err := tx.Query(`SELECT w.id, w.auto_replay FROM webhooks w WHERE w.enabled = 1 AND w.failing_since != 0
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id AND d.status = 'in_flight')`)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		type hook struct {
			id         string
			autoReplay bool
		}
		var hooks []hook
		for rows.Next() {
			var h hook
			if err := rows.Scan(&h.id, &h.autoReplay); err != nil {
				rows.Close()
				return fmt.Errorf("probe: %w", err)
			}
			hooks = append(hooks, h)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		for _, h := range hooks {
			id, err := probeOne(tx, h.id, h.autoReplay, now, retries)
			if err != nil {
				return err
			}
			if id != "" {
				out = append(out, Probe{WebhookID: h.id, DeliveryID: id})
			}
		}
		return nil
	})
	return out, err
}

// probeOne moves one webhook's probe delivery up; "" when there is none or
// it is already due.
func probeOne(tx *txn, webhookID string, autoReplay bool, now int64, retries int) (string, error) {
	// Oldest by id: ids sort by creation (index deliveries_status).
	var id string
	var next int64
	var status string
	err := tx.QueryRow(`SELECT id, next_attempt_at, status FROM deliveries
		WHERE webhook_id = ? AND status IN ('pending', 'retrying') ORDER BY id LIMIT 1`, webhookID).Scan(&id, &next, &status)
	switch {
	case err == nil:
		if next <= now {
			return "", nil // due already: its attempt is the probe
		}
		// A retrying delivery's probe is free (cycle_start + 1); a pending
		// one has no retries to spend yet.
		_, err = tx.Exec(`UPDATE deliveries SET next_attempt_at = ?, updated_at = ?,
			cycle_start = CASE WHEN status = 'retrying' THEN cycle_start + 1 ELSE cycle_start END
			WHERE id = ?`, now, now, id)
		if err != nil {
			return "", fmt.Errorf("probe: %w", err)
		}
		return id, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("probe: %w", err)
	}
	if !autoReplay {
		return "", nil // failed ones are sent again only by a replay the user asks for
	}
	// Only one never sent again automatically, and the probe counts as its
	// automatic replay (trigger 'replay'): each failed delivery is re-sent
	// automatically at most once, so an event the receiver always refuses
	// is not probed forever.
	err = tx.QueryRow(`SELECT d.id FROM deliveries d WHERE d.webhook_id = ? AND d.status = 'failed'
		AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.trigger = 'replay')
		ORDER BY d.id LIMIT 1`, webhookID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("probe: %w", err)
	}
	// One attempt, then failed again if it fails (as RetryDelivery does).
	if _, err := tx.Exec(`UPDATE deliveries SET status = 'retrying', next_attempt_at = ?, cycle_start = attempt_count - ?, trigger = 'replay',
		updated_at = ? WHERE id = ?`, now, retries, now, id); err != nil {
		return "", fmt.Errorf("probe: %w", err)
	}
	return id, nil
}

// CatchUpResult is what one CatchUp call made due.
type CatchUpResult struct {
	Retrying int  // retrying deliveries moved up
	Replayed int  // failed deliveries sent again (auto_replay)
	More     bool // the limit was reached: call again
}

// CatchUp makes up to limit of a recovered webhook's deliveries due at at
// (the time of the success that ended its failures), in one write: every
// retrying one whose next attempt is later, and, when the webhook has
// auto_replay, the failed ones that were never replayed automatically
// (failed for good before at, so each is replayed automatically once, and
// an event the receiver always refuses does not loop). They all get the same
// due time, so the claim takes them in id order: oldest first, within the
// webhook's concurrency cap. Deliveries in flight are left alone, so
// nothing is sent twice. Call it again while More; every call uses the same
// at, so a later batch never overtakes an earlier one.
//
// It does nothing for a webhook that is gone, disabled or failing again.
func (s *SQLite) CatchUp(ctx context.Context, webhookID string, at int64, limit int) (CatchUpResult, error) {
	var out CatchUpResult
	err := s.write(ctx, "catch up", func(tx *txn) error {
		out = CatchUpResult{}
		var enabled, autoReplay bool
		var failingSince int64
		err := tx.QueryRow("SELECT enabled, auto_replay, failing_since FROM webhooks WHERE id = ?", webhookID).Scan(&enabled, &autoReplay, &failingSince)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		if !enabled || failingSince != 0 {
			return nil
		}
		now := s.NowMS()
		// The oldest first, by id (index deliveries_status).
		res, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE id IN (
			SELECT id FROM deliveries WHERE webhook_id = ? AND status = 'retrying' AND next_attempt_at > ? ORDER BY id LIMIT ?)`,
			at, now, webhookID, at, limit)
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		n, _ := res.RowsAffected()
		out.Retrying = int(n)
		if autoReplay && out.Retrying < limit {
			res, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, next_attempt_at = ?, trigger = 'replay',
				cycle_start = attempt_count, updated_at = ?
				WHERE id IN (SELECT d.id FROM deliveries d WHERE d.webhook_id = ? AND d.status = 'failed' AND d.updated_at <= ?
					AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.trigger = 'replay')
					ORDER BY d.id LIMIT ?)`, at, now, webhookID, at, limit-out.Retrying)
			if err != nil {
				return fmt.Errorf("catch up: %w", err)
			}
			n, _ := res.RowsAffected()
			out.Replayed = int(n)
		}
		out.More = out.Retrying+out.Replayed == limit
		return nil
	})
	return out, err
}
