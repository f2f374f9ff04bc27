package summary

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

const testAPIKey = "sk-test-3f9a7c"

// chatCall is what the fake chat-completions API received.
type chatCall struct {
	method, path, auth, contentType string
	body                            struct {
		Model       string        `json:"model"`
		Temperature *float64      `json:"temperature"`
		Messages    []chatMessage `json:"messages"`
	}
}

// fakeChat starts a chat-completions API on 127.0.0.1 that records each
// request and answers status and body, or with block, holds the request
// until the client gives up.
func fakeChat(t *testing.T, status int, body string, block bool) (*httptest.Server, chan chatCall) {
	t.Helper()
	calls := make(chan chatCall, 4)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := chatCall{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &c.body); err != nil {
			t.Errorf("request body is not JSON: %v", err)
		}
		calls <- c
		if block {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets a blocked handler return so Close can finish
	return srv, calls
}

var llmConversation = []sinks.Message{
	{Text: "Hi, a table for 4 people on Friday 13 March at 19:30 please", Direction: "inbound", Channel: "whatsapp"},
	{Text: "Booked! See you Friday.", Direction: "outbound", Channel: "whatsapp"},
}

func answer(content string) string {
	b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": content}}}})
	return string(b)
}

func TestLLM(t *testing.T) {
	contact := Contact{ID: "c_1", Name: "Emma Clarke", Channel: "whatsapp"}
	now := func() time.Time { return fixedNow }
	builtin := Builtin{Now: now}.Summarize(context.Background(), contact, "booked", llmConversation)
	tests := []struct {
		name     string
		status   int
		body     string
		block    bool
		apiKey   string
		want     Summary
		wantWarn bool
	}{
		{name: "a good answer becomes the summary, trimmed",
			status: 200, body: answer("  Emma Clarke booked a table for 4 on Friday 13 March at 19:30.\n"), apiKey: testAPIKey,
			want: Summary{Text: "Emma Clarke booked a table for 4 on Friday 13 March at 19:30.", Messages: 2, GeneratedAt: fixedNow.UTC(), Method: MethodLLM}},
		{name: "without an API key no Authorization header is sent",
			status: 200, body: answer("Emma booked."),
			want: Summary{Text: "Emma booked.", Messages: 2, GeneratedAt: fixedNow.UTC(), Method: MethodLLM}},
		{name: "a model's reasoning before the answer is dropped",
			status: 200, body: answer("<think>The user wants a summary.</think>\nEmma booked."), apiKey: testAPIKey,
			want: Summary{Text: "Emma booked.", Messages: 2, GeneratedAt: fixedNow.UTC(), Method: MethodLLM}},
		{name: "a long answer is clipped to the limit",
			status: 200, body: answer(strings.Repeat("word ", 200)), apiKey: testAPIKey,
			want: Summary{Text: strings.TrimSpace(strings.Repeat("word ", 120)) + "…", Messages: 2, GeneratedAt: fixedNow.UTC(), Method: MethodLLM}},
		{name: "a server error falls back to the built-in summary",
			status: 500, body: `{"error":{"message":"model crashed"}}`, apiKey: testAPIKey, want: builtin, wantWarn: true},
		{name: "a request that outlives the timeout falls back",
			block: true, apiKey: testAPIKey, want: builtin, wantWarn: true},
		{name: "malformed JSON falls back",
			status: 200, body: `{"choices": [{"message": `, apiKey: testAPIKey, want: builtin, wantWarn: true},
		{name: "an answer without choices falls back",
			status: 200, body: `{"choices": []}`, apiKey: testAPIKey, want: builtin, wantWarn: true},
		{name: "an empty answer falls back",
			status: 200, body: answer(" \n "), apiKey: testAPIKey, want: builtin, wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := fakeChat(t, tt.status, tt.body, tt.block)
			var logs bytes.Buffer
			l := NewLLM(LLMOptions{
				URL:     srv.URL + "/v1/chat/completions",
				Model:   "llama3.2",
				APIKey:  tt.apiKey,
				Timeout: 100 * time.Millisecond,
				Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
				Now:     now,
			})

			start := time.Now()
			got := l.Summarize(context.Background(), contact, "booked", llmConversation)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Summarize took %v despite a 100ms timeout", elapsed)
			}

			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			select {
			case c := <-calls:
				checkChatCall(t, c, tt.apiKey)
			case <-time.After(5 * time.Second):
				t.Fatal("the fake API never received the request")
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != tt.wantWarn {
				t.Errorf("warned = %v, want %v; logs:\n%s", warned, tt.wantWarn, logs.String())
			}
			if strings.Contains(logs.String(), testAPIKey) {
				t.Errorf("the API key leaked into the logs:\n%s", logs.String())
			}
		})
	}
}

