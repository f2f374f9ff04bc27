package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Fast catch-up on PostgreSQL: the same rules as catchup.go (read that
// first), with this engine's placeholders, leases that name their node, and
// SKIP LOCKED so that two nodes never probe the same delivery.

// pgProbeCols are the columns a probe query returns: the delivery and its event.
const pgProbeCols = deliveryColumns + ", e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at"

const (
	// $1 webhook.
	pgProbeWaiting = "SELECT " + pgProbeCols + deliveryFrom + `WHERE d.webhook_id = $1 AND d.status IN ('pending', 'retrying')
		ORDER BY d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED`
	pgProbeWaitingOrdered = "SELECT " + pgProbeCols + deliveryFrom + `WHERE d.webhook_id = $1 AND d.status IN ('pending', 'retrying')
		AND (e.contact_id = '' OR NOT EXISTS (
			SELECT 1 FROM events pe JOIN deliveries p ON p.event_id = pe.id
			WHERE pe.contact_id = e.contact_id AND pe.seq < e.seq
				AND p.webhook_id = d.webhook_id AND p.status IN ('pending', 'in_flight', 'retrying')))
		ORDER BY d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED`
	pgProbeFailed = "SELECT " + pgProbeCols + deliveryFrom + `WHERE d.webhook_id = $1 AND d.status = 'failed'
		ORDER BY d.updated_at, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED`
)

// ClaimProbes is SQLite.ClaimProbes on PostgreSQL.
func (s *Postgres) ClaimProbes(ctx context.Context, retries int, leaseMS int64) ([]*Claimed, error) {
	var out []*Claimed
	err := s.write(ctx, "claim probes", func(tx *pgTx) error {
		out = out[:0]
		now := s.NowMS()
		rows, err := tx.Query(`SELECT w.id, w.auto_replay, w.ordered FROM webhooks w WHERE w.enabled AND w.failing_since <> 0
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id AND d.status = 'in_flight')`)
		if err != nil {
			return fmt.Errorf("claim probes: %w", err)
		}
		type hook struct {
			id                  string
			autoReplay, ordered bool
		}
		hooks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hook, error) {
			var h hook
			return h, r.Scan(&h.id, &h.autoReplay, &h.ordered)
		})
		if err != nil {
			return fmt.Errorf("claim probes: %w", err)
		}
		for _, h := range hooks {
			c, err := s.claimProbe(tx, h.id, h.autoReplay, h.ordered, now, retries)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			c.Lease = now + leaseMS
			if _, err := tx.Exec(`UPDATE deliveries SET status = 'in_flight', lease_until = $1, lease_owner = $2, updated_at = $3, cycle_start = $4
				WHERE id = $5`, c.Lease, s.node, now, c.CycleStart, c.ID); err != nil {
				return fmt.Errorf("claim probes: %w", err)
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

func (s *Postgres) claimProbe(tx *pgTx, webhookID string, autoReplay, ordered bool, now int64, retries int) (*Claimed, error) {
	q := pgProbeWaiting
	if ordered {
		q = pgProbeWaitingOrdered
	}
	c, err := pgClaimed1(tx, q, webhookID)
	if err != nil || c != nil {
		if c == nil || c.NextAttemptAt <= now {
			return nil, err // due already: its own attempt is the probe
		}
		if c.Status == StatusRetrying {
			c.CycleStart++ // a free attempt: it spends none of the delivery's retries
		}
		c.Probe = true
		return c, nil
	}
	if !autoReplay {
		return nil, nil
	}
	if c, err = pgClaimed1(tx, pgProbeFailed, webhookID); c == nil || err != nil {
		return nil, err
	}
	c.CycleStart, c.Probe = c.AttemptCount-retries, true // one attempt, as a manual retry
	return c, nil
}

// pgClaimed1 runs a query for at most one delivery with its event.
func pgClaimed1(tx *pgTx, q string, args ...any) (*Claimed, error) {
	rows, err := tx.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("claim probes: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Claimed, error) {
		var d Delivery
		var e Event
		var data string
		if err := r.Scan(append(d.columns(), e.columns(&data)...)...); err != nil {
			return nil, err
		}
		e.SetData(data)
		return &Claimed{Delivery: &d, Ev: &e}, nil
	})
	if err != nil || len(all) == 0 {
		if err != nil {
			err = fmt.Errorf("claim probes: %w", err)
		}
		return nil, err
	}
	return all[0], nil
}

// CatchUp is SQLite.CatchUp on PostgreSQL.
func (s *Postgres) CatchUp(ctx context.Context, webhookID string, at int64, limit int) (CatchUpResult, error) {
	var out CatchUpResult
	err := s.write(ctx, "catch up", func(tx *pgTx) error {
		out = CatchUpResult{}
		var enabled, autoReplay bool
		var failingSince int64
		err := tx.QueryRow("SELECT enabled, auto_replay, failing_since FROM webhooks WHERE id = $1", webhookID).Scan(&enabled, &autoReplay, &failingSince)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		if !enabled || failingSince != 0 {
			return nil
		}
		now := s.NowMS()
		tag, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = $1, updated_at = $2 WHERE id IN (
			SELECT id FROM deliveries WHERE webhook_id = $3 AND status = 'retrying' AND next_attempt_at > $1 ORDER BY id LIMIT $4
			FOR UPDATE SKIP LOCKED)`, at, now, webhookID, limit)
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		out.Retrying = int(tag.RowsAffected())
		if autoReplay && out.Retrying < limit {
			tag, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, next_attempt_at = $1, trigger = 'replay',
				cycle_start = attempt_count, updated_at = $2
				WHERE id IN (SELECT d.id FROM deliveries d WHERE d.webhook_id = $3 AND d.status = 'failed' AND d.updated_at <= $1
					AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.trigger = 'replay')
					ORDER BY d.id LIMIT $4 FOR UPDATE SKIP LOCKED)`, at, now, webhookID, limit-out.Retrying)
			if err != nil {
				return fmt.Errorf("catch up: %w", err)
			}
			out.Replayed = int(tag.RowsAffected())
		}
		out.More = out.Retrying+out.Replayed == limit
		return nil
	})
	return out, err
}
