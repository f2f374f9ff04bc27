package sinks

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxIdleBuckets bounds the limiter's memory: past it, buckets that have
// refilled completely (idle destinations) are dropped, since a new bucket
// starts full anyway.
const maxIdleBuckets = 1024

// rateLimiter holds each destination (a webhook URL or a channel) to rate
// messages per second with a burst. Callers wait their turn; nothing is
// dropped. A bucket's tokens may go below zero: each caller reserves its slot
// at once, so concurrent callers queue up in order instead of racing.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int, now func() time.Time, sleep func(context.Context, time.Duration) error) *rateLimiter {
	return &rateLimiter{
		rate:    rate,
		burst:   float64(burst),
		now:     now,
		sleep:   sleep,
		buckets: make(map[string]*bucket),
	}
}

// maxInlineWait is the longest an attempt waits for its slot; a longer
// line sends the delivery back to the queue until its turn.
const maxInlineWait = 2 * time.Second

// limitBusy says the next slot for a key is further off than the caller
// would wait.
type limitBusy struct{ wait time.Duration }

func (e *limitBusy) Error() string { return fmt.Sprintf("rate limit: next slot in %s", e.wait) }

// Wait blocks until key may send one message, or ctx ends. It reports how
// long it waited. If the slot is more than maxWait away it takes none and
// answers a *limitBusy saying how far off it is.
func (l *rateLimiter) Wait(ctx context.Context, key string, maxWait time.Duration) (time.Duration, error) {
	d := l.reserve(key)
	if d <= 0 {
		return 0, nil
	}
	if d > maxWait {
		l.cancel(key)
		return 0, &limitBusy{wait: d}
	}
	if err := l.sleep(ctx, d); err != nil {
		l.cancel(key) // the slot was never used: give it to the next caller
		return 0, err
	}
	return d, nil
}

// reserve takes one token for key and returns how long the caller must wait
// before using it.
func (l *rateLimiter) reserve(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refillLocked(b, now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / l.rate * float64(time.Second))
}

func (l *rateLimiter) cancel(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		b.tokens = min(b.tokens+1, l.burst)
	}
}

func (l *rateLimiter) refillLocked(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.tokens+elapsed.Seconds()*l.rate, l.burst)
		b.last = now
	}
}

func (l *rateLimiter) pruneLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refillLocked(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
