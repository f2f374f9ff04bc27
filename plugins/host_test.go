package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

func TestHostLoadsAndDelivers(t *testing.T) {
	dir := installPlugins(t, "jsonl", "discord")
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("README.txt", "not a plugin", 0o644)
	write(BinaryPrefix+"notexec", "#!/bin/sh\n", 0o644)
	write(BinaryPrefix+"broken", "#!/bin/sh\necho 'broken plugin speaking' >&2\necho not a plugin\n", 0o755)
	h, logs := newLoggedHost(t, HostOptions{Dir: dir})

	t.Run("List shows every plugin file and what each describes", func(t *testing.T) {
		var names []string
		for _, s := range h.List() {
			names = append(names, s.Name)
		}
		if want := []string{"broken", "discord", "jsonl", "notexec"}; !slices.Equal(names, want) {
			t.Fatalf("names = %v, want %v", names, want)
		}
		jsonl := statusOf(t, h, "jsonl")
		if !jsonl.Running || jsonl.Error != "" || jsonl.Version != "1.1.0" || jsonl.Protocol != 2 {
			t.Errorf("jsonl status = %+v", jsonl)
		}
		if want := fileSHA256(t, filepath.Join(dir, BinaryPrefix+"jsonl")); jsonl.SHA256 != want {
			t.Errorf("jsonl sha256 = %s, want %s", jsonl.SHA256, want)
		}
		if len(jsonl.Fields) != 1 || jsonl.Fields[0].Name != "path" || !jsonl.Fields[0].Required {
			t.Errorf("jsonl fields = %+v", jsonl.Fields)
		}
		discord := statusOf(t, h, "discord")
		if !discord.Running || len(discord.Fields) == 0 || !discord.Fields[0].Secret {
			t.Errorf("discord status = %+v, want running with a secret webhook_url", discord)
		}
		if s := statusOf(t, h, "notexec"); s.Running || s.Error != "not executable" {
			t.Errorf("notexec status = %+v", s)
		}
		if s := statusOf(t, h, "broken"); s.Running || s.Error == "" {
			t.Errorf("broken status = %+v, want an error", s)
		}
	})

	t.Run("what a plugin writes to stderr reaches the log, tagged with its name", func(t *testing.T) {
		if want := `level=INFO msg="broken plugin speaking" plugin=broken`; !strings.Contains(logs.String(), want) {
			t.Errorf("host log lacks %s", want)
		}
	})

	t.Run("concurrent deliveries each write one line", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "events.jsonl")
		const n = 20
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- deliverTo(t.Context(), h, "jsonl", map[string]any{"path": out}, envelope(i)) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("deliver: %v", err)
			}
		}
		lines := readLines(t, out)
		if len(lines) != n {
			t.Fatalf("%d lines, want %d", len(lines), n)
		}
		seen := map[string]bool{}
		for _, env := range lines {
			seen[env.ID] = true
		}
		for i := range n {
			if want := envelope(i); !seen[want.ID] {
				t.Errorf("envelope %s missing", want.ID)
			}
		}
		if got, want := string(lines[0].Data), `{"contact":{"id":"c_`; !strings.HasPrefix(got, want) {
			t.Errorf("data = %s", got)
		}
	})

	t.Run("deliveries to an absent or broken plugin fail retryably", func(t *testing.T) {
		for _, name := range []string{"missing", "broken", "notexec"} {
			err := deliverTo(t.Context(), h, name, map[string]any{"path": "/tmp/x"}, envelope(1))
			if err == nil || !strings.HasPrefix(err.Error(), "plugin "+name+": ") {
				t.Fatalf("%s: error = %v, want one naming the plugin", name, err)
			}
			if permanent, _, _ := sinks.Classify(err); permanent {
				t.Errorf("%s: error %v is permanent; deliveries must wait for the plugin", name, err)
			}
		}
	})

	t.Run("Validate checks the plugin and its config", func(t *testing.T) {
		tests := []struct {
			name      string
			target    sinks.Target
			wantField string
		}{
			{"a good config passes", sinks.Target{Plugin: "jsonl", Config: map[string]any{"path": "/var/log/herald.jsonl"}}, ""},
			{"no plugin name is refused", sinks.Target{}, "plugin"},
			{"an unknown plugin is refused", sinks.Target{Plugin: "nope"}, "plugin"},
			{"a plugin that does not start is refused", sinks.Target{Plugin: "broken"}, "plugin"},
			{"a missing required field is refused", sinks.Target{Plugin: "jsonl", Config: map[string]any{}}, "config.path"},
			{"a value the plugin rejects is refused", sinks.Target{Plugin: "jsonl", Config: map[string]any{"path": "relative.jsonl"}}, "config.path"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := h.Sink().(sinks.Validator).Validate(tt.target)
				if tt.wantField == "" {
					if err != nil {
						t.Fatalf("validate: %v", err)
					}
					return
				}
				var ve *sinks.ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.wantField {
					t.Fatalf("error = %v, want a ValidationError on %s", err, tt.wantField)
				}
			})
		}
	})
}

