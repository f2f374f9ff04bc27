package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app/store"
)

// A full disk once answered 500 "internal" while /healthz said 200.
func TestDiskFullAnswers507AndHealthTellsTheTruth(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"new_message"}})
	db := s.App.store.(*store.SQLite)
	used, err := db.SetMaxPages(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetMaxPages(context.Background(), used+10); err != nil {
		t.Fatal(err)
	}
	var acked []string
	var full map[string]any
	for i := 0; i < 500 && full == nil; i++ {
		body := map[string]any{"event": "new_message", "data": map[string]any{"contact": map[string]any{"id": "c1"},
			"message": map[string]any{"text": strings.Repeat("a table for four, ", 100) + fmt.Sprint(i), "channel": "sms"}}}
		code, out := s.do("POST", "/api/v1/events", body)
		switch code {
		case 202:
			acked = append(acked, out["id"].(string))
		case 507:
			full = out
		default:
			t.Fatalf("ingest answered %d %v; want 202 or 507", code, out)
		}
	}
	if full == nil {
		t.Fatal("the database never filled")
	}
	if e := full["error"].(map[string]any); e["code"] != "storage_full" {
		t.Fatalf("507 body = %v", full)
	}
	if code, _ := s.do("GET", "/healthz", nil); code != 503 {
		t.Fatalf("healthz = %d while the disk is full; want 503", code)
	}
	for _, id := range acked {
		s.must("GET", "/api/v1/events/"+id, nil, 200)
	}
	if _, err := db.SetMaxPages(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "healthz to recover by itself", func() bool {
		code, _ := s.do("GET", "/healthz", nil)
		return code == 200
	})
	s.ingest("new_message", map[string]any{"contact": map[string]any{"id": "c1"}, "message": map[string]any{"text": "hi", "channel": "sms"}})
}
