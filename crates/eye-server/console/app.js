// The Eye console: a small single-page app over the HTTP API. No framework, no build step.
// Keys live in sessionStorage (this tab only). Every element is built through the DOM: the
// page's Content-Security-Policy forbids inline scripts and styles.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const store = window.sessionStorage;

// ---------------------------------------------------------------- DOM and API helpers

function el(tag, attributes = {}, ...children) {
  const node = tag === "svg" || attributes.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "svg" || value === undefined || value === null) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = "GET", body, admin = false } = {}) {
  const key = admin ? store.getItem("eye.adminKey") : store.getItem("eye.key");
  if (!key) throw new ApiError(401, "unauthorized", admin ? "enter an admin key first" : "sign in first");
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = payload.error || { code: String(response.status), message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return payload;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

function formValues(form) {
  return Object.fromEntries([...new FormData(form).entries()].filter(([, value]) => value !== ""));
}

function filterForm(fields, values, onSubmit, extra = []) {
  const form = el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); onSubmit(formValues(form)); } },
    fields.map(([name, placeholder]) => el("input", { name, placeholder, value: values[name] || "", "aria-label": placeholder })),
    el("button", { type: "submit" }, "Search"), extra);
  return form;
}

function showDetail(title, ...content) {
  $("#detail-title").textContent = title;
  $("#detail-body").replaceChildren(...content);
  $("#detail").hidden = false;
}

