package app

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeliveryEndToEnd(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	id, secret := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})

	evID := s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c1", "name": "Ana"}})
	r := rc.next(t, 5*time.Second)

	t.Run("the envelope carries id, event, timestamp and data", func(t *testing.T) {
		if r.Env.ID != evID || r.Env.Event != "contact_created" || !strings.Contains(string(r.Env.Data), `"c1"`) {
			t.Fatalf("envelope = %s", r.Body)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.Env.Timestamp); err != nil {
			t.Fatalf("timestamp %q is not UTC RFC 3339 with milliseconds", r.Env.Timestamp)
		}
	})
	t.Run("the Standard Webhooks headers verify", func(t *testing.T) {
		verify(t, r, secret)
		if r.Header.Get("webhook-id") != evID || r.Header.Get("herald-event") != "contact_created" ||
			r.Header.Get("herald-attempt") != "1" || !strings.HasPrefix(r.Header.Get("herald-delivery-id"), "dlv_") ||
			r.Header.Get("User-Agent") != "Herald/test" || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers = %v", r.Header)
		}
	})
	t.Run("the delivery and its attempt are logged", func(t *testing.T) {
		var list map[string]any
		eventually(t, 5*time.Second, "delivery succeeded", func() bool {
			list = s.must("GET", "/api/v1/webhooks/"+id+"/deliveries", nil, 200)
			data := list["data"].([]any)
			return len(data) == 1 && data[0].(map[string]any)["status"] == "succeeded"
		})
		d := list["data"].([]any)[0].(map[string]any)
		full := s.must("GET", "/api/v1/deliveries/"+d["id"].(string), nil, 200)
		attempts := full["attempts"].([]any)
		a := attempts[0].(map[string]any)
		if len(attempts) != 1 || a["status_code"].(float64) != 200 || a["response_body"] != "ok" || a["trigger"] != "auto" {
			t.Fatalf("attempts = %v", attempts)
		}
	})
	t.Run("the event is listed with its deliveries", func(t *testing.T) {
		ev := s.must("GET", "/api/v1/events/"+evID, nil, 200)
		ds := ev["deliveries"].([]any)
		if ev["event"] != "contact_created" || len(ds) != 1 || ds[0].(map[string]any)["webhook_id"] != id {
			t.Fatalf("event = %v", ev)
		}
	})
	t.Run("an event that matches no webhook creates no delivery", func(t *testing.T) {
		m := s.must("POST", "/api/v1/events", map[string]any{"event": "credits_spent", "data": map[string]any{"credits": map[string]any{"amount": 3}}}, 202)
		if m["deliveries"].(float64) != 0 {
			t.Fatalf("deliveries = %v", m["deliveries"])
		}
		rc.none(t, 200*time.Millisecond)
	})
}

