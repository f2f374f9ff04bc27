package app

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// endlessHeaderServer answers every request with a status line and then
// headers that never end, counting what it managed to send.
func endlessHeaderServer(t *testing.T) (url string, sent *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sent = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Read(make([]byte, 64<<10)); err != nil {
					return
				}
				line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
				if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil {
					return
				}
				for {
					n, err := c.Write(line)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/hook", sent
}

func TestAHostileReceiverDoesNotHoldUpHealthyOnes(t *testing.T) {
	s := newTestServer(t)
	healthy := newReceiver(t)
	hostileURL, sent := endlessHeaderServer(t)
	hostileID, _ := s.createWebhook(map[string]any{"url": hostileURL, "events": []string{"contact_created"}})
	healthyID, _ := s.createWebhook(map[string]any{"url": healthy.URL, "events": []string{"contact_created"}})

	const events = 40
	for i := range events {
		s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c" + string(rune('a'+i%26))}})
		// Every healthy delivery arrives promptly, one by one, while the
		// hostile receiver's deliveries run beside it.
		r := healthy.next(t, 5*time.Second)
		if r.Header.Get("herald-event") != "contact_created" {
			t.Fatalf("healthy receiver got %v", r.Header)
		}
	}
	var failed []any
	eventually(t, 20*time.Second, "every hostile delivery to fail", func() bool {
		failed = s.must("GET", "/api/v1/webhooks/"+hostileID+"/deliveries?status=failed&limit=100", nil, 200)["data"].([]any)
		return len(failed) == events
	})
	for _, d := range failed {
		d := d.(map[string]any)
		if d["attempt_count"].(float64) != 1 {
			t.Errorf("delivery %s: %v attempts, want 1 (not retried at full speed)", d["id"], d["attempt_count"])
		}
		if !strings.Contains(d["last_error"].(string), "headers are over 64 KiB") {
			t.Errorf("delivery %s: last_error %q should say the headers were too large", d["id"], d["last_error"])
		}
	}
	// Go's default read about 10 MB per attempt. What the receiver could
	// send also counts what loopback's socket buffers took (a MiB or two).
	if perAttempt := sent.Load() / events; perAttempt > 4<<20 {
		t.Errorf("the hostile receiver sent %d KiB per attempt, want Herald to stop soon after 64 KiB", perAttempt>>10)
	}
	ok := s.must("GET", "/api/v1/webhooks/"+healthyID+"/deliveries?status=succeeded&limit=100", nil, 200)["data"].([]any)
	if len(ok) != events {
		t.Errorf("%d healthy deliveries succeeded, want %d", len(ok), events)
	}
}
