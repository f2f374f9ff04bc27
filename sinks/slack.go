package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Slack allows about one message per second per channel, with short bursts;
// past that it answers 429, so Herald paces itself instead.
const (
	DefaultSlackRate  = 1.0
	DefaultSlackBurst = 3
)

// defaultSlackTimeout matches the webhook sink's per-attempt default.
const defaultSlackTimeout = 10 * time.Second

// SlackOptions configures the Slack sink.
type SlackOptions struct {
	APIURL    string       // HERALD_SLACK_API_URL; "" means Slack's own (https://slack.com/api/)
	BotToken  string       // HERALD_SLACK_BOT_TOKEN, for targets that name a channel
	Client    *http.Client // guarded client (NewHTTPClient) for incoming-webhook URLs, which users enter
	APIClient *http.Client // plain client for the operator's Web API URL, which is trusted
	Policy    NetPolicy    // checks incoming-webhook URLs
	Rate      float64      // messages per second per destination; default DefaultSlackRate
	Burst     int          // default DefaultSlackBurst
	Now       func() time.Time
	// Sleep waits for the rate limiter; tests pass a fake that advances
	// their clock. The default waits on a timer and stops when ctx ends.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// Slack posts a Block Kit message for each event, either to an incoming
// webhook (Target.URL) or, with a bot token, to Target.Config["channel"]
// through chat.postMessage. It implements Sink and Validator.
type Slack struct {
	apiURL    string
	botToken  string
	client    *http.Client
	apiClient *http.Client
	policy    NetPolicy
	now       func() time.Time
	log       *slog.Logger
	limiter   *rateLimiter
}

// NewSlack fills in defaults for the zero fields of o.
func NewSlack(o SlackOptions) *Slack {
	if o.APIURL == "" {
		o.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/" // slack-go appends the method name directly
	}
	if o.Client == nil {
		o.Client = NewHTTPClient(o.Policy, defaultSlackTimeout)
	}
	if o.APIClient == nil {
		o.APIClient = &http.Client{Timeout: defaultSlackTimeout}
	}
	if o.Rate <= 0 {
		o.Rate = DefaultSlackRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultSlackBurst
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepContext
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Slack{
		apiURL:    o.APIURL,
		botToken:  o.BotToken,
		client:    o.Client,
		apiClient: o.APIClient,
		policy:    o.Policy,
		now:       o.Now,
		log:       o.Logger,
		limiter:   newRateLimiter(o.Rate, o.Burst, o.Now, o.Sleep),
	}
}

// Validate checks a target at save time: an incoming-webhook URL the policy
// allows, or a channel when a bot token is configured.
func (s *Slack) Validate(t Target) error {
	if strings.TrimSpace(t.URL) != "" {
		return s.policy.CheckURL(t.URL)
	}
	if slackChannel(t) == "" {
		return &ValidationError{Field: "url", Message: "a Slack incoming-webhook URL, or config.channel with a bot token configured"}
	}
	if s.botToken == "" {
		return &ValidationError{Field: "config.channel", Message: "posting to a channel needs a bot token, and HERALD_SLACK_BOT_TOKEN (slack.bot_token) is not set"}
	}
	return nil
}

// Deliver renders the event and posts it once the destination's rate limit
// allows. It waits rather than drop a message; ctx bounds the wait.
func (s *Slack) Deliver(ctx context.Context, req *Request) (Result, error) {
	// Re-check on every attempt: the policy or the token may have changed since save.
	if err := s.Validate(req.Target); err != nil {
		return Result{}, Permanent(fmt.Errorf("slack: %w", err))
	}
	msg := renderSlackMessage(req)

	hookURL := strings.TrimSpace(req.Target.URL)
	key := "channel:" + slackChannel(req.Target)
	if hookURL != "" {
		key = "url:" + hookURL
	}
	waited, err := s.limiter.Wait(ctx, key, maxInlineWait)
	var busy *limitBusy
	if errors.As(err, &busy) {
		// A long line for this channel: the delivery goes back to the queue
		// until its turn, and the wait is not charged as an attempt (it
		// once used up the attempt's timeout, and then its retries).
		return Result{}, Unavailable(fmt.Errorf("slack: this channel's rate limit is full; next slot in %s", busy.wait.Round(time.Second)), busy.wait)
	}
	if err != nil {
		return Result{}, fmt.Errorf("slack: gave up waiting for the rate limit: %w", err)
	}
	if waited > 0 {
		// The key holds the webhook URL, a secret: log the webhook id instead.
		s.log.Debug("Slack message paced by the rate limit", "webhook_id", req.Target.WebhookID, "delivery_id", req.DeliveryID, "waited", waited)
	}
	if hookURL != "" {
		return s.postWebhook(ctx, hookURL, msg)
	}
	return s.postMessage(ctx, slackChannel(req.Target), msg)
}

// postWebhook posts to an incoming webhook. It does what slack-go's
// PostWebhookCustomHTTPContext does, but keeps Slack's answer ("ok" or an
// error code such as channel_not_found) for the attempt log.
func (s *Slack) postWebhook(ctx context.Context, hookURL string, msg slackMessage) (Result, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return Result{}, Permanent(fmt.Errorf("slack: encode message: %w", err))
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, bytes.NewReader(body))
	if err != nil {
		return Result{}, Permanent(errors.New("slack: invalid incoming-webhook URL")) // the error would quote the URL
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(hr)
	if err != nil {
		return Result{}, transportError("slack", err) // like the webhook sink: a blocked address fails at once
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drain a little so the connection can be reused
	res := Result{StatusCode: resp.StatusCode, Body: answer}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res, nil
	}
	return res, classifySlack(resp.StatusCode, resp.Header, slackErrorCode(answer), s.now())
}

// postMessage posts to a channel through the Web API's chat.postMessage.
func (s *Slack) postMessage(ctx context.Context, channel string, msg slackMessage) (Result, error) {
	rec := &slackRecorder{base: s.apiClient}
	api := slack.New(s.botToken, slack.OptionAPIURL(s.apiURL), slack.OptionHTTPClient(rec))
	_, _, err := api.PostMessageContext(ctx, channel,
		slack.MsgOptionText(msg.Text, false), // already escaped
		slack.MsgOptionBlocks(msg.Blocks...),
	)
	res := Result{StatusCode: rec.status, Body: rec.body}
	if err == nil {
		return res, nil
	}
	if rec.status == 0 {
		return res, fmt.Errorf("slack: %s", describeNetError(withoutURL(err)))
	}
	var apiErr slack.SlackErrorResponse
	if errors.As(err, &apiErr) {
		return res, classifySlack(rec.status, rec.header, apiErr.Err, s.now())
	}
	if rec.status == http.StatusOK {
		return res, fmt.Errorf("slack: unreadable answer from chat.postMessage: %w", err)
	}
	return res, classifySlack(rec.status, rec.header, "", s.now())
}

// classifySlack turns a failed Slack answer into a classified error.
// code is Slack's error code when it sent one.
func classifySlack(status int, h http.Header, code string, now time.Time) error {
	what := code
	switch {
	case code == "":
		what = fmt.Sprintf("HTTP %d", status)
	case status != http.StatusOK:
		what = fmt.Sprintf("%s (HTTP %d)", code, status)
	}
	err := errors.New("slack: " + what)
	switch {
	case status == http.StatusTooManyRequests:
		// Slack's rate limit says nothing about the message: it waits as
		// asked, without using up one of its retries.
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
			return Unavailable(err, d)
		}
		return err
	case status == http.StatusServiceUnavailable:
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
			return RetryAfter(err, d)
		}
		return err
	case status == http.StatusGone:
		return Gone(err)
	case status == http.StatusNotFound || slackPermanent(code):
		return Permanent(err)
	case status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Slack's 4xx name a bad token, channel or payload: the same message would fail again.
		return Permanent(err)
	}
	return err // 5xx, timeouts on Slack's side, and codes not known to be final
}

