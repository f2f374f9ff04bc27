package app

import (
	"encoding/json"
	"strings"
	"testing"
)

func nested(key string, levels int, leaf string) string {
	return strings.Repeat(`{"`+key+`":`, levels) + leaf + strings.Repeat("}", levels)
}

func TestInputHygiene(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	hookID, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	event := func(data string) string { return `{"event":"contact_created","data":` + data + `}` }
	contact := `"contact":{"id":"c1"}`
	deepData := `{` + contact + `,"x":` + nested("a", 64, "1") + `}` // 65 levels with data itself
	okData := `{` + contact + `,"x":` + nested("a", 63, "1") + `}`   // 64 levels
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"a NUL in a custom header value is refused", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["*"],"headers":{"X-Team":"a\u0000b"}}`, 422, "headers.X-Team"},
		{"a \\u0001 in a custom header value is refused", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["*"],"headers":{"X-Team":"\u0001"}}`, 422, "headers.X-Team"},
		{"a DEL in a custom header value is refused", "PATCH", "/api/v1/webhooks/" + hookID, `{"headers":{"X-Team":"a\u007f"}}`, 422, "headers.X-Team"},
		{"invalid UTF-8 in event data is refused", "POST", "/api/v1/events", event("{" + contact + ",\"name\":\"\xff\xfe\"}"), 422, "data"},
		{"invalid UTF-8 in a batch names the event", "POST", "/api/v1/events/batch", `{"events":[` + event("{"+contact+"}") + `,` + event("{"+contact+",\"n\":\"\xc3\"}") + `]}`, 422, "events[1].data"},
		{"a number too large for a float64 is refused", "POST", "/api/v1/events", event(`{` + contact + `,"credits":{"amount":[1,-1e999]}}`), 422, "data.credits.amount[1]"},
		{"event data nested deeper than 64 is refused", "POST", "/api/v1/events", event(deepData), 422, "data"},
		{"event data nested 9,998 deep is refused", "POST", "/api/v1/events", event(`{` + contact + `,"x":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}`), 422, "data"},
		{"webhook config nested deeper than 64 is refused", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["*"],"config":` + nested("a", 65, "1") + `}`, 422, "config"},
		{"webhook config nested deeper than 64 is refused on update", "PATCH", "/api/v1/webhooks/" + hookID, `{"config":` + nested("a", 65, "1") + `}`, 422, "config"},
		{"invalid UTF-8 in a webhook field is refused", "PATCH", "/api/v1/webhooks/" + hookID, "{\"name\":\"bad \xff name\"}", 422, "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := s.request(tc.method, tc.path, tc.body, s.Token)
			if code != tc.status {
				t.Fatalf("status = %d, want %d: %.300s", code, tc.status, raw)
			}
			_, field := errorOf(t, raw)
			if field != tc.field {
				t.Fatalf("field = %q, want %q (%.300s)", field, tc.field, raw)
			}
			if !json.Valid(raw) {
				t.Fatal("the error answer is not valid JSON")
			}
		})
	}
	t.Run("nothing refused was stored or changed", func(t *testing.T) {
		if n := len(s.must("GET", "/api/v1/events", nil, 200)["data"].([]any)); n != 0 {
			t.Fatalf("%d events stored", n)
		}
		h := s.must("GET", "/api/v1/webhooks/"+hookID, nil, 200)
		if len(h["headers"].(map[string]any)) != 0 || len(h["config"].(map[string]any)) != 0 || strings.Contains(h["name"].(string), "bad") {
			t.Fatalf("a refused PATCH changed the webhook: %v", h)
		}
	})
	t.Run("what is allowed still is", func(t *testing.T) {
		s.must("POST", "/api/v1/events", event(okData), 202)
		s.must("POST", "/api/v1/events", event(`{`+contact+`,"name":"Zoë \u00e9 日本 \ud83d\ude00"}`), 202)
		s.must("PATCH", "/api/v1/webhooks/"+hookID, `{"headers":{"X-Team":"a\tb é"},"config":`+nested("a", 64, "1")+`}`, 200)
	})
}

func TestNumericIPSpellingsAreRefusedAtSaveTime(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.AllowHTTP, c.AllowPrivateNetworks = false, false })
	for _, host := range []string{"0177.0.0.1", "2130706433", "127.1", "0x7f.1", "0x7f000001", "017700000001"} {
		for _, sink := range []string{"webhook", "slack"} {
			t.Run(sink+" at "+host, func(t *testing.T) {
				code, raw := s.request("POST", "/api/v1/webhooks", map[string]any{"sink": sink, "url": "https://" + host + "/hook", "events": []string{"human_alerted"}}, s.Token)
				if code != 422 {
					t.Fatalf("status %d, want 422: %s", code, raw)
				}
				if _, field := errorOf(t, raw); field != "url" || !strings.Contains(string(raw), "private, loopback, link-local or metadata") {
					t.Fatalf("want the guard's message on url: %s", raw)
				}
			})
		}
	}
}
