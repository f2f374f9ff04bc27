package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testBotToken = "xoxb-test-token-SECRET"
	testHookPath = "/services/T000/B000/HOOKSECRET"
)

// fakeClock stands in for time in the rate limiter: Sleep records the wait
// and moves the clock forward at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	frozen bool // Sleep records but does not advance (callers racing at one instant)
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if !c.frozen {
		c.now = c.now.Add(d)
	}
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// recorder is a fake Slack endpoint: it keeps every request and answers
// with the configured status, headers and body.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	status   int
	header   map[string]string
	body     string
}

type recorded struct {
	path        string
	contentType string
	body        []byte
	form        url.Values
}

func newRecorder(t *testing.T, status int, body string, header map[string]string) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{status: status, body: body, header: header}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	rec.mu.Lock()
	rec.requests = append(rec.requests, recorded{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body, form: form})
	rec.mu.Unlock()
	for k, v := range rec.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rec.status)
	_, _ = io.WriteString(w, rec.body)
}

func (rec *recorder) Requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.requests)
}

// testPolicy lets tests reach httptest servers on 127.0.0.1.
var testPolicy = NetPolicy{AllowHTTP: true, AllowPrivate: true}

func newTestSlack(clock *fakeClock, o SlackOptions) *Slack {
	if o.Client == nil {
		o.Client = NewHTTPClient(o.Policy, 2*time.Second)
	}
	if o.APIClient == nil {
		o.APIClient = &http.Client{Timeout: 2 * time.Second}
	}
	o.Now, o.Sleep = clock.Now, clock.Sleep
	return NewSlack(o)
}

func hookRequest(srvURL string) *Request {
	req := humanAlertedRequest()
	req.Target.URL = srvURL + testHookPath
	return req
}

func channelRequest(channel string) *Request {
	req := humanAlertedRequest()
	req.Target.Config = map[string]any{"channel": channel}
	return req
}

func TestSlackValidate(t *testing.T) {
	cases := []struct {
		name      string
		policy    NetPolicy
		token     string
		target    Target
		wantField string // "" means valid
		wantMsg   string
	}{
		{name: "an https incoming-webhook URL is accepted", target: Target{URL: "https://hooks.slack.com/services/T/B/X"}},
		{name: "a channel is accepted when a bot token is configured", token: "xoxb-1", target: Target{Config: map[string]any{"channel": "#alerts"}}},
		{name: "a URL wins over a channel, so no token is needed", target: Target{URL: "https://hooks.slack.com/services/T/B/X", Config: map[string]any{"channel": "C1"}}},
		{name: "a plain http URL is refused by default", target: Target{URL: "http://hooks.slack.com/services/T/B/X"}, wantField: "url", wantMsg: "https"},
		{name: "a plain http URL is accepted with AllowHTTP", policy: NetPolicy{AllowHTTP: true}, target: Target{URL: "http://hooks.slack.com/services/T/B/X"}},
		{name: "a loopback URL is refused", target: Target{URL: "https://127.0.0.1/services/T/B/X"}, wantField: "url", wantMsg: "private"},
		{name: "neither URL nor channel is refused on url", token: "xoxb-1", target: Target{}, wantField: "url", wantMsg: "config.channel"},
		{name: "a blank channel counts as none", token: "xoxb-1", target: Target{Config: map[string]any{"channel": "  "}}, wantField: "url"},
		{name: "a channel that is not a string counts as none", token: "xoxb-1", target: Target{Config: map[string]any{"channel": 42}}, wantField: "url"},
		{name: "a channel without a bot token is refused on config.channel", target: Target{Config: map[string]any{"channel": "C1"}}, wantField: "config.channel", wantMsg: "HERALD_SLACK_BOT_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSlack(SlackOptions{Policy: tc.policy, BotToken: tc.token})
			err := s.Validate(tc.target)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if ve.Field != tc.wantField || !strings.Contains(ve.Message, tc.wantMsg) {
				t.Errorf("Validate = {%q, %q}, want field %q with %q", ve.Field, ve.Message, tc.wantField, tc.wantMsg)
			}
		})
	}
}

