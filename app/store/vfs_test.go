package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The VFS is registered before SQLite opens anything, as the default: every
// connection opens through it.
func TestSQLiteSetUpBeforeUse(t *testing.T) {
	if err := vfsErr(); err != nil {
		t.Fatal(err)
	}
	if got := defaultVFS(); got != vfsName {
		t.Fatalf("new connections open through the %q VFS; want %q", got, vfsName)
	}
}

// A commit's WAL writes reach the file in a few calls, not two per page.
func TestWALVFSGathersACommitsWrites(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	ctx := context.Background()
	c0 := readVFSCounts()
	const n = 200
	for i := range n {
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", fmt.Sprint("c", i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	c1 := readVFSCounts()
	asked, written := c1.walWrites-c0.walWrites, c1.walFlushes-c0.walFlushes
	t.Logf("%d commits: SQLite asked for %d WAL writes, %d reached the file", n, asked, written)
	if asked < 4*n {
		t.Fatalf("only %d WAL writes asked for %d commits: are the connections on the %q VFS?", asked, n, vfsName)
	}
	if written > asked/3 {
		t.Fatalf("%d of %d WAL writes reached the file one by one; want them gathered", written, asked)
	}
	if got, err := s.FindEvents(ctx, EventFilter{Limit: n}); err != nil || len(got) != n {
		t.Fatalf("read back %d events (%v); want %d", len(got), err, n)
	}
}

// Readers on other connections never see a commit before all of its WAL
// frames are in the file. Transactions of random sizes, some larger than
// the writer's page cache (so SQLite writes frames mid-transaction and
// overwrites them, and rewrites their checksums at commit), some rolled
// back, with checkpoints and WAL restarts beside them. Readers check that a
// running total committed with the rows agrees with the rows, and that
// rows hold what was written; at the end SQLite's integrity check runs on
// a connection without the VFS.
func TestWALVFSReadersNeverSeeTornCommits(t *testing.T) {
	if err := vfsErr(); err != nil {
		t.Fatal(err)
	}
	c0 := readVFSCounts()
	rollbacks := 0
	for _, mode := range []string{"NORMAL", "FULL"} {
		t.Run(mode, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rollbacks += tornCommitRun(t, seed, mode)
		})
	}
	c1 := readVFSCounts()
	// Every commit's frames reached the file where an error can still fail
	// the commit, never only in the barrier (where the process would have
	// to stop), including commits whose checksums SQLite rewrote. A barrier
	// finds frames only after a rollback: the dead frames of a transaction
	// that spilled, written on the next transaction's first read.
	rewrites, late := c1.commitRewrites-c0.commitRewrites, c1.barrierFlushes-c0.barrierFlushes
	t.Logf("%d commits rewrote their checksums; %d rollbacks; %d barriers found frames", rewrites, rollbacks, late)
	if rewrites == 0 {
		t.Error("no commit rewrote its checksums: the transactions did not outgrow the page cache")
	}
	if late > int64(rollbacks) {
		t.Errorf("%d barriers found frames still to write, after %d rollbacks: a commit reached its barrier with frames still in memory", late, rollbacks)
	}
}

