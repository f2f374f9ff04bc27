// The API tokens page: create an ingest or admin token (its value is shown
// once, with Copy), list them with when each was last used, and revoke.
"use strict";
(function (H) {
  const { byId, h, clear, timeEl, confirmDialog, clearFieldErrors, showFieldError } = H.dom;

  const SCOPE_TEXT = { admin: "Admin", ingest: "Ingest" };

  H.tokensView = function (ctx) {
    const form = byId("token-form");
    const name = byId("token-name");
    const scope = byId("token-scope");
    const created = byId("token-created");
    const value = byId("token-value");
    const copyStatus = byId("token-copy-status");
    const table = byId("token-table");
    const tbody = byId("token-list");
    const info = byId("tokens-status");

    form.addEventListener("submit", create);
    byId("token-copy").addEventListener("click", async () => {
      if (await H.writeClipboard(value.textContent)) {
        copyStatus.textContent = "Copied to the clipboard.";
      } else {
        window.getSelection().selectAllChildren(value);
        copyStatus.textContent = "Copying is blocked here; the token is selected, press Ctrl+C (or ⌘C).";
      }
    });

    async function open() {
      hideValue();
      await load();
    }

    // hideValue forgets a shown token: it is shown once, on this page only.
    function hideValue() {
      created.hidden = true;
      value.textContent = "";
      copyStatus.textContent = "";
    }

    async function load() {
      try {
        const res = await ctx.api.get("/tokens");
        clear(tbody);
        const list = (res.data || []).slice().reverse(); // newest first
        for (const t of list) tbody.append(row(t));
        table.hidden = list.length === 0;
        info.textContent = list.length ? "" : "No tokens yet.";
      } catch (err) {
        if (err.status !== 401) info.textContent = err.message;
      }
    }

    async function create(e) {
      e.preventDefault();
      clearFieldErrors(form);
      hideValue();
      const button = byId("token-create");
      button.disabled = true;
      try {
        const t = await ctx.api.post("/tokens", { name: name.value.trim(), scope: scope.value });
        value.textContent = t.token;
        created.hidden = false;
        name.value = "";
        ctx.toast(`${SCOPE_TEXT[t.scope] || t.scope} token created.`);
        await load();
      } catch (err) {
        if (err.status === 401) return;
        const target = showFieldError(form, err.field, err.message);
        if (target) target.focus();
        else ctx.toast(err.message, "error");
      } finally {
        button.disabled = false;
      }
    }

    function row(t) {
      const revoke = h("button", { type: "button", class: "btn small danger", "data-testid": "token-revoke", "aria-label": `Revoke ${t.name}` }, "Revoke");
      revoke.addEventListener("click", () => remove(t));
      return h("tr", { "data-testid": "token-row", "data-id": t.id },
        h("td", { "data-label": "Name", class: "strong" }, t.name),
        h("td", { "data-label": "Scope" }, h("span", { class: "badge " + (t.scope === "admin" ? "status-pending" : "") }, SCOPE_TEXT[t.scope] || t.scope)),
        h("td", { "data-label": "Created" }, timeEl(t.created_at)),
        h("td", { "data-label": "Last used", "data-testid": "token-last-used" }, t.last_used_at ? timeEl(t.last_used_at) : h("span", { class: "muted" }, "never")),
        h("td", { class: "actions-cell" }, revoke));
    }

    async function remove(t) {
      const ok = await confirmDialog({
        title: `Revoke “${t.name}”?`,
        message: `Anything using this ${t.scope} token gets 401 from now on. This cannot be undone; make a new token instead.`,
        confirm: "Revoke token",
        danger: true,
      });
      if (!ok) return;
      try {
        await ctx.api.del(H.path("tokens", t.id));
        ctx.toast(`Token “${t.name}” revoked.`);
      } catch (err) {
        if (err.status === 401) return;
        ctx.toast(err.message, "error");
      }
      await load();
    }

    return { open, leave: hideValue };
  };
})(window.Herald = window.Herald || {});
