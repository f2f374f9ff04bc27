// The delivery log of one webhook: newest first, filtered by status, paged
// with "Load more", refreshed every few seconds while it is on screen.
"use strict";
(function (H) {
  const { byId, h, clear, timeEl, fmtMs, fmtTime, plural, statusBadge, prettyJSON } = H.dom;

  const PAGE = 50;
  const REFRESH_MS = 3000; // fast enough to watch a retry land, light on the server
  const COLUMNS = 7;

  H.deliveryLog = function (ctx) {
    const tbody = byId("delivery-list");
    const table = byId("delivery-table");
    const empty = byId("delivery-empty");
    const more = byId("delivery-more");
    const filter = byId("delivery-filter");
    const updated = byId("delivery-updated");
    let webhookId = "";
    let items = [];
    let cursor = "";
    let pagedBeyondFirst = false;
    let openId = "";
    const details = new Map(); // delivery id -> full delivery with attempts
    let active = false;
    let timer = 0;
    let seq = 0; // answers from an older filter or webhook are dropped
    let rendered = "";

    filter.addEventListener("change", reload);
    byId("delivery-refresh").addEventListener("click", () => refresh());
    more.addEventListener("click", loadMore);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearTimeout(timer);
      else if (active) refresh();
    });

    // start shows a webhook's log; openDelivery, if given, is opened with
    // its attempts (a link from an event's page).
    function start(id, openDelivery) {
      active = true;
      if (openDelivery) {
        openId = openDelivery;
        filter.value = "";
      }
      if (id !== webhookId) {
        webhookId = id;
        if (!openDelivery) openId = "";
        details.clear();
        reload();
      } else {
        refresh();
      }
    }

    function stop() {
      active = false;
      clearTimeout(timer);
    }

    // forget drops the state of the last webhook, so coming back from the
    // list starts afresh instead of showing an old page for a moment.
    function forget() {
      stop();
      seq++;
      webhookId = "";
      items = [];
      openId = "";
      details.clear();
      rendered = "";
      clear(tbody);
      table.hidden = true;
      empty.hidden = true;
      more.hidden = true;
    }

    function fetchPage(after) {
      const q = new URLSearchParams({ status: filter.value, limit: String(PAGE), after });
      return ctx.api.get(H.path("webhooks", webhookId, "deliveries") + "?" + q);
    }

    async function reload() {
      items = [];
      cursor = "";
      pagedBeyondFirst = false;
      rendered = "";
      await refresh();
    }

    // refresh re-reads the first page. Rows loaded with "Load more" are kept
    // below it, so the view does not jump while someone reads older entries.
    async function refresh() {
      clearTimeout(timer);
      const mine = ++seq;
      try {
        const res = await fetchPage("");
        if (mine !== seq) return;
        const fresh = res.data || [];
        if (pagedBeyondFirst) {
          const ids = new Set(fresh.map((d) => d.id));
          items = fresh.concat(items.filter((d) => !ids.has(d.id)));
        } else {
          items = fresh;
          cursor = res.next_cursor || "";
        }
        if (openId) await loadDetail(openId);
        if (mine !== seq) return;
        updated.textContent = "Updated " + new Date().toLocaleTimeString();
        render();
      } catch (err) {
        if (mine === seq && err.status !== 401) updated.textContent = "Could not refresh: " + err.message;
      } finally {
        if (mine === seq) schedule();
      }
    }

    function schedule() {
      clearTimeout(timer);
      if (active && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
    }

    async function loadMore() {
      const mine = ++seq;
      more.disabled = true;
      try {
        const res = await fetchPage(cursor);
        if (mine !== seq) return;
        const ids = new Set(items.map((d) => d.id));
        items = items.concat((res.data || []).filter((d) => !ids.has(d.id)));
        cursor = res.next_cursor || "";
        pagedBeyondFirst = true;
        render();
      } catch (err) {
        if (err.status !== 401) ctx.toast(err.message, "error");
      } finally {
        more.disabled = false;
        if (mine === seq) schedule();
      }
    }

    async function loadDetail(id) {
      try {
        details.set(id, await ctx.api.get(H.path("deliveries", id)));
      } catch (err) {
        if (err.status !== 401) details.set(id, { error: err.message });
      }
    }

    async function toggle(id) {
      openId = openId === id ? "" : id;
      if (openId && !details.has(id)) await loadDetail(id);
      render();
    }

    async function retry(d, button, resend) {
      button.disabled = true;
      button.textContent = resend ? "Resending…" : "Retrying…";
      try {
        await ctx.api.post(H.path("deliveries", d.id, "retry"));
        ctx.toast((resend ? "Resend" : "Retry") + " queued. The log updates by itself.");
        byId("delivery-status").textContent = (resend ? "Resend" : "Retry") + " queued for delivery " + d.id;
      } catch (err) {
        if (err.status !== 401) ctx.toast(err.message, "error");
      }
      refresh();
    }

    // render rebuilds the rows only when something changed, and puts the
    // keyboard focus back on the same button afterwards.
    function render() {
      const snapshot = JSON.stringify([items, openId, openId && details.get(openId)]);
      if (snapshot === rendered) return;
      rendered = snapshot;
      const focused = document.activeElement && tbody.contains(document.activeElement)
        ? [document.activeElement.dataset.id, document.activeElement.dataset.action] : null;
      clear(tbody);
      // A delivery opened from an event's page shows even when it is not on
      // the first page of the log.
      const pinned = openId && details.get(openId);
      const shown = pinned && pinned.id && !items.some((d) => d.id === openId) ? [pinned].concat(items) : items;
      for (const d of shown) {
        tbody.append(row(d));
        if (d.id === openId) tbody.append(detailRow(d.id));
      }
      table.hidden = shown.length === 0;
      empty.hidden = shown.length !== 0;
      empty.textContent = filter.value
        ? `No delivery matches this filter (${filter.selectedOptions[0].textContent}). Choose All to see every delivery.`
        : "No deliveries here yet. Every event that matches this webhook shows up in this log with each attempt.";
      more.hidden = !cursor;
      if (focused) {
        const again = tbody.querySelector(`button[data-id="${CSS.escape(focused[0] || "")}"][data-action="${focused[1]}"]`);
        if (again) again.focus();
      }
    }

    function row(d) {
      const open = d.id === openId;
      // A delivery that succeeded is not retried: it can be sent once more.
      const resend = d.status === "succeeded";
      const retryBtn = h("button", {
        type: "button", class: "btn small", "data-testid": resend ? "delivery-resend" : "delivery-retry", "data-id": d.id,
        "data-action": "retry", disabled: d.status === "in_flight",
        "aria-label": resend ? `Send ${d.event} again` : `Retry delivery of ${d.event}`,
      }, resend ? "Resend" : "Retry");
      retryBtn.addEventListener("click", (e) => { e.stopPropagation(); retry(d, retryBtn, resend); });
      const tr = h("tr", { class: "clickable" + (open ? " open" : ""), "data-testid": "delivery-row", "data-id": d.id, "data-status": d.status },
        h("td", { "data-label": "Status" }, statusBadge(d.status)),
        h("td", { "data-label": "Event" }, h("code", {}, d.event), h("span", { class: "muted small block" }, d.event_id)),
        h("td", { "data-label": "Attempts" }, String(d.attempt_count || 0),
          (d.status === "pending" || d.status === "retrying") && d.next_attempt_at
            ? h("span", { class: "muted small block", "data-testid": "next-attempt" }, "next attempt ", timeEl(d.next_attempt_at)) : null),
        h("td", { "data-label": "Response", "data-testid": "delivery-code" },
          d.last_status_code ? `HTTP ${d.last_status_code}` : h("span", { class: "muted" }, "—"),
          d.last_error ? h("span", { class: "error-text small block clamp" }, d.last_error) : null),
        h("td", { "data-label": "Duration" }, d.attempt_count ? fmtMs(d.last_duration_ms) : "—"),
        h("td", { "data-label": "Created" }, timeEl(d.created_at)),
        h("td", { class: "actions-cell" },
          h("button", {
            type: "button", class: "btn small ghost", "data-id": d.id, "data-action": "details",
            "aria-expanded": open ? "true" : "false", "aria-controls": "delivery-detail",
            onclick: (e) => { e.stopPropagation(); toggle(d.id); },
          }, open ? "Hide" : "Details"),
          retryBtn));
      tr.addEventListener("click", (e) => { if (!e.target.closest("button, a, pre")) toggle(d.id); });
      return tr;
    }

    function detailRow(id) {
      const d = details.get(id);
      const box = h("div", { id: "delivery-detail", class: "detail", "data-testid": "delivery-detail" });
      if (!d) box.append(h("p", { class: "muted" }, "Loading…"));
      else if (d.error && !d.id) box.append(h("p", { class: "error-text" }, d.error));
      else box.append(attemptList(d.attempts || []), payload(d.payload));
      return h("tr", { class: "detail-row" }, h("td", { colspan: COLUMNS }, box));
    }

    function attemptList(attempts) {
      if (!attempts.length) return h("p", { class: "muted" }, "No attempts yet.");
      return h("ol", { class: "attempts", "aria-label": plural(attempts.length, "attempt", "attempts") },
        attempts.map((a) => h("li", { "data-testid": "attempt" },
          h("p", { class: "row wrap tight" },
            h("span", { class: "strong" }, `Attempt ${a.number}`),
            h("span", { class: "muted" }, fmtTime(a.started_at)),
            h("span", { class: "badge" }, a.trigger || "auto"),
            h("span", {}, a.status_code ? `HTTP ${a.status_code}` : "No response"),
            h("span", { class: "muted" }, fmtMs(a.duration_ms))),
          a.error ? h("p", { class: "error-text" }, a.error) : null,
          a.response_body ? h("pre", {}, a.response_body) : null)));
    }

    function payload(p) {
      if (p === undefined || p === null) return null;
      return h("details", { class: "example" }, h("summary", {}, "Payload sent"), h("pre", {}, prettyJSON(p)));
    }

    return { start, stop, forget, refresh };
  };

  // The replay form: a dry run says how many deliveries would go out, and
  // only the confirm button sends them.
  H.replayForm = function (ctx, getWebhookId, onDone) {
    const since = byId("replay-since");
    const result = byId("replay-result");
    const confirmBtn = byId("replay-confirm");
    let pending = null;

    byId("replay-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      confirmBtn.hidden = true;
      pending = null;
      const when = new Date(since.value);
      if (!since.value || isNaN(when)) {
        result.textContent = "Pick a date and time first.";
        return;
      }
      // Undelivered: the failed ones and those still retrying (DESIGN.md §6).
      const body = { since: when.toISOString(), status: "undelivered", dry_run: true };
      try {
        const res = await ctx.api.post(H.path("webhooks", getWebhookId(), "replay"), body);
        const n = res.count || 0;
        result.textContent = n ? `${plural(n, "delivery", "deliveries")} will be sent again.` : "Nothing undelivered since then.";
        if (n) { pending = body; confirmBtn.hidden = false; }
      } catch (err) {
        if (err.status !== 401) result.textContent = err.message;
      }
    });

    confirmBtn.addEventListener("click", async () => {
      if (!pending) return;
      confirmBtn.disabled = true;
      try {
        const res = await ctx.api.post(H.path("webhooks", getWebhookId(), "replay"), { ...pending, dry_run: false });
        result.textContent = `${plural(res.count || 0, "delivery", "deliveries")} queued again.`;
        confirmBtn.hidden = true;
        pending = null;
        onDone();
      } catch (err) {
        if (err.status !== 401) result.textContent = err.message;
      } finally {
        confirmBtn.disabled = false;
      }
    });

    // reset starts the form at "24 hours ago", in the browser's time zone.
    function reset() {
      const d = new Date(Date.now() - 24 * 3600 * 1000 - new Date().getTimezoneOffset() * 60000);
      since.value = d.toISOString().slice(0, 16);
      result.textContent = "";
      confirmBtn.hidden = true;
      pending = null;
    }

    return { reset };
  };
})(window.Herald = window.Herald || {});
