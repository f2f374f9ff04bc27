package store

import "testing"

// The sub-journal setting only takes if it is made before SQLite starts.
func TestSQLiteConfiguredBeforeUse(t *testing.T) {
	if configured != 0 {
		t.Fatalf("sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL) = %d; want SQLITE_OK: SQLite was in use before the store's package init", configured)
	}
}
