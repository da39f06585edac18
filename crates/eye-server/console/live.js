// The Live page: events as the node's worker stores them (`GET /v1/events/live`, server-sent
// events read through fetch, which can send the bearer header that EventSource cannot).

import { el, eventType, filterForm, pick, query, showEvent, store, textField } from "./core.js";
import { appPicker, knownValues, typePickers } from "./known.js";

const LIVE_FILTERS = ["session_id", "category", "name", "app"];

/// The page follows the stream until the router calls its `stop()`.
export async function livePage(params) {
  const filters = pick(params, LIVE_FILTERS);
  const known = await knownValues();
  const table = el("table", { id: "live-table" },
    el("thead", {}, el("tr", {}, ["Timestamp", "App", "Session", "Type", "Data"].map((h) => el("th", {}, h)))), el("tbody"));
  const status = el("span", { class: "muted", id: "live-status", role: "status" }, "connecting…");
  const view = el("div", {}, el("h1", {}, "Live"),
    filterForm([textField("session_id", "Session", filters), ...typePickers(known, filters), appPicker(known, filters)],
      (values) => { location.hash = `#/live${query(values)}`; }, status),
    table);
  const following = new AbortController();
  follow(filters, table, status, following.signal);
  view.stop = () => following.abort();
  return view;
}

async function follow(filters, table, status, signal) {
  try {
    const response = await fetch(`/v1/events/live${query(filters)}`, {
      headers: { Authorization: `Bearer ${store.getItem("eye.key")}` }, signal });
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
        table.tBodies[0].prepend(el("tr", { onclick: () => showEvent(event) },
          el("td", {}, event.timestamp), el("td", {}, event.app), el("td", {}, event.session_id),
          el("td", {}, eventType(event)), el("td", { class: "data" }, JSON.stringify(event.data))));
        while (table.tBodies[0].rows.length > 200) table.tBodies[0].deleteRow(-1);
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") status.textContent = error.message;
  }
}
