package app

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/herald-webhooks/herald/app/store"
)

// MaxJSONDepth is how deeply event data and webhook config may nest. Deeper
// documents are valid JSON, but answers that carry them break common
// decoders (Python's gives up near 1,000 levels), and no real event needs it.
const MaxJSONDepth = 64

// checkJSONValue refuses a raw JSON value holding invalid UTF-8 (which Go's
// decoder would silently replace, and a signed body would carry as is) or
// nested deeper than MaxJSONDepth. field names it in the error.
func checkJSONValue(code, field string, raw []byte) *Error {
	if !utf8.Valid(raw) {
		return errorf(code, field, "%s holds text that is not valid UTF-8; send UTF-8 (Herald refuses it rather than replace it)", field)
	}
	if d := store.JSONDepth(raw); d > MaxJSONDepth {
		return errorf(code, field, "%s is nested %d levels deep; at most %d are allowed", field, d, MaxJSONDepth)
	}
	return nil
}

// checkWebhookBody checks each top-level field of a webhook create or
// update body, which decodeStrict has already accepted.
func checkWebhookBody(body []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return describeJSONError(err)
	}
	for name, raw := range fields {
		if err := checkJSONValue(CodeInvalid, name, raw); err != nil {
			return err
		}
	}
	return nil
}

// validHeaderValue reports whether v can be sent as an HTTP header value:
// no control characters but tab (RFC 9110 §5.5). Go's client refuses the
// others at send time, so they are refused here at save time.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// dataError turns what store.ParseData found wrong with event data into
// the answer. field is where the data sits ("data", "events[3].data").
func dataError(err error, field string, raw []byte) *Error {
	var de *store.DataError
	if !errors.As(err, &de) {
		return errorf(CodeInvalidEvent, field, "%s is not valid JSON", field)
	}
	switch de.Kind {
	case store.DataNotObject:
		return errorf(CodeInvalidEvent, field, "%s must be a JSON object", field)
	case store.DataUTF8, store.DataTooDeep:
		// The same checks, and words, as for webhook config.
		if e := checkJSONValue(CodeInvalidEvent, field, raw); e != nil {
			return e
		}
	case store.DataNumberTooLarge:
		// JSON allows 1e999, but receivers' decoders fail on it or read
		// infinity (I-JSON, RFC 7493).
		path := field + de.Path
		return errorf(CodeInvalidEvent, path, "%s is %s, a number too large to exchange safely", path, clip(de.Number, 40))
	}
	return errorf(CodeInvalidEvent, field, "%s is not valid JSON", field)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
