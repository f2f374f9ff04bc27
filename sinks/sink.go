// Package sinks holds the Sink interface that every delivery target
// implements, and the built-in sinks: the signed HTTPS webhook and Slack.
// It never imports app: the app hands a sink everything it needs in a Request.
package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxResponseBody is how much of a receiver's answer is kept in the attempt log.
const MaxResponseBody = 16 << 10

// Envelope is the wire payload. Every sink gets the same one.
type Envelope struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Timestamp string          `json:"timestamp"` // UTC, RFC 3339 with milliseconds
	Data      json.RawMessage `json:"data"`
}

// Target is the webhook configuration a delivery goes to.
type Target struct {
	WebhookID string
	Name      string
	URL       string
	Plugin    string            // plugin name, for the plugin sink
	Config    map[string]any    // sink-specific settings (slack channel, plugin config)
	Headers   map[string]string // extra headers the user asked for
	Secrets   []string          // signing secrets: current first, then rotated ones still valid
}

// Request is one delivery attempt.
type Request struct {
	DeliveryID string
	Attempt    int    // 1 for the first attempt
	Trigger    string // auto, manual, test, replay, reconcile
	Target     Target
	Envelope   Envelope
	// Body is the exact JSON encoding of Envelope. Sinks that post the
	// envelope as-is send these bytes, so retries send identical bytes.
	Body []byte
	// Context is extra material the app looked up for this event, for sinks
	// that render messages (Slack): the contact's recent conversation.
	Context *EventContext
}

// EventContext carries what the app knows around an event.
type EventContext struct {
	RecentMessages []Message // oldest first
}

// Message is one stored conversation message.
type Message struct {
	Text      string    `json:"text"`
	Direction string    `json:"direction"` // inbound or outbound
	Channel   string    `json:"channel,omitempty"`
	At        time.Time `json:"at"`
}

// Result describes what the far side answered. It is filled in as far as
// known, for failures too.
type Result struct {
	StatusCode int
	Body       []byte // at most MaxResponseBody bytes
}

// Sink delivers one request. A nil error is success. Errors are retryable
// unless marked with Permanent or Gone; RetryAfter hints when to try again.
type Sink interface {
	Deliver(ctx context.Context, req *Request) (Result, error)
}

// Validator is implemented by sinks that can check a target at save time,
// so a bad configuration is a 422 then and not a failed delivery later.
type Validator interface {
	Validate(t Target) error
}

// Error classifies a delivery failure.
type Error struct {
	Err        error
	Permanent  bool          // do not retry
	Gone       bool          // the target is gone for good: fail and disable the webhook
	RetryAfter time.Duration // the receiver asked us to wait this long (0: use the schedule)
	// Unavailable means the sink itself is not ready (a plugin is not
	// installed, a rate limit's line is long): no attempt was made, so
	// none is logged or charged; the delivery waits RetryAfter.
	Unavailable bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &Error{Err: err, Permanent: true} }

// Gone marks err as a target that no longer exists (HTTP 410, deleted channel).
func Gone(err error) error { return &Error{Err: err, Permanent: true, Gone: true} }

// RetryAfter marks err as retryable no sooner than d.
func RetryAfter(err error, d time.Duration) error { return &Error{Err: err, RetryAfter: d} }

// Unavailable marks err as the sink not being ready: the delivery goes back
// to the queue until wait has passed, with no attempt logged or charged.
func Unavailable(err error, wait time.Duration) error {
	return &Error{Err: err, RetryAfter: wait, Unavailable: true}
}

// IsUnavailable reports whether err says the sink is not ready.
func IsUnavailable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unavailable
}

// Classify reports how the delivery loop should treat err.
func Classify(err error) (permanent, gone bool, retryAfter time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent, e.Gone, e.RetryAfter
	}
	return false, false, 0
}

// ConfigString reads a string setting from a target's config.
func (t Target) ConfigString(key string) string {
	v, _ := t.Config[key].(string)
	return v
}

// ValidationError is returned by Validate; Field names the offending input
// (e.g. "url", "config.channel") so the API can point at it.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }
