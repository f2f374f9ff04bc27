package store

import "math"

// A contact's conversation (for summaries and Slack) is read from the
// events Herald stored: its new_message and message_replied events with a
// text, newest first. There is no copy of it to keep in step: the events'
// own index (contact_id, seq) finds them, and retention prunes them with
// the events.

// Message is one message of a contact's conversation.
type Message struct {
	Text, Direction, Channel string
	AtMS                     int64 // the event's timestamp
}

// conversationWhere selects one page of a contact's message events, newest
// first. Arguments: contact id, the seq to read before, the oldest timestamp.
// Test events (Send Test Event) are not part of anyone's conversation.
const conversationWhere = ` WHERE contact_id = ? AND seq < ? AND event IN ('new_message', 'message_replied')
	AND source != 'test' AND timestamp >= ? ORDER BY seq DESC`

// messageOf is the message ev carries, if it is one.
func messageOf(ev *Event) (Message, bool) {
	if ev.Event != "new_message" && ev.Event != "message_replied" || ev.ContactID == "" {
		return Message{}, false
	}
	fields := ev.DataFields()
	text := LookupString(fields, "message.text")
	if text == "" {
		return Message{}, false
	}
	dir := LookupString(fields, "message.direction")
	if dir == "" {
		dir = "inbound"
	}
	return Message{Text: text, Direction: dir, Channel: LookupString(fields, "message.channel"), AtMS: ev.Timestamp}, true
}

// recentMessages collects up to n messages, oldest first, from pages of
// message events read newest first by page (at most n events each, all with
// seq below beforeSeq). Events without a text are passed over, so a page may
// give fewer than n and the next one is read.
func recentMessages(n int, page func(beforeSeq int64) ([]*Event, error)) ([]Message, error) {
	var out []Message
	before := int64(math.MaxInt64)
	for len(out) < n {
		evs, err := page(before)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if m, ok := messageOf(ev); ok && len(out) < n {
				out = append(out, m)
			}
		}
		if len(evs) < n {
			break
		}
		before = evs[len(evs)-1].Seq
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// eventRows is what scanEvents reads: *sql.Rows and pgx.Rows.
type eventRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanEvents reads rows of eventColumns.
func scanEvents(rows eventRows) ([]*Event, error) {
	var out []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
