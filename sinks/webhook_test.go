package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testWebhookBody = `{"id":"evt_01JDWEBHOOK","event":"contact_created","timestamp":"2026-11-27T08:00:00.123Z","data":{"contact":{"id":"con_1"}}}`

func webhookTestNow() time.Time { return time.Date(2026, 11, 27, 8, 0, 5, 0, time.UTC) }

func newTestWebhook(timeout time.Duration) *Webhook {
	return &Webhook{
		Client:    NewHTTPClient(testPolicy, timeout),
		UserAgent: "Herald/test",
		Policy:    testPolicy,
		Now:       webhookTestNow,
	}
}

func webhookRequest(url string, secrets ...string) *Request {
	return &Request{
		DeliveryID: "dlv_42",
		Attempt:    2,
		Trigger:    "auto",
		Target:     Target{WebhookID: "wh_1", URL: url, Secrets: secrets},
		Envelope: Envelope{
			ID:        "evt_01JDWEBHOOK",
			Event:     "contact_created",
			Timestamp: "2026-11-27T08:00:00.123Z",
			Data:      json.RawMessage(`{"contact":{"id":"con_1"}}`),
		},
		Body: []byte(testWebhookBody),
	}
}

// receiver is a webhook endpoint that keeps what it was sent and answers
// with a fixed status, headers and body.
type receiver struct {
	mu      sync.Mutex
	hits    int
	method  string
	header  http.Header
	body    []byte
	status  int
	headers map[string]string
	answer  []byte
}

func newReceiver(t *testing.T, status int, answer []byte, headers map[string]string) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{status: status, answer: answer, headers: headers}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.hits++
	rc.method, rc.header, rc.body = r.Method, r.Header.Clone(), body
	rc.mu.Unlock()
	for k, v := range rc.headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rc.status)
	_, _ = w.Write(rc.answer)
}

func (rc *receiver) Hits() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.hits
}

func TestWebhookDeliverSignsAndLabelsTheRequest(t *testing.T) {
	rc, srv := newReceiver(t, http.StatusOK, []byte("thanks"), nil)
	current, rotated := NewSecret(), NewSecret()
	req := webhookRequest(srv.URL+"/in", current, rotated)
	req.Target.Headers = map[string]string{
		"X-Tenant":          "acme",
		"Authorization":     "Bearer receiver-token",
		"webhook-signature": "v1,forged",
		"Webhook-Id":        "evt_forged",
		"webhook-timestamp": "1",
		"Content-Type":      "text/plain",
		"User-Agent":        "curl/8",
		"herald-event":      "credits_recharged",
		"Herald-Attempt":    "99",
	}

	res, err := newTestWebhook(2*time.Second).Deliver(context.Background(), req)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.StatusCode != http.StatusOK || string(res.Body) != "thanks" {
		t.Errorf("result = %d %q, want 200 \"thanks\"", res.StatusCode, res.Body)
	}
	if rc.Hits() != 1 || rc.method != http.MethodPost {
		t.Fatalf("receiver got %d %s requests, want one POST", rc.Hits(), rc.method)
	}
	if !bytes.Equal(rc.body, req.Body) {
		t.Errorf("body = %s, want the exact envelope bytes %s", rc.body, req.Body)
	}

	ts := strconv.FormatInt(webhookTestNow().Unix(), 10)
	headers := []struct{ name, want string }{
		{"webhook-id", "evt_01JDWEBHOOK"},
		{"webhook-timestamp", ts},
		{"content-type", "application/json"},
		{"user-agent", "Herald/test"},
		{"herald-event", "contact_created"},
		{"herald-delivery-id", "dlv_42"},
		{"herald-attempt", "2"},
		{"x-tenant", "acme"},
		{"authorization", "Bearer receiver-token"},
	}
	for _, h := range headers {
		t.Run("it sends "+h.name, func(t *testing.T) {
			if got := rc.header.Values(h.name); len(got) != 1 || got[0] != h.want {
				t.Errorf("%s = %q, want exactly %q", h.name, got, h.want)
			}
		})
	}

	sig := rc.header.Get("webhook-signature")
	t.Run("the signature carries one entry per valid secret", func(t *testing.T) {
		if n := len(strings.Fields(sig)); n != 2 || strings.Contains(sig, "forged") {
			t.Errorf("webhook-signature = %q, want two real signatures", sig)
		}
	})
	for name, secret := range map[string]string{"current": current, "rotated": rotated} {
		t.Run("a receiver holding the "+name+" secret verifies the exact body", func(t *testing.T) {
			if !Verify(secret, rc.header.Get("webhook-id"), webhookTestNow().Unix(), rc.body, sig) {
				t.Errorf("signature %q does not verify", sig)
			}
		})
	}
}

