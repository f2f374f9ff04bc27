package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// errorOf decodes the contract's error shape, failing if the body is not in it.
func errorOf(t *testing.T, raw []byte) (code, field string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("answer is not in the error shape: %s", raw)
	}
	return body.Error.Code, body.Error.Field
}

func TestBadInputIsRefusedClearly(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	hookID, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	one := `{"event":"contact_created","data":{"contact":{"id":"c"}}}`
	tooMany := `{"events":[` + strings.TrimSuffix(strings.Repeat(one+",", MaxBatch+1), ",") + `]}`
	big := `{"event":"contact_created","data":{"contact":{"id":"c"},"pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"malformed JSON is a 400", "POST", "/api/v1/events", `{"event":`, 400, ""},
		{"an empty body is a 400", "POST", "/api/v1/events", "", 400, ""},
		{"a JSON array body is refused", "POST", "/api/v1/events", `[1,2]`, 422, ""},
		{"a body over 256 KiB is a 413", "POST", "/api/v1/events", big, 413, ""},
		{"an unknown event names the field", "POST", "/api/v1/events", `{"event":"contact_exploded","data":{}}`, 422, "event"},
		{"a missing event names the field", "POST", "/api/v1/events", `{"data":{}}`, 422, "event"},
		{"a missing required field is named", "POST", "/api/v1/events", `{"event":"contact_created","data":{}}`, 422, "data.contact.id"},
		{"a nested required field is named", "POST", "/api/v1/events", `{"event":"new_message","data":{"contact":{"id":"c"},"message":{"text":"hi"}}}`, 422, "data.message.channel"},
		{"an appointment needs a start", "POST", "/api/v1/events", `{"event":"appointment_booked","data":{"contact":{"id":"c"},"appointment":{}}}`, 422, "data.appointment.start"},
		{"credits need an amount", "POST", "/api/v1/events", `{"event":"credits_spent","data":{"credits":{}}}`, 422, "data.credits.amount"},
		{"data must be an object", "POST", "/api/v1/events", `{"event":"contact_created","data":"c1"}`, 422, "data"},
		{"a bad timestamp is refused", "POST", "/api/v1/events", `{"event":"contact_created","data":{"contact":{"id":"c"}},"timestamp":"yesterday"}`, 422, "timestamp"},
		{"a bad id is refused", "POST", "/api/v1/events", `{"event":"contact_created","data":{"contact":{"id":"c"}},"id":"has spaces"}`, 422, "id"},
		{"a wrong type is refused", "POST", "/api/v1/events", `{"event":42,"data":{}}`, 422, "event"},
		{"an unknown top-level field is refused", "POST", "/api/v1/events", `{"event":"contact_created","data":{"contact":{"id":"c"}},"evnt":"x"}`, 422, "evnt"},
		{"a bad direction is refused", "POST", "/api/v1/events", `{"event":"new_message","data":{"contact":{"id":"c"},"message":{"text":"t","channel":"sms","direction":"sideways"}}}`, 422, "data.message.direction"},
		{"test_event cannot be ingested", "POST", "/api/v1/events", `{"event":"test_event","data":{}}`, 422, "event"},
		{"a batch names the bad index", "POST", "/api/v1/events/batch", `{"events":[{"event":"contact_created","data":{"contact":{"id":"a"}}},{"event":"contact_created","data":{}}]}`, 422, "events[1].data.contact.id"},
		{"an empty batch is refused", "POST", "/api/v1/events/batch", `{"events":[]}`, 422, "events"},
		{"a batch over 1000 events is refused", "POST", "/api/v1/events/batch", tooMany, 422, "events"},
		{"a webhook needs events or tags", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h"}`, 422, "events"},
		{"a webhook needs a url", "POST", "/api/v1/webhooks", `{"events":["contact_created"]}`, 422, "url"},
		{"a webhook event must exist", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["nope"]}`, 422, "events[0]"},
		{"an empty tag is refused", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","tags":["vip","  "]}`, 422, "tags[1]"},
		{"an unknown sink is refused", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["*"],"sink":"pigeon"}`, 422, "sink"},
		{"a reserved header is refused", "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["*"],"headers":{"webhook-signature":"x"}}`, 422, "headers.webhook-signature"},
		{"a non-URL is refused", "POST", "/api/v1/webhooks", `{"url":"ftp://example.com","events":["*"]}`, 422, "url"},
		{"an unknown webhook is a 404", "GET", "/api/v1/webhooks/wh_nope", nil, 404, ""},
		{"an unknown delivery is a 404", "POST", "/api/v1/deliveries/dlv_nope/retry", nil, 404, ""},
		{"an unknown event id is a 404", "GET", "/api/v1/events/evt_nope", nil, 404, ""},
		{"an unknown route is a 404", "GET", "/api/v1/nothing", nil, 404, ""},
		{"a bad limit is refused", "GET", "/api/v1/events?limit=0", nil, 422, "limit"},
		{"a bad cursor is refused", "GET", "/api/v1/events?after=abc", nil, 422, "after"},
		{"a bad status filter is refused", "GET", "/api/v1/webhooks/" + hookID + "/deliveries?status=lost", nil, 422, "status"},
		{"replay needs a since", "POST", "/api/v1/webhooks/" + hookID + "/replay", `{"status":"failed"}`, 422, "since"},
		{"a token needs a scope", "POST", "/api/v1/tokens", `{"name":"x","scope":"root"}`, 422, "scope"},
		{"a test event must exist", "POST", "/api/v1/webhooks/" + hookID + "/test", `{"event":"nope"}`, 422, "event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := s.request(tc.method, tc.path, tc.body, s.Token)
			if code != tc.status {
				t.Fatalf("status = %d, want %d: %s", code, tc.status, raw)
			}
			_, field := errorOf(t, raw)
			if field != tc.field {
				t.Fatalf("field = %q, want %q (%s)", field, tc.field, raw)
			}
		})
	}
	t.Run("nothing was stored by the refused requests", func(t *testing.T) {
		if n := len(s.must("GET", "/api/v1/events", nil, 200)["data"].([]any)); n != 0 {
			t.Fatalf("%d events stored", n)
		}
		if n := len(s.must("GET", "/api/v1/webhooks", nil, 200)["data"].([]any)); n != 1 {
			t.Fatalf("%d webhooks stored", n)
		}
		rc.none(t, 50*time.Millisecond)
	})
}

