package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The WAL once grew without bound under steady writes with readers about
// (3.8 GB in 5 minutes at 100 events/s): a checkpoint beside the writer
// never caught up, so the log never restarted. It must stay bounded.
func TestWALStaysBoundedUnderLoad(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	const bound = 64 << 20
	// Until as much has been written as the bound, so that a WAL that never
	// restarts would pass it: time varies with the machine's load.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	big := strings.Repeat("x", 200<<10) // 200 KiB a message: lots of WAL per second
	// One event decoded once and copied under new ids: the test measures the
	// store, not JSON (slow under -race).
	tmpl := eventFor(s, "new_message", "c1")
	tmpl.SetData(fmt.Sprintf(`{"contact":{"id":"c1"},"message":{"text":%q,"channel":"sms"}}`, big))
	tmpl.ContentHash = ContentHash(tmpl)
	var wg sync.WaitGroup
	var written atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var evs []*Event
				for range 8 {
					ev := *tmpl
					ev.ID = s.NewID("evt_")
					evs = append(evs, &ev)
				}
				if _, err := s.InsertEvents(ctx, evs, nil); err == nil {
					written.Add(int64(len(evs) * len(big)))
				}
			}
		})
	}
	for range 4 { // readers, always about, as the dispatcher's and the API's are: they once kept the WAL from restarting
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.NextDue(ctx)
				_, _, _ = s.QueueDepth(ctx)
				_, _ = s.FindDeliveries(ctx, DeliveryFilter{Limit: 50})
				_, _ = s.FindEvents(ctx, EventFilter{Limit: 1, Newest: true})
			}
		})
	}
	var peak int64
	for ctx.Err() == nil && written.Load() < bound {
		wal, _ := s.Sizes()
		peak = max(peak, wal)
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("wrote %d MiB of messages; WAL peak %d MiB", written.Load()>>20, peak>>20)
	if written.Load() < bound {
		t.Fatalf("only %d MiB written: not enough load to test the bound", written.Load()>>20)
	}
	if peak > bound {
		t.Fatalf("WAL peaked at %d MiB; want under %d MiB", peak>>20, bound>>20)
	}
}

// Once the WAL restarts, its file shrinks back to walSizeLimit, and the
// writer restarts it again only when it fills up. The driver ignored the
// size limit given in its DSN, so the file stayed at its largest and the
// writer stopped for a RESTART checkpoint every 50 ms, however little had
// been written.
func TestWALShrinksAndRestartsOnlyWhenFull(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	ctx := context.Background()
	tmpl := eventFor(s, "new_message", "c1")
	tmpl.SetData(fmt.Sprintf(`{"contact":{"id":"c1"},"message":{"text":%q,"channel":"sms"}}`, strings.Repeat("x", 200<<10)))
	tmpl.ContentHash = ContentHash(tmpl)
	write := func() {
		ev := *tmpl
		ev.ID = s.NewID("evt_")
		if _, err := s.InsertEvents(ctx, []*Event{&ev}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Big writes until the WAL has restarted and the next commit trimmed
	// its file (a restart may have to wait for the checkpoint beside it).
	deadline := time.Now().Add(30 * time.Second)
	for {
		write()
		if wal, _ := s.Sizes(); s.walRestarts.Load() > 0 && wal <= walSizeLimit {
			break
		}
		if time.Now().After(deadline) {
			wal, _ := s.Sizes()
			t.Fatalf("after %d restarts the WAL file is still %d bytes; want it trimmed to %d", s.walRestarts.Load(), wal, walSizeLimit)
		}
	}
	// Small writes for a while: far less than the WAL holds. (A restart
	// asked for just before the last one may still come: let it.)
	time.Sleep(3 * checkpointEvery)
	before := s.walRestarts.Load()
	small := eventFor(s, "contact_created", "c2")
	for end := time.Now().Add(20 * walCheckEvery); time.Now().Before(end); {
		ev := *small
		ev.ID = s.NewID("evt_")
		if _, err := s.InsertEvents(ctx, []*Event{&ev}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // some 4 MiB of WAL a second: a commit writes every page it touched
	}
	if n := s.walRestarts.Load() - before; n > 1 {
		t.Fatalf("the WAL restarted %d times under a few small writes; want it left alone until it fills", n)
	}
}

// A RESTART holds every request while it runs, so it must find little to
// sync. SQLite syncs the database only when a checkpoint copies the whole
// WAL, which under steady writes only the RESTART does: it then synced every
// page the checkpoints beside the writer had copied since the last restart
// (4 to 6 ms of a 6 to 11 ms stall at 2,000 events/s). The checkpoint
// beside syncs what it copied; no sync of SQLite's may find it unsynced.
func TestCheckpointBesideSyncsWhatItCopied(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	ctx := context.Background()
	insert := func(n, size int) {
		tmpl := eventFor(s, "new_message", "c1")
		tmpl.SetData(fmt.Sprintf(`{"contact":{"id":"c1"},"message":{"text":%q,"channel":"sms"}}`, strings.Repeat("x", size)))
		tmpl.ContentHash = ContentHash(tmpl)
		var evs []*Event
		for range n {
			ev := *tmpl
			ev.ID = s.NewID("evt_")
			evs = append(evs, &ev)
		}
		if _, err := s.InsertEvents(ctx, evs, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Twice: the sync is a pragma that SQLite hands to the VFS when it
	// prepares it; a statement reused as it was would sync nothing.
	for round := range 2 {
		insert(200, 4<<10) // some 600 pages

		// A reader on that snapshot keeps a checkpoint from copying what
		// comes after it, as the writer's commits do under load: SQLite
		// then does not sync the database.
		reader, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reader.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		insert(1, 100)
		before := readVFSCounts().dbWrites
		s.checkpointBeside()
		copied := readVFSCounts().dbWrites - before
		resetDBUnsyncedMax() // from here on, no sync of SQLite's may find those pages unsynced
		if copied < 300 {
			t.Fatalf("round %d: the checkpoint beside copied %d pages; want the first write's hundreds", round, copied)
		}
		if _, err := reader.ExecContext(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		reader.Close()

		restarts := s.walRestarts.Load()
		s.walRestart.Store(true)
		insert(1, 100) // the writer restarts the WAL after this commit…
		insert(1, 100) // …and has when this one is answered
		if s.walRestarts.Load() == restarts {
			t.Fatalf("round %d: the writer did not restart the WAL", round)
		}
		if most := readVFSCounts().dbUnsyncedMax; most > copied/10 {
			t.Fatalf("round %d: a sync of the database found %d pages unsynced, after the checkpoint beside copied %d; want it to have synced them", round, most, copied)
		}
	}
}

// An fsync that fails may have dropped the pages it could not write: the
// file's state is unknown, so nothing more is acknowledged.
func TestFailedSyncOfTheCheckpointStopsWrites(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	failDatabaseSyncs(true)
	defer failDatabaseSyncs(false)
	// The checkpoint beside may have copied that write already, and syncs
	// only when it copies something.
	for i := 0; i < 10 && s.health.err() == nil; i++ {
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil); err != nil {
			t.Fatal(err)
		}
		s.checkpointBeside()
	}
	if err := s.Health(ctx); err == nil || !strings.Contains(err.Error(), "cannot be synced") {
		t.Fatalf("health = %v; want it to say the file cannot be synced", err)
	}
	_, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c2")}, nil)
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeUnavailable {
		t.Fatalf("ingest = %v; want unavailable", err)
	}
}
