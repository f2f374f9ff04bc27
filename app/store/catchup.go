package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Fast catch-up (DESIGN.md §5). A webhook is failing while
// webhooks.failing_since != 0: its last attempt failed. The dispatcher
// probes each failing webhook every probe interval (ClaimProbes), and the
// first success after failures makes the webhook's backlog due at once
// (CatchUp). Both derive everything from the database, so they work the
// same after a restart.

// ClaimProbes claims, for every enabled failing webhook with nothing in
// flight, its oldest undelivered delivery, whatever its own schedule says,
// so a receiver that came back is noticed within one probe interval. The
// claims are marked Probe; leaseMS is their lease, as in ClaimDue.
//
// The oldest waiting (pending or retrying) delivery is taken first; for an
// ordered webhook, the oldest that heads its contact. A probe is an extra,
// free attempt: cycle_start moves up by one, so a failed probe does not use
// up the delivery's retries, and the dispatcher puts it back at the time its
// own schedule said (Claimed.NextAttemptAt, as claimed), so that schedule
// goes on as if there had been no probe, and ends in failed as it would.
//
// A webhook with nothing waiting but auto_replay on is probed with a failed
// delivery instead (the one attempted longest ago), given one attempt, as a
// manual retry is: if it fails it is failed again; if it succeeds, the
// recovery replays the rest. retries is the length of the retry schedule.
func (s *SQLite) ClaimProbes(ctx context.Context, retries int, leaseMS int64) ([]*Claimed, error) {
	var out []*Claimed
	err := s.write(ctx, "claim probes", func(tx *txn) error {
		out = out[:0]
		now := s.NowMS()
		rows, err := tx.Query(`SELECT w.id, w.auto_replay, w.ordered FROM webhooks w WHERE w.enabled = 1 AND w.failing_since != 0
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id AND d.status = 'in_flight')`)
		if err != nil {
			return fmt.Errorf("claim probes: %w", err)
		}
		type hook struct {
			id                  string
			autoReplay, ordered bool
		}
		var hooks []hook
		for rows.Next() {
			var h hook
			if err := rows.Scan(&h.id, &h.autoReplay, &h.ordered); err != nil {
				rows.Close()
				return fmt.Errorf("claim probes: %w", err)
			}
			hooks = append(hooks, h)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("claim probes: %w", err)
		}
		for _, h := range hooks {
			c, err := claimProbe(tx, h.id, h.autoReplay, h.ordered, now, retries)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			c.Lease = now + leaseMS
			if _, err := tx.Exec(`UPDATE deliveries SET status = 'in_flight', lease_until = ?, updated_at = ? WHERE id = ?`, c.Lease, now, c.ID); err != nil {
				return fmt.Errorf("claim probes: %w", err)
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// probeWaiting finds a webhook's oldest waiting delivery (ids sort by
// creation: index deliveries_status). Arguments: webhook id.
const probeWaiting = "SELECT " + deliveryColumns + ", e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at" +
	deliveryFrom + `WHERE d.webhook_id = ? AND d.status IN ('pending', 'retrying') ORDER BY d.id LIMIT 1`

// probeWaitingOrdered is probeWaiting for an ordered webhook: the oldest
// that heads its contact (see claimOrderedQuery).
const probeWaitingOrdered = "SELECT " + deliveryColumns + ", e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at" +
	deliveryFrom + `WHERE d.webhook_id = ? AND d.status IN ('pending', 'retrying')
	AND (e.contact_id = '' OR NOT EXISTS (
		SELECT 1 FROM events pe JOIN deliveries p ON p.event_id = pe.id
		WHERE pe.contact_id = e.contact_id AND pe.seq < e.seq
			AND p.webhook_id = d.webhook_id AND p.status IN ('pending', 'in_flight', 'retrying')))
	ORDER BY d.id LIMIT 1`

// probeFailed finds the failed delivery of a webhook that was attempted
// longest ago, so probes go round them and one event the receiver always
// refuses does not hide its return. Arguments: webhook id.
const probeFailed = "SELECT " + deliveryColumns + ", e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at" +
	deliveryFrom + `WHERE d.webhook_id = ? AND d.status = 'failed' ORDER BY d.updated_at, d.id LIMIT 1`

// claimProbe picks one webhook's probe and sets its retry cycle; nil when
// there is none or its own attempt is due anyway.
func claimProbe(tx *txn, webhookID string, autoReplay, ordered bool, now int64, retries int) (*Claimed, error) {
	q := probeWaiting
	if ordered {
		q = probeWaitingOrdered
	}
	c, err := scanClaimed1(tx, q, webhookID)
	if err != nil || c != nil {
		if c == nil || c.NextAttemptAt <= now {
			return nil, err // due already: its own attempt is the probe
		}
		// A retrying delivery's probe is free; a pending one has no
		// retries to spend yet.
		if c.Status == StatusRetrying {
			c.CycleStart++
		}
		c.Probe = true
		_, err = tx.Exec(`UPDATE deliveries SET cycle_start = ? WHERE id = ?`, c.CycleStart, c.ID)
		return c, err
	}
	if !autoReplay {
		return nil, nil // failed ones are sent again only by a replay the user asks for
	}
	if c, err = scanClaimed1(tx, probeFailed, webhookID); c == nil || err != nil {
		return nil, err
	}
	// One attempt, then failed again if it fails (as RetryDelivery does).
	// It is not the delivery's automatic replay: that one comes with the
	// recovery.
	c.CycleStart, c.Probe = c.AttemptCount-retries, true
	_, err = tx.Exec(`UPDATE deliveries SET cycle_start = ? WHERE id = ?`, c.CycleStart, c.ID)
	return c, err
}

// scanClaimed1 runs a query for at most one delivery with its event.
func scanClaimed1(tx *txn, q string, args ...any) (*Claimed, error) {
	rows, err := tx.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("claim probes: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	c, err := scanClaimed(rows)
	if err != nil {
		return nil, fmt.Errorf("claim probes: %w", err)
	}
	return c, nil
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
