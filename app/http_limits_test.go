package app

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// gzipBomb is about 200 KiB of gzip that inflates to 200 MiB of zeros.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 200 {
		if _, err := zw.Write(zero); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// post sends body with the given headers and returns the status and answer.
func (s *testServer) post(path string, body io.Reader, headers map[string]string) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// allocatedDuring reports how many bytes the whole process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestAGzipBombNeverInflatesPastTheLimit(t *testing.T) {
	s := newTestServer(t)
	bomb := gzipBomb(t)
	t.Logf("bomb: %d KiB of gzip, 200 MiB inflated", len(bomb)>>10)
	const bound = 16 << 20 // the limit is 256 KiB; this leaves room for everything else running
	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"without a token it is refused before it is read", "", 401, CodeUnauthorized},
		{"with a token it is inflated only up to the limit", s.Token, 413, CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			var raw []byte
			n := allocatedDuring(func() {
				h := map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/json"}
				if tc.token != "" {
					h["Authorization"] = "Bearer " + tc.token
				}
				status, _, raw = s.post("/api/v1/events", bytes.NewReader(bomb), h)
			})
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, raw)
			}
			if code, _ := errorOf(t, raw); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			t.Logf("allocated %d KiB while answering", n>>10)
			if n > bound {
				t.Errorf("the process allocated %d MiB while answering, want under %d MiB", n>>20, bound>>20)
			}
		})
	}
}

func TestContentEncodings(t *testing.T) {
	s := newTestServer(t)
	event := `{"event":"contact_created","data":{"contact":{"id":"c1"}}}`
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.DefaultCompression)
	_, _ = fw.Write([]byte(event))
	_ = fw.Close()
	cases := []struct {
		name     string
		encoding string
		body     []byte
		status   int
		code     string
	}{
		{"identity is taken", "identity", []byte(event), 202, ""},
		{"gzip is inflated", "gzip", gzipped(t, event), 202, ""},
		{"gzip that is not gzip is a 400", "gzip", []byte(event), 400, CodeBadRequest},
		{"deflate is not taken", "deflate", deflated.Bytes(), 415, CodeUnsupportedEncoding},
		{"brotli is not taken", "br", []byte(event), 415, CodeUnsupportedEncoding},
		{"layered encodings are not taken", "gzip, gzip", gzipped(t, string(gzipped(t, event))), 415, CodeUnsupportedEncoding},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, raw := s.post("/api/v1/events", bytes.NewReader(tc.body),
				map[string]string{"Authorization": "Bearer " + s.Token, "Content-Encoding": tc.encoding})
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, raw)
			}
			if tc.code != "" {
				if code, _ := errorOf(t, raw); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
			}
		})
	}
}

// onlyReader hides bytes.Reader's length, so the client sends it chunked.
type onlyReader struct{ io.Reader }

func TestABodyOverTheLimitSentAllAtOnceGetsA413(t *testing.T) {
	s := newTestServer(t)
	for _, size := range []int{300 << 10, 1 << 20, 5 << 20} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d KiB, chunked %v", size>>10, chunked), func(t *testing.T) {
				body := `{"event":"contact_created","data":{"pad":"` + strings.Repeat("x", size) + `"}}`
				var r io.Reader = strings.NewReader(body)
				if chunked {
					r = onlyReader{r}
				}
				status, _, raw := s.post("/api/v1/events", r, map[string]string{"Authorization": "Bearer " + s.Token})
				if status != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d, want 413: %s", status, raw)
				}
				if code, _ := errorOf(t, raw); code != CodeTooLarge {
					t.Errorf("code %q, want %q", code, CodeTooLarge)
				}
			})
		}
	}
	t.Run("a path spelled in capitals reads its body like any other", func(t *testing.T) {
		status, _, raw := s.post("/API/V1/EVENTS", strings.NewReader(`{"event":"contact_created","data":{"contact":{"id":"c1"}}}`),
			map[string]string{"Authorization": "Bearer " + s.Token})
		if status != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %s", status, raw)
		}
	})
	t.Run("a chunked body within the limit is taken", func(t *testing.T) {
		body := `{"event":"contact_created","data":{"contact":{"id":"c1"},"pad":"` + strings.Repeat("x", 100<<10) + `"}}`
		status, _, raw := s.post("/api/v1/events", onlyReader{strings.NewReader(body)}, map[string]string{"Authorization": "Bearer " + s.Token})
		if status != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %s", status, raw)
		}
	})
}

