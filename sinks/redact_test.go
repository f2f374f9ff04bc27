package sinks

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
		secrets        []string
	}{
		{"a secret value is removed", "token abcd1234 refused", "token [redacted] refused", []string{"abcd1234"}},
		{"its URL-escaped form too", "got x%2Fy+cc%2Fdd", "got x%2Fy+[redacted]", []string{"cc/dd"}},
		{"URL credentials, query and fragment go; host and path stay", `Post "https://u:p@x.example/hook?key=v#f": EOF`,
			`Post "https://[redacted]@x.example/hook?[redacted]#[redacted]": EOF`, nil},
		{"short values are left alone", "a b c", "a b c", []string{"b"}},
		{"a plain message is unchanged", "slack: channel_not_found", "slack: channel_not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
