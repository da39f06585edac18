// The Events page: filters, a paginated table, a row's full event, and Export.

import { TIME_HINT, api, download, el, eventType, failure, field, filterForm, pick, query, showEvent, textField } from "./core.js";
import { appPicker, knownValues, typePickers } from "./known.js";

export const EVENT_FILTERS = ["session_id", "user_id", "category", "name", "app", "from", "to"];
const FORMATS = ["ndjson", "csv", "parquet"];

export async function eventsPage(params) {
  const filters = pick(params, EVENT_FILTERS);
  const known = await knownValues();
  const view = el("div", {}, el("h1", {}, "Events"));
  view.append(filterForm([
    textField("session_id", "Session", filters),
    textField("user_id", "User", filters),
    ...typePickers(known, filters),
    appPicker(known, filters),
    textField("from", "From (UTC)", filters, TIME_HINT),
    textField("to", "To (UTC, exclusive)", filters, TIME_HINT),
  ], (values) => { location.hash = `#/events${query(values)}`; }));
  view.append(exportBar(filters));
  const table = el("table", { id: "events-table" },
    el("thead", {}, el("tr", {}, ["Timestamp", "App", "Session", "User", "Type", "Data"].map((h) => el("th", {}, h)))),
    el("tbody"));
  const pager = el("div", { class: "pager" });
  view.append(table, pager);
  const load = async (cursor) => {
    const page = await api(`/v1/events${query({ ...filters, cursor, limit: 50 })}`);
    for (const event of page.events) {
      table.tBodies[0].append(el("tr", { onclick: () => showEvent(event) },
        el("td", {}, event.timestamp),
        el("td", {}, event.app),
        el("td", {}, el("a", { href: `#/session/${encodeURIComponent(event.session_id)}`, onclick: (e) => e.stopPropagation() }, event.session_id)),
        el("td", { class: "nowrap" }, event.user_id || ""),
        el("td", {}, eventType(event)),
        el("td", { class: "data" }, JSON.stringify(event.data))));
    }
    pager.replaceChildren(el("span", { class: "muted", id: "events-count" }, `${table.tBodies[0].rows.length} events`),
      page.next_cursor ? el("button", { class: "secondary", type: "button", onclick: () => load(page.next_cursor).catch((error) => pager.append(failure(error))) }, "Next page") : "");
  };
  await load().catch((error) => pager.replaceChildren(failure(error)));
  return view;
}

/// Export: every event matching the filters (not only the page shown), as a file.
function exportBar(filters) {
  const format = el("select", { id: "export-format", name: "format" }, FORMATS.map((f) => el("option", { value: f }, f)));
  const status = el("span", { id: "export-status", role: "status", class: "muted" });
  const button = el("button", { id: "export", type: "button", class: "secondary" }, "Export");
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.className = "muted";
    status.textContent = "Preparing the file…";
    try {
      const name = await download(`/v1/events/export${query({ format: format.value, ...filters })}`, `events.${format.value}`);
      status.textContent = `Downloaded ${name}`;
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
  return el("div", { class: "toolbar" }, field("Export format", format), button,
    el("span", { class: "muted" }, "every event matching the filters, not only this page"), status);
}
