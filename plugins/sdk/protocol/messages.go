package protocol

import (
	"encoding/json"
	"fmt"
)

// Info describes a plugin: what Describe answers, as JSON.
type Info struct {
	Name        string  `json:"name"`
	Version     string  `json:"version"`
	Description string  `json:"description"`
	Fields      []Field `json:"fields"`
}

// Field is one config setting a plugin takes.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // FieldString, FieldNumber, FieldBool or FieldSecret
	Description string `json:"description"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"` // set for FieldSecret: masked in the API and UI
}

// Field types. A secret is a string that is never shown back in full.
const (
	FieldString = "string"
	FieldNumber = "number"
	FieldBool   = "bool"
	FieldSecret = "secret"
)

// DeliverRequest is the JSON a Deliver call carries.
type DeliverRequest struct {
	Envelope json.RawMessage `json:"envelope"` // the exact bytes Herald signs and stores
	Config   map[string]any  `json:"config"`
}

// Outcomes of a Deliver call the plugin answered.
const (
	OutcomeOK        = "ok"
	OutcomeRetry     = "retry"     // failed; retry on Herald's schedule or after RetryAfterMS
	OutcomePermanent = "permanent" // failed for good
	OutcomeGone      = "gone"      // the target no longer exists: fail and disable the webhook
	OutcomePanic     = "panic"     // the plugin panicked on this event (and recovered)
)

// Result is a plugin's answer to Deliver. In version 2 it is the JSON the
// call returns; in version 1 only Outcome, Error and RetryAfterMS cross the
// wire, as gRPC status codes.
type Result struct {
	Outcome      string `json:"outcome"`
	Error        string `json:"error,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	// What the far side answered, when the plugin made an HTTP call.
	StatusCode int    `json:"status_code,omitempty"`
	Body       string `json:"body,omitempty"` // at most MaxResponseBody bytes
}

// FieldError rejects a config, naming the key at fault ("" for the whole
// config).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// CheckConfig enforces what Describe promises: required fields are set,
// values have their field's type, and no key is unknown. Herald checks it
// before a config is saved, and the SDK checks it again in the plugin.
func CheckConfig(fields []Field, config map[string]any) error {
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.Name] = true
		v, ok := config[f.Name]
		if !ok || v == nil || v == "" {
			if f.Required {
				return &FieldError{Field: f.Name, Message: "is required"}
			}
			continue
		}
		if msg := typeError(f.Type, v); msg != "" {
			return &FieldError{Field: f.Name, Message: msg}
		}
	}
	for key := range config {
		if !known[key] {
			return &FieldError{Field: key, Message: fmt.Sprintf("is not a setting of this plugin (it takes %s)", fieldNames(fields))}
		}
	}
	return nil
}

func typeError(typ string, v any) string {
	switch typ {
	case FieldString, FieldSecret:
		if _, ok := v.(string); !ok {
			return "must be a string"
		}
	case FieldNumber:
		if _, ok := v.(float64); !ok {
			return "must be a number"
		}
	case FieldBool:
		if _, ok := v.(bool); !ok {
			return "must be a bool (true or false)"
		}
	}
	return ""
}

func fieldNames(fields []Field) string {
	if len(fields) == 0 {
		return "no settings"
	}
	s := ""
	for i, f := range fields {
		if i > 0 {
			s += ", "
		}
		s += f.Name
	}
	return s
}
