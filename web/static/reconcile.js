// The Reconciliation page: recent runs with what each repaired, and Run now.
"use strict";
(function (H) {
  const { byId, h, clear, timeEl, fmtMs, fmtTime, plural } = H.dom;

  const REFRESH_MS = 5000;

  H.reconcileView = function (ctx) {
    const table = byId("run-table");
    const tbody = byId("run-list");
    const empty = byId("runs-empty");
    const more = byId("runs-more");
    const status = byId("reconcile-status");
    const runBtn = byId("reconcile-run");
    let cursor = "";
    let active = false;
    let timer = 0;
    let seq = 0;

    runBtn.addEventListener("click", runNow);
    more.addEventListener("click", () => load(cursor));

    function say(text, kind) {
      status.textContent = text;
      status.className = "notice " + kind;
      status.hidden = !text;
    }

    async function open() {
      active = true;
      say("", "");
      await load("");
    }

    function leave() {
      active = false;
      seq++;
      clearTimeout(timer);
    }

    async function load(after) {
      clearTimeout(timer);
      const mine = ++seq;
      try {
        const q = new URLSearchParams({ limit: "20" });
        if (after) q.set("after", after);
        const res = await ctx.api.get("/reconcile/runs?" + q);
        if (mine !== seq) return;
        if (!after) clear(tbody);
        for (const r of res.data || []) tbody.append(row(r));
        cursor = res.next_cursor || "";
        more.hidden = !cursor;
        table.hidden = tbody.children.length === 0;
        empty.hidden = !table.hidden;
      } catch (err) {
        if (mine === seq && err.status !== 401) say(err.message, "error");
      } finally {
        // Only the first page refreshes itself, so a run in progress finishes on screen.
        if (mine === seq && active && !after) timer = setTimeout(() => load(""), REFRESH_MS);
      }
    }

    async function runNow() {
      runBtn.disabled = true;
      runBtn.textContent = "Running…";
      say("A run started; this page shows its result when it finishes.", "ok");
      try {
        const r = await ctx.api.post("/reconcile/run");
        say(`Run finished: ${repairedText(r.steps || {}).join(", ") || "nothing needed repair"}.`, r.error ? "warn" : "ok");
      } catch (err) {
        if (err.status === 401) return;
        if (err.status === 409) say("A run is already in progress (started by the schedule or by someone else). Its result appears below when it finishes.", "warn");
        else say(err.message, "error");
      } finally {
        runBtn.disabled = false;
        runBtn.textContent = "Run now";
      }
      if (active) await load("");
    }

    function row(r) {
      const running = !r.finished_at;
      const errors = [r.error, ...((r.steps && r.steps.errors) || [])].filter(Boolean);
      const took = running ? null : new Date(r.finished_at) - new Date(r.started_at);
      const repaired = repairedText(r.steps || {});
      return h("tr", { "data-testid": "run-row", "data-id": r.id, "data-running": running ? "true" : "false" },
        h("td", { "data-label": "Started" }, timeEl(r.started_at), h("span", { class: "muted small block" }, fmtTime(r.started_at))),
        h("td", { "data-label": "Trigger" }, r.trigger === "manual" ? "Run now" : r.trigger === "cron" ? "Schedule" : r.trigger),
        h("td", { "data-label": "Result" },
          running ? h("span", { class: "badge status-in_flight" }, "Running")
            : errors.length ? h("span", { class: "badge status-failed" }, "Problems")
              : h("span", { class: "badge on" }, "Done"),
          took !== null && !isNaN(took) ? h("span", { class: "muted small" }, " " + fmtMs(took)) : null,
          errors.map((e) => h("span", { class: "error-text small block" }, e))),
        h("td", { "data-label": "Repaired", "data-testid": "run-repaired" },
          running ? h("span", { class: "muted" }, "In progress")
            : repaired.length ? h("ul", { class: "plain" }, repaired.map((t) => h("li", {}, t)))
              : h("span", { class: "muted" }, "Nothing needed repair")));
    }

    return { open, leave };
  };

  // repairedText lists what a run did, leaving out the steps that found nothing.
  function repairedText(s) {
    const out = [];
    if (s.requeued) out.push(`${plural(s.requeued, "stuck attempt", "stuck attempts")} re-queued`);
    if (s.gap_filled) out.push(`${plural(s.gap_filled, "missing delivery", "missing deliveries")} created`);
    const src = s.source || {};
    if (src.ingested) out.push(`${plural(src.ingested, "event", "events")} fetched from the source`);
    if (src.error) out.push(`source: ${src.error}`);
    if (s.replayed) out.push(`${plural(s.replayed, "delivery", "deliveries")} replayed after a recovery`);
    if (s.disabled) out.push(`${plural(s.disabled, "failing webhook", "failing webhooks")} disabled`);
    const p = s.pruned || {};
    const pruned = (p.events || 0) + (p.messages || 0) + (p.runs || 0);
    if (pruned) out.push(`pruned ${[p.events && plural(p.events, "event", "events"), p.messages && plural(p.messages, "message", "messages"), p.runs && plural(p.runs, "old run", "old runs")].filter(Boolean).join(", ")}`);
    return out;
  }
})(window.Herald = window.Herald || {});
