package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// StatsBucket is one bar of the charts: the deliveries created (for
// automatic ones: the event acknowledged) in [Start, Start+width).
type StatsBucket struct {
	Start     int64 // unix ms
	Succeeded int
	Failed    int
	Retried   int   // needed more than one attempt, or waits for the next one
	P50MS     int64 // latency of the succeeded ones; 0 when none succeeded
	P99MS     int64
}

// DeliveryStats counts deliveries per bucket of width from start (unix ms),
// for one webhook or ("") all. Latency is from the delivery's creation to
// the end of its successful attempt; percentiles are nearest-rank.
func (s *SQLite) DeliveryStats(ctx context.Context, webhookID string, start int64, width time.Duration, n int) ([]StatsBucket, error) {
	w := width.Milliseconds()
	out := make([]StatsBucket, n)
	for i := range out {
		out[i].Start = start + int64(i)*w
	}
	// Delivery ids are ULIDs that sort by creation: a range on the primary
	// key (or on (webhook_id, id)) reads only the window's rows.
	where := []string{"d.id >= ?", "d.created_at >= ?", "d.created_at < ?"}
	args := []any{"dlv_" + ulidPrefix(start), start, start + int64(n)*w}
	if webhookID != "" {
		where = append(where, "d.webhook_id = ?")
		args = append(args, webhookID)
	}
	q := `WITH d AS (
		SELECT (d.created_at - ?) / ? AS b, d.status, d.attempt_count,
			CASE WHEN d.status = 'succeeded' THEN d.updated_at - d.created_at END AS ms
		FROM deliveries d WHERE ` + strings.Join(where, " AND ") + `),
	ranked AS (
		SELECT b, ms, ROW_NUMBER() OVER (PARTITION BY b ORDER BY ms) AS rn, COUNT(*) OVER (PARTITION BY b) AS cnt
		FROM d WHERE ms IS NOT NULL),
	pct AS (
		SELECT b, MIN(CASE WHEN rn * 100 >= cnt * 50 THEN ms END) AS p50, MIN(CASE WHEN rn * 100 >= cnt * 99 THEN ms END) AS p99
		FROM ranked GROUP BY b)
	SELECT c.b, c.ok, c.bad, c.again, COALESCE(p.p50, 0), COALESCE(p.p99, 0) FROM (
		SELECT b, SUM(status = 'succeeded') AS ok, SUM(status = 'failed') AS bad,
			SUM(attempt_count > 1 OR (attempt_count = 1 AND status IN ('pending', 'retrying'))) AS again
		FROM d GROUP BY b) c LEFT JOIN pct p ON p.b = c.b`
	rows, err := s.read.QueryContext(ctx, q, append([]any{start, w}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("delivery stats: %w", err)
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

// ulidPrefix is the smallest ULID of a millisecond: every id made at or
// after ms sorts at or after it.
func ulidPrefix(ms int64) string {
	var id ulid.ULID
	_ = id.SetTime(uint64(max(ms, 0)))
	return id.String()
}
