package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The claim on PostgreSQL: several nodes claim from one table at once.
//
//   - Rows are taken with FOR UPDATE SKIP LOCKED: two nodes never take the
//     same delivery, and neither waits for the other's rows.
//   - A claim holds a lease (lease_until, lease_owner). Only the holder
//     moves the delivery on (every later UPDATE checks lease_until). A node
//     that dies leaves its leases to run out; every node re-queues expired
//     leases each second (background), and only expired ones, so a live
//     node's claims are never taken from it.
//   - The per-webhook cap is split by the live nodes (herald_nodes): with
//     N nodes alive, each holds at most cap/N claims of a webhook at once
//     (at least one), so at most cap attempts run at once across the
//     cluster. A node alone keeps up to ClaimDepth times the cap claimed
//     (cap running, the rest ready; SQLite's deeper queue does not apply
//     here). What a node holds is the dispatcher's own count, which the
//     slots carry (slots = ClaimDepth × cap − held, deliver.go): it drops
//     as soon as a receiver has answered, so the next claim never waits
//     for the outcome's commit. Counting leases
//     in the database instead lagged by that commit, and a node that found
//     its share full went to sleep until its next poll. The others' live
//     leases are still counted (pgClaimTake), for the moments when the
//     nodes change.
const (
	// pgOrderedHead keeps an ordered webhook's claim to the head of each
	// contact, as claimOrderedQuery does on SQLite. Another node's claim
	// not yet committed still reads as pending here, so it holds the next
	// event back too.
	pgOrderedHead = `
			AND (NOT (SELECT ordered FROM webhooks WHERE id = $1) OR NOT EXISTS (
				SELECT 1 FROM events ev JOIN events pe ON pe.contact_id = ev.contact_id AND pe.seq < ev.seq
				JOIN deliveries p ON p.event_id = pe.id AND p.webhook_id = d.webhook_id AND p.status IN ('pending', 'in_flight', 'retrying')
				WHERE ev.id = d.event_id AND ev.contact_id <> ''))`

	// pgClaimTake takes up to $3 due deliveries of webhook $1 at $2 under
	// lease $4 for node $5, and no more than $6 (the cap less what this
	// node holds) less the live leases the other nodes hold; while they
	// hold none, up to $7 (what this node may hold alone). In the steady
	// state each node holds its share and this takes nothing away; it holds
	// the cap while the nodes change: when one still holds claims taken
	// under a bigger share, a killed one's leases have not run out, or a
	// node has not yet seen one that just started (it still counts itself
	// alone, and would otherwise run its whole cap beside the newcomer's
	// share: 11 at once under a cap of 8, TestMultiNodeKillNineOneOfThree).
	pgClaimTake = `WITH c AS (
			SELECT id FROM deliveries d
			WHERE webhook_id = $1 AND status IN ('pending', 'retrying') AND next_attempt_at <= $2` + pgOrderedHead + `
			ORDER BY next_attempt_at, id
			LIMIT greatest(0, least($3::int, (SELECT CASE WHEN count(*) = 0 THEN $7::int ELSE $6::int - count(*) END FROM deliveries
				WHERE webhook_id = $1 AND status = 'in_flight' AND lease_owner <> $5 AND lease_until > $2)))
			FOR UPDATE SKIP LOCKED)` + pgClaimSet

	// pgClaimSet moves the taken rows in flight. It finds them by an array
	// of ids: joined to c instead, the planner (which cannot size a LIMIT
	// that is an expression) hashed the whole deliveries table to find a
	// few rows (TestPostgresPlansReadByIndex).
	pgClaimSet = `
		UPDATE deliveries d SET status = 'in_flight', lease_until = $4, lease_owner = $5, updated_at = $2
		FROM events e WHERE d.id = ANY(ARRAY(SELECT id FROM c)) AND e.id = d.event_id
		RETURNING ` + deliveryColumns + `, e.seq, e.id, e.event, e.timestamp, e.data, e.contact_id, e.content_hash, e.source, e.created_at`

	// Leases that ran out go back to the queue (the holder died or lost
	// its connection). Live leases stay where they are.
	pgRequeueExpired = `UPDATE deliveries SET status = ` + sqlRequeued + `, lease_until = 0, lease_owner = '', next_attempt_at = $1, updated_at = $1
		WHERE status = 'in_flight' AND lease_until < $2`
)

