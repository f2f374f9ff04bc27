package store

import (
	"math/rand/v2"
	"testing"
	"time"
)

// FormatTime is written by hand; time.Format with its layout is the truth.
func TestFormatTimeMatchesTheLayout(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 0))
	cases := []int64{1, -1, 999, 1000, 1764547200123, -62135596800000, 253402300799999, 253402300800000, -62135596800001, 1 << 50, -(1 << 50)}
	for range 100_000 {
		switch r.IntN(3) {
		case 0: // around now
			cases = append(cases, time.Now().UnixMilli()+r.Int64N(1<<40)-1<<39)
		case 1: // years 0001 to 9999
			cases = append(cases, r.Int64N(253402300800000+62135596800000)-62135596800000)
		default: // anything time.UnixMilli takes
			cases = append(cases, r.Int64N(1<<52)-1<<51)
		}
	}
	for _, ms := range cases {
		if ms == 0 {
			continue
		}
		want := time.UnixMilli(ms).UTC().Format(timeLayout)
		if got := FormatTime(ms); got != want {
			t.Fatalf("seed %d: FormatTime(%d) = %q, want %q", seed, ms, got, want)
		}
	}
	if FormatTime(0) != "" {
		t.Fatal("FormatTime(0) is not empty")
	}
}
