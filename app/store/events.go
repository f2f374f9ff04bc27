package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// IngestResult says what happened to one event.
type IngestResult struct {
	Event      *Event
	Deliveries int
	Existing   bool // the id was known: nothing new was created
}

// InsertEvents stores events and their deliveries in one transaction (the
// outbox): once it returns nil, every event has all its deliveries. All or
// nothing: an error stores none of them.
//
// With a Handoff, new deliveries to the webhooks it has slots for start
// in_flight, leased to the caller, and come back in ho.Claimed.
//
// Single events stored at the same time share their statements: the writer
// hands them to insertEvents together (see groupOps), with the same effect
// as storing them one by one in queue order.
func (s *SQLite) InsertEvents(ctx context.Context, evs []*Event, ho *Handoff) ([]IngestResult, error) {
	r := &ingestReq{evs: evs, handoff: ho}
	op := &writeOp{name: "ingest", err: make(chan error, 1)}
	op.fn = func(tx *txn) error {
		if err := s.insertEvents(tx, []*ingestReq{r}); err != nil {
			return err
		}
		return r.err
	}
	if len(evs) == 1 {
		op.kind, op.ingest = mergeIngest, r
	}
	err := s.enqueue(ctx, op)
	if err != nil {
		if ho != nil {
			ho.Claimed = nil
		}
		return nil, err
	}
	return r.results, nil
}

// HandsOff: InsertEvents takes deliveries in flight for a Handoff.
func (s *SQLite) HandsOff() bool { return true }

// ingestReq is one InsertEvents call: its events, and what storing them
// gave.
type ingestReq struct {
	evs     []*Event
	handoff *Handoff // nil: every new delivery is left pending
	results []IngestResult
	err     error // this request's own refusal (an id reused with other content)
}

// eventChunk bounds the rows of one multi-row INSERT (SQLite allows 32,766
// variables; events take 8 each, deliveries 8).
const eventChunk = 200

