package app

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald/app/store"
)

// Fuzz targets for what comes from outside: ingest bodies, webhook bodies
// and the config file. `make fuzz` runs each for a few seconds; seeds are in
// testdata/fuzz/<target>. A crash found becomes a seed there, so plain
// `go test` replays it for good.

// checkRefusal fails unless err is the API's error with a 4xx status.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error: it would answer 500", err, err)
	}
	if status := codeStatus[e.Code]; status < 400 || status >= 500 {
		t.Fatalf("error %q answers %d, want a 4xx", e.Code, status)
	}
	if e.Message == "" || !utf8.ValidString(e.Message) || !utf8.ValidString(e.Field) {
		t.Fatalf("error %+v: message empty or not UTF-8", e)
	}
}

func FuzzEventIngest(f *testing.F) {
	f.Add([]byte(`{"event":"contact_created","data":{"contact":{"id":"c1","name":"Ana"}}}`))
	f.Add([]byte(`{"event":"tag_applied","data":{"contact":{"id":"c1"},"tag":" VIP "},"id":"evt_1","timestamp":"2026-11-27T08:00:00.123Z"}`))
	f.Add([]byte(`{"event":"new_message","data":{"contact":{"id":"c1"},"message":{"text":"hi","channel":"sms","direction":"outbound"}}}`))
	f.Add([]byte(`{"events":[{"event":"credits_spent","data":{"credits":{"amount":5}}}]}`))
	f.Add([]byte(`{"event":"contact_created","data":{"contact":{"id":"\xff"}}}`))
	// Each of what json.Marshal escapes for HTML, alone (envelopeBody).
	for _, s := range []string{"<", ">", "&", "\u2028", "\u2029", ` "`, `\u003c`} {
		f.Add([]byte(`{"event":"contact_created","id":"evt_2","data":{"contact":{"id":"c` + s + `"}}}`))
	}
	ids := store.NewIDGen()
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in EventInput
		if err := decodeBody(body, &in); err != nil {
			checkRefusal(t, err)
			return
		}
		ev, verr := prepareEvent(&in, "", now, ids)
		if verr != nil {
			checkRefusal(t, verr)
			return
		}
		if !json.Valid(ev.Data) || !utf8.Valid(ev.Data) || ev.Data[0] != '{' || store.JSONDepth(ev.Data) > MaxJSONDepth {
			t.Fatalf("accepted data that is not a valid, shallow, UTF-8 object: %q", ev.Data)
		}
		if !eventIDPattern.MatchString(ev.ID) || catalogByName[ev.Event] == nil || ev.Event == TestEvent {
			t.Fatalf("accepted id %q event %q", ev.ID, ev.Event)
		}
		var env map[string]any
		encoded := envelopeBody(envelopeOf(ev))
		if err := json.Unmarshal(encoded, &env); err != nil {
			t.Fatalf("the envelope of an accepted event does not decode: %v", err)
		}
		if want, _ := json.Marshal(envelopeOf(ev)); string(encoded) != string(want) {
			t.Fatalf("envelope %s, json.Marshal gives %s", encoded, want)
		}
		// The same event again hashes the same: idempotency depends on it.
		again, verr := prepareEvent(&in, "", now, ids)
		if verr != nil || again.ContentHash != ev.ContentHash {
			t.Fatalf("preparing the same input twice differs: %v", verr)
		}
	})
}

