// The Sessions page (the list, by last activity, with its filters) and one session's
// timeline.

import { TIME_HINT, api, count, el, eventType, failure, field, filterForm, pick, query, showEvent, textField } from "./core.js";
import { appPicker, eventTypePicker, knownValues } from "./known.js";

const SESSION_FILTERS = ["from", "to", "app", "user_id", "min_events", "has_event", "order"];

export async function sessionsPage(params) {
  const filters = pick(params, SESSION_FILTERS);
  const known = await knownValues();
  const order = el("select", { name: "order" },
    el("option", { value: "" }, "latest activity first"),
    el("option", { value: "asc", selected: filters.order === "asc" }, "earliest activity first"));
  const view = el("div", {}, el("h1", {}, "Sessions"),
    filterForm([
      textField("from", "Active from (UTC)", filters, TIME_HINT),
      textField("to", "Active before (UTC)", filters, TIME_HINT),
      appPicker(known, filters),
      textField("user_id", "User", filters),
      field("Min. events", el("input", { name: "min_events", type: "number", min: 1, value: filters.min_events || "", class: "narrow" })),
      eventTypePicker(known, filters),
      field("Order", order),
    ], (values) => { location.hash = `#/sessions${query(values)}`; }));
  const table = el("table", { id: "sessions-table" },
    el("thead", {}, el("tr", {}, ["Session", "First event", "Last event", "Events", "Applications"].map((h) => el("th", {}, h)))),
    el("tbody"));
  const pager = el("div", { class: "pager" });
  view.append(table, pager);
  const load = async (cursor) => {
    const page = await api(`/v1/sessions${query({ ...filters, cursor, limit: 50 })}`);
    for (const session of page.sessions) {
      const href = `#/session/${encodeURIComponent(session.session_id)}`;
      table.tBodies[0].append(el("tr", { onclick: () => { location.hash = href; } },
        el("td", {}, el("a", { href }, session.session_id)),
        el("td", {}, session.first_timestamp),
        el("td", {}, session.last_timestamp),
        el("td", { class: "number" }, count(session.event_count)),
        el("td", {}, session.apps.join(", "))));
    }
    const shown = table.tBodies[0].rows.length;
    pager.replaceChildren(el("span", { class: "muted", id: "sessions-count" }, shown ? `${shown} sessions` : "No session matches these filters."),
      page.next_cursor ? el("button", { class: "secondary", type: "button", onclick: () => load(page.next_cursor).catch((error) => pager.append(failure(error))) }, "Next page") : "");
  };
  await load().catch((error) => pager.replaceChildren(failure(error)));
  return view;
}

function gap(previous, current) {
  if (!previous) return "start";
  const ms = Date.parse(current) - Date.parse(previous);
  if (ms < 1000) return `+${ms} ms`;
  if (ms < 60000) return `+${(ms / 1000).toFixed(1)} s`;
  return `+${(ms / 60000).toFixed(1)} min`;
}

export async function sessionPage(sessionId) {
  const session = await api(`/v1/sessions/${encodeURIComponent(sessionId)}?limit=1000`);
  const list = el("ol", { class: "timeline", id: "timeline" });
  let previous = null;
  for (const event of session.events) {
    list.append(el("li", { onclick: () => showEvent(event) },
      el("span", { class: "gap" }, gap(previous, event.timestamp)),
      el("span", {}, event.timestamp),
      el("strong", {}, eventType(event)),
      el("span", { class: "muted" }, event.app)));
    previous = event.timestamp;
  }
  return el("div", {},
    el("p", {}, el("a", { href: "#/sessions" }, "All sessions")),
    el("h1", {}, `Session ${session.session_id}`),
    el("div", { class: "cards" },
      el("div", { class: "card" }, "Events", el("b", { id: "session-count" }, session.event_count)),
      el("div", { class: "card" }, "First", el("b", {}, session.first_timestamp)),
      el("div", { class: "card" }, "Last", el("b", {}, session.last_timestamp)),
      el("div", { class: "card" }, "Applications", el("b", {}, session.apps.join(", ")))),
    list,
    session.next_cursor ? el("p", { class: "muted" }, "Showing the first 1,000 events.") : "");
}
