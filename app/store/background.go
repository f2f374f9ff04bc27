package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// The WAL's bounds. Under steady writes a checkpoint from beside the writer
// never catches up with it, so the WAL can only restart (and shrink back to
// walSizeLimit) when the writer itself finishes the checkpoint between two
// commits; it does so once the file passes walRestartAt, and past
// walHardLimit it waits longer for slow readers to let go.
const (
	walRestartAt    = 16 << 20
	walHardLimit    = 48 << 20
	walSizeLimit    = 16 << 20
	checkpointEvery = time.Second           // the off-path checkpoint, which does the bulk of the copying
	walCheckEvery   = 50 * time.Millisecond // how often the writer looks at the WAL's size
	quickCheckEvery = 10 * time.Minute      // PRAGMA quick_check reads the whole file
)

// background copies the WAL into the database, asks the writer to restart
// the WAL when it grows, checks that the file is still the one opened, and
// now and then that it is intact.
func (s *SQLite) background() {
	defer close(s.backgroundDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	lastQuick, lastFlush := time.Now(), time.Now()
	for {
		select {
		case <-s.stopBackground:
			if err := s.flushTokenUse(context.Background()); err != nil {
				s.log.Warn("Saving token use failed", "error", err)
			}
			return
		case <-t.C:
		}
		s.health.check(s.log)
		if s.health.refuse() != nil {
			continue
		}
		if s.health.isFull() {
			// So /healthz turns healthy by itself once space is freed.
			_ = s.probeWrite(context.Background())
		}
		if _, err := s.checkpoint.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			_ = s.opError("checkpoint", err)
			s.log.Warn("WAL checkpoint failed", "error", err)
		}
		if wal, _ := s.Sizes(); wal > walRestartAt {
			s.walRestart.Store(true)
		}
		if time.Since(lastFlush) >= tokenFlushEvery {
			lastFlush = time.Now()
			if err := s.flushTokenUse(context.Background()); err != nil {
				s.log.Warn("Saving token use failed", "error", err)
			}
		}
		if time.Since(lastQuick) >= quickCheckEvery {
			lastQuick = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			s.quickCheck(ctx)
			cancel()
		}
	}
}

// maybeRestartWAL runs in the writer between commits. With no write in
// progress a RESTART checkpoint copies what is left of the WAL (most of it
// was copied off the write path already) and waits for the readers still
// on the old log; the next commit then starts the WAL over, and
// journal_size_limit shrinks the file. Readers that start meanwhile read
// the database file, so the wait is one query at most: it is capped, and
// tried again after the next commit if a long reader is about.
func (s *SQLite) maybeRestartWAL() {
	forced := s.walRestart.CompareAndSwap(true, false)
	now := time.Now()
	if !forced && now.Before(s.nextWALCheck) {
		return
	}
	s.nextWALCheck = now.Add(walCheckEvery)
	wal, _ := s.Sizes()
	if !forced && wal <= walRestartAt {
		return
	}
	ctx := context.Background()
	wait := 250 // ms
	if wal > walHardLimit {
		// Long readers kept beating it: hold writes longer, but bound the WAL.
		wait = 2000
	}
	if _, err := s.writeConn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait)); err != nil {
		s.log.Warn("WAL checkpoint failed", "error", err)
		return
	}
	var busy, frames, copied int
	err := s.writeConn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	if _, rerr := s.writeConn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeoutMS)); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		s.log.Warn("WAL checkpoint failed", "error", err)
	}
	if err != nil || busy != 0 {
		s.nextWALCheck = now.Add(checkpointEvery) // a long reader: let writes go on a while
	}
}

// Sizes are the WAL's and the database file's sizes in bytes, for /metrics.
func (s *SQLite) Sizes() (wal, db int64) {
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		wal = fi.Size()
	}
	if fi, err := os.Stat(s.path); err == nil {
		db = fi.Size()
	}
	return wal, db
}

// Checkpoint copies the WAL back into the database file (after large
// deletes), and lets the writer restart it.
func (s *SQLite) Checkpoint(ctx context.Context) error {
	if _, err := s.checkpoint.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		return s.opError("checkpoint", err)
	}
	s.walRestart.Store(true)
	return nil
}

// SetMaxPages caps the database at n pages (PRAGMA max_page_count): an
// operator's quota, and how tests fill the "disk". It answers the cap now in
// force, which is never below the pages already used.
func (s *SQLite) SetMaxPages(ctx context.Context, n int) (int, error) {
	var got int
	err := s.write(ctx, "set max pages", func(tx *txn) error {
		return tx.QueryRow(fmt.Sprintf("PRAGMA max_page_count = %d", n)).Scan(&got)
	})
	return got, err
}
