// The Plugins page: what is installed, whether it runs, the config fields
// each one takes, and Reload after changing the plugin folder.
"use strict";
(function (H) {
  const { byId, h, clear } = H.dom;

  const TYPE_TEXT = { string: "text", number: "number", bool: "yes/no", secret: "secret" };

  H.pluginsView = function (ctx) {
    const list = byId("plugin-list");
    const info = byId("plugins-status");
    const reload = byId("plugins-reload");

    reload.addEventListener("click", async () => {
      reload.disabled = true;
      reload.textContent = "Reloading…";
      try {
        render((await ctx.api.post("/plugins/reload")).data || []);
        ctx.toast("Plugin folder read again.");
      } catch (err) {
        if (err.status !== 401) info.textContent = err.message;
      } finally {
        reload.disabled = false;
        reload.textContent = "Reload";
      }
    });

    async function open() {
      info.textContent = "Loading…";
      try {
        render((await ctx.api.get("/plugins")).data || []);
      } catch (err) {
        if (err.status !== 401) info.textContent = err.message;
      }
    }

    function render(plugins) {
      clear(list);
      info.textContent = plugins.length ? "" : "No plugins installed. Put an executable named herald-sink-<name> in the plugin folder, then press Reload.";
      for (const p of plugins) list.append(card(p));
    }

    function card(p) {
      const state = p.running
        ? h("span", { class: "badge on", "data-testid": "plugin-state" }, "Running")
        : h("span", { class: "badge status-failed", "data-testid": "plugin-state" }, p.error ? "Error" : "Stopped");
      return h("article", { class: "card plugin", "data-testid": "plugin", "data-name": p.name },
        h("div", { class: "row wrap" },
          h("h2", { class: "grow" }, p.name, p.version ? h("span", { class: "muted small" }, " " + p.version) : null),
          state),
        p.description ? h("p", {}, p.description) : null,
        p.error ? h("p", { class: "error-text", "data-testid": "plugin-error" }, p.error) : null,
        p.running || (p.fields || []).length ? fields(p.fields || []) : null,
        h("p", { class: "muted small url" }, p.path || "", p.sha256 ? h("span", { class: "block" }, "SHA-256 " + p.sha256) : null));
    }

    function fields(list) {
      if (!list.length) return h("p", { class: "muted small" }, "Takes no config fields.");
      return h("table", { class: "table stack fields" },
        h("caption", { class: "sr-only" }, "Config fields"),
        h("thead", {}, h("tr", {}, ["Field", "Type", "Required", "What it is"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, list.map((f) => h("tr", { "data-testid": "plugin-field" },
          h("td", { "data-label": "Field" }, h("code", {}, f.name)),
          h("td", { "data-label": "Type" }, TYPE_TEXT[f.type] || f.type || "text"),
          h("td", { "data-label": "Required" }, f.required ? "Yes" : "No"),
          h("td", { "data-label": "What it is" }, f.description || "")))));
    }

    return { open };
  };
})(window.Herald = window.Herald || {});
