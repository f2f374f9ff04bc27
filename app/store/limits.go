package store

import (
	"context"
)

// PageCount is how many pages the database uses now.
func (s *SQLite) PageCount(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n)
	return n, err
}