// tornCommitRun runs one seeded run and returns how many transactions it
// rolled back.
func tornCommitRun(t *testing.T, seed uint64, syncMode string) (rollbacks int) {
	path := filepath.Join(t.TempDir(), "t.db")
	if err := createDatabase(path); err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=5000&_synchronous=%s&vfs=%s", path, syncMode, vfsName)
	open := func(conns int) *sql.DB {
		db, err := sql.Open("sqlite3", dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(conns)
		t.Cleanup(func() { db.Close() })
		return db
	}
	w, r, ck := open(1), open(4), open(1)
	ctx := context.Background()
	for _, q := range []string{
		"PRAGMA cache_size = 16", // pages: big transactions spill
		"PRAGMA wal_autocheckpoint = 0",
		"CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL, crc INTEGER NOT NULL)",
		"CREATE TABLE total (rows INTEGER NOT NULL, bytes INTEGER NOT NULL)",
		"INSERT INTO total VALUES (0, 0)",
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	done := make(chan struct{})
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for k := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(k+1)))
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := checkSnapshot(ctx, r, rng); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 99))
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(rng.IntN(5)) * time.Millisecond):
			}
			mode := []string{"PASSIVE", "PASSIVE", "PASSIVE", "RESTART", "TRUNCATE"}[rng.IntN(5)]
			if _, err := ck.ExecContext(ctx, "PRAGMA wal_checkpoint("+mode+")"); err != nil {
				errs <- fmt.Errorf("checkpoint %s: %w", mode, err)
				return
			}
		}
	})

	rng := rand.New(rand.NewPCG(seed, 0))
	var ids []int64
	deadline := time.Now().Add(2 * time.Second)
	for n := 0; time.Now().Before(deadline) || n < 50; n++ {
		next, err := writeRandomTx(ctx, w, rng, ids)
		if err != nil {
			t.Fatalf("transaction %d: %v", n, err)
		}
		if next == nil {
			rollbacks++
		} else {
			ids = next
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	plain, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&vfs=unix") // SQLite's own VFS
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	mustBeIntact(t, plain)
	if err := checkSnapshot(ctx, plain, rng); err != nil {
		t.Fatal(err)
	}
	return rollbacks
}

// writeRandomTx inserts, rewrites and deletes rows in one transaction and
// keeps the running total with them; one in eight is rolled back. It
// returns the ids that exist afterwards, or nil if it rolled back.
func writeRandomTx(ctx context.Context, db *sql.DB, rng *rand.Rand, ids []int64) ([]int64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return ids, err
	}
	defer tx.Rollback()
	next := append([]int64(nil), ids...)
	body := func() ([]byte, int64) {
		b := make([]byte, 1+rng.IntN([]int{100, 3000, 20000}[rng.IntN(3)]))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b, int64(crc32.ChecksumIEEE(b))
	}
	for range 1 + rng.IntN([]int{3, 40, 400}[rng.IntN(3)]) {
		switch op := rng.IntN(10); {
		case op < 6 || len(next) == 0:
			b, c := body()
			res, err := tx.ExecContext(ctx, "INSERT INTO t (body, crc) VALUES (?, ?)", b, c)
			if err != nil {
				return ids, err
			}
			id, _ := res.LastInsertId()
			next = append(next, id)
		case op < 9:
			b, c := body()
			if _, err := tx.ExecContext(ctx, "UPDATE t SET body = ?, crc = ? WHERE id = ?", b, c, next[rng.IntN(len(next))]); err != nil {
				return ids, err
			}
		default:
			i := rng.IntN(len(next))
			if _, err := tx.ExecContext(ctx, "DELETE FROM t WHERE id = ?", next[i]); err != nil {
				return ids, err
			}
			next = append(next[:i], next[i+1:]...)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE total SET rows = (SELECT count(*) FROM t), bytes = (SELECT coalesce(sum(length(body)), 0) FROM t)"); err != nil {
		return ids, err
	}
	if rng.IntN(8) == 0 {
		return nil, tx.Rollback()
	}
	return next, tx.Commit()
}

// checkSnapshot reads, in one read transaction, the running total and the
// rows it counts, and checks a few rows' bodies against their checksums.
func checkSnapshot(ctx context.Context, db *sql.DB, rng *rand.Rand) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var rows, bytes, n, sum int64
	if err := tx.QueryRowContext(ctx, "SELECT rows, bytes FROM total").Scan(&rows, &bytes); err != nil {
		return fmt.Errorf("read total: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(length(body)), 0) FROM t").Scan(&n, &sum); err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	if n != rows || sum != bytes {
		return fmt.Errorf("a reader saw %d rows of %d bytes, but the total committed with them says %d rows of %d bytes", n, sum, rows, bytes)
	}
	q, err := tx.QueryContext(ctx, "SELECT id, body, crc FROM t WHERE id >= ? ORDER BY id LIMIT 20", rng.Int64N(max(rows, 1)))
	if err != nil {
		return err
	}
	defer q.Close()
	for q.Next() {
		var id, crc int64
		var b []byte
		if err := q.Scan(&id, &b, &crc); err != nil {
			return err
		}
		if int64(crc32.ChecksumIEEE(b)) != crc {
			return fmt.Errorf("row %d: its body does not match its checksum", id)
		}
	}
	return q.Err()
}

// A WAL write that fails reaches SQLite as a failed commit (gathered writes
// go out at the commit frame, where an error can still be returned), and
// what was committed before stays readable. The file-size limit makes the
// kernel refuse the write, as a full disk would.
func TestWALVFSFailedWriteFailsTheCommit(t *testing.T) {
	if err := vfsErr(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.db")
	if err := createDatabase(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?_journal_mode=WAL&vfs=%s", path, vfsName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"PRAGMA wal_autocheckpoint = 0",
		"CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
		"INSERT INTO t (body) VALUES (zeroblob(1000))",
		"PRAGMA wal_checkpoint(TRUNCATE)", // the WAL file is empty again
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 16 << 10 // the database file is smaller; the WAL may grow to this
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	const forty = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 40) INSERT INTO t (body) SELECT randomblob(1000) FROM s"
	_, commitErr := db.Exec(forty)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if commitErr == nil {
		t.Fatal("a commit whose WAL write the kernel refused succeeded")
	}
	if msg := commitErr.Error(); !strings.Contains(msg, "disk") {
		t.Fatalf("the commit failed for another reason: %v", commitErr)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the failed commit: %d rows (%v); want the 1 committed before", n, err)
	}
	if _, err := db.Exec(forty); err != nil {
		t.Fatalf("the same commit once the limit is lifted: %v", err)
	}
	mustBeIntact(t, db)
}

// A statement that changes many rows inside a transaction keeps a
// sub-journal to undo itself if it fails halfway. Past 64 KiB SQLite hands
// it to the VFS, which holds it in memory up to subJournalInMemory and then
// moves it to a file (in pieces: one write of that size fails on the
// default VFS as a full disk). Both are read back when a statement fails
// on its last row, and must undo it exactly.
func TestSubJournalsStayInMemoryThenMoveToAFile(t *testing.T) {
	for _, c := range []struct {
		name        string
		bytes       int // changed by the statement
		wantInFiles int64
	}{
		{"in memory", 512 << 10, 0},
		{"moved to a file", 3 * subJournalInMemory / 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows := c.bytes / 1000
			db := zeroRows(t, rows)
			c0 := readVFSCounts()
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// Every row changes, then the last one breaks NOT NULL: SQLite
			// undoes the statement from its sub-journal.
			_, err = tx.Exec("UPDATE t SET body = CASE WHEN id = ? THEN NULL ELSE randomblob(1000) END", rows)
			if err == nil || !strings.Contains(err.Error(), "NOT NULL") {
				t.Fatalf("the failing update answered %v; want a NOT NULL constraint error", err)
			}
			var changed int
			if err := tx.QueryRow("SELECT count(*) FROM t WHERE body != zeroblob(1000)").Scan(&changed); err != nil || changed != 0 {
				t.Fatalf("after the failed statement, %d rows were left changed (%v); want it undone", changed, err)
			}
			if _, err := tx.Exec("UPDATE t SET body = randomblob(1000) WHERE id % 2 = 0"); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			c1 := readVFSCounts()
			if opened := c1.subJournals - c0.subJournals; opened < 1 {
				t.Fatalf("%d sub-journals reached the VFS; want the statement's", opened)
			}
			if files := c1.subJournalFiles - c0.subJournalFiles; files != c.wantInFiles {
				t.Fatalf("%d sub-journals moved to a file; want %d", files, c.wantInFiles)
			}
			mustBeIntact(t, db)
			if err := db.QueryRow("SELECT count(*) FROM t WHERE body != zeroblob(1000)").Scan(&changed); err != nil || changed != rows/2 {
				t.Fatalf("%d rows changed after the commit (%v); want %d", changed, err, rows/2)
			}
		})
	}
}

// mustBeIntact runs SQLite's integrity check on db.
func mustBeIntact(t *testing.T, db *sql.DB) {
	t.Helper()
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
}

// A sub-journal that cannot move to a file fails its statement cleanly:
// the statement is undone, what was committed stays, and the same
// statement succeeds once there is room. The file-size limit cuts the move
// short (SQLite answers an I/O error and rolls the transaction back; on a
// real full disk it answers SQLITE_FULL and undoes just the statement from
// the journal, which is why a journal that cannot move stays whole in
// memory: a test cannot fill a disk).
func TestSubJournalThatCannotMoveFailsCleanly(t *testing.T) {
	rows := 3 * subJournalInMemory / 2 / 1000
	db := zeroRows(t, rows,
		"PRAGMA wal_autocheckpoint = 0",
		"PRAGMA cache_size = -32768", // KiB: the transaction's pages stay in memory, out of the WAL
		"PRAGMA wal_checkpoint(TRUNCATE)")
	update := func() error {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.Exec("UPDATE t SET body = randomblob(1000)"); err != nil {
			return err
		}
		return tx.Commit()
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	// Half what the journal moves. Nothing else is written meanwhile: the
	// database only by checkpoints, the WAL only at commit.
	lim.Cur = subJournalInMemory / 2
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	failed := update()
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if failed == nil || !strings.Contains(failed.Error(), "disk") {
		t.Fatalf("the update whose journal could not move answered %v; want a disk error", failed)
	}
	var changed int
	if err := db.QueryRow("SELECT count(*) FROM t WHERE body != zeroblob(1000)").Scan(&changed); err != nil || changed != 0 {
		t.Fatalf("after the failed update, %d rows were changed (%v); want none", changed, err)
	}
	mustBeIntact(t, db)
	if err := update(); err != nil {
		t.Fatalf("the same update with room: %v", err)
	}
	if err := db.QueryRow("SELECT count(*) FROM t WHERE body = zeroblob(1000)").Scan(&changed); err != nil || changed != 0 {
		t.Fatalf("after the update, %d rows were left as they were (%v); want none", changed, err)
	}
}

// zeroRows opens a database on one connection with table t of rows
// 1000-byte zero bodies, then runs then.
func zeroRows(t *testing.T, rows int, then ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "t.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	for _, q := range append([]string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
		fmt.Sprintf("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) INSERT INTO t (body) SELECT zeroblob(1000) FROM s", rows),
	}, then...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}
