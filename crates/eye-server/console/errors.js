// The Errors page: counts by code and event type, errors per hour, the filterable list, an
// error's raw input, and replay (admin key).

import { $, TIME_HINT, adminKeyField, api, el, eventType, field, filterForm, pick, query, showDetail, store, textField } from "./core.js";
import { legend, stackedBars } from "./chart.js";
import { appPicker, knownValues, typePickers } from "./known.js";

const ERROR_FILTERS = ["code", "app", "category", "name", "from", "to"];

/// Stacked bars: errors per hour (of receive time), split by `keyOf` (the code, or the type).
function errorChart(errors, keyOf, id, label) {
  const buckets = new Map();
  const keys = [...new Set(errors.map(keyOf))];
  for (const error of errors) {
    const hour = error.received_at.slice(0, 13);
    const counts = buckets.get(hour) || {};
    counts[keyOf(error)] = (counts[keyOf(error)] || 0) + 1;
    buckets.set(hour, counts);
  }
  const hours = [...buckets.keys()].sort();
  const series = keys.map((key) => ({ label: key, counts: hours.map((hour) => buckets.get(hour)[key] || 0) }));
  const tick = (hour) => `${hour.slice(5).replace("T", " ")}h`;
  return el("div", {}, el("h2", {}, `Errors per hour ${label}`),
    stackedBars({ id, label: `errors per hour ${label}`, times: hours, series, tick, empty: "No errors.", width: 500 }),
    legend(series));
}

export async function errorsPage(params) {
  const filters = pick(params, ERROR_FILTERS);
  const [page, summary, known] = await Promise.all([
    api(`/v1/errors${query({ ...filters, limit: 1000 })}`),
    api(`/v1/errors/summary${query(pick(filters, ["from", "to"]))}`),
    knownValues(),
  ]);
  // Rejected events may be of types never stored: offer those of the summary too.
  const types = new Map([...known.types, ...summary.by_event_type.map((t) => [t.category, t.name])].map((t) => [t.join("\n"), t]));
  const codes = Object.keys(summary.by_code);
  const code = el("input", { name: "code", value: filters.code || "", list: "error-codes" });
  const view = el("div", {}, el("h1", {}, "Errors"),
    filterForm([
      field("Code", code), el("datalist", { id: "error-codes" }, codes.map((c) => el("option", { value: c }))),
      appPicker(known, filters),
      ...typePickers({ ...known, types: [...types.values()] }, filters),
      textField("from", "Received from (UTC)", filters, TIME_HINT),
      textField("to", "Received before (UTC)", filters, TIME_HINT),
    ], (values) => { location.hash = `#/errors${query(values)}`; }));
  const byType = el("table", { id: "errors-by-type" },
    el("thead", {}, el("tr", {}, el("th", {}, "Event type"), el("th", {}, "Errors"))),
    el("tbody", {}, summary.by_event_type.map((t) => el("tr", {}, el("td", {}, `${t.category} / ${t.name}`), el("td", {}, t.count)))));
  const byCode = el("div", { class: "cards" }, Object.entries(summary.by_code).map(([c, n]) => el("div", { class: "card" }, c, el("b", {}, n))));
  view.append(byCode, el("div", { class: "row" },
    errorChart(page.errors, (e) => e.code, "errors-chart", "by code"),
    errorChart(page.errors, eventType, "errors-by-type-chart", "by event type")), byType);
  const table = el("table", { id: "errors-table" },
    el("thead", {}, el("tr", {}, ["Received", "App", "Code", "Type", "Path", "Message"].map((h) => el("th", {}, h)))),
    el("tbody", {}, page.errors.map((error) => el("tr", { onclick: () => errorDetail(error) },
      el("td", {}, error.received_at), el("td", {}, error.app), el("td", {}, error.code),
      el("td", {}, eventType(error)), el("td", {}, error.path || "—"), el("td", {}, error.message)))));
  view.append(el("h2", { id: "errors-count" }, `${page.errors.length} errors${page.next_cursor ? " (the newest 1,000)" : ""}`), table, replayPanel(filters));
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

function replayPanel(filters) {
  const result = el("p", { id: "replay-result", role: "status" });
  const run = (dryRun) => async () => {
    store.setItem("eye.adminKey", $("#admin-key").value.trim());
    result.className = "";
    result.textContent = "…";
    try {
      const outcome = await api("/v1/errors/replay", { method: "POST", body: { ...filters, dry_run: dryRun }, admin: true });
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
