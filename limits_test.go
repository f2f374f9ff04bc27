package main

// Memory under hostile clients, measured on the real binary: its peak RSS
// (VmHWM) must stay within a fixed bound of what it was at start.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssBound is how far peak RSS may rise above the idle process: bodies in
// flight are capped far below it, and the unfixed server went past 400 MiB.
const rssBound = 64 << 20

func TestHostileBodiesKeepMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	p := startHerald(t, bin, map[string]string{
		"HERALD_DATA_DIR":    t.TempDir(),
		"HERALD_ADMIN_TOKEN": crashAdminToken,
	})
	pid := p.cmd.Process.Pid
	_, startKB := procStat(pid)
	t.Logf("idle peak RSS: %d MiB", startKB>>10)
	peakOK := func(what string) {
		t.Helper()
		_, hwmKB := procStat(pid)
		t.Logf("after %s: peak RSS %d MiB (+%d MiB)", what, hwmKB>>10, (hwmKB-startKB)>>10)
		if (hwmKB-startKB)<<10 > rssBound {
			t.Errorf("after %s peak RSS rose by %d MiB, want under %d MiB", what, (hwmKB-startKB)>>10, rssBound>>20)
		}
		if resp, err := http.Get(p.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after %s /healthz: %v %v", what, resp, err)
		} else {
			resp.Body.Close()
		}
	}

	t.Run("400 unauthenticated clients each sending all but the last byte of 1 MiB", func(t *testing.T) {
		const clients, size = 400, 1 << 20
		head := fmt.Sprintf("POST /api/v1/events HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
		body := bytes.Repeat([]byte("x"), size-1)
		var answered, refused atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				go func() {
					if _, err := io.WriteString(c, head); err == nil {
						_, _ = c.Write(body) // never the last byte
					}
				}()
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					return
				}
				resp.Body.Close()
				answered.Add(1)
				if resp.StatusCode == http.StatusUnauthorized {
					refused.Add(1)
				}
			}()
		}
		wg.Wait()
		t.Logf("%d of %d clients got an answer, %d of them 401", answered.Load(), clients, refused.Load())
		if refused.Load() != clients {
			t.Errorf("%d clients got a 401, want all %d: the answer must not wait for the body", refused.Load(), clients)
		}
		peakOK("400 slow clients")
	})

	t.Run("gzip bombs with and without a token", func(t *testing.T) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zero := make([]byte, 1<<20)
		for range 200 {
			_, _ = zw.Write(zero)
		}
		_ = zw.Close()
		bomb := buf.Bytes()
		var wg sync.WaitGroup
		var statuses sync.Map
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", p.URL+"/api/v1/events", bytes.NewReader(bomb))
				req.Header.Set("Content-Encoding", "gzip")
				if i%2 == 0 {
					req.Header.Set("Authorization", "Bearer "+crashAdminToken)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses.Store(i, err.Error())
					return
				}
				resp.Body.Close()
				statuses.Store(i, resp.StatusCode)
			}()
		}
		wg.Wait()
		statuses.Range(func(k, v any) bool {
			want := 401
			if k.(int)%2 == 0 {
				want = 413
			}
			if v != want {
				t.Errorf("bomb %d: got %v, want %d", k, v, want)
			}
			return true
		})
		peakOK(fmt.Sprintf("16 gzip bombs of %d KiB", len(bomb)>>10))
	})
}
