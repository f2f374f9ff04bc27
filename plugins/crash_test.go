package plugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// modeEnvelope is an event whose data.mode tells the crashy plugin what to do.
func modeEnvelope(id, mode string) sinks.Envelope {
	return sinks.Envelope{ID: id, Event: "contact_created", Timestamp: "2026-11-27T08:00:00.123Z",
		Data: []byte(fmt.Sprintf(`{"mode":%q,"contact":{"id":"c_1"}}`, mode))}
}

// countLines counts each line of a file the crashy plugin wrote.
func countLines(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Fields(string(b)) {
		out[line]++
	}
	return out
}

// attemptLog is what the app's delivery loop would record: every attempt
// the host did not mark Unavailable is charged.
type attemptLog struct {
	mu      sync.Mutex
	charged map[string]int
	final   map[string]error
}

// deliverUntilDone retries env as the delivery loop would (a short
// schedule, Unavailable attempts not counted) until it succeeds or fails
// for good.
func (l *attemptLog) deliverUntilDone(t *testing.T, h *Host, config map[string]any, env sinks.Envelope) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := deliverTo(t.Context(), h, "crashy", config, env)
		l.mu.Lock()
		if !sinks.IsUnavailable(err) {
			l.charged[env.ID]++
		}
		l.final[env.ID] = err
		l.mu.Unlock()
		permanent, _, _ := sinks.Classify(err)
		if err == nil || permanent {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: still failing: %v", env.ID, err)
			return
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-t.Context().Done():
			return
		}
	}
}

func TestHostIsolatesAPoisonEvent(t *testing.T) {
	h, logs := newLoggedHost(t, HostOptions{Dir: installPlugins(t, "crashy")})
	out := filepath.Join(t.TempDir(), "delivered")
	config := map[string]any{"path": out}
	firstPid := pidOf(t, h, "crashy")

	log := &attemptLog{charged: map[string]int{}, final: map[string]error{}}
	var wg sync.WaitGroup
	const healthy = 50
	for i := range healthy {
		if i == healthy/5 {
			wg.Go(func() { log.deliverUntilDone(t, h, config, modeEnvelope("evt_poison", "crash")) })
		}
		wg.Go(func() { log.deliverUntilDone(t, h, config, modeEnvelope(fmt.Sprintf("evt_%02d", i), "")) })
	}
	wg.Wait()

	t.Run("the poison event fails alone, for good, with the reason", func(t *testing.T) {
		err := log.final["evt_poison"]
		if permanent, _, _ := sinks.Classify(err); !permanent || !strings.Contains(err.Error(), crashReason) {
			t.Fatalf("poison event ended with %v, want a permanent %q", err, crashReason)
		}
		// The first crash may have been shared with other calls: then it
		// is not charged, and the event is sent alone to make sure.
		if got := log.charged["evt_poison"]; got < maxCrashes-1 || got > maxCrashes {
			t.Errorf("poison event charged %d attempts, want %d or %d", got, maxCrashes-1, maxCrashes)
		}
	})
	delivered, received := countLines(t, out), countLines(t, out+".received")
	t.Run("every healthy event is delivered", func(t *testing.T) {
		for i := range healthy {
			id := fmt.Sprintf("evt_%02d", i)
			if delivered[id] == 0 || log.final[id] != nil {
				t.Errorf("%s: delivered %d times, last error %v", id, delivered[id], log.final[id])
			}
		}
	})
	t.Run("no healthy event is charged an attempt the plugin never got", func(t *testing.T) {
		for i := range healthy {
			id := fmt.Sprintf("evt_%02d", i)
			if log.charged[id] > received[id] {
				t.Errorf("%s: charged %d attempts, but the plugin got it %d times", id, log.charged[id], received[id])
			}
		}
	})
	t.Run("each crash restarted the plugin at once and the log says so", func(t *testing.T) {
		if n := strings.Count(logs.String(), `msg="Plugin process lost; starting a new one now"`); n != maxCrashes {
			t.Errorf("%d restarts logged, want %d", n, maxCrashes)
		}
		// Started at once, but the last crash's new process may still be
		// coming up (the handshake) as the last delivery returns.
		waitFor(t, "a new plugin process", func() bool {
			return statusOf(t, h, "crashy").Running && pidOf(t, h, "crashy") != firstPid
		})
	})
}

