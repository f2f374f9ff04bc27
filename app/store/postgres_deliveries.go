package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// FindDeliveryByID returns a delivery.
func (s *Postgres) FindDeliveryByID(ctx context.Context, id string) (*Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, "SELECT "+deliveryColumns+deliveryFrom+"WHERE d.id = $1", id))
	if isNoRows(err) {
		return nil, notFound("delivery")
	}
	return d, s.opError("find delivery", err)
}

// FindDeliveries lists deliveries newest first.
func (s *Postgres) FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error) {
	var where []string
	var args pgArgs
	if f.WebhookID != "" {
		where = append(where, "d.webhook_id = "+args.add(f.WebhookID))
	}
	if f.EventID != "" {
		where = append(where, "d.event_id = "+args.add(f.EventID))
	}
	if f.Status == StatusUndelivered {
		where = append(where, "d.status != 'succeeded'")
	} else if f.Status != "" {
		where = append(where, "d.status = "+args.add(f.Status))
	}
	if f.Before != "" {
		where = append(where, "d.id < "+args.add(f.Before))
	}
	q := "SELECT " + deliveryColumns + deliveryFrom
	if len(where) > 0 {
		q += "WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT " + args.add(f.Limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.opError("find deliveries", err)
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
func (s *Postgres) FindAttempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT number, started_at, duration_ms, status_code, response_body, error, trigger
		FROM attempts WHERE delivery_id = $1 ORDER BY number, id`, deliveryID)
	if err != nil {
		return nil, s.opError("find attempts", err)
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

// RetryDelivery makes a delivery due now (see SQLite.RetryDelivery).
func (s *Postgres) RetryDelivery(ctx context.Context, id string, retries int) error {
	return s.write(ctx, "retry delivery", func(tx *pgTx) error {
		var status string
		var count int
		err := tx.QueryRow("SELECT status, attempt_count FROM deliveries WHERE id = $1 FOR UPDATE", id).Scan(&status, &count)
		if isNoRows(err) {
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
			_, err = tx.Exec("UPDATE deliveries SET next_attempt_at = $1, trigger = 'manual', updated_at = $1 WHERE id = $2", now, id)
		default:
			_, err = tx.Exec(`UPDATE deliveries SET status = `+sqlRequeued+`, next_attempt_at = $1, trigger = 'manual', cycle_start = $2,
				updated_at = $1 WHERE id = $3`, now, count-retries, id)
		}
		return err
	})
}

// Replay makes a webhook's deliveries of events in [Since, Until) due now
// (see SQLite.Replay).
func (s *Postgres) Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	var out ReplayResult
	err := s.write(ctx, "replay", func(tx *pgTx) error {
		out = ReplayResult{}
		h, err := scanWebhook(tx.QueryRow("SELECT "+webhookColumns+" FROM webhooks WHERE id = $1", o.WebhookID))
		if isNoRows(err) {
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
		// FOR UPDATE OF d: a replay on another node waits, then sees what
		// this one queued, so overlapping replays queue each delivery once.
		rows, err := tx.Query(`SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id
			WHERE d.webhook_id = $1 AND d.status IN (`+states+`) AND e.created_at >= $2 AND e.created_at < $3 ORDER BY e.seq FOR UPDATE OF d`,
			h.ID, o.Since, until)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if out.DeliveryIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		var missing []string
		if o.Status == ReplayAll {
			if missing, err = pgMissingDeliveries(tx, h, o.Since, until); err != nil {
				return err
			}
		}
		if o.DryRun {
			out.Count = len(out.DeliveryIDs) + len(missing)
			return nil
		}
		now := s.NowMS()
		if _, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = $1, trigger = 'replay', updated_at = $1,
			cycle_start = CASE WHEN status IN ('failed', 'succeeded') THEN attempt_count ELSE cycle_start END,
			status = CASE WHEN status IN ('failed', 'succeeded') THEN `+sqlRequeued+` ELSE status END
			WHERE id = ANY($2)`, now, out.DeliveryIDs); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		for _, evID := range missing {
			id := s.NewID("dlv_")
			if err := pgInsertDelivery(tx, id, evID, h.ID, "replay", now); err != nil {
				return err
			}
			out.DeliveryIDs = append(out.DeliveryIDs, id)
		}
		out.Count = len(out.DeliveryIDs)
		return nil
	})
	return out, err
}

