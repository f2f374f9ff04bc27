package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

// maxRetryAfter caps how far a Retry-After header can push the next try.
const maxRetryAfter = time.Hour

var (
	clientOnce sync.Once
	client     *http.Client
)

// HTTPClient returns the client for calling URLs a user entered. It
// applies the operator's URL policy: https only (unless HERALD_ALLOW_HTTP),
// and private, loopback, link-local and metadata addresses are refused at
// dial time (unless HERALD_ALLOW_PRIVATE_NETWORKS). It uses no proxy and
// follows no redirects. For requests made with Deliver's ctx, the far
// side's status code and the start of its answer are reported to Herald
// and shown in the delivery log, as for a webhook.
func HTTPClient() *http.Client {
	clientOnce.Do(func() {
		p := policyFromEnv()
		dialer := guardedDialer(p, &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
		client = &http.Client{
			Transport: &transport{policy: p, next: &http.Transport{
				Proxy:               nil, // a proxy would dial for us and bypass the guard
				DialContext:         dialer.DialContext,
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: 8,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return client
}

// transport enforces the scheme policy and records each answer.
type transport struct {
	policy policy
	next   http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && (req.URL.Scheme != "http" || !t.policy.allowHTTP) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errors.New("only https:// URLs may be called (plain http needs HERALD_ALLOW_HTTP)")
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if rec, ok := req.Context().Value(recorderKey{}).(*recorder); ok {
		// Read the excerpt now, so it is reported even if the plugin never
		// reads the body, and hand the plugin the same bytes.
		head, _ := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxResponseBody))
		rec.record(resp.StatusCode, head)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	}
	return resp, nil
}

type recorderKey struct{}

// recorder keeps the last answer HTTPClient got during one Deliver call.
type recorder struct {
	mu   sync.Mutex
	code int
	body []byte
}

func (r *recorder) record(code int, body []byte) {
	r.mu.Lock()
	r.code, r.body = code, body
	r.mu.Unlock()
}

func (r *recorder) last() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code, string(r.body)
}

// PostJSON posts v as JSON to rawURL with HTTPClient and classifies the
// answer with CheckResponse. Errors never contain the URL, which often
// holds a token.
func PostJSON(ctx context.Context, rawURL string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return Permanent(fmt.Errorf("encode body: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Permanent(errors.New("the URL is not valid"))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := HTTPClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL
		}
		if errors.Is(err, errBlocked) {
			return Permanent(errBlocked) // the address will not become public by retrying
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so the connection can be reused
	return CheckResponse(resp)
}

// CheckResponse turns an HTTP answer into nil (2xx) or a classified error:
// 429, 503 and 408 retry (after Retry-After when given), other 5xx retry on
// Herald's schedule, 404 and 410 are Gone (what chat services answer for a
// deleted webhook), and any other status is Permanent.
func CheckResponse(resp *http.Response) error {
	code := resp.StatusCode
	err := fmt.Errorf("HTTP %d", code)
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusRequestTimeout:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After")); ok {
			return RetryAfter(err, d)
		}
		return err
	case code >= 500:
		return err
	case code == http.StatusNotFound || code == http.StatusGone:
		return Gone(err)
	case code >= 300 && code < 400:
		return Permanent(fmt.Errorf("HTTP %d redirect (not followed)", code))
	}
	return Permanent(err)
}

// parseRetryAfter reads seconds (fractions allowed) or an HTTP date,
// clamped to [1s, maxRetryAfter].
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if math.IsNaN(secs) {
			return 0, false
		}
		// Clamped while a float: a float past int64 converts to a Duration
		// the platform chooses (on amd64 the most negative one, which
		// would have meant "retry in 1s" for "wait 1e300 seconds").
		secs = min(max(secs, 1), maxRetryAfter.Seconds())
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), maxRetryAfter), true
}
