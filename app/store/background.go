package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// The WAL's bounds. Under steady writes a checkpoint from beside the writer
// never quite catches up with it, so the WAL can only restart when the
// writer itself finishes the checkpoint between two commits. The checkpoint
// beside it runs often, so that little is left for the writer to copy, and
// it says when the WAL holds more than walRestartAt; past walHardLimit
// (seen by the writer itself) it waits longer for slow readers to let go.
//
// The WAL's content is read from that checkpoint's answer, not from the
// file's size: after a restart SQLite writes over the old file from the
// start, so the file stays as large as it once grew.
const (
	walRestartAt    = 16 << 20
	walHardLimit    = 48 << 20
	walSizeLimit    = 16 << 20
	checkpointEvery = 250 * time.Millisecond // the off-path checkpoint, which does the bulk of the copying
	checkEvery      = time.Second            // the file's health, token use
	walCheckEvery   = 50 * time.Millisecond  // how often the writer looks at the WAL's size
	quickCheckEvery = 10 * time.Minute       // PRAGMA quick_check reads the whole file
	walFrameHeader  = 24                     // bytes before each page in the WAL
)

// background copies the WAL into the database, asks the writer to restart
// the WAL when it grows, checks that the file is still the one opened, and
// now and then that it is intact.
func (s *SQLite) background() {
	defer close(s.backgroundDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	lastCheck, lastQuick, lastFlush := time.Now(), time.Now(), time.Now()
	for {
		select {
		case <-s.stopBackground:
			if err := s.flushTokenUse(context.Background()); err != nil {
				s.log.Warn("Saving token use failed", "error", err)
			}
			return
		case <-t.C:
		}
		if time.Since(lastCheck) >= checkEvery {
			lastCheck = time.Now()
			s.health.check(s.log)
			if s.health.isFull() && s.health.refuse() == nil {
				// So /healthz turns healthy by itself once space is freed.
				_ = s.probeWrite(context.Background())
			}
		}
		if s.health.refuse() != nil {
			continue
		}
		s.checkpointBeside()
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

// checkpointBeside copies what it can of the WAL into the database without
// holding up writes, and asks the writer to restart the WAL once it holds
// more than walRestartAt.
func (s *SQLite) checkpointBeside() {
	if s.walRestart.Load() {
		return // the writer's turn: a checkpoint here would make its RESTART fail
	}
	frames, err := s.passiveCheckpoint(context.Background())
	if err != nil {
		_ = s.opError("checkpoint", err)
		s.log.Warn("WAL checkpoint failed", "error", err)
		return
	}
	if frames*s.frameSize > walRestartAt {
		s.walRestart.Store(true)
	}
}

// passiveCheckpoint copies what it can of the WAL into the database, on the
// checkpoint connection, and syncs what it copied (syncCheckpointed). It
// answers how many frames the WAL holds.
func (s *SQLite) passiveCheckpoint(ctx context.Context) (frames int64, err error) {
	var busy, copied int64
	s.checkpointing.Lock()
	defer s.checkpointing.Unlock()
	if err := s.checkpoint.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, err
	}
	if copied != s.lastCopied { // copied counts from the WAL's last restart
		s.lastCopied = copied
		return frames, s.syncCheckpointed(ctx)
	}
	return frames, nil
}

// syncCheckpointed fsyncs the pages a checkpoint beside the writer copied
// into the database. SQLite syncs them only when a checkpoint copies the
// whole WAL, which under steady writes only the writer's RESTART does: it
// then synced everything copied since the last restart (0.75 s of pages at
// 2,000 events/s, 4 to 6 ms) while every request waited on its commit.
// Synced here, a RESTART finds only what it copies itself.
//
// Herald's VFS does the sync, on the checkpoint connection's own file
// (vfs.c: SQLite hands a pragma it does not know to the VFS as a file
// control when it prepares it, and prepares a pragma afresh each run).
// A failed fsync leaves the file in an unknown state (the kernel may have
// dropped the pages it could not write), so the store stops writing, as
// when SQLite's own sync fails.
func (s *SQLite) syncCheckpointed(ctx context.Context) error {
	if _, err := s.checkpoint.ExecContext(ctx, "PRAGMA herald_sync"); err != nil {
		s.health.broken(s.log, "the database file cannot be synced: "+err.Error())
		return err
	}
	return nil
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
	wal, _ := s.Sizes() // the file grows past walSizeLimit only when the WAL's content does
	if !forced && wal <= walHardLimit {
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
	s.walRestarts.Add(1)
	s.checkpointing.Lock()
	err := s.writeConn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	s.checkpointing.Unlock()
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
	if _, err := s.passiveCheckpoint(ctx); err != nil {
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