func TestSlackDeliverToIncomingWebhook(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK, "ok", nil)
	s := newTestSlack(newFakeClock(), SlackOptions{Policy: testPolicy})
	req := hookRequest(srv.URL)

	res, err := s.Deliver(context.Background(), req)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.StatusCode != http.StatusOK || string(res.Body) != "ok" {
		t.Errorf("result = %d %q, want 200 \"ok\"", res.StatusCode, res.Body)
	}
	got := rec.Requests()
	if len(got) != 1 {
		t.Fatalf("Slack got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.path != testHookPath || r.contentType != "application/json" {
		t.Errorf("request = %s (%s), want %s (application/json)", r.path, r.contentType, testHookPath)
	}
	var payload struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(r.body, &payload); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	want := renderSlackMessage(req)
	if payload.Text != want.Text {
		t.Errorf("text = %q, want %q", payload.Text, want.Text)
	}
	blocks := decodeBlocksJSON(t, payload.Blocks)
	if len(blocks) == 0 || blocks[0].Type != "header" || blocks[0].Text.Text != "A human is needed" {
		t.Errorf("first block = %+v, want the header", blocks)
	}
	if urls := buttonURLs(blocks); len(urls) != 1 || urls[0] != "https://app.example.com/inbox/con_123" {
		t.Errorf("button URLs = %v", urls)
	}
}

func TestSlackDeliverWithChatPostMessage(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK, `{"ok":true,"channel":"C0123","ts":"1700000000.000100"}`, map[string]string{"Content-Type": "application/json"})
	// No trailing slash: the sink adds the one slack-go needs.
	s := newTestSlack(newFakeClock(), SlackOptions{APIURL: srv.URL + "/api", BotToken: testBotToken})
	req := channelRequest("C0123")

	res, err := s.Deliver(context.Background(), req)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.StatusCode != http.StatusOK || !strings.Contains(string(res.Body), `"ok":true`) {
		t.Errorf("result = %d %q, want Slack's answer", res.StatusCode, res.Body)
	}
	got := rec.Requests()
	if len(got) != 1 {
		t.Fatalf("Slack got %d requests, want 1", len(got))
	}
	r := got[0]
	checks := []struct{ name, got, want string }{
		{"it calls chat.postMessage", r.path, "/api/chat.postMessage"},
		{"it sends a form", r.contentType, "application/x-www-form-urlencoded"},
		{"it sends the bot token", r.form.Get("token"), testBotToken},
		{"it names the channel", r.form.Get("channel"), "C0123"},
		{"it sends the fallback text", r.form.Get("text"), renderSlackMessage(req).Text},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
	t.Run("it sends the Block Kit blocks", func(t *testing.T) {
		blocks := decodeBlocksJSON(t, []byte(r.form.Get("blocks")))
		all := strings.Join(blockTexts(blocks), "\n")
		for _, want := range []string{"A human is needed", "Maria Lopez", "Last messages"} {
			if !strings.Contains(all, want) {
				t.Errorf("blocks lack %q:\n%s", want, all)
			}
		}
	})
}

type wantClass struct {
	permanent  bool
	gone       bool
	retryAfter time.Duration
}

func checkClass(t *testing.T, err error, want wantClass) {
	t.Helper()
	if err == nil {
		t.Fatal("Deliver succeeded, want an error")
	}
	p, g, ra := Classify(err)
	if got := (wantClass{p, g, ra}); got != want {
		t.Errorf("Classify(%q) = %+v, want %+v", err, got, want)
	}
}

func TestSlackIncomingWebhookErrors(t *testing.T) {
	clock := newFakeClock()
	cases := []struct {
		name    string
		status  int
		body    string
		header  map[string]string
		want    wantClass
		wantErr string
	}{
		{name: "a missing channel (404 channel_not_found) is permanent", status: 404, body: "channel_not_found",
			want: wantClass{permanent: true}, wantErr: "slack: channel_not_found (HTTP 404)"},
		{name: "a removed integration (404 no_service) is permanent", status: 404, body: "no_service",
			want: wantClass{permanent: true}, wantErr: "slack: no_service (HTTP 404)"},
		{name: "an archived channel (410) is gone", status: 410, body: "channel_is_archived",
			want: wantClass{permanent: true, gone: true}, wantErr: "slack: channel_is_archived (HTTP 410)"},
		{name: "a revoked token (403) is permanent", status: 403, body: "invalid_token",
			want: wantClass{permanent: true}, wantErr: "slack: invalid_token (HTTP 403)"},
		{name: "a rejected payload (400) is permanent", status: 400, body: "invalid_payload",
			want: wantClass{permanent: true}, wantErr: "slack: invalid_payload (HTTP 400)"},
		{name: "429 with Retry-After in seconds waits that long", status: 429, body: "rate_limited", header: map[string]string{"Retry-After": "30"},
			want: wantClass{retryAfter: 30 * time.Second}, wantErr: "slack: rate_limited (HTTP 429)"},
		{name: "429 with Retry-After as an HTTP date waits until then", status: 429, header: map[string]string{"Retry-After": clock.Now().Add(2 * time.Minute).Format(http.TimeFormat)},
			want: wantClass{retryAfter: 2 * time.Minute}, wantErr: "slack: HTTP 429"},
		{name: "429 with a day-long Retry-After is clamped", status: 429, header: map[string]string{"Retry-After": "86400"},
			want: wantClass{retryAfter: MaxRetryAfter}, wantErr: "slack: HTTP 429"},
		{name: "429 without Retry-After follows the schedule", status: 429,
			want: wantClass{}, wantErr: "slack: HTTP 429"},
		{name: "a 500 with an HTML page is retryable", status: 500, body: "<html>oops</html>",
			want: wantClass{}, wantErr: "slack: HTTP 500"},
		{name: "a 503 with Retry-After waits that long", status: 503, header: map[string]string{"Retry-After": "5"},
			want: wantClass{retryAfter: 5 * time.Second}, wantErr: "slack: HTTP 503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newRecorder(t, tc.status, tc.body, tc.header)
			s := newTestSlack(clock, SlackOptions{Policy: testPolicy})
			res, err := s.Deliver(context.Background(), hookRequest(srv.URL))
			checkClass(t, err, tc.want)
			if err.Error() != tc.wantErr {
				t.Errorf("error = %q, want %q", err, tc.wantErr)
			}
			if res.StatusCode != tc.status || string(res.Body) != tc.body {
				t.Errorf("result = %d %q, want %d %q", res.StatusCode, res.Body, tc.status, tc.body)
			}
		})
	}
}

