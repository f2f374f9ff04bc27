// Start-up: sign-in, the hash router and the pieces they share.
// Routes: #/overview, #/webhooks, #/webhooks/new, #/webhooks/<id>[/<tab>[/<delivery id>]],
// #/events[?filters], #/events/<id>, #/tokens, #/plugins, #/reconcile.
"use strict";
(function (H) {
  const { byId, toaster } = H.dom;

  const api = new H.Api();
  const bannerEl = byId("banner");
  const views = {
    login: byId("login-view"), list: byId("list-view"), webhook: byId("webhook-view"), overview: byId("overview-view"),
    events: byId("events-view"), event: byId("event-view"), tokens: byId("tokens-view"), plugins: byId("plugins-view"),
    reconcile: byId("reconcile-view"),
  };
  const titles = {
    login: "login-title", list: "list-title", webhook: "wh-title", overview: "overview-title", events: "events-title",
    event: "event-title", tokens: "tokens-title", plugins: "plugins-title", reconcile: "reconcile-title",
  };
  // Each view's section in the navigation, and its name in the breadcrumb.
  const sections = {
    list: ["webhooks", "Webhooks"], webhook: ["webhooks", "Webhooks"], overview: ["overview", "Overview"],
    events: ["events", "Events"], event: ["events", "Events"], tokens: ["tokens", "API tokens"],
    plugins: ["plugins", "Plugins"], reconcile: ["reconcile", "Reconciliation"],
  };
  let currentView = "";
  let catalog = null; // promise of the event types, loaded once per sign-in
  let settings = null; // promise of the server's settings, loaded once per sign-in
  let flash = ""; // a message for the next view, e.g. why we left the last one

  const ctx = {
    api,
    toast: toaster(),
    banner(message) {
      bannerEl.textContent = message;
      bannerEl.hidden = !message;
    },
    flash(message) {
      flash = message;
    },
    navigate(hash) {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    onSaved: null,
    catalog: () => loadCatalog(),
    // server holds what this server allows (allow_http, ...) once loaded.
    server: {},
  };

  const list = H.listView(ctx);
  const form = H.webhookForm(ctx);
  const log = H.deliveryLog(ctx);
  const detail = H.webhookView(ctx, form, log);
  ctx.onSaved = detail.saved;
  const overview = H.overviewView(ctx);
  const events = H.eventsView(ctx);
  const eventDetail = H.eventView(ctx, events);
  const tokens = H.tokensView(ctx);
  const plugins = H.pluginsView(ctx);
  const reconcile = H.reconcileView(ctx);
  // leave stops what refreshes itself when its view is left.
  const leavers = { webhook: detail.leave, overview: overview.leave, tokens: tokens.leave, reconcile: reconcile.leave };

  api.onUnauthorized = () => showLogin("Your session has ended. Sign in again.");

  byId("login-form").addEventListener("submit", signIn);
  byId("logout").addEventListener("click", () => {
    api.clearToken();
    showLogin("You are signed out.");
  });
  window.addEventListener("hashchange", route);
  route();

  async function signIn(e) {
    e.preventDefault();
    const input = byId("login-token");
    const error = byId("login-error");
    const token = input.value.trim();
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    if (!token) return loginError("Enter a token.");
    const button = byId("login-submit");
    button.disabled = true;
    try {
      await api.get("/webhooks", { token });
      api.setToken(token);
      input.value = "";
      byId("login-info").textContent = "";
      route();
    } catch (err) {
      if (err.status === 401) loginError("That token was not accepted.");
      else if (err.status === 403) loginError("That token can only send events. Sign in with an admin token.");
      else loginError(err.message);
    } finally {
      button.disabled = false;
    }

    function loginError(message) {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function showLogin(info) {
    catalog = null;
    settings = null;
    for (const leave of Object.values(leavers)) leave();
    byId("login-info").textContent = info || "";
    show("login");
  }

  // show switches views and moves focus to the new heading, so screen
  // readers announce the change.
  function show(name) {
    for (const [k, el] of Object.entries(views)) el.hidden = k !== name;
    const signedIn = name !== "login";
    byId("logout").hidden = !signedIn;
    byId("crumbs").hidden = !signedIn;
    byId("sections").hidden = !signedIn;
    for (const [k, leave] of Object.entries(leavers)) if (k !== name) leave();
    const [section, label] = sections[name] || ["", ""];
    const crumb = byId("crumb-page");
    crumb.textContent = label;
    crumb.href = "#/" + section;
    for (const a of byId("sections").querySelectorAll("a")) {
      if (a.dataset.section === section) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (name !== currentView) {
      currentView = name;
      ctx.banner(flash);
      flash = "";
      const heading = byId(titles[name]);
      if (heading) heading.focus({ preventScroll: false });
    }
    if (name === "login") document.title = "Sign in · Herald";
    else if (name !== "webhook" && name !== "event") document.title = label + " · Herald";
  }

  // loadSettings asks the server what it allows, so URL hints match it.
  function loadSettings() {
    if (!settings) {
      settings = api.get("/settings").then((s) => {
        Object.assign(ctx.server, s);
        const v = byId("server-version");
        v.textContent = s.version ? "v" + s.version : "";
        v.hidden = !s.version;
        form.settingsChanged();
        return s;
      });
      settings.catch(() => { settings = null; });
    }
    return settings;
  }

  function loadCatalog() {
    if (!catalog) {
      catalog = api.get("/event-types").then((res) => {
        const types = res.data || [];
        form.renderEvents(types);
        detail.setEventTypes(types);
        return types;
      });
      catalog.catch(() => { catalog = null; });
    }
    return catalog;
  }

  async function route() {
    if (!api.token) return showLogin("");
    loadSettings().catch(() => {});
    const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    const params = new URLSearchParams(search || "");
    switch (parts[0]) {
      case "overview":
        show("overview");
        return overview.open();
      case "events":
        if (parts[1]) {
          show("event");
          return eventDetail.open(parts[1]);
        }
        show("events");
        return events.open(params);
      case "tokens":
        show("tokens");
        return tokens.open();
      case "plugins":
        show("plugins");
        return plugins.open();
      case "reconcile":
        show("reconcile");
        return reconcile.open();
    }
    if (parts[0] !== "webhooks" || parts.length === 1) {
      if (parts[0] !== "webhooks") history.replaceState(null, "", "#/webhooks");
      show("list");
      list.load();
      return;
    }
    try {
      await loadCatalog();
    } catch (err) {
      if (err.status === 401) return;
      ctx.banner("Could not load the event types: " + err.message);
    }
    if (!api.token) return;
    show("webhook");
    if (parts[1] === "new") detail.openNew();
    else await detail.open(parts[1], parts[2] || "deliveries", parts[3] || "");
  }
})(window.Herald = window.Herald || {});