func TestAuth(t *testing.T) {
	s := newTestServer(t)
	ingest := s.must("POST", "/api/v1/tokens", map[string]any{"name": "platform", "scope": "ingest"}, 201)
	ingestToken := ingest["token"].(string)
	event := map[string]any{"event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "c"}}}
	cases := []struct {
		name         string
		method, path string
		body         any
		token        string
		status       int
	}{
		{"no token is a 401", "GET", "/api/v1/webhooks", nil, "", 401},
		{"a wrong token is a 401", "GET", "/api/v1/webhooks", nil, "nope", 401},
		{"an ingest token can post events", "POST", "/api/v1/events", event, ingestToken, 202},
		{"an ingest token can post batches", "POST", "/api/v1/events/batch", map[string]any{"events": []any{event}}, ingestToken, 202},
		{"an ingest token cannot list webhooks", "GET", "/api/v1/webhooks", nil, ingestToken, 403},
		{"an ingest token cannot read events", "GET", "/api/v1/events", nil, ingestToken, 403},
		{"an ingest token cannot make tokens", "POST", "/api/v1/tokens", map[string]any{"name": "x", "scope": "admin"}, ingestToken, 403},
		{"the admin token can do everything", "GET", "/api/v1/tokens", nil, s.Token, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := s.request(tc.method, tc.path, tc.body, tc.token)
			if code != tc.status {
				t.Fatalf("status = %d, want %d: %s", code, tc.status, raw)
			}
			if code >= 400 {
				errorOf(t, raw)
			}
		})
	}
	t.Run("the token value is shown only on create", func(t *testing.T) {
		list := s.must("GET", "/api/v1/tokens", nil, 200)["data"].([]any)
		for _, tok := range list {
			if _, ok := tok.(map[string]any)["token"]; ok {
				t.Fatalf("token list shows a value: %v", tok)
			}
		}
	})
	t.Run("a deleted token stops working", func(t *testing.T) {
		s.must("DELETE", "/api/v1/tokens/"+ingest["id"].(string), nil, 204)
		if code, _ := s.request("POST", "/api/v1/events", event, ingestToken); code != 401 {
			t.Fatalf("status = %d", code)
		}
	})
	t.Run("health and metrics need no token", func(t *testing.T) {
		if code, _ := s.request("GET", "/healthz", nil, ""); code != 200 {
			t.Fatalf("healthz = %d", code)
		}
		code, raw := s.request("GET", "/metrics", nil, "")
		for _, want := range []string{"herald_events_ingested_total", "herald_queue_depth", "herald_attempt_duration_seconds", "herald_reconcile_repairs_total"} {
			if code != 200 || !strings.Contains(string(raw), want) {
				t.Fatalf("metrics (%d) lack %s", code, want)
			}
		}
	})
}