func TestSlackWebAPIErrors(t *testing.T) {
	clock := newFakeClock()
	apiErr := func(code string) string { return `{"ok":false,"error":"` + code + `"}` }
	cases := []struct {
		name    string
		status  int
		body    string
		header  map[string]string
		want    wantClass
		wantErr string
	}{
		{name: "an archived channel is permanent", status: 200, body: apiErr("is_archived"),
			want: wantClass{permanent: true}, wantErr: "slack: is_archived"},
		{name: "an unknown channel is permanent", status: 200, body: apiErr("channel_not_found"),
			want: wantClass{permanent: true}, wantErr: "slack: channel_not_found"},
		{name: "a bad token is permanent", status: 200, body: apiErr("invalid_auth"),
			want: wantClass{permanent: true}, wantErr: "slack: invalid_auth"},
		{name: "a bot outside the channel is permanent", status: 200, body: apiErr("not_in_channel"),
			want: wantClass{permanent: true}, wantErr: "slack: not_in_channel"},
		{name: "a deactivated account is permanent", status: 200, body: apiErr("account_inactive"),
			want: wantClass{permanent: true}, wantErr: "slack: account_inactive"},
		{name: "Slack's own internal_error is retryable", status: 200, body: apiErr("internal_error"),
			want: wantClass{}, wantErr: "slack: internal_error"},
		{name: "429 with Retry-After waits that long", status: 429, header: map[string]string{"Retry-After": "7"},
			want: wantClass{retryAfter: 7 * time.Second}, wantErr: "slack: HTTP 429"},
		{name: "429 with Retry-After as an HTTP date waits until then", status: 429, header: map[string]string{"Retry-After": clock.Now().Add(90 * time.Second).Format(http.TimeFormat)},
			want: wantClass{retryAfter: 90 * time.Second}, wantErr: "slack: HTTP 429"},
		{name: "410 is gone", status: 410, body: "gone",
			want: wantClass{permanent: true, gone: true}, wantErr: "slack: HTTP 410"},
		{name: "404 is permanent", status: 404, body: "not found",
			want: wantClass{permanent: true}, wantErr: "slack: HTTP 404"},
		{name: "a 500 is retryable", status: 500, body: "<html>down</html>",
			want: wantClass{}, wantErr: "slack: HTTP 500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newRecorder(t, tc.status, tc.body, tc.header)
			s := newTestSlack(clock, SlackOptions{APIURL: srv.URL + "/api/", BotToken: testBotToken})
			res, err := s.Deliver(context.Background(), channelRequest("C0123"))
			checkClass(t, err, tc.want)
			if err.Error() != tc.wantErr {
				t.Errorf("error = %q, want %q", err, tc.wantErr)
			}
			if res.StatusCode != tc.status || string(res.Body) != tc.body {
				t.Errorf("result = %d %q, want %d %q", res.StatusCode, res.Body, tc.status, tc.body)
			}
		})
	}
	t.Run("a 200 that is not JSON is retryable and says so", func(t *testing.T) {
		_, srv := newRecorder(t, 200, "<html>captive portal</html>", nil)
		s := newTestSlack(clock, SlackOptions{APIURL: srv.URL + "/api/", BotToken: testBotToken})
		res, err := s.Deliver(context.Background(), channelRequest("C0123"))
		checkClass(t, err, wantClass{})
		if !strings.HasPrefix(err.Error(), "slack: unreadable answer") {
			t.Errorf("error = %q", err)
		}
		if string(res.Body) != "<html>captive portal</html>" {
			t.Errorf("body = %q, want the answer kept for the log", res.Body)
		}
	})
}

