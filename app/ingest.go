package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// EventInput is the ingest body.
type EventInput struct {
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	ID        string          `json:"id"`
	Timestamp string          `json:"timestamp"`
}

// MaxBatch is how many events one batch request may carry.
const MaxBatch = 1000

var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:\-]{1,128}$`)

// decodeStrict decodes JSON into v, refusing unknown fields and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if dec.More() {
		return errorf(CodeMalformedJSON, "", "unexpected data after the JSON value")
	}
	return nil
}

func describeJSONError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case asErr(err, &syn):
		return errorf(CodeMalformedJSON, "", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case asErr(err, &typ):
		field := typ.Field
		return errorf(CodeInvalid, field, "%s must be %s, not %s", orBody(field), jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(CodeInvalid, name, "unknown field %q", name)
	}
	return errorf(CodeMalformedJSON, "", "malformed JSON: %s", err.Error())
}

func orBody(field string) string {
	if field == "" {
		return "the body"
	}
	return field
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "true or false"
	case "int", "int64", "float64":
		return "a number"
	}
	return k
}

// prepareEvent validates in and turns it into an Event. prefix is put before
// field names ("events[3].") for batch errors.
func prepareEvent(in *EventInput, prefix string, now time.Time, ids *store.IDGen) (*Event, *Error) {
	bad := func(field, format string, args ...any) *Error {
		return errorf(CodeInvalidEvent, prefix+field, format, args...)
	}
	if in.Event == "" {
		return nil, bad("event", "event is required; see GET /api/v1/event-types")
	}
	et, ok := catalogByName[in.Event]
	if !ok {
		return nil, bad("event", "unknown event %q; see GET /api/v1/event-types", in.Event)
	}
	if in.Event == TestEvent {
		return nil, bad("event", "test_event is sent only by Send Test Event (POST /api/v1/webhooks/{id}/test)")
	}
	ev := &Event{Event: in.Event, Source: "api", CreatedAt: now.UnixMilli()}

	raw := bytes.TrimSpace(in.Data)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return nil, bad("data", "data must be a JSON object")
	}
	var err error
	if ev.Data, ev.Fields, err = store.ParseData(raw, MaxJSONDepth); err != nil {
		return nil, dataError(err, prefix+"data", raw)
	}
	for _, path := range et.Required {
		v, ok := store.Lookup(ev.Fields, path)
		if !ok || v == nil || v == "" {
			return nil, bad("data."+path, "%s is required for %s", "data."+path, in.Event)
		}
		switch v.(type) {
		case string, json.Number:
		default:
			return nil, bad("data."+path, "data.%s must be a string or a number", path)
		}
	}
	if v, ok := store.Lookup(ev.Fields, "message.direction"); ok {
		if d, _ := v.(string); d != "inbound" && d != "outbound" {
			return nil, bad("data.message.direction", "data.message.direction must be inbound or outbound")
		}
	}
	if in.Event == "tag_applied" && strings.TrimSpace(store.LookupString(ev.Fields, "tag")) == "" {
		return nil, bad("data.tag", "data.tag must be a non-empty string")
	}
	ev.ContactID = store.LookupString(ev.Fields, "contact.id")
	if utf8.RuneCountInString(ev.ContactID) > 256 {
		return nil, bad("data.contact.id", "data.contact.id is longer than 256 characters")
	}

	switch {
	case in.ID == "":
		ev.ID = ids.New("evt_", now)
	case eventIDPattern.MatchString(in.ID):
		ev.ID = in.ID
	default:
		return nil, bad("id", "id must be 1 to 128 characters of letters, digits, _ . : -")
	}
	ev.Timestamp = now.UnixMilli()
	if in.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Timestamp)
		if err != nil {
			return nil, bad("timestamp", "timestamp must be RFC 3339, like 2026-11-27T08:00:00.123Z")
		}
		ev.Timestamp = t.UnixMilli()
	}
	ev.ContentHash = store.ContentHash(ev)
	return ev, nil
}

// envelopeOf is the event as every sink receives it.
func envelopeOf(e *Event) sinks.Envelope {
	return sinks.Envelope{ID: e.ID, Event: e.Event, Timestamp: store.FormatTime(e.Timestamp), Data: e.Data}
}

// envelopeBody encodes the envelope; the same event always gives the same
// bytes: those json.Marshal gives (FuzzEventIngest holds it to them), but
// written by hand when the data is as Marshal would write it, as stored
// data is (compact, from ParseData), since every attempt encodes one.
func envelopeBody(env sinks.Envelope) []byte {
	if len(env.Data) == 0 || !marshalReady(env.Data) {
		b, err := json.Marshal(env)
		if err != nil {
			panic(fmt.Sprintf("encode envelope: %v", err)) // Data was validated as JSON at ingest
		}
		return b
	}
	b := make([]byte, 0, len(env.Data)+len(env.ID)+len(env.Event)+len(env.Timestamp)+48)
	b = store.AppendJSONString(append(b, `{"id":`...), env.ID)
	b = store.AppendJSONString(append(b, `,"event":`...), env.Event)
	b = store.AppendJSONString(append(b, `,"timestamp":`...), env.Timestamp)
	b = append(append(b, `,"data":`...), env.Data...)
	return append(b, '}')
}

// marshalReady says whether data, valid JSON, is what json.Marshal writes
// for it as a RawMessage: compact, and with nothing it escapes for HTML
// (<, >, &, U+2028, U+2029; any byte 0xE2 sends data the long way).
func marshalReady(data []byte) bool {
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xE2:
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
