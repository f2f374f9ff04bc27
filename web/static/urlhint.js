// A hint, not a rule: the server decides which URLs it accepts (it may allow
// http and private networks in development) and checks the address it
// actually dials. This only warns about the obvious cases while typing.
"use strict";
(function (H) {
  // isPrivateIPv4 covers loopback, "this network", RFC 1918, link-local
  // (which holds cloud metadata endpoints) and carrier-grade NAT.
  function isPrivateIPv4(host) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
    if (!m) return false;
    const a = Number(m[1]);
    const b = Number(m[2]);
    return a === 127 || a === 10 || a === 0 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127);
  }

  // isPrivateIPv6 expects the URL parser's compressed lower-case form.
  function isPrivateIPv6(host) {
    if (!host.includes(":")) return false;
    if (host === "::1" || host === "::") return true;
    if (/^f[cd][0-9a-f]{2}:/.test(host)) return true; // unique local fc00::/7
    if (/^fe[89ab][0-9a-f]:/.test(host)) return true; // link-local fe80::/10
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (mapped) {
      const hi = parseInt(mapped[1], 16);
      const lo = parseInt(mapped[2], 16);
      return isPrivateIPv4(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
    return false;
  }

  // urlHint returns {level: "ok"|"warn", text} for a URL being typed, or
  // null for an empty field.
  function urlHint(raw, sink) {
    const value = (raw || "").trim();
    if (!value) return sink === "slack" ? null : { level: "warn", text: "Paste the address your receiving system gave you." };
    let u;
    try {
      u = new URL(value);
    } catch {
      return { level: "warn", text: "This is not a complete URL yet; it should start with https://" };
    }
    if (u.protocol === "http:") {
      return { level: "warn", text: "Plain http:// is refused unless the server allows it for development. Use https:// in production." };
    }
    if (u.protocol !== "https:") {
      return { level: "warn", text: "Use an https:// address; the server will not send to other schemes." };
    }
    const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    if (host === "localhost" || host.endsWith(".localhost")) {
      return { level: "warn", text: "localhost is the Herald machine itself; the server refuses it unless private networks are allowed." };
    }
    if (isPrivateIPv4(host) || isPrivateIPv6(host)) {
      return { level: "warn", text: "This is a loopback, private or link-local address; the server refuses it unless private networks are allowed." };
    }
    return { level: "ok", text: "Looks good. The server checks where it resolves before each request." };
  }

  H.urlHint = urlHint;
})(window.Herald = window.Herald || {});