func TestRetriesUntilSuccess(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	var calls atomic.Int32
	rc.setRespond(func(received) (int, string, map[string]string) {
		if calls.Add(1) <= 2 {
			return 500, "not yet", nil
		}
		return 200, "ok", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	s.ingest("contact_paused", map[string]any{"contact": map[string]any{"id": "c1"}})
	var bodies []string
	for i := 1; i <= 3; i++ {
		r := rc.next(t, 5*time.Second)
		if got := r.Header.Get("herald-attempt"); got != fmt.Sprint(i) {
			t.Fatalf("attempt header = %s, want %d", got, i)
		}
		bodies = append(bodies, string(r.Body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("retries sent different bodies: %q", bodies)
	}
	eventually(t, 5*time.Second, "succeeded after 3 attempts", func() bool {
		d := s.must("GET", "/api/v1/webhooks/"+id+"/deliveries", nil, 200)["data"].([]any)[0].(map[string]any)
		return d["status"] == "succeeded" && d["attempt_count"].(float64) == 3
	})
}

func TestRetriesRunOutThenManualRetryAndReplay(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
	rc := newReceiver(t)
	var healthy atomic.Bool
	rc.setRespond(func(received) (int, string, map[string]string) {
		if healthy.Load() {
			return 204, "", nil
		}
		return 502, "down", nil
	})
	id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"tag_applied"}, "auto_replay": false})
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	s.ingest("tag_applied", map[string]any{"contact": map[string]any{"id": "c1"}, "tag": "vip"})
	rc.next(t, 5*time.Second)
	rc.next(t, 5*time.Second)
	var dID string
	eventually(t, 5*time.Second, "failed after 2 attempts", func() bool {
		d := s.must("GET", "/api/v1/webhooks/"+id+"/deliveries?status=failed", nil, 200)["data"].([]any)
		if len(d) == 1 {
			dID = d[0].(map[string]any)["id"].(string)
		}
		return len(d) == 1
	})
	rc.none(t, 100*time.Millisecond)

	t.Run("a manual retry makes one more attempt", func(t *testing.T) {
		s.must("POST", "/api/v1/deliveries/"+dID+"/retry", nil, 202)
		r := rc.next(t, 5*time.Second)
		if r.Header.Get("herald-attempt") != "3" {
			t.Fatalf("attempt = %s", r.Header.Get("herald-attempt"))
		}
		eventually(t, 5*time.Second, "failed again", func() bool {
			return s.must("GET", "/api/v1/deliveries/"+dID, nil, 200)["status"] == "failed"
		})
		rc.none(t, 100*time.Millisecond)
		a := s.must("GET", "/api/v1/deliveries/"+dID, nil, 200)["attempts"].([]any)
		if a[2].(map[string]any)["trigger"] != "manual" {
			t.Fatalf("third attempt trigger = %v", a[2])
		}
	})
	t.Run("replay counts first with a dry run, then sends", func(t *testing.T) {
		healthy.Store(true)
		m := s.must("POST", "/api/v1/webhooks/"+id+"/replay", map[string]any{"since": since, "dry_run": true}, 200)
		if m["count"].(float64) != 1 {
			t.Fatalf("dry run count = %v", m["count"])
		}
		rc.none(t, 100*time.Millisecond)
		m = s.must("POST", "/api/v1/webhooks/"+id+"/replay", map[string]any{"since": since, "status": "failed"}, 200)
		if m["count"].(float64) != 1 {
			t.Fatalf("count = %v", m["count"])
		}
		rc.next(t, 5*time.Second)
		eventually(t, 5*time.Second, "succeeded", func() bool {
			return s.must("GET", "/api/v1/deliveries/"+dID, nil, 200)["status"] == "succeeded"
		})
	})
}

func TestReceiverAnswers(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.RetrySchedule = "10ms,10ms" })
	tests := []struct {
		name       string
		status     int
		headers    map[string]string
		wantStatus string
		wantCalls  int
		disabled   bool
	}{
		{"a 410 fails at once and disables the webhook", 410, nil, "failed", 1, true},
		{"a 3xx is a failure and is retried", 302, map[string]string{"Location": "https://example.com/"}, "failed", 3, false},
		{"a 400 is retried like any failure", 400, nil, "failed", 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.setRespond(func(received) (int, string, map[string]string) { return tc.status, "no", tc.headers })
			id, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
			s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "x"}})
			for range tc.wantCalls {
				rc.next(t, 5*time.Second)
			}
			eventually(t, 5*time.Second, "final status", func() bool {
				d := s.must("GET", "/api/v1/webhooks/"+id+"/deliveries", nil, 200)["data"].([]any)
				return len(d) == 1 && d[0].(map[string]any)["status"] == tc.wantStatus
			})
			rc.none(t, 100*time.Millisecond)
			h := s.must("GET", "/api/v1/webhooks/"+id, nil, 200)
			if h["enabled"] == tc.disabled || (tc.disabled && h["disabled_reason"] == "") {
				t.Fatalf("enabled = %v, reason = %q", h["enabled"], h["disabled_reason"])
			}
			s.must("DELETE", "/api/v1/webhooks/"+id, nil, 204)
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
	rc := newReceiver(t)
	var calls atomic.Int32
	rc.setRespond(func(received) (int, string, map[string]string) {
		if calls.Add(1) == 1 {
			return 429, "slow down", map[string]string{"Retry-After": "1"}
		}
		return 200, "ok", nil
	})
	s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "x"}})
	first := time.Now()
	rc.next(t, 5*time.Second)
	rc.next(t, 5*time.Second)
	if waited := time.Since(first); waited < 900*time.Millisecond {
		t.Fatalf("retried after %s, before Retry-After's 1s", waited)
	}
}

func TestSlowReceiverDoesNotDelayOthers(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Delivery.Workers = 8
		c.Delivery.PerWebhook = 2
		c.Delivery.Timeout = Duration{10 * time.Second}
	})
	release := make(chan struct{})
	slow := newReceiver(t)
	slow.setRespond(func(received) (int, string, map[string]string) { <-release; return 200, "", nil })
	defer close(release)
	fast := newReceiver(t)
	s.createWebhook(map[string]any{"url": slow.URL, "events": []string{"contact_created"}})
	s.createWebhook(map[string]any{"url": fast.URL, "events": []string{"contact_created"}})
	for i := range 20 {
		s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": fmt.Sprint(i)}})
	}
	for range 20 {
		fast.next(t, 2*time.Second)
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Delivery.RetrySchedule = "10ms" })
	rc := newReceiver(t)
	rc.setRespond(func(r received) (int, string, map[string]string) {
		if strings.Contains(string(r.Body), `"bad"`) {
			return 500, "no", nil
		}
		return 200, "ok", nil
	})
	s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "good"}})
	s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "bad"}})
	want := []string{
		`herald_events_ingested_total{event="contact_created"} 2`,
		`herald_deliveries_total{outcome="succeeded",sink="webhook"} 1`,
		`herald_deliveries_total{outcome="failed",sink="webhook"} 1`,
		`herald_delivery_attempts_total{outcome="retry",sink="webhook"} 1`,
		`herald_queue_depth{status="pending"} 0`,
	}
	eventually(t, 5*time.Second, "the metrics to count both outcomes", func() bool {
		_, raw := s.request("GET", "/metrics", nil, "")
		for _, w := range want {
			if !strings.Contains(string(raw), w) {
				return false
			}
		}
		return true
	})
}
