// The create/edit form. The browser only hints; the server validates and its
// field errors are shown beside the field they name.
"use strict";
(function (H) {
  const { byId, h, clear, clearFieldErrors, showFieldError, confirmDialog } = H.dom;

  // EVENT_GROUPS sorts the catalog for the form; what matches none goes last.
  const EVENT_GROUPS = [
    ["Contacts", (n) => n.startsWith("contact_") || n === "human_alerted" || n === "tag_applied"],
    ["Messages", (n) => n === "new_message" || n.startsWith("message_")],
    ["Appointments", (n) => n.startsWith("appointment_")],
    ["Credits", (n) => n.startsWith("credits_")],
    ["Other", () => true],
  ];

  H.webhookForm = function (ctx) {
    const form = byId("webhook-form");
    const banner = byId("form-banner");
    const el = {
      name: byId("wh-name"), sink: byId("wh-sink"), url: byId("wh-url"), urlLabel: byId("wh-url-label"),
      urlHint: byId("wh-url-hint"), channel: byId("wh-channel"), plugin: byId("wh-plugin"),
      pluginHint: byId("wh-plugin-hint"), pluginFields: byId("plugin-fields"), events: byId("wh-events"),
      anyEvent: byId("wh-events-any"), tags: byId("wh-tags"), tagInput: byId("wh-tag-input"),
      summary: byId("wh-summary"), ordered: byId("wh-ordered"), enabled: byId("wh-enabled"), headers: byId("wh-headers"),
      save: byId("wh-save"), del: byId("wh-delete"),
    };
    let editing = null; // the webhook being edited; null while creating
    let tags = [];
    let plugins = null; // loaded on first use of the plugin sink
    let headerSeq = 0;

    el.url.addEventListener("input", updateUrlHint);
    el.sink.addEventListener("change", () => { updateSink(); updateUrlHint(); });
    el.plugin.addEventListener("change", () => renderPluginFields({}));
    el.anyEvent.addEventListener("change", updateAnyEvent);
    byId("events-all").addEventListener("click", () => tickEvents(true));
    byId("events-none").addEventListener("click", () => tickEvents(false));
    el.tagInput.addEventListener("keydown", onTagKey);
    el.tagInput.addEventListener("input", onTagInput);
    // Enter adds a tag and must never submit the form. Cancelling keydown is
    // not always enough: a synthetic keypress still triggers implicit submit.
    el.tagInput.addEventListener("keypress", (e) => { if (e.key === "Enter") e.preventDefault(); });
    byId("add-header").addEventListener("click", () => addHeaderRow("", "", true));
    el.del.addEventListener("click", onDelete);
    form.addEventListener("submit", onSubmit);

    // renderEvents builds one checkbox per catalog event, grouped by what
    // they are about; test_event is only for "Send Test Event". On a phone
    // the groups start folded (unless something in them is ticked), so the
    // form scrolls less.
    function renderEvents(types) {
      clear(el.events);
      const left = types.filter((t) => t.name !== "test_event");
      for (const [title, match] of EVENT_GROUPS) {
        const mine = left.filter((t) => match(t.name));
        if (!mine.length) continue;
        for (const t of mine) left.splice(left.indexOf(t), 1);
        const count = h("span", { class: "muted small group-count" });
        const group = h("details", { class: "event-group", "data-testid": "event-group", open: true },
          h("summary", {}, h("span", { class: "strong" }, title), " ", count),
          h("div", { class: "checks" }, mine.map((t) => {
            const id = "ev-" + t.name;
            return h("label", { class: "check card-check", for: id },
              h("input", { type: "checkbox", id, value: t.name, "data-testid": "event-checkbox" }),
              h("span", {}, h("span", { class: "strong block" }, t.title || t.name),
                h("span", { class: "muted small block desc" }, t.description || "")));
          })));
        group.addEventListener("change", countGroups);
        el.events.append(group);
      }
      countGroups();
    }

    // countGroups says in each group's heading how many are ticked.
    function countGroups() {
      for (const g of el.events.querySelectorAll(".event-group")) {
        const boxes = [...g.querySelectorAll("input[type=checkbox]")];
        const on = boxes.filter((b) => b.checked).length;
        g.querySelector(".group-count").textContent = el.anyEvent.checked ? "(all)" : `(${on} of ${boxes.length})`;
      }
    }

    // foldGroups opens every group on a wide screen; on a phone only those
    // with a ticked event.
    function foldGroups() {
      const phone = window.matchMedia("(max-width: 720px)").matches;
      for (const g of el.events.querySelectorAll(".event-group")) {
        g.open = !phone || el.anyEvent.checked || Boolean(g.querySelector("input:checked"));
      }
    }

    function eventBoxes() {
      return [...el.events.querySelectorAll("input[type=checkbox]")];
    }

    function tickEvents(on) {
      el.anyEvent.checked = false;
      updateAnyEvent();
      for (const box of eventBoxes()) box.checked = on;
      countGroups();
    }

    function updateAnyEvent() {
      for (const box of eventBoxes()) box.disabled = el.anyEvent.checked;
      countGroups();
    }

    // fill loads a webhook into the form, or resets it for a new one.
    function fill(w) {
      editing = w;
      clearFieldErrors(form);
      banner.hidden = true;
      const config = (w && w.config) || {};
      el.name.value = (w && w.name) || "";
      el.sink.value = (w && w.sink) || "webhook";
      el.url.value = (w && w.url) || "";
      el.channel.value = config.channel || "";
      const events = (w && w.events) || [];
      el.anyEvent.checked = events.includes("*");
      for (const box of eventBoxes()) box.checked = events.includes(box.value);
      updateAnyEvent();
      foldGroups();
      tags = ((w && w.tags) || []).slice();
      el.tagInput.value = "";
      renderTags();
      el.summary.checked = Boolean(w && w.generate_summary);
      el.ordered.checked = Boolean(w && w.ordered);
      el.enabled.checked = w ? Boolean(w.enabled) : true;
      for (const row of [...el.headers.children]) row.remove();
      for (const [k, v] of Object.entries((w && w.headers) || {})) addHeaderRow(k, v, false);
      el.del.hidden = !w;
      el.save.textContent = w ? "Save changes" : "Create webhook";
      updateSink(w && w.plugin, config);
      updateUrlHint();
    }

    function updateSink(pluginName, config) {
      const sink = el.sink.value;
      byId("field-url").hidden = sink === "plugin";
      byId("field-slack").hidden = sink !== "slack";
      byId("field-plugin").hidden = sink !== "plugin";
      el.urlLabel.textContent = sink === "slack" ? "Slack incoming-webhook URL" : "Endpoint URL";
      el.url.placeholder = sink === "slack" ? "https://hooks.slack.com/services/…" : "https://example.com/hooks/herald";
      if (sink === "plugin") loadPlugins(pluginName, config || {});
    }

    function updateUrlHint() {
      const hint = H.urlHint(el.url.value, el.sink.value, ctx.server);
      el.urlHint.textContent = hint ? hint.text : "";
      el.urlHint.className = "hint" + (hint && hint.level === "warn" ? " warn-text" : "");
    }

    async function loadPlugins(selected, config) {
      if (!plugins) {
        el.pluginHint.textContent = "Loading plugins…";
        try {
          plugins = (await ctx.api.get("/plugins")).data || [];
        } catch (err) {
          el.pluginHint.textContent = "Could not load plugins: " + err.message;
          return;
        }
      }
      clear(el.plugin);
      for (const p of plugins) el.plugin.append(h("option", { value: p.name }, p.version ? `${p.name} ${p.version}` : p.name));
      if (selected && !plugins.some((p) => p.name === selected)) {
        el.plugin.append(h("option", { value: selected }, `${selected} (not installed)`));
      }
      if (selected) el.plugin.value = selected;
      renderPluginFields(config);
    }

    // renderPluginFields builds inputs from the fields the plugin describes.
    function renderPluginFields(config) {
      clear(el.pluginFields);
      const p = (plugins || []).find((x) => x.name === el.plugin.value);
      if (!plugins || !plugins.length) {
        el.pluginHint.textContent = "No plugins are installed. Put an executable named herald-sink-<name> in the plugin folder, then reload plugins.";
        return;
      }
      if (!p) { el.pluginHint.textContent = "This plugin is not installed on the server."; return; }
      el.pluginHint.textContent = [p.description, p.error ? "Error: " + p.error : p.running === false ? "Not running." : ""]
        .filter(Boolean).join(" ");
      for (const f of p.fields || []) el.pluginFields.append(pluginField(f, config[f.name]));
    }

    function pluginField(f, value) {
      const id = "cfg-" + f.name;
      const errId = "err-cfg-" + f.name;
      const bool = f.type === "bool" || f.type === "boolean";
      const num = ["int", "integer", "number", "float"].includes(f.type);
      const input = h("input", {
        id, "data-config": f.name, "data-type": bool ? "bool" : num ? "number" : "string",
        type: bool ? "checkbox" : f.secret ? "password" : num ? "number" : "text",
        autocomplete: "off", spellcheck: "false", required: Boolean(f.required),
        "aria-describedby": `${id}-hint ${errId}`,
      });
      if (bool) input.checked = Boolean(value);
      else if (value !== undefined && value !== null) input.value = String(value);
      const label = h("label", { for: id, class: bool ? "check" : "" }, bool ? input : null,
        h("span", {}, f.name, f.required ? h("span", { class: "muted" }, " (required)") : null));
      return h("div", { class: "field" }, label, bool ? null : input,
        h("p", { id: `${id}-hint`, class: "hint" }, f.description || ""),
        h("p", { id: errId, class: "field-error", "data-error-for": "config." + f.name, "data-input": id, hidden: true }));
    }

    function renderTags() {
      for (const chip of [...el.tags.querySelectorAll(".chip")]) chip.remove();
      tags.forEach((tag, i) => {
        el.tagInput.before(h("span", { class: "chip", "data-testid": "tag-chip", "data-index": i },
          h("span", {}, tag),
          h("button", { type: "button", class: "chip-x", "aria-label": `Remove tag ${tag}`, onclick: () => removeTag(i) }, "×")));
      });
    }

    function addTags(text) {
      for (const raw of text.split(",")) {
        const tag = raw.trim();
        if (tag && !tags.some((t) => t.toLowerCase() === tag.toLowerCase())) tags.push(tag);
      }
      renderTags();
    }

    function removeTag(i) {
      tags.splice(i, 1);
      renderTags();
      el.tagInput.focus();
    }

    function onTagKey(e) {
      if (e.key === "Enter" || e.key === ",") {
        e.preventDefault();
        addTags(el.tagInput.value);
        el.tagInput.value = "";
      } else if (e.key === "Backspace" && !el.tagInput.value && tags.length) {
        removeTag(tags.length - 1);
      }
    }

    // A pasted "a, b, c" becomes three chips.
    function onTagInput() {
      const v = el.tagInput.value;
      if (!v.includes(",")) return;
      const cut = v.lastIndexOf(",");
      addTags(v.slice(0, cut));
      el.tagInput.value = v.slice(cut + 1).trimStart();
    }

    function addHeaderRow(key, value, focus) {
      const n = ++headerSeq;
      const k = h("input", { id: `hk-${n}`, class: "hk", type: "text", value: key, placeholder: "Header name", autocomplete: "off", spellcheck: "false" });
      const v = h("input", { id: `hv-${n}`, class: "hv", type: "text", value, placeholder: "Value", autocomplete: "off", spellcheck: "false" });
      const row = h("div", { class: "header-row", "data-testid": "header-row" },
        h("label", { for: k.id, class: "sr-only" }, "Header name"), k,
        h("label", { for: v.id, class: "sr-only" }, "Header value"), v,
        h("button", { type: "button", class: "btn small ghost", "aria-label": "Remove header", onclick: () => row.remove() }, "Remove"));
      el.headers.append(row);
      if (focus) k.focus();
    }

    function collect() {
      const sink = el.sink.value;
      const headers = {};
      for (const row of el.headers.children) {
        const key = row.querySelector(".hk").value.trim();
        if (key) headers[key] = row.querySelector(".hv").value;
      }
      const body = {
        name: el.name.value.trim(),
        sink,
        events: el.anyEvent.checked ? ["*"] : eventBoxes().filter((b) => b.checked).map((b) => b.value),
        tags: tags.slice(),
        generate_summary: el.summary.checked,
        ordered: el.ordered.checked,
        enabled: el.enabled.checked,
        headers,
      };
      if (sink === "plugin") {
        body.plugin = el.plugin.value;
        body.config = pluginConfig();
      } else {
        body.url = el.url.value.trim();
        const channel = el.channel.value.trim();
        body.config = sink === "slack" && channel ? { channel } : {};
      }
      return body;
    }

    function pluginConfig() {
      const config = {};
      for (const input of el.pluginFields.querySelectorAll("[data-config]")) {
        const t = input.dataset.type;
        if (t === "bool") config[input.dataset.config] = input.checked;
        else if (input.value === "") continue;
        else config[input.dataset.config] = t === "number" ? Number(input.value) : input.value;
      }
      return config;
    }

    async function onSubmit(e) {
      e.preventDefault();
      clearFieldErrors(form);
      banner.hidden = true;
      if (el.tagInput.value.trim()) { addTags(el.tagInput.value); el.tagInput.value = ""; }
      const body = collect();
      el.save.disabled = true;
      try {
        const w = editing
          ? await ctx.api.patch(H.path("webhooks", editing.id), body)
          : await ctx.api.post("/webhooks", body);
        ctx.onSaved(w, !editing);
      } catch (err) {
        if (err.status !== 401) showError(err);
      } finally {
        el.save.disabled = false;
      }
    }

    function showError(err) {
      const target = err.field ? showFieldError(form, err.field, err.message) : null;
      const m = /^tags\[(\d+)\]$/.exec(err.field || "");
      if (m) {
        const chip = el.tags.querySelector(`.chip[data-index="${m[1]}"]`);
        if (chip) chip.classList.add("invalid");
      }
      if (!target) {
        banner.textContent = err.message;
        banner.hidden = false;
        banner.scrollIntoView({ block: "nearest" });
      } else if (target.matches("input, select, textarea")) {
        target.focus();
      } else {
        target.scrollIntoView({ block: "nearest" });
      }
    }

    async function onDelete() {
      if (!editing) return;
      const ok = await confirmDialog({
        title: "Delete this webhook?",
        message: `"${editing.name || editing.url}" stops receiving events, and its delivery log is removed. This cannot be undone.`,
        confirm: "Delete", danger: true,
      });
      if (!ok) return;
      try {
        await ctx.api.del(H.path("webhooks", editing.id));
        ctx.toast("Webhook deleted.");
        ctx.navigate("#/webhooks");
      } catch (err) {
        if (err.status !== 401) showError(err);
      }
    }

    return { fill, renderEvents, settingsChanged: updateUrlHint };
  };
})(window.Herald = window.Herald || {});