// capShare is this node's share of the per-webhook cap: 0 when it is the
// only node (no limit beyond the dispatcher's own).
func (s *Postgres) capShare() int {
	n := int(s.liveNodes.Load())
	if n <= 1 {
		return 0
	}
	return max(1, s.cap/n)
}

// ClaimDue marks due waiting deliveries in_flight under this node's lease,
// up to slots[webhookID] for each webhook in order (less what other nodes
// hold, see above), and at most total overall.
func (s *Postgres) ClaimDue(ctx context.Context, order []string, slots map[string]int, total int, leaseMS int64) ([]*Claimed, error) {
	now := s.NowMS()
	lease := now + leaseMS
	// One round trip for the whole round, a statement per webhook. The total is shared out in order up front (a webhook with
	// less due than its share leaves the rest unused until the next round).
	b := &pgx.Batch{}
	var hooks []string
	left := total
	share := s.capShare()
	for _, hookID := range order {
		n := min(slots[hookID], left)
		held := ClaimDepth*s.cap - slots[hookID]
		if share > 0 {
			n = min(n, share-held)
		}
		if n <= 0 {
			continue
		}
		left -= n
		hooks = append(hooks, hookID)
		// What it may hold while no other node holds a lease: ClaimDepth
		// times the cap when it counts itself alone, else its part of it.
		noOthers := ClaimDepth*s.cap - held
		if share > 0 {
			noOthers = s.cap - held
		}
		b.Queue(pgClaimTake, hookID, now, n, lease, s.node, s.cap-held, noOthers)
	}
	if len(hooks) == 0 {
		return nil, nil
	}
	var out []*Claimed
	err := s.oneTrip(ctx, "claim", b, func(br pgx.BatchResults) error {
		out = out[:0]
		for range hooks {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Claimed, error) {
				var d Delivery
				var e Event
				var data string
				if err := r.Scan(append(d.columns(), e.columns(&data)...)...); err != nil {
					return nil, err
				}
				e.Data = json.RawMessage(data) // decoded on use (Event.DataFields)
				return &Claimed{Delivery: &d, Ev: &e, Lease: lease}, nil
			})
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			// RETURNING keeps no order: due first, then by id, as taken.
			slices.SortFunc(batch, func(a, b *Claimed) int {
				if a.NextAttemptAt != b.NextAttemptAt {
					return int(a.NextAttemptAt - b.NextAttemptAt)
				}
				return strings.Compare(a.ID, b.ID)
			})
			out = append(out, batch...)
		}
		return nil
	})
	return out, err
}

// NextDue is when the earliest waiting delivery of an enabled webhook is due
// (unix ms), or 0 if none is pending.
func (s *Postgres) NextDue(ctx context.Context) (int64, error) {
	var next *int64
	// One probe of the claim index per enabled webhook. (min() over all
	// waiting rows, as on SQLite, reads every one of them here: tens of
	// milliseconds per dispatcher step with a backlog.)
	err := s.pool.QueryRow(ctx, `SELECT min(x.n) FROM webhooks w CROSS JOIN LATERAL (
		SELECT d.next_attempt_at AS n FROM deliveries d WHERE d.webhook_id = w.id AND d.`+sqlWaiting+`
		ORDER BY d.next_attempt_at LIMIT 1) x WHERE w.enabled`).Scan(&next)
	if err != nil || next == nil {
		return 0, s.opError("next due", err)
	}
	return *next, nil
}

