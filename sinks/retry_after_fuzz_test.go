package sinks

import (
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter checks the Retry-After a receiver sends: whatever the
// header holds, an accepted delay lies in [1s, MaxRetryAfter], and a
// number of seconds means that many seconds, clamped, however many digits
// it has.
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{"120", " 5 ", "0", "-3", "3601", "10000000000", "99999999999999999999999",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 02 Jan 2006 15:04:05 GMT", "1.5", "", "soon"} {
		f.Add(v, int64(1445412000))
	}
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		now := time.Unix(nowUnix%(1<<40), 0)
		d, ok := ParseRetryAfter(v, now)
		if ok && (d < time.Second || d > MaxRetryAfter) {
			t.Fatalf("ParseRetryAfter(%q) = %s, outside [1s, %s]", v, d, MaxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) refused it but said %s", v, d)
		}
		n, isNumber := new(big.Int).SetString(strings.TrimSpace(v), 10)
		if !isNumber {
			return
		}
		want := MaxRetryAfter
		switch {
		case n.Cmp(big.NewInt(1)) < 0:
			want = time.Second
		case n.Cmp(big.NewInt(int64(MaxRetryAfter/time.Second))) < 0:
			want = time.Duration(n.Int64()) * time.Second
		}
		if !ok || d != want {
			t.Fatalf("ParseRetryAfter(%q) = %s, %v; want %s", v, d, ok, want)
		}
	})
}

func TestRetryAfterDates(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       time.Second,
		now.Add(48 * time.Hour).Format(http.TimeFormat):   MaxRetryAfter,
		"10000000000": MaxRetryAfter, // 10^10 s overflowed a Duration and came out negative: 1s
	} {
		if d, ok := ParseRetryAfter(v, now); !ok || d != want {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s", v, d, ok, want)
		}
	}
}
