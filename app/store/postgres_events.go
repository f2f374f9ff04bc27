package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// eventColumnsE is eventColumns read through the alias e.
var eventColumnsE = prefixCols("e.", eventColumns)

// pgInsertEvent stores one event and, only if it is new, its deliveries, in
// one statement (one round trip); it returns the new seq, or no row when the
// id was known.
const pgInsertEvent = `WITH ev AS (
		INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, source, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING seq),
	d AS (
		INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, trigger, created_at, updated_at)
		SELECT x.id, $1, x.webhook_id, 'pending', $8, 'auto', $8, $8
		FROM unnest($9::text[], $10::text[]) AS x (id, webhook_id) WHERE EXISTS (SELECT 1 FROM ev))
	SELECT seq FROM ev`

// pgIngestEvent is pgInsertEvent for the one-trip ingest: an id stored
// before with other content stops the whole batch (HR002) instead of
// answering nothing.
const pgIngestEvent = `WITH ev AS (
		INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, source, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET id = excluded.id
			WHERE CASE WHEN events.content_hash = excluded.content_hash THEN false ELSE herald_event_conflict(excluded.id) END
		RETURNING seq),
	d AS (
		INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, trigger, created_at, updated_at)
		SELECT x.id, $1, x.webhook_id, 'pending', $8, 'auto', $8, $8
		FROM unnest($9::text[], $10::text[]) AS x (id, webhook_id) WHERE EXISTS (SELECT 1 FROM ev))
	SELECT seq FROM ev`

// HandsOff is false: with several nodes, a webhook's cap is held in the
// database, by the claim, so ingest leaves every delivery to it.
func (s *Postgres) HandsOff() bool { return false }

// InsertEvents stores events and their deliveries in one transaction (the
// outbox): once it returns nil, every event has all its deliveries; an
// error stores none of them.
//
// The usual case is one round trip (oneTrip): the events are matched
// against the webhooks this node has cached, and herald_match_guard, under
// the matching lock, makes sure those are still the committed ones (else
// the cache is reloaded and it goes again). An id stored before with other
// content sends it to insertEventsSlow, which answers as SQLite does.
func (s *Postgres) InsertEvents(ctx context.Context, evs []*Event, ho *Handoff) ([]IngestResult, error) {
	if ho != nil {
		ho.Claimed = nil
	}
	for range 3 {
		s.hooksMu.Lock()
		hooks, v := s.hooksCache, s.hooksCacheAt
		s.hooksMu.Unlock()
		if hooks == nil {
			break
		}
		results, err := s.insertEventsFast(ctx, evs, hooks, v)
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "HR001":
			if err := s.reloadHooksForMatch(ctx); err != nil {
				return nil, err
			}
			continue
		case errors.As(err, &pe) && pe.Code == "HR002":
			return s.insertEventsSlow(ctx, evs)
		case err != nil:
			return nil, s.opError("ingest", err)
		}
		return results, nil
	}
	return s.insertEventsSlow(ctx, evs)
}

