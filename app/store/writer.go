package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/mattn/go-sqlite3"
)

// txn is the writer's open transaction, as an op sees it. Ops get a txn, not
// a *txn, so they cannot commit, roll back or keep it past their turn.
type txn struct {
	ctx  context.Context
	conn *sql.Conn
}

func (t *txn) Exec(query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(t.ctx, query, args...)
}

func (t *txn) Query(query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(t.ctx, query, args...)
}

func (t *txn) QueryRow(query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(t.ctx, query, args...)
}

type writeOp struct {
	name string // for logs and fault injection
	fn   func(tx *txn) error
	err  chan error
	// kind: ops of one kind (but mergeNone) in one batch may run as one
	// op with shared statements (groupOps); attempt or ingest is their
	// request.
	kind    mergeKind
	attempt *attemptReq
	ingest  *ingestReq
	// members: this op runs the requests of these ops, and answers them.
	// If it fails, each member runs again alone (fellBack) and gets its
	// own outcome (own).
	members  []*writeOp
	fellBack bool
	own      error
	faulted  error // the fault hook failed this member of a group
}

type mergeKind int

const (
	mergeNone mergeKind = iota
	mergeAttempt
	mergeIngest
)

// write runs fn in a transaction shared with other concurrent writes (group
// commit: one fsync for many requests) and returns once it is committed (nil)
// or certainly not stored (an error).
//
// The rules an op lives by, enforced here rather than by its author:
//   - fn does SQL on tx and nothing else: no network, no waiting. Whatever
//     must happen before (validation, a plugin's answer) happens before write.
//   - fn's error undoes fn's own changes and no one else's.
//   - fn may run more than once: when a shared transaction is lost, each of
//     its ops runs again alone. So fn sets its results afresh on every run.
//   - A change to the webhooks table, by any statement, refreshes the
//     matching cache and the webhook version after the commit.
func (s *SQLite) write(ctx context.Context, name string, fn func(tx *txn) error) error {
	return s.enqueue(ctx, &writeOp{name: name, fn: fn, err: make(chan error, 1)})
}

// enqueue hands op to the writer and waits for its outcome.
func (s *SQLite) enqueue(ctx context.Context, op *writeOp) error {
	if err := s.health.refuse(); err != nil {
		return err
	}
	select {
	case s.queue <- op:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// know whether it was committed.
	return <-op.err
}

// SetFaultHook makes every later write op call f with its name after it ran;
// an error from f fails the op as a database error would. For fault-injection
// tests; nil turns it off.
func (s *SQLite) SetFaultHook(f func(op string) error) {
	if f == nil {
		s.fault.Store(nil)
		return
	}
	s.fault.Store(&f)
}

// Pacing. A commit writes every page its writes touched to the WAL, and the
// WAL is synced to disk before each checkpoint. Under steady load most of
// that is the same few pages (each b-tree's newest leaf) written again by
// every small commit: at 2,000 events/s, some 80 MB/s of disk writes for
// 200 distinct pages. So the writes that come steadily (ingests and attempt
// records) wait until commitGap has passed since the last commit began, and
// share the next one. Other writes (a claim, which a delivery loop waits
// on; an API change) go at once and take whatever waits with them. Under
// light load the last commit began long ago, and nothing waits.
//
// Waiting pays only when others write meanwhile: a client that posts one
// event after another, each once the last is answered, would only be slowed.
// So the writer waits only after a commit that several requests of one
// steady kind shared: ingests, or, with no ingest among them, the attempt
// records of a queue being drained (pacing those took 6 % off Herald's CPU
// for a burst and sped its deliveries by 7 %: an attempt's slot is free
// before its record is written, so the wait holds up no request to a
// receiver). Records beside a lone ingest do not start the wait: that
// ingest's client, and the next, would wait for it (p99 at 2,000 events/s
// rose by about 0.6 ms when they did).
const commitGap = 3 * time.Millisecond

func (s *SQLite) writer() {
	defer close(s.done)
	var lastStart time.Time
	shared := false // the last commit stored several concurrent requests of one steady kind
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	for op := range s.queue {
		batch := []*writeOp{op}
		if wait := s.gap - time.Since(lastStart); shared && op.kind != mergeNone && wait > 0 {
			batch = s.gather(batch, pace, wait)
		} else if len(s.queue) == 0 {
			// Let the goroutines that are about to write (the other
			// attempts of one claim, the other requests of one burst)
			// queue first, so they share this commit. It costs no wait
			// when no one else is ready to run.
			runtime.Gosched()
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case next, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, next)
			default:
				break fill
			}
		}
		lastStart = time.Now()
		ingests := countKind(batch, mergeIngest)
		shared = ingests > 1 || ingests == 0 && countKind(batch, mergeAttempt) > 1
		// Counted before the ops are answered, so that whoever was answered
		// sees its commit counted.
		s.commits.Add(1)
		s.commit(s.groupOps(batch))
		s.maybeRestartWAL()
	}
}