func TestHostPins(t *testing.T) {
	jsonlSum := fileSHA256(t, builtPlugin(t, "jsonl"))
	tests := []struct {
		name        string
		pin         string
		wantRunning bool
		wantError   string
	}{
		{"a matching pin starts the plugin", jsonlSum, true, ""},
		{"a matching pin in upper case starts the plugin", strings.ToUpper(jsonlSum), true, ""},
		{"a pin that does not match refuses the plugin", strings.Repeat("ab", 32), false, "does not match the pinned"},
		{"a malformed pin refuses the plugin", "not-hex", false, "not 64 hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(t, HostOptions{Dir: installPlugins(t, "jsonl"), Pins: map[string]string{"jsonl": tt.pin}})
			s := statusOf(t, h, "jsonl")
			if s.Running != tt.wantRunning || !strings.Contains(s.Error, tt.wantError) {
				t.Fatalf("status = running %v, error %q; want running %v, error containing %q", s.Running, s.Error, tt.wantRunning, tt.wantError)
			}
			out := filepath.Join(t.TempDir(), "out.jsonl")
			err := deliverTo(t.Context(), h, "jsonl", map[string]any{"path": out}, envelope(1))
			if tt.wantRunning != (err == nil) {
				t.Fatalf("deliver error = %v, running %v", err, tt.wantRunning)
			}
			if permanent, _, _ := sinks.Classify(err); permanent {
				t.Errorf("a refused plugin's deliveries must stay retryable, got %v", err)
			}
		})
	}

	t.Run("a binary swapped after loading is refused when it restarts", func(t *testing.T) {
		dir := installPlugins(t, "jsonl")
		h := newTestHost(t, HostOptions{Dir: dir, Pins: map[string]string{"jsonl": jsonlSum}})
		pid := pidOf(t, h, "jsonl")
		installPlugin(t, dir, "jsonl", []byte("tampered"))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.jsonl")
		waitFor(t, "the restart is refused on its checksum", func() bool {
			err := deliverTo(t.Context(), h, "jsonl", map[string]any{"path": out}, envelope(1))
			if err == nil {
				t.Fatal("a tampered binary accepted a delivery")
			}
			return strings.Contains(err.Error(), "checksums did not match")
		})
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the tampered plugin wrote %s", out)
		}
	})
}

// TestHostRestartsAKilledPlugin kills the plugin in the middle of a stream
// of deliveries, between two concurrent batches so that no write is in
// flight: it is restarted at once and no later delivery fails for it.
func TestHostRestartsAKilledPlugin(t *testing.T) {
	h := newTestHost(t, HostOptions{Dir: installPlugins(t, "jsonl")})
	out := filepath.Join(t.TempDir(), "events.jsonl")
	config := map[string]any{"path": out}

	var mu sync.Mutex
	var failures []error
	deliverWithRetries := func(envs []sinks.Envelope) {
		var wg sync.WaitGroup
		for _, env := range envs {
			wg.Go(func() {
				deadline := time.Now().Add(20 * time.Second)
				for {
					err := deliverTo(t.Context(), h, "jsonl", config, env)
					if err == nil {
						return
					}
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					if permanent, _, _ := sinks.Classify(err); permanent || time.Now().After(deadline) {
						t.Errorf("%s: giving up: %v", env.ID, err)
						return
					}
					select { // the app's retry schedule, shortened
					case <-time.After(20 * time.Millisecond):
					case <-t.Context().Done():
						return
					}
				}
			})
		}
		wg.Wait()
	}
	var all []sinks.Envelope
	for i := range 30 {
		all = append(all, envelope(i))
	}

	deliverWithRetries(all[:10])
	if len(failures) != 0 {
		t.Fatalf("failures before the kill: %v", failures)
	}
	pid := pidOf(t, h, "jsonl")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the host replaces the killed process", func() bool {
		p, _ := h.lookup("jsonl")
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.proc != nil && p.proc.pid() != pid
	})

	waitFor(t, "a new process runs", func() bool { return statusOf(t, h, "jsonl").Running })

	deliverWithRetries(all[10:])
	if len(failures) != 0 {
		t.Errorf("deliveries failed after the kill though none was in flight: %v", failures)
	}
	if newPid := pidOf(t, h, "jsonl"); newPid == pid {
		t.Errorf("still pid %d; the plugin was not restarted", pid)
	}
	if s := statusOf(t, h, "jsonl"); !s.Running {
		t.Errorf("status after restart = %+v", s)
	}

	lines := readLines(t, out)
	got := map[string]int{}
	for _, env := range lines {
		got[env.ID]++
	}
	for _, env := range all {
		if got[env.ID] != 1 {
			t.Errorf("%s written %d times, want once", env.ID, got[env.ID])
		}
	}
	if len(lines) != len(all) {
		t.Errorf("%d lines, want %d", len(lines), len(all))
	}
}

