package app

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestStatsAPI(t *testing.T) {
	srv := newTestServer(t)
	rc := newReceiver(t)
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if r.Env.Event == "contact_paused" {
			return http.StatusInternalServerError, "down", nil
		}
		return http.StatusOK, "ok", nil
	})
	hook, _ := srv.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	other, _ := srv.createWebhook(map[string]any{"url": rc.URL, "events": []string{"credits_spent"}})
	for i := range 3 {
		srv.ingest("contact_created", map[string]any{"contact": map[string]any{"id": fmt.Sprint("c", i)}})
	}
	srv.ingest("contact_paused", map[string]any{"contact": map[string]any{"id": "c9"}})
	srv.ingest("credits_spent", map[string]any{"credits": map[string]any{"amount": 5}})

	total := func(path string) (ok, failed, retried int, p50, p99 int64) {
		m := srv.must("GET", path, nil, http.StatusOK)
		for _, b := range m["buckets"].([]any) {
			b := b.(map[string]any)
			ok += int(b["succeeded"].(float64))
			failed += int(b["failed"].(float64))
			retried += int(b["retried"].(float64))
			p50 = max(p50, int64(b["p50_ms"].(float64)))
			p99 = max(p99, int64(b["p99_ms"].(float64)))
		}
		return
	}
	eventually(t, 10*time.Second, "every delivery to settle", func() bool {
		ok, failed, _, _, _ := total("/api/v1/stats?window=1h")
		return ok == 5 && failed == 1
	})

	t.Run("counts are deliveries, not attempts, overall and per webhook", func(t *testing.T) {
		ok, failed, retried, p50, p99 := total("/api/v1/stats?window=1h")
		if ok != 5 || failed != 1 || retried != 1 {
			t.Errorf("overall: succeeded %d, failed %d, retried %d; want 5, 1, 1 (the failing one had 4 attempts)", ok, failed, retried)
		}
		if p99 < p50 {
			t.Errorf("p99 %d ms < p50 %d ms", p99, p50)
		}
		ok, failed, _, _, _ = total("/api/v1/stats?window=24h&webhook_id=" + other)
		if ok != 1 || failed != 0 {
			t.Errorf("one webhook: succeeded %d, failed %d; want 1, 0", ok, failed)
		}
		ok, _, _, _, _ = total("/api/v1/stats?window=7d&webhook_id=" + hook)
		if ok != 4 {
			t.Errorf("7d for the first webhook: succeeded %d, want 4", ok)
		}
	})

	t.Run("each window has its bars, and the last one holds now", func(t *testing.T) {
		for window, n := range map[string]int{"1h": 60, "24h": 48, "7d": 56} {
			m := srv.must("GET", "/api/v1/stats?window="+window, nil, http.StatusOK)
			buckets := m["buckets"].([]any)
			if len(buckets) != n {
				t.Errorf("%s: %d buckets, want %d", window, len(buckets), n)
				continue
			}
			last, _ := time.Parse(time.RFC3339, buckets[n-1].(map[string]any)["start"].(string))
			width := time.Duration(m["bucket_seconds"].(float64)) * time.Second
			if now := time.Now(); now.Before(last) || !now.Before(last.Add(width)) {
				t.Errorf("%s: last bucket starts %s (width %s), now is %s", window, last, width, now)
			}
		}
	})

	t.Run("bad input answers 4xx naming it", func(t *testing.T) {
		for _, tc := range []struct {
			path  string
			code  int
			field string
		}{
			{"/api/v1/stats?window=2h", http.StatusUnprocessableEntity, "window"},
			{"/api/v1/stats?window=", http.StatusUnprocessableEntity, "window"},
			{"/api/v1/stats?colour=red", http.StatusUnprocessableEntity, "colour"},
			{"/api/v1/stats?webhook_id=wh_nope", http.StatusNotFound, ""},
			{"/api/v1/settings?x=1", http.StatusUnprocessableEntity, "x"},
		} {
			code, m := srv.do("GET", tc.path, nil)
			e, _ := m["error"].(map[string]any)
			if code != tc.code || e == nil || e["field"] != tc.field {
				t.Errorf("GET %s = %d %v, want %d naming %q", tc.path, code, m, tc.code, tc.field)
			}
		}
	})
}

func TestSettingsAPI(t *testing.T) {
	dev := newTestServer(t)
	m := dev.must("GET", "/api/v1/settings", nil, http.StatusOK)
	if m["allow_http"] != true || m["allow_private_networks"] != true || m["version"] != "test" {
		t.Errorf("dev settings = %v", m)
	}
	strict := newTestServer(t, func(c *Config) { c.AllowHTTP, c.AllowPrivateNetworks = false, false })
	m = strict.must("GET", "/api/v1/settings", nil, http.StatusOK)
	if m["allow_http"] != false || m["allow_private_networks"] != false {
		t.Errorf("strict settings = %v", m)
	}
	if code, _ := strict.request("GET", "/api/v1/settings", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("settings without a token: %d, want 401", code)
	}
}

func TestEventListNewestFirst(t *testing.T) {
	srv := newTestServer(t)
	rc := newReceiver(t)
	srv.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	var ids []string
	for i := range 5 {
		ev := "contact_created"
		if i == 2 {
			ev = "human_alerted" // matches no webhook
		}
		ids = append(ids, srv.ingest(ev, map[string]any{"contact": map[string]any{"id": fmt.Sprint("c", i)}}))
	}
	var got []string
	counts := map[string]float64{}
	after := ""
	for page := 0; page < 5; page++ {
		m := srv.must("GET", "/api/v1/events?order=desc&limit=2&after="+after, nil, http.StatusOK)
		for _, e := range m["data"].([]any) {
			e := e.(map[string]any)
			got = append(got, e["id"].(string))
			counts[e["id"].(string)] = e["delivery_count"].(float64)
		}
		if after = m["next_cursor"].(string); after == "" {
			break
		}
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("newest first, paged by 2: %v, want %v", got, want)
	}
	if counts[ids[2]] != 0 || counts[ids[0]] != 1 {
		t.Errorf("delivery_count: unmatched %v, matched %v; want 0 and 1", counts[ids[2]], counts[ids[0]])
	}
	if code, m := srv.do("GET", "/api/v1/events?order=sideways", nil); code != http.StatusUnprocessableEntity || m["error"].(map[string]any)["field"] != "order" {
		t.Errorf("order=sideways: %d %v, want 422 naming order", code, m)
	}
	m := srv.must("GET", "/api/v1/events?order=desc&event=human_alerted", nil, http.StatusOK)
	if d := m["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != ids[2] {
		t.Errorf("filtered by type: %v", m)
	}
}
