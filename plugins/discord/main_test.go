package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald/sinks"
)

// fakeDiscord answers like Discord's Execute Webhook endpoint and hands
// each message it receives to the test.
type fakeDiscord struct {
	*httptest.Server
	got chan message
}

func newFakeDiscord(t *testing.T, answer func(w http.ResponseWriter)) *fakeDiscord {
	t.Helper()
	f := &fakeDiscord{got: make(chan message, 4)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/webhooks/123/secret-token" {
			http.Error(w, `{"message": "Unknown Webhook", "code": 10015}`, http.StatusNotFound)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			http.Error(w, `{"message": "Cannot send an empty message"}`, http.StatusBadRequest)
			return
		}
		var m message
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, `{"message": "400: Bad Request"}`, http.StatusBadRequest)
			return
		}
		f.got <- m
		answer(w)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDiscord) webhookURL() string { return f.URL + "/api/webhooks/123/secret-token" }

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

func humanAlerted() sinks.Envelope {
	return sinks.Envelope{
		ID:        "evt_01JD",
		Event:     "human_alerted",
		Timestamp: "2026-11-27T08:00:00.123Z",
		Data: json.RawMessage(`{
			"contact": {"id": "c_42", "name": "Jane Doe", "phone": "+15550100", "channel": "whatsapp"},
			"reason": "Asks for a refund @everyone",
			"conversation_url": "https://app.example.com/c/42"
		}`),
	}
}

func TestDeliverPostsAReadableMessage(t *testing.T) {
	fake := newFakeDiscord(t, noContent)
	d := &discord{client: newClient(true), allowHTTP: true}

	if err := d.Deliver(t.Context(), humanAlerted(), map[string]any{"webhook_url": fake.webhookURL(), "username": "Support bot"}); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	m := <-fake.got
	if m.Username != "Support bot" || m.Content != "A human is needed: Jane Doe" {
		t.Errorf("username %q, content %q", m.Username, m.Content)
	}
	if m.AllowedMentions.Parse == nil || len(m.AllowedMentions.Parse) != 0 {
		t.Errorf("allowed_mentions.parse = %v, want an empty list so nobody is pinged", m.AllowedMentions.Parse)
	}
	if len(m.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1", len(m.Embeds))
	}
	e := m.Embeds[0]
	checks := []struct{ name, got, want string }{
		{"title", e.Title, "A human is needed"},
		{"description", e.Description, "Asks for a refund @everyone"},
		{"url", e.URL, "https://app.example.com/c/42"},
		{"timestamp", e.Timestamp, "2026-11-27T08:00:00.123Z"},
		{"footer", e.Footer.Text, "Herald · evt_01JD"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if e.Color != colorUrgent {
		t.Errorf("color = %#x, want the urgent colour", e.Color)
	}
	fields := map[string]string{}
	for _, f := range e.Fields {
		fields[f.Name] = f.Value
	}
	if fields["Contact"] != "Jane Doe\n+15550100" || fields["Channel"] != "whatsapp" {
		t.Errorf("fields = %v", fields)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name      string
		env       sinks.Envelope
		wantTitle string
		wantDesc  string
		wantField string // name=value of one field that must be there
	}{
		{
			name:      "a tag with a summary shows the summary and the tag",
			env:       sinks.Envelope{Event: "tag_applied", Data: json.RawMessage(`{"contact":{"id":7},"tag":"qualified-lead","summary":{"text":"Wants the premium plan."}}`)},
			wantTitle: "Tag applied", wantDesc: "Wants the premium plan.", wantField: "Tag=qualified-lead",
		},
		{
			name:      "a numeric contact id is shown when there is no name",
			env:       sinks.Envelope{Event: "contact_created", Data: json.RawMessage(`{"contact":{"id":7}}`)},
			wantTitle: "New contact", wantField: "Contact=7",
		},
		{
			name:      "a new message shows its text and channel",
			env:       sinks.Envelope{Event: "new_message", Data: json.RawMessage(`{"contact":{"id":"c"},"message":{"text":"Hello?","channel":"sms"}}`)},
			wantTitle: "New message", wantDesc: "Hello?", wantField: "Channel=sms",
		},
		{
			name:      "credits keep their exact amount",
			env:       sinks.Envelope{Event: "credits_recharged", Data: json.RawMessage(`{"credits":{"amount":1000000}}`)},
			wantTitle: "Credits recharged", wantField: "Credits=1000000",
		},
		{
			name:      "an unknown event is titled by its name",
			env:       sinks.Envelope{Event: "invoice_paid", Data: json.RawMessage(`{}`)},
			wantTitle: "invoice paid",
		},
		{
			name:      "a reason longer than Discord allows is cut",
			env:       sinks.Envelope{Event: "human_alerted", Data: json.RawMessage(`{"reason":"` + strings.Repeat("é", 5000) + `"}`)},
			wantTitle: "A human is needed", wantDesc: strings.Repeat("é", maxDescription-1) + "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := render(tt.env, "").Embeds[0]
			if e.Title != tt.wantTitle || e.Description != tt.wantDesc {
				t.Errorf("title %q, description %q (%d chars); want %q, %q",
					e.Title, truncate(e.Description, 40), utf8.RuneCountInString(e.Description), tt.wantTitle, truncate(tt.wantDesc, 40))
			}
			if tt.wantField == "" {
				return
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Name+"="+f.Value)
			}
			if !strings.Contains(strings.Join(fields, "\n"), tt.wantField) {
				t.Errorf("fields %v lack %s", fields, tt.wantField)
			}
		})
	}

	t.Run("a link that is not http is left out", func(t *testing.T) {
		env := sinks.Envelope{Event: "human_alerted", Data: json.RawMessage(`{"conversation_url":"javascript:alert(1)"}`)}
		if u := render(env, "").Embeds[0].URL; u != "" {
			t.Errorf("url = %q", u)
		}
	})
}

