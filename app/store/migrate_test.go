package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func openRaw(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrations(t *testing.T) {
	schema := testSchema(t)
	t.Run("a new database gets the schema and every step", func(t *testing.T) {
		db := openRaw(t, t.TempDir())
		steps := []string{"ALTER TABLE webhooks ADD COLUMN note TEXT NOT NULL DEFAULT ''"}
		if err := migrate(db, schema, steps); err != nil {
			t.Fatal(err)
		}
		var v int
		_ = db.QueryRow("PRAGMA user_version").Scan(&v)
		if v != 2 {
			t.Fatalf("user_version = %d, want 2", v)
		}
		if _, err := db.Exec("SELECT note FROM webhooks"); err != nil {
			t.Fatalf("step not applied: %v", err)
		}
	})
	t.Run("an old database gets only the steps it lacks, keeping its data", func(t *testing.T) {
		db := openRaw(t, t.TempDir())
		if err := migrate(db, schema, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO kv (key, value) VALUES ('k', 'v')"); err != nil {
			t.Fatal(err)
		}
		steps := []string{"CREATE TABLE extra (id INTEGER PRIMARY KEY)", "ALTER TABLE extra ADD COLUMN name TEXT"}
		if err := migrate(db, schema, steps); err != nil {
			t.Fatal(err)
		}
		var v, n int
		_ = db.QueryRow("PRAGMA user_version").Scan(&v)
		_ = db.QueryRow("SELECT count(*) FROM kv").Scan(&n)
		if v != 3 || n != 1 {
			t.Fatalf("user_version = %d, kv rows = %d", v, n)
		}
	})
	t.Run("a failing step changes nothing", func(t *testing.T) {
		db := openRaw(t, t.TempDir())
		if err := migrate(db, schema, nil); err != nil {
			t.Fatal(err)
		}
		if err := migrate(db, schema, []string{"CREATE TABLE ok (id INTEGER); SELECT nonsense FROM nowhere"}); err == nil {
			t.Fatal("a broken step was accepted")
		}
		var v int
		_ = db.QueryRow("PRAGMA user_version").Scan(&v)
		if _, err := db.Exec("SELECT * FROM ok"); v != 1 || err == nil {
			t.Fatalf("user_version = %d and table ok exists: %v", v, err)
		}
	})
	t.Run("a database newer than the binary is refused", func(t *testing.T) {
		dir := t.TempDir()
		db := openRaw(t, dir)
		if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err := Open(Options{Dir: dir, Schema: schema})
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSyncModes(t *testing.T) {
	for mode, want := range map[string]int{"normal": 1, "full": 2} {
		t.Run("sync "+mode+" sets PRAGMA synchronous on the writer", func(t *testing.T) {
			store := mustOpen(t, Options{Sync: mode})
			ctx := context.Background()
			var got int
			if err := store.writeConn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil || got != want {
				t.Fatalf("synchronous = %d (%v), want %d", got, err, want)
			}
			var journal string
			if err := store.writeConn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil || journal != "wal" {
				t.Fatalf("journal_mode = %q (%v)", journal, err)
			}
		})
	}
}

// A new database gets small pages (see pageSize); one made by an earlier
// version keeps its 4 KiB pages and works as before.
func TestPageSize(t *testing.T) {
	s := mustOpen(t, Options{})
	var got int
	if err := s.writeConn.QueryRowContext(context.Background(), "PRAGMA page_size").Scan(&got); err != nil || got != pageSize {
		t.Fatalf("a new database's page_size = %d (%v), want %d", got, err, pageSize)
	}

	dir := t.TempDir()
	old := openRaw(t, dir) // as earlier versions made it: SQLite's default size, then WAL
	if _, err := old.Exec("PRAGMA journal_mode = WAL"); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir})
	if err := s.writeConn.QueryRowContext(context.Background(), "PRAGMA page_size").Scan(&got); err != nil || got != 4096 {
		t.Fatalf("an existing database's page_size = %d (%v), want 4096 kept", got, err)
	}
	if s.frameSize != 4096+walFrameHeader {
		t.Fatalf("WAL frame size %d, want %d", s.frameSize, 4096+walFrameHeader)
	}
	newWebhook(t, s, "*")
	if _, err := s.InsertEvents(context.Background(), []*Event{eventFor(s, "new_message", "c1")}, nil); err != nil {
		t.Fatal(err)
	}
}

// Step 2 on a version 1 database with data: secrets, states and the claim
// index carry over.
func TestMigrationStep2KeepsData(t *testing.T) {
	dir := t.TempDir()
	db := openRaw(t, dir)
	if err := migrate(db, testSchema(t), nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO webhooks (id, secret, previous_secret, previous_expires_at, created_at, updated_at) VALUES ('wh_1', 'whsec_new', 'whsec_old', 9000, 1, 1)`,
		`INSERT INTO events (id, event, timestamp, data, content_hash, created_at) VALUES ('evt_1', 'contact_created', 1, '{}', 'h', 1)`,
		`INSERT INTO events (id, event, timestamp, data, content_hash, created_at) VALUES ('evt_2', 'contact_created', 1, '{}', 'h2', 1)`,
		`INSERT INTO events (id, event, timestamp, data, content_hash, created_at) VALUES ('evt_3', 'contact_created', 1, '{}', 'h3', 1)`,
		`INSERT INTO deliveries (id, event_id, webhook_id, status, attempt_count, next_attempt_at, created_at, updated_at) VALUES ('dlv_1', 'evt_1', 'wh_1', 'pending', 2, 5, 1, 1)`,
		`INSERT INTO deliveries (id, event_id, webhook_id, status, attempt_count, next_attempt_at, created_at, updated_at) VALUES ('dlv_2', 'evt_2', 'wh_1', 'pending', 0, 5, 1, 1)`,
		`INSERT INTO deliveries (id, event_id, webhook_id, status, attempt_count, next_attempt_at, created_at, updated_at) VALUES ('dlv_3', 'evt_3', 'wh_1', 'cancelled', 1, 5, 1, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := mustOpen(t, Options{Dir: dir})
	ctx := context.Background()
	h, err := s.FindWebhookByID(ctx, "wh_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Secrets(1000); !slices.Equal(got, []string{"whsec_new", "whsec_old"}) {
		t.Fatalf("secrets = %v; the rotated one was lost", got)
	}
	for id, want := range map[string]string{"dlv_1": StatusRetrying, "dlv_2": StatusPending, "dlv_3": StatusFailed} {
		d, err := s.FindDeliveryByID(ctx, id)
		if err != nil || d.Status != want {
			t.Fatalf("%s: %v, %v; want %s", id, d, err, want)
		}
	}
	claimed, err := s.ClaimDue(ctx, []string{"wh_1"}, map[string]int{"wh_1": 10}, 10, 60_000)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %d (%v); want the pending and the retrying one", len(claimed), err)
	}
}

// Step 3 drops deliveries_due: NextDue reads each enabled webhook's part of
// deliveries_claim instead, and still skips disabled webhooks.
func TestMigrationStep3NextDueWithoutDueIndex(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{})
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_due'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("deliveries_due: %d, %v", n, err)
	}
	if next, err := s.NextDue(ctx); err != nil || next != 0 {
		t.Fatalf("empty: %d, %v", next, err)
	}
	on, off := newWebhook(t, s, "*"), newWebhook(t, s, "*")
	if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil); err != nil {
		t.Fatal(err)
	}
	off.Enabled = false
	saveWebhook(t, s, off)
	claimOne(t, s, on)
	if next, err := s.NextDue(ctx); err != nil || next != 0 {
		t.Fatalf("only a disabled webhook's delivery waits: %d, %v", next, err)
	}
	if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c2")}, nil); err != nil {
		t.Fatal(err)
	}
	if next, err := s.NextDue(ctx); err != nil || next == 0 {
		t.Fatalf("one waits: %d, %v", next, err)
	}
}

// Step 4 drops the messages table (and its trim mark) of a database that
// kept one: the conversation is read from the events it already holds.
func TestMigrationStep4ReadsTheConversationFromEvents(t *testing.T) {
	dir := t.TempDir()
	db := openRaw(t, dir)
	if err := migrate(db, testSchema(t), migrations[:2]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, created_at)
			VALUES ('evt_1', 'new_message', 7, '{"contact":{"id":"c1"},"message":{"text":"hello","channel":"sms"}}', 'c1', 'h', 7)`,
		`INSERT INTO messages (contact_id, event_id, text, channel, at) VALUES ('c1', 'evt_1', 'hello', 'sms', 7)`,
		`INSERT INTO kv (key, value) VALUES ('reconcile.message_id', '1')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := mustOpen(t, Options{Dir: dir})
	ctx := context.Background()
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'messages')
		+ (SELECT count(*) FROM kv WHERE key = 'reconcile.message_id')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("messages and its mark: %d left, %v", n, err)
	}
	got, err := s.RecentMessages(ctx, "c1", 10, 0)
	if want := []Message{{Text: "hello", Direction: "inbound", Channel: "sms", AtMS: 7}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("conversation %+v, %v; want %+v", got, err, want)
	}
}
