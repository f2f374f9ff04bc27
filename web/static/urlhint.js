// A hint, not a rule: the server decides which URLs it accepts and checks
// the address it actually dials. This says, while typing, what this server
// will do with the obvious cases, using its settings.
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

  // urlHint returns {level: "ok"|"info"|"warn", text} for a URL being typed,
  // or null for an empty field. server is GET /api/v1/settings: what this
  // server allows, so the hint says what will actually happen here.
  function urlHint(raw, sink, server) {
    const allowHTTP = Boolean(server && server.allow_http);
    const allowPrivate = Boolean(server && server.allow_private_networks);
    const value = (raw || "").trim();
    if (!value) return sink === "slack" ? null : { level: "warn", text: "Paste the address your receiving system gave you." };
    let u;
    try {
      u = new URL(value);
    } catch {
      return { level: "warn", text: `This is not a complete URL yet; it should start with https://${allowHTTP ? " (or http://)" : ""}` };
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") {
      return { level: "warn", text: "Use an https:// address; the server will not send to other schemes." };
    }
    const notes = [];
    let level = "ok";
    if (u.protocol === "http:") {
      if (!allowHTTP) {
        return { level: "warn", text: "This server refuses plain http://: use https://. (HERALD_ALLOW_HTTP=true allows http for development.)" };
      }
      level = "info";
      notes.push("Plain http:// is allowed on this server (HERALD_ALLOW_HTTP is on), but requests are not encrypted; use https:// in production.");
    }
    const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    const local = host === "localhost" || host.endsWith(".localhost");
    if (local || isPrivateIPv4(host) || isPrivateIPv6(host)) {
      const what = local ? "localhost is the Herald machine itself" : "This is a loopback, private or link-local address";
      if (!allowPrivate) {
        return { level: "warn", text: `${what}; this server refuses it. (HERALD_ALLOW_PRIVATE_NETWORKS=true allows it for development.)` };
      }
      level = "info";
      notes.push(`${what}; allowed on this server because HERALD_ALLOW_PRIVATE_NETWORKS is on.`);
    }
    if (!notes.length) notes.push("Looks good. The server checks where it resolves before each request.");
    return { level, text: notes.join(" ") };
  }

  H.urlHint = urlHint;
})(window.Herald = window.Herald || {});