func TestHostReload(t *testing.T) {
	dir := installPlugins(t, "jsonl")
	h := newTestHost(t, HostOptions{Dir: dir})
	jsonlPid := pidOf(t, h, "jsonl")

	installPlugin(t, dir, "discord", nil)
	if err := h.Load(); err != nil {
		t.Fatal(err)
	}
	t.Run("a new plugin is started and an unchanged one kept", func(t *testing.T) {
		if !statusOf(t, h, "discord").Running {
			t.Error("discord is not running")
		}
		if pid := pidOf(t, h, "jsonl"); pid != jsonlPid {
			t.Errorf("jsonl pid changed from %d to %d", jsonlPid, pid)
		}
	})

	discordPid := pidOf(t, h, "discord")
	path := installPlugin(t, dir, "jsonl", []byte("v2"))
	if err := os.Remove(filepath.Join(dir, BinaryPrefix+"discord")); err != nil {
		t.Fatal(err)
	}
	if err := h.Load(); err != nil {
		t.Fatal(err)
	}
	t.Run("a changed plugin is restarted from the new file", func(t *testing.T) {
		s := statusOf(t, h, "jsonl")
		if !s.Running || s.SHA256 != fileSHA256(t, path) {
			t.Errorf("status = %+v, want running with the new sha256", s)
		}
		if pidOf(t, h, "jsonl") == jsonlPid {
			t.Error("jsonl still runs the old process")
		}
		if processAlive(jsonlPid) {
			t.Errorf("old jsonl process %d still alive", jsonlPid)
		}
	})
	t.Run("a removed plugin is stopped and unlisted", func(t *testing.T) {
		if len(h.List()) != 1 {
			t.Errorf("list = %+v, want only jsonl", h.List())
		}
		if processAlive(discordPid) {
			t.Errorf("discord process %d still alive", discordPid)
		}
	})
}

func TestHostClose(t *testing.T) {
	h := newTestHost(t, HostOptions{Dir: installPlugins(t, "jsonl", "discord")})
	pids := []int{pidOf(t, h, "jsonl"), pidOf(t, h, "discord")}
	h.Close()

	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("process %d still alive after Close", pid)
		}
	}
	if l := h.List(); len(l) != 0 {
		t.Errorf("list after Close = %+v", l)
	}
	err := deliverTo(context.Background(), h, "jsonl", map[string]any{"path": "/tmp/x"}, envelope(1))
	if permanent, _, _ := sinks.Classify(err); err == nil || permanent {
		t.Errorf("deliver after Close = %v, want a retryable error", err)
	}
	if err := h.Load(); err == nil {
		t.Error("Load after Close succeeded")
	}
}