function json(value) {
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

function failure(error) {
  return el("p", { class: "error", role: "alert" }, error.message);
}

function eventType(item) {
  return item.category && item.name ? `${item.category} / ${item.name}` : "—";
}

// ---------------------------------------------------------------- pages

async function eventsPage(params) {
  const view = el("div", {}, el("h1", {}, "Events"));
  view.append(filterForm(
    [["session_id", "session"], ["category", "category"], ["name", "name"], ["app", "app"], ["from", "from (2021-01-01 09:00)"], ["to", "to"]],
    params, (values) => { location.hash = `#/events${query(values)}`; }));
  const table = el("table", { id: "events-table" },
    el("thead", {}, el("tr", {}, ["Timestamp", "App", "Session", "Type", "Data"].map((h) => el("th", {}, h)))),
    el("tbody"));
  const pager = el("div", { class: "pager" });
  view.append(table, pager);
  const load = async (cursor) => {
    const page = await api(`/v1/events${query({ ...params, cursor, limit: 50 })}`);
    for (const event of page.events) {
      table.tBodies[0].append(el("tr", { onclick: () => showDetail(`Event ${event.id}`, json(event)) },
        el("td", {}, event.timestamp),
        el("td", {}, event.app),
        el("td", {}, el("a", { href: `#/session/${encodeURIComponent(event.session_id)}`, onclick: (e) => e.stopPropagation() }, event.session_id)),
        el("td", {}, eventType(event)),
        el("td", { class: "data" }, JSON.stringify(event.data))));
    }
    pager.replaceChildren(el("span", { class: "muted" }, `${table.tBodies[0].rows.length} events`),
      page.next_cursor ? el("button", { class: "secondary", onclick: () => load(page.next_cursor) }, "Next page") : "");
  };
  await load();
  return view;
}

function gap(previous, current) {
  if (!previous) return "start";
  const ms = Date.parse(current) - Date.parse(previous);
  if (ms < 1000) return `+${ms} ms`;
  if (ms < 60000) return `+${(ms / 1000).toFixed(1)} s`;
  return `+${(ms / 60000).toFixed(1)} min`;
}

async function sessionPage(sessionId) {
  const session = await api(`/v1/sessions/${encodeURIComponent(sessionId)}?limit=1000`);
  const list = el("ol", { class: "timeline", id: "timeline" });
  let previous = null;
  for (const event of session.events) {
    list.append(el("li", { onclick: () => showDetail(`Event ${event.id}`, json(event)) },
      el("span", { class: "gap" }, gap(previous, event.timestamp)),
      el("span", {}, event.timestamp),
      el("strong", {}, eventType(event)),
      el("span", { class: "muted" }, event.app)));
    previous = event.timestamp;
  }
  return el("div", {},
    el("h1", {}, `Session ${session.session_id}`),
    el("div", { class: "cards" },
      el("div", { class: "card" }, "Events", el("b", { id: "session-count" }, session.event_count)),
      el("div", { class: "card" }, "First", el("b", {}, session.first_timestamp)),
      el("div", { class: "card" }, "Last", el("b", {}, session.last_timestamp)),
      el("div", { class: "card" }, "Applications", el("b", {}, session.apps.join(", ")))),
    list,
    session.next_cursor ? el("p", { class: "muted" }, "Showing the first 1,000 events.") : "");
}

const PALETTE = ["#3056d3", "#e04f5f", "#f79009", "#12b76a", "#7a5af8", "#0ba5ec", "#ee46bc", "#667085"];

/// Stacked bars: errors per hour, split by `keyOf` (the code, or the event type).
function errorChart(errors, keyOf, id, label) {
  const buckets = new Map();
  const codes = [...new Set(errors.map(keyOf))];
  for (const error of errors) {
    const hour = error.received_at.slice(0, 13);
    const counts = buckets.get(hour) || {};
    counts[keyOf(error)] = (counts[keyOf(error)] || 0) + 1;
    buckets.set(hour, counts);
  }
  const hours = [...buckets.keys()].sort();
  const max = Math.max(1, ...hours.map((h) => Object.values(buckets.get(h)).reduce((a, b) => a + b, 0)));
  const width = 800, height = 160, bar = Math.max(4, Math.min(60, (width - 20) / Math.max(1, hours.length) - 4));
  const svg = el("svg", { class: "chart", id, viewBox: `0 0 ${width} ${height + 20}`, role: "img", "aria-label": `errors per hour ${label}` });
  hours.forEach((hour, index) => {
    let y = height;
    const x = 10 + index * (bar + 4);
    codes.forEach((code, c) => {
      const count = buckets.get(hour)[code] || 0;
      if (!count) return;
      const h = (count / max) * (height - 10);
      y -= h;
      svg.append(el("rect", { svg: true, x, y, width: bar, height: h, fill: PALETTE[c % PALETTE.length] },
        el("title", { svg: true }, `${hour}:00 ${code}: ${count}`)));
    });
    svg.append(el("text", { svg: true, x, y: height + 14, "font-size": 11, fill: "#667085" }, hour.slice(5).replace("T", " ") + "h"));
  });
  const legend = el("div", { class: "legend" }, codes.map((code, c) => {
    const swatch = el("i");
    swatch.style.background = PALETTE[c % PALETTE.length];
    return el("span", {}, swatch, code);
  }));
  return el("div", {}, el("h2", {}, `Errors per hour ${label}`), svg, legend);
}

async function errorsPage(params) {
  const view = el("div", {}, el("h1", {}, "Errors"));
  view.append(filterForm(
    [["code", "code"], ["app", "app"], ["category", "category"], ["name", "name"], ["from", "received from"], ["to", "received to"]],
    params, (values) => { location.hash = `#/errors${query(values)}`; }));
  const [page, summary] = await Promise.all([
    api(`/v1/errors${query({ ...params, limit: 1000 })}`),
    api(`/v1/errors/summary${query({ from: params.from, to: params.to })}`),
  ]);
  const byType = el("table", { id: "errors-by-type" },
    el("thead", {}, el("tr", {}, el("th", {}, "Event type"), el("th", {}, "Errors"))),
    el("tbody", {}, summary.by_event_type.map((t) => el("tr", {}, el("td", {}, `${t.category} / ${t.name}`), el("td", {}, t.count)))));
  const byCode = el("div", { class: "cards" }, Object.entries(summary.by_code).map(([code, count]) => el("div", { class: "card" }, code, el("b", {}, count))));
  view.append(byCode, el("div", { class: "row" },
    errorChart(page.errors, (e) => e.code, "errors-chart", "by code"),
    errorChart(page.errors, eventType, "errors-by-type-chart", "by event type")), byType);
  const table = el("table", { id: "errors-table" },
    el("thead", {}, el("tr", {}, ["Received", "App", "Code", "Type", "Path", "Message"].map((h) => el("th", {}, h)))),
    el("tbody", {}, page.errors.map((error) => el("tr", { onclick: () => errorDetail(error) },
      el("td", {}, error.received_at), el("td", {}, error.app), el("td", {}, error.code),
      el("td", {}, eventType(error)), el("td", {}, error.path || "—"), el("td", {}, error.message)))));
  view.append(el("h2", {}, `${page.errors.length} errors${page.next_cursor ? " (the newest 1,000)" : ""}`), table, replayPanel(params));
  return view;
}

function errorDetail(error) {
  let raw = error.raw;
  try { raw = JSON.stringify(JSON.parse(error.raw), null, 2); } catch (_) { /* not JSON: show as received */ }
  showDetail(`Error ${error.code}`,
    el("p", { id: "error-message" }, error.message),
    el("p", {}, "Path: ", el("code", { id: "error-path" }, error.path || "—")),
    el("p", {}, "Schema version: ", el("span", { id: "error-schema-version" }, error.schema_version ?? "none")),
    el("p", {}, "Application: ", error.app, " · session: ", error.session_id || "—"),
    error.replayed_at ? el("p", { class: "ok" }, `Replayed at ${error.replayed_at} as event ${error.replayed_event_id}`) : "",
    el("h2", {}, "Raw input"), el("pre", { id: "error-raw" }, raw));
}

function adminKeyField() {
  const input = el("input", { id: "admin-key", type: "password", placeholder: "admin key (eye_…)", value: store.getItem("eye.adminKey") || "", "aria-label": "admin key" });
  input.addEventListener("change", () => store.setItem("eye.adminKey", input.value.trim()));
  return input;
}

function replayPanel(params) {
  const result = el("p", { id: "replay-result", role: "status" });
  const run = (dryRun) => async () => {
    store.setItem("eye.adminKey", $("#admin-key").value.trim());
    result.className = "";
    result.textContent = "…";
    try {
      const body = { ...params, dry_run: dryRun };
      const outcome = await api("/v1/errors/replay", { method: "POST", body, admin: true });
      result.className = "ok";
      result.textContent = `${dryRun ? "Dry run: " : ""}matched ${outcome.matched}, ${dryRun ? "would store" : "stored"} ${outcome.passed}, still failing ${outcome.still_failing}`;
    } catch (error) {
      result.className = "error";
      result.textContent = error.message;
    }
  };
  return el("div", {}, el("h2", {}, "Replay"),
    el("p", { class: "muted" }, "Re-validate the errors matching the filters above (not yet replayed) against the schemas in force, and store those that pass."),
    el("div", { class: "filters" }, adminKeyField(),
      el("button", { id: "replay-dry-run", class: "secondary", type: "button", onclick: run(true) }, "Dry run"),
      el("button", { id: "replay", type: "button", onclick: run(false) }, "Replay")),
    result);
}

let liveAbort = null;

function livePage(params) {
  const table = el("table", { id: "live-table" },
    el("thead", {}, el("tr", {}, ["Timestamp", "App", "Session", "Type", "Data"].map((h) => el("th", {}, h)))), el("tbody"));
  const status = el("span", { class: "muted", id: "live-status" }, "connecting…");
  const view = el("div", {}, el("h1", {}, "Live"),
    filterForm([["session_id", "session"], ["category", "category"], ["name", "name"], ["app", "app"]], params,
      (values) => { location.hash = `#/live${query(values)}`; }, status),
    table);
  follow(params, table, status);
  return view;
}

async function follow(params, table, status) {
  liveAbort = new AbortController();
  try {
    const response = await fetch(`/v1/events/live${query(params)}`, {
      headers: { Authorization: `Bearer ${store.getItem("eye.key")}` }, signal: liveAbort.signal });
    if (!response.ok) throw new Error(`live stream refused: ${response.status}`);
    status.textContent = "following new events";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = message.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!message.includes("event: event") || !data) continue;
        const event = JSON.parse(data);
        table.tBodies[0].prepend(el("tr", { onclick: () => showDetail(`Event ${event.id}`, json(event)) },
          el("td", {}, event.timestamp), el("td", {}, event.app), el("td", {}, event.session_id),
          el("td", {}, eventType(event)), el("td", { class: "data" }, JSON.stringify(event.data))));
        while (table.tBodies[0].rows.length > 200) table.tBodies[0].deleteRow(-1);
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") status.textContent = error.message;
  }
}

