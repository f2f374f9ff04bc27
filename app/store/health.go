package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// health is what the store knows about its file: whether it is still the
// file it opened, intact, and writable. A vanished or corrupt file is
// sticky: every write is refused until Herald is restarted on a good file,
// so nothing is acknowledged that could not be made durable. A full disk
// clears itself at the next commit that succeeds.
type health struct {
	mu       sync.Mutex
	path     string
	dev, ino uint64
	problem  string    // vanished or corrupt; "" while fine
	fullErr  error     // the last write failed for want of space
	lastLog  time.Time // failures are logged at most once a minute
	lastGood time.Time // the last successful commit
}

// logEvery keeps a failing disk from flooding the log: one line a minute.
const logEvery = time.Minute

func (h *health) start(path string) error {
	dev, ino, err := fileID(path)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	h.path, h.dev, h.ino, h.lastGood = path, dev, ino, time.Now()
	return nil
}

func fileID(path string) (dev, ino uint64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, errors.New("no file identity on this system")
	}
	return uint64(st.Dev), st.Ino, nil
}

// check compares the file on disk with the one opened.
func (h *health) check(log *slog.Logger) {
	dev, ino, err := fileID(h.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		h.broken(log, "the database file "+h.path+" was deleted while Herald ran")
	case err != nil:
		h.broken(log, "the database file cannot be checked: "+err.Error())
	case dev != h.dev || ino != h.ino:
		h.broken(log, "the database file "+h.path+" was replaced while Herald ran")
	}
}

func (h *health) broken(log *slog.Logger, problem string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.problem == "" {
		h.problem = problem
		log.Error("Database unusable: refusing writes until Herald restarts on a good file", "problem", problem)
	}
}

func (h *health) full(log *slog.Logger, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fullErr = err
	if time.Since(h.lastLog) >= logEvery {
		h.lastLog = time.Now()
		log.Error("Disk full: writes are refused until space is freed", "error", err)
	}
}

func (h *health) committed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastGood = time.Now()
}

// roomAgain clears a full disk once a probe found room. Only a probe does:
// a commit that needed no new page says nothing about room for events.
func (h *health) roomAgain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fullErr = nil
	h.lastLog = time.Time{}
}

func (h *health) isFull() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fullErr != nil
}

// refuse is the error every write gets while the file cannot be trusted.
func (h *health) refuse() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.problem != "" {
		return errorf(CodeUnavailable, "", "the database is unusable (%s): nothing was stored", h.problem)
	}
	return nil
}

func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.problem != "":
		return errors.New(h.problem)
	case h.fullErr != nil:
		return fmt.Errorf("the disk is full: %w", h.fullErr)
	}
	return nil
}

// Health says whether the database is the file Herald opened, intact and
// writable; nil means healthy. While the disk is full it tries a small write,
// so it recovers by itself once space is freed.
func (s *SQLite) Health(ctx context.Context) error {
	s.health.check(s.log)
	if err := s.health.refuse(); err != nil {
		return err
	}
	s.health.mu.Lock()
	probe := s.health.fullErr != nil || time.Since(s.health.lastGood) > probeAfter
	s.health.mu.Unlock()
	if probe {
		if err := s.probeWrite(ctx); err != nil {
			return err
		}
	}
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return s.opError("health read", err)
	}
	return s.health.err()
}

// probeAfter: a store with no commit for this long proves it can still write.
const probeAfter = 10 * time.Second

// probeBytes is the room a probe asks for: more than a commit of events
// may need. Pages are what run out, and an event's commit touches ten
// b-trees (events 4, deliveries 6), each of which may split and take a
// page, besides its data: 16 KiB in one b-tree (5 pages) said there was
// room while commits of events were refused.
const probeBytes = 64 << 10

var errProbed = errors.New("probe done; rolled back")

// probeWrite asks whether the database can take a row of probeBytes, then
// rolls it back: it proves there is room without writing anything.
func (s *SQLite) probeWrite(ctx context.Context) error {
	err := s.write(ctx, "health probe", func(tx *txn) error {
		if _, err := tx.Exec("INSERT OR REPLACE INTO kv (key, value) VALUES ('health.probe', zeroblob(?))", probeBytes); err != nil {
			return err
		}
		return errProbed
	})
	if errors.Is(err, errProbed) {
		s.health.roomAgain()
		s.health.committed()
		return nil
	}
	return err
}

// quickCheck runs SQLite's quick_check and marks the store broken if the
// file is damaged.
func (s *SQLite) quickCheck(ctx context.Context) {
	rows, err := s.read.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		_ = s.opError("quick check", err)
		return
	}
	defer rows.Close()
	var first string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return
		}
		if first == "" {
			first = line
		}
	}
	if err := rows.Err(); err != nil {
		_ = s.opError("quick check", err)
		return
	}
	if first != "ok" && first != "" {
		s.health.broken(s.log, "quick_check found damage: "+first)
	}
}