// RecordAttempt logs an attempt and moves the delivery on, in one
// transaction and one round trip. It reports whether the webhook had been
// failing before this success.
func (s *Postgres) RecordAttempt(ctx context.Context, o *AttemptOutcome) (recovered bool, err error) {
	now := s.NowMS()
	b := &pgx.Batch{}
	// Logged only while the delivery exists (it may have been deleted with
	// its webhook meanwhile).
	// Every attempt is logged and counted, numbered in the order recorded,
	// also one whose lease ran out meanwhile (see SQLite.RecordAttempt).
	b.Queue(`INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_body, error, trigger)
		SELECT id, attempt_count + 1, $2, $3, $4, $5, $6, $7 FROM deliveries WHERE id = $1`,
		o.DeliveryID, o.StartedAt, o.DurationMS, o.StatusCode, o.Body, o.Error, o.Trigger)
	// Only the holder of the lease moves the delivery on; anyone else's
	// attempt is only counted.
	b.Queue(`UPDATE deliveries SET attempt_count = attempt_count + 1, updated_at = $6,
		status = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN $1 WHEN status = 'pending' THEN 'retrying' ELSE status END,
		next_attempt_at = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN $2 ELSE next_attempt_at END,
		lease_owner = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN '' ELSE lease_owner END,
		trigger = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN 'auto' ELSE trigger END,
		last_status_code = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN $3 ELSE last_status_code END,
		last_error = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN $4 ELSE last_error END,
		last_duration_ms = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN $5 ELSE last_duration_ms END,
		lease_until = CASE WHEN status = 'in_flight' AND lease_until = $8 THEN 0 ELSE lease_until END
		WHERE id = $7`,
		o.Status, o.NextAttemptAt, o.StatusCode, o.Error, o.DurationMS, now, o.DeliveryID, o.Lease)
	// Webhook health; Send Test Event says nothing of it (see SQLite.RecordAttempt).
	health := 0
	if o.Trigger != "test" {
		switch {
		case o.Status == StatusSucceeded:
			b.Queue("UPDATE webhooks SET failing_since = 0, last_success_at = $1 WHERE id = $2 AND failing_since != 0", now, o.WebhookID)
			b.Queue("UPDATE webhooks SET last_success_at = $1 WHERE id = $2 AND last_success_at < $3", now, o.WebhookID, now-60_000)
			health = 2
		case o.Gone:
			b.Queue(`UPDATE webhooks SET enabled = false, disabled_reason = $1, updated_at = $2 WHERE id = $3`,
				"the receiver answered 410 Gone at "+FormatTime(now)+": it says this endpoint no longer exists", now, o.WebhookID)
			health = 1
		default:
			b.Queue("UPDATE webhooks SET failing_since = $1 WHERE id = $2 AND failing_since = 0", now, o.WebhookID)
			health = 1
		}
	}
	touched := false
	err = s.opError("record attempt", s.oneTripRaw(ctx, s.outcomes, "record attempt", b, func(br pgx.BatchResults) error {
		recovered, touched = false, false
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("record attempt: %w", err)
			}
		}
		for i := range health {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("webhook health: %w", err)
			}
			if tag.RowsAffected() > 0 {
				touched = true
				recovered = recovered || (o.Status == StatusSucceeded && i == 0)
			}
		}
		return nil
	}))
	if err == nil && touched {
		// The webhook changed: this node sees it at once, the others within a poll.
		if perr := s.pollVersions(ctx); perr != nil {
			s.log.Warn("Reading the webhook version failed", "error", perr)
		}
	}
	return recovered, err
}

// ReleaseDelivery puts a claimed delivery back without an attempt.
func (s *Postgres) ReleaseDelivery(ctx context.Context, id string, lease, nextAt int64, reason string) error {
	return s.write(ctx, "release delivery", func(tx *pgTx) error {
		_, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, lease_until = 0, lease_owner = '', next_attempt_at = $1, updated_at = $2,
			last_error = CASE WHEN $3 = '' THEN last_error ELSE $3 END
			WHERE id = $4 AND status = 'in_flight' AND lease_until = $5`, nextAt, s.NowMS(), reason, id, lease)
		return err
	})
}

// RequeueInFlight puts deliveries whose lease ended before beforeMS back in
// the queue. With other nodes alive, "before now" is the most it may take:
// a later bound (SQLite's start-up uses one far ahead, for "everything")
// is clamped to now, so a node that starts never takes live leases from
// the others. Its own earlier leases run out like anyone's.
func (s *Postgres) RequeueInFlight(ctx context.Context, beforeMS int64) (int, error) {
	var n int64
	err := s.write(ctx, "requeue in flight", func(tx *pgTx) error {
		now := s.NowMS()
		tag, err := tx.Exec(pgRequeueExpired, now, min(beforeMS, now))
		if err != nil {
			return fmt.Errorf("requeue in flight: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}

// RenewLease extends a claim that is still ours to untilMS; 0 when the claim
// was lost (see SQLite.RenewLease).
func (s *Postgres) RenewLease(ctx context.Context, id string, lease, untilMS int64) (int64, error) {
	var got int64
	err := s.write(ctx, "renew lease", func(tx *pgTx) error {
		got = 0
		tag, err := tx.Exec(`UPDATE deliveries SET lease_until = $1 WHERE id = $2 AND status = 'in_flight' AND lease_until = $3`, untilMS, id, lease)
		if err != nil {
			return fmt.Errorf("renew lease: %w", err)
		}
		if tag.RowsAffected() == 1 {
			got = untilMS
		}
		return nil
	})
	return got, err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
