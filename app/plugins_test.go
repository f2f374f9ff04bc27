package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildPlugin compiles an example plugin into dir.
func buildPlugin(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, "herald-sink-"+name)
	cmd := exec.Command("go", "build", "-o", out, "./plugins/"+name)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build plugin %s: %v\n%s", name, err, b)
	}
	return out
}

// pidsOf finds running processes whose command line starts with path.
func pidsOf(path string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(cmdline), path) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestPluginSinkEndToEnd(t *testing.T) {
	pluginDir := t.TempDir()
	bin := buildPlugin(t, pluginDir, "jsonl")
	s := newTestServer(t, func(c *Config) {
		c.Plugins.Dir = pluginDir
		c.Delivery.RetrySchedule = "50ms,100ms,200ms,400ms,800ms,1s,1s"
	})
	out := filepath.Join(t.TempDir(), "events.jsonl")

	t.Run("the plugin is listed with what it describes", func(t *testing.T) {
		list := s.must("GET", "/api/v1/plugins", nil, 200)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["name"] != "jsonl" || list[0].(map[string]any)["running"] != true {
			t.Fatalf("plugins = %v", list)
		}
	})
	t.Run("a webhook naming a missing plugin is a 422", func(t *testing.T) {
		code, raw := s.request("POST", "/api/v1/webhooks", map[string]any{"sink": "plugin", "plugin": "nope", "events": []string{"*"}}, s.Token)
		if code != 422 {
			t.Fatalf("status = %d: %s", code, raw)
		}
	})
	t.Run("a bad plugin config is a 422 at save time", func(t *testing.T) {
		code, raw := s.request("POST", "/api/v1/webhooks", map[string]any{"sink": "plugin", "plugin": "jsonl", "events": []string{"*"}}, s.Token)
		if code != 422 {
			t.Fatalf("status = %d: %s", code, raw)
		}
	})

	s.createWebhook(map[string]any{"sink": "plugin", "plugin": "jsonl", "config": map[string]any{"path": out}, "events": []string{"*"}})
	const total = 40
	var ids []string
	for i := range total {
		ids = append(ids, s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": fmt.Sprint("c", i)}}))
		if i == total/2 {
			// Kill the plugin mid-stream: its deliveries retry, it restarts.
			for _, pid := range pidsOf(bin) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	eventually(t, 20*time.Second, "every event written by the plugin", func() bool {
		seen := map[string]bool{}
		for _, line := range readLines(t, out) {
			var env struct{ ID string }
			if json.Unmarshal([]byte(line), &env) == nil {
				seen[env.ID] = true
			}
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	if len(pidsOf(bin)) == 0 {
		t.Fatal("the plugin was not restarted")
	}
}

func TestDeliveriesWaitForAMissingPlugin(t *testing.T) {
	pluginDir := t.TempDir()
	bin := buildPlugin(t, pluginDir, "jsonl")
	s := newTestServer(t, func(c *Config) { c.Plugins.Dir = pluginDir; c.Delivery.RetrySchedule = "10ms" })
	out := filepath.Join(t.TempDir(), "events.jsonl")
	id, _ := s.createWebhook(map[string]any{"sink": "plugin", "plugin": "jsonl", "config": map[string]any{"path": out}, "events": []string{"*"}})

	// The plugin vanishes.
	moved := bin + ".away"
	if err := os.Rename(bin, moved); err != nil {
		t.Fatal(err)
	}
	s.must("POST", "/api/v1/plugins/reload", nil, 200)
	evID := s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c"}})
	var d map[string]any
	eventually(t, 5*time.Second, "the delivery to say it waits for the plugin", func() bool {
		d = s.must("GET", "/api/v1/webhooks/"+id+"/deliveries", nil, 200)["data"].([]any)[0].(map[string]any)
		return strings.Contains(d["last_error"].(string), "jsonl")
	})
	// No attempt was made, so none is logged or charged (it used to log one
	// every 30 s, forever).
	full := s.must("GET", "/api/v1/deliveries/"+d["id"].(string), nil, 200)
	if atts, _ := full["attempts"].([]any); d["status"] != "pending" || d["attempt_count"].(float64) != 0 || len(atts) != 0 {
		t.Fatalf("delivery = %v; want it pending with no attempt, waiting for the plugin", full)
	}

	// It comes back: a reload sends what waited, with retries to spare.
	if err := os.Rename(moved, bin); err != nil {
		t.Fatal(err)
	}
	s.must("POST", "/api/v1/plugins/reload", nil, 200)
	eventually(t, 10*time.Second, "the waiting event written", func() bool {
		return strings.Contains(strings.Join(readLines(t, out), "\n"), evID)
	})
}
