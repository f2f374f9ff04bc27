package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeSlack answers chat.postMessage like Slack's Web API and records posts.
type fakeSlack struct {
	*httptest.Server
	posts chan url.Values
}

func newFakeSlack(t *testing.T, answer string) *fakeSlack {
	t.Helper()
	f := &fakeSlack{posts: make(chan url.Values, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat.postMessage" {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if r.Header.Get("Authorization") == "Bearer xoxb-test" {
			form.Set("token", "xoxb-test")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
		f.posts <- form
	}))
	t.Cleanup(f.Close)
	return f
}

func TestSlackHumanAlertedThroughHerald(t *testing.T) {
	slack := newFakeSlack(t, `{"ok":true,"channel":"C1","ts":"1.2"}`)
	s := newTestServer(t, func(c *Config) {
		c.Slack.APIURL = slack.URL + "/api/"
		c.Slack.BotToken = "xoxb-test"
	})
	id, _ := s.createWebhook(map[string]any{"sink": "slack", "config": map[string]any{"channel": "#support"}, "events": []string{"human_alerted"}})
	for _, text := range []string{"Hello, I ordered a sofa", "It arrived broken <b>twice</b>", "I want my money back"} {
		s.ingest("new_message", map[string]any{"contact": map[string]any{"id": "ct_9", "name": "Bea"},
			"message": map[string]any{"text": text, "channel": "whatsapp"}})
	}
	s.ingest("human_alerted", map[string]any{"contact": map[string]any{"id": "ct_9", "name": "Bea", "phone": "+34600000000", "channel": "whatsapp"},
		"reason": "Refund request", "conversation_url": "https://app.example.com/c/ct_9"})

	var post url.Values
	select {
	case post = <-slack.posts:
	case <-time.After(5 * time.Second):
		t.Fatal("Slack got nothing")
	}
	if post.Get("token") != "xoxb-test" || post.Get("channel") != "#support" || post.Get("text") == "" {
		t.Fatalf("post = %v", post)
	}
	blocks := post.Get("blocks")
	var parsed []map[string]any
	if err := json.Unmarshal([]byte(blocks), &parsed); err != nil || len(parsed) == 0 {
		t.Fatalf("blocks are not Block Kit JSON: %v %s", err, blocks)
	}
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false) // compare the text as Slack reads it
	_ = enc.Encode(parsed)
	blocks = plain.String()
	if strings.Contains(blocks, "<b>") {
		t.Errorf("user text was not escaped: %s", blocks)
	}
	for _, want := range []string{"Bea", "+34600000000", "Refund request", "I want my money back", "https://app.example.com/c/ct_9", "&lt;b&gt;twice"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("blocks lack %q", want)
		}
	}
	eventually(t, 5*time.Second, "delivery succeeded", func() bool {
		d := s.must("GET", "/api/v1/webhooks/"+id+"/deliveries", nil, 200)["data"].([]any)
		return len(d) == 1 && d[0].(map[string]any)["status"] == "succeeded"
	})
}

func TestSlackValidationAndPermanentErrors(t *testing.T) {
	t.Run("a slack webhook without URL or channel is a 422", func(t *testing.T) {
		s := newTestServer(t)
		code, raw := s.request("POST", "/api/v1/webhooks", map[string]any{"sink": "slack", "events": []string{"human_alerted"}}, s.Token)
		if code != 422 || !strings.Contains(string(raw), "incoming-webhook URL") {
			t.Fatalf("status = %d: %s", code, raw)
		}
	})
	t.Run("a channel without a bot token is a 422", func(t *testing.T) {
		s := newTestServer(t)
		code, raw := s.request("POST", "/api/v1/webhooks", map[string]any{"sink": "slack", "config": map[string]any{"channel": "#x"}, "events": []string{"human_alerted"}}, s.Token)
		if code != 422 {
			t.Fatalf("status = %d: %s", code, raw)
		}
		if _, field := errorOf(t, raw); field != "config.channel" {
			t.Fatalf("field = %q", field)
		}
	})
	t.Run("an archived channel fails permanently with Slack's error in the log", func(t *testing.T) {
		slack := newFakeSlack(t, `{"ok":false,"error":"is_archived"}`)
		s := newTestServer(t, func(c *Config) {
			c.Slack.APIURL = slack.URL + "/api/"
			c.Slack.BotToken = "xoxb-test"
		})
		id, _ := s.createWebhook(map[string]any{"sink": "slack", "config": map[string]any{"channel": "#old"}, "events": []string{"*"}})
		m := s.must("POST", "/api/v1/webhooks/"+id+"/test", map[string]any{"event": "human_alerted"}, 200)
		if m["delivered"] != false || !strings.Contains(m["error"].(string), "is_archived") {
			t.Fatalf("test = %v", m)
		}
		s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c"}})
		eventually(t, 5*time.Second, "failed after one attempt", func() bool {
			d := s.must("GET", "/api/v1/webhooks/"+id+"/deliveries?status=failed", nil, 200)["data"].([]any)
			return len(d) == 2 && d[0].(map[string]any)["attempt_count"].(float64) == 1
		})
	})
}

func TestOperatorAlertWhenAWebhookIsDisabled(t *testing.T) {
	alerts := newReceiver(t) // plays a Slack incoming webhook
	s := newTestServer(t, func(c *Config) { c.Slack.AlertURL = alerts.URL })
	gone := newReceiver(t)
	gone.setRespond(func(received) (int, string, map[string]string) { return 410, "gone", nil })
	s.createWebhook(map[string]any{"name": "Old CRM", "url": gone.URL, "events": []string{"contact_created"}})
	s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c"}})
	gone.next(t, 5*time.Second)

	alert := alerts.next(t, 5*time.Second)
	var msg struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(alert.Body, &msg); err != nil || len(msg.Blocks) == 0 {
		t.Fatalf("alert is not a Slack message: %s", alert.Body)
	}
	for _, want := range []string{"Old CRM", "410"} {
		if !strings.Contains(string(alert.Body), want) {
			t.Errorf("alert lacks %q: %s", want, alert.Body)
		}
	}
}
