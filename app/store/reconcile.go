package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// kv keys kept by reconciliation.
const (
	kvGapSeq       = "reconcile.gap_seq"       // events up to this seq were checked for missing deliveries
	kvSourceCursor = "reconcile.source_cursor" // {"url_hash", "cursor"}
	kvReplayPrefix = "reconcile.replay:"       // + webhook id: it recovered, replay what failed before
)

// ReconcileRun is one run of the reconciliation job.
type ReconcileRun struct {
	ID         string
	Trigger    string // cron or manual
	StartedAt  int64
	FinishedAt int64 // 0 while running
	Steps      ReconcileSteps
	Error      string
}

// ReconcileSteps is what each step found and did, stored as JSON.
type ReconcileSteps struct {
	Requeued  int         `json:"requeued"`
	GapFilled int         `json:"gap_filled"`
	Source    SourceStats `json:"source"`
	Replayed  int         `json:"replayed"`
	Disabled  int         `json:"disabled"`
	Pruned    PruneStats  `json:"pruned"`
	Errors    []string    `json:"errors"`
}

// SourceStats is what the source catch-up fetched and stored.
type SourceStats struct {
	Ingested int    `json:"ingested"` // new to Herald
	Known    int    `json:"known"`    // already stored with the same content
	Skipped  int    `json:"skipped"`  // invalid, or an id reused with other content
	Pages    int    `json:"pages"`
	Error    string `json:"error"`
}

// PruneStats counts what retention deleted.
type PruneStats struct {
	Events int `json:"events"`
	// Messages is always 0 now: a conversation is read from its events and
	// goes with them. Kept in the API for the clients that read it.
	Messages int `json:"messages"`
	Runs     int `json:"runs"`
}

// CreateReconcileRun records a run as it starts.
func (s *SQLite) CreateReconcileRun(ctx context.Context, r *ReconcileRun) error {
	return s.write(ctx, "create reconcile run", func(tx *txn) error {
		_, err := tx.Exec("INSERT INTO reconcile_runs (id, started_at, trigger) VALUES (?, ?, ?)", r.ID, r.StartedAt, r.Trigger)
		if err != nil {
			return fmt.Errorf("create reconcile run: %w", err)
		}
		return nil
	})
}

// FinishReconcileRun stores what a run did.
func (s *SQLite) FinishReconcileRun(ctx context.Context, r *ReconcileRun) error {
	steps, err := json.Marshal(r.Steps)
	if err != nil {
		return fmt.Errorf("finish reconcile run: %w", err)
	}
	return s.write(ctx, "finish reconcile run", func(tx *txn) error {
		_, err := tx.Exec("UPDATE reconcile_runs SET finished_at = ?, steps = ?, error = ? WHERE id = ?", r.FinishedAt, string(steps), r.Error, r.ID)
		if err != nil {
			return fmt.Errorf("finish reconcile run: %w", err)
		}
		return nil
	})
}

// FindReconcileRuns lists runs newest first, before the cursor (a run id).
func (s *SQLite) FindReconcileRuns(ctx context.Context, before string, limit int) ([]*ReconcileRun, error) {
	q := "SELECT id, trigger, started_at, finished_at, steps, error FROM reconcile_runs"
	args := []any{}
	if before != "" {
		q += " WHERE id < ?"
		args = append(args, before)
	}
	rows, err := s.read.QueryContext(ctx, q+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("find reconcile runs: %w", err)
	}
	defer rows.Close()
	var out []*ReconcileRun
	for rows.Next() {
		var r ReconcileRun
		var steps string
		if err := rows.Scan(&r.ID, &r.Trigger, &r.StartedAt, &r.FinishedAt, &steps, &r.Error); err != nil {
			return nil, fmt.Errorf("find reconcile runs: %w", err)
		}
		_ = json.Unmarshal([]byte(steps), &r.Steps) // "{}" while running: zero counts
		out = append(out, &r)
	}
	return out, rows.Err()
}

