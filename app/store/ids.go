package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDGen makes prefixed ULIDs that sort by creation time, also within one
// millisecond (monotonic entropy), so they double as list cursors.
type IDGen struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

// NewIDGen returns a generator; one per process is enough.
func NewIDGen() *IDGen { return &IDGen{entropy: ulid.Monotonic(rand.Reader, 0)} }

// New returns prefix + a ULID for now.
func (g *IDGen) New(prefix string, now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return prefix + ulid.MustNew(ulid.Timestamp(now), g.entropy).String()
}

// FormatTime is the wire format of a unix-ms time: UTC, RFC 3339 with
// milliseconds; "" for 0 (never).
func FormatTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timeLayout)
	}
	// By hand: every delivery and every listed row formats times, and
	// Format reads its layout afresh each call (five times the work).
	h, mi, s := t.Clock()
	b := []byte("0000-00-00T00:00:00.000Z")
	putDigits(b[0:4], y)
	putDigits(b[5:7], int(mo))
	putDigits(b[8:10], d)
	putDigits(b[11:13], h)
	putDigits(b[14:16], mi)
	putDigits(b[17:19], s)
	putDigits(b[20:23], t.Nanosecond()/int(time.Millisecond))
	return string(b)
}

// timeLayout is FormatTime's format, for time.Format.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// putDigits writes n into b in decimal, zero-padded to len(b).
func putDigits(b []byte, n int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
