// The Herald API client: bearer token from sessionStorage, JSON in and out,
// and the API's {"error": {code, message, field}} turned into an ApiError.
"use strict";
(function (H) {
  const TOKEN_KEY = "herald.token";

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || (status ? `The server answered HTTP ${status}.` : "Herald could not be reached."));
      this.status = status;
      this.code = e.code || "";
      this.field = e.field || "";
    }
  }

  class Api {
    constructor() {
      // Called after any 401 so the page can go back to the sign-in form.
      this.onUnauthorized = () => {};
    }

    get token() {
      try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
    }

    setToken(token) {
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* private mode: stays signed out */ }
    }

    clearToken() {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* nothing stored */ }
    }

    // request sends one call. opts.token checks a token without storing it
    // and without triggering onUnauthorized (the sign-in form does that).
    async request(method, path, body, opts = {}) {
      const headers = {
        Accept: "application/json",
        Authorization: "Bearer " + (opts.token || this.token),
      };
      const init = { method, headers, cache: "no-store", credentials: "omit" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      let res;
      try {
        res = await fetch("/api/v1" + path, init);
      } catch {
        throw new ApiError(0, { error: { message: "Herald could not be reached. Check the connection and try again." } });
      }
      const text = await res.text();
      let data = null;
      if (text) {
        try { data = JSON.parse(text); } catch { data = null; }
      }
      if (res.status === 401 && !opts.token) {
        this.clearToken();
        this.onUnauthorized();
      }
      if (!res.ok) throw new ApiError(res.status, data);
      return data;
    }

    get(path, opts) { return this.request("GET", path, undefined, opts); }
    post(path, body) { return this.request("POST", path, body === undefined ? {} : body); }
    patch(path, body) { return this.request("PATCH", path, body); }
    del(path) { return this.request("DELETE", path); }
  }

  // path builds "/webhooks/<id>/test" with every segment escaped.
  function path(...segments) {
    return "/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
  }

  H.Api = Api;
  H.ApiError = ApiError;
  H.path = path;
})(window.Herald = window.Herald || {});
