package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// TestEvent is the event name of "Send Test Event"; it matches no webhook.
const TestEvent = "test_event"

// Event is a validated event, ready to store and send.
type Event struct {
	Seq         int64
	ID          string
	Event       string
	Timestamp   int64 // unix ms
	Data        json.RawMessage
	ContactID   string
	ContentHash string
	Source      string // api, source (pulled by reconcile), test
	CreatedAt   int64

	Fields map[string]any // Data decoded (numbers as json.Number), for matching and memory

	Delivery      *Delivery // in a list filtered by webhook: the event's delivery to it
	DeliveryCount int       // in a list: how many deliveries it has (0: it matched no webhook)
}

// ContentHash is what tells a retry of an event from another event that
// reuses its id: the name and what the data means. Key order and whitespace
// don't count (maps encode with sorted keys; numbers stay as written).
func ContentHash(e *Event) string {
	b := make([]byte, 0, len(e.Event)+1+len(e.Data)+len(e.Data)/8)
	b = append(append(b, e.Event...), '\n')
	b = appendCanonical(b, e.Fields)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Tag returns the normalised tag of a tag_applied event.
func (e *Event) Tag() string { return NormalizeTag(LookupString(e.Fields, "tag")) }

// NormalizeTag is how tags compare: trimmed, lower case.
func NormalizeTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// Lookup walks a dotted path through decoded JSON objects.
func Lookup(data map[string]any, path string) (any, bool) {
	var cur any = data
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// LookupString returns a string (or number as text) at path, or "".
func LookupString(data map[string]any, path string) string {
	v, _ := Lookup(data, path)
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case float64:
		b, _ := json.Marshal(t)
		return string(b)
	}
	return ""
}