func (s *Postgres) insertEventsFast(ctx context.Context, evs []*Event, hooks []*Webhook, version int64) ([]IngestResult, error) {
	b := &pgx.Batch{}
	b.Queue("SELECT herald_match_guard($1)", version)
	planned := make([]int, len(evs))
	for i, ev := range evs {
		var ids, to []string
		for _, h := range hooks {
			if h.Matches(ev) {
				ids, to = append(ids, s.NewID("dlv_")), append(to, h.ID)
			}
		}
		planned[i] = len(ids)
		b.Queue(pgIngestEvent, ev.ID, ev.Event, ev.Timestamp, string(ev.Data), ev.ContactID, ev.ContentHash, ev.Source, ev.CreatedAt,
			ids, to)
	}
	isNew := make([]bool, len(evs))
	seqs := make([]int64, len(evs))
	err := s.oneTripRaw(ctx, s.pool, "ingest", b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		for i := range evs {
			err := br.QueryRow().Scan(&seqs[i])
			switch {
			case err == nil:
				isNew[i] = true
			case !isNoRows(err):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	results := make([]IngestResult, len(evs))
	for i, ev := range evs {
		if isNew[i] {
			ev.Seq = seqs[i]
			results[i] = IngestResult{Event: ev, Deliveries: planned[i]}
			continue
		}
		// Stored before with the same content: the stored one is the answer.
		stored, err := pgFindEvent(ctx, s.pool, ev.ID)
		if err != nil {
			return nil, err
		}
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE event_id = $1", ev.ID).Scan(&n); err != nil {
			return nil, err
		}
		results[i] = IngestResult{Event: stored, Deliveries: n, Existing: true}
	}
	return results, nil
}

// reloadHooksForMatch refreshes the matching cache in a transaction of its own.
func (s *Postgres) reloadHooksForMatch(ctx context.Context) error {
	return s.write(ctx, "load webhooks", func(tx *pgTx) error {
		_, err := s.webhooksForMatch(tx)
		return err
	})
}

// insertEventsSlow is ingest in an explicit transaction, statement by
// statement: the way for a cold cache and for repeated ids.
func (s *Postgres) insertEventsSlow(ctx context.Context, evs []*Event) ([]IngestResult, error) {
	var results []IngestResult
	err := s.write(ctx, "ingest", func(tx *pgTx) error {
		results = results[:0]
		hooks, err := s.webhooksForMatch(tx)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		planned := make([]int, len(evs))
		for i, ev := range evs {
			var ids, to []string
			for _, h := range hooks {
				if h.Matches(ev) {
					ids, to = append(ids, s.NewID("dlv_")), append(to, h.ID)
				}
			}
			planned[i] = len(ids)
			b.Queue(pgInsertEvent, ev.ID, ev.Event, ev.Timestamp, string(ev.Data), ev.ContactID, ev.ContentHash, ev.Source, ev.CreatedAt,
				ids, to)
		}
		br := tx.tx.SendBatch(tx.ctx, b)
		isNew := make([]bool, len(evs))
		var batchErr error
		for i, ev := range evs {
			err := br.QueryRow().Scan(&ev.Seq)
			switch {
			case err == nil:
				isNew[i] = true
			case isNoRows(err):
			default:
				batchErr = err
			}
			if batchErr != nil {
				break
			}
		}
		if err := errors.Join(batchErr, br.Close()); err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		for i, ev := range evs {
			if !isNew[i] {
				res, err := pgExistingEvent(tx, ev)
				if err != nil {
					var e *Error
					if errors.As(err, &e) && len(evs) > 1 {
						e.Message = fmt.Sprintf("events[%d]: %s", i, e.Message)
						if e.Field == "id" {
							e.Field = fmt.Sprintf("events[%d].id", i)
						}
					}
					return err
				}
				results = append(results, res)
				continue
			}
			results = append(results, IngestResult{Event: ev, Deliveries: planned[i]})
		}
		return nil
	})
	return results, err
}

// webhooksForMatch takes the matching lock shared and returns the webhooks
// as committed: from the cache while the database's version is the cached
// one, else read afresh in this transaction.
func (s *Postgres) webhooksForMatch(tx *pgTx) ([]*Webhook, error) {
	// Two statements: the version must be read after the lock is granted
	// (each statement reads what was committed when it began).
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock_shared("+pgLockSpace+", $1)", pgLockMatch)
	b.Queue("SELECT v FROM herald_versions WHERE name = 'webhooks'")
	br := tx.tx.SendBatch(tx.ctx, b)
	_, err := br.Exec()
	var v int64
	if err == nil {
		err = br.QueryRow().Scan(&v)
	}
	if err := errors.Join(err, br.Close()); err != nil {
		return nil, fmt.Errorf("match webhooks: %w", err)
	}
	s.hooksMu.Lock()
	hooks, at := s.hooksCache, s.hooksCacheAt
	s.hooksMu.Unlock()
	if hooks != nil && at == v {
		return hooks, nil
	}
	hooks, err = pgFindWebhooks(tx.ctx, tx.tx, "ORDER BY id")
	if err != nil {
		return nil, err
	}
	if hooks == nil {
		hooks = []*Webhook{}
	}
	s.hooksMu.Lock()
	if v >= s.hooksCacheAt {
		s.hooksCache, s.hooksCacheAt = hooks, v
	}
	s.hooksMu.Unlock()
	bumpTo(&s.hooksVersion, uint64(v))
	return hooks, nil
}

// pgExistingEvent answers a repeated id: the stored event if the content is
// the same, a conflict if not.
func pgExistingEvent(tx *pgTx, ev *Event) (IngestResult, error) {
	stored, err := pgFindEvent(tx.ctx, tx.tx, ev.ID)
	if err != nil {
		return IngestResult{}, err
	}
	if stored.ContentHash != ev.ContentHash && ContentHash(stored) != ev.ContentHash {
		return IngestResult{}, errorf(CodeConflict, "id", "an event with id %q was already stored with a different event or data", ev.ID)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM deliveries WHERE event_id = $1", ev.ID).Scan(&n); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Event: stored, Deliveries: n, Existing: true}, nil
}

func pgInsertDelivery(tx *pgTx, id, eventID, webhookID, trigger string, now int64) error {
	_, err := tx.Exec(`INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, trigger, created_at, updated_at)
		VALUES ($1, $2, $3, 'pending', $4, $5, $4, $4)`, id, eventID, webhookID, now, trigger)
	if err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return nil
}

func pgFindEvent(ctx context.Context, q pgq, id string) (*Event, error) {
	e, err := scanEvent(q.QueryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE id = $1", id))
	if isNoRows(err) {
		return nil, notFound("event")
	}
	return e, err
}

// FindEventByID returns one event.
func (s *Postgres) FindEventByID(ctx context.Context, id string) (*Event, error) {
	e, err := pgFindEvent(ctx, s.pool, id)
	if err != nil && !IsNotFound(err) {
		return nil, s.opError("find event", err)
	}
	return e, err
}

// pgArgs numbers placeholders as a query is built.
type pgArgs []any

func (a *pgArgs) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// FindEvents lists events oldest first after a cursor (see SQLite.FindEvents).
// On several nodes, seq is taken at insert and transactions commit in their
// own order, so the newest few milliseconds of seq may fill in out of order
// (README: "More than one machine").
func (s *Postgres) FindEvents(ctx context.Context, f EventFilter) ([]*Event, error) {
	cols := eventColumnsE + ", (SELECT count(*) FROM deliveries x WHERE x.event_id = e.id)"
	if f.WebhookID != "" {
		cols += ", " + deliveryColumns
	}
	var args pgArgs
	q := "SELECT " + cols + " FROM events e"
	if f.WebhookID != "" {
		q += " JOIN deliveries d ON d.event_id = e.id AND d.webhook_id = " + args.add(f.WebhookID)
	}
	var where []string
	order := "e.seq"
	if f.Newest {
		order = "e.seq DESC"
		after := f.After
		if after == 0 {
			after = 1 << 62
		}
		where = append(where, "e.seq < "+args.add(after))
	} else {
		where = append(where, "e.seq > "+args.add(f.After))
	}
	where = append(where, "e.source != 'test'")
	switch f.DeliveryStatus {
	case "":
	case StatusUndelivered:
		if f.WebhookID != "" {
			where = append(where, "d.status != 'succeeded'")
		}
	default:
		if f.WebhookID != "" {
			where = append(where, "d.status = "+args.add(f.DeliveryStatus))
		}
	}
	if f.Event != "" {
		where = append(where, "e.event = "+args.add(f.Event))
	}
	if f.ContactID != "" {
		where = append(where, "e.contact_id = "+args.add(f.ContactID))
	}
	q += " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + order + " LIMIT " + args.add(f.Limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.opError("find events", err)
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

// RecentMessages returns up to n messages of a contact, oldest first
// (see conversation.go).
func (s *Postgres) RecentMessages(ctx context.Context, contactID string, n int, sinceMS int64) ([]Message, error) {
	msgs, err := recentMessages(n, func(beforeSeq int64) ([]*Event, error) {
		rows, err := s.pool.Query(ctx, "SELECT "+eventColumns+" FROM events"+pgConversationWhere+" LIMIT $4",
			contactID, beforeSeq, sinceMS, n)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return scanEvents(rows)
	})
	if err != nil {
		return nil, s.opError("recent messages", err)
	}
	return msgs, nil
}

// pgConversationWhere is conversationWhere in PostgreSQL's placeholders.
var pgConversationWhere = strings.NewReplacer("contact_id = ?", "contact_id = $1", "seq < ?", "seq < $2", "timestamp >= ?", "timestamp >= $3").
	Replace(conversationWhere)

// InsertTestDelivery stores a test event and its one delivery, already in
// flight under this node's lease.
func (s *Postgres) InsertTestDelivery(ctx context.Context, ev *Event, d *Claimed) error {
	return s.write(ctx, "insert test delivery", func(tx *pgTx) error {
		if _, err := tx.Exec(`INSERT INTO events (id, event, timestamp, data, contact_id, content_hash, source, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'test', $7)`, ev.ID, ev.Event, ev.Timestamp, string(ev.Data), ev.ContactID, ev.ContentHash, ev.CreatedAt); err != nil {
			return fmt.Errorf("insert test event: %w", err)
		}
		_, err := tx.Exec(`INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at, lease_until, lease_owner, trigger, created_at, updated_at)
			VALUES ($1, $2, $3, 'in_flight', $4, $5, $6, 'test', $4, $4)`, d.ID, ev.ID, d.WebhookID, ev.CreatedAt, d.Lease, s.node)
		return err
	})
}

// FindSummary returns an event's stored summary, or nil.
func (s *Postgres) FindSummary(ctx context.Context, eventID string) (json.RawMessage, error) {
	var body string
	err := s.pool.QueryRow(ctx, "SELECT summary FROM event_summaries WHERE event_id = $1", eventID).Scan(&body)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, s.opError("find summary", err)
	}
	return json.RawMessage(body), nil
}

// SaveSummary stores a summary unless one is already stored, and returns
// the one that is.
func (s *Postgres) SaveSummary(ctx context.Context, eventID string, body []byte) (json.RawMessage, error) {
	var out string
	err := s.write(ctx, "save summary", func(tx *pgTx) error {
		if _, err := tx.Exec("INSERT INTO event_summaries (event_id, summary, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			eventID, string(body), s.NowMS()); err != nil {
			return err
		}
		return tx.QueryRow("SELECT summary FROM event_summaries WHERE event_id = $1", eventID).Scan(&out)
	})
	if err != nil {
		return nil, fmt.Errorf("save summary: %w", err)
	}
	return json.RawMessage(out), nil
}