func kvGetTx(tx *txn, key string) (string, error) {
	var v string
	err := tx.QueryRow("SELECT value FROM kv WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func kvGetInt(tx *txn, key string) (int64, error) {
	v, err := kvGetTx(tx, key)
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// GapScan is what one batch of the gap check did.
type GapScan struct {
	Filled int  // deliveries created
	More   bool // the batch was full: there may be more to check
}

// FillDeliveryGaps checks the next events after the kv mark, up to limit,
// stopping at the first one created at or after settledMS. Each gets the
// deliveries it should have had at ingest: to every enabled webhook that
// matches it and has not changed since (so its settings then are known).
// Events created before sinceMS are passed over. The mark moves on in the
// same transaction.
func (s *SQLite) FillDeliveryGaps(ctx context.Context, settledMS, sinceMS int64, limit int) (GapScan, error) {
	var out GapScan
	err := s.write(ctx, "fill delivery gaps", func(tx *txn) error {
		out = GapScan{}
		mark, err := kvGetInt(tx, kvGapSeq)
		if err != nil {
			return fmt.Errorf("gap check: %w", err)
		}
		evs, full, err := settledEvents(tx, mark, settledMS, limit)
		if err != nil || len(evs) == 0 {
			return err
		}
		out.More = full
		last := evs[len(evs)-1].Seq
		have, err := deliveredPairs(tx, mark, last)
		if err != nil {
			return err
		}
		hooks, err := findWebhooks(tx, "WHERE enabled = 1 ORDER BY id")
		if err != nil {
			return err
		}
		now := s.NowMS()
		for _, ev := range evs {
			if ev.Source == "test" || ev.CreatedAt < sinceMS {
				continue
			}
			for _, h := range hooks {
				// Changed in the same millisecond or later: maybe after the event.
				if h.UpdatedAt >= ev.CreatedAt || have[[2]string{ev.ID, h.ID}] || !h.Matches(ev) {
					continue
				}
				if err := insertDelivery(tx, s.NewID("dlv_"), ev.ID, h.ID, "reconcile", now); err != nil {
					return err
				}
				out.Filled++
			}
		}
		return kvSet(tx, kvGapSeq, strconv.FormatInt(last, 10))
	})
	return out, err
}

// settledEvents returns up to limit events after seq, oldest first, up to
// the first one not yet settled; full says the limit was reached.
func settledEvents(tx *txn, after, settledMS int64, limit int) ([]*Event, bool, error) {
	rows, err := tx.Query("SELECT "+eventColumns+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("gap check: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, false, fmt.Errorf("gap check: %w", err)
		}
		if ev.CreatedAt >= settledMS {
			return out, false, nil
		}
		out = append(out, ev)
	}
	return out, len(out) == limit, rows.Err()
}

// deliveredPairs returns the (event, webhook) pairs that have a delivery,
// for events with after < seq <= last.
func deliveredPairs(tx *txn, after, last int64) (map[[2]string]bool, error) {
	rows, err := tx.Query(`SELECT d.event_id, d.webhook_id FROM events e JOIN deliveries d ON d.event_id = e.id
		WHERE e.seq > ? AND e.seq <= ?`, after, last)
	if err != nil {
		return nil, fmt.Errorf("gap check: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]bool{}
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return nil, fmt.Errorf("gap check: %w", err)
		}
		out[k] = true
	}
	return out, rows.Err()
}

// sourceCursor is the stored position in the source's event list. It is
// tied to the source URL (hashed: it may carry a key) so pointing Herald at
// another source starts from its beginning.
type sourceCursor struct {
	URLHash string `json:"url_hash"`
	Cursor  string `json:"cursor"`
}

// SourceCursor returns the stored cursor for the source at url, or "".
func (s *SQLite) SourceCursor(ctx context.Context, url string) (string, error) {
	v, err := s.kvGet(ctx, kvSourceCursor)
	if err != nil || v == "" {
		return "", err
	}
	var c sourceCursor
	if err := json.Unmarshal([]byte(v), &c); err != nil || c.URLHash != sha256Hex(url) {
		return "", nil
	}
	return c.Cursor, nil
}

// SaveSourceCursor stores the cursor for the source at url.
func (s *SQLite) SaveSourceCursor(ctx context.Context, url, cursor string) error {
	return s.write(ctx, "save source cursor", func(tx *txn) error {
		return kvSet(tx, kvSourceCursor, mustJSON(sourceCursor{URLHash: sha256Hex(url), Cursor: cursor}))
	})
}

// MarkRecovered remembers that a webhook succeeded after failing, so the
// job replays what failed meanwhile. Kept in the database to survive restarts.
func (s *SQLite) MarkRecovered(ctx context.Context, webhookID string) error {
	return s.write(ctx, "mark recovered", func(tx *txn) error {
		return kvSet(tx, kvReplayPrefix+webhookID, strconv.FormatInt(s.NowMS(), 10))
	})
}

// RecoveredWebhooks lists the webhooks marked by MarkRecovered.
func (s *SQLite) RecoveredWebhooks(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT key FROM kv WHERE key GLOB ?", kvReplayPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("recovered webhooks: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("recovered webhooks: %w", err)
		}
		out = append(out, strings.TrimPrefix(k, kvReplayPrefix))
	}
	return out, rows.Err()
}

