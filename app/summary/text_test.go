package summary

import "testing"

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short text is left alone", "See you Friday", 20, "See you Friday"},
		{"text of exactly max runes is left alone", "abcde", 5, "abcde"},
		{"a cut falls between words and is marked", "See you on Friday at seven", 16, "See you on…"},
		{"trailing punctuation before the cut is dropped", "Hello, world and more", 9, "Hello…"},
		{"one long word is cut hard but still marked", "https://example.com/a/very/long/path", 12, "https://exa…"},
		{"runes are counted, not bytes", "¿Mañana a las 21:30 en la terraza?", 14, "¿Mañana a las…"},
		{"a budget of one leaves only the mark", "abc", 1, "…"},
		{"no budget leaves nothing", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clip(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if runeLen(got) > max(tt.max, 0) {
				t.Errorf("clip(%q, %d) is %d runes long", tt.in, tt.max, runeLen(got))
			}
		})
	}
}