// rawExchange writes req on a fresh connection and returns every answer
// read until the server closes it (or the deadline passes).
func rawExchange(t *testing.T, url string, req []byte) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = c.Write(req) }() // the server may answer before it reads it all
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
}

func TestRequestFraming(t *testing.T) {
	s := newTestServer(t)
	event := `{"event":"contact_created","data":{"contact":{"id":"c1"}}}`
	head := "POST /api/v1/events HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer " + s.Token + "\r\nConnection: close\r\n"
	cases := []struct {
		name    string
		headers string
		body    string
		status  int
	}{
		{"conflicting Content-Length headers are a 400", fmt.Sprintf("Content-Length: %d\r\nContent-Length: 5\r\n", len(event)), event, 400},
		{"a Content-Length list that disagrees is a 400", fmt.Sprintf("Content-Length: %d, 5\r\n", len(event)), event, 400},
		{"Content-Length with Transfer-Encoding is a 400", fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len(event)),
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(event), event), 400},
		{"a repeated Content-Length that agrees is taken", fmt.Sprintf("Content-Length: %d\r\nContent-Length: %d\r\n", len(event), len(event)), event, 202},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, s.URL, []byte(head+tc.headers+"\r\n"+tc.body))
			if len(got) != 1 {
				t.Fatalf("got %d answers, want 1", len(got))
			}
			if got[0].StatusCode != tc.status {
				body, _ := io.ReadAll(got[0].Body)
				t.Fatalf("status %d, want %d: %s", got[0].StatusCode, tc.status, body)
			}
		})
	}
	t.Run("headers over the limit are a 431 the client can read", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("X-Padding", strings.Repeat("p", MaxHeaderBytes+1024))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431: %s", resp.StatusCode, raw)
		}
		if code, _ := errorOf(t, raw); code != CodeHeaderTooLarge {
			t.Errorf("code %q, want %q", code, CodeHeaderTooLarge)
		}
	})
	t.Run("headers under the limit still work", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("X-Padding", strings.Repeat("p", 8<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	})
}