// countKind is how many requests of a kind batch holds: more than one
// ingest or attempt record means they come concurrently, and pacing pays
// (see commitGap).
func countKind(batch []*writeOp, kind mergeKind) (n int) {
	for _, op := range batch {
		if op.kind == kind {
			n++
		}
	}
	return n
}

// gather adds queued ops to batch for up to wait, and stops early at the
// first op that should not wait (see commitGap) or when the batch is full.
func (s *SQLite) gather(batch []*writeOp, pace *time.Timer, wait time.Duration) []*writeOp {
	pace.Reset(wait)
	defer pace.Stop()
	for len(batch) < maxBatch {
		select {
		case next, ok := <-s.queue:
			if !ok {
				return batch
			}
			batch = append(batch, next)
			if next.kind == mergeNone {
				return batch
			}
		case <-pace.C:
			return batch
		}
	}
	return batch
}

// groupOps replaces the ops of one kind in a batch, when there are several,
// by one op that runs them all with shared statements. Ops in one batch were
// all waiting at once, so any order among them is one they could have had.
func (s *SQLite) groupOps(batch []*writeOp) []*writeOp {
	var attempts, ingests []*writeOp
	for _, op := range batch {
		switch op.kind {
		case mergeAttempt:
			attempts = append(attempts, op)
		case mergeIngest:
			ingests = append(ingests, op)
		}
	}
	if len(attempts) < 2 && len(ingests) < 2 {
		return batch
	}
	out := make([]*writeOp, 0, len(batch))
	for _, op := range batch {
		if op.kind == mergeNone || op.kind == mergeAttempt && len(attempts) < 2 || op.kind == mergeIngest && len(ingests) < 2 {
			out = append(out, op)
		}
	}
	if len(attempts) >= 2 {
		reqs := make([]*attemptReq, len(attempts))
		for i, op := range attempts {
			reqs[i] = op.attempt
		}
		out = append(out, &writeOp{name: "record attempt", members: attempts, fn: func(tx *txn) error { return s.recordAttempts(tx, reqs) }})
	}
	if len(ingests) >= 2 {
		reqs := make([]*ingestReq, len(ingests))
		for i, op := range ingests {
			reqs[i] = op.ingest
		}
		out = append(out, &writeOp{name: "ingest", members: ingests, fn: func(tx *txn) error { return s.insertEvents(tx, reqs) }})
	}
	return out
}

// answer gives op (or each op it stands for) its outcome: err, or when
// that is nil a member's own refusal.
func (op *writeOp) answer(err error) {
	if op.members == nil {
		op.err <- err
		return
	}
	for _, m := range op.members {
		switch {
		case err != nil:
			m.err <- err
		case op.fellBack:
			m.err <- m.own
		case m.ingest != nil:
			m.err <- m.ingest.err
		default:
			m.err <- nil
		}
	}
}

// errUndoAll says that an op of a batch run without savepoints failed, so
// the transaction was rolled back whole: the batch runs again with them.
var errUndoAll = errors.New("an op failed without a savepoint")

// commit runs a batch in one transaction and answers each op.
func (s *SQLite) commit(batch []*writeOp) {
	errs, txErr := s.runTx(batch, false)
	if errors.Is(txErr, errUndoAll) {
		s.settleCaches()
		errs, txErr = s.runTx(batch, true)
	}
	if txErr != nil && len(batch) > 1 {
		// The shared transaction is lost (SQLite rolled it back, or COMMIT
		// failed): none of it is stored. Each op runs again alone, so each
		// gets the true answer about itself.
		s.settleCaches()
		for _, op := range batch {
			s.commit([]*writeOp{op})
		}
		return
	}
	s.settleCaches()
	if txErr == nil && errs != nil && (len(batch) > 1 || errs[0] == nil) {
		s.health.committed()
	}
	for i, op := range batch {
		e := txErr
		if e == nil {
			e = errs[i]
		}
		op.answer(e)
	}
}

