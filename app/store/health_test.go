package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{})
	newWebhook(t, s, "*")
	used, err := s.SetMaxPages(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMaxPages(ctx, used+20); err != nil {
		t.Fatal(err)
	}
	// Fill it from many writers at once, so full commits are shared ones.
	var mu sync.Mutex
	var acked []string
	var fullErrs int
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 60 {
				ev := eventFor(s, "new_message", fmt.Sprint("c", w, i))
				ev.SetData(fmt.Sprintf(`{"contact":{"id":"c%d"},"message":{"text":"%0500d","channel":"sms"}}`, w, i))
				ev.ContentHash = ContentHash(ev)
				_, err := s.InsertEvents(ctx, []*Event{ev}, nil)
				mu.Lock()
				var se *Error
				switch {
				case err == nil:
					acked = append(acked, ev.ID)
				case errors.As(err, &se) && se.Code == CodeStorageFull:
					fullErrs++
				default:
					t.Errorf("ingest: %v; want success or storage_full", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fullErrs == 0 || len(acked) == 0 {
		t.Fatalf("acked %d, refused %d: the cap did not fill", len(acked), fullErrs)
	}
	t.Run("nothing acknowledged is missing", func(t *testing.T) {
		for _, id := range acked {
			if _, err := s.FindEventByID(ctx, id); err != nil {
				t.Fatalf("acknowledged %s lost: %v", id, err)
			}
		}
		evs, _ := s.FindEvents(ctx, EventFilter{Limit: 10000})
		if len(evs) != len(acked) {
			t.Fatalf("%d events stored, %d acknowledged: a refused one was kept", len(evs), len(acked))
		}
	})
	t.Run("health says the disk is full", func(t *testing.T) {
		if err := s.Health(ctx); err == nil {
			t.Fatal("healthy while full")
		}
	})
	t.Run("it recovers by itself once there is room", func(t *testing.T) {
		if _, err := s.SetMaxPages(ctx, 1<<30); err != nil {
			t.Fatal(err)
		}
		if err := s.Health(ctx); err != nil {
			t.Fatalf("still unhealthy: %v", err)
		}
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "after")}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVanishedOrReplacedFile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		do    func(dir string) error
		wants string
	}{
		{"deleted", func(dir string) error {
			for _, f := range []string{"herald.db", "herald.db-wal", "herald.db-shm"} {
				_ = os.Remove(filepath.Join(dir, f))
			}
			return nil
		}, "deleted"},
		{"replaced", func(dir string) error {
			other := filepath.Join(dir, "other.db")
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				return err
			}
			return os.Rename(other, filepath.Join(dir, "herald.db"))
		}, "replaced"},
	} {
		t.Run("a database file "+tc.name+" while Herald runs refuses writes and fails health", func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, Options{Dir: dir})
			newWebhook(t, s, "*")
			if err := tc.do(dir); err != nil {
				t.Fatal(err)
			}
			err := s.Health(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("health = %v; want it to say %q", err, tc.wants)
			}
			_, err = s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", "c1")}, nil)
			var se *Error
			if !errors.As(err, &se) || se.Code != CodeUnavailable {
				t.Fatalf("ingest = %v; want unavailable (nothing acknowledged that can't be kept)", err)
			}
		})
	}
}

func TestCorruptFileIsFound(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir})
	newWebhook(t, s, "*")
	for i := range 200 {
		if _, err := s.InsertEvents(ctx, []*Event{eventFor(s, "contact_created", fmt.Sprint("c", i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "herald.db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 4096*6)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	if _, err := f.WriteAt(garbage, 4096*2); err != nil { // pages 3 to 8: tables and indexes
		t.Fatal(err)
	}
	f.Close()
	s.quickCheck(ctx)
	if err := s.Health(ctx); err == nil {
		t.Fatal("healthy with a corrupt file")
	}
}
