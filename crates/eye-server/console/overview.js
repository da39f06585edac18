// The Overview page, where the console opens: over one range, events per interval by event
// type, totals per type, sessions started and the rejection rate; each part links into the
// Events, Sessions or Errors page with the same range.

import { PALETTE, TIME_HINT, api, count, el, failure, field, query } from "./core.js";
import { legend, stackedBars } from "./chart.js";

const MINUTE = 60000, HOUR = 3600000, DAY = 86400000;
const STEP = { minute: MINUTE, hour: HOUR, day: DAY };
const COARSER = { minute: "hour", hour: "day" };
// [value, label, interval, buckets]: each preset ends with the bucket now is in.
const RANGES = [
  ["hour", "Last hour", "minute", 60],
  ["day", "Last 24 hours", "hour", 24],
  ["7d", "Last 7 days", "hour", 168],
  ["30d", "Last 30 days", "day", 30],
  ["custom", "Custom range", null, null],
];
const DEFAULT_RANGE = "day";
// Types drawn apart in the chart; the rest are added up as "other types".
const CHART_TYPES = 7;
// Codes of events rejected one by one (RejectCode::ALL in ingest/validation). The error
// store also keeps bodies refused whole (not JSON, too large, ...): they are requests, not
// events, and hold an unknown number of them, so they are shown but left out of the rate.
const EVENT_REJECTIONS = new Set(["invalid_event", "missing_field", "invalid_field", "unknown_field", "invalid_timestamp",
  "timestamp_in_future", "timestamp_too_old", "unknown_event_type", "schema_violation"]);

export async function overviewPage(params) {
  const range = chosenRange(params);
  const view = el("div", {}, el("h1", {}, "Overview"), rangeForm(params, range));
  try {
    view.append(...await overview(range));
  } catch (error) {
    view.append(failure(error));
  }
  return view;
}

async function overview(range) {
  const events = await eventStats(range);
  const bounds = { from: events.from, to: events.to };
  const [sessions, errors] = await Promise.all([
    api(`/v1/stats/events${query({ ...bounds, interval: events.interval, metric: "sessions" })}`),
    api(`/v1/errors/summary${query(bounds)}`),
  ]);
  const rejected = Object.entries(errors.by_code).filter(([code]) => EVENT_REJECTIONS.has(code)).reduce((sum, [, n]) => sum + n, 0);
  const received = events.total + rejected;
  const step = STEP[events.interval];
  const times = events.series[0]?.points.map((p) => p.t) || sessions.series[0]?.points.map((p) => p.t) || [];
  const bucketEnd = (t) => iso(Date.parse(t) + step);
  const tick = tickFormat(events.interval, Date.parse(events.to) - Date.parse(events.from));
  return [
    el("p", { class: "muted", id: "overview-window" }, `${events.from} to ${events.to} (UTC), per ${events.interval}.`),
    el("div", { class: "cards" },
      card("Events stored", "overview-events", count(events.total)),
      card("Sessions started", "overview-sessions", count(sessions.total)),
      card("Events rejected", "overview-rejected", count(rejected)),
      card("Rejection rate", "overview-rejection-rate", received ? percent(rejected / received) : "—",
        `${count(rejected)} of ${count(received)} received`)),
    eventsSection(events, times, tick, bounds, bucketEnd),
    el("div", { class: "row" }, typeTotals(events, bounds), rejections(errors, rejected, bounds)),
    sessionsSection(sessions, times, tick, bounds, bucketEnd),
  ];
}

function card(label, id, value, note) {
  return el("div", { class: "card" }, label, el("b", { id }, value), note ? el("small", { class: "muted" }, note) : null);
}

/// The range of `params`: a preset (`preset`), or `from`, `to` and `interval` (automatic
/// when not given). `fixed`: the user chose the interval.
function chosenRange(params) {
  const [preset, , interval, buckets] = RANGES.find(([value]) => value === params.range) || RANGES.find(([value]) => value === DEFAULT_RANGE);
  if (preset !== "custom") {
    const step = STEP[interval];
    const end = Math.floor(Date.now() / step) * step + step;
    return { preset, from: iso(end - buckets * step), to: iso(end), interval, fixed: false };
  }
  const to = params.to || iso(Date.now());
  const from = params.from || iso(utcMillis(to) - 7 * DAY);
  if (STEP[params.interval]) return { preset, from, to, interval: params.interval, fixed: true };
  const span = utcMillis(to) - utcMillis(from);
  return { preset, from, to, interval: !(span > 6 * HOUR) ? "minute" : span <= 14 * DAY ? "hour" : "day", fixed: false };
}

/// Events by type; an answer over 10,000 points (buckets × types) is refused, so an interval
/// the console chose itself is made coarser until it fits.
async function eventStats(range) {
  let interval = range.interval;
  for (;;) {
    try {
      return await api(`/v1/stats/events${query({ from: range.from, to: range.to, interval, group_by: "category,name" })}`);
    } catch (error) {
      if (error.code !== "invalid_parameter" || range.fixed || !COARSER[interval]) throw error;
      interval = COARSER[interval];
    }
  }
}