// insertEvents stores the events of rs with multi-row statements. A request
// with several events is all or nothing: it comes alone (only single-event
// requests are grouped), and its refusal is returned so that its savepoint
// undoes it. A single event's refusal stored nothing, so it is only set on
// its request. Repeated ids are looked up after every new event and
// delivery is in, so a repeat within the group sees the first one whole.
func (s *SQLite) insertEvents(tx *txn, rs []*ingestReq) error {
	hooks, err := s.webhooksForMatch(tx)
	if err != nil {
		return err
	}
	var all []*Event
	for _, r := range rs {
		r.results, r.err = r.results[:0], nil
		if r.handoff != nil {
			r.handoff.Claimed = nil // this op may run more than once
		}
		all = append(all, r.evs...)
	}
	now := s.NowMS()
	seqs := make(map[string]int64, len(all))
	for i := 0; i < len(all); i += eventChunk {
		chunk := all[i:min(i+eventChunk, len(all))]
		args := make([]any, 0, 8*len(chunk))
		for _, ev := range chunk {
			args = append(args, ev.ID, ev.Event, ev.Timestamp, string(ev.Data), ev.ContactID, ev.ContentHash, ev.Source, ev.CreatedAt)
		}
		// Rows go in in order, so seq follows the order events came in.
		// Insert first and look only on conflict: new ids are the common case.
		rows, err := tx.Query(`INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, source, created_at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?),", len(chunk)), ",")+
			` ON CONFLICT (id) DO NOTHING RETURNING id, seq`, args...)
		if err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				rows.Close()
				return fmt.Errorf("insert event: %w", err)
			}
			seqs[id] = seq
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
	}
	// Which event object each new row is: the first with its id.
	fresh := make(map[*Event]int, len(all)) // deliveries of each new event
	var dargs []any
	nd := 0
	flushDeliveries := func() error {
		if nd == 0 {
			return nil
		}
		_, err := tx.Exec(`INSERT INTO deliveries (id, event_id, webhook_id, status, lease_until, next_attempt_at, trigger, created_at, updated_at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, 'auto', ?, ?),", nd), ","), dargs...)
		dargs, nd = dargs[:0], 0
		if err != nil {
			return fmt.Errorf("insert delivery: %w", err)
		}
		return nil
	}
	for _, r := range rs {
		var taken map[string]int // per webhook: handed off so far in this request
		for _, ev := range r.evs {
			seq, ok := seqs[ev.ID]
			if !ok {
				continue
			}
			delete(seqs, ev.ID) // a repeat of the id later in the group is not new
			ev.Seq = seq
			n := 0
			for _, h := range hooks {
				if !h.Matches(ev) {
					continue
				}
				id, status, lease := s.NewID("dlv_"), StatusPending, int64(0)
				if ho := r.handoff; ho != nil && !h.Ordered && taken[h.ID] < ho.Slots[h.ID] {
					if taken == nil {
						taken = map[string]int{}
					}
					taken[h.ID]++
					status, lease = StatusInFlight, now+ho.LeaseMS
					ho.Claimed = append(ho.Claimed, &Claimed{Ev: ev, Lease: lease, Delivery: &Delivery{ID: id, EventID: ev.ID,
						Event: ev.Event, WebhookID: h.ID, Status: status, NextAttemptAt: ev.CreatedAt, LeaseUntil: lease,
						Trigger: "auto", CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt}})
				}
				dargs = append(dargs, id, ev.ID, h.ID, status, lease, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt)
				n++
				if nd++; nd == eventChunk {
					if err := flushDeliveries(); err != nil {
						return err
					}
				}
			}
			fresh[ev] = n
		}
	}
	if err := flushDeliveries(); err != nil {
		return err
	}
	for _, r := range rs {
		for i, ev := range r.evs {
			if n, ok := fresh[ev]; ok {
				r.results = append(r.results, IngestResult{Event: ev, Deliveries: n})
				continue
			}
			res, err := existingEvent(tx, ev)
			if err != nil {
				var e *Error
				if errors.As(err, &e) && len(r.evs) > 1 {
					e.Message = fmt.Sprintf("events[%d]: %s", i, e.Message)
					if e.Field == "id" {
						e.Field = fmt.Sprintf("events[%d].id", i)
					}
				}
				if !errors.As(err, &e) {
					return err // a database failure: the whole group fails
				}
				r.err, r.results = err, nil
				if r.handoff != nil {
					r.handoff.Claimed = nil
				}
				if len(rs) == 1 {
					return err // alone: its savepoint undoes it
				}
				break
			}
			r.results = append(r.results, res)
		}
	}
	return nil
}

// existingEvent answers a repeated id: the stored event if the content is
// the same, a conflict if not.
func existingEvent(tx *txn, ev *Event) (IngestResult, error) {
	stored, err := findEvent(tx, ev.ID)
	if err != nil {
		return IngestResult{}, err
	}
	// Rows stored before hashes were canonical carry a hash of the bytes:
	// compare what they mean too.
	if stored.ContentHash != ev.ContentHash && ContentHash(stored) != ev.ContentHash {
		return IngestResult{}, errorf(CodeConflict, "id", "an event with id %q was already stored with a different event or data", ev.ID)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM deliveries WHERE event_id = ?", ev.ID).Scan(&n); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Event: stored, Deliveries: n, Existing: true}, nil
}

func insertDelivery(tx *txn, id, eventID, webhookID, trigger string, now int64) error {
	_, err := tx.Exec(`INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, trigger, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)`, id, eventID, webhookID, now, trigger, now, now)
	if err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return nil
}

const eventColumns = "seq, id, event, timestamp, data, contact_id, content_hash, source, created_at"

type scanner interface{ Scan(dest ...any) error }

func scanEvent(row scanner) (*Event, error) {
	var e Event
	var data string
	if err := row.Scan(e.columns(&data)...); err != nil {
		return nil, err
	}
	e.SetData(data)
	return &e, nil
}

// columns are the scan targets for eventColumns; data receives the JSON text.
func (e *Event) columns(data *string) []any {
	return []any{&e.Seq, &e.ID, &e.Event, &e.Timestamp, data, &e.ContactID, &e.ContentHash, &e.Source, &e.CreatedAt}
}

// SetData keeps the stored JSON and its decoded form, numbers as written.
func (e *Event) SetData(data string) {
	e.Data = json.RawMessage(data)
	e.Fields = nil
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	_ = dec.Decode(&e.Fields) // stored data was validated at ingest
}

// DataFields is Fields, decoded from Data first if it was not yet: a claimed
// event comes undecoded (scanClaimed), since most deliveries send Data as it
// is. An event is one delivery's own; not for concurrent first use.
func (e *Event) DataFields() map[string]any {
	if e.Fields == nil && len(e.Data) > 0 {
		e.SetData(string(e.Data))
	}
	return e.Fields
}

type queryRower interface {
	QueryRow(query string, args ...any) *sql.Row
}

func findEvent(q queryRower, id string) (*Event, error) {
	e, err := scanEvent(q.QueryRow("SELECT "+eventColumns+" FROM events WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event")
	}
	return e, err
}

// FindEventByID returns one event.
func (s *SQLite) FindEventByID(ctx context.Context, id string) (*Event, error) {
	return findEvent(s.read, id)
}

// EventFilter selects events for GET /events.
type EventFilter struct {
	After          int64 // seq cursor
	Limit          int
	Event          string
	ContactID      string
	WebhookID      string // with DeliveryStatus: events whose delivery to this webhook has that status
	DeliveryStatus string // a state, or StatusUndelivered
	Newest         bool   // newest first; After then continues with older events
}

// FindEvents lists events oldest first after a cursor. Test events are left out.
func (s *SQLite) FindEvents(ctx context.Context, f EventFilter) ([]*Event, error) {
	cols := prefixCols("e.", eventColumns) + ", (SELECT count(*) FROM deliveries x WHERE x.event_id = e.id)"
	if f.WebhookID != "" {
		cols += ", " + deliveryColumns
	}
	q := "SELECT " + cols + " FROM events e"
	where := []string{"e.seq > ?", "e.source != 'test'"}
	args := []any{f.After}
	order := "e.seq"
	if f.Newest {
		// ?after= continues with older events.
		order = "e.seq DESC"
		where[0] = "e.seq < ?"
		if f.After == 0 {
			args[0] = int64(1) << 62
		}
	}
	if f.WebhookID != "" {
		q += " JOIN deliveries d ON d.event_id = e.id AND d.webhook_id = ?"
		args = append([]any{f.WebhookID}, args...)
		switch f.DeliveryStatus {
		case "":
		case StatusUndelivered:
			where = append(where, "d.status != 'succeeded'")
		default:
			where = append(where, "d.status = ?")
			args = append(args, f.DeliveryStatus)
		}
	}
	if f.Event != "" {
		where = append(where, "e.event = ?")
		args = append(args, f.Event)
	}
	if f.ContactID != "" {
		where = append(where, "e.contact_id = ?")
		args = append(args, f.ContactID)
	}
	q += " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + order + " LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		var e Event
		var data string
		dest := append(e.columns(&data), &e.DeliveryCount)
		if f.WebhookID != "" {
			e.Delivery = &Delivery{}
			dest = append(dest, e.Delivery.columns()...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("find events: %w", err)
		}
		e.SetData(data)
		out = append(out, &e)
	}
	return out, rows.Err()
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

// RecentMessages returns up to n messages of a contact, oldest first
// (see conversation.go).
func (s *SQLite) RecentMessages(ctx context.Context, contactID string, n int, sinceMS int64) ([]Message, error) {
	msgs, err := recentMessages(n, func(beforeSeq int64) ([]*Event, error) {
		rows, err := s.read.QueryContext(ctx, "SELECT "+eventColumns+" FROM events"+conversationWhere+" LIMIT ?",
			contactID, beforeSeq, sinceMS, n)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return scanEvents(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("recent messages: %w", err)
	}
	return msgs, nil
}

// InsertTestDelivery stores a test event and its one delivery, already in
// flight (the API attempts it right away).
func (s *SQLite) InsertTestDelivery(ctx context.Context, ev *Event, d *Claimed) error {
	return s.write(ctx, "insert test delivery", func(tx *txn) error {
		if _, err := tx.Exec(`INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, source, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 'test', ?)`, ev.ID, ev.Event, ev.Timestamp, string(ev.Data), ev.ContactID, ev.ContentHash, ev.CreatedAt); err != nil {
			return fmt.Errorf("insert test event: %w", err)
		}
		_, err := tx.Exec(`INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, lease_until, trigger, created_at, updated_at)
			VALUES (?, ?, ?, 'in_flight', ?, ?, 'test', ?, ?)`, d.ID, ev.ID, d.WebhookID, ev.CreatedAt, d.Lease, ev.CreatedAt, ev.CreatedAt)
		return err
	})
}
