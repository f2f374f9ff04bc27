package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// unsafeFileChars are replaced in screenshot names made from test names.
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// browserStepTimeout bounds one group of browser steps, so a missing element
// fails fast with a screenshot instead of hanging until the test deadline.
const browserStepTimeout = 15 * time.Second

// uiBrowser drives one headless Chromium tab for a whole test.
type uiBrowser struct {
	ctx   context.Context
	close func() // ends Chromium; safe to call more than once

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript errors and CSP violations seen in the page
}

// chromiumPath finds Debian's chromium or another Chrome on PATH.
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newUIBrowser starts Chromium, or skips the test when there is none
// (outside CI, where a missing browser must fail instead).
func newUIBrowser(t *testing.T) *uiBrowser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; the browser tests need it in CI (apt-get install chromium)")
		}
		t.Skip("chromium is not installed; skipping the browser test (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &uiBrowser{ctx: ctx, close: func() { cancelTab(); cancelAlloc() }}
	console := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			// An exception, or a Content-Security-Policy violation: the
			// server forbids inline code and styles, so the UI must use none.
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs steps; on failure it saves a screenshot and stops the test.
func (b *uiBrowser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(t, "%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](t *testing.T, b *uiBrowser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail(t, "evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it holds.
func (b *uiBrowser) waitFor(t *testing.T, what, predicate string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.fail(t, "waiting for %s: %v", what, err)
	}
}

func (b *uiBrowser) text(t *testing.T, id string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf("document.getElementById(%q).textContent.trim()", id))
}

// fail saves a screenshot of the page (in HERALD_UI_SCREENSHOTS, or the
// test's temp dir) and stops the test.
func (b *uiBrowser) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	if path := b.screenshot(t, "failure"); path != "" {
		t.Logf("screenshot of the page: %s", path)
	}
	t.Fatalf(format, args...)
}