// ReplayRecovered re-queues, oldest first, up to limit deliveries of a
// recovered webhook that failed before its last success. Each is replayed
// automatically at most once, so an event the receiver always refuses does
// not loop. The mark is dropped when nothing is left, or when the webhook is
// gone, disabled, failing again or has auto_replay off.
func (s *SQLite) ReplayRecovered(ctx context.Context, webhookID string, limit int) (int, error) {
	n := 0
	err := s.write(ctx, "replay recovered", func(tx *txn) error {
		n = 0
		forget := func() error {
			_, err := tx.Exec("DELETE FROM kv WHERE key = ?", kvReplayPrefix+webhookID)
			return err
		}
		h, err := scanWebhook(tx.QueryRow("SELECT "+webhookColumns+" FROM webhooks WHERE id = ?", webhookID))
		if errors.Is(err, sql.ErrNoRows) {
			return forget()
		}
		if err != nil {
			return fmt.Errorf("auto replay: %w", err)
		}
		if !h.Enabled || !h.AutoReplay || h.FailingSince != 0 {
			return forget()
		}
		now := s.NowMS()
		res, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, next_attempt_at = ?, trigger = 'replay', cycle_start = attempt_count,
			updated_at = ? WHERE id IN (SELECT d.id FROM deliveries d WHERE d.webhook_id = ? AND d.status = 'failed' AND d.updated_at <= ?
				AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.trigger = 'replay')
				ORDER BY d.created_at, d.id LIMIT ?)`, now, now, h.ID, h.LastSuccessAt, limit)
		if err != nil {
			return fmt.Errorf("auto replay: %w", err)
		}
		affected, _ := res.RowsAffected()
		n = int(affected)
		if n < limit {
			return forget()
		}
		return nil
	})
	return n, err
}

// DisabledWebhook is a webhook switched off for failing too long.
type DisabledWebhook struct {
	ID           string
	FailingSince int64
}

// DisableFailingWebhooks switches off enabled webhooks that have had no
// success for window, and says why in disabled_reason.
func (s *SQLite) DisableFailingWebhooks(ctx context.Context, window time.Duration) ([]DisabledWebhook, error) {
	var out []DisabledWebhook
	err := s.write(ctx, "disable failing webhooks", func(tx *txn) error {
		out = out[:0]
		now := s.NowMS()
		rows, err := tx.Query("SELECT id, failing_since FROM webhooks WHERE enabled = 1 AND failing_since != 0 AND failing_since <= ?",
			now-window.Milliseconds())
		if err != nil {
			return fmt.Errorf("auto disable: %w", err)
		}
		for rows.Next() {
			var d DisabledWebhook
			if err = rows.Scan(&d.ID, &d.FailingSince); err != nil {
				break
			}
			out = append(out, d)
		}
		if err = errors.Join(err, rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("auto disable: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		for _, d := range out {
			reason := fmt.Sprintf("disabled automatically: no delivery has succeeded since %s (over %s); fix the receiver, then enable the webhook again",
				FormatTime(d.FailingSince), HumanDuration(window))
			if _, err := tx.Exec("UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?", reason, now, d.ID); err != nil {
				return fmt.Errorf("auto disable: %w", err)
			}
		}
		return nil
	})
	return out, err
}

// HumanDuration writes whole days as days ("5 days"), anything else as Go does.
func HumanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > day && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// PruneEvents deletes up to limit events created before beforeMS, with
// their deliveries, attempts and summaries, keeping any event that still
// has a delivery waiting or in flight.
func (s *SQLite) PruneEvents(ctx context.Context, beforeMS int64, limit int) (int, error) {
	return s.deleteRows(ctx, "prune events", `DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE e.created_at < ?
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'in_flight', 'retrying'))
		ORDER BY e.created_at LIMIT ?)`, beforeMS, limit)
}

// PruneReconcileRuns deletes runs started before beforeMS, and all but the
// newest keep.
func (s *SQLite) PruneReconcileRuns(ctx context.Context, beforeMS int64, keep int) (int, error) {
	return s.deleteRows(ctx, "prune reconcile runs", `DELETE FROM reconcile_runs WHERE started_at < ?
		OR id NOT IN (SELECT id FROM reconcile_runs ORDER BY id DESC LIMIT ?)`, beforeMS, keep)
}

func (s *SQLite) deleteRows(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, "delete rows", func(tx *txn) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
