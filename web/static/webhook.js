// One webhook's page: header, tabs, and the test and secret panels. The form
// and the delivery log live in their own files and are handed in.
"use strict";
(function (H) {
  const { byId, h, clear, fmtMs, fmtTime, prettyJSON, confirmDialog } = H.dom;

  const TABS = ["deliveries", "test", "settings", "secret"];

  H.webhookView = function (ctx, form, log) {
    const tabs = byId("wh-tabs");
    const notice = byId("wh-notice");
    let current = null; // the webhook on screen; null while creating one
    let selectedTab = "";
    const secret = secretPanel(ctx, () => current, (w) => { current = w; renderHeader(); });
    const test = testPanel(ctx, () => current);
    const replay = H.replayForm(ctx, () => current && current.id, () => log.refresh());
    const charts = H.chartPanel(ctx, "wh-charts", () => (current ? current.id : ""));
    let openDelivery = ""; // a delivery to open in the log, from an event's page

    for (const tab of tabs.querySelectorAll("[role=tab]")) {
      tab.addEventListener("click", () => ctx.navigate(tabHash(tab.dataset.tab)));
    }
    // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
    tabs.addEventListener("keydown", (e) => {
      const i = TABS.indexOf(e.target.dataset.tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
      if (i < 0 || next === undefined) return;
      e.preventDefault();
      const name = TABS[(next + TABS.length) % TABS.length];
      byId("tab-" + name).focus();
      ctx.navigate(tabHash(name));
    });

    function tabHash(name) {
      return `#/webhooks/${encodeURIComponent(current.id)}/${name}`;
    }

    // open shows a webhook; it is fetched again only when it changes, so
    // switching tabs keeps unsaved edits in the form.
    async function open(id, tab, deliveryId) {
      if (!TABS.includes(tab)) tab = "deliveries";
      openDelivery = tab === "deliveries" ? deliveryId || "" : "";
      if (current && current.id === id && tab !== selectedTab) notice.hidden = true;
      if (!current || current.id !== id) {
        let w;
        try {
          w = await ctx.api.get(H.path("webhooks", id));
        } catch (err) {
          if (err.status === 401) return;
          ctx.flash(err.status === 404 ? "That webhook does not exist (any more)." : err.message);
          ctx.navigate("#/webhooks");
          return;
        }
        show(w, "");
      }
      selectTab(tab);
    }

    function openNew() {
      current = null;
      log.forget();
      charts.stop();
      notice.hidden = true;
      renderHeader();
      form.fill(null);
      tabs.hidden = true;
      for (const name of TABS) byId("panel-" + name).hidden = name !== "settings";
    }

    // show puts a freshly loaded or saved webhook on screen.
    function show(w, message) {
      current = w;
      notice.textContent = message;
      notice.hidden = !message;
      renderHeader();
      form.fill(w);
      secret.reset();
      test.reset();
      replay.reset();
    }

    function selectTab(name) {
      selectedTab = name;
      tabs.hidden = false;
      for (const t of TABS) {
        const tab = byId("tab-" + t);
        const selected = t === name;
        tab.setAttribute("aria-selected", selected ? "true" : "false");
        tab.tabIndex = selected ? 0 : -1;
        byId("panel-" + t).hidden = !selected;
      }
      if (name === "deliveries") {
        log.start(current.id, openDelivery);
        charts.start();
      } else {
        log.stop();
        charts.stop();
      }
    }

    function renderHeader() {
      const w = current;
      byId("wh-title").textContent = w ? w.name || "Untitled webhook" : "New webhook";
      byId("wh-subtitle").textContent = w ? (w.sink === "plugin" ? "Plugin " + (w.plugin || "") : w.url || "") : "";
      const state = byId("wh-state");
      state.hidden = !w;
      state.textContent = w && w.enabled ? "Enabled" : "Disabled";
      state.className = "badge " + (w && w.enabled ? "on" : "off");
      const disabled = byId("wh-disabled");
      disabled.textContent = w && w.disabled_reason ? "Disabled: " + w.disabled_reason : "";
      disabled.hidden = !(w && w.disabled_reason);
      const warnings = byId("wh-warnings");
      clear(warnings);
      for (const text of (w && w.warnings) || []) warnings.append(h("p", {}, text));
      warnings.hidden = !warnings.firstChild;
      document.title = (w ? w.name || "Webhook" : "New webhook") + " · Herald";
    }

    // saved is called by the form after a create or an update.
    function saved(w, created) {
      if (created) {
        current = null;
        ctx.navigate(`#/webhooks/${encodeURIComponent(w.id)}/test`);
        show(w, "Webhook created. Send a test event to check the receiver, and copy the signing secret for it.");
        selectTab("test");
      } else {
        show(w, "");
        ctx.toast("Changes saved.");
      }
    }

    function leave() {
      current = null;
      log.forget();
      charts.stop();
    }

    return { open, openNew, saved, leave, setEventTypes: test.setEventTypes };
  };

  function testPanel(ctx, getWebhook) {
    const select = byId("test-event");
    const button = byId("send-test");
    const result = byId("test-result");
    const example = byId("test-example");
    let types = [];

    select.addEventListener("change", showExample);
    byId("test-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const w = getWebhook();
      if (!w) return;
      button.disabled = true;
      button.textContent = "Sending…";
      try {
        render(await ctx.api.post(H.path("webhooks", w.id, "test"), { event: select.value }));
      } catch (err) {
        if (err.status !== 401) render({ delivered: false, error: err.message });
      } finally {
        button.disabled = false;
        button.textContent = "Send Test Event";
      }
    });

    function setEventTypes(list) {
      types = list;
      clear(select);
      const ordered = list.filter((t) => t.name === "test_event").concat(list.filter((t) => t.name !== "test_event"));
      for (const t of ordered) select.append(h("option", { value: t.name }, t.title ? `${t.title} (${t.name})` : t.name));
      if (!ordered.length) select.append(h("option", { value: "test_event" }, "test_event"));
      select.value = "test_event";
      showExample();
    }

    function showExample() {
      const t = types.find((x) => x.name === select.value);
      example.textContent = t && t.example !== undefined ? prettyJSON(t.example) : "{}";
    }

    function render(r) {
      const outcome = byId("test-outcome");
      outcome.textContent = r.delivered ? "Delivered" : "Not delivered";
      outcome.className = "badge " + (r.delivered ? "status-succeeded" : "status-failed");
      byId("test-status").textContent = r.status_code ? `HTTP ${r.status_code}` : "No HTTP response";
      byId("test-duration").textContent = r.duration_ms !== undefined ? fmtMs(r.duration_ms) : "";
      const error = byId("test-error");
      error.textContent = r.error || "";
      error.hidden = !r.error;
      byId("test-body").textContent = r.response_body ? r.response_body : "(empty)";
      result.hidden = false;
    }

    function reset() {
      result.hidden = true;
      select.value = "test_event";
      showExample();
    }

    return { setEventTypes, reset };
  }

  function secretPanel(ctx, getWebhook, onRotated) {
    const value = byId("secret-value");
    const reveal = byId("secret-reveal");
    const status = byId("secret-status");
    const previous = byId("secret-previous");
    let shown = false;

    reveal.addEventListener("click", () => { shown = !shown; render(); });
    byId("secret-copy").addEventListener("click", copy);
    byId("secret-rotate").addEventListener("click", rotate);

    function secretOf() {
      const w = getWebhook();
      return (w && w.secret) || "";
    }

    function render() {
      const s = secretOf();
      if (!s) {
        value.textContent = "Not shown by the server. Rotate to get a new secret.";
      } else {
        value.textContent = shown ? s : s.slice(0, 6) + "•".repeat(24);
      }
      const w = getWebhook();
      const until = w && w.previous_secret_expires_at;
      previous.hidden = !until;
      previous.textContent = until
        ? `The previous secret stays valid until ${fmtTime(until)}; until then each request carries both signatures.` : "";
      reveal.textContent = shown ? "Hide" : "Reveal";
      reveal.setAttribute("aria-pressed", shown ? "true" : "false");
    }

    async function copy() {
      const s = secretOf();
      if (!s) return;
      if (await writeClipboard(s)) {
        status.textContent = "Secret copied to the clipboard.";
        return;
      }
      // Both ways failed (an old browser or plain http): let the user copy.
      shown = true;
      render();
      window.getSelection().selectAllChildren(value);
      status.textContent = "Copying is blocked here; the secret is selected, press Ctrl+C (or ⌘C).";
    }

    async function rotate() {
      const w = getWebhook();
      if (!w) return;
      const ok = await confirmDialog({
        title: "Rotate the signing secret?",
        message: "A new secret is made now. The old one keeps working for 24 hours, and until then every request is signed with both, so you can update the receiver without missing anything.",
        confirm: "Rotate secret",
      });
      if (!ok) return;
      try {
        onRotated(await ctx.api.post(H.path("webhooks", w.id, "secret", "rotate")));
        shown = true;
        render();
        status.textContent = "New secret in use. Update the receiver within 24 hours.";
      } catch (err) {
        if (err.status !== 401) status.textContent = err.message;
      }
    }

    function reset() {
      shown = false;
      status.textContent = "";
      render();
    }

    return { reset };
  }

  // writeClipboard uses the async clipboard API, falling back to the older
  // execCommand for pages the browser does not consider secure.
  async function writeClipboard(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      const area = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
      area.value = text;
      document.body.append(area);
      area.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch { ok = false; }
      area.remove();
      return ok;
    }
  }

  H.writeClipboard = writeClipboard;
})(window.Herald = window.Herald || {});
