package plugins

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// The example and test plugins are built once per test binary into binDir.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// builtPlugin returns the path of a freshly built example plugin.
func builtPlugin(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "herald-plugins-")
		if buildErr != nil {
			return
		}
		// crashy misbehaves on demand; protocol1 is jsonl built with the
		// old host-module package, which spoke only protocol 1.
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"./jsonl", "./discord", "./testdata/crashy", "./testdata/protocol1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build example plugins: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// installPlugins copies example plugins into a fresh plugin folder.
func installPlugins(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		installPlugin(t, dir, name, nil)
	}
	return dir
}

// installPlugin copies the example plugin name into dir, plus extra bytes
// (an ELF binary runs the same with trailing data, but hashes differently).
// It writes a temp file and renames it, as replacing a running binary needs.
func installPlugin(t *testing.T, dir, name string, extra []byte) string {
	t.Helper()
	src, err := os.ReadFile(builtPlugin(t, name))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, BinaryPrefix+name)
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, append(src, extra...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// syncBuffer collects the host's log; it is printed when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestHost loads a host on dir and closes it at the end of the test.
func newTestHost(t *testing.T, opts HostOptions) *Host {
	t.Helper()
	h, _ := newLoggedHost(t, opts)
	return h
}

// newLoggedHost is newTestHost that also returns the host's log.
func newLoggedHost(t *testing.T, opts HostOptions) (*Host, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 5 * time.Second
	}
	h := NewHost(opts)
	t.Cleanup(func() {
		h.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	if err := h.Load(); err != nil {
		t.Fatalf("load: %v", err)
	}
	return h, logs
}

func statusOf(t *testing.T, h *Host, name string) Status {
	t.Helper()
	for _, s := range h.List() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("plugin %q not listed in %+v", name, h.List())
	return Status{}
}

// pidOf returns the pid of the plugin's current process.
func pidOf(t *testing.T, h *Host, name string) int {
	t.Helper()
	p, err := h.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		t.Fatalf("plugin %s has no process", name)
	}
	return p.proc.pid()
}

func envelope(i int) sinks.Envelope {
	return sinks.Envelope{
		ID:        fmt.Sprintf("evt_%03d", i),
		Event:     "contact_created",
		Timestamp: "2026-11-27T08:00:00.123Z",
		Data:      []byte(fmt.Sprintf(`{"contact":{"id":"c_%d"}}`, i)),
	}
}

func deliverTo(ctx context.Context, h *Host, plugin string, config map[string]any, env sinks.Envelope) error {
	_, err := h.Sink().Deliver(ctx, &sinks.Request{
		DeliveryID: "dlv_" + env.ID,
		Attempt:    1,
		Target:     sinks.Target{Plugin: plugin, Config: config},
		Envelope:   env,
	})
	return err
}

// readLines returns the envelopes the jsonl plugin wrote to path.
func readLines(t *testing.T, path string) []sinks.Envelope {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sinks.Envelope
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		var env sinks.Envelope
		if err := json.Unmarshal(lines.Bytes(), &env); err != nil {
			t.Fatalf("line %d of %s: %v", len(out)+1, path, err)
		}
		out = append(out, env)
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}