// fuzzApp is an App with the real sinks and the strict URL policy, not started.
func fuzzApp(f *testing.F) *App {
	cfg := DefaultConfig()
	cfg.DataDir = f.TempDir()
	cfg.AdminToken = testAdminToken
	a, err := New(cfg, Options{Schema: testSchema(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.store.Close() })
	return a
}

func FuzzWebhookBody(f *testing.F) {
	f.Add([]byte(`{"url":"https://example.com/h","events":["contact_created"],"tags":["VIP"],"headers":{"X-Team":"a"}}`), false)
	f.Add([]byte(`{"sink":"slack","url":"https://hooks.slack.com/services/T/B/x","events":["human_alerted"]}`), false)
	f.Add([]byte(`{"name":"renamed","enabled":false,"config":{"a":[1,{"b":null}]}}`), true)
	f.Add([]byte(`{"url":"https://0177.0.0.1/h","events":["*"]}`), false)
	f.Add([]byte(`{"headers":{"X-A":"\u0000"}}`), true)
	a := fuzzApp(f)
	base := &Webhook{ID: "wh_fuzz", Name: "base", URL: "https://example.com/h", Sink: "webhook", Enabled: true,
		Config: map[string]any{}, Events: []string{"contact_created"}, Tags: []string{}, Headers: map[string]string{},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	f.Fuzz(func(t *testing.T, body []byte, update bool) {
		in, err := decodeWebhookInput(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		h := &Webhook{Sink: "webhook", Enabled: true, Config: map[string]any{}, Events: []string{}, Tags: []string{},
			Headers: map[string]string{}, Secret: base.Secret}
		if update {
			c := *base
			c.Headers = maps.Clone(base.Headers)
			h = &c
		}
		if err := a.applyWebhookInput(h, &in); err != nil {
			checkRefusal(t, err)
			return
		}
		if len(h.Events) == 0 && len(h.Tags) == 0 {
			t.Fatal("accepted a webhook with neither events nor tags")
		}
		for k, v := range h.Headers {
			if !headerName.MatchString(k) || reservedHeader(k) || !validHeaderValue(v) {
				t.Fatalf("accepted header %q: %q", k, v)
			}
		}
		if h.Sink == "webhook" {
			if err := a.policy.CheckURL(h.URL); err != nil {
				t.Fatalf("accepted a URL the policy refuses: %q: %v", h.URL, err)
			}
		}
		out, err := json.Marshal(h.Config)
		if err != nil || !utf8.Valid(out) || store.JSONDepth(out) > MaxJSONDepth {
			t.Fatalf("accepted config that does not encode as shallow UTF-8 JSON: %v", err)
		}
		if !utf8.ValidString(h.Name) || len([]rune(h.Name)) > 200 {
			t.Fatalf("accepted name %q", h.Name)
		}
	})
}

func FuzzConfig(f *testing.F) {
	example, err := os.ReadFile("../config.example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "")
	f.Add("listen = \"0.0.0.0:9000\"\n[delivery]\ntimeout = \"3s\"\n", "HERALD_RETRY_SCHEDULE=1s,2s\nHERALD_SYNC=full")
	f.Add("[reconcile]\nschedule = \"@every 5m\"\n[plugins.sha256]\njsonl = \"00\"\n", "HERALD_DELIVERY_WORKERS=0")
	f.Add("body_limit = -1\n", "HERALD_ALLOW_HTTP=maybe")
	path := filepath.Join(f.TempDir(), "herald.toml") // one per fuzz worker process, which runs inputs one at a time
	f.Fuzz(func(t *testing.T, file, env string) {
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for line := range strings.Lines(env) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.HasPrefix(k, "HERALD_") && !strings.HasSuffix(k, "_FILE") {
				vars[k] = v
			}
		}
		cfg, err := LoadConfig(path, func(k string) string { return vars[k] })
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig accepted what Validate refuses: %v", err)
		}
		if _, err := ParseRetrySchedule(cfg.Delivery.RetrySchedule); err != nil || cfg.BodyLimit < 1024 || cfg.Delivery.Workers < 1 {
			t.Fatalf("accepted config %+v", cfg)
		}
	})
}

// fuzzAPI is a fuzzApp that answers requests in process (no listener),
// holding a webhook (its id returned), an event and the event's delivery.
func fuzzAPI(f *testing.F) (a *App, hookID string) {
	a = fuzzApp(f)
	status, body := fuzzCall(f, a, "POST", "/api/v1/webhooks", `{"url":"https://example.com/h","events":["*"]}`)
	var hook struct{ ID string }
	if status != http.StatusCreated || json.Unmarshal(body, &hook) != nil {
		f.Fatalf("create webhook: %d %s", status, body)
	}
	if status, body = fuzzCall(f, a, "POST", "/api/v1/events", `{"id":"evt_fuzz","event":"contact_created","data":{"contact":{"id":"c1"}}}`); status != http.StatusAccepted {
		f.Fatalf("ingest: %d %s", status, body)
	}
	return a, hook.ID
}

// fuzzCall sends one request with the admin token to a's handlers.
func fuzzCall(tb testing.TB, a *App, method, target, body string) (int, []byte) {
	req, err := http.NewRequest(method, "http://herald.test"+target, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.fiber.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// checkAnswer fails unless an answer is a 2xx with JSON (or nothing, for
// 204), or a 4xx in the contract's error shape with the status its code
// names: never a 5xx.
func checkAnswer(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	switch {
	case status == http.StatusNoContent:
	case status >= 200 && status < 300:
		if !json.Valid(body) {
			t.Fatalf("%s: %d with a body that is not JSON: %q", what, status, body)
		}
	case status >= 400 && status < 500:
		var e errorBody
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || codeStatus[e.Error.Code] != status {
			t.Fatalf("%s: %d with a body not in the error shape: %q", what, status, body)
		}
	default:
		t.Fatalf("%s: %d %s", what, status, body)
	}
}

// requestLine drops what a client cannot put on a request line (spaces,
// controls, a fragment).
func requestLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '#' {
			return -1
		}
		return r
	}, s)
}

// fuzzReads are the GET endpoints FuzzAPIQuery tries, with {id} replaced
// by the fuzzed id.
var fuzzReads = []string{"/api/v1/events", "/api/v1/events/{id}", "/api/v1/event-types", "/api/v1/webhooks",
	"/api/v1/webhooks/{id}", "/api/v1/webhooks/{id}/deliveries", "/api/v1/deliveries/{id}", "/api/v1/tokens",
	"/api/v1/plugins", "/api/v1/reconcile/runs", "/api/v1/stats", "/api/v1/settings"}

// FuzzAPIQuery sends GET requests with any query string and id to the list
// and read endpoints of a real App: every answer passes checkAnswer.
func FuzzAPIQuery(f *testing.F) {
	a, hookID := fuzzAPI(f)
	for i, q := range []string{"", "limit=2", "limit=0", "limit=-1&after=x", "after=evt_fuzz&order=asc", "event=contact_created&contact_id=c1",
		"webhook_id=" + hookID + "&delivery_status=failed", "status=pending", "limit=99999999999999999999", "since=2026-11-30T00:00:00Z", "a=%zz&a=1"} {
		f.Add(uint8(i), hookID, q)
	}
	f.Add(uint8(1), "evt_fuzz", "")
	f.Add(uint8(6), "dlv_01JDZ8T2V3X4Y5Z6A7B8C9D0EF", "")
	f.Fuzz(func(t *testing.T, which uint8, id, query string) {
		target := strings.ReplaceAll(fuzzReads[int(which)%len(fuzzReads)], "{id}", url.PathEscape(id))
		if query = requestLine(query); query != "" {
			target += "?" + query
		}
		status, body := fuzzCall(t, a, "GET", target, "")
		checkAnswer(t, "GET "+target, status, body)
	})
}

// fuzzWrites are the endpoints FuzzAPIWrite posts bodies to ({hook} is the
// App's webhook, {id} the fuzzed id). Left out: deleting the webhook (the
// rest would only answer 404 after), its test send and the reconcile run
// (they reach out to the network).
var fuzzWrites = []struct{ method, path string }{
	{"POST", "/api/v1/events"}, {"POST", "/api/v1/events/batch"}, {"POST", "/api/v1/webhooks"},
	{"PATCH", "/api/v1/webhooks/{hook}"}, {"POST", "/api/v1/webhooks/{hook}/replay"}, {"POST", "/api/v1/webhooks/{id}/replay"},
	{"POST", "/api/v1/webhooks/{hook}/secret/rotate"}, {"POST", "/api/v1/deliveries/{id}/retry"}, {"POST", "/api/v1/tokens"},
	{"DELETE", "/api/v1/tokens/{id}"}, {"POST", "/api/v1/plugins/reload"},
}

// FuzzAPIWrite sends any body to the endpoints that change things, on a
// real App whose state carries over from one input to the next: every
// answer passes checkAnswer.
func FuzzAPIWrite(f *testing.F) {
	a, hookID := fuzzAPI(f)
	for i, body := range []string{
		`{"id":"evt_2","event":"tag_applied","data":{"contact":{"id":"c1"},"tag":"VIP"}}`,
		`{"events":[{"event":"contact_created","data":{"contact":{"id":"c2"}}},{"event":"bogus","data":{}}]}`,
		`{"url":"https://example.com/b","events":["contact_created"],"headers":{"X-A":"1"}}`,
		`{"enabled":false,"url":"http://127.0.0.1/x"}`,
		`{"since":"2026-11-27T08:00:00Z","until":"2026-11-28T08:00:00Z","status":"all","dry_run":true}`,
		`{"since":"9999-12-31T23:59:59.999999999Z"}`,
		`{"expire_previous_in":"24h"}`,
		``,
		`{"name":"ci","scope":"ingest"}`,
		`null`,
		`{}`,
	} {
		f.Add(uint8(i), "dlv_01JDZ8T2V3X4Y5Z6A7B8C9D0EF", body)
	}
	f.Fuzz(func(t *testing.T, which uint8, id, body string) {
		w := fuzzWrites[int(which)%len(fuzzWrites)]
		target := strings.NewReplacer("{hook}", hookID, "{id}", url.PathEscape(id)).Replace(w.path)
		status, out := fuzzCall(t, a, w.method, target, body)
		checkAnswer(t, w.method+" "+target+" "+body, status, out)
	})
}

// FuzzCommand checks the command line: any arguments give a known command
// or an error with a message, never a panic, and what is accepted holds
// what each command needs.
func FuzzCommand(f *testing.F) {
	for _, args := range []string{"", "serve --config herald.toml", "backup /tmp/copy.db", "backup --config x.toml",
		"migrate --to postgres://u@h/db", "version", "help", "-h", "--version", "serve -config=a -config=b", "bogus", "backup a b"} {
		f.Add(args)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := ParseCommand(strings.Fields(line))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		switch cmd.Name {
		case "serve", "version", "help":
		case "backup":
			if cmd.BackupFile == "" {
				t.Fatalf("backup accepted without a file: %q", line)
			}
		case "migrate":
			if cmd.MigrateTo == "" {
				t.Fatalf("migrate accepted without --to: %q", line)
			}
		default:
			t.Fatalf("ParseCommand(%q) = unknown command %q", line, cmd.Name)
		}
	})
}