func TestIdempotentIngest(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"contact_created"}})
	body := map[string]any{"id": "platform-123", "event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "c"}},
		"timestamp": "2026-11-27T08:00:00.123+01:00"}
	first := s.must("POST", "/api/v1/events", body, 202)
	if first["id"] != "platform-123" || first["deliveries"].(float64) != 1 || first["timestamp"] != "2026-11-27T07:00:00.123Z" {
		t.Fatalf("first = %v", first)
	}
	rc.next(t, 5*time.Second)
	t.Run("the same id and content answers 200 and creates nothing", func(t *testing.T) {
		again := s.must("POST", "/api/v1/events", body, 200)
		if again["id"] != "platform-123" || again["deliveries"].(float64) != 1 {
			t.Fatalf("again = %v", again)
		}
		rc.none(t, 150*time.Millisecond)
	})
	t.Run("the same id with other data is a 409", func(t *testing.T) {
		other := map[string]any{"id": "platform-123", "event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "someone else"}}}
		code, raw := s.request("POST", "/api/v1/events", other, s.Token)
		if code != 409 {
			t.Fatalf("status = %d: %s", code, raw)
		}
		errorOf(t, raw)
	})
	t.Run("a batch is all or nothing", func(t *testing.T) {
		batch := map[string]any{"events": []any{
			map[string]any{"id": "b-1", "event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "c"}}},
			map[string]any{"id": "platform-123", "event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "conflict"}}},
		}}
		if code, raw := s.request("POST", "/api/v1/events/batch", batch, s.Token); code != 409 {
			t.Fatalf("status = %d: %s", code, raw)
		}
		if code, _ := s.request("GET", "/api/v1/events/b-1", nil, s.Token); code != 404 {
			t.Fatalf("b-1 was stored although the batch failed (%d)", code)
		}
	})
}

func TestWebhookLifecycle(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	created := s.must("POST", "/api/v1/webhooks", map[string]any{"name": "CRM", "url": rc.URL, "events": []string{"contact_created"},
		"tags": []string{" Qualified-Lead "}, "headers": map[string]string{"X-Api-Key": "k"}}, 201)
	id := created["id"].(string)
	secret := created["secret"].(string)
	t.Run("create answers the whole object with a whsec_ secret", func(t *testing.T) {
		if !strings.HasPrefix(secret, "whsec_") || created["enabled"] != true || created["sink"] != "webhook" ||
			fmt.Sprint(created["tags"]) != "[qualified-lead]" || created["created_at"] == "" {
			t.Fatalf("created = %v", created)
		}
	})
	t.Run("a second webhook on the same URL carries a warning", func(t *testing.T) {
		dup := s.must("POST", "/api/v1/webhooks", map[string]any{"url": rc.URL + "/", "events": []string{"new_message"}}, 201)
		if len(dup["warnings"].([]any)) != 1 {
			t.Fatalf("warnings = %v", dup["warnings"])
		}
		s.must("DELETE", "/api/v1/webhooks/"+dup["id"].(string), nil, 204)
	})
	t.Run("patch changes only what it names", func(t *testing.T) {
		p := s.must("PATCH", "/api/v1/webhooks/"+id, map[string]any{"enabled": false}, 200)
		if p["enabled"] != false || p["name"] != "CRM" || p["url"] != rc.URL {
			t.Fatalf("patched = %v", p)
		}
		m := s.must("POST", "/api/v1/events", map[string]any{"event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "c"}}}, 202)
		if m["deliveries"].(float64) != 0 {
			t.Fatal("a disabled webhook got a delivery")
		}
		s.must("PATCH", "/api/v1/webhooks/"+id, map[string]any{"enabled": true}, 200)
	})
	t.Run("send test event answers with the receiver's reply", func(t *testing.T) {
		rc.setRespond(func(received) (int, string, map[string]string) { return 200, `{"hello":"herald"}`, nil })
		m := s.must("POST", "/api/v1/webhooks/"+id+"/test", map[string]any{"event": "contact_created"}, 200)
		r := rc.next(t, time.Second)
		if m["delivered"] != true || m["status_code"].(float64) != 200 || m["response_body"] != `{"hello":"herald"}` || r.Env.Event != "contact_created" {
			t.Fatalf("test = %v, got %s", m, r.Body)
		}
		if r.Header.Get("X-Api-Key") != "k" {
			t.Fatalf("custom header missing: %v", r.Header)
		}
		verify(t, r, secret)
	})
	t.Run("a failing test event says why", func(t *testing.T) {
		rc.setRespond(func(received) (int, string, map[string]string) { return 500, "boom", nil })
		m := s.must("POST", "/api/v1/webhooks/"+id+"/test", nil, 200)
		rc.next(t, time.Second)
		if m["delivered"] != false || m["status_code"].(float64) != 500 || m["error"] == "" {
			t.Fatalf("test = %v", m)
		}
		rc.setRespond(nil)
	})
	t.Run("rotation keeps the old secret valid and sends both signatures", func(t *testing.T) {
		rot := s.must("POST", "/api/v1/webhooks/"+id+"/secret/rotate", nil, 200)
		newSecret := rot["secret"].(string)
		if newSecret == secret || rot["previous_secret_expires_at"] == "" {
			t.Fatalf("rotated = %v", rot)
		}
		s.must("POST", "/api/v1/webhooks/"+id+"/test", nil, 200)
		r := rc.next(t, time.Second)
		verify(t, r, secret)
		verify(t, r, newSecret)
		if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
			t.Fatalf("%d signatures, want 2", n)
		}
	})
	t.Run("delete removes the webhook", func(t *testing.T) {
		s.must("DELETE", "/api/v1/webhooks/"+id, nil, 204)
		s.must("GET", "/api/v1/webhooks/"+id, nil, 404)
	})
}

func TestSSRFGuardByDefault(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.AllowHTTP, c.AllowPrivateNetworks = false, false })
	for _, u := range []string{"http://example.com/h", "https://127.0.0.1/h", "https://[::1]/h", "https://10.0.0.1/h",
		"https://169.254.169.254/latest/meta-data", "https://[::ffff:127.0.0.1]/h", "https://localhost/h"} {
		t.Run(u+" is refused at save time", func(t *testing.T) {
			code, raw := s.request("POST", "/api/v1/webhooks", map[string]any{"url": u, "events": []string{"*"}}, s.Token)
			if code != 422 {
				t.Fatalf("status = %d: %s", code, raw)
			}
			if _, field := errorOf(t, raw); field != "url" {
				t.Fatalf("field = %q", field)
			}
		})
	}
	t.Run("a public https URL is accepted", func(t *testing.T) {
		s.must("POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/h", "events": []string{"*"}}, 201)
	})
}

