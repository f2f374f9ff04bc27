// Command herald-sink-discord is a Herald sink plugin that posts each event
// as a readable message to a Discord incoming webhook (config.webhook_url).
//
// It follows the operator's URL policy, which Herald passes to plugins:
// webhook URLs must be https unless HERALD_ALLOW_HTTP is true, and private,
// loopback and link-local addresses are refused at dial time unless
// HERALD_ALLOW_PRIVATE_NETWORKS is true.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"code.dny.dev/ssrf"
	"github.com/herald-webhooks/herald/plugins"
	"github.com/herald-webhooks/herald/sinks"
)

const (
	version = "1.0.0"
	// maxUsername is Discord's limit on a webhook's display name.
	maxUsername = 80
	// maxErrorBody is how much of Discord's error answer is read for the message.
	maxErrorBody = 4 << 10
)

type discord struct {
	client    *http.Client
	allowHTTP bool
}

func main() {
	plugins.Serve(&discord{
		client:    newClient(envBool("HERALD_ALLOW_PRIVATE_NETWORKS")),
		allowHTTP: envBool("HERALD_ALLOW_HTTP"),
	})
}

func (*discord) Describe() plugins.Info {
	return plugins.Info{
		Name:        "discord",
		Version:     version,
		Description: "Posts each event as a message to a Discord channel through an incoming webhook.",
		Fields: []plugins.Field{
			{Name: "webhook_url", Type: plugins.FieldSecret, Required: true,
				Description: "The channel's webhook URL (Server Settings > Integrations > Webhooks); it contains a token"},
			{Name: "username", Type: plugins.FieldString,
				Description: "Name the messages are posted under (default Herald)"},
		},
	}
}

func (d *discord) Validate(config map[string]any) error {
	raw, _ := config["webhook_url"].(string)
	if _, err := d.webhookURL(raw); err != nil {
		return &sinks.ValidationError{Field: "webhook_url", Message: err.Error()}
	}
	if name, _ := config["username"].(string); utf8.RuneCountInString(name) > maxUsername {
		return &sinks.ValidationError{Field: "username", Message: fmt.Sprintf("must be at most %d characters", maxUsername)}
	}
	return nil
}

func (d *discord) Deliver(ctx context.Context, env sinks.Envelope, config map[string]any) error {
	raw, _ := config["webhook_url"].(string)
	u, err := d.webhookURL(raw)
	if err != nil {
		return plugins.Permanent(fmt.Errorf("webhook_url: %w", err))
	}
	username, _ := config["username"].(string)
	body, err := json.Marshal(render(env, username))
	if err != nil {
		return plugins.Permanent(fmt.Errorf("encode message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return plugins.Permanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Discord/"+version)

	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return classify(resp, answer)
}

// classify maps Discord's answer: 429 and 5xx are retried, 404 means the
// webhook was deleted, any other non-2xx is a permanent mistake.
func classify(resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	var reply struct {
		Message    string  `json:"message"`
		RetryAfter float64 `json:"retry_after"` // seconds
	}
	_ = json.Unmarshal(answer, &reply)
	err := fmt.Errorf("HTTP %d", code)
	if reply.Message != "" {
		err = fmt.Errorf("HTTP %d: %s", code, reply.Message)
	}
	switch {
	case code == http.StatusTooManyRequests:
		return plugins.RetryAfter(err, retryAfter(resp.Header.Get("Retry-After"), reply.RetryAfter))
	case code == http.StatusNotFound:
		return plugins.Gone(err)
	case code >= 500:
		return err
	}
	return plugins.Permanent(err)
}

// retryAfter prefers the header (seconds, possibly fractional), then the body.
func retryAfter(header string, body float64) time.Duration {
	secs, err := strconv.ParseFloat(header, 64)
	if err != nil || secs <= 0 {
		secs = body
	}
	if secs <= 0 {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

func (d *discord) webhookURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, errors.New("must be a URL like https://discord.com/api/webhooks/ID/TOKEN")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && d.allowHTTP:
	default:
		return nil, errors.New("must start with https://")
	}
	return u, nil
}

// withoutURL drops the request URL from a client error: it contains the
// webhook token, and the error ends up in Herald's attempt log.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newClient never follows redirects and, unless allowed, refuses to dial
// private addresses (checked on the IP actually dialled).
func newClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = ssrf.New().Safe
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func envBool(key string) bool {
	v, _ := strconv.ParseBool(os.Getenv(key))
	return v
}
