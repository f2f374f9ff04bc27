package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Four clients storing 500-message batches at once: the undo journals of
// their multi-row statements grow past SQLite's in-memory limit (64 KiB)
// and go to the VFS (vfs_memjournal.c). Every batch must be stored. (With
// that limit raised to 256 or 512 KiB through sqlite3_config, SQLite
// answered SQLITE_FULL here on a disk with room to spare: the default VFS
// cannot write a journal's whole memory chunk in one call.)
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
