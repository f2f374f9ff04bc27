package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// FindSummary returns an event's stored summary, or nil.
func (s *SQLite) FindSummary(ctx context.Context, eventID string) (json.RawMessage, error) {
	var body string
	err := s.read.QueryRowContext(ctx, "SELECT summary FROM event_summaries WHERE event_id = ?", eventID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find summary: %w", err)
	}
	return json.RawMessage(body), nil
}

// SaveSummary stores a summary unless one is already stored, and returns
// the one that is.
func (s *SQLite) SaveSummary(ctx context.Context, eventID string, body []byte) (json.RawMessage, error) {
	var out string
	err := s.write(ctx, "save summary", func(tx *txn) error {
		if _, err := tx.Exec("INSERT OR IGNORE INTO event_summaries (event_id, summary, created_at) VALUES (?, ?, ?)", eventID, string(body), s.NowMS()); err != nil {
			return err
		}
		return tx.QueryRow("SELECT summary FROM event_summaries WHERE event_id = ?", eventID).Scan(&out)
	})
	if err != nil {
		return nil, fmt.Errorf("save summary: %w", err)
	}
	return json.RawMessage(out), nil
}
