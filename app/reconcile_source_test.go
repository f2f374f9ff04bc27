package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource serves a fixed event list in pages of two, with the index
// of the next event as the cursor.
type fakeSource struct {
	*httptest.Server
	mu     sync.Mutex
	items  []any
	mode   string // "", down, garbage, hangup
	afters []string
	auths  []string
	limits []string
}

func newFakeSource(t *testing.T, items ...any) *fakeSource {
	t.Helper()
	src := &fakeSource{items: items}
	src.Server = httptest.NewServer(http.HandlerFunc(src.serve))
	t.Cleanup(src.Close)
	return src
}

func (src *fakeSource) serve(w http.ResponseWriter, r *http.Request) {
	src.mu.Lock()
	defer src.mu.Unlock()
	after := r.URL.Query().Get("after")
	src.afters = append(src.afters, after)
	src.auths = append(src.auths, r.Header.Get("Authorization"))
	src.limits = append(src.limits, r.URL.Query().Get("limit"))
	switch src.mode {
	case "down":
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	case "garbage":
		_, _ = w.Write([]byte("<html>login</html>"))
		return
	case "hangup":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	start, _ := strconv.Atoi(after)
	start = min(start, len(src.items))
	end := min(start+2, len(src.items))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": src.items[start:end], "next_cursor": strconv.Itoa(end)})
}

func (src *fakeSource) set(mode string) {
	src.mu.Lock()
	src.mode = mode
	src.mu.Unlock()
}

func (src *fakeSource) requests() (afters, auths, limits []string) {
	src.mu.Lock()
	defer src.mu.Unlock()
	return slices.Clone(src.afters), slices.Clone(src.auths), slices.Clone(src.limits)
}

func sourceEvent(id, contact string) map[string]any {
	return map[string]any{"id": id, "event": "contact_created", "data": contactData(contact)}
}

func TestReconcileSourceCatchUp(t *testing.T) {
	noID := sourceEvent("", "c3")
	delete(noID, "id")
	changed := sourceEvent("src_4", "c4")
	changed["data"] = map[string]any{"contact": map[string]any{"id": "c4", "name": "Changed"}}
	withTime := sourceEvent("src_5", "c5")
	withTime["timestamp"] = "2026-01-02T03:04:05.000Z"
	src := newFakeSource(t, sourceEvent("src_1", "c1"), sourceEvent("src_2", "c2"), noID, changed, withTime, sourceEvent("src_6", "c6"))
	s := newClockServer(t, &testClock{}, func(c *Config) {
		c.Reconcile.SourceURL = src.URL + "/events?tenant=t1"
		c.Reconcile.SourceToken = "src-token"
	})
	rc := newReceiver(t)
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	// The platform's pushes of src_2 and src_4 arrived; the others were lost.
	for _, e := range []map[string]any{sourceEvent("src_2", "c2"), sourceEvent("src_4", "c4")} {
		s.must("POST", "/api/v1/events", e, 202)
	}

	run := reconcileNow(t, s)
	t.Run("missed events are ingested, known ones recognised, bad ones skipped", func(t *testing.T) {
		want := SourceStats{Ingested: 3, Known: 1, Skipped: 2, Pages: 4}
		if run.Steps.Source != want || run.Error != "" {
			t.Fatalf("source = %+v (error %q), want %+v", run.Steps.Source, run.Error, want)
		}
		if ts := s.must("GET", "/api/v1/events/src_5", nil, 200)["timestamp"]; ts != "2026-01-02T03:04:05.000Z" {
			t.Fatalf("src_5 timestamp = %v", ts)
		}
	})
	t.Run("the source is paged from the stored cursor with the token", func(t *testing.T) {
		afters, auths, limits := src.requests()
		if !slices.Equal(afters, []string{"", "2", "4", "6"}) {
			t.Fatalf("after = %q", afters)
		}
		for i := range auths {
			if auths[i] != "Bearer src-token" || limits[i] != strconv.Itoa(sourcePageSize) {
				t.Fatalf("request %d: authorization %q, limit %q", i, auths[i], limits[i])
			}
		}
		if c, _ := s.App.store.SourceCursor(context.Background(), s.App.cfg.Reconcile.SourceURL); c != "6" {
			t.Fatalf("stored cursor = %q, want 6", c)
		}
	})
	t.Run("every event is delivered exactly once", func(t *testing.T) {
		got := map[string]int{}
		for range 5 {
			got[rc.next(t, 5*time.Second).Env.ID]++
		}
		for _, e := range []string{"src_1", "src_2", "src_4", "src_5", "src_6"} {
			if got[e] != 1 {
				t.Fatalf("deliveries by event = %v", got)
			}
		}
		if n := len(deliveriesOf(s, id, "")); n != 5 {
			t.Fatalf("%d deliveries, want 5", n)
		}
	})
	t.Run("a second run asks from the cursor and ingests nothing", func(t *testing.T) {
		run := reconcileNow(t, s)
		if want := (SourceStats{Pages: 1}); run.Steps.Source != want {
			t.Fatalf("source = %+v, want %+v", run.Steps.Source, want)
		}
		if afters, _, _ := src.requests(); afters[len(afters)-1] != "6" {
			t.Fatalf("after = %q", afters)
		}
		if n := len(deliveriesOf(s, id, "")); n != 5 {
			t.Fatalf("%d deliveries, want 5", n)
		}
		if v := repairs(t, s, "source_ingested"); v != "3" {
			t.Fatalf("source_ingested metric = %s", v)
		}
	})
}

func TestReconcileSourceFailures(t *testing.T) {
	src := newFakeSource(t, sourceEvent("src_1", "c1"))
	s := newClockServer(t, &testClock{}, func(c *Config) { c.Reconcile.SourceURL = src.URL + "/events?key=secret-in-url" })
	tests := []struct {
		name, mode, wantErr string
	}{
		{"a 5xx answer is recorded", "down", "503"},
		{"an answer that is not the list shape is recorded", "garbage", "not {"},
		{"a dropped connection is recorded", "hangup", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src.set(tc.mode)
			run := reconcileNow(t, s)
			st := run.Steps.Source
			if st.Error == "" || !strings.Contains(st.Error, tc.wantErr) || !strings.Contains(run.Error, "source: ") {
				t.Fatalf("source error %q, run error %q", st.Error, run.Error)
			}
			if strings.Contains(run.Error, "secret-in-url") {
				t.Fatalf("the error shows the source URL: %q", run.Error)
			}
			if len(run.Steps.Errors) != 1 || st.Ingested != 0 || run.FinishedAt == 0 {
				t.Fatalf("run = %+v", run)
			}
			if c, _ := s.App.store.SourceCursor(context.Background(), s.App.cfg.Reconcile.SourceURL); c != "" {
				t.Fatalf("cursor moved to %q on a failure", c)
			}
			if code, _ := s.do("GET", "/healthz", nil); code != 200 {
				t.Fatalf("healthz = %d", code)
			}
		})
	}
	t.Run("the next run after the source is back catches up", func(t *testing.T) {
		src.set("")
		run := reconcileNow(t, s)
		if run.Error != "" || run.Steps.Source.Ingested != 1 {
			t.Fatalf("run error %q, source %+v", run.Error, run.Steps.Source)
		}
	})
}