func TestDialGuardStopsRebinding(t *testing.T) {
	// The URL check passes a hostname; the dial guard must still refuse the
	// loopback address it resolves to.
	s := newTestServer(t, func(c *Config) { c.AllowPrivateNetworks = false })
	rc := newReceiver(t)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	// The machine's own hostname resolves to loopback here (/etc/hosts), like
	// a rebinding name would; "localhost" itself is already refused by name.
	host, _ := os.Hostname()
	if addrs, err := net.LookupHost(host); err != nil || len(addrs) == 0 || !strings.HasPrefix(addrs[0], "127.") {
		host = "localhost"
	}
	h := &Webhook{ID: "wh_rebind", Name: "rebind", URL: "http://" + host + ":" + port + "/", Sink: "webhook", Events: []string{"*"},
		Enabled: true, Config: map[string]any{}, Tags: []string{}, Headers: map[string]string{}, Secret: sinks.NewSecret(),
		CreatedAt: 1, UpdatedAt: 1}
	if err := s.App.store.CreateWebhook(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	m := s.must("POST", "/api/v1/webhooks/wh_rebind/test", nil, 200)
	if m["delivered"] != false || !strings.Contains(m["error"].(string), "blocked") {
		t.Fatalf("test = %v", m)
	}
	rc.none(t, 100*time.Millisecond)
}

func TestEventsCatchUp(t *testing.T) {
	s := newTestServer(t)
	for i := range 5 {
		s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": fmt.Sprint("c", i)}})
	}
	s.ingest("credits_spent", map[string]any{"credits": map[string]any{"amount": 1}})
	page := s.must("GET", "/api/v1/events?limit=2", nil, 200)
	if len(page["data"].([]any)) != 2 || page["next_cursor"] == "" {
		t.Fatalf("page = %v", page)
	}
	var ids []string
	cursor := ""
	for {
		p := s.must("GET", "/api/v1/events?limit=2&event=contact_created&after="+cursor, nil, 200)
		for _, e := range p["data"].([]any) {
			ids = append(ids, e.(map[string]any)["data"].(map[string]any)["contact"].(map[string]any)["id"].(string))
		}
		cursor = p["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[c0 c1 c2 c3 c4]" {
		t.Fatalf("ids = %v", ids)
	}
	one := s.must("GET", "/api/v1/events?contact_id=c3", nil, 200)["data"].([]any)
	if len(one) != 1 {
		t.Fatalf("contact filter = %v", one)
	}
	code, _ := s.request("GET", "/api/v1/event-types", nil, s.Token)
	if code != http.StatusOK {
		t.Fatalf("event-types = %d", code)
	}
}

func TestOddBodiesNeverCauseA500(t *testing.T) {
	s := newTestServer(t)
	rc := newReceiver(t)
	hookID, _ := s.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	bodies := []string{"null", "[]", "123", `"text"`, "{}", `{"events":null}`, `{"event":null,"data":null}`, deep,
		"{\"event\":\"contact_created\",\"data\":{\"contact\":{\"id\":\"\xff\xfe\"}}}", `{"event":"contact_created","data":{"contact":{"id":1e999}}}`,
		`{"events":[{}]}`, `{"url":123}`, `{"tags":[1,2]}`, `{"headers":{"X":1}}`, `{"config":[]}`, `{"since":"2026-13-45T99:00:00Z"}`,
		`{"event":"contact_created","data":{"contact":{"id":{"nested":true}}}}`, `{"name":"x","scope":null}`, "\x00\x01"}
	endpoints := []struct{ method, path string }{
		{"POST", "/api/v1/events"}, {"POST", "/api/v1/events/batch"}, {"POST", "/api/v1/webhooks"},
		{"PATCH", "/api/v1/webhooks/" + hookID}, {"POST", "/api/v1/webhooks/" + hookID + "/test"},
		{"POST", "/api/v1/webhooks/" + hookID + "/replay"}, {"POST", "/api/v1/tokens"},
	}
	for _, ep := range endpoints {
		for i, body := range bodies {
			code, raw := s.request(ep.method, ep.path, body, s.Token)
			if code >= 500 {
				t.Errorf("%s %s with body #%d: status %d: %s", ep.method, ep.path, i, code, raw)
				continue
			}
			if code >= 400 {
				errorOf(t, raw)
			}
		}
	}
	if code, _ := s.request("GET", "/healthz", nil, ""); code != 200 {
		t.Fatalf("server unhealthy after odd bodies: %d", code)
	}
	h := s.must("GET", "/api/v1/webhooks/"+hookID, nil, 200)
	if h["url"] != rc.URL || h["enabled"] != true {
		t.Fatalf("a refused PATCH changed the webhook: %v", h)
	}
}
