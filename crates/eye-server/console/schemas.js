// The Schemas page (admin key): list, view, edit, try a sample event, save.

import { $, adminKeyField, api, el, store } from "./core.js";

export async function schemasPage(rerender) {
  const view = el("div", {}, el("h1", {}, "Schemas"), el("div", { class: "filters" }, adminKeyField(),
    el("button", { type: "button", class: "secondary", onclick: () => { store.setItem("eye.adminKey", $("#admin-key").value.trim()); rerender(); } }, "Use key")));
  if (!store.getItem("eye.adminKey")) {
    view.append(el("p", { class: "muted" }, "Schemas are managed with an admin key."));
    return view;
  }
  const { schemas } = await api("/v1/schemas", { admin: true });
  const category = el("input", { id: "schema-category", placeholder: "category", "aria-label": "category" });
  const name = el("input", { id: "schema-name", placeholder: "name", "aria-label": "name" });
  const editor = el("textarea", { id: "schema-editor", spellcheck: "false", "aria-label": "schema" }, '{\n  "type": "object"\n}');
  const sample = el("textarea", { id: "schema-sample", spellcheck: "false", "aria-label": "sample event" });
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
