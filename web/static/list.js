// The webhook list: one row per webhook with its recent delivery health,
// or an explanation of webhooks when there are none yet.
"use strict";
(function (H) {
  const { byId, h, clear, timeEl, fmtPercent, plural, statusBadge } = H.dom;

  const SINK_TEXT = { webhook: "Webhook", slack: "Slack", plugin: "Plugin" };

  H.listView = function (ctx) {
    const tbody = byId("webhook-list");
    const table = byId("webhook-table");
    const empty = byId("empty-state");
    const loading = byId("list-loading");
    const more = byId("list-more");
    let cursor = "";
    let seq = 0;

    more.addEventListener("click", () => load(cursor));

    // load shows the first page, or appends the page after `after`.
    async function load(after = "") {
      const mine = ++seq;
      if (!after) loading.hidden = false;
      more.disabled = true;
      try {
        const query = after ? "?after=" + encodeURIComponent(after) : "";
        const res = await ctx.api.get("/webhooks" + query);
        if (mine !== seq) return;
        if (!after) clear(tbody);
        for (const w of res.data || []) tbody.append(row(w));
        cursor = res.next_cursor || "";
        more.hidden = !cursor;
        const none = tbody.children.length === 0;
        table.hidden = none;
        empty.hidden = !none;
      } catch (err) {
        if (err.status !== 401) ctx.banner(err.message);
      } finally {
        if (mine === seq) {
          loading.hidden = true;
          more.disabled = false;
        }
      }
    }

    function row(w) {
      const href = "#/webhooks/" + encodeURIComponent(w.id);
      const tr = h("tr", { "data-testid": "webhook-row", "data-id": w.id },
        h("td", { "data-label": "Name" },
          h("a", { href, class: "strong", "data-testid": "webhook-link" }, w.name || "Untitled webhook"),
          w.disabled_reason ? h("span", { class: "small warn-text block" }, w.disabled_reason) : null),
        h("td", { "data-label": "Target", class: "url" }, target(w)),
        h("td", { "data-label": "Sink" }, SINK_TEXT[w.sink] || w.sink || "Webhook"),
        h("td", { "data-label": "Events", "data-testid": "webhook-events" }, eventsText(w)),
        h("td", { "data-label": "Enabled" },
          h("span", { class: "badge " + (w.enabled ? "on" : "off") }, w.enabled ? "On" : "Off")),
        h("td", { "data-label": "Last delivery", "data-testid": "webhook-last" }, lastDelivery(w.stats)),
        h("td", { "data-label": "Failed, 24 h", "data-testid": "webhook-failure-rate" }, failureRate(w.stats)));
      // The whole row is a click target; the link stays the keyboard route.
      tr.addEventListener("click", (e) => {
        if (!e.target.closest("a, button")) location.hash = href;
      });
      return tr;
    }

    return { load };
  };

  function target(w) {
    if (w.sink === "plugin") return "Plugin " + (w.plugin || "");
    if (w.sink === "slack" && !w.url && w.config && w.config.channel) return "Slack " + w.config.channel;
    return w.url || "";
  }

  function eventsText(w) {
    const events = w.events || [];
    const tags = w.tags || [];
    const parts = [events.includes("*") ? "All events" : plural(events.length, "event", "events")];
    if (tags.length) parts.push(plural(tags.length, "tag", "tags"));
    return parts.join(", ");
  }

  function lastDelivery(stats) {
    if (!stats || !stats.last_delivery_status) return h("span", { class: "muted" }, "None yet");
    return h("span", { class: "row tight" }, statusBadge(stats.last_delivery_status), timeEl(stats.last_delivery_at));
  }

  function failureRate(stats) {
    const total = (stats && stats.deliveries_24h) || 0;
    if (!total) return h("span", { class: "muted" }, "No deliveries");
    const failed = stats.failed_24h || 0;
    const settled = (stats.succeeded_24h || 0) + failed;
    if (!settled) return h("span", { class: "muted" }, `${total} on the way`);
    return h("span", { class: failed ? "warn-text" : "" },
      `${fmtPercent(stats.failure_rate_24h || 0)} `, h("span", { class: "muted small" }, `(${failed} of ${settled} deliveries failed)`));
  }
})(window.Herald = window.Herald || {});
