package store

import (
	"context"
	"math"
	"strings"
	"testing"
)

// A summary or a Slack message reads a contact's conversation: by the
// events' index on (contact_id, seq), never the whole table.
func TestConversationReadsByIndex(t *testing.T) {
	s := mustOpen(t, Options{})
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN SELECT "+eventColumns+" FROM events"+conversationWhere+" LIMIT ?",
		"c1", int64(math.MaxInt64), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH events USING INDEX events_contact (contact_id=? AND seq<?)") {
		t.Fatalf("plan %q; want one search of events_contact", plan)
	}
}
