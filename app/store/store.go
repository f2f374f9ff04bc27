// Package store is everything that touches Herald's database: the
// group-commit writer, every query, migrations, and the caches kept in step
// with commits. Callers see methods that say what they do; transactions,
// savepoints and cache invalidation stay in here.
package store

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

	"github.com/mattn/go-sqlite3"
)

// SQLite is the Store on an SQLite file: one writer connection fed by a
// group-commit queue, and a pool of readers.
type SQLite struct {
	path       string
	writeDB    *sql.DB
	writeConn  *sql.Conn // the one connection the writer uses
	read       *sql.DB
	checkpoint *sql.DB // one connection for WAL checkpoints, off the write path
	log        *slog.Logger
	clock      func() time.Time

	queue chan *writeOp
	done  chan struct{}

	stopBackground chan struct{}
	backgroundDone chan struct{}
	once           sync.Once

	// Set by SQLite's update hook while an op writes to these tables; read
	// and cleared by the writer goroutine only.
	hooksTouched, tokensTouched bool
	hooksCache                  []*Webhook // the writer's matching view; nil when stale
	hooksVersion, tokensVersion atomic.Uint64
	walRestart                  atomic.Bool
	frameSize                   int64         // bytes a page takes in the WAL
	walRestarts                 atomic.Int64  // RESTART checkpoints the writer tried
	commits                     atomic.Int64  // transactions the writer ran
	gap                         time.Duration // see commitGap
	checkpointing               sync.Mutex    // one checkpoint at a time: a RESTART fails while another runs
	lastCopied                  int64         // frames the WAL had copied at the last checkpoint beside (under checkpointing)
	nextWALCheck                time.Time     // the writer's own: when it next looks at the WAL's size
	health                      health
	ids                         *IDGen
	tokenUse                    tokenUse
	fault                       atomic.Pointer[func(op string) error] // see SetFaultHook
}

// Options configure Open.
type Options struct {
	Dir    string           // the data dir; the database is Dir/herald.db
	Schema string           // schema.sql: version 1 of the schema
	Sync   string           // "normal" (survives a killed process) or "full" (survives power loss)
	Log    *slog.Logger     // nil: discard
	Now    func() time.Time // the clock; nil: time.Now
	// MaxPages caps the database's size in pages (PRAGMA max_page_count);
	// 0 leaves SQLite's default. Tests use it to fill the "disk".
	MaxPages int

	// DatabaseURL, postgres://…, runs on PostgreSQL instead (Dir is then
	// unused); several nodes may share it. NodeID names this node ("" makes
	// one up); PerWebhook is the delivery cap per webhook, which the
	// PostgreSQL engine holds across nodes.
	DatabaseURL string
	NodeID      string
	PerWebhook  int

	commitGap time.Duration // tests: instead of commitGap
}

// writerCacheKiB is the writer's page cache. A commit of several batches
// (4 requests of 500 events) touches more pages than SQLite's default 2 MiB
// holds: it spilled pages to the WAL mid-transaction and read them back,
// one system call a page. 4 MiB: batch ingest +11 %; 8 MiB gave +27 % but
// took the million-delivery backlog's peak RSS from 85 to 98.5 MiB, against
// a bound of 100. The cache grows only as far as commits use it.
const writerCacheKiB = 4 << 10

// busyTimeoutMS is how long a connection waits for a lock before failing.
const busyTimeoutMS = 10_000

// maxBatch bounds how many writes share one commit.
const maxBatch = 512

// OpenSQLite opens (creating if needed) the database, applies the schema
// and migrations, and starts the writer and the background checks.
func OpenSQLite(o Options) (*SQLite, error) {
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(o.Dir, "herald.db")
	if err := createDatabase(path); err != nil {
		return nil, err
	}
	tuneMalloc()
	syncPragma := "NORMAL" // WAL + NORMAL: a commit survives a killed process
	if o.Sync == "full" {
		syncPragma = "FULL" // also survives power loss
	}
	// All pragmas live here, in the DSN, so every connection gets them.
	// _stmt_cache_size: the hot statements are parsed once per connection;
	// multi-row statements come in a shape per row count, so room for many.
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=%d&_foreign_keys=on&_synchronous=%s&_stmt_cache_size=256",
		path, busyTimeoutMS, syncPragma)
	if err := vfsErr(); err != nil {
		log.Warn("Herald's SQLite VFS is not in use; SQLite's default one makes more system calls per commit", "error", err)
	}
	clock := o.Now
	if clock == nil {
		clock = time.Now
	}
	s := &SQLite{path: path, log: log, clock: clock, queue: make(chan *writeOp, 4096), done: make(chan struct{}),
		stopBackground: make(chan struct{}), backgroundDone: make(chan struct{}), ids: NewIDGen(), gap: commitGap}
	if o.commitGap > 0 {
		s.gap = o.commitGap
	}
	var err error
	if s.writeDB, err = sql.Open("sqlite3", dsn+"&_txlock=immediate"); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s.writeDB.SetMaxOpenConns(1)
	s.writeDB.SetConnMaxIdleTime(0)
	if s.read, err = sql.Open("sqlite3", dsn+"&mode=ro"); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s.read.SetMaxOpenConns(8)
	if s.checkpoint, err = sql.Open("sqlite3", dsn); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s.checkpoint.SetMaxOpenConns(1)
	if err := s.openWriter(o); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.health.start(path); err != nil {
		s.closeDBs()
		return nil, err
	}
	go s.writer()
	go s.background()
	return s, nil
}

