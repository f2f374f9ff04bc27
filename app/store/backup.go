package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// dbFileName is the database's name inside the data dir.
const dbFileName = "herald.db"

// Backup writes a consistent copy of the database in dataDir to
// dest with VACUUM INTO: one read transaction, so a server writing at the
// same time is neither stopped nor half-copied. It may run in another
// process than the server. The copy is checked and only then named dest.
func Backup(ctx context.Context, dataDir, dest string) (int64, error) {
	src := filepath.Join(dataDir, dbFileName)
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("no database at %s (is HERALD_DATA_DIR right?): %w", src, err)
	}
	if _, err := os.Stat(dest); err == nil {
		return 0, fmt.Errorf("%s already exists; give a new file name", dest)
	}
	tmp := dest + ".partial"
	_ = os.Remove(tmp) // left by an interrupted backup
	defer os.Remove(tmp)

	// Read-only: a backup never writes to the live database.
	db, err := sql.Open("sqlite3", "file:"+src+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return 0, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return 0, fmt.Errorf("copy database: %w", err)
	}
	if err := checkCopy(ctx, tmp); err != nil {
		return 0, err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return 0, err
	}
	err = f.Sync() // VACUUM INTO does not sync the file it writes
	st, statErr := f.Stat()
	f.Close()
	if err = errors.Join(err, statErr); err != nil {
		return 0, fmt.Errorf("sync copy: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return 0, fmt.Errorf("name copy: %w", err)
	}
	return st.Size(), nil
}

// checkCopy runs SQLite's integrity check on a finished copy.
func checkCopy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("check copy: %w", err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return fmt.Errorf("check copy: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("check copy: integrity_check says %q", result)
	}
	return nil
}
