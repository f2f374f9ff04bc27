// Package summary turns a contact's conversation into a short text for the
// data.summary field of tag_applied events. The built-in summarizer works
// offline and always gives the same text for the same conversation; the LLM
// summarizer asks an OpenAI-compatible chat-completions endpoint and falls
// back to the built-in one whenever that fails.
package summary

import (
	"context"
	"log/slog"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// MaxChars is the longest summary text, in characters (runes): enough for a
// CRM note or a Slack line, short enough to read at a glance.
const MaxChars = 600

// Methods name which summarizer wrote a summary.
const (
	MethodBuiltin = "builtin"
	MethodLLM     = "llm"
)

// Contact is who the conversation is with.
type Contact struct {
	ID, Name, Phone, Email, Channel string
}

// Summary is the data.summary object.
type Summary struct {
	Text        string    `json:"text"`
	Messages    int       `json:"messages"` // messages with text that were summarised
	GeneratedAt time.Time `json:"generated_at"`
	Method      string    `json:"method"` // MethodBuiltin or MethodLLM
}

// Summarizer writes a summary of msgs (oldest first) for the contact who was
// just tagged. It never fails: a summary is always usable as is.
type Summarizer interface {
	Summarize(ctx context.Context, c Contact, tag string, msgs []sinks.Message) Summary
}

// FromConfig picks the summarizer the operator configured: the built-in one
// when url is empty, otherwise the LLM at url with the built-in as fallback.
// A zero timeout means DefaultTimeout.
func FromConfig(url, model, apiKey string, timeout time.Duration, logger *slog.Logger) Summarizer {
	if url == "" {
		return Builtin{}
	}
	return NewLLM(LLMOptions{URL: url, Model: model, APIKey: apiKey, Timeout: timeout, Logger: logger})
}
