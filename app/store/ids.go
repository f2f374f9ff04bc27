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
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
