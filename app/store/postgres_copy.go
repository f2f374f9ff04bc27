package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CopyCounts says how many rows of each table were copied.
type CopyCounts map[string]int64

// copyTables are the tables copied, parents first, with their columns; the
// flags are 0/1 integers on SQLite and booleans on PostgreSQL.
var copyTables = []struct {
	name, cols string
	flags      []string
}{
	{"events", "seq, id, event, timestamp, data, contact_id, content_hash, source, created_at", nil},
	{"event_summaries", "event_id, summary, created_at", nil},
	{"webhooks", webhookColumns, []string{"generate_summary", "enabled", "auto_replay", "ordered"}},
	{"deliveries", `id, event_id, webhook_id, status, attempt_count, cycle_start, next_attempt_at, lease_until, trigger,
		last_status_code, last_error, last_duration_ms, created_at, updated_at`, nil},
	{"attempts", "id, delivery_id, number, started_at, duration_ms, status_code, response_body, error, trigger", nil},
	{"tokens", "id, name, scope, hash, created_at, last_used_at", nil},
	{"kv", "key, value", nil},
	{"reconcile_runs", "id, started_at, finished_at, trigger, steps, error", nil},
}

// CopySQLiteToPostgres copies every row of the SQLite database in dataDir
// into Herald's schema at databaseURL (created if needed), which must hold
// no events, webhooks or tokens yet. The SQLite file is read in one read
// transaction and written in one PostgreSQL transaction: all or nothing.
// Deliveries that were in flight go back to the queue. Herald should be
// stopped on the SQLite file meanwhile, or what it takes in after the
// copy began stays behind.
func CopySQLiteToPostgres(ctx context.Context, dataDir, databaseURL string) (CopyCounts, error) {
	path := filepath.Join(dataDir, dbFileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (is HERALD_DATA_DIR right?): %w", path, err)
	}
	src, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	var version int
	if err := src.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if want := 1 + len(migrations); version != want {
		return nil, fmt.Errorf("%s is at schema version %d, this binary's is %d: start this version of Herald on it once (it migrates), stop it, then copy",
			path, version, want)
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	defer pool.Close()
	if err := pgMigrate(ctx, pool, pgSchema, pgMigrations); err != nil {
		return nil, err
	}
	rtx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer rtx.Rollback()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	defer tx.Rollback(ctx)
	var existing int
	if err := tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM webhooks) + (SELECT count(*) FROM tokens)").Scan(&existing); err != nil {
		return nil, err
	}
	if existing > 0 {
		return nil, errors.New("the PostgreSQL database already holds Herald data: copy into an empty one, before any node starts on it")
	}
	counts := CopyCounts{}
	for _, t := range copyTables {
		n, err := copyTable(ctx, rtx, tx, t.name, t.cols, t.flags)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t.name, err)
		}
		counts[t.name] = n
	}
	// What was in flight on the stopped server goes back to the queue, and
	// the identity columns continue after the copied rows.
	if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = `+sqlRequeued+`, lease_until = 0 WHERE status = 'in_flight'`); err != nil {
		return nil, err
	}
	for _, seq := range [][2]string{{"events", "seq"}, {"attempts", "id"}} {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'), coalesce(max(%[2]s), 0) + 1, false) FROM %[1]s`,
			seq[0], seq[1])); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return counts, nil
}

func copyTable(ctx context.Context, from *sql.Tx, to pgx.Tx, table, cols string, flags []string) (int64, error) {
	rows, err := from.QueryContext(ctx, "SELECT "+cols+" FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	isFlag := make([]bool, len(names))
	for i, n := range names {
		for _, f := range flags {
			isFlag[i] = isFlag[i] || n == f
		}
	}
	src := &sqliteRows{rows: rows, vals: make([]any, len(names)), isFlag: isFlag}
	n, err := to.CopyFrom(ctx, pgx.Identifier{table}, names, src)
	if err != nil {
		return n, err
	}
	return n, src.err
}

// sqliteRows feeds SQLite rows to COPY, turning flags into booleans and
// text read as bytes back into text.
type sqliteRows struct {
	rows   *sql.Rows
	vals   []any
	isFlag []bool
	err    error
}

func (r *sqliteRows) Next() bool {
	if !r.rows.Next() {
		r.err = r.rows.Err()
		return false
	}
	return true
}

func (r *sqliteRows) Values() ([]any, error) {
	ptrs := make([]any, len(r.vals))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]any, len(r.vals))
	for i, v := range r.vals {
		switch x := v.(type) {
		case []byte:
			out[i] = string(x)
		case int64:
			if r.isFlag[i] {
				out[i] = x != 0
			} else {
				out[i] = x
			}
		default:
			out[i] = x
		}
	}
	return out, nil
}

func (r *sqliteRows) Err() error { return r.err }