async function schemasPage() {
  const view = el("div", {}, el("h1", {}, "Schemas"), el("div", { class: "filters" }, adminKeyField(),
    el("button", { type: "button", class: "secondary", onclick: () => { store.setItem("eye.adminKey", $("#admin-key").value.trim()); render(); } }, "Use key")));
  if (!store.getItem("eye.adminKey")) {
    view.append(el("p", { class: "muted" }, "Schemas are managed with an admin key."));
    return view;
  }
  const { schemas } = await api("/v1/schemas", { admin: true });
  const category = el("input", { id: "schema-category", placeholder: "category" });
  const name = el("input", { id: "schema-name", placeholder: "name" });
  const editor = el("textarea", { id: "schema-editor", spellcheck: "false" }, '{\n  "type": "object"\n}');
  const sample = el("textarea", { id: "schema-sample", spellcheck: "false" });
  const result = el("p", { id: "schema-result", role: "status" });
  const open = (schema) => {
    category.value = schema.category;
    name.value = schema.name;
    editor.value = JSON.stringify(schema.schema, null, 2);
    sample.value = JSON.stringify({ session_id: "try-it", category: schema.category, name: schema.name, data: {}, timestamp: new Date().toISOString() }, null, 2);
  };
  const parse = (text, what) => { try { return JSON.parse(text); } catch (e) { throw new Error(`${what} is not JSON: ${e.message}`); } };
  const attempt = (action) => async () => {
    try { result.className = "ok"; result.textContent = await action(); } catch (error) { result.className = "error"; result.textContent = error.message; }
  };
  const save = attempt(async () => {
    const path = `/v1/schemas/${encodeURIComponent(category.value)}/${encodeURIComponent(name.value)}`;
    const saved = await api(path, { method: "PUT", body: parse(editor.value, "the schema"), admin: true });
    return `Saved: version ${saved.version}`;
  });
  const tryIt = attempt(async () => {
    const verdict = await api("/v1/schemas/validate", { method: "POST", body: { schema: parse(editor.value, "the schema"), event: parse(sample.value, "the sample event") }, admin: true });
    if (verdict.valid) return "The sample event passes.";
    throw new Error(`Rejected: ${verdict.error.code} at ${verdict.error.path || "—"}: ${verdict.error.message}`);
  });
  view.append(
    el("table", { id: "schemas-table" }, el("thead", {}, el("tr", {}, ["Category", "Name", "Version", "Since"].map((h) => el("th", {}, h)))),
      el("tbody", {}, schemas.map((s) => el("tr", { onclick: () => open(s) }, el("td", {}, s.category), el("td", {}, s.name), el("td", {}, s.version), el("td", {}, s.created_at))))),
    el("h2", {}, "Edit"), el("div", { class: "filters" }, category, name),
    el("div", { class: "row" }, el("div", {}, el("h2", {}, "Schema"), editor), el("div", {}, el("h2", {}, "Sample event"), sample)),
    el("div", { class: "filters" }, el("button", { id: "schema-try", type: "button", class: "secondary", onclick: tryIt }, "Try it"),
      el("button", { id: "schema-save", type: "button", onclick: save }, "Save")),
    result);
  return view;
}

