package plugins

import (
	"sync"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
	"github.com/herald-webhooks/herald/sinks"
)

// maxRemembered bounds how many secret values a plugin's log is scrubbed of.
const maxRemembered = 1000

// secretSet remembers the secret config values a plugin was given, so what
// the plugin prints can be scrubbed of them.
type secretSet struct {
	mu     sync.Mutex
	values map[string]struct{}
}

func (s *secretSet) add(values []string) {
	if len(values) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil || len(s.values)+len(values) > maxRemembered {
		s.values = map[string]struct{}{} // forget the old ones rather than grow
	}
	for _, v := range values {
		s.values[v] = struct{}{}
	}
}

// redact removes remembered secrets, URL credentials and query strings.
func (s *secretSet) redact(msg string) string {
	s.mu.Lock()
	values := make([]string, 0, len(s.values))
	for v := range s.values {
		values = append(values, v)
	}
	s.mu.Unlock()
	return sinks.Redact(msg, values...)
}

// secretValues returns config's values for the fields typed secret. When
// the fields are not known (the plugin never started), every string value
// counts as secret.
func secretValues(fields []protocol.Field, config map[string]any) []string {
	var out []string
	if len(fields) == 0 {
		for _, v := range config {
			if s, ok := v.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	for _, f := range fields {
		if s, ok := config[f.Name].(string); ok && s != "" && (f.Secret || f.Type == protocol.FieldSecret) {
			out = append(out, s)
		}
	}
	return out
}
