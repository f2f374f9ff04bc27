package app

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// rawDB opens the test server's database file beside the store, for tests
// that must set up or inspect what the API can't (a lost delivery, a row
// count). Writes through it bypass the store's caches: use it only on
// deliveries, events and attempts.
func rawDB(t *testing.T, s *testServer) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.Dir, "herald.db")+"?_busy_timeout=10000&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func execSQL(t *testing.T, s *testServer, query string, args ...any) {
	t.Helper()
	if _, err := rawDB(t, s).Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func kvValue(t *testing.T, s *testServer, key string) string {
	t.Helper()
	var v string
	_ = rawDB(t, s).QueryRow("SELECT value FROM kv WHERE key = ?", key).Scan(&v)
	return v
}
