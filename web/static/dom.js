// DOM helpers shared by the other scripts. Text is only ever set through
// textContent or text nodes, so API data can never become markup.
"use strict";
(function (H) {
  const byId = (id) => document.getElementById(id);

  // Properties that must be set on the element, not as attributes.
  const PROPS = new Set(["checked", "value", "disabled", "hidden", "selected", "open"]);

  // h builds an element: h("a", {href: "#", class: "x"}, "text", child).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function fmtTime(iso) {
    const d = iso ? new Date(iso) : null;
    return d && !isNaN(d) ? d.toLocaleString() : "";
  }

  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

  // relTime says "3 minutes ago" or "in 20 seconds".
  function relTime(iso) {
    const d = iso ? new Date(iso) : null;
    if (!d || isNaN(d)) return "";
    const secs = Math.round((d.getTime() - Date.now()) / 1000);
    for (const [unit, size] of UNITS) {
      if (Math.abs(secs) >= size || unit === "second") {
        return rtf.format(Math.round(secs / size), unit);
      }
    }
    return "";
  }

  // timeEl shows a relative time with the exact one on hover and for readers.
  function timeEl(iso) {
    if (!iso) return h("span", { class: "muted" }, "—");
    return h("time", { datetime: iso, title: fmtTime(iso) }, relTime(iso));
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined || ms === "") return "—";
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
  }

  function fmtPercent(rate) {
    const p = (Number(rate) || 0) * 100;
    return (p > 0 && p < 10 ? p.toFixed(1) : Math.round(p)) + "%";
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  const STATUS_TEXT = {
    succeeded: "Succeeded", failed: "Failed", pending: "Pending",
    in_flight: "In flight", retrying: "Retrying", cancelled: "Cancelled",
  };

  function statusBadge(status) {
    const known = Object.prototype.hasOwnProperty.call(STATUS_TEXT, status);
    return h("span", { class: `badge status-${known ? status : "other"}`, "data-status": status },
      known ? STATUS_TEXT[status] : status);
  }

  function prettyJSON(value) {
    try { return JSON.stringify(value, null, 2); } catch { return String(value); }
  }

  // confirmDialog asks a yes/no question in the page's <dialog> and
  // resolves to true when the user confirms.
  function confirmDialog({ title, message, confirm = "OK", danger = false }) {
    const dlg = byId("confirm-dialog");
    byId("confirm-title").textContent = title;
    byId("confirm-message").textContent = message;
    const ok = byId("confirm-ok");
    ok.textContent = confirm;
    ok.className = "btn " + (danger ? "danger" : "primary");
    dlg.returnValue = "";
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
      dlg.showModal();
    });
  }

  // The toast is a polite live region; a new message replaces the old one.
  function toaster() {
    const el = byId("toast");
    let timer = 0;
    return function toast(message, kind = "ok") {
      clearTimeout(timer);
      el.textContent = message;
      el.className = `toast show ${kind}`;
      timer = setTimeout(() => { el.className = "toast"; }, 4000);
    };
  }

  function clearFieldErrors(root) {
    for (const el of root.querySelectorAll("[data-error-for]")) {
      el.textContent = "";
      el.hidden = true;
    }
    for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  // showFieldError puts an API error beside the field it names. "tags[2]"
  // falls back to "tags", "config.token" to "config". It returns the element
  // to focus, or null when no field matched (the caller shows a banner).
  function showFieldError(root, field, message) {
    let key = field || "";
    while (key) {
      const el = root.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
      if (el) {
        el.textContent = message;
        el.hidden = false;
        const input = el.dataset.input ? byId(el.dataset.input) : null;
        if (input) input.setAttribute("aria-invalid", "true");
        return input || el;
      }
      const parent = key.replace(/\[\d+\]$/, "");
      key = parent !== key ? parent : key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
    }
    return null;
  }

  H.dom = {
    byId, h, clear, fmtTime, relTime, timeEl, fmtMs, fmtPercent, plural, statusBadge,
    prettyJSON, confirmDialog, toaster, clearFieldErrors, showFieldError,
  };
})(window.Herald = window.Herald || {});
