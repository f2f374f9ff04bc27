package store

import (
	"context"
	"database/sql"
	"path/filepath"
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
