package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMatching(t *testing.T) {
	ev := func(name string, data string) *Event {
		e := &Event{Event: name, Data: json.RawMessage(data)}
		_ = json.Unmarshal(e.Data, &e.Fields)
		return e
	}
	tagged := func(tag string) *Event { return ev("tag_applied", `{"contact":{"id":"c"},"tag":"`+tag+`"}`) }
	cases := []struct {
		name string
		hook Webhook
		ev   *Event
		want bool
	}{
		{"an event in the list matches", Webhook{Enabled: true, Events: []string{"contact_created"}}, ev("contact_created", `{}`), true},
		{"an event not in the list does not", Webhook{Enabled: true, Events: []string{"contact_created"}}, ev("new_message", `{}`), false},
		{"a wildcard matches every event", Webhook{Enabled: true, Events: []string{"*"}}, ev("credits_spent", `{}`), true},
		{"a wildcard does not match test events", Webhook{Enabled: true, Events: []string{"*"}}, ev("test_event", `{}`), false},
		{"tags only: a listed tag matches", Webhook{Enabled: true, Tags: []string{"qualified-lead"}}, tagged("qualified-lead"), true},
		{"tags only: another tag does not", Webhook{Enabled: true, Tags: []string{"qualified-lead"}}, tagged("booked"), false},
		{"tags only: other events do not", Webhook{Enabled: true, Tags: []string{"vip"}}, ev("contact_created", `{}`), false},
		{"tags compare case-insensitively after trimming", Webhook{Enabled: true, Tags: []string{"qualified-lead"}}, tagged("  Qualified-LEAD "), true},
		{"tag_applied in events matches every tag", Webhook{Enabled: true, Events: []string{"tag_applied"}, Tags: []string{"vip"}}, tagged("other"), true},
		{"events and tags: a listed event matches", Webhook{Enabled: true, Events: []string{"new_message"}, Tags: []string{"vip"}}, ev("new_message", `{}`), true},
		{"events and tags: a listed tag matches", Webhook{Enabled: true, Events: []string{"new_message"}, Tags: []string{"vip"}}, tagged("VIP"), true},
		{"a disabled webhook matches nothing", Webhook{Enabled: false, Events: []string{"*"}, Tags: []string{"vip"}}, tagged("vip"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.hook.Matches(tc.ev); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTagTriggersAndSummaries(t *testing.T) {
	s := newTestServer(t)
	withSummary := newReceiver(t)
	without := newReceiver(t)
	s.createWebhook(map[string]any{"url": withSummary.URL, "tags": []string{"Qualified-Lead"}, "generate_summary": true})
	s.createWebhook(map[string]any{"url": without.URL, "tags": []string{"qualified-lead"}})

	for _, m := range []struct{ text, dir string }{
		{"Hi, I'm Ana. Do you have a table for 4 people on Friday at 19:30?", "inbound"},
		{"Yes, we do. Shall I book it?", "outbound"},
		{"Please book it, my email is ana@example.com", "inbound"},
	} {
		s.ingest("new_message", map[string]any{"contact": map[string]any{"id": "ana", "name": "Ana"},
			"message": map[string]any{"text": m.text, "channel": "whatsapp", "direction": m.dir}})
	}
	s.ingest("tag_applied", map[string]any{"contact": map[string]any{"id": "ana", "name": "Ana"}, "tag": "qualified-lead"})

	got := withSummary.next(t, 5*time.Second)
	plain := without.next(t, 5*time.Second)
	var data struct {
		Tag     string `json:"tag"`
		Summary *struct {
			Text        string `json:"text"`
			Messages    int    `json:"messages"`
			GeneratedAt string `json:"generated_at"`
			Method      string `json:"method"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(got.Env.Data, &data); err != nil || data.Summary == nil {
		t.Fatalf("no summary in %s", got.Body)
	}
	t.Run("the summary keeps the facts and says how it was made", func(t *testing.T) {
		for _, fact := range []string{"Ana", "4 people", "19:30", "ana@example.com"} {
			if !strings.Contains(data.Summary.Text, fact) {
				t.Errorf("summary lacks %q: %s", fact, data.Summary.Text)
			}
		}
		if data.Summary.Messages != 3 || data.Summary.Method != "builtin" || !strings.HasSuffix(data.Summary.GeneratedAt, "Z") {
			t.Fatalf("summary = %+v", data.Summary)
		}
	})
	t.Run("a webhook without Generate Summary gets none", func(t *testing.T) {
		if strings.Contains(string(plain.Env.Data), `"summary"`) {
			t.Fatalf("unexpected summary: %s", plain.Body)
		}
	})
	t.Run("the other events did not reach tag-only webhooks", func(t *testing.T) {
		withSummary.none(t, 100*time.Millisecond)
		without.none(t, 10*time.Millisecond)
	})
}

func TestSummaryRetrySendsIdenticalBytes(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	calls := 0
	rc.setRespond(func(received) (int, string, map[string]string) {
		calls++
		if calls == 1 {
			return 503, "busy", nil
		}
		return 200, "", nil
	})
	s.createWebhook(map[string]any{"url": rc.URL, "tags": []string{"booked"}, "generate_summary": true})
	s.ingest("tag_applied", map[string]any{"contact": map[string]any{"id": "nobody"}, "tag": "booked"})
	first := rc.next(t, 5*time.Second)
	second := rc.next(t, 5*time.Second)
	if string(first.Body) != string(second.Body) {
		t.Fatalf("retry body differs:\n%s\n%s", first.Body, second.Body)
	}
	if !strings.Contains(string(first.Body), "No conversation") {
		t.Fatalf("a contact with no messages should get a summary that says so: %s", first.Body)
	}
}