// processAlive reports whether pid exists. The host reaps its plugins, so a
// stopped plugin leaves no zombie behind.
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestHostDiscordEndToEnd(t *testing.T) {
	got := make(chan map[string]any, 8)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- m
		switch r.URL.Path {
		case "/api/webhooks/1/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/api/webhooks/1/limited":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"message":"You are being rate limited.","retry_after":3}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"Invalid Form Body","code":50035}`)
		}
	}))
	t.Cleanup(fake.Close)
	env := sinks.Envelope{ID: "evt_9", Event: "human_alerted", Timestamp: "2026-11-27T08:00:00.123Z",
		Data: []byte(`{"contact":{"id":"c_9","name":"Jane Doe"},"reason":"Wants a human"}`)}
	config := func(path string) map[string]any { return map[string]any{"webhook_url": fake.URL + path} }

	dir := installPlugins(t, "discord")
	h := newTestHost(t, HostOptions{Dir: dir, AllowHTTP: true, AllowPrivateNetworks: true})
	tests := []struct {
		name          string
		path          string
		wantPermanent bool
		wantAfter     time.Duration
	}{
		{"a 204 from Discord is a delivery", "/api/webhooks/1/ok", false, 0},
		{"a 429 comes back retryable with its delay", "/api/webhooks/1/limited", false, 3 * time.Second},
		{"a 400 comes back permanent", "/api/webhooks/1/bad", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := deliverTo(t.Context(), h, "discord", config(tt.path), env)
			if m := <-got; m["embeds"].([]any)[0].(map[string]any)["title"] != "Human alerted" {
				t.Errorf("message = %v", m)
			}
			if tt.path == "/api/webhooks/1/ok" {
				if err != nil {
					t.Fatalf("deliver: %v", err)
				}
				return
			}
			permanent, _, after := sinks.Classify(err)
			if err == nil || permanent != tt.wantPermanent || after != tt.wantAfter {
				t.Errorf("error = %v classified (permanent %v, after %s), want (%v, %s)", err, permanent, after, tt.wantPermanent, tt.wantAfter)
			}
		})
	}

	t.Run("the far side's status code and answer reach the delivery log", func(t *testing.T) {
		res, err := h.Sink().Deliver(t.Context(), &sinks.Request{DeliveryID: "dlv_x", Attempt: 1,
			Target: sinks.Target{Plugin: "discord", Config: config("/api/webhooks/1/bad")}, Envelope: env})
		<-got
		if err == nil || res.StatusCode != http.StatusBadRequest || !strings.Contains(string(res.Body), "Invalid Form Body") {
			t.Errorf("result = %d %q, error %v; want 400 with Discord's answer", res.StatusCode, res.Body, err)
		}
	})

	t.Run("plugins follow the operator's URL policy", func(t *testing.T) {
		strict := newTestHost(t, HostOptions{Dir: dir})
		var ve *sinks.ValidationError
		if err := strict.Validate(sinks.Target{Plugin: "discord", Config: config("/api/webhooks/1/ok")}); !errors.As(err, &ve) || ve.Field != "config.webhook_url" {
			t.Errorf("http URL without HERALD_ALLOW_HTTP: error = %v, want a ValidationError on config.webhook_url", err)
		}
		if err := h.Validate(sinks.Target{Plugin: "discord", Config: config("/api/webhooks/1/ok")}); err != nil {
			t.Errorf("http URL with HERALD_ALLOW_HTTP: %v", err)
		}
		noPrivate := newTestHost(t, HostOptions{Dir: dir, AllowHTTP: true})
		err := deliverTo(t.Context(), noPrivate, "discord", config("/api/webhooks/1/ok"), env)
		if permanent, _, _ := sinks.Classify(err); err == nil || !permanent || !strings.Contains(err.Error(), "blocked target") {
			t.Errorf("loopback without HERALD_ALLOW_PRIVATE_NETWORKS: error = %v, want a permanent refusal, as the webhook sink gives", err)
		}
		if len(got) != 0 {
			t.Error("the fake received a message it should not have")
		}
	})
}

func TestPluginEnv(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", "hunter2")
	t.Setenv("HERALD_ALLOW_HTTP", "false")
	t.Setenv("TZ", "UTC")
	env := pluginEnv(true, false)
	for _, want := range []string{"TZ=UTC", "HERALD_ALLOW_HTTP=true", "HERALD_ALLOW_PRIVATE_NETWORKS=false"} {
		if !slices.Contains(env, want) {
			t.Errorf("plugin environment lacks %s", want)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "HERALD_ADMIN_TOKEN=") || kv == "HERALD_ALLOW_HTTP=false" {
			t.Errorf("plugin environment carries Herald's %s", kv)
		}
	}
}