func TestDeliverClassifiesDiscordAnswers(t *testing.T) {
	tests := []struct {
		name          string
		answer        func(w http.ResponseWriter)
		wantErr       string
		wantPermanent bool
		wantGone      bool
		wantAfter     time.Duration
	}{
		{name: "200 with a body is a success", answer: func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"id":"1"}`) }},
		{
			name: "429 is retried after Retry-After",
			answer: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"message":"You are being rate limited.","retry_after":2.0,"global":false}`)
			},
			wantErr: "HTTP 429: You are being rate limited.", wantAfter: 2 * time.Second,
		},
		{
			name: "429 without the header uses the body's retry_after",
			answer: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"message":"You are being rate limited.","retry_after":1.5}`)
			},
			wantErr: "HTTP 429: You are being rate limited.", wantAfter: 1500 * time.Millisecond,
		},
		{
			name: "400 is permanent and says why",
			answer: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"message":"Invalid Form Body","code":50035}`)
			},
			wantErr: "HTTP 400: Invalid Form Body", wantPermanent: true,
		},
		{
			name:    "401 is permanent",
			answer:  func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) },
			wantErr: "HTTP 401", wantPermanent: true,
		},
		{
			name: "404 means the webhook is gone",
			answer: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"message":"Unknown Webhook","code":10015}`)
			},
			wantErr: "HTTP 404: Unknown Webhook", wantPermanent: true, wantGone: true,
		},
		{
			name:    "500 is retried",
			answer:  func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) },
			wantErr: "HTTP 500",
		},
		{
			name: "a redirect is not followed",
			answer: func(w http.ResponseWriter) {
				w.Header().Set("Location", "http://169.254.169.254/")
				w.WriteHeader(http.StatusFound)
			},
			wantErr: "HTTP 302", wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeDiscord(t, tt.answer)
			d := &discord{client: newClient(true), allowHTTP: true}
			err := d.Deliver(t.Context(), humanAlerted(), map[string]any{"webhook_url": fake.webhookURL()})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("deliver: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			permanent, gone, after := sinks.Classify(err)
			if permanent != tt.wantPermanent || gone != tt.wantGone || after != tt.wantAfter {
				t.Errorf("Classify = (%v, %v, %s), want (%v, %v, %s)", permanent, gone, after, tt.wantPermanent, tt.wantGone, tt.wantAfter)
			}
		})
	}
}

func TestDeliverGuardsTheNetwork(t *testing.T) {
	t.Run("a private address is refused unless the operator allows it", func(t *testing.T) {
		fake := newFakeDiscord(t, noContent)
		d := &discord{client: newClient(false), allowHTTP: true}
		err := d.Deliver(t.Context(), humanAlerted(), map[string]any{"webhook_url": fake.webhookURL()})
		if err == nil {
			t.Fatal("posted to 127.0.0.1 with private networks refused")
		}
		if len(fake.got) != 0 {
			t.Error("the fake received a message")
		}
	})
	t.Run("a network error does not reveal the webhook token", func(t *testing.T) {
		fake := newFakeDiscord(t, noContent)
		url := fake.webhookURL()
		fake.Close()
		d := &discord{client: newClient(true), allowHTTP: true}
		err := d.Deliver(t.Context(), humanAlerted(), map[string]any{"webhook_url": url})
		if err == nil || strings.Contains(err.Error(), "secret-token") {
			t.Fatalf("error = %v, want one without the token", err)
		}
		if permanent, _, _ := sinks.Classify(err); permanent {
			t.Errorf("a connection error should be retried: %v", err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		allowHTTP bool
		config    map[string]any
		wantField string
	}{
		{"an https Discord URL is accepted", false, map[string]any{"webhook_url": "https://discord.com/api/webhooks/1/abc"}, ""},
		{"http is refused by default", false, map[string]any{"webhook_url": "http://discord.com/api/webhooks/1/abc"}, "webhook_url"},
		{"http is accepted when the operator allows it", true, map[string]any{"webhook_url": "http://127.0.0.1:8080/api/webhooks/1/abc"}, ""},
		{"a URL without a host is refused", false, map[string]any{"webhook_url": "https:///api"}, "webhook_url"},
		{"credentials in the URL are refused", false, map[string]any{"webhook_url": "https://u:p@discord.com/api/webhooks/1/abc"}, "webhook_url"},
		{"a missing URL is refused", false, map[string]any{}, "webhook_url"},
		{"a username over 80 characters is refused", false, map[string]any{"webhook_url": "https://discord.com/api/webhooks/1/abc", "username": strings.Repeat("x", 81)}, "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&discord{allowHTTP: tt.allowHTTP}).Validate(tt.config)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			var ve *sinks.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("error = %v, want a ValidationError on %s", err, tt.wantField)
			}
		})
	}
}
