// What every page of the console shares: building DOM nodes, calling the API with the
// signed-in key, filter forms, the detail panel and file downloads.

export const $ = (selector, root = document) => root.querySelector(selector);
export const store = window.sessionStorage;

// Colours of chart series, in order.
export const PALETTE = ["#3056d3", "#e04f5f", "#f79009", "#12b76a", "#7a5af8", "#0ba5ec", "#ee46bc", "#667085"];

/// A DOM node: attributes (`on*` are listeners, `text` the text, `svg: true` an SVG
/// element), then children (nodes or text; null and undefined are skipped).
export function el(tag, attributes = {}, ...children) {
  const node = tag === "svg" || attributes.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "svg" || value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

function bearer(admin) {
  const key = admin ? store.getItem("eye.adminKey") : store.getItem("eye.key");
  if (!key) throw new ApiError(401, "unauthorized", admin ? "enter an admin key first" : "sign in first");
  return { Authorization: `Bearer ${key}` };
}

async function refusal(response) {
  const payload = await response.json().catch(() => ({}));
  const error = payload.error || { code: String(response.status), message: response.statusText };
  return new ApiError(response.status, error.code, error.message);
}

export async function api(path, { method = "GET", body, admin = false } = {}) {
  const headers = bearer(admin);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  if (!response.ok) throw await refusal(response);
  return response.json();
}

/// Downloads `path` as a file. The console authenticates with a bearer header, which a plain
/// link cannot send, so the answer is read whole into a Blob and saved through an object URL
/// and an `<a download>` click. That holds the whole file in the tab's memory: fine for the
/// exports a console asks for; for very large ones use `eye` or curl, which stream to disk.
/// Returns the file name (the server's Content-Disposition, else `fallbackName`).
export async function download(path, fallbackName) {
  const response = await fetch(path, { headers: bearer(false) });
  if (!response.ok) throw await refusal(response);
  const name = attachmentName(response.headers.get("Content-Disposition")) || fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The click starts the download asynchronously: revoke the URL only once it has begun.
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

/// The file name of a Content-Disposition header: `filename*=UTF-8''…` first, then `filename=`.
export function attachmentName(header) {
  if (!header) return null;
  const extended = header.match(/filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/);
  if (extended) {
    try { return decodeURIComponent(extended[1].trim()); } catch (_) { /* malformed: try the plain form */ }
  }
  const plain = header.match(/filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/);
  if (!plain) return null;
  return (plain[1] !== undefined ? plain[1].replace(/\\(.)/g, "$1") : plain[2].trim()) || null;
}

/// A query string of the non-empty values (`""` when none).
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

/// Keeps only `names` of `params`.
export function pick(params, names) {
  return Object.fromEntries(names.filter((name) => params[name]).map((name) => [name, params[name]]));
}

export function formValues(form) {
  return Object.fromEntries([...new FormData(form).entries()].filter(([, value]) => value !== ""));
}

/// A labelled control of a filter form.
export function field(label, control) {
  return el("label", { class: "field" }, el("span", {}, label), control);
}

/// A labelled text input named `name`.
export function textField(name, label, values, placeholder = "") {
  return field(label, el("input", { name, value: values[name] || "", placeholder }));
}

/// A filter form: `fields` (nodes made by `field`, `textField` or the pickers), then Search.
export function filterForm(fields, onSubmit, extra = []) {
  const form = el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); onSubmit(formValues(form)); } },
    fields, el("button", { type: "submit" }, "Search"), extra);
  return form;
}

export const TIME_HINT = "2021-01-01 09:00:00";

export function showDetail(title, ...content) {
  $("#detail-title").textContent = title;
  $("#detail-body").replaceChildren(...content);
  $("#detail").hidden = false;
}

export function json(value, attributes = {}) {
  return el("pre", { class: "json", ...attributes }, JSON.stringify(value, null, 2));
}

/// The detail panel of a stored event: its fields (the user, and the timestamp as the client
/// sent it when The Eye corrected the client's clock), then `data` and `context` as JSON.
export function showEvent(event) {
  const row = (label, id, ...value) => [el("dt", {}, label), el("dd", { id }, ...value)];
  const corrected = event.original_timestamp && event.original_timestamp !== event.timestamp;
  const fields = el("dl", { class: "fields" },
    row("Timestamp", "event-timestamp", event.timestamp),
    corrected ? row("Sent as", "event-original-timestamp", event.original_timestamp,
      el("small", { class: "muted" }, ` (the client's clock, ${shift(event.original_timestamp, event.timestamp)})`)) : null,
    row("Received", "event-received", event.received_at),
    row("Type", "event-type", eventType(event)),
    row("Application", "event-app", event.app),
    row("Session", "event-session", el("a", { href: `#/session/${encodeURIComponent(event.session_id)}` }, event.session_id)),
    row("User", "event-user", event.user_id
      ? el("a", { href: `#/events${query({ user_id: event.user_id })}` }, event.user_id)
      : el("span", { class: "muted" }, "none sent")),
    event.event_id ? row("Event id", "event-event-id", event.event_id) : null,
    event.schema_version !== null && event.schema_version !== undefined ? row("Schema version", "event-schema-version", event.schema_version) : null);
  showDetail(`Event ${event.id}`, fields,
    el("h3", {}, "Data"), json(event.data, { id: "event-data" }),
    el("h3", {}, "Context"), event.context ? json(event.context, { id: "event-context" }) : el("p", { class: "muted", id: "event-context" }, "none sent"));
}

/// How far The Eye moved a timestamp: `corrected by +1 h 0 min 2.5 s`.
function shift(original, timestamp) {
  const ms = Date.parse(timestamp) - Date.parse(original);
  const sign = ms < 0 ? "−" : "+";
  let rest = Math.abs(ms) / 1000;
  const parts = [];
  if (rest >= 3600) { parts.push(`${Math.floor(rest / 3600)} h`); rest %= 3600; }
  if (rest >= 60 || parts.length) { parts.push(`${Math.floor(rest / 60)} min`); rest %= 60; }
  parts.push(`${Number(rest.toFixed(3))} s`);
  return `corrected by ${sign}${parts.join(" ")}`;
}

export function failure(error) {
  return el("p", { class: "error", role: "alert" }, error.message);
}

export function eventType(item) {
  return item.category && item.name ? `${item.category} / ${item.name}` : "—";
}

export function adminKeyField() {
  const input = el("input", { id: "admin-key", type: "password", placeholder: "admin key (eye_…)", value: store.getItem("eye.adminKey") || "", "aria-label": "admin key" });
  input.addEventListener("change", () => store.setItem("eye.adminKey", input.value.trim()));
  return input;
}

/// A count with thousands separators.
export function count(n) {
  return Number(n).toLocaleString("en-US");
}