func pgMissingDeliveries(tx *pgTx, h *Webhook, since, until int64) ([]string, error) {
	rows, err := tx.Query("SELECT "+eventColumns+` FROM events e WHERE created_at >= $1 AND created_at < $2 AND source != 'test'
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.webhook_id = $3) ORDER BY seq`, since, until, h.ID)
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

// QueueDepth counts deliveries waiting or in flight, on every node.
func (s *Postgres) QueueDepth(ctx context.Context) (pending, inFlight int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE `+sqlWaiting+`),
		(SELECT count(*) FROM deliveries WHERE status = 'in_flight')`).Scan(&pending, &inFlight)
	return pending, inFlight, s.opError("queue depth", err)
}

// HurryPluginDeliveries makes every waiting delivery to a plugin webhook due now.
func (s *Postgres) HurryPluginDeliveries(ctx context.Context) error {
	return s.write(ctx, "hurry plugin deliveries", func(tx *pgTx) error {
		now := s.NowMS()
		_, err := tx.Exec(`UPDATE deliveries SET next_attempt_at = $1 WHERE `+sqlWaiting+` AND next_attempt_at > $1
			AND webhook_id IN (SELECT id FROM webhooks WHERE sink = 'plugin')`, now)
		return err
	})
}

// DeliveryStats counts deliveries per bucket (see SQLite.DeliveryStats).
func (s *Postgres) DeliveryStats(ctx context.Context, webhookID string, start int64, width time.Duration, n int) ([]StatsBucket, error) {
	w := width.Milliseconds()
	out := make([]StatsBucket, n)
	for i := range out {
		out[i].Start = start + int64(i)*w
	}
	args := pgArgs{start, w}
	where := []string{"d.id >= " + args.add("dlv_"+ulidPrefix(start)), "d.created_at >= " + args.add(start),
		"d.created_at < " + args.add(start+int64(n)*w)}
	if webhookID != "" {
		where = append(where, "d.webhook_id = "+args.add(webhookID))
	}
	q := `WITH d AS (
		SELECT (d.created_at - $1) / $2 AS b, d.status, d.attempt_count,
			CASE WHEN d.status = 'succeeded' THEN d.updated_at - d.created_at END AS ms
		FROM deliveries d WHERE ` + strings.Join(where, " AND ") + `),
	ranked AS (
		SELECT b, ms, ROW_NUMBER() OVER (PARTITION BY b ORDER BY ms) AS rn, COUNT(*) OVER (PARTITION BY b) AS cnt
		FROM d WHERE ms IS NOT NULL),
	pct AS (
		SELECT b, MIN(CASE WHEN rn * 100 >= cnt * 50 THEN ms END) AS p50, MIN(CASE WHEN rn * 100 >= cnt * 99 THEN ms END) AS p99
		FROM ranked GROUP BY b)
	SELECT c.b, c.ok, c.bad, c.again, COALESCE(p.p50, 0), COALESCE(p.p99, 0) FROM (
		SELECT b, count(*) FILTER (WHERE status = 'succeeded') AS ok, count(*) FILTER (WHERE status = 'failed') AS bad,
			count(*) FILTER (WHERE attempt_count > 1 OR (attempt_count = 1 AND status IN ('pending', 'retrying'))) AS again
		FROM d GROUP BY b) c LEFT JOIN pct p ON p.b = c.b`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.opError("delivery stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b int64
		var st StatsBucket
		if err := rows.Scan(&b, &st.Succeeded, &st.Failed, &st.Retried, &st.P50MS, &st.P99MS); err != nil {
			return nil, fmt.Errorf("delivery stats: %w", err)
		}
		if b >= 0 && b < int64(n) {
			st.Start = out[b].Start
			out[b] = st
		}
	}
	return out, rows.Err()
}
