package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// testAdminToken is the admin token every test server accepts.
const testAdminToken = "test-admin-token"

// testServer is a real Herald on 127.0.0.1:0 with a temp SQLite dir.
type testServer struct {
	t     *testing.T
	App   *App
	URL   string
	Token string
	Dir   string
}

// testSchema is schema.sql, read from the repository root.
func testSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../schema.sql")
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	return string(b)
}

// testConfig allows http and loopback targets and retries fast.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminToken = testAdminToken
	cfg.AllowHTTP = true
	cfg.AllowPrivateNetworks = true
	cfg.Delivery.RetrySchedule = "20ms,40ms,80ms"
	cfg.Delivery.Timeout = Duration{2 * time.Second}
	cfg.Reconcile.Schedule = "@every 1h"
	return cfg
}

// newTestServer starts Herald; opts adjust the config first.
func newTestServer(t *testing.T, opts ...func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	for _, o := range opts {
		o(&cfg)
	}
	return startTestServer(t, cfg)
}

// startTestServer starts Herald with cfg; now, if given, is its clock.
func startTestServer(t *testing.T, cfg Config, now ...func() time.Time) *testServer {
	t.Helper()
	o := Options{Schema: testSchema(t), Version: "test"}
	if len(now) > 0 {
		o.Now = now[0]
	}
	a, err := New(cfg, o)
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	go func() { _ = a.Serve(ln) }()
	s := &testServer{t: t, App: a, URL: "http://" + ln.Addr().String(), Token: testAdminToken, Dir: cfg.DataDir}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// request sends body (a string is sent as-is, anything else as JSON) with token.
func (s *testServer) request(method, path string, body any, token string) (int, []byte) {
	s.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatalf("encode body: %v", err)
		}
		raw = j
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		s.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(path, "/api/") {
		// Every API exchange of every test is checked against the OpenAPI document.
		x := exchange{Method: method, URL: s.URL + path, Header: req.Header, Body: raw,
			Status: resp.StatusCode, RespHeader: resp.Header, RespBody: out}
		if err := checkExchange(x); err != nil {
			s.t.Error(err)
		}
	}
	return resp.StatusCode, out
}

// do sends an admin request and decodes a JSON object answer.
func (s *testServer) do(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	code, raw := s.request(method, path, body, s.Token)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			s.t.Fatalf("%s %s: answer is not a JSON object (%d): %s", method, path, code, raw)
		}
	}
	return code, m
}

// must is do that fails the test unless the status is want.
func (s *testServer) must(method, path string, body any, want int) map[string]any {
	s.t.Helper()
	code, m := s.do(method, path, body)
	if code != want {
		s.t.Fatalf("%s %s: status %d, want %d: %v", method, path, code, want, m)
	}
	return m
}

// createWebhook creates a webhook and returns its id and secret.
func (s *testServer) createWebhook(body map[string]any) (id, secret string) {
	s.t.Helper()
	m := s.must("POST", "/api/v1/webhooks", body, http.StatusCreated)
	return m["id"].(string), m["secret"].(string)
}

// ingest posts one event and returns its id.
func (s *testServer) ingest(event string, data map[string]any) string {
	s.t.Helper()
	m := s.must("POST", "/api/v1/events", map[string]any{"event": event, "data": data}, http.StatusAccepted)
	return m["id"].(string)
}

// receiver is an httptest server that records what Herald sends.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	arrived chan received
	// respond decides the answer; nil answers 200.
	respond func(r received) (status int, body string, headers map[string]string)
}

type received struct {
	Header http.Header
	Body   []byte
	Env    sinks.Envelope
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan received, 10000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := received{Header: r.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &got.Env)
		rc.mu.Lock()
		rc.got = append(rc.got, got)
		respond := rc.respond
		rc.mu.Unlock()
		status, text, headers := http.StatusOK, "ok", map[string]string(nil)
		if respond != nil {
			status, text, headers = respond(got)
		}
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
		rc.arrived <- got
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setRespond(f func(r received) (int, string, map[string]string)) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

// next waits for the next request, failing the test after timeout.
func (rc *receiver) next(t *testing.T, timeout time.Duration) received {
	t.Helper()
	select {
	case r := <-rc.arrived:
		return r
	case <-time.After(timeout):
		t.Fatalf("receiver: nothing arrived within %s", timeout)
		return received{}
	}
}

// none checks that nothing arrives within d.
func (rc *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-rc.arrived:
		t.Fatalf("receiver: unexpected request: %s", r.Body)
	case <-time.After(d):
	}
}

// verify checks the Standard Webhooks signature of a received request.
func verify(t *testing.T, r received, secret string) {
	t.Helper()
	ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", r.Header.Get("webhook-timestamp"), err)
	}
	if !sinks.Verify(secret, r.Header.Get("webhook-id"), ts, r.Body, r.Header.Get("webhook-signature")) {
		t.Fatalf("signature %q does not verify with the webhook's secret", r.Header.Get("webhook-signature"))
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