func TestHostPanickingPluginStaysUp(t *testing.T) {
	h := newTestHost(t, HostOptions{Dir: installPlugins(t, "crashy")})
	config := map[string]any{"path": filepath.Join(t.TempDir(), "delivered")}
	pid := pidOf(t, h, "crashy")
	var err error
	for n := 1; n <= maxCrashes; n++ {
		err = deliverTo(t.Context(), h, "crashy", config, modeEnvelope("evt_panic", "panic"))
		if n < maxCrashes && (err == nil || !strings.Contains(err.Error(), "panicked")) {
			t.Fatalf("attempt %d: error = %v, want the panic reported", n, err)
		}
	}
	if permanent, _, _ := sinks.Classify(err); !permanent || !strings.Contains(err.Error(), crashReason) {
		t.Errorf("after %d panics: error = %v, want a permanent %q", maxCrashes, err, crashReason)
	}
	if got := pidOf(t, h, "crashy"); got != pid {
		t.Errorf("pid %d became %d: a recovered panic must not restart the plugin", pid, got)
	}
}

func TestHostRestartsAHungPlugin(t *testing.T) {
	h, logs := newLoggedHost(t, HostOptions{Dir: installPlugins(t, "crashy"), CallTimeout: 300 * time.Millisecond})
	config := map[string]any{"path": filepath.Join(t.TempDir(), "delivered")}
	pid := pidOf(t, h, "crashy")
	for i := range hangLimit {
		err := deliverTo(t.Context(), h, "crashy", config, modeEnvelope(fmt.Sprintf("evt_hang%d", i), "hang"))
		if err == nil || sinks.IsUnavailable(err) {
			t.Fatalf("hung call %d: error = %v, want a charged timeout", i, err)
		}
	}
	waitFor(t, "a new process replaces the hung one", func() bool {
		s := statusOf(t, h, "crashy")
		return s.Running && pidOf(t, h, "crashy") != pid
	})
	waitFor(t, "the hung process is killed", func() bool { return !processAlive(pid) })
	if !strings.Contains(logs.String(), `msg="Plugin stopped answering; killing it and starting a new one now"`) {
		t.Error("the log does not say the plugin was killed for not answering")
	}
	if err := deliverTo(t.Context(), h, "crashy", config, modeEnvelope("evt_after", "")); err != nil {
		t.Errorf("delivery after the restart: %v", err)
	}
}

func TestHostRedactsPluginErrors(t *testing.T) {
	h, logs := newLoggedHost(t, HostOptions{Dir: installPlugins(t, "crashy")})
	const token = "tok-7f3a9c1e55"
	config := map[string]any{"path": filepath.Join(t.TempDir(), "delivered"), "token": token}
	err := deliverTo(t.Context(), h, "crashy", config, modeEnvelope("evt_leak", "leak"))
	if err == nil {
		t.Fatal("the leaky delivery succeeded")
	}
	for _, secret := range []string{token, "hunter2", "k3y-in-query"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q reveals %s", err, secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("host log reveals %s", secret)
		}
	}
	if !strings.Contains(err.Error(), "https://[redacted]@api.example.com/v1/send?[redacted]") {
		t.Errorf("error = %q, want the URL kept without credentials and query", err)
	}
}

func TestHostDeliversToAProtocol1Plugin(t *testing.T) {
	h := newTestHost(t, HostOptions{Dir: installPlugins(t, "protocol1")})
	s := statusOf(t, h, "protocol1")
	if !s.Running || s.Protocol != 1 {
		t.Fatalf("status = %+v, want running on protocol 1", s)
	}
	out := filepath.Join(t.TempDir(), "events.jsonl")
	if err := deliverTo(context.Background(), h, "protocol1", map[string]any{"path": out}, envelope(7)); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	if lines := readLines(t, out); len(lines) != 1 || lines[0].ID != envelope(7).ID {
		t.Errorf("lines = %+v", lines)
	}
	err := h.Validate(sinks.Target{Plugin: "protocol1", Config: map[string]any{"path": "/tmp/x", "colour": "red"}})
	if ve, ok := err.(*sinks.ValidationError); !ok || ve.Field != "config.colour" {
		t.Errorf("unknown key: error = %v, want a ValidationError on config.colour", err)
	}
}