/// The range picker; a custom range starts from the range shown.
function rangeForm(params, range) {
  const custom = range.preset === "custom";
  const choice = el("select", { id: "overview-range", name: "range" },
    RANGES.map(([value, label]) => el("option", { value, selected: value === range.preset }, label)));
  const interval = el("select", { name: "interval" }, el("option", { value: "" }, "automatic"),
    Object.keys(STEP).map((i) => el("option", { value: i, selected: custom && params.interval === i }, i)));
  const customFields = el("span", { class: "custom-range", hidden: !custom },
    field("From (UTC)", el("input", { name: "from", value: range.from, placeholder: TIME_HINT })),
    field("To (UTC, exclusive)", el("input", { name: "to", value: range.to, placeholder: TIME_HINT })),
    field("Interval", interval));
  const form = el("form", { class: "filters", id: "overview-range-form" }, field("Range", choice), customFields, el("button", { type: "submit" }, "Show"));
  const show = () => {
    const values = Object.fromEntries(new FormData(form).entries());
    location.hash = `#/overview${query(values.range === "custom" ? values : { range: values.range })}`;
  };
  choice.addEventListener("change", () => {
    customFields.hidden = choice.value !== "custom";
    if (choice.value !== "custom") show();
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); show(); });
  return form;
}

function eventsSection(events, times, tick, bounds, bucketEnd) {
  const shown = events.series.slice(0, CHART_TYPES).map((s, i) => ({
    label: `${s.key.category} / ${s.key.name}`, key: s.key, color: PALETTE[i % PALETTE.length], counts: s.points.map((p) => p.count) }));
  const rest = events.series.slice(CHART_TYPES);
  if (rest.length) {
    shown.push({ label: `${rest.length} other types`, color: PALETTE[PALETTE.length - 1],
      counts: times.map((_, b) => rest.reduce((sum, s) => sum + s.points[b].count, 0)) });
  }
  const typeLink = (key, from, to) => `#/events${query(key ? { category: key.category, name: key.name, from, to } : { from, to })}`;
  return el("section", {},
    el("h2", {}, `Events per ${events.interval} by event type `, el("a", { href: typeLink(null, bounds.from, bounds.to), class: "more" }, "Open these events")),
    stackedBars({ id: "overview-events-chart", label: `events per ${events.interval} by event type`, times, series: shown, tick,
      href: (i, b) => typeLink(shown[i].key, times[b], bucketEnd(times[b])), empty: "No events in this range." }),
    legend(shown, (i) => typeLink(shown[i].key, bounds.from, bounds.to)));
}

function typeTotals(events, bounds) {
  const rows = events.series.filter((s) => s.total).map((s) => el("tr", {},
    el("td", {}, el("a", { href: `#/events${query({ category: s.key.category, name: s.key.name, ...bounds })}` }, `${s.key.category} / ${s.key.name}`)),
    el("td", { class: "number" }, count(s.total)),
    el("td", { class: "number" }, percent(s.total / events.total))));
  return el("section", {}, el("h2", {}, "Totals per event type"),
    el("table", { id: "overview-types" },
      el("thead", {}, el("tr", {}, el("th", {}, "Event type"), el("th", { class: "number" }, "Events"), el("th", { class: "number" }, "Share"))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No events in this range.")))));
}

function rejections(errors, rejected, bounds) {
  const rows = Object.entries(errors.by_code).map(([code, n]) => el("tr", {},
    el("td", {}, el("a", { href: `#/errors${query({ code, ...bounds })}` }, code)),
    el("td", {}, EVENT_REJECTIONS.has(code) ? "event rejected" : "request refused whole"),
    el("td", { class: "number" }, count(n))));
  return el("section", {},
    el("h2", {}, "Rejections ", el("a", { href: `#/errors${query(bounds)}`, class: "more" }, "Open these errors")),
    el("table", { id: "overview-rejections" },
      el("thead", {}, el("tr", {}, el("th", {}, "Code"), el("th", {}, "Kind"), el("th", { class: "number" }, "Count"))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 3, class: "muted" }, "Nothing rejected in this range.")))),
    el("p", { class: "muted" }, "Rate: rejected events ÷ received (stored + rejected). Rejections count by when they were received, ",
      "stored events by their timestamp. Requests refused whole hold an unknown number of events: they are not in the rate. ",
      "A replayed error counts as rejected and as stored."));
}

function sessionsSection(sessions, times, tick, bounds, bucketEnd) {
  const series = [{ label: "sessions started", counts: sessions.series[0]?.points.map((p) => p.count) || times.map(() => 0), color: PALETTE[3] }];
  return el("section", {},
    el("h2", {}, `Sessions started per ${sessions.interval} `, el("a", { href: `#/sessions${query(bounds)}`, class: "more" }, "Sessions active in this range")),
    stackedBars({ id: "overview-sessions-chart", label: `sessions started per ${sessions.interval}`, times, series, tick,
      href: (_, b) => `#/sessions${query({ from: times[b], to: bucketEnd(times[b]) })}`, empty: "No session started in this range." }),
    el("p", { class: "muted" }, "A session counts in the bucket of its first event."));
}

function tickFormat(interval, span) {
  if (interval === "minute") return (t) => t.slice(11, 16);
  if (interval === "hour") return span <= DAY ? (t) => t.slice(11, 16) : (t) => `${t.slice(5, 10)} ${t.slice(11, 13)}h`;
  return (t) => t.slice(5, 10);
}

function percent(fraction) {
  return `${(fraction * 100).toFixed(1)}%`;
}

function iso(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/// Milliseconds of a timestamp as the API reads it: without an offset, UTC.
function utcMillis(text) {
  const t = text.trim().replace(" ", "T");
  return Date.parse(/([zZ]|[+-]\d\d:?\d\d)$/.test(t) ? t : `${t}Z`);
}
