package sdk

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter checks the Retry-After a chat service sends a plugin:
// whatever the header holds, an accepted delay lies in [1s, maxRetryAfter],
// and a number of seconds means that many, clamped, however large. Run by
// the host module's tests (plugins/sdk_module_test.go) and by make fuzz.
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{"120", " 2.5 ", "0", "-3", "3601", "1e300", "-1e300", "NaN", "Inf", "-inf", "0x1p4",
		"99999999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "", "soon"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v)
		if ok && (d < time.Second || d > maxRetryAfter) {
			t.Fatalf("parseRetryAfter(%q) = %s, outside [1s, %s]", v, d, maxRetryAfter)
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil && !strings.Contains(err.Error(), "out of range") {
			return
		}
		if math.IsNaN(secs) {
			if ok {
				t.Fatalf("parseRetryAfter(%q) = %s: NaN is no delay", v, d)
			}
			return
		}
		want := time.Duration(min(max(secs, 1), maxRetryAfter.Seconds()) * float64(time.Second))
		if !ok || d != want {
			t.Fatalf("parseRetryAfter(%q) = %s, %v; want %s", v, d, ok, want)
		}
	})
}
