package app

import (
	"context"
	"fmt"
	"strings"
)

// FindEventsNewest lists events newest first; f.After, when set, is the
// cursor of the last event seen, and the page continues with older ones.
// Test events are left out.
func (s *Store) FindEventsNewest(ctx context.Context, f EventFilter) ([]*Event, error) {
	q := "SELECT " + prefixCols("e.", eventColumns) + " FROM events e"
	where := []string{"e.source != 'test'"}
	var args []any
	if f.WebhookID != "" {
		q += " JOIN deliveries d ON d.event_id = e.id AND d.webhook_id = ?"
		args = append(args, f.WebhookID)
		if f.DeliveryStatus != "" {
			where = append(where, "d.status = ?")
			args = append(args, f.DeliveryStatus)
		}
	}
	if f.After > 0 {
		where = append(where, "e.seq < ?")
		args = append(args, f.After)
	}
	if f.Event != "" {
		where = append(where, "e.event = ?")
		args = append(args, f.Event)
	}
	if f.ContactID != "" {
		where = append(where, "e.contact_id = ?")
		args = append(args, f.ContactID)
	}
	q += " WHERE " + strings.Join(where, " AND ") + " ORDER BY e.seq DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("find events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CountDeliveries says how many deliveries each of the events has; an event
// that matched no webhook has 0.
func (s *Store) CountDeliveries(ctx context.Context, eventIDs []string) (map[string]int, error) {
	out := make(map[string]int, len(eventIDs))
	if len(eventIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(eventIDs))
	for i, id := range eventIDs {
		args[i] = id
	}
	rows, err := s.read.QueryContext(ctx, "SELECT event_id, count(*) FROM deliveries WHERE event_id IN (?"+
		strings.Repeat(", ?", len(eventIDs)-1)+") GROUP BY event_id", args...)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}
