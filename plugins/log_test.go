package plugins

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// records decodes the JSON lines a slog.JSONHandler wrote.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestHCLogAdapter(t *testing.T) {
	tests := []struct {
		name      string
		log       func(l hclog.Logger)
		wantLevel string // empty: nothing logged
		wantMsg   string
		wantAttr  [2]string
	}{
		{
			name:      "a plain line from the plugin's stderr is logged at info",
			log:       func(l hclog.Logger) { l.Named("herald-sink-x").Debug("2026/11/27 connected to db") },
			wantLevel: "INFO", wantMsg: "2026/11/27 connected to db",
		},
		{
			name:      "a parsed plugin entry keeps its level",
			log:       func(l hclog.Logger) { l.Named("herald-sink-x").Warn("disk almost full", "timestamp", "t") },
			wantLevel: "WARN", wantMsg: "disk almost full",
		},
		{
			name:      "go-plugin's own debug stays below info",
			log:       func(l hclog.Logger) { l.Debug("waiting for RPC address", "plugin", "/bin/herald-sink-x") },
			wantLevel: "",
		},
		{
			name:      "go-plugin's plugin key does not hide the plugin name",
			log:       func(l hclog.Logger) { l.Error("plugin process exited", "plugin", "/bin/herald-sink-x") },
			wantLevel: "ERROR", wantMsg: "plugin process exited", wantAttr: [2]string{"binary", "/bin/herald-sink-x"},
		},
		{
			name:      "With adds attributes",
			log:       func(l hclog.Logger) { l.With("pid", "7").Info("started") },
			wantLevel: "INFO", wantMsg: "started", wantAttr: [2]string{"pid", "7"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			base := slog.New(slog.NewJSONHandler(&buf, nil)).With("plugin", "x")
			tt.log(newHCLogger(base, "herald-sink-x", nil))
			recs := records(t, &buf)
			if tt.wantLevel == "" {
				if len(recs) != 0 {
					t.Fatalf("logged %v, want nothing", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("logged %d records, want 1", len(recs))
			}
			r := recs[0]
			if r["level"] != tt.wantLevel || r["msg"] != tt.wantMsg || r["plugin"] != "x" {
				t.Errorf("record = %v, want level %s, msg %q, plugin x", r, tt.wantLevel, tt.wantMsg)
			}
			if k := tt.wantAttr[0]; k != "" && r[k] != tt.wantAttr[1] {
				t.Errorf("%s = %v, want %q", k, r[k], tt.wantAttr[1])
			}
		})
	}

	t.Run("the level follows the slog handler", func(t *testing.T) {
		l := newHCLogger(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn})), "b", nil)
		if got := l.GetLevel(); got != hclog.Warn {
			t.Errorf("GetLevel = %v, want warn", got)
		}
		if l.IsInfo() || !l.IsError() {
			t.Error("IsInfo/IsError disagree with the handler's level")
		}
	})
}

func TestLineWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &lineWriter{log: slog.New(slog.NewJSONHandler(&buf, nil)), stream: "stdout"}
	for _, chunk := range []string{"first li", "ne\nsecond\r\n", "\n", "unfinished"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []string
	for _, r := range records(t, &buf) {
		if r["stream"] != "stdout" {
			t.Errorf("record %v lacks stream=stdout", r)
		}
		msgs = append(msgs, r["msg"].(string))
	}
	if got := strings.Join(msgs, "|"); got != "first line|second" {
		t.Errorf("lines = %q, want whole lines only, without blanks", got)
	}
}
