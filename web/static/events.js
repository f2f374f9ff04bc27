// The Events page: every event newest first, filtered by type, contact and
// (with a webhook) delivery state; and one event with its payload and its
// deliveries, each linked to its webhook's delivery log.
"use strict";
(function (H) {
  const { byId, h, clear, timeEl, fmtTime, fmtMs, plural, statusBadge, prettyJSON } = H.dom;

  const PAGE = 50;
  const FILTERS = ["event", "contact_id", "webhook_id", "delivery_status"];

  H.eventsView = function (ctx) {
    const el = {
      form: byId("event-filters"), type: byId("ef-type"), contact: byId("ef-contact"), webhook: byId("ef-webhook"),
      status: byId("ef-status"), statusHint: byId("ef-status-hint"), table: byId("event-table"), tbody: byId("event-list"),
      more: byId("events-more"), info: byId("events-status"),
    };
    let cursor = "";
    let seq = 0;
    let filters = {};
    let hooks = new Map(); // webhook id -> webhook, for names
    let types = new Map(); // event name -> catalog entry

    el.webhook.addEventListener("change", syncStatus);
    el.form.addEventListener("submit", (e) => {
      e.preventDefault();
      ctx.navigate("#/events" + query(readForm()));
    });
    byId("ef-clear").addEventListener("click", () => ctx.navigate("#/events"));
    el.more.addEventListener("click", () => load(cursor));

    function readForm() {
      const f = { event: el.type.value, contact_id: el.contact.value.trim(), webhook_id: el.webhook.value };
      if (f.webhook_id) f.delivery_status = el.status.value;
      return f;
    }

    function query(f) {
      const q = new URLSearchParams();
      for (const k of FILTERS) if (f[k]) q.set(k, f[k]);
      const s = q.toString();
      return s ? "?" + s : "";
    }

    function syncStatus() {
      const on = Boolean(el.webhook.value);
      el.status.disabled = !on;
      if (!on) el.status.value = "";
      el.statusHint.hidden = on;
    }

    // open shows the list for the filters in the page address.
    async function open(params) {
      filters = {};
      for (const k of FILTERS) if (params.get(k)) filters[k] = params.get(k);
      await loadChoices();
      el.type.value = filters.event || "";
      el.contact.value = filters.contact_id || "";
      el.webhook.value = filters.webhook_id || "";
      el.status.value = filters.delivery_status || "";
      syncStatus();
      await load("");
    }

    async function loadChoices() {
      const [catalog, list] = await Promise.all([
        ctx.catalog().catch(() => []),
        ctx.api.get("/webhooks?limit=1000").catch(() => ({ data: [] })),
      ]);
      types = new Map(catalog.map((t) => [t.name, t]));
      hooks = new Map((list.data || []).map((w) => [w.id, w]));
      fillSelect(el.type, "Any type", catalog.map((t) => [t.name, t.title ? `${t.title} (${t.name})` : t.name]));
      fillSelect(el.webhook, "Any or none", [...hooks.values()].map((w) => [w.id, w.name || w.url || w.id]));
    }

    function fillSelect(select, anyText, options) {
      clear(select);
      select.append(h("option", { value: "" }, anyText));
      for (const [value, text] of options) select.append(h("option", { value }, text));
    }

    async function load(after) {
      const mine = ++seq;
      el.more.disabled = true;
      if (!after) el.info.textContent = "Loading…";
      try {
        const q = new URLSearchParams({ order: "desc", limit: String(PAGE) });
        for (const [k, v] of Object.entries(filters)) q.set(k, v);
        if (after) q.set("after", after);
        const res = await ctx.api.get("/events?" + q);
        if (mine !== seq) return;
        if (!after) clear(el.tbody);
        for (const e of res.data || []) el.tbody.append(row(e));
        cursor = res.next_cursor || "";
        el.more.hidden = !cursor;
        const none = el.tbody.children.length === 0;
        el.table.hidden = none;
        el.info.textContent = !none ? "" : Object.keys(filters).length
          ? "No event matches these filters."
          : "No events yet. Events appear here as soon as your platform posts them to /api/v1/events.";
      } catch (err) {
        if (mine === seq && err.status !== 401) el.info.textContent = err.message;
      } finally {
        if (mine === seq) el.more.disabled = false;
      }
    }

    function row(e) {
      const href = "#/events/" + encodeURIComponent(e.id);
      const t = types.get(e.event);
      const contact = (e.data && e.data.contact) || {};
      const tr = h("tr", { class: "clickable", "data-testid": "event-row", "data-id": e.id },
        h("td", { "data-label": "Event" },
          h("a", { href, class: "strong" }, t && t.title ? t.title : e.event),
          h("span", { class: "muted small block" }, h("code", {}, e.event), " ", e.id)),
        h("td", { "data-label": "Contact" }, contact.id
          ? [h("span", { class: "block" }, contact.name || contact.id), contact.name ? h("span", { class: "muted small block" }, contact.id) : null]
          : h("span", { class: "muted" }, "—")),
        h("td", { "data-label": "Deliveries", "data-testid": "event-deliveries" }, deliveriesCell(e)),
        h("td", { "data-label": "Received" }, timeEl(e.created_at)));
      tr.addEventListener("click", (ev) => { if (!ev.target.closest("a, button")) location.hash = href; });
      return tr;
    }

    function deliveriesCell(e) {
      if (e.delivery) return statusBadge(e.delivery.status);
      if (filters.delivery_status && filters.delivery_status !== "undelivered") return statusBadge(filters.delivery_status);
      const n = e.delivery_count;
      if (n === 0) return h("span", { class: "badge status-other", "data-testid": "unmatched" }, "Matched no webhook");
      if (n === undefined || n === null) return h("span", { class: "muted" }, "—");
      return plural(n, "webhook", "webhooks");
    }

    return { open, hooks: () => hooks, types: () => types, loadChoices };
  };

  H.eventView = function (ctx, events) {
    const body = byId("event-body");

    async function open(id) {
      clear(body);
      body.append(h("p", { class: "muted" }, "Loading…"));
      byId("event-title").textContent = "Event";
      byId("event-subtitle").textContent = id;
      let e;
      try {
        [e] = await Promise.all([ctx.api.get(H.path("events", id)), events.loadChoices()]);
      } catch (err) {
        if (err.status === 401) return;
        clear(body);
        body.append(h("p", { class: "notice error" }, err.status === 404 ? "That event does not exist (or was pruned)." : err.message));
        return;
      }
      const t = events.types().get(e.event);
      byId("event-title").textContent = t && t.title ? t.title : e.event;
      document.title = (t && t.title ? t.title : e.event) + " · Herald";
      clear(body);
      const contact = (e.data && e.data.contact) || {};
      body.append(
        h("dl", { class: "meta" },
          h("dt", {}, "Type"), h("dd", {}, h("code", {}, e.event)),
          h("dt", {}, "Happened"), h("dd", {}, fmtTime(e.timestamp)),
          h("dt", {}, "Received"), h("dd", {}, fmtTime(e.created_at)),
          h("dt", {}, "Contact"), h("dd", {}, contact.id
            ? h("a", { href: "#/events?contact_id=" + encodeURIComponent(contact.id) }, contact.name ? `${contact.name} (${contact.id})` : contact.id)
            : "—")),
        h("h2", {}, "Deliveries"),
        deliveries(e.deliveries || []),
        h("h2", {}, "Payload"),
        h("pre", { "data-testid": "event-payload" }, prettyJSON({ id: e.id, event: e.event, timestamp: e.timestamp, data: e.data })));
    }

    function deliveries(list) {
      if (!list.length) {
        return h("p", { class: "notice warn", "data-testid": "event-unmatched" },
          "This event matched no webhook, so nothing was sent. Tick its type (or its tag) on a webhook to receive the next ones; replay with status \"all\" sends older ones too.");
      }
      const hooks = events.hooks();
      return h("table", { class: "table stack" },
        h("caption", { class: "sr-only" }, "Deliveries of this event"),
        h("thead", {}, h("tr", {}, ["Webhook", "Status", "Attempts", "Last response", ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, list.map((d) => {
          const w = hooks.get(d.webhook_id);
          const log = `#/webhooks/${encodeURIComponent(d.webhook_id)}/deliveries/${encodeURIComponent(d.id)}`;
          return h("tr", { "data-testid": "event-delivery", "data-id": d.id },
            h("td", { "data-label": "Webhook" }, h("a", { href: `#/webhooks/${encodeURIComponent(d.webhook_id)}` }, w ? w.name || w.url || w.id : d.webhook_id)),
            h("td", { "data-label": "Status" }, statusBadge(d.status)),
            h("td", { "data-label": "Attempts" }, String(d.attempt_count || 0)),
            h("td", { "data-label": "Last response" },
              d.last_status_code ? `HTTP ${d.last_status_code}` : h("span", { class: "muted" }, "—"),
              d.attempt_count ? h("span", { class: "muted small" }, " " + fmtMs(d.last_duration_ms)) : null,
              d.last_error ? h("span", { class: "error-text small block clamp" }, d.last_error) : null),
            h("td", { class: "actions-cell" }, h("a", { href: log, class: "btn small", "data-testid": "delivery-log-link" }, "Attempts in the log")));
        })));
    }

    return { open };
  };
})(window.Herald = window.Herald || {});