// screenshot saves a full-page PNG and returns its path ("" when it failed).
func (b *uiBrowser) screenshot(t *testing.T, name string) string {
	dir := os.Getenv("HERALD_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return ""
	}
	path := filepath.Join(dir, unsafeFileChars.ReplaceAllString(t.Name(), "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return ""
	}
	return path
}

// keep saves a screenshot for people to look at, when HERALD_UI_SCREENSHOTS
// names a folder.
func (b *uiBrowser) keep(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("HERALD_UI_SCREENSHOTS") != "" {
		t.Logf("screenshot: %s", b.screenshot(t, name))
	}
}

// deliveryRow is a JavaScript expression for the log row of one event.
func deliveryRow(eventID string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('[data-testid="delivery-row"]')].find((r) => r.textContent.includes(%q))`, eventID)
}

func TestBrowserWebhooksUI(t *testing.T) {
	b := newUIBrowser(t)
	srv := newTestServer(t)
	// Close the browser before the server shuts down, so no connection of
	// its keeps the shutdown waiting.
	t.Cleanup(b.close)
	rc := newReceiver(t)
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	var webhookID string

	if !t.Run("a wrong token is refused and the right one signs in", func(t *testing.T) {
		b.do(t, "open the page",
			chromedp.EmulateViewport(1280, 900),
			chromedp.Navigate(srv.URL+"/"),
			chromedp.WaitVisible(id("login-token")),
			chromedp.SendKeys(id("login-token"), "not-the-token"),
			chromedp.Click(id("login-submit")),
			chromedp.WaitVisible(id("login-error")))
		if got := b.text(t, "login-error"); !strings.Contains(got, "not accepted") {
			t.Errorf("login error = %q, want it to say the token was not accepted", got)
		}
		if eval[bool](t, b, `!document.getElementById("list-view").hidden`) {
			t.Error("the webhook list shows without a valid token")
		}
		b.do(t, "sign in",
			chromedp.SetValue(id("login-token"), srv.Token),
			chromedp.Click(id("login-submit")),
			chromedp.WaitVisible(id("empty-state")))
		if got := eval[string](t, b, `sessionStorage.getItem("herald.token")`); got != srv.Token {
			t.Errorf("token in sessionStorage = %q, want the admin token", got)
		}
		b.keep(t, "empty-list")
	}) {
		return
	}

	if !t.Run("a webhook is created through the form", func(t *testing.T) {
		b.do(t, "fill in the form",
			chromedp.Click(id("new-webhook")),
			chromedp.WaitVisible(id("ev-contact_created")),
			chromedp.SendKeys(id("wh-name"), "CRM contacts"),
			chromedp.SendKeys(id("wh-url"), rc.URL+"/hook"),
			chromedp.Click(id("ev-contact_created")),
			chromedp.SendKeys(id("wh-tag-input"), "qualified-lead\r"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="tag-chip"]`)),
			chromedp.Click(id("wh-summary")))
		b.keep(t, "form-desktop")
		b.do(t, "save", chromedp.Click(id("wh-save")), chromedp.WaitVisible(id("send-test")))

		list := srv.must("GET", "/api/v1/webhooks", nil, http.StatusOK)
		data, _ := list["data"].([]any)
		if len(data) != 1 {
			t.Fatalf("the server has %d webhooks, want 1: %v", len(data), list)
		}
		w := data[0].(map[string]any)
		webhookID, _ = w["id"].(string)
		got, _ := json.Marshal(map[string]any{"url": w["url"], "events": w["events"], "tags": w["tags"], "generate_summary": w["generate_summary"], "enabled": w["enabled"]})
		want, _ := json.Marshal(map[string]any{"url": rc.URL + "/hook", "events": []string{"contact_created"}, "tags": []string{"qualified-lead"}, "generate_summary": true, "enabled": true})
		if string(got) != string(want) {
			t.Errorf("saved webhook = %s, want %s", got, want)
		}
		if hash := eval[string](t, b, "location.hash"); !strings.Contains(hash, webhookID) {
			t.Errorf("after saving the page is at %q, want the new webhook's page", hash)
		}
	}) {
		return
	}

	t.Run("Send Test Event shows the receiver's 200 on the page", func(t *testing.T) {
		b.do(t, "send a test event", chromedp.Click(id("send-test")), chromedp.WaitVisible(id("test-result")))
		if got := b.text(t, "test-status"); got != "HTTP 200" {
			t.Errorf("test status = %q, want HTTP 200", got)
		}
		if got := b.text(t, "test-outcome"); got != "Delivered" {
			t.Errorf("test outcome = %q, want Delivered", got)
		}
		if got := b.text(t, "test-body"); got != "ok" {
			t.Errorf("response body shown = %q, want the receiver's %q", got, "ok")
		}
		if r := rc.next(t, 5*time.Second); r.Env.Event != TestEvent {
			t.Errorf("receiver got %q, want %s", r.Env.Event, TestEvent)
		}
	})

	t.Run("an ingested event appears in the delivery log", func(t *testing.T) {
		b.do(t, "open the log", chromedp.Click(id("tab-deliveries")), chromedp.WaitVisible(id("delivery-filter")))
		evt := srv.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c_browser"}})
		rc.next(t, 5*time.Second)
		b.waitFor(t, "the event's delivery to show as succeeded",
			fmt.Sprintf(`(%s)?.dataset.status === "succeeded"`, deliveryRow(evt)), 10*time.Second)
		if got := eval[string](t, b, deliveryRow(evt)+`.querySelector('[data-testid="delivery-code"]').textContent`); !strings.Contains(got, "200") {
			t.Errorf("response cell = %q, want HTTP 200", got)
		}
	})

	t.Run("a failed delivery succeeds after Retry once the receiver recovers", func(t *testing.T) {
		rc.setRespond(func(received) (int, string, map[string]string) { return http.StatusInternalServerError, "down", nil })
		evt := srv.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c_retry"}})
		b.waitFor(t, "the delivery to fail", fmt.Sprintf(`(%s)?.dataset.status === "failed"`, deliveryRow(evt)), 15*time.Second)
		rc.setRespond(nil)
		deliveryID := eval[string](t, b, deliveryRow(evt)+".dataset.id")
		b.keep(t, "log-failed")
		b.do(t, "click Retry", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] [data-testid="delivery-retry"]`, deliveryID))))
		b.waitFor(t, "the retried delivery to succeed", fmt.Sprintf(`(%s)?.dataset.status === "succeeded"`, deliveryRow(evt)), 10*time.Second)
		d := srv.must("GET", "/api/v1/deliveries/"+deliveryID, nil, http.StatusOK)
		attempts, _ := d["attempts"].([]any)
		if len(attempts) == 0 {
			t.Fatalf("delivery %s has no attempts: %v", deliveryID, d)
		}
		last, _ := attempts[len(attempts)-1].(map[string]any)
		if last["trigger"] != "manual" || last["status_code"] != float64(200) {
			t.Errorf("last attempt = %v, want a manual attempt answered 200", last)
		}
	})

	t.Run("an invalid URL shows the server's error beside the URL field", func(t *testing.T) {
		code, answer := srv.do("PATCH", "/api/v1/webhooks/"+webhookID, map[string]any{"url": "ftp://x"})
		apiErr, _ := answer["error"].(map[string]any)
		if code != http.StatusUnprocessableEntity || apiErr["field"] != "url" {
			t.Fatalf("the API answers ftp://x with %d %v, want a 422 naming the url field", code, answer)
		}
		b.do(t, "save ftp://x",
			chromedp.Click(id("tab-settings")),
			chromedp.WaitVisible(id("wh-url")),
			chromedp.SetValue(id("wh-url"), "ftp://x"),
			chromedp.Click(id("wh-save")),
			chromedp.WaitVisible(id("err-url")))
		if got := b.text(t, "err-url"); got != apiErr["message"] {
			t.Errorf("error beside the URL = %q, want the server's %q", got, apiErr["message"])
		}
		if got := eval[string](t, b, `document.getElementById("wh-url").getAttribute("aria-invalid")`); got != "true" {
			t.Errorf("URL field aria-invalid = %q, want true", got)
		}
		b.keep(t, "url-error")
	})

	t.Run("the list and the form fit a 390 px wide phone screen", func(t *testing.T) {
		b.do(t, "open the list on a phone",
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(srv.URL+"/#/webhooks"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-row"]`)))
		if w := eval[int](t, b, "document.documentElement.scrollWidth"); w > 390 {
			t.Errorf("the list is %d px wide on a 390 px screen", w)
		}
		b.keep(t, "list-390")
		b.do(t, "open the form on a phone", chromedp.Click(id("new-webhook")), chromedp.WaitVisible(chromedp.CSS(`[data-testid="event-group"]`)))
		if w := eval[int](t, b, "document.documentElement.scrollWidth"); w > 390 {
			t.Errorf("the form is %d px wide on a 390 px screen", w)
		}
		// On a phone the event groups start folded, so the form is short.
		if open := eval[int](t, b, `document.querySelectorAll('[data-testid="event-group"][open]').length`); open != 0 {
			t.Errorf("%d event groups are unfolded on a new form on a phone, want none", open)
		}
		if h := eval[int](t, b, `document.getElementById("field-events").offsetHeight`); h > 600 {
			t.Errorf("the events section is %d px tall on a phone", h)
		}
		b.keep(t, "form-390")
		b.do(t, "back to desktop", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(srv.URL+"/#/webhooks"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-row"]`)))
		b.keep(t, "list-desktop")
	})

	t.Run("Log out returns to the sign-in form and forgets the token", func(t *testing.T) {
		b.do(t, "log out", chromedp.Click(id("logout")), chromedp.WaitVisible(id("login-token")))
		if eval[bool](t, b, `sessionStorage.getItem("herald.token") !== null`) {
			t.Error("the token is still in sessionStorage")
		}
	})

	t.Run("the page threw no JavaScript errors and broke no CSP rule", func(t *testing.T) {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("page error: %s", e)
		}
	})
}