func TestSlackTimeoutsAreRetryableAndHideSecrets(t *testing.T) {
	srv := newHangingServer(t)

	cases := []struct {
		name string
		s    *Slack
		req  *Request
	}{
		{"an incoming webhook that hangs", newTestSlack(newFakeClock(), SlackOptions{Policy: testPolicy, Client: NewHTTPClient(testPolicy, 200*time.Millisecond)}), hookRequest(srv.URL)},
		{"a Web API that hangs", newTestSlack(newFakeClock(), SlackOptions{APIURL: srv.URL + "/api/", BotToken: testBotToken, APIClient: &http.Client{Timeout: 200 * time.Millisecond}}), channelRequest("C0123")},
	}
	for _, tc := range cases {
		t.Run(tc.name+" times out as a retryable error", func(t *testing.T) {
			start := time.Now()
			_, err := tc.s.Deliver(context.Background(), tc.req)
			checkClass(t, err, wantClass{})
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("took %v, want about the 200ms client timeout", elapsed)
			}
			if !strings.Contains(err.Error(), "timeout") {
				t.Errorf("error = %q, want it to say timeout", err)
			}
			for _, secret := range []string{"HOOKSECRET", testBotToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
		})
	}
}

func TestSlackRefusesBadTargetsWithoutCallingSlack(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK, "ok", nil)
	cases := []struct {
		name string
		s    *Slack
		req  *Request
	}{
		{"a loopback webhook URL when private networks are not allowed",
			newTestSlack(newFakeClock(), SlackOptions{Policy: NetPolicy{AllowHTTP: true}}), hookRequest(srv.URL)},
		{"a loopback webhook URL that only the dial guard catches",
			newTestSlack(newFakeClock(), SlackOptions{Policy: testPolicy, Client: NewHTTPClient(NetPolicy{AllowHTTP: true}, 2*time.Second)}), hookRequest(srv.URL)},
		{"a channel when the bot token has been removed",
			newTestSlack(newFakeClock(), SlackOptions{APIURL: srv.URL + "/api/"}), channelRequest("C0123")},
	}
	for _, tc := range cases {
		t.Run(tc.name+" fails permanently", func(t *testing.T) {
			_, err := tc.s.Deliver(context.Background(), tc.req)
			checkClass(t, err, wantClass{permanent: true})
			if !strings.HasPrefix(err.Error(), "slack: ") {
				t.Errorf("error = %q, want the sink name first", err)
			}
		})
	}
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("Slack got %d requests, want none", n)
	}
}

func TestSlackRateLimitSpreadsABurst(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK, "ok", nil)
	clock := newFakeClock()
	s := newTestSlack(clock, SlackOptions{Policy: testPolicy, Rate: 1, Burst: 3})

	for i := range 5 {
		if _, err := s.Deliver(context.Background(), hookRequest(srv.URL)); err != nil {
			t.Fatalf("alert %d: %v", i+1, err)
		}
	}
	t.Run("the first three go at once and the 4th and 5th wait a second each", func(t *testing.T) {
		if got, want := clock.Sleeps(), []time.Duration{time.Second, time.Second}; !slices.Equal(got, want) {
			t.Errorf("waits = %v, want %v", got, want)
		}
	})
	t.Run("every alert reaches Slack", func(t *testing.T) {
		if n := len(rec.Requests()); n != 5 {
			t.Errorf("Slack got %d requests, want 5", n)
		}
	})
	t.Run("another destination is not held back", func(t *testing.T) {
		other := hookRequest(srv.URL)
		other.Target.URL = srv.URL + "/services/T000/B000/OTHER"
		if _, err := s.Deliver(context.Background(), other); err != nil {
			t.Fatal(err)
		}
		if n := len(clock.Sleeps()); n != 2 {
			t.Errorf("%d waits, want still 2", n)
		}
	})
}