func checkChatCall(t *testing.T, c chatCall, apiKey string) {
	t.Helper()
	if c.method != http.MethodPost || c.path != "/v1/chat/completions" || c.contentType != "application/json" {
		t.Errorf("request was %s %s (%s), want POST /v1/chat/completions (application/json)", c.method, c.path, c.contentType)
	}
	wantAuth := ""
	if apiKey != "" {
		wantAuth = "Bearer " + apiKey
	}
	if c.auth != wantAuth {
		t.Errorf("Authorization = %q, want %q", c.auth, wantAuth)
	}
	if c.body.Model != "llama3.2" || c.body.Temperature == nil || *c.body.Temperature != 0 {
		t.Errorf("model = %q, temperature = %v; want llama3.2 and 0", c.body.Model, c.body.Temperature)
	}
	if len(c.body.Messages) != 2 || c.body.Messages[0].Role != "system" || c.body.Messages[1].Role != "user" {
		t.Fatalf("messages = %+v, want a system and a user message", c.body.Messages)
	}
	if !strings.Contains(c.body.Messages[0].Content, "600 characters") {
		t.Errorf("the system prompt does not state the limit:\n%s", c.body.Messages[0].Content)
	}
	user := c.body.Messages[1].Content
	for _, want := range []string{"Emma Clarke", "booked", "Contact: " + llmConversation[0].Text, "Business: " + llmConversation[1].Text} {
		if !strings.Contains(user, want) {
			t.Errorf("user message lacks %q:\n%s", want, user)
		}
	}
}

// stubSummarizer answers a fixed summary, to see which summarizer answered.
type stubSummarizer struct{ calls atomic.Int32 }

func (s *stubSummarizer) Summarize(context.Context, Contact, string, []sinks.Message) Summary {
	s.calls.Add(1)
	return Summary{Text: "from the fallback", Method: MethodBuiltin}
}

func TestLLMUsesTheGivenFallback(t *testing.T) {
	srv, _ := fakeChat(t, http.StatusServiceUnavailable, "", false)
	fallback := &stubSummarizer{}
	l := NewLLM(LLMOptions{URL: srv.URL, Fallback: fallback})
	got := l.Summarize(context.Background(), Contact{}, "", llmConversation)
	if got.Text != "from the fallback" || fallback.calls.Load() != 1 {
		t.Errorf("got %q after %d fallback calls, want the fallback's summary once", got.Text, fallback.calls.Load())
	}
}

func TestLLMWithoutMessagesDoesNotCallTheEndpoint(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	got := NewLLM(LLMOptions{URL: srv.URL}).Summarize(context.Background(), Contact{Name: "Ana"}, "", nil)
	if hits.Load() != 0 || got.Method != MethodBuiltin || got.Messages != 0 || !strings.HasPrefix(got.Text, "No conversation is stored") {
		t.Errorf("got %+v after %d requests, want the built-in empty summary and no request", got, hits.Load())
	}
}

func TestTranscriptKeepsTheNewestMessages(t *testing.T) {
	lines := make([]line, 0, 3000)
	for i := range 3000 {
		lines = append(lines, in(strings.Repeat("x", 20)+" msg "+string(rune('a'+i%26))))
	}
	lines[len(lines)-1] = in("the very last one")
	got, n := transcript(Contact{Name: "Ana"}, "vip", lines)
	if runeLen(got) > maxTranscript+200 || n >= len(lines) || n == 0 {
		t.Errorf("transcript is %d runes with %d of %d messages", runeLen(got), n, len(lines))
	}
	if !strings.Contains(got, "earlier messages left out") || !strings.HasSuffix(got, "Contact: the very last one\n") {
		t.Errorf("transcript does not say what was left out or lost the newest message:\n%s", got[len(got)-200:])
	}
}

func TestFromConfig(t *testing.T) {
	if _, ok := FromConfig("", "m", "k", 0, nil).(Builtin); !ok {
		t.Error("an empty URL should give the built-in summarizer")
	}
	l, ok := FromConfig("http://127.0.0.1:11434/v1/chat/completions", "llama3.2", "", 0, nil).(*LLM)
	if !ok {
		t.Fatal("a URL should give the LLM summarizer")
	}
	if l.timeout != DefaultTimeout || l.model != "llama3.2" {
		t.Errorf("timeout = %v, model = %q; want %v and llama3.2", l.timeout, l.model, DefaultTimeout)
	}
}
