package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema changes after version 1 (schema.sql), in order:
// step i moves PRAGMA user_version from i+1 to i+2, in one transaction.
// Append only: never edit a step that has shipped.
var migrations = []string{
	// 2: every previous secret is kept until its own expiry; the delivery
	// states gain "retrying" (an attempt failed, another is scheduled) and
	// lose "cancelled" (never set); webhooks may be ordered per contact.
	`ALTER TABLE webhooks ADD COLUMN previous_secrets TEXT NOT NULL DEFAULT '[]';
	UPDATE webhooks SET previous_secrets = json_array(json_object('secret', previous_secret, 'expires_at', previous_expires_at))
		WHERE previous_secret != '';
	ALTER TABLE webhooks DROP COLUMN previous_secret;
	ALTER TABLE webhooks DROP COLUMN previous_expires_at;
	ALTER TABLE webhooks ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
	UPDATE deliveries SET status = 'retrying' WHERE status = 'pending' AND attempt_count > 0;
	UPDATE deliveries SET status = 'failed' WHERE status = 'cancelled';
	DROP INDEX deliveries_claim;
	DROP INDEX deliveries_due;
	CREATE INDEX deliveries_claim ON deliveries (webhook_id, next_attempt_at, id) WHERE status IN ('pending', 'retrying');
	CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');`,
	// 3: one b-tree less to update on every delivery's way: when the next
	// delivery is due is read per enabled webhook from deliveries_claim.
	`DROP INDEX deliveries_due;`,
	// 4: a contact's conversation is read from its stored message events
	// (conversation.go): three b-trees less to write for every message.
	`DROP TABLE messages;
	DELETE FROM kv WHERE key = 'reconcile.message_id';`,
}

// migrate brings db to version 1+len(steps): a new database gets schema.sql
// then every step; an older one only the steps it lacks. A database newer
// than this binary is refused rather than misread.
func migrate(db conn, schema string, steps []string) error {
	latest := 1 + len(steps)
	var version int
	if err := db.QueryRowContext(context.Background(), "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > latest {
		return fmt.Errorf("database schema version %d is newer than this binary understands (%d): upgrade Herald", version, latest)
	}
	for v := version; v < latest; v++ {
		step := schema
		if v > 0 {
			step = steps[v-1]
		}
		if err := migrateStep(db, step, v+1); err != nil {
			return err
		}
	}
	return nil
}

// conn is a *sql.DB or the writer's *sql.Conn.
type conn interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func migrateStep(db conn, step string, to int) error {
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("migrate to version %d: %w", to, err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(step); err != nil {
		return fmt.Errorf("migrate to version %d: %w", to, err)
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", to)); err != nil {
		return fmt.Errorf("migrate to version %d: %w", to, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to version %d: %w", to, err)
	}
	return nil
}