func TestSlackRateLimitWaitRespectsContext(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK, "ok", nil)
	clock := newFakeClock()
	s := newTestSlack(clock, SlackOptions{Policy: testPolicy, Rate: 1, Burst: 1})
	if _, err := s.Deliver(context.Background(), hookRequest(srv.URL)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Deliver(ctx, hookRequest(srv.URL))
	t.Run("a delivery whose context ends while waiting fails as retryable", func(t *testing.T) {
		checkClass(t, err, wantClass{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want it to wrap context.Canceled", err)
		}
		if n := len(rec.Requests()); n != 1 {
			t.Errorf("Slack got %d requests, want only the first", n)
		}
	})
	t.Run("its slot goes to the next message, which waits one second, not two", func(t *testing.T) {
		if _, err := s.Deliver(context.Background(), hookRequest(srv.URL)); err != nil {
			t.Fatal(err)
		}
		if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{time.Second}) {
			t.Errorf("waits = %v, want [1s]", got)
		}
	})
}

func TestRateLimiter(t *testing.T) {
	cases := []struct {
		name    string
		rate    float64
		burst   int
		callers int
		want    []time.Duration
	}{
		{"five callers at once with burst 3 queue one second apart", 1, 3, 5, []time.Duration{0, 0, 0, time.Second, 2 * time.Second}},
		{"two per second with burst 1 queue half a second apart", 2, 1, 3, []time.Duration{0, 500 * time.Millisecond, time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			clock.frozen = true // everyone arrives at the same instant
			l := newRateLimiter(tc.rate, tc.burst, clock.Now, clock.Sleep)
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				waits []time.Duration
			)
			for range tc.callers {
				wg.Go(func() {
					d, err := l.Wait(context.Background(), "C1", time.Minute)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					waits = append(waits, d)
					mu.Unlock()
				})
			}
			wg.Wait()
			slices.Sort(waits)
			if !slices.Equal(waits, tc.want) {
				t.Errorf("waits = %v, want %v", waits, tc.want)
			}
		})
	}
	t.Run("an idle destination refills to its burst and no further", func(t *testing.T) {
		clock := newFakeClock()
		clock.frozen = true
		l := newRateLimiter(1, 3, clock.Now, clock.Sleep)
		for range 3 {
			_, _ = l.Wait(context.Background(), "C1", time.Minute)
		}
		clock.Advance(time.Hour)
		var waits []time.Duration
		for range 4 {
			d, _ := l.Wait(context.Background(), "C1", time.Minute)
			waits = append(waits, d)
		}
		if want := []time.Duration{0, 0, 0, time.Second}; !slices.Equal(waits, want) {
			t.Errorf("waits = %v, want %v", waits, want)
		}
	})
}

func TestSlackLogsNeitherURLNorToken(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, srv := newRecorder(t, http.StatusOK, `{"ok":true}`, nil)
	s := newTestSlack(newFakeClock(), SlackOptions{Policy: testPolicy, APIURL: srv.URL + "/api/", BotToken: testBotToken, Burst: 1, Logger: logger})

	for range 2 {
		for _, req := range []*Request{hookRequest(srv.URL), channelRequest("C0123")} {
			if _, err := s.Deliver(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := logs.String()
	if !strings.Contains(out, "webhook_id=wh_1") {
		t.Errorf("the paced messages should be logged with the webhook id:\n%s", out)
	}
	for _, secret := range []string{"HOOKSECRET", testBotToken} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q:\n%s", secret, out)
		}
	}
}

// A burst of alerts to one channel once waited for its turn inside the
// attempt: past about 12 alerts the wait used up the attempt's timeout, and
// then its retries. Now a long line sends the delivery back, uncharged.
func TestSlackLongRateLimitLineIsNotAnAttempt(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK, "ok", nil)
	clock := newFakeClock()
	clock.frozen = true // all at the same instant, as a burst is
	s := newTestSlack(clock, SlackOptions{Policy: testPolicy, Rate: 1, Burst: 1})
	var unavailable []time.Duration
	for range 6 {
		_, err := s.Deliver(context.Background(), hookRequest(srv.URL))
		if sinks := IsUnavailable(err); sinks {
			_, _, wait := Classify(err)
			unavailable = append(unavailable, wait)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rec.Requests()); n != 3 {
		t.Fatalf("Slack got %d messages; want 3 (now, +1 s, +2 s)", n)
	}
	if len(unavailable) != 3 || unavailable[0] != 3*time.Second {
		t.Fatalf("re-queued with waits %v; want three, the first due in 3s", unavailable)
	}
	t.Run("Slack's own 429 with Retry-After is a wait, not a failed attempt", func(t *testing.T) {
		err := classifySlack(429, http.Header{"Retry-After": []string{"30"}}, "rate_limited", clock.Now())
		if !IsUnavailable(err) {
			t.Fatalf("429 = %v; want the delivery re-queued without charge", err)
		}
	})
}