// runTx runs ops in one transaction. errs are the ops' own errors; txErr
// means nothing was committed.
//
// Ops that share a transaction each need a savepoint, so that one's failure
// undoes it alone, but only when one fails, which is rare. So a batch runs
// first without (careful false): if an op fails, all is rolled back and
// runTx answers errUndoAll, and the batch runs again with savepoints
// (careful). A savepoint costs more than its two statements: from the
// moment it opens, SQLite copies every page a statement changes into a
// journal so it can undo it, and past 64 KiB that journal becomes a
// temporary file, created and deleted within the commit. Without an open
// savepoint, a statement's journal is dropped as the statement ends.
func (s *SQLite) runTx(batch []*writeOp, careful bool) (errs []error, txErr error) {
	tx := &txn{ctx: context.Background(), conn: s.writeConn}
	if err := s.health.refuse(); err != nil {
		return nil, err
	}
	if _, err := tx.Exec("BEGIN IMMEDIATE"); err != nil {
		return nil, s.fail("begin", err)
	}
	// A group of ops (members) run carefully always gets a savepoint: if it
	// fails, its members run again one by one, each in its own.
	shared := len(batch) > 1 || batch[0].members != nil
	savepoints := shared && careful
	errs = make([]error, len(batch))
	for i, op := range batch {
		if savepoints {
			if _, err := tx.Exec("SAVEPOINT op"); err != nil {
				return nil, s.abort(tx, op.name, err)
			}
		}
		op.fellBack = false
		err := s.runOp(tx, op)
		if s.autocommit() {
			// SQLite rolled the whole transaction back by itself (disk full,
			// I/O error): running on would write outside any transaction.
			if err == nil {
				err = errors.New("the transaction was rolled back")
			}
			return nil, s.fail(op.name, err)
		}
		if err != nil && !shared {
			_, _ = tx.Exec("ROLLBACK")
			errs[i] = s.opError(op.name, err)
			return errs, nil
		}
		if err != nil && !savepoints {
			if _, rerr := tx.Exec("ROLLBACK"); rerr != nil {
				return nil, s.abort(tx, op.name, rerr)
			}
			return nil, errUndoAll
		}
		if err != nil {
			if _, rerr := tx.Exec("ROLLBACK TO op"); rerr != nil {
				return nil, s.abort(tx, op.name, rerr)
			}
			if op.members != nil {
				if ferr := s.runMembers(tx, op); ferr != nil {
					return nil, ferr
				}
				err = nil
			}
		}
		if savepoints {
			if _, rerr := tx.Exec("RELEASE op"); rerr != nil {
				return nil, s.abort(tx, op.name, rerr)
			}
		}
		errs[i] = s.opError(op.name, err)
	}
	if _, err := tx.Exec("COMMIT"); err != nil {
		return nil, s.abort(tx, "commit", err)
	}
	return errs, nil
}

// runMembers runs each member of a failed group alone, in its own savepoint,
// so that each gets the true answer about itself. An error means the whole
// transaction is lost.
func (s *SQLite) runMembers(tx *txn, g *writeOp) error {
	g.fellBack = true
	for _, m := range g.members {
		if m.faulted != nil {
			m.own = s.opError(m.name, m.faulted) // failed by the fault hook already
			continue
		}
		if _, err := tx.Exec("SAVEPOINT member"); err != nil {
			return s.abort(tx, m.name, err)
		}
		err := s.runOp(tx, m)
		if s.autocommit() {
			if err == nil {
				err = errors.New("the transaction was rolled back")
			}
			return s.fail(m.name, err)
		}
		if err != nil {
			if _, rerr := tx.Exec("ROLLBACK TO member"); rerr != nil {
				return s.abort(tx, m.name, rerr)
			}
		}
		if _, rerr := tx.Exec("RELEASE member"); rerr != nil {
			return s.abort(tx, m.name, rerr)
		}
		m.own = s.opError(m.name, err)
	}
	return nil
}

// runOp runs op's fn, then the fault hook if one is set: once per op, so
// once for each member of a group, whose faults then fail that member alone
// (runMembers).
func (s *SQLite) runOp(tx *txn, op *writeOp) error {
	for _, m := range op.members {
		m.faulted = nil
	}
	if err := op.fn(tx); err != nil {
		return err
	}
	f := s.fault.Load()
	if f == nil {
		return nil
	}
	if op.members == nil {
		return (*f)(op.name)
	}
	var failed error
	for _, m := range op.members {
		if err := (*f)(m.name); err != nil {
			m.faulted, failed = err, err
		}
	}
	return failed
}

// abort rolls back what is left of the transaction and says why it failed.
func (s *SQLite) abort(tx *txn, what string, err error) error {
	if !s.autocommit() {
		_, _ = tx.Exec("ROLLBACK")
	}
	return s.fail(what, err)
}

// autocommit says whether no transaction is open on the writer's connection.
func (s *SQLite) autocommit() bool {
	ac := false
	_ = s.writeConn.Raw(func(dc any) error {
		if c, ok := dc.(*sqlite3.SQLiteConn); ok {
			ac = c.AutoCommit()
		}
		return nil
	})
	return ac
}

// opError passes an op's refusal (a *Error, or the caller's own error type)
// on as it is, and turns database failures into what the caller can say.
func (s *SQLite) opError(name string, err error) error {
	var se sqlite3.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	return s.fail(name, err)
}

// fail turns a database failure into an answer: a full disk and an unusable
// database are refusals the API can explain (507, 503); anything else is
// internal. It also tells the health check.
func (s *SQLite) fail(what string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull:
			s.health.full(s.log, err)
			return errorf(CodeStorageFull, "", "the disk is full: nothing was stored; try again once space is freed")
		case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
			s.health.broken(s.log, "the database file is corrupt: "+err.Error())
			return errorf(CodeUnavailable, "", "the database is corrupt: nothing was stored")
		case sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrCantOpen:
			s.health.broken(s.log, "the database cannot be written: "+err.Error())
			return errorf(CodeUnavailable, "", "the database cannot be written: nothing was stored")
		}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