func TestWebhookDeliverClassifiesResponses(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		headers map[string]string
		body    string
		wantErr string // "" means success
		want    wantClass
	}{
		{name: "200 is a success", status: 200, body: "ok"},
		{name: "204 is a success", status: 204},
		{name: "202 is a success", status: 202, body: `{"queued":true}`},
		{name: "410 is gone and disables the webhook", status: 410, body: "bye",
			wantErr: "webhook: HTTP 410 Gone", want: wantClass{permanent: true, gone: true}},
		{name: "429 with Retry-After in seconds waits that long", status: 429, headers: map[string]string{"Retry-After": "120"},
			wantErr: "webhook: HTTP 429", want: wantClass{retryAfter: 2 * time.Minute}},
		{name: "503 with Retry-After as an HTTP date waits until then", status: 503,
			headers: map[string]string{"Retry-After": webhookTestNow().Add(90 * time.Second).Format(http.TimeFormat)},
			wantErr: "webhook: HTTP 503", want: wantClass{retryAfter: 90 * time.Second}},
		{name: "a Retry-After of days is clamped to the maximum", status: 429, headers: map[string]string{"Retry-After": "999999"},
			wantErr: "webhook: HTTP 429", want: wantClass{retryAfter: MaxRetryAfter}},
		{name: "a Retry-After of zero still waits a second", status: 429, headers: map[string]string{"Retry-After": "0"},
			wantErr: "webhook: HTTP 429", want: wantClass{retryAfter: time.Second}},
		{name: "a Retry-After date in the past still waits a second", status: 503,
			headers: map[string]string{"Retry-After": webhookTestNow().Add(-time.Hour).Format(http.TimeFormat)},
			wantErr: "webhook: HTTP 503", want: wantClass{retryAfter: time.Second}},
		{name: "a garbled Retry-After falls back to the schedule", status: 503, headers: map[string]string{"Retry-After": "soon"},
			wantErr: "webhook: HTTP 503", want: wantClass{}},
		{name: "500 is retryable", status: 500, body: "boom",
			wantErr: "webhook: HTTP 500", want: wantClass{}},
		{name: "404 is retryable, since a receiver may be mid-deploy", status: 404,
			wantErr: "webhook: HTTP 404", want: wantClass{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newReceiver(t, tc.status, []byte(tc.body), tc.headers)
			res, err := newTestWebhook(2*time.Second).Deliver(context.Background(), webhookRequest(srv.URL, NewSecret()))
			if res.StatusCode != tc.status || string(res.Body) != tc.body {
				t.Errorf("result = %d %q, want %d %q", res.StatusCode, res.Body, tc.status, tc.body)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Deliver: %v", err)
				}
				return
			}
			checkClass(t, err, tc.want)
			if !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to start with %q", err, tc.wantErr)
			}
		})
	}
}

func TestWebhookDeliverDoesNotFollowRedirects(t *testing.T) {
	moved, target := newReceiver(t, http.StatusOK, nil, nil)
	_, srv := newReceiver(t, http.StatusFound, nil, map[string]string{"Location": target.URL + "/new"})

	res, err := newTestWebhook(2*time.Second).Deliver(context.Background(), webhookRequest(srv.URL, NewSecret()))
	t.Run("a 302 is a retryable failure that names the new URL", func(t *testing.T) {
		checkClass(t, err, wantClass{})
		if res.StatusCode != http.StatusFound || !strings.Contains(err.Error(), target.URL+"/new") {
			t.Errorf("status %d, error %q; want 302 and the Location in the error", res.StatusCode, err)
		}
	})
	t.Run("the Location target gets nothing", func(t *testing.T) {
		if n := moved.Hits(); n != 0 {
			t.Errorf("the redirect target got %d requests", n)
		}
	})
}

func TestWebhookDeliverKeepsOnlyTheFirst16KiBOfTheAnswer(t *testing.T) {
	answer := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	_, srv := newReceiver(t, http.StatusInternalServerError, answer, nil)
	res, err := newTestWebhook(2*time.Second).Deliver(context.Background(), webhookRequest(srv.URL, NewSecret()))
	checkClass(t, err, wantClass{})
	if len(res.Body) != 16<<10 || !bytes.Equal(res.Body, answer[:16<<10]) {
		t.Errorf("kept %d bytes, want the first %d", len(res.Body), 16<<10)
	}
}

// newHangingServer never answers until the request gives up.
func newHangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv
}

func TestWebhookDeliverTimesOutOnAHangingReceiver(t *testing.T) {
	srv := newHangingServer(t)

	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := newTestWebhook(timeout).Deliver(context.Background(), webhookRequest(srv.URL, NewSecret()))
	elapsed := time.Since(start)
	checkClass(t, err, wantClass{})
	if !strings.Contains(err.Error(), "timeout") {
		t.Errorf("error = %q, want it to say timeout", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("gave up after %v, want just over the %v client timeout", elapsed, timeout)
	}
}

func TestWebhookDeliverConnectionErrorsAreRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now

	_, err = newTestWebhook(2*time.Second).Deliver(context.Background(), webhookRequest("http://"+addr+"/in", NewSecret()))
	checkClass(t, err, wantClass{})
	if err.Error() != "webhook: connection refused" {
		t.Errorf("error = %q, want %q", err, "webhook: connection refused")
	}
}