func TestTheTokenIsCheckedBeforeTheBodyIsRead(t *testing.T) {
	s := newTestServer(t)
	t.Run("a refused request is answered without waiting for its body", func(t *testing.T) {
		// Content-Length promises 1 MiB; only 100 bytes ever come.
		req := "POST /api/v1/events HTTP/1.1\r\nHost: herald\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("x", 100)
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // the server's own read timeout is 30 s
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer while the body is incomplete: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})
	t.Run("an unread body is never taken for the next request", func(t *testing.T) {
		smuggled := "GET /api/v1/events HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer " + s.Token + "\r\n\r\n"
		body := strings.Repeat(" ", 20<<10) + smuggled // past what the server buffers before the handler
		req := fmt.Sprintf("POST /api/v1/events HTTP/1.1\r\nHost: herald\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		got := rawExchange(t, s.URL, []byte(req))
		if len(got) != 1 || got[0].StatusCode != http.StatusUnauthorized {
			codes := []int{}
			for _, r := range got {
				codes = append(codes, r.StatusCode)
			}
			t.Fatalf("answers %v, want one 401 and the connection closed", codes)
		}
	})
	t.Run("a scope that may not call the endpoint is refused before the body is read", func(t *testing.T) {
		m := s.must("POST", "/api/v1/tokens", map[string]any{"name": "ingest", "scope": "ingest"}, 201)
		bomb := gzipBomb(t)
		var status int
		n := allocatedDuring(func() {
			status, _, _ = s.post("/api/v1/webhooks", bytes.NewReader(bomb),
				map[string]string{"Authorization": "Bearer " + m["token"].(string), "Content-Encoding": "gzip"})
		})
		if status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
		if n > 16<<20 {
			t.Errorf("allocated %d MiB, want under 16", n>>20)
		}
	})
}

func TestUnsupportedMethodsAre405WithAllow(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	hookID, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	cases := []struct {
		method, path string
		token        bool
		allow        []string
	}{
		{"PUT", "/api/v1/webhooks/" + hookID, true, []string{"GET", "PATCH", "DELETE"}},
		{"DELETE", "/api/v1/events", true, []string{"GET", "POST"}},
		{"PUT", "/api/v1/events/batch", true, []string{"POST"}},
		{"POST", "/healthz", false, []string{"GET", "HEAD"}},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(`{"name":"x"}`))
			if tc.token {
				req.Header.Set("Authorization", "Bearer "+s.Token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405: %s", resp.StatusCode, raw)
			}
			if code, _ := errorOf(t, raw); code != CodeMethodNotAllowed {
				t.Errorf("code %q, want %q", code, CodeMethodNotAllowed)
			}
			allow := resp.Header.Get("Allow")
			for _, m := range tc.allow {
				if !strings.Contains(allow, m) {
					t.Errorf("Allow %q should list %s", allow, m)
				}
			}
		})
	}
	if code, raw := s.request("GET", "/api/v1/nothing/here", nil, s.Token); code != 404 {
		t.Errorf("an unknown path: status %d, want 404: %s", code, raw)
	}
	h := s.must("GET", "/api/v1/webhooks/"+hookID, nil, 200)
	if h["name"] == "x" {
		t.Error("the PUT changed the webhook")
	}
}

func TestBodyBudget(t *testing.T) {
	b := newBodyBudget(100)
	if err := b.acquire(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.acquire(ctx, 60); err == nil {
		t.Fatal("acquired 120 of 100 bytes")
	}
	if n := b.waitingNow(); n != 0 {
		t.Fatalf("%d waiting after the only waiter gave up; want 0", n)
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(context.Background(), 60) }()
	// Release only once it waits: a release wakes only those waiting.
	for deadline := time.Now().Add(5 * time.Second); b.waitingNow() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second reader never waited")
		}
	}
	b.release(60)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a release did not wake the waiting reader")
	}
	if err := b.acquire(context.Background(), 40); err != nil {
		t.Fatal(err)
	}
	if b.free != 0 {
		t.Fatalf("free = %d, want 0", b.free)
	}
	if b.tryAcquire(1) {
		t.Fatal("tryAcquire took a byte of a full budget")
	}
	b.release(40)
	if !b.tryAcquire(40) || b.free != 0 {
		t.Fatalf("tryAcquire(40) of 40 free failed; free = %d", b.free)
	}
}

// readUpTo keeps every byte up to the limit, refuses the one past it,
// whatever the size hint says and however the reader splits its reads.
func TestReadUpTo(t *testing.T) {
	const limit = 1000
	for _, size := range []int{0, 1, 511, 512, 513, 999, 1000, 1001, 5000} {
		want := bytes.Repeat([]byte("abcdefg"), size/7+1)[:size]
		for _, hint := range []int{0, size, size / 2, size * 3} {
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(want)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				got, err := readUpTo(r, limit, hint)
				if size > limit {
					var e *Error
					if !errors.As(err, &e) || e.Code != CodeTooLarge {
						t.Errorf("size %d, hint %d: err %v, want %s", size, hint, err, CodeTooLarge)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("size %d, hint %d, one byte at a time %v: got %d bytes, err %v", size, hint, oneByte, len(got), err)
				}
			}
		}
	}
	// With Content-Length known, the body is read into one buffer, the
	// size of the body: it once grew a bytes.Buffer past it.
	body := bytes.Repeat([]byte("x"), 300)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := readUpTo(bytes.NewReader(body), limit, len(body)); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the buffer, and the reader the closure makes
		t.Errorf("reading a 300-byte body of known size took %.0f allocations; want at most 2", allocs)
	}
}

func (b *bodyBudget) waitingNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting
}
