// Start-up: sign-in, the hash router and the pieces they share.
// Routes: #/webhooks, #/webhooks/new, #/webhooks/<id>[/<tab>].
"use strict";
(function (H) {
  const { byId, toaster } = H.dom;

  const api = new H.Api();
  const bannerEl = byId("banner");
  const views = { login: byId("login-view"), list: byId("list-view"), webhook: byId("webhook-view") };
  const titles = { login: "login-title", list: "list-title", webhook: "wh-title" };
  let currentView = "";
  let catalog = null; // promise of the event types, loaded once per sign-in
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
  };

  const list = H.listView(ctx);
  const form = H.webhookForm(ctx);
  const log = H.deliveryLog(ctx);
  const detail = H.webhookView(ctx, form, log);
  ctx.onSaved = detail.saved;

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
    detail.leave();
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
    if (name !== "webhook") detail.leave();
    if (name !== currentView) {
      currentView = name;
      ctx.banner(flash);
      flash = "";
      const heading = byId(titles[name]);
      if (heading) heading.focus({ preventScroll: false });
    }
    if (name === "list") document.title = "Webhooks · Herald";
    if (name === "login") document.title = "Sign in · Herald";
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
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
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
    else await detail.open(parts[1], parts[2] || "deliveries");
  }
})(window.Herald = window.Herald || {});
