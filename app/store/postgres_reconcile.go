package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CreateReconcileRun records a run as it starts.
func (s *Postgres) CreateReconcileRun(ctx context.Context, r *ReconcileRun) error {
	return s.write(ctx, "create reconcile run", func(tx *pgTx) error {
		_, err := tx.Exec("INSERT INTO reconcile_runs (id, started_at, trigger) VALUES ($1, $2, $3)", r.ID, r.StartedAt, r.Trigger)
		if err != nil {
			return fmt.Errorf("create reconcile run: %w", err)
		}
		return nil
	})
}

// FinishReconcileRun stores what a run did.
func (s *Postgres) FinishReconcileRun(ctx context.Context, r *ReconcileRun) error {
	steps, err := json.Marshal(r.Steps)
	if err != nil {
		return fmt.Errorf("finish reconcile run: %w", err)
	}
	return s.write(ctx, "finish reconcile run", func(tx *pgTx) error {
		_, err := tx.Exec("UPDATE reconcile_runs SET finished_at = $1, steps = $2, error = $3 WHERE id = $4", r.FinishedAt, string(steps), r.Error, r.ID)
		if err != nil {
			return fmt.Errorf("finish reconcile run: %w", err)
		}
		return nil
	})
}

// FindReconcileRuns lists runs newest first, before the cursor (a run id).
func (s *Postgres) FindReconcileRuns(ctx context.Context, before string, limit int) ([]*ReconcileRun, error) {
	var args pgArgs
	q := "SELECT id, trigger, started_at, finished_at, steps, error FROM reconcile_runs"
	if before != "" {
		q += " WHERE id < " + args.add(before)
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY id DESC LIMIT "+args.add(limit), args...)
	if err != nil {
		return nil, s.opError("find reconcile runs", err)
	}
	defer rows.Close()
	var out []*ReconcileRun
	for rows.Next() {
		var r ReconcileRun
		var steps string
		if err := rows.Scan(&r.ID, &r.Trigger, &r.StartedAt, &r.FinishedAt, &steps, &r.Error); err != nil {
			return nil, fmt.Errorf("find reconcile runs: %w", err)
		}
		_ = json.Unmarshal([]byte(steps), &r.Steps)
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (s *Postgres) kvGetInt(tx *pgTx, key string) (int64, error) {
	v, err := s.kvGet(tx.ctx, tx.tx, key)
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// FillDeliveryGaps: see SQLite.FillDeliveryGaps. The cron job runs on one
// node at a time; the kv mark is locked as well, for manual runs.
func (s *Postgres) FillDeliveryGaps(ctx context.Context, settledMS, sinceMS int64, limit int) (GapScan, error) {
	var out GapScan
	err := s.write(ctx, "fill delivery gaps", func(tx *pgTx) error {
		out = GapScan{}
		if _, err := tx.Exec("INSERT INTO kv (key, value) VALUES ($1, '0') ON CONFLICT DO NOTHING", kvGapSeq); err != nil {
			return fmt.Errorf("gap check: %w", err)
		}
		var markText string
		if err := tx.QueryRow("SELECT value FROM kv WHERE key = $1 FOR UPDATE", kvGapSeq).Scan(&markText); err != nil {
			return fmt.Errorf("gap check: %w", err)
		}
		mark, _ := strconv.ParseInt(markText, 10, 64)
		rows, err := tx.Query("SELECT "+eventColumns+" FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", mark, limit)
		if err != nil {
			return fmt.Errorf("gap check: %w", err)
		}
		var evs []*Event
		settled := true
		for rows.Next() {
			ev, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("gap check: %w", err)
			}
			if ev.CreatedAt >= settledMS {
				settled = false
				break
			}
			evs = append(evs, ev)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("gap check: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		out.More = settled && len(evs) == limit
		last := evs[len(evs)-1].Seq
		have := map[[2]string]bool{}
		prows, err := tx.Query(`SELECT d.event_id, d.webhook_id FROM events e JOIN deliveries d ON d.event_id = e.id
			WHERE e.seq > $1 AND e.seq <= $2`, mark, last)
		if err != nil {
			return fmt.Errorf("gap check: %w", err)
		}
		for prows.Next() {
			var k [2]string
			if err := prows.Scan(&k[0], &k[1]); err != nil {
				prows.Close()
				return fmt.Errorf("gap check: %w", err)
			}
			have[k] = true
		}
		prows.Close()
		hooks, err := pgFindWebhooks(tx.ctx, tx.tx, "WHERE enabled ORDER BY id")
		if err != nil {
			return err
		}
		now := s.NowMS()
		for _, ev := range evs {
			if ev.Source == "test" || ev.CreatedAt < sinceMS {
				continue
			}
			for _, h := range hooks {
				if h.UpdatedAt > ev.CreatedAt || have[[2]string{ev.ID, h.ID}] || !h.Matches(ev) {
					continue
				}
				if err := pgInsertDelivery(tx, s.NewID("dlv_"), ev.ID, h.ID, "reconcile", now); err != nil {
					return err
				}
				out.Filled++
			}
		}
		return pgKvSet(tx, kvGapSeq, strconv.FormatInt(last, 10))
	})
	return out, err
}

// SourceCursor returns the stored cursor for the source at url, or "".
func (s *Postgres) SourceCursor(ctx context.Context, url string) (string, error) {
	v, err := s.kvGet(ctx, s.pool, kvSourceCursor)
	if err != nil || v == "" {
		return "", s.opError("source cursor", err)
	}
	var c sourceCursor
	if err := json.Unmarshal([]byte(v), &c); err != nil || c.URLHash != sha256Hex(url) {
		return "", nil
	}
	return c.Cursor, nil
}

// SaveSourceCursor stores the cursor for the source at url.
func (s *Postgres) SaveSourceCursor(ctx context.Context, url, cursor string) error {
	return s.write(ctx, "save source cursor", func(tx *pgTx) error {
		return pgKvSet(tx, kvSourceCursor, mustJSON(sourceCursor{URLHash: sha256Hex(url), Cursor: cursor}))
	})
}

// MarkRecovered remembers that a webhook succeeded after failing.
func (s *Postgres) MarkRecovered(ctx context.Context, webhookID string) error {
	return s.write(ctx, "mark recovered", func(tx *pgTx) error {
		return pgKvSet(tx, kvReplayPrefix+webhookID, strconv.FormatInt(s.NowMS(), 10))
	})
}

// RecoveredWebhooks lists the webhooks marked by MarkRecovered.
func (s *Postgres) RecoveredWebhooks(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT key FROM kv WHERE starts_with(key, $1)", kvReplayPrefix)
	if err != nil {
		return nil, s.opError("recovered webhooks", err)
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

// ReplayRecovered: see SQLite.ReplayRecovered.
func (s *Postgres) ReplayRecovered(ctx context.Context, webhookID string, limit int) (int, error) {
	n := 0
	err := s.write(ctx, "replay recovered", func(tx *pgTx) error {
		n = 0
		forget := func() error {
			_, err := tx.Exec("DELETE FROM kv WHERE key = $1", kvReplayPrefix+webhookID)
			return err
		}
		h, err := scanWebhook(tx.QueryRow("SELECT "+webhookColumns+" FROM webhooks WHERE id = $1", webhookID))
		if isNoRows(err) {
			return forget()
		}
		if err != nil {
			return fmt.Errorf("auto replay: %w", err)
		}
		if !h.Enabled || !h.AutoReplay || h.FailingSince != 0 {
			return forget()
		}
		now := s.NowMS()
		tag, err := tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, next_attempt_at = $1, trigger = 'replay', cycle_start = attempt_count,
			updated_at = $1 WHERE id IN (SELECT d.id FROM deliveries d WHERE d.webhook_id = $2 AND d.status = 'failed' AND d.updated_at <= $3
				AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.trigger = 'replay')
				ORDER BY d.created_at, d.id LIMIT $4 FOR UPDATE SKIP LOCKED)`, now, h.ID, h.LastSuccessAt, limit)
		if err != nil {
			return fmt.Errorf("auto replay: %w", err)
		}
		n = int(tag.RowsAffected())
		if n < limit {
			return forget()
		}
		return nil
	})
	return n, err
}

// DisableFailingWebhooks switches off enabled webhooks that have had no
// success for window, and says why.
func (s *Postgres) DisableFailingWebhooks(ctx context.Context, window time.Duration) ([]DisabledWebhook, error) {
	var out []DisabledWebhook
	err := s.write(ctx, "disable failing webhooks", func(tx *pgTx) error {
		out = out[:0]
		now := s.NowMS()
		rows, err := tx.Query("SELECT id, failing_since FROM webhooks WHERE enabled AND failing_since != 0 AND failing_since <= $1 FOR UPDATE",
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
		rows.Close()
		if err = errors.Join(err, rows.Err()); err != nil {
			return fmt.Errorf("auto disable: %w", err)
		}
		for _, d := range out {
			reason := fmt.Sprintf("disabled automatically: no delivery has succeeded since %s (over %s); fix the receiver, then enable the webhook again",
				FormatTime(d.FailingSince), HumanDuration(window))
			if _, err := tx.Exec("UPDATE webhooks SET enabled = false, disabled_reason = $1, updated_at = $2 WHERE id = $3", reason, now, d.ID); err != nil {
				return fmt.Errorf("auto disable: %w", err)
			}
		}
		return nil
	})
	return out, err
}

// PruneEvents deletes up to limit events created before beforeMS (see
// SQLite.PruneEvents).
func (s *Postgres) PruneEvents(ctx context.Context, beforeMS int64, limit int) (int, error) {
	return s.deleteRows(ctx, "prune events", pgPruneEvents, beforeMS, limit)
}

// pgPruneEvents works batch by batch over a table that holds weeks;
// TestPostgresPlansReadByIndex checks that it reads by index.
const pgPruneEvents = `DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE e.created_at < $1
	AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'in_flight', 'retrying'))
	ORDER BY e.created_at LIMIT $2)`

// PruneReconcileRuns deletes runs started before beforeMS, and all but the
// newest keep.
func (s *Postgres) PruneReconcileRuns(ctx context.Context, beforeMS int64, keep int) (int, error) {
	return s.deleteRows(ctx, "prune reconcile runs", `DELETE FROM reconcile_runs WHERE started_at < $1
		OR id NOT IN (SELECT id FROM reconcile_runs ORDER BY id DESC LIMIT $2)`, beforeMS, keep)
}

func (s *Postgres) deleteRows(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, "delete rows", func(tx *pgTx) error {
		tag, err := tx.Exec(query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}
