package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps how long a receiver's Retry-After can push an attempt back.
const MaxRetryAfter = time.Hour

// Webhook is the HTTPS sink: it posts the envelope signed the Standard
// Webhooks way.
type Webhook struct {
	Client    *http.Client // from NewHTTPClient: guarded, no redirects, no proxy
	UserAgent string       // "Herald/<version>"
	Policy    NetPolicy
	Now       func() time.Time
}

// Validate checks the URL at save time.
func (w *Webhook) Validate(t Target) error { return w.Policy.CheckURL(t.URL) }

// Deliver posts req.Body to the target URL.
func (w *Webhook) Deliver(ctx context.Context, req *Request) (Result, error) {
	// Re-check on every attempt: the policy may have been tightened since save.
	if err := w.Policy.CheckURL(req.Target.URL); err != nil {
		return Result{}, Permanent(fmt.Errorf("webhook: %w", err))
	}
	if _, ok := ctx.Deadline(); !ok && w.Client.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Client.Timeout)
		defer cancel() // after the body is read: the deadline covers it, as Client.Timeout does
	}
	ts := w.Now().Unix()
	sig, err := SignAll(req.Target.Secrets, req.Envelope.ID, ts, req.Body)
	if err != nil {
		return Result{}, Permanent(fmt.Errorf("webhook: sign: %w", err))
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Target.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Result{}, Permanent(fmt.Errorf("webhook: %w", err))
	}
	for k, v := range req.Target.Headers {
		hr.Header.Set(k, v)
	}
	// Set after the custom headers so users cannot forge them.
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", w.UserAgent)
	hr.Header.Set("webhook-id", req.Envelope.ID)
	hr.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	hr.Header.Set("webhook-signature", sig)
	hr.Header.Set("herald-event", req.Envelope.Event)
	hr.Header.Set("herald-delivery-id", req.DeliveryID)
	hr.Header.Set("herald-attempt", strconv.Itoa(req.Attempt))

	resp, err := w.roundTrip(hr)
	if err != nil {
		return Result{}, transportError("webhook", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drain a little so the connection can be reused
	res := Result{StatusCode: resp.StatusCode, Body: body}
	return res, ClassifyHTTP(resp, w.Now(), "webhook")
}

// roundTrip sends hr once through the client's transport. For this client
// (no redirects followed, no cookies, no credentials in the URL, a deadline
// on every request's context) it is what Client.Do does, without Do's
// per-request work: a copy of the headers kept for redirects (4 % of
// Herald's CPU in a profile of a drain, in allocations alone), and a timer
// and a goroutine for Client.Timeout, which Deliver's context deadline does.
func (w *Webhook) roundTrip(hr *http.Request) (*http.Response, error) {
	t := w.Client.Transport
	if t == nil {
		t = http.DefaultTransport
	}
	resp, err := t.RoundTrip(hr)
	if err != nil {
		return nil, &url.Error{Op: "Post", URL: hr.URL.Redacted(), Err: err}
	}
	return resp, nil
}

// ClassifyHTTP turns an HTTP answer into nil (2xx) or a classified error.
// prefix names the sink in the error text.
func ClassifyHTTP(resp *http.Response, now time.Time, prefix string) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusGone:
		return Gone(fmt.Errorf("%s: HTTP 410 Gone: the receiver says this endpoint no longer exists", prefix))
	case code >= 300 && code < 400:
		return fmt.Errorf("%s: HTTP %d redirect (not followed; update the URL to %q)", prefix, code, resp.Header.Get("Location"))
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		err := fmt.Errorf("%s: HTTP %d", prefix, code)
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return RetryAfter(err, d)
		}
		return err
	default:
		return fmt.Errorf("%s: HTTP %d", prefix, code)
	}
}

// ParseRetryAfter reads a Retry-After header (seconds or HTTP date), clamped
// to [1s, MaxRetryAfter].
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Clamped before it becomes a Duration: 10^10 seconds and more
		// overflow it (and wrapped to a negative delay, so "wait very
		// long" meant "retry in 1s"). Past int64, ParseInt gives its
		// limit with ErrRange, which clamps the same way.
		d = time.Duration(min(max(secs, 1), int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), MaxRetryAfter), true
}

// netError keeps a short, URL-free message while still unwrapping to the
// cause, so errors.Is works on what Deliver returns.
type netError struct {
	msg string
	err error
}

func (e *netError) Error() string { return e.msg }
func (e *netError) Unwrap() error { return e.err }

// transportError names the sink and classifies a request that got no
// usable answer. Retrying cannot make a blocked address public, and a
// receiver whose headers overflow the cap would cost the same again, so
// those fail at once; everything else (timeouts, refused connections) retries.
func transportError(prefix string, err error) error {
	nerr := &netError{msg: prefix + ": " + describeNetError(err), err: withoutURL(err)}
	if errors.Is(err, ErrBlockedTarget) || headerOverflow(err) {
		return Permanent(nerr)
	}
	return nerr
}

// headerOverflow reports net/http's refusal of response headers over
// MaxResponseHeaderBytes (it has no exported error for it).
func headerOverflow(err error) bool {
	return err != nil && strings.Contains(err.Error(), "server response headers exceeded")
}

// describeNetError shortens transport errors to what a user can act on. The
// URL is left out: webhook URLs often carry secrets (catch-hook tokens).
func describeNetError(err error) string {
	err = withoutURL(err)
	msg := err.Error()
	switch {
	case errors.Is(err, ErrBlockedTarget):
		return ErrBlockedTarget.Error()
	case headerOverflow(err):
		return fmt.Sprintf("the receiver's response headers are over %d KiB; not retried", MaxResponseHeaderBytes>>10)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "Client.Timeout") || strings.Contains(msg, "timeout"):
		return "timeout: no answer in time"
	case strings.Contains(msg, "connection refused"):
		return "connection refused"
	case strings.Contains(msg, "no such host"):
		return "DNS: no such host"
	case strings.Contains(msg, "certificate"):
		return "TLS: " + msg
	}
	return msg
}
