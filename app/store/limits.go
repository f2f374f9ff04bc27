package store

import (
	"context"
	"fmt"
)

// SetMaxPages caps the database at n pages (PRAGMA max_page_count) from the
// next write on, and returns the cap SQLite applied: never below the pages
// already in use. Tests use it to fill the "disk" while Herald runs, and to
// free it again; Options.MaxPages sets it at open. It runs through the
// writer, so it takes effect between two commits, never inside one.
func (s *Store) SetMaxPages(ctx context.Context, n int) (int, error) {
	var got int
	err := s.write(ctx, "set max pages", func(tx *txn) error {
		if err := tx.QueryRow(fmt.Sprintf("PRAGMA max_page_count = %d", n)).Scan(&got); err != nil {
			return fmt.Errorf("set max pages: %w", err)
		}
		return nil
	})
	return got, err
}

// PageCount is how many pages the database uses now.
func (s *Store) PageCount(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n)
	return n, err
}
