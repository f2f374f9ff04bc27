package summary

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
	"regexp"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// DefaultTimeout bounds one summary request: local models on a CPU are slow,
// and a summary is worth a short wait but not a stuck delivery.
const DefaultTimeout = 20 * time.Second

// maxResponse caps how much of the endpoint's answer is read.
const maxResponse = 1 << 20

// LLMOptions configures NewLLM.
type LLMOptions struct {
	URL      string        // full chat-completions URL, e.g. http://localhost:11434/v1/chat/completions
	Model    string        // sent as is
	APIKey   string        // sent as "Authorization: Bearer" when non-empty
	Timeout  time.Duration // per request; DefaultTimeout when zero
	Client   *http.Client  // optional
	Fallback Summarizer    // used on any error; Builtin when nil
	Logger   *slog.Logger  // optional
	Now      func() time.Time
}

// LLM summarizes with an OpenAI-compatible chat-completions endpoint. It is
// safe for concurrent use.
type LLM struct {
	url, model, apiKey string
	timeout            time.Duration
	client             *http.Client
	fallback           Summarizer
	logger             *slog.Logger
	now                func() time.Time
}

// NewLLM returns an LLM summarizer with the defaults filled in.
func NewLLM(o LLMOptions) *LLM {
	l := &LLM{url: o.URL, model: o.Model, apiKey: o.APIKey, timeout: o.Timeout,
		client: o.Client, fallback: o.Fallback, logger: o.Logger, now: o.Now}
	if l.timeout <= 0 {
		l.timeout = DefaultTimeout
	}
	if l.client == nil {
		l.client = &http.Client{}
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.fallback == nil {
		l.fallback = Builtin{Now: l.now}
	}
	return l
}

// Summarize implements Summarizer. With no conversation there is nothing to
// ask the model, so the fallback answers directly.
func (l *LLM) Summarize(ctx context.Context, c Contact, tag string, msgs []sinks.Message) Summary {
	lines := prepare(msgs)
	if len(lines) == 0 {
		return l.fallback.Summarize(ctx, c, tag, msgs)
	}
	prompt, n := transcript(c, tag, lines)
	text, err := l.complete(ctx, prompt)
	if err != nil {
		l.logger.Warn("LLM summary failed, using the fallback summarizer",
			"host", l.host(), "model", l.model, "contact_id", c.ID, "error", l.redact(err))
		return l.fallback.Summarize(ctx, c, tag, msgs)
	}
	return Summary{Text: text, Messages: n, GeneratedAt: l.now().UTC(), Method: MethodLLM}
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

// thinking is the reasoning some local models put before their answer.
var thinking = regexp.MustCompile(`(?s)<think>.*?</think>`)

// complete sends one chat-completions request and returns the cleaned answer.
func (l *LLM) complete(ctx context.Context, prompt string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	body, err := json.Marshal(chatRequest{
		Model:       l.model,
		Messages:    []chatMessage{{Role: "system", Content: systemPrompt}, {Role: "user", Content: prompt}},
		Temperature: 0,
	})
	if err != nil {
		return "", fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if l.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.apiKey)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may carry a key in its query; the host is logged instead
		}
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("endpoint answered %s", resp.Status)
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return "", fmt.Errorf("decode response: %w", err)
	}
	if len(cr.Choices) == 0 {
		return "", errors.New("response has no choices")
	}
	text := strings.TrimSpace(thinking.ReplaceAllString(cr.Choices[0].Message.Content, ""))
	if text == "" {
		return "", errors.New("response content is empty")
	}
	return clip(text, MaxChars), nil
}

func (l *LLM) host() string {
	u, err := url.Parse(l.url)
	if err != nil {
		return ""
	}
	return u.Host
}

// redact makes sure the API key never reaches the log, whatever an error
// message echoes back.
func (l *LLM) redact(err error) string {
	msg := err.Error()
	if l.apiKey != "" {
		msg = strings.ReplaceAll(msg, l.apiKey, "[redacted]")
	}
	return msg
}
