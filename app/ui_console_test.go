package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserConsoleUI drives the operator's pages (overview, events,
// tokens, plugins, reconciliation) in real Chromium, on a desktop and on a
// 390 px phone, against a server with real deliveries and real plugins.
func TestBrowserConsoleUI(t *testing.T) {
	b := newUIBrowser(t)
	pluginDir := t.TempDir()
	buildPlugin(t, pluginDir, "jsonl")
	broken := "#!/bin/sh\necho 'this is not a Herald plugin' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(pluginDir, "herald-sink-broken"), []byte(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	// The source answers "caught up" at once, unless a test holds it to keep
	// a reconciliation run busy.
	var hold sync.RWMutex
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hold.RLock()
		defer hold.RUnlock()
		_, _ = io.WriteString(w, `{"data":[],"next_cursor":""}`)
	}))
	t.Cleanup(source.Close)
	srv := newTestServer(t, func(c *Config) {
		c.Plugins.Dir = pluginDir
		c.Reconcile.SourceURL = source.URL
	})
	strict := newTestServer(t, func(c *Config) { c.AllowHTTP, c.AllowPrivateNetworks = false, false })
	// Close the browser before the servers shut down, so no connection of
	// its keeps a shutdown waiting.
	t.Cleanup(b.close)
	rc := newReceiver(t)
	id := func(s string) chromedp.ID { return chromedp.ID(s) }

	// Every request the page makes, to check that none leaves the origin.
	var mu sync.Mutex
	var requested []string
	requests := chromedp.Events(b.ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			mu.Lock()
			requested = append(requested, ev.Request.URL)
			mu.Unlock()
		}
	}()

	hook, _ := srv.createWebhook(map[string]any{"name": "CRM contacts", "url": rc.URL + "/hook", "events": []string{"contact_created"}})
	var matched []string
	for i := range 5 {
		matched = append(matched, srv.ingest("contact_created", map[string]any{"contact": map[string]any{"id": fmt.Sprint("c_", i), "name": fmt.Sprint("Ana ", i)}}))
	}
	unmatched := srv.ingest("human_alerted", map[string]any{"contact": map[string]any{"id": "c_lonely", "name": "Lonely"}, "reason": "asked for a person"})
	for range matched {
		rc.next(t, 10*time.Second)
	}

	b.do(t, "sign in",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(id("login-token")),
		chromedp.SetValue(id("login-token"), srv.Token),
		chromedp.Click(id("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-row"]`)))

	// open goes to a page by its address and waits until predicate holds.
	loads := 0
	open := func(t *testing.T, hash, what, predicate string) {
		t.Helper()
		loads++ // a new address each time, so the page loads afresh
		b.do(t, "open "+hash, chromedp.Navigate(fmt.Sprintf("%s/?load=%d%s", srv.URL, loads, hash)))
		b.waitFor(t, what, predicate, 10*time.Second)
	}
	fits := func(t *testing.T, width int64) {
		t.Helper()
		if w := eval[int64](t, b, "document.documentElement.scrollWidth"); w > width {
			t.Errorf("the page is %d px wide on a %d px screen", w, width)
		}
	}

	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprintf("at %d px", width), func(t *testing.T) {
			b.do(t, "resize", chromedp.EmulateViewport(width, 900))

			t.Run("the overview charts the deliveries that happened", func(t *testing.T) {
				open(t, "#/overview", "the overview charts to show 5 successes",
					`document.getElementById("overview-charts").dataset.succeeded === "5"`)
				if n := eval[int](t, b, `document.querySelectorAll('#overview-charts [data-testid="chart-deliveries"] rect.ok').length`); n == 0 {
					t.Error("the deliveries chart has no bar for the successes")
				}
				if n := eval[int](t, b, `document.querySelectorAll('#overview-charts [data-testid="chart-latency"] circle.p50').length`); n == 0 {
					t.Error("the latency chart has no p50 point")
				}
				b.do(t, "switch to the last hour", chromedp.Click(chromedp.CSS(`[data-window-for="overview-charts"] [data-window="1h"]`)))
				b.waitFor(t, "the 1 h chart", `document.querySelectorAll('#overview-charts [data-testid="chart-deliveries"] .bucket').length === 60`, 5*time.Second)
				if got := eval[string](t, b, `document.getElementById("overview-charts").dataset.succeeded`); got != "5" {
					t.Errorf("the last hour shows %s successes, want 5", got)
				}
				fits(t, width)
				b.keep(t, "overview")
			})

			t.Run("a webhook's page charts its own deliveries", func(t *testing.T) {
				open(t, "#/webhooks/"+hook, "the webhook's charts and log", `document.getElementById("wh-charts").dataset.succeeded === "5" && document.querySelectorAll('[data-testid="delivery-row"]').length === 5`)
				if got := b.text(t, "tab-deliveries"); got != "Delivery log" {
					t.Errorf("the log tab is called %q; the event type message_delivered is already called Deliveries", got)
				}
				if n := eval[int](t, b, `document.querySelectorAll('[data-testid="delivery-retry"]').length`); n != 0 {
					t.Errorf("%d succeeded rows offer Retry; they should offer Resend", n)
				}
				if n := eval[int](t, b, `document.querySelectorAll('[data-testid="delivery-resend"]').length`); n != 5 {
					t.Errorf("%d rows offer Resend, want the 5 that succeeded", n)
				}
				b.do(t, "filter on failed", chromedp.SetValue(id("delivery-filter"), "failed"),
					chromedp.Evaluate[chromedp.Void](`document.getElementById("delivery-filter").dispatchEvent(new Event("change"))`))
				b.waitFor(t, "the empty filter message", `!document.getElementById("delivery-empty").hidden`, 5*time.Second)
				if got := b.text(t, "delivery-empty"); !strings.Contains(got, "No delivery matches this filter") {
					t.Errorf("an empty filter says %q", got)
				}
				if eval[string](t, b, `document.getElementById("crumb-settings").tagName`) != "A" {
					t.Error("the Settings breadcrumb is not a link")
				}
				fits(t, width)
				b.keep(t, "webhook-charts")
			})

			t.Run("an event that matched nothing is found on the Events page", func(t *testing.T) {
				open(t, "#/events", "the events list", `document.querySelectorAll('[data-testid="event-row"]').length === 6`)
				if first := eval[string](t, b, `document.querySelector('[data-testid="event-row"]').dataset.id`); first != unmatched {
					t.Errorf("the first row is %s, want the newest event %s", first, unmatched)
				}
				row := fmt.Sprintf(`document.querySelector('[data-testid="event-row"][data-id=%q]')`, unmatched)
				if got := eval[string](t, b, row+`.querySelector('[data-testid="event-deliveries"]').textContent`); got != "Matched no webhook" {
					t.Errorf("the unmatched event's deliveries cell says %q", got)
				}
				b.do(t, "filter by type",
					chromedp.SetValue(id("ef-type"), "human_alerted"),
					chromedp.Click(id("ef-apply")))
				b.waitFor(t, "only the human_alerted event", `location.hash.includes("event=human_alerted") && document.querySelectorAll('[data-testid="event-row"]').length === 1`, 5*time.Second)
				fits(t, width)
				b.keep(t, "events")
				b.do(t, "open it", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="event-row"][data-id=%q] a`, unmatched))),
					chromedp.WaitVisible(chromedp.CSS(`[data-testid="event-unmatched"]`)))
				if got := eval[string](t, b, `document.querySelector('[data-testid="event-payload"]').textContent`); !strings.Contains(got, "c_lonely") {
					t.Errorf("the payload shown is %q", got)
				}
				fits(t, width)
			})

			t.Run("a matched event links each delivery to its log", func(t *testing.T) {
				open(t, "#/events/"+matched[0], "the event's deliveries", `document.querySelectorAll('[data-testid="event-delivery"]').length === 1`)
				b.keep(t, "event")
				b.do(t, "follow the link", chromedp.Click(chromedp.CSS(`[data-testid="delivery-log-link"]`)))
				b.waitFor(t, "the delivery opened in the log", `document.querySelector('[data-testid="delivery-detail"] [data-testid="attempt"]') !== null`, 10*time.Second)
				if !strings.Contains(eval[string](t, b, "location.hash"), hook) {
					t.Errorf("the link went to %s, not to the webhook's log", eval[string](t, b, "location.hash"))
				}
			})

			t.Run("a token is created, shown once, and revoked", func(t *testing.T) {
				name := fmt.Sprint("Platform ", width)
				open(t, "#/tokens", "the token page", `!document.getElementById("tokens-view").hidden && document.getElementById("tokens-status").textContent !== "Loading…"`)
				b.do(t, "create an ingest token",
					chromedp.SetValue(id("token-name"), name),
					chromedp.SetValue(id("token-scope"), "ingest"),
					chromedp.Click(id("token-create")),
					chromedp.WaitVisible(id("token-created")))
				value := b.text(t, "token-value")
				if !strings.HasPrefix(value, "hrld_ing_") {
					t.Fatalf("the token shown is %q", value)
				}
				b.waitFor(t, "the new token in the list", fmt.Sprintf(`[...document.querySelectorAll('[data-testid="token-row"]')].some((r) => r.textContent.includes(%q))`, name), 5*time.Second)
				row := fmt.Sprintf(`[...document.querySelectorAll('[data-testid="token-row"]')].find((r) => r.textContent.includes(%q))`, name)
				if got := eval[string](t, b, row+`.querySelector('[data-testid="token-last-used"]').textContent`); got != "never" {
					t.Errorf("a new token's last use shows %q, want never", got)
				}
				fits(t, width)
				b.keep(t, "tokens")
				// An empty batch passes the token check and fails validation:
				// the token works, and no event is added for the other pages.
				if code, _ := srv.request("POST", "/api/v1/events/batch", map[string]any{"events": []any{}}, value); code != http.StatusUnprocessableEntity {
					t.Errorf("the new ingest token posts an empty batch: %d, want 422", code)
				}
				if code, _ := srv.request("GET", "/api/v1/webhooks", nil, value); code != http.StatusForbidden {
					t.Errorf("the ingest token reads webhooks: %d, want 403", code)
				}
				b.do(t, "revoke it", chromedp.Evaluate[chromedp.Void](row+`.querySelector('[data-testid="token-revoke"]').click()`),
					chromedp.WaitVisible(id("confirm-ok")))
				if got := b.text(t, "confirm-title"); !strings.Contains(got, name) {
					t.Errorf("the confirmation asks %q", got)
				}
				b.do(t, "confirm", chromedp.Click(id("confirm-ok")))
				b.waitFor(t, "the token to leave the list", fmt.Sprintf(`![...document.querySelectorAll('[data-testid="token-row"]')].some((r) => r.textContent.includes(%q))`, name), 5*time.Second)
				if code, _ := srv.request("POST", "/api/v1/events/batch", map[string]any{"events": []any{}}, value); code != http.StatusUnauthorized {
					t.Errorf("the revoked token posts a batch: %d, want 401", code)
				}
				open(t, "#/tokens", "the token page again", `document.getElementById("tokens-status").textContent !== "Loading…"`)
				if !eval[bool](t, b, `document.getElementById("token-created").hidden && !document.body.textContent.includes(`+fmt.Sprintf("%q", value)+`)`) {
					t.Error("the token value is shown again after leaving the page")
				}
			})

			t.Run("plugins show whether they run and what they take", func(t *testing.T) {
				open(t, "#/plugins", "both plugins", `document.querySelectorAll('[data-testid="plugin"]').length === 2`)
				state := func(name string) string {
					return eval[string](t, b, fmt.Sprintf(`document.querySelector('[data-testid="plugin"][data-name=%q] [data-testid="plugin-state"]').textContent`, name))
				}
				if got := state("jsonl"); got != "Running" {
					t.Errorf("jsonl shows %q, want Running", got)
				}
				if got := state("broken"); got == "Running" {
					t.Errorf("the broken plugin shows %q", got)
				}
				if got := eval[string](t, b, `document.querySelector('[data-name="broken"] [data-testid="plugin-error"]')?.textContent || ""`); got == "" {
					t.Error("the broken plugin shows no error")
				}
				if got := eval[string](t, b, `document.querySelector('[data-name="jsonl"]').textContent`); !strings.Contains(got, "path") {
					t.Errorf("jsonl's config fields are not shown: %q", got)
				}
				b.do(t, "reload", chromedp.Click(id("plugins-reload")))
				b.waitFor(t, "the reload to finish", `document.getElementById("plugins-reload").textContent === "Reload" && document.querySelectorAll('[data-testid="plugin"]').length === 2`, 15*time.Second)
				fits(t, width)
				b.keep(t, "plugins")
			})

			t.Run("a reconciliation runs from the page and shows what it did", func(t *testing.T) {
				open(t, "#/reconcile", "the runs list", `!document.getElementById("run-table").hidden || !document.getElementById("runs-empty").hidden`)
				before := eval[int](t, b, `document.querySelectorAll('[data-testid="run-row"]').length`)
				b.do(t, "run now", chromedp.Click(id("reconcile-run")))
				b.waitFor(t, "the run to finish", `document.getElementById("reconcile-status").textContent.startsWith("Run finished")`, 15*time.Second)
				b.waitFor(t, "the new run in the list", fmt.Sprintf(`document.querySelectorAll('[data-testid="run-row"]').length === %d`, before+1), 10*time.Second)
				first := `document.querySelector('[data-testid="run-row"]')`
				if got := eval[string](t, b, first+".textContent"); !strings.Contains(got, "Run now") || !strings.Contains(got, "Done") {
					t.Errorf("the newest run row reads %q", got)
				}
				if got := eval[string](t, b, first+`.querySelector('[data-testid="run-repaired"]').textContent`); got == "" {
					t.Error("the run does not say what it repaired")
				}
				fits(t, width)
				b.keep(t, "reconcile")

				// A run that is busy (its source call is held) makes Run now a 409.
				hold.Lock()
				busy := make(chan int, 1)
				go func() {
					code, _ := srv.request("POST", "/api/v1/reconcile/run", nil, srv.Token)
					busy <- code
				}()
				eventually(t, 10*time.Second, "the held run to start", func() bool {
					m := srv.must("GET", "/api/v1/reconcile/runs?limit=1", nil, http.StatusOK)
					runs, _ := m["data"].([]any)
					return len(runs) > 0 && runs[0].(map[string]any)["finished_at"] == ""
				})
				b.do(t, "run now while one runs", chromedp.Click(id("reconcile-run")))
				b.waitFor(t, "the 409 to be shown", `document.getElementById("reconcile-status").textContent.includes("already in progress")`, 10*time.Second)
				b.waitFor(t, "the running run in the list", `document.querySelector('[data-testid="run-row"]').dataset.running === "true"`, 10*time.Second)
				b.keep(t, "reconcile-busy")
				hold.Unlock()
				if code := <-busy; code != http.StatusOK {
					t.Errorf("the held run answered %d", code)
				}
			})

			t.Run("the URL hint knows what this server allows", func(t *testing.T) {
				open(t, "#/webhooks/new", "the new webhook form", `!document.getElementById("webhook-view").hidden`)
				b.waitFor(t, "the server's settings", `document.getElementById("server-version").textContent === "vtest"`, 5*time.Second)
				b.do(t, "type a loopback http URL", chromedp.SendKeys(id("wh-url"), "http://127.0.0.1:9/in"))
				hint := b.text(t, "wh-url-hint")
				if strings.Contains(strings.ToLower(hint), "refuse") || !strings.Contains(hint, "allowed on this server") {
					t.Errorf("on a server that allows http and loopback, the hint says %q", hint)
				}
			})
		})
	}

	t.Run("no page loaded anything from another origin", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		if len(requested) < 10 {
			t.Fatalf("only %d requests were seen: the listener is not working", len(requested))
		}
		for _, u := range requested {
			if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, "data:") {
				t.Errorf("the page requested %s", u)
			}
		}
	})

	t.Run("on a strict server the hints and errors name the setting that would allow it", func(t *testing.T) {
		b.do(t, "sign in to the strict server",
			chromedp.EmulateViewport(390, 900),
			chromedp.Navigate(strict.URL+"/#/webhooks/new"),
			chromedp.WaitVisible(id("login-token")),
			chromedp.SetValue(id("login-token"), strict.Token),
			chromedp.Click(id("login-submit")),
			chromedp.WaitVisible(id("wh-url")))
		b.waitFor(t, "the server's settings", `document.getElementById("server-version").textContent === "vtest"`, 5*time.Second)
		b.do(t, "type an http URL", chromedp.SendKeys(id("wh-url"), "http://hooks.example.com/in"))
		if hint := b.text(t, "wh-url-hint"); !strings.Contains(hint, "refuses") || !strings.Contains(hint, "HERALD_ALLOW_HTTP") {
			t.Errorf("http on a strict server: hint %q", hint)
		}
		b.do(t, "type a loopback URL", chromedp.Evaluate[chromedp.Void](`document.getElementById("wh-url").value = ""`),
			chromedp.SendKeys(id("wh-url"), "https://127.0.0.1/in"))
		if hint := b.text(t, "wh-url-hint"); !strings.Contains(hint, "HERALD_ALLOW_PRIVATE_NETWORKS") {
			t.Errorf("loopback on a strict server: hint %q", hint)
		}
		b.do(t, "save it anyway", chromedp.Click(id("events-all")), chromedp.Click(id("wh-save")), chromedp.WaitVisible(id("err-url")))
		if got := b.text(t, "err-url"); !strings.Contains(got, "HERALD_ALLOW_PRIVATE_NETWORKS") {
			t.Errorf("the server's error beside the URL is %q; it should name HERALD_ALLOW_PRIVATE_NETWORKS", got)
		}
		b.keep(t, "strict-url-error")
	})

	t.Run("the pages threw no JavaScript errors and broke no CSP rule", func(t *testing.T) {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("page error: %s", e)
		}
	})
}
