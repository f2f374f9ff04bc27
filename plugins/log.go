package plugins

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter sends go-plugin's logging, and through it each plugin's
// stderr, to Herald's slog logger.
type hclogAdapter struct {
	hclog.Logger // a null logger: supplies the methods go-plugin never logs through
	log          *slog.Logger
	// go-plugin names the logger for the plugin's stderr after the
	// binary's base name; output marks that logger.
	outputName string
	output     bool
	redact     func(string) string // scrubs secrets from what the plugin prints
}

func newHCLogger(log *slog.Logger, binary string, redact func(string) string) hclog.Logger {
	return &hclogAdapter{Logger: hclog.NewNullLogger(), log: log, outputName: binary, redact: redact}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	// go-plugin logs a plugin's plain stderr lines (log.Printf and the like)
	// at debug without attributes, while its parsed JSON entries always
	// carry a timestamp. Plain lines are what authors write on purpose.
	if a.output && level == hclog.Debug && len(args) == 0 {
		level = hclog.Info
	}
	if a.output && a.redact != nil {
		msg = a.redact(msg)
	}
	a.log.Log(context.Background(), slogLevel(level), msg, renameKey(args, "plugin", "binary")...)
}

// renameKey renames an attribute key: go-plugin uses "plugin" for the
// binary's path, which would clash with the plugin name every record carries.
func renameKey(args []any, from, to string) []any {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == from {
			args = slices.Clone(args)
			args[i] = to
			return args
		}
	}
	return args
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return a.log.Enabled(context.Background(), slogLevel(level))
}

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.log = a.log.With(args...)
	return &c
}

// Named drops the name, since every record already carries the plugin
// name, but notes whether this is the logger for the plugin's stderr.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	c.output = name == a.outputName
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger { return a.Named(name) }

// GetLevel lets go-plugin skip parsing plugin log lines nobody will see.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

// slogTrace is below slog's debug; slog has no trace level of its own.
const slogTrace = slog.LevelDebug - 4

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slogTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// lineWriter logs each line written to it: what a plugin prints on its
// stdout or stderr after Serve reaches Herald's log this way.
type lineWriter struct {
	log    *slog.Logger
	stream string
	redact func(string) string // nil: lines are logged as written

	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimRight(w.buf[:i], "\r"); len(line) > 0 {
			w.emit(string(line))
		}
		w.buf = w.buf[i+1:]
	}
	// A runaway line without newlines is logged in pieces, not buffered forever.
	if len(w.buf) >= maxLogLine {
		w.emit(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

func (w *lineWriter) emit(line string) {
	if w.redact != nil {
		line = w.redact(line)
	}
	w.log.Info(line, "stream", w.stream)
}

const maxLogLine = 64 << 10