// ---------------------------------------------------------------- routing and sign-in

async function render() {
  if (liveAbort) { liveAbort.abort(); liveAbort = null; }
  const signedIn = Boolean(store.getItem("eye.key"));
  $("#signin").hidden = signedIn;
  $("#nav").hidden = !signedIn;
  $("#detail").hidden = true;
  const view = $("#view");
  if (!signedIn) { view.replaceChildren(); return; }
  const [path, search = ""] = (location.hash.slice(1) || "/events").split("?");
  const params = Object.fromEntries(new URLSearchParams(search));
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", path.startsWith(link.getAttribute("href").slice(1)));
  try {
    let page;
    if (path.startsWith("/session/")) page = await sessionPage(decodeURIComponent(path.slice("/session/".length)));
    else if (path === "/errors") page = await errorsPage(params);
    else if (path === "/live") page = livePage(params);
    else if (path === "/schemas") page = await schemasPage();
    else page = await eventsPage(params);
    view.replaceChildren(page);
  } catch (error) {
    view.replaceChildren(failure(error));
  }
}

async function signIn(event) {
  event.preventDefault();
  const key = $("#signin-key").value.trim();
  store.setItem("eye.key", key);
  try {
    await api("/v1/events?limit=1");
    $("#signin-error").textContent = "";
    if (!location.hash) location.hash = "#/events";
    render();
  } catch (error) {
    store.removeItem("eye.key");
    $("#signin-error").textContent = error.status === 403 ? "This key lacks the query scope." : error.message;
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => { store.clear(); location.hash = ""; render(); });
  $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; });
  window.addEventListener("hashchange", render);
  render();
});