// slackPermanent reports whether a Slack error code means retrying cannot help
// until someone changes the configuration.
func slackPermanent(code string) bool {
	switch code {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
		"no_permission", "missing_scope", "not_allowed_token_type", "access_denied",
		"channel_not_found", "is_archived", "not_in_channel", "channel_is_archived",
		"restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
		"no_service", "no_service_id", "no_team", "team_disabled", "invalid_token",
		"action_prohibited", "posting_to_general_channel_denied", "user_not_found",
		"invalid_payload", "invalid_blocks", "invalid_blocks_format", "invalid_arguments",
		"msg_too_long", "too_many_attachments", "ekm_access_denied", "team_access_not_granted":
		return true
	}
	return false
}

// slackErrorCode reads the plain-text error code an incoming webhook answers
// with (e.g. channel_not_found); other bodies give "".
func slackErrorCode(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || len(s) > 64 {
		return ""
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return ""
		}
	}
	return s
}

func slackChannel(t Target) string { return strings.TrimSpace(t.ConfigString("channel")) }

// withoutURL drops the URL that net/http puts in its errors: an incoming
// webhook's URL is its secret.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// slackRecorder is the client handed to slack-go. It keeps Slack's status,
// headers and answer, which slack-go does not expose, for the attempt log and
// for reading Retry-After in either form. One is used per delivery.
type slackRecorder struct {
	base   *http.Client
	status int
	header http.Header
	body   []byte
}

func (r *slackRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.base.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	all, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // Web API answers are small
	if err != nil {
		return nil, err
	}
	r.status, r.header = resp.StatusCode, resp.Header
	r.body = all[:min(len(all), MaxResponseBody)]
	resp.Body = io.NopCloser(bytes.NewReader(all))
	return resp, nil
}
