package sdk

import "encoding/json"

// Config is a webhook's plugin settings, as the user saved them (JSON
// types: string, float64, bool). The getters return the zero value for a
// missing key or a value of another type; Validate has already checked
// types against Describe's fields.
type Config map[string]any

// String returns the string (or secret) setting key.
func (c Config) String(key string) string {
	s, _ := c[key].(string)
	return s
}

// Number returns the number setting key.
func (c Config) Number(key string) float64 {
	n, _ := c[key].(float64)
	return n
}

// Int returns the number setting key, truncated to an int.
func (c Config) Int(key string) int { return int(c.Number(key)) }

// Bool returns the bool setting key.
func (c Config) Bool(key string) bool {
	b, _ := c[key].(bool)
	return b
}

// Envelope is one event, exactly as Herald sends it to webhooks.
type Envelope struct {
	ID        string          `json:"id"`        // stable across retries: use it to deduplicate
	Event     string          `json:"event"`     // the event type, e.g. "human_alerted"
	Timestamp string          `json:"timestamp"` // UTC, RFC 3339 with milliseconds
	Data      json.RawMessage `json:"data"`      // the event's data object; see Decode
}

// Decode unmarshals env.Data into v, typically a pointer to a struct with
// just the fields the plugin uses.
func (env Envelope) Decode(v any) error { return json.Unmarshal(env.Data, v) }
