package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the Store on a PostgreSQL database that several Herald nodes
// share. PostgreSQL runs concurrent transactions itself (and shares one WAL
// flush among the commits that arrive together), so there is no writer
// goroutine: each write is one transaction on the pool.
//
// What SQLite gets from having one writer, this engine gets from the
// database: claims take rows with FOR UPDATE SKIP LOCKED and hold leases;
// ingest and webhook changes exclude each other with an advisory lock (so an
// acknowledged event has a delivery to every webhook committed before it);
// the webhook and token versions are counters in herald_versions, moved by
// triggers and polled by every node.
type Postgres struct {
	pool *pgxpool.Pool
	// outcomes records attempt outcomes: with Sync "normal", on connections
	// with synchronous_commit off (see recordPool); with "full", pool.
	outcomes *pgxpool.Pool
	log      *slog.Logger
	clock    func() time.Time
	ids      *IDGen
	node     string
	cap      int // per-webhook cap of deliveries in flight, across nodes

	hooksVersion, tokensVersion atomic.Uint64
	hooksMu                     sync.Mutex
	hooksCache                  []*Webhook // as of hooksCacheAt (the database's webhooks version)
	hooksCacheAt                int64

	liveNodes atomic.Int64 // nodes seen within pgNodeAlive, this one included

	tokenUse tokenUse
	fault    atomic.Pointer[func(op string) error]

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ Store = (*Postgres)(nil)

// Advisory lock keys: (pgLockSpace, one of these). The first key is the
// schema's, so Herald installs in different schemas of one database (and
// the tests, each in a schema of its own) never wait on each other; the
// two-key form keeps them apart from the one-key locks that claims take
// per webhook.
const (
	pgLockMatch     = 1 // shared by ingest, exclusive by webhook changes (see the schema's trigger)
	pgLockMigrate   = 2
	pgLockReconcile = 3
)

// pgLockSpace is SQL for the first key of Herald's advisory locks.
const pgLockSpace = "hashtext(coalesce(current_schema(), ''))"

// pgDefaultConns is a node's pool size unless the URL says
// pool_max_conns: API reads, ingest, claims and attempts run at once.
const pgDefaultConns = 16

// pgVersionPoll is how often a node reads the webhook and token versions:
// a change on another node reaches this one within about this long.
const pgVersionPoll = 200 * time.Millisecond

// pgNodeAlive is how long a node counts as alive after its last heartbeat
// (written each second): a killed node's share of the per-webhook cap goes
// to the others this long after it stopped.
const pgNodeAlive = 5 * time.Second

// pgTakeoverEvery is how often a node re-queues deliveries whose lease ran
// out (their node died): a dead node's work is taken over this soon after
// its leases end, without waiting for the reconcile job.
const pgTakeoverEvery = time.Second

// OpenPostgres connects to o.DatabaseURL, creates or migrates Herald's
// schema there, and starts the version poll and the lease takeover.
func OpenPostgres(o Options) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if !strings.Contains(o.DatabaseURL, "pool_max_conns") {
		cfg.MaxConns = pgDefaultConns
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := o.Now
	if clock == nil {
		clock = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Postgres{pool: pool, log: log, clock: clock, ids: NewIDGen(), node: o.NodeID, cap: o.PerWebhook,
		stop: make(chan struct{}), done: make(chan struct{})}
	if s.node == "" {
		s.node = newNodeID()
	}
	if s.cap <= 0 {
		s.cap = 4
	}
	if err := pgMigrate(ctx, pool, pgSchema, pgMigrations); err != nil {
		pool.Close()
		return nil, err
	}
	if s.outcomes, err = recordPool(ctx, cfg, pool, o.Sync); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.pollVersions(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.heartbeat(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	go s.background()
	return s, nil
}

// newNodeID names this process among the nodes: host name and a random
// suffix, so a restarted node is a new one.
func newNodeID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "node"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// NodeID names this node (for /metrics and the lease_owner column).
func (s *Postgres) NodeID() string { return s.node }

// Close stops the background work, writes the token uses and closes the pool.
func (s *Postgres) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	if s.outcomes != s.pool {
		s.outcomes.Close()
	}
	s.pool.Close()
	return nil
}

// recordPool is where attempt outcomes are written. HERALD_SYNC "normal"
// (the default) writes them with synchronous_commit off: PostgreSQL
// acknowledges before its WAL is on disk, so a crash of the database server
// (not of a Herald node) can forget the last moments of outcomes. Such a
// delivery is still in flight under its lease, which is durable, so it is
// sent again when the lease ends: a duplicate, never a loss, never an
// overlap. Events, webhooks, tokens, claims and leases are always
// synchronous. "full" writes outcomes synchronously too.
func recordPool(ctx context.Context, cfg *pgxpool.Config, pool *pgxpool.Pool, sync string) (*pgxpool.Pool, error) {
	if sync == "full" {
		return pool, nil
	}
	c := cfg.Copy()
	c.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	c.MaxConns = max(4, cfg.MaxConns/2)
	p, err := pgxpool.NewWithConfig(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return p, nil
}

// Now is the store's clock.
func (s *Postgres) Now() time.Time { return s.clock() }

// NowMS is the store's clock in unix milliseconds.
func (s *Postgres) NowMS() int64 { return s.clock().UnixMilli() }

// NewID returns prefix + a new ULID (ids sort by creation).
func (s *Postgres) NewID(prefix string) string { return s.ids.New(prefix, s.Now()) }

// SetFaultHook: see SQLite.SetFaultHook.
func (s *Postgres) SetFaultHook(f func(op string) error) {
	if f == nil {
		s.fault.Store(nil)
		return
	}
	s.fault.Store(&f)
}

// pgq is what both the pool and a transaction answer.
type pgq interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgTx is a write transaction as an op sees it: it cannot commit or roll
// back, and it notes whether a statement changed webhooks or tokens, so the
// versions move after the commit whatever the op's author remembered.
type pgTx struct {
	ctx     context.Context
	tx      pgx.Tx
	touched bool
}

var pgTouches = regexp.MustCompile(`(?is)^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(webhooks|tokens)\b`)

func (t *pgTx) Exec(sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.tx.Exec(t.ctx, sql, args...)
	if err == nil && tag.RowsAffected() > 0 && pgTouches.MatchString(sql) {
		t.touched = true
	}
	return tag, err
}

func (t *pgTx) Query(sql string, args ...any) (pgx.Rows, error) {
	return t.tx.Query(t.ctx, sql, args...)
}

func (t *pgTx) QueryRow(sql string, args ...any) pgx.Row { return t.tx.QueryRow(t.ctx, sql, args...) }

// pgRetries bounds how often a transaction that lost a deadlock or a
// serialization conflict runs again.
const pgRetries = 5

// write runs fn in a transaction of its own and commits it. fn follows the
// rules of SQLite.write: SQL only, and it may run more than once (after a
// deadlock or serialization failure), so it sets its results afresh.
func (s *Postgres) write(ctx context.Context, name string, fn func(tx *pgTx) error) error {
	var err error
	for range pgRetries {
		err = s.writeOnce(ctx, name, fn)
		if !pgRetryable(err) {
			break
		}
	}
	return s.opError(name, err)
}

func (s *Postgres) writeOnce(ctx context.Context, name string, fn func(tx *pgTx) error) error {
	// Once begun, a write runs to its end even if the caller goes away: the
	// caller must know whether it was committed.
	ctx = context.WithoutCancel(ctx)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	t := &pgTx{ctx: ctx, tx: tx}
	if err := fn(t); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if f := s.fault.Load(); f != nil {
		if err := (*f)(name); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if t.touched {
		// This node sees its own change at once; the others within a poll.
		if err := s.pollVersions(ctx); err != nil {
			s.log.Warn("Reading the webhook version failed", "error", err)
		}
	}
	return nil
}

func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// opError passes an op's refusal on as it is and turns database failures
// into what the API can say: a full disk (507), a database that cannot be
// reached (503), anything else internal.
func (s *Postgres) opError(name string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return errorf(CodeStorageFull, "", "the database server's disk is full: nothing was stored; try again once space is freed")
		case pe.Code[:2] == "08", pe.Code[:2] == "57", pe.Code == "53300", pe.Code == "25006":
			return errorf(CodeUnavailable, "", "the database cannot be written (%s): nothing was stored", pe.Message)
		}
		if _, bare := err.(*pgconn.PgError); !bare {
			return err // the op said what it was doing
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxClosed) {
		return errorf(CodeUnavailable, "", "the database cannot be reached: nothing was stored")
	}
	return fmt.Errorf("%s: %w", name, err)
}

// pollVersions reads the webhook and token versions; a version that moved
// on another node drops this node's caches.
func (s *Postgres) pollVersions(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, "SELECT name, v FROM herald_versions")
	if err != nil {
		return fmt.Errorf("read versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return fmt.Errorf("read versions: %w", err)
		}
		switch name {
		case "webhooks":
			bumpTo(&s.hooksVersion, uint64(v))
		case "tokens":
			bumpTo(&s.tokensVersion, uint64(v))
		}
	}
	return rows.Err()
}

// bumpTo moves a version forward to v, never back.
func bumpTo(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// WebhookVersion moves after every committed change to a webhook, on any node.
func (s *Postgres) WebhookVersion() uint64 { return s.hooksVersion.Load() }

// background polls the versions, takes over deliveries whose lease ran out,
// and writes token uses once a minute.
func (s *Postgres) background() {
	defer close(s.done)
	poll := time.NewTicker(pgVersionPoll)
	defer poll.Stop()
	lastTakeover, lastFlush := time.Now(), time.Now()
	for {
		select {
		case <-s.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.flushTokenUse(ctx); err != nil {
				s.log.Warn("Saving token use failed", "error", err)
			}
			// Stopping: the others take this node's share of the cap now.
			if _, err := s.pool.Exec(ctx, "DELETE FROM herald_nodes WHERE id = $1", s.node); err != nil {
				s.log.Warn("Leaving the node list failed", "error", err)
			}
			cancel()
			return
		case <-poll.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.pollVersions(ctx); err != nil {
			s.log.Debug("Version poll failed", "error", err)
		}
		if time.Since(lastTakeover) >= pgTakeoverEvery {
			lastTakeover = time.Now()
			if err := s.heartbeat(ctx); err != nil {
				s.log.Debug("Heartbeat failed", "error", err)
			}
			// A second's grace past the end of a lease: the holder may be
			// recording its answer right now.
			if n, err := s.RequeueInFlight(ctx, s.NowMS()-pgTakeoverEvery.Milliseconds()); err != nil {
				s.log.Debug("Lease takeover failed", "error", err)
			} else if n > 0 {
				s.log.Info("Took over deliveries whose lease ran out", "count", n)
			}
		}
		if time.Since(lastFlush) >= tokenFlushEvery {
			lastFlush = time.Now()
			if err := s.flushTokenUse(ctx); err != nil {
				s.log.Warn("Saving token use failed", "error", err)
			}
		}
		cancel()
	}
}

// heartbeat notes this node alive and counts the live nodes.
func (s *Postgres) heartbeat(ctx context.Context) error {
	now := s.NowMS()
	b := &pgx.Batch{}
	b.Queue("INSERT INTO herald_nodes (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at", s.node, now)
	b.Queue("SELECT count(*) FROM herald_nodes WHERE seen_at > $1 OR id = $2", now-pgNodeAlive.Milliseconds(), s.node)
	var n int64
	err := s.oneTripRaw(ctx, s.pool, "heartbeat", b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&n)
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	s.liveNodes.Store(max(n, 1))
	return nil
}

// LiveNodes is how many nodes share the database, this one included.
func (s *Postgres) LiveNodes() int { return int(s.liveNodes.Load()) }

// Health says whether the database answers and takes writes.
func (s *Postgres) Health(ctx context.Context) error {
	var readOnly string
	if err := s.pool.QueryRow(ctx, "SHOW transaction_read_only").Scan(&readOnly); err != nil {
		return s.opError("health", err)
	}
	if readOnly == "on" {
		return errorf(CodeUnavailable, "", "the database is read-only (a standby?): nothing can be stored")
	}
	return nil
}

// Sizes reports the database's size; PostgreSQL keeps its WAL to itself.
func (s *Postgres) Sizes() (wal, db int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&db)
	return 0, db
}

// Checkpoint is PostgreSQL's own business (autovacuum, checkpointer).
func (s *Postgres) Checkpoint(ctx context.Context) error { return nil }

// TryExclusive runs fn if no other node runs the job called name, holding a
// session advisory lock on one connection meanwhile. ran is false when
// another node holds it.
func (s *Postgres) TryExclusive(ctx context.Context, name string, fn func() error) (ran bool, err error) {
	key := pgLockReconcile
	if name != "reconcile" {
		return false, fmt.Errorf("no exclusive job called %q", name)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, s.opError("lock "+name, err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+pgLockSpace+", $1)", key).Scan(&got); err != nil {
		return false, s.opError("lock "+name, err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock("+pgLockSpace+", $1)", key); err != nil {
			conn.Conn().Close(uctx) // a closed session drops its locks
		}
	}()
	return true, fn()
}

// kvGet reads a small setting.
func (s *Postgres) kvGet(ctx context.Context, q pgq, key string) (string, error) {
	var v string
	err := q.QueryRow(ctx, "SELECT value FROM kv WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func pgKvSet(tx *pgTx, key, value string) error {
	_, err := tx.Exec("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return err
}

// Engine names the database a store runs on: "sqlite" or "postgres".
func Engine(s Store) string {
	if _, ok := s.(*Postgres); ok {
		return "postgres"
	}
	return "sqlite"
}

// Exclusive is a store shared by several nodes, on which a job must run on
// one node at a time: TryExclusive runs fn unless another node runs the
// job, and says whether it ran. SQLite, one node by definition, has none.
type Exclusive interface {
	TryExclusive(ctx context.Context, name string, fn func() error) (ran bool, err error)
	NodeID() string
}

var _ Exclusive = (*Postgres)(nil)

// NodeID names the node a store serves: the PostgreSQL engine's node id,
// or the host name on SQLite (one node).
func NodeID(s Store) string {
	if ex, ok := s.(Exclusive); ok {
		return ex.NodeID()
	}
	host, _ := os.Hostname()
	return host
}