func TestWebhookDeliverRefusesPrivateTargets(t *testing.T) {
	rc, srv := newReceiver(t, http.StatusOK, nil, nil)
	strict := NetPolicy{AllowHTTP: true}
	cases := []struct {
		name string
		w    *Webhook
		want wantClass
		msg  string
	}{
		{
			name: "a loopback URL fails permanently when the policy forbids it",
			w:    &Webhook{Client: NewHTTPClient(strict, 2*time.Second), Policy: strict, Now: webhookTestNow},
			want: wantClass{permanent: true},
			msg:  "webhook: url: must not point at",
		},
		{
			// As after DNS rebinding: the URL looked fine, the dialled IP is not.
			name: "the dial guard stops what slips past the URL check",
			w:    &Webhook{Client: NewHTTPClient(strict, 2*time.Second), Policy: testPolicy, Now: webhookTestNow},
			want: wantClass{permanent: true}, // retrying will not make the address public
			msg:  "webhook: " + ErrBlockedTarget.Error(),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.w.Deliver(context.Background(), webhookRequest(srv.URL, NewSecret()))
			checkClass(t, err, tc.want)
			if !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("error = %q, want it to start with %q", err, tc.msg)
			}
		})
	}
	if n := rc.Hits(); n != 0 {
		t.Errorf("the receiver got %d requests, want none", n)
	}
}

func TestWebhookDeliverIgnoresProxyEnvironment(t *testing.T) {
	// Dead proxies: a client that honoured them could not deliver at all.
	// (Go never proxies loopback, so TestGuardedClientUsesNoProxyFromTheEnvironment
	// checks the transport itself.)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("ALL_PROXY", "http://127.0.0.1:1")
	rc, srv := newReceiver(t, http.StatusOK, nil, nil)
	if _, err := newTestWebhook(2*time.Second).Deliver(context.Background(), webhookRequest(srv.URL, NewSecret())); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if rc.Hits() != 1 {
		t.Errorf("receiver got %d requests, want 1", rc.Hits())
	}
}

func TestWebhookValidate(t *testing.T) {
	w := &Webhook{Policy: NetPolicy{}}
	if err := w.Validate(Target{URL: "https://hooks.example.com/in"}); err != nil {
		t.Errorf("a public https URL: %v", err)
	}
	if err := w.Validate(Target{URL: "http://hooks.example.com/in"}); err == nil {
		t.Error("a plain http URL was accepted under the default policy")
	}
}

// endlessHeaders is a receiver that answers every connection with a status
// line and then headers that never end. It counts the bytes it got to send
// before Herald hung up.
func endlessHeaders(t *testing.T) (url string, sent *atomic.Int64) {
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
				buf := make([]byte, 64<<10)
				if _, err := c.Read(buf); err != nil { // the request
					return
				}
				line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
				if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil {
					return
				}
				for sent.Load() < 100<<20 {
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

func TestWebhookDeliverStopsReadingEndlessHeaders(t *testing.T) {
	url, sent := endlessHeaders(t)
	w := newTestWebhook(10 * time.Second)
	start := time.Now()
	_, err := w.Deliver(context.Background(), webhookRequest(url, NewSecret()))
	checkClass(t, err, wantClass{permanent: true}) // retrying would cost the same again
	if !strings.Contains(err.Error(), "headers are over 64 KiB") {
		t.Errorf("error = %q, want it to say the headers are too large", err)
	}
	// Go's default is about 10 MB; kernel buffers add a few hundred KiB.
	if n := sent.Load(); n > 4<<20 {
		t.Errorf("Herald read about %d KiB of headers, want it to stop soon after 64 KiB", n>>10)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v, want it to give up at once", d)
	}
}

// The timeout covers the answer's body too: a receiver that sends its
// status and then stalls does not hold the attempt past it.
func TestWebhookDeliverTimesOutOnAStalledBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	const timeout = 300 * time.Millisecond
	start := time.Now()
	res, _ := newTestWebhook(timeout).Deliver(context.Background(), webhookRequest(srv.URL, NewSecret()))
	if elapsed := time.Since(start); elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("gave up after %v, want just over the %v timeout", elapsed, timeout)
	}
	if res.StatusCode != http.StatusOK || string(res.Body) != "partial" {
		t.Errorf("result %d %q; want the status and the part of the body that came", res.StatusCode, res.Body)
	}
}
