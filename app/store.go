package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Store is Herald's SQLite database: one writer connection fed by a
// group-commit queue, and a pool of readers.
type Store struct {
	write      *sql.DB
	read       *sql.DB
	checkpoint *sql.DB // one connection for WAL checkpoints, off the write path
	log        *slog.Logger
	Now        func() time.Time

	queue chan *writeOp
	done  chan struct{}

	stopCheckpoints chan struct{}
	checkpointsDone chan struct{}
	once            sync.Once

	hooksMu      sync.Mutex
	hooksCache   []*Webhook // nil when stale; rebuilt inside the writer
	hooksVersion atomic.Uint64
}

// maxBatch bounds how many writes share one commit.
const maxBatch = 512

// OpenStore opens (creating if needed) the database under dataDir, applies
// the schema and migrations, and starts the writer.
func OpenStore(dataDir, schema, syncMode string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, "herald.db")
	syncPragma := "NORMAL" // WAL + NORMAL: a commit survives a killed process
	if syncMode == "full" {
		syncPragma = "FULL" // also survives power loss
	}
	// All pragmas live here, in the DSN, so every connection gets them.
	// _stmt_cache_size: the hot statements are parsed once per connection, not per call.
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=%s&_stmt_cache_size=64", path, syncPragma)
	w, err := sql.Open("sqlite3", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite3", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	r.SetMaxOpenConns(8)
	cp, err := sql.Open("sqlite3", dsn)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	cp.SetMaxOpenConns(1)
	s := &Store{write: w, read: r, checkpoint: cp, log: log, Now: time.Now, queue: make(chan *writeOp, 4096),
		done: make(chan struct{}), stopCheckpoints: make(chan struct{}), checkpointsDone: make(chan struct{})}
	if err := s.migrate(schema); err != nil {
		s.closeDBs()
		return nil, err
	}
	// Checkpoints copy the WAL into the database and fsync. Left to SQLite,
	// they run inside a commit and stall every request waiting on it; a
	// PASSIVE checkpoint on its own connection runs beside the writer.
	if _, err := w.Exec("PRAGMA wal_autocheckpoint = 0"); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("configure checkpoints: %w", err)
	}
	go s.writer()
	go s.checkpointer(checkpointEvery)
	return s, nil
}

// checkpointEvery is how often the WAL is copied into the database.
const checkpointEvery = time.Second

func (s *Store) checkpointer(every time.Duration) {
	defer close(s.checkpointsDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopCheckpoints:
			return
		case <-t.C:
			if _, err := s.checkpoint.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
				s.log.Warn("WAL checkpoint failed", "error", err)
			}
		}
	}
}

func (s *Store) closeDBs() error {
	return errors.Join(s.checkpoint.Close(), s.read.Close(), s.write.Close())
}

// Close stops the writer after the queued writes and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.queue)
		close(s.stopCheckpoints)
	})
	<-s.done
	<-s.checkpointsDone
	_, _ = s.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return s.closeDBs()
}

// Ping is the health check.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (s *Store) now() int64 { return s.Now().UnixMilli() }

type writeOp struct {
	fn        func(tx *sql.Tx) error
	savepoint bool   // run inside a savepoint, so its error undoes only its own changes
	after     func() // runs after the commit, in the writer (cache updates)
	err       chan error
}

// Write runs fn in a transaction shared with other concurrent writes (group
// commit: one fsync for many requests) and returns once it is committed.
// fn runs inside a savepoint, so its error rolls back only its own changes.
// after, if given, runs once the commit succeeded.
func (s *Store) Write(ctx context.Context, fn func(tx *sql.Tx) error, after ...func()) error {
	return s.enqueue(ctx, &writeOp{fn: fn, savepoint: true}, after)
}

// writeFast is Write without the savepoint, for the hot paths. fn may return
// an *Error only before it has written anything; any other error fails the
// whole shared transaction (every op in it gets the error, none commits).
func (s *Store) writeFast(ctx context.Context, fn func(tx *sql.Tx) error, after ...func()) error {
	return s.enqueue(ctx, &writeOp{fn: fn}, after)
}

func (s *Store) enqueue(ctx context.Context, op *writeOp, after []func()) error {
	op.err = make(chan error, 1)
	if len(after) > 0 {
		op.after = after[0]
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

func (s *Store) writer() {
	defer close(s.done)
	for op := range s.queue {
		batch := []*writeOp{op}
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
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*writeOp) {
	errs := make([]error, len(batch))
	err := func() error {
		tx, err := s.write.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for i, op := range batch {
			if len(batch) == 1 {
				if errs[i] = op.fn(tx); errs[i] != nil {
					return nil // the deferred Rollback undoes it; nothing else to keep
				}
				break
			}
			if errs[i] = s.runOp(tx, op); errs[i] != nil && !op.savepoint && !isDomainError(errs[i]) {
				return errs[i] // it may have written half: no op of this batch commits
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		s.log.Error("Database commit failed", "ops", len(batch), "error", err)
		s.invalidateWebhooks()
	}
	for i, op := range batch {
		e := errs[i]
		if err != nil {
			e = fmt.Errorf("commit: %w", err)
		}
		if e == nil && op.after != nil {
			op.after()
		}
		op.err <- e
	}
}

// runOp runs one op of a shared transaction.
func (s *Store) runOp(tx *sql.Tx, op *writeOp) error {
	if !op.savepoint {
		return op.fn(tx)
	}
	if _, err := tx.Exec("SAVEPOINT op"); err != nil {
		return err
	}
	opErr := op.fn(tx)
	if opErr != nil {
		if _, err := tx.Exec("ROLLBACK TO op"); err != nil {
			return err
		}
	}
	if _, err := tx.Exec("RELEASE op"); err != nil {
		return err
	}
	return opErr
}

func isDomainError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// kvGet / kvSet keep small settings such as the source cursor.
func (s *Store) kvGet(ctx context.Context, key string) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, "SELECT value FROM kv WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func kvSet(tx *sql.Tx, key, value string) error {
	_, err := tx.Exec("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return err
}
