// The applications and event types the filters offer: the series keys of
// `GET /v1/stats/events` over the last 30 days, merged with what the current filter holds.

import { api, el, field, query } from "./core.js";

const DAY = 86400000;
const FRESH_FOR_MS = 60000;
let cached = null;

/// `{ apps: [...], types: [[category, name], ...] }`, sorted; read at most once a minute.
/// Never fails: without an answer the pickers offer only what the filter holds.
export function knownValues() {
  if (!cached || Date.now() - cached.at > FRESH_FOR_MS) {
    cached = { at: Date.now(), values: load().catch(() => ({ apps: [], types: [] })) };
  }
  return cached.values;
}

export function forgetKnownValues() {
  cached = null;
}

async function load() {
  const today = Math.floor(Date.now() / DAY) * DAY;
  const range = { from: new Date(today - 29 * DAY).toISOString(), to: new Date(today + DAY).toISOString(), interval: "day" };
  const keys = async (groupBy) => (await api(`/v1/stats/events${query({ ...range, group_by: groupBy })}`)).series.map((s) => s.key);
  let found;
  try {
    found = await keys("app,category,name");
  } catch (error) {
    // Past 10,000 points (30 days × every app and type pair) the answer is refused: the
    // applications and the types apart make far fewer series.
    if (error.code !== "invalid_parameter") throw error;
    found = (await Promise.all([keys("app"), keys("category,name")])).flat();
  }
  const apps = new Set(found.map((k) => k.app).filter(Boolean));
  const types = new Map(found.filter((k) => k.category && k.name).map((k) => [`${k.category}\n${k.name}`, [k.category, k.name]]));
  return { apps: [...apps].sort(), types: [...types.values()].sort(compareTypes) };
}

function compareTypes(a, b) {
  return a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]);
}

/// A `<select name>` of `options` (`[value, text]`), "any" first, `current` selected (and
/// added when it is not among them).
export function select(name, options, current, anyText = "any") {
  const values = new Set(options.map(([value]) => value));
  const all = current && !values.has(current) ? [...options, [current, current]] : options;
  return el("select", { name },
    el("option", { value: "" }, anyText),
    all.map(([value, text]) => el("option", { value, selected: value === current }, text)));
}

export function appPicker(known, values, name = "app", label = "Application") {
  return field(label, select(name, known.apps.map((app) => [app, app]), values[name]));
}

/// Category and name pickers; the names follow the category chosen.
export function typePickers(known, values) {
  const categories = [...new Set(known.types.map(([category]) => category))];
  const category = select("category", categories.map((c) => [c, c]), values.category);
  const namesOf = (chosen) => [...new Set(known.types.filter(([c]) => !chosen || c === chosen).map(([, n]) => n))].sort();
  let name = select("name", namesOf(values.category).map((n) => [n, n]), values.name);
  const nameField = field("Name", name);
  category.addEventListener("change", () => {
    const kept = namesOf(category.value).includes(name.value) ? name.value : "";
    const replacement = select("name", namesOf(category.value).map((n) => [n, n]), kept);
    name.replaceWith(replacement);
    name = replacement;
  });
  return [field("Category", category), nameField];
}

/// One picker of whole event types, valued `CATEGORY/NAME` (as `has_event` takes them: split
/// at the first `/`, so a category holding `/` cannot be asked for and is left out).
export function eventTypePicker(known, values, name = "has_event", label = "Has event type") {
  const options = known.types.filter(([category]) => !category.includes("/")).map(([c, n]) => [`${c}/${n}`, `${c} / ${n}`]);
  return field(label, select(name, options, values[name]));
}
