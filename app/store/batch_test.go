package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Four clients storing 500-message batches at once: the undo journals of
// their multi-row statements are large (past SQLite's default in-memory
// limit of 64 KiB, under subJournalSpill). Every batch must be stored.
// (With that limit raised to 256 or 512 KiB and the default VFS, SQLite
// answered SQLITE_FULL here on a disk with room to spare: a journal that
// moves to a file is written in one call larger than that VFS can take.
// TestStatementJournalSpillsToAFile has that case.)
func TestBigBatchesAtOnce(t *testing.T) {
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	const clients, batches, size = 4, 10, 500
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			for k := range batches {
				evs := make([]*Event, size)
				for i := range evs {
					ev := eventFor(s, "new_message", fmt.Sprint("ct_", (k*size+i*7+g)%1000))
					ev.SetData(fmt.Sprintf(`{"contact":{"id":%q,"name":"Ada Lovelace","phone":"+15551234567"},"message":{"text":"Hi, I would like to book an appointment for next Tuesday afternoon","channel":"whatsapp"}}`, ev.ContactID))
					ev.ContentHash = ContentHash(ev)
					evs[i] = ev
				}
				if _, err := s.InsertEvents(context.Background(), evs, nil); err != nil {
					t.Errorf("client %d, batch %d: %v", g, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := s.FindEvents(context.Background(), EventFilter{Limit: clients*batches*size + 1})
	if err != nil || len(got) != clients*batches*size {
		t.Fatalf("%d events stored, %v; want %d", len(got), err, clients*batches*size)
	}
}
