package store

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pgSchema is version 1 of the schema on PostgreSQL: schema.sql with every
// SQLite step applied, in PostgreSQL's words.
//
//go:embed postgres_schema.sql
var pgSchema string

// pgMigrations are the schema changes after version 1 on PostgreSQL, as
// migrations are on SQLite: step i moves herald_schema.version from i+1 to
// i+2, in one transaction. A step added to migrations for SQLite gets its
// PostgreSQL twin here in the same change. Append only.
//
// The messages table of version 1 is no longer read or written (SQLite's
// step 4 dropped its own): it is left in place so that nodes of the
// version before, still running beside upgraded ones, keep working. A
// later step drops it.
var pgMigrations = []string{}

// pgMigrate brings the database to version 1+len(steps). Nodes that start
// together take turns (an advisory lock), so each step runs once; a
// database newer than this binary is refused.
func pgMigrate(ctx context.Context, pool *pgxpool.Pool, schema string, steps []string) error {
	latest := 1 + len(steps)
	for v := 0; v < latest; {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+pgLockSpace+", $1)", pgLockMigrate); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS herald_schema (version INTEGER NOT NULL)"); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		err = tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM herald_schema").Scan(&v)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > latest {
			return fmt.Errorf("database schema version %d is newer than this binary understands (%d): upgrade Herald", v, latest)
		}
		if v == latest {
			return tx.Commit(ctx)
		}
		step := schema
		if v > 0 {
			step = steps[v-1]
		}
		if _, err := tx.Exec(ctx, step); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM herald_schema; INSERT INTO herald_schema (version) VALUES ("+fmt.Sprint(v+1)+")"); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		v++
	}
	return nil
}
