package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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

// Handoff lets ingest start deliveries without a claim: a new delivery to a
// webhook with a slot left here is stored in_flight, leased to the caller,
// and listed in Claimed; the caller sends it as if it had claimed it. The
// rest are stored pending, for the next claim. It saves the claim's write
// and its wait. An engine may hand off none.
type Handoff struct {
	Slots   map[string]int // per webhook: how many this ingest may take
	LeaseMS int64
	Claimed []*Claimed // set by InsertEvents
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

// ClaimDepth is how many deliveries a dispatcher that only claims (does
// not take hand-offs at ingest) may hold claimed per webhook, as a multiple
// of the webhook's cap: the cap running, the next ones ready. The
// dispatcher sizes its claims by it, and PostgreSQL reads back from the
// slots how many a node holds by it (pgClaimSet).
const ClaimDepth = 2

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
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanClaimed reads a delivery with its event. The event's data stays JSON
// text (Fields nil): most sinks send it as it is, and the few that read
// fields decode it then (Event.DataFields).
func scanClaimed(rows *sql.Rows) (*Claimed, error) {
	var d Delivery
	var e Event
	var data string
	if err := rows.Scan(append(d.columns(), e.columns(&data)...)...); err != nil {
		return nil, err
	}
	e.Data = json.RawMessage(data)
	return &Claimed{Delivery: &d, Ev: &e}, nil
}

// NextDue is when the earliest waiting delivery of an enabled webhook is due
// (unix ms), or 0 if none is pending.
func (s *SQLite) NextDue(ctx context.Context) (int64, error) {
	var next sql.NullInt64
	// Each enabled webhook's earliest, from its part of deliveries_claim.
	err := s.read.QueryRowContext(ctx, `SELECT min((SELECT d.next_attempt_at FROM deliveries d
		WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying') ORDER BY d.next_attempt_at LIMIT 1))
		FROM webhooks w WHERE w.enabled = 1`).Scan(&next)
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
//
// Attempts recorded at the same time share their statements: the writer
// hands every attempt of a commit group to recordAttempts at once (one
// INSERT, one UPDATE and a few webhook updates for the lot; see
// groupOps), with the same effect as recording them one by one.
func (s *SQLite) RecordAttempt(ctx context.Context, o *AttemptOutcome) (recovered bool, err error) {
	r := &attemptReq{o: o}
	op := &writeOp{name: "record attempt", kind: mergeAttempt, attempt: r, err: make(chan error, 1)}
	op.fn = func(tx *txn) error { return s.recordAttempts(tx, []*attemptReq{r}) }
	err = s.enqueue(ctx, op)
	return r.recovered, err
}

// attemptReq is one attempt to record, and what recording it found.
type attemptReq struct {
	o         *AttemptOutcome
	recovered bool
}

// attemptChunk bounds the rows of one multi-row statement (9 variables each
// in the INSERT, under SQLite's limit of 32,766).
const attemptChunk = 256

// recordAttempts records rs as if each were recorded alone, in order:
//   - Every attempt is logged and counted, numbered in the order recorded:
//     also one whose lease ran out meanwhile, since it was sent all the
//     same. So the log and attempt_count always agree.
//   - Only the holder of the lease moves the delivery on: if the lease ran
//     out and someone else took it, the attempt is just counted.
//   - A delivery deleted meanwhile (with its webhook) records nothing.
//   - Webhook health follows each outcome in turn; a run of outcomes of one
//     kind for one webhook needs only the statements of its first (and the
//     newest last_success_at), since the rest would change nothing.
//
// The rs are distinct deliveries: one delivery never has two attempts at
// once, so never two records waiting together.
func (s *SQLite) recordAttempts(tx *txn, rs []*attemptReq) error {
	now := s.NowMS()
	numbers := make(map[string]int, len(rs)) // per delivery still there: its attempt's number
	for i := 0; i < len(rs); i += attemptChunk {
		chunk := rs[i:min(i+attemptChunk, len(rs))]
		rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?),", len(chunk)), ",")
		args := make([]any, 0, 1+7*len(chunk))
		args = append(args, now)
		for _, r := range chunk {
			o := r.o
			args = append(args, o.DeliveryID, o.Lease, o.Status, o.NextAttemptAt, o.StatusCode, o.Error, o.DurationMS)
		}
		// The delivery first: what it returns numbers the attempts, and a
		// delivery deleted meanwhile returns nothing, so logs nothing.
		const own = "deliveries.status = 'in_flight' AND deliveries.lease_until = v.column2"
		res, err := tx.Query(`UPDATE deliveries SET attempt_count = attempt_count + 1, updated_at = ?1,
			status = CASE WHEN `+own+` THEN v.column3 WHEN deliveries.status = 'pending' THEN 'retrying' ELSE deliveries.status END,
			next_attempt_at = CASE WHEN `+own+` THEN v.column4 ELSE deliveries.next_attempt_at END,
			lease_until = CASE WHEN `+own+` THEN 0 ELSE deliveries.lease_until END,
			trigger = CASE WHEN `+own+` THEN 'auto' ELSE deliveries.trigger END,
			last_status_code = CASE WHEN `+own+` THEN v.column5 ELSE deliveries.last_status_code END,
			last_error = CASE WHEN `+own+` THEN v.column6 ELSE deliveries.last_error END,
			last_duration_ms = CASE WHEN `+own+` THEN v.column7 ELSE deliveries.last_duration_ms END
			FROM (VALUES `+rows+`) AS v
			WHERE deliveries.id = v.column1 RETURNING deliveries.id, deliveries.attempt_count`, args...)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		for res.Next() {
			var id string
			var n int
			if err := res.Scan(&id, &n); err != nil {
				res.Close()
				return fmt.Errorf("record attempt: %w", err)
			}
			numbers[id] = n
		}
		if err := errors.Join(res.Err(), res.Close()); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		args, k := args[:0], 0
		for _, r := range chunk {
			o := r.o
			if n, ok := numbers[o.DeliveryID]; ok {
				args = append(args, o.DeliveryID, n, o.StartedAt, o.DurationMS, o.StatusCode, o.Body, o.Error, o.Trigger)
				k++
			}
		}
		if k == 0 {
			continue
		}
		if _, err := tx.Exec(`INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_body, error, trigger) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?),", k), ","), args...); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
	}
	last := map[string]*attemptReq{} // per webhook: the outcome before, in this call
	for _, r := range rs {
		r.recovered = false
		o := r.o
		if _, ok := numbers[o.DeliveryID]; !ok || o.Trigger == "test" {
			// Send Test Event says nothing of how real deliveries go: it
			// neither clears a failure (which would skip auto-replay) nor
			// starts the auto-disable clock.
			continue
		}
		prev := last[o.WebhookID]
		last[o.WebhookID] = r
		if prev != nil && !o.Gone && !prev.o.Gone && (prev.o.Status == StatusSucceeded) == (o.Status == StatusSucceeded) {
			continue // same kind as the one before: no change
		}
		if err := s.updateWebhookHealth(tx, o, now, &r.recovered); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLite) updateWebhookHealth(tx *txn, o *AttemptOutcome, now int64, recovered *bool) error {
	var err error
	switch {
	case o.Status == StatusSucceeded:
		// Writes only when something changes: this runs on every success.
		// The writer's view of the webhook (in step with every write to
		// the table) says when neither update would; the first update
		// says whether it was failing.
		h, err := s.writerView(tx, o.WebhookID)
		if err != nil {
			return fmt.Errorf("webhook health: %w", err)
		}
		if h == nil || h.FailingSince != 0 {
			res, err := tx.Exec("UPDATE webhooks SET failing_since = 0, last_success_at = ? WHERE id = ? AND failing_since != 0", now, o.WebhookID)
			if err != nil {
				return fmt.Errorf("webhook health: %w", err)
			}
			n, _ := res.RowsAffected()
			*recovered = n > 0
		}
		if h == nil || h.LastSuccessAt < now-60_000 {
			_, err = tx.Exec("UPDATE webhooks SET last_success_at = ? WHERE id = ? AND last_success_at < ?", now, o.WebhookID, now-60_000)
			if err != nil {
				return fmt.Errorf("webhook health: %w", err)
			}
		}
		return nil
	case o.Gone:
		_, err = tx.Exec(`UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?`,
			"the receiver answered 410 Gone at "+FormatTime(now)+": it says this endpoint no longer exists", now, o.WebhookID)
	default:
		h, verr := s.writerView(tx, o.WebhookID)
		if verr != nil {
			return fmt.Errorf("webhook health: %w", verr)
		}
		if h == nil || h.FailingSince == 0 {
			_, err = tx.Exec("UPDATE webhooks SET failing_since = ? WHERE id = ? AND failing_since = 0", now, o.WebhookID)
		}
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
