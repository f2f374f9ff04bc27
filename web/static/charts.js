// Delivery charts drawn as inline SVG: bars of deliveries succeeded and
// failed per bucket, and lines of p50/p99 latency. Sized in real pixels from
// the container, so labels stay readable on a phone; colours come from CSS
// classes, so dark mode and the CSP (no inline style) both hold.
"use strict";
(function (H) {
  const { byId, h, clear, fmtMs, plural } = H.dom;
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 30000; // the smallest bucket is a minute
  const HEIGHT = 150;
  const PAD = { left: 44, right: 8, top: 10, bottom: 22 };

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) if (c !== null && c !== undefined) el.append(c);
    return el;
  }

  // niceMax rounds up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function tickLabel(iso, win) {
    const d = new Date(iso);
    if (win === "7d") return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric" });
    return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }

  function frame(width, max, fmt, buckets, win) {
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const g = s("g", { class: "axis" });
    for (const f of [0, 0.5, 1]) {
      const y = PAD.top + plotH * (1 - f);
      g.append(s("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: "grid" }));
      g.append(s("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, fmt(max * f)));
    }
    const n = buckets.length;
    const step = (width - PAD.left - PAD.right) / n;
    for (const i of [0, Math.floor(n / 2), n - 1]) {
      const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
      const x = i === n - 1 ? width - PAD.right : PAD.left + i * step + (i === 0 ? 0 : step / 2);
      g.append(s("text", { x, y: HEIGHT - 6, "text-anchor": anchor }, tickLabel(buckets[i].start, win)));
    }
    return g;
  }

  function deliveriesChart(buckets, width, win) {
    const max = niceMax(Math.max(0, ...buckets.map((b) => b.succeeded + b.failed)));
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const step = (width - PAD.left - PAD.right) / buckets.length;
    const bar = Math.max(1, step - (step > 6 ? 2 : 0.5));
    const svg = s("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: "chart", role: "img", "data-testid": "chart-deliveries" });
    svg.append(frame(width, max, (v) => String(Math.round(v * 10) / 10), buckets, win));
    buckets.forEach((b, i) => {
      const x = PAD.left + i * step + (step - bar) / 2;
      const okH = (b.succeeded / max) * plotH;
      const badH = (b.failed / max) * plotH;
      const base = PAD.top + plotH;
      const title = s("title", {}, `${tickLabel(b.start, win)}: ${b.succeeded} succeeded, ${b.failed} failed, ${b.retried} retried`);
      const g = s("g", { class: "bucket" }, title);
      if (b.succeeded) g.append(s("rect", { x, y: base - okH, width: bar, height: okH, class: "ok" }));
      if (b.failed) g.append(s("rect", { x, y: base - okH - badH, width: bar, height: badH, class: "bad" }));
      // An invisible full-height target, so the tooltip works on empty bars too.
      g.append(s("rect", { x: PAD.left + i * step, y: PAD.top, width: step, height: plotH, class: "hit" }));
      svg.append(g);
    });
    return svg;
  }

  function latencyChart(buckets, width, win) {
    const max = niceMax(Math.max(0, ...buckets.map((b) => b.p99_ms)));
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const step = (width - PAD.left - PAD.right) / buckets.length;
    const svg = s("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: "chart", role: "img", "data-testid": "chart-latency" });
    svg.append(frame(width, max, (v) => fmtMs(v).replace(" ", ""), buckets, win));
    for (const [key, cls] of [["p99_ms", "p99"], ["p50_ms", "p50"]]) {
      // A line through the buckets that had a success; gaps where none did.
      let d = "";
      let open = false;
      buckets.forEach((b, i) => {
        const ok = b.succeeded > 0;
        if (!ok) { open = false; return; }
        const x = PAD.left + i * step + step / 2;
        const y = PAD.top + plotH * (1 - b[key] / max);
        d += `${open ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)} `;
        open = true;
        svg.append(s("circle", { cx: x, cy: y, r: 2.2, class: cls }, s("title", {}, `${tickLabel(b.start, win)}: ${cls} ${fmtMs(b[key])}`)));
      });
      if (d) svg.insertBefore(s("path", { d, class: "line " + cls }), svg.children[1] || null);
    }
    return svg;
  }

  function legend(items) {
    return h("p", { class: "legend small" }, items.map(([cls, text]) => h("span", { class: "key " + cls }, text)));
  }

  // draw renders one stats answer into el.
  function draw(el, stats) {
    clear(el);
    const buckets = stats.buckets || [];
    const win = stats.window || "24h";
    const sum = (k) => buckets.reduce((n, b) => n + (b[k] || 0), 0);
    const ok = sum("succeeded");
    const bad = sum("failed");
    const worst = Math.max(0, ...buckets.map((b) => b.p99_ms || 0));
    el.dataset.succeeded = String(ok);
    el.dataset.failed = String(bad);
    const totals = h("p", { class: "totals", "data-testid": "chart-totals" },
      h("span", { class: "strong ok-text" }, plural(ok, "succeeded", "succeeded")), " · ",
      h("span", { class: "strong " + (bad ? "bad-text" : "") }, `${bad} failed`), " · ",
      h("span", {}, `${sum("retried")} retried`),
      worst ? h("span", { class: "muted" }, ` · worst p99 ${fmtMs(worst)}`) : null);
    const figDeliveries = h("figure", { class: "chart-fig" }, h("figcaption", { class: "small strong" }, "Deliveries"));
    const figLatency = h("figure", { class: "chart-fig" }, h("figcaption", { class: "small strong" }, "Latency, arrival to success"));
    el.append(totals, figDeliveries, figLatency);
    // Drawn at the size the figure has on this screen, in real pixels.
    const width = Math.max(240, Math.floor(figDeliveries.clientWidth - 26 || 600));
    const deliveries = deliveriesChart(buckets, width, win);
    deliveries.setAttribute("aria-label", `Deliveries per ${bucketText(stats)}: ${ok} succeeded, ${bad} failed`);
    const latency = latencyChart(buckets, width, win);
    latency.setAttribute("aria-label", `Latency per ${bucketText(stats)}, p50 and p99`);
    figDeliveries.append(deliveries, legend([["ok", "Succeeded"], ["bad", "Failed"]]));
    figLatency.append(latency, legend([["p50", "p50"], ["p99", "p99"]]));
    if (!ok && !bad) el.append(h("p", { class: "muted small" }, "No deliveries finished in this window yet."));
  }

  function bucketText(stats) {
    const sec = stats.bucket_seconds || 0;
    if (sec >= 3600) return `${sec / 3600} hours`;
    return `${Math.round(sec / 60)} minutes`;
  }

  // H.chartPanel wires a chart container to its win buttons and keeps
  // it fresh while it is on screen. getWebhookId returns "" for all.
  H.chartPanel = function (ctx, containerId, getWebhookId) {
    const el = byId(containerId);
    const buttons = [...document.querySelectorAll(`[data-window-for="${containerId}"] button`)];
    let win = "24h";
    let last = null;
    let timer = 0;
    let active = false;
    let seq = 0;

    for (const b of buttons) {
      b.addEventListener("click", () => {
        win = b.dataset.window;
        for (const o of buttons) o.setAttribute("aria-pressed", o === b ? "true" : "false");
        refresh();
      });
    }
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { if (active && last) draw(el, last); }, 150);
    });
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearTimeout(timer);
      else if (active) refresh();
    });

    async function refresh() {
      clearTimeout(timer);
      const mine = ++seq;
      const q = new URLSearchParams({ window: win });
      const id = getWebhookId();
      if (id) q.set("webhook_id", id);
      try {
        const stats = await ctx.api.get("/stats?" + q);
        if (mine !== seq || !active) return;
        last = stats;
        draw(el, stats);
      } catch (err) {
        if (mine === seq && err.status !== 401) {
          clear(el);
          el.append(h("p", { class: "error-text" }, "Could not load the charts: " + err.message));
        }
      } finally {
        if (mine === seq && active && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
      }
    }

    function start() {
      active = true;
      refresh();
    }

    function stop() {
      active = false;
      seq++;
      clearTimeout(timer);
    }

    return { start, stop, refresh };
  };
})(window.Herald = window.Herald || {});