// pageSize is a new database's page size. SQLite's default is 4 KiB; a
// commit writes each page it touched whole to the WAL, and most commits
// touch one small change in each of a dozen b-trees, so smaller pages mean
// less to write and to sync: with 2 KiB, 40 % fewer WAL bytes per event and
// a lower p99 at 2,000 events/s. An existing database keeps its own size.
const pageSize = 2048

// createDatabase creates the file with pageSize pages if there is none yet.
// The size is fixed by the first write, and the DSN's journal_mode=WAL is
// one, so this happens on a connection of its own before the pools open.
func createDatabase(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return nil
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	if _, err := db.Exec("PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}

// openWriter migrates the schema on the writer's connection and prepares it
// for the writer: its own checkpoints, the page cap, the update hook.
func (s *SQLite) openWriter(o Options) error {
	ctx := context.Background()
	conn, err := s.writeDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	s.writeConn = conn
	if err := migrate(conn, o.Schema, migrations); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
		return fmt.Errorf("size the writer's page cache: %w", err)
	}
	// Checkpoints copy the WAL into the database and fsync. Left to SQLite,
	// they run inside a commit and stall every request waiting on it. Herald
	// runs them itself (see background and maybeRestartWAL).
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		return fmt.Errorf("configure checkpoints: %w", err)
	}
	// Once the WAL restarts, the first commit shrinks its file back to
	// walSizeLimit (the driver has no DSN key for it). Then the file grows
	// past that only when the WAL's content does.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA journal_size_limit = %d", walSizeLimit)); err != nil {
		return fmt.Errorf("configure checkpoints: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&s.frameSize); err != nil {
		return fmt.Errorf("read page size: %w", err)
	}
	s.frameSize += walFrameHeader
	if o.MaxPages > 0 {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", o.MaxPages)); err != nil {
			return fmt.Errorf("cap database size: %w", err)
		}
	}
	// Any write to the webhooks or tokens table, whatever the statement,
	// marks their caches stale: no op has to remember to say so.
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("open database: unexpected driver connection %T", dc)
		}
		c.RegisterUpdateHook(func(_ int, _ string, table string, _ int64) {
			switch table {
			case "webhooks":
				s.hooksTouched = true
			case "tokens":
				s.tokensTouched = true
			}
		})
		return nil
	})
}

func (s *SQLite) closeDBs() error {
	var errs []error
	if s.writeConn != nil {
		errs = append(errs, s.writeConn.Close())
	}
	for _, db := range []*sql.DB{s.checkpoint, s.read, s.writeDB} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// Close stops the writer after the queued writes and closes the database.
func (s *SQLite) Close() error {
	s.once.Do(func() {
		close(s.stopBackground)
		<-s.backgroundDone // it may still write (token use)
		close(s.queue)
	})
	<-s.done
	if s.health.err() == nil {
		_, _ = s.writeConn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return s.closeDBs()
}

// Now is the store's clock.
func (s *SQLite) Now() time.Time { return s.clock() }

// NowMS is the store's clock in unix milliseconds.
func (s *SQLite) NowMS() int64 { return s.clock().UnixMilli() }

// NewID returns prefix + a new ULID (ids sort by creation).
func (s *SQLite) NewID(prefix string) string { return s.ids.New(prefix, s.Now()) }

// kvGet / kvSet keep small settings such as the source cursor.
func (s *SQLite) kvGet(ctx context.Context, key string) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, "SELECT value FROM kv WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func kvSet(tx *txn, key, value string) error {
	_, err := tx.Exec("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return err
}
