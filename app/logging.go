package app

import (
	"io"
	"log/slog"
	"strings"
)

// LevelNotice is above Error, so no HERALD_LOG_LEVEL hides it: for the few
// lines an operator must see (the generated admin token). It prints as
// NOTICE, not as an error.
const LevelNotice = slog.LevelError + 4

// NewLogger is Herald's logger: text lines on w at level ("debug", "info",
// "warn" or "error"; anything else is info).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey && a.Value.Any() == LevelNotice {
			a.Value = slog.StringValue("NOTICE")
		}
		return a
	}}))
}
