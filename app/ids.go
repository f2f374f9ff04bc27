package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// idGen makes prefixed ULIDs that sort by creation time, also within one
// millisecond (monotonic entropy), so they double as list cursors.
type idGen struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

func newIDGen() *idGen { return &idGen{entropy: ulid.Monotonic(rand.Reader, 0)} }

func (g *idGen) New(prefix string, now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return prefix + ulid.MustNew(ulid.Timestamp(now), g.entropy).String()
}

// randomToken returns a URL-safe random string with a readable prefix.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// formatTime is the wire format: UTC, RFC 3339 with milliseconds.
func formatTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
