package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildTestPlugin compiles the test plugin in plugins/testdata/<name> into
// dir as herald-sink-<name>.
func buildTestPlugin(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, "herald-sink-"+name)
	cmd := exec.Command("go", "build", "-o", out, "./plugins/testdata/"+name)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build plugin %s: %v\n%s", name, err, b)
	}
	return out
}

// lockedBuffer is a log sink tests can read while the server writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLoggedTestServer is newTestServer whose log the test can read.
func newLoggedTestServer(t *testing.T, opts ...func(*Config)) (*testServer, *lockedBuffer) {
	t.Helper()
	cfg := testConfig(t.TempDir())
	for _, o := range opts {
		o(&cfg)
	}
	logs := &lockedBuffer{}
	a, err := New(cfg, Options{Schema: testSchema(t), Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	return serveTestApp(t, a, cfg), logs
}

// serveTestApp starts a, as startTestServer does.
func serveTestApp(t *testing.T, a *App, cfg Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	go func() { _ = a.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testServer{t: t, App: a, URL: "http://" + ln.Addr().String(), Token: testAdminToken, Dir: cfg.DataDir}
}

func countIDs(path string) map[string]int {
	b, _ := os.ReadFile(path)
	out := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		out[id]++
	}
	return out
}

// TestAPoisonEventFailsAloneThroughTheApp sends 50 healthy events and one
// that crashes the plugin every time through the whole delivery loop.
func TestAPoisonEventFailsAloneThroughTheApp(t *testing.T) {
	pluginDir := t.TempDir()
	buildTestPlugin(t, pluginDir, "crashy")
	s := newTestServer(t, func(c *Config) {
		c.Plugins.Dir = pluginDir
		c.Delivery.RetrySchedule = "20ms,40ms,80ms,160ms,320ms"
	})
	out := filepath.Join(t.TempDir(), "delivered")
	hookID, _ := s.createWebhook(map[string]any{"sink": "plugin", "plugin": "crashy", "config": map[string]any{"path": out}, "events": []string{"*"}})

	const healthy = 50
	var healthyIDs []string
	var poisonID string
	for i := range healthy {
		if i == healthy/3 {
			poisonID = s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c_poison"}, "mode": "crash"})
		}
		healthyIDs = append(healthyIDs, s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": fmt.Sprint("c_", i)}}))
	}

	byEvent := map[string]map[string]any{}
	eventually(t, 60*time.Second, "every delivery succeeded or failed", func() bool {
		list := s.must("GET", "/api/v1/webhooks/"+hookID+"/deliveries?limit=100", nil, 200)["data"].([]any)
		if len(list) != healthy+1 {
			return false
		}
		for _, d := range list {
			d := d.(map[string]any)
			if d["status"] != "succeeded" && d["status"] != "failed" {
				return false
			}
			byEvent[d["event_id"].(string)] = d
		}
		return true
	})

	t.Run("the poison event fails with its reason", func(t *testing.T) {
		d := byEvent[poisonID]
		if d["status"] != "failed" || !strings.Contains(d["last_error"].(string), "plugin crashed while delivering this event") {
			t.Fatalf("poison delivery = %v", d)
		}
	})
	delivered, received := countIDs(out), countIDs(out+".received")
	t.Run("every healthy event is delivered and none is lost", func(t *testing.T) {
		for _, id := range healthyIDs {
			if d := byEvent[id]; d["status"] != "succeeded" || delivered[id] == 0 {
				t.Errorf("%s: delivery %v, written %d times", id, d, delivered[id])
			}
		}
	})
	t.Run("no healthy event is charged an attempt the plugin never got", func(t *testing.T) {
		for _, id := range healthyIDs {
			d := s.must("GET", "/api/v1/deliveries/"+byEvent[id]["id"].(string), nil, 200)
			charged := 0
			for _, a := range d["attempts"].([]any) {
				if e := a.(map[string]any)["error"].(string); !strings.Contains(e, "not counted") && !strings.Contains(e, "not sent") {
					charged++
				}
			}
			if charged > received[id] {
				t.Errorf("%s: %d attempts charged, but the plugin got it %d times: %v", id, charged, received[id], d["attempts"])
			}
		}
	})
}
