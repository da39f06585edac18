// The Eye console: a small single-page app over the HTTP API. No framework, no build step:
// ES modules served by the binary. Keys live in sessionStorage (this tab only). Every element
// is built through the DOM: the page's Content-Security-Policy forbids inline scripts and
// styles. This module routes `#/page?filters` to the page modules and signs in.

import { $, api, failure, store } from "./core.js";
import { errorsPage } from "./errors.js";
import { eventsPage } from "./events.js";
import { forgetKnownValues } from "./known.js";
import { livePage } from "./live.js";
import { overviewPage } from "./overview.js";
import { schemasPage } from "./schemas.js";
import { sessionPage, sessionsPage } from "./sessions.js";

const LANDING = "#/overview";
const PAGES = {
  "/overview": overviewPage,
  "/events": eventsPage,
  "/sessions": sessionsPage,
  "/errors": errorsPage,
  "/live": livePage,
  "/schemas": () => schemasPage(render),
};

// Each render gets a number: a slow page finishing after the user moved on is dropped.
let rendering = 0;
// The page on screen; one with a `stop()` (Live) is stopped when another replaces it.
let shown = null;

async function render() {
  const current = ++rendering;
  const hash = location.hash;
  shown?.stop?.();
  shown = null;
  const signedIn = Boolean(store.getItem("eye.key"));
  $("#signin").hidden = signedIn;
  $("#nav").hidden = !signedIn;
  $("#detail").hidden = true;
  const view = $("#view");
  if (!signedIn) { view.replaceChildren(); return; }
  const [path, search = ""] = (hash.slice(1) || LANDING.slice(1)).split("?");
  const params = Object.fromEntries(new URLSearchParams(search));
  for (const link of document.querySelectorAll("#nav a")) {
    const page = link.getAttribute("href").slice(1);
    const active = path === page || (page === "/sessions" && path.startsWith("/session/"));
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  view.setAttribute("aria-busy", "true");
  let page;
  try {
    if (path.startsWith("/session/")) page = await sessionPage(decodeURIComponent(path.slice("/session/".length)));
    else page = await (PAGES[path] || overviewPage)(params);
  } catch (error) {
    page = failure(error);
  }
  if (current !== rendering) {
    page.stop?.();
    return;
  }
  shown = page;
  view.replaceChildren(page);
  view.removeAttribute("aria-busy");
  // Which address the view shows, once it is complete (the browser tests wait on it).
  view.dataset.shown = hash;
}

async function signIn(event) {
  event.preventDefault();
  const key = $("#signin-key").value.trim();
  store.setItem("eye.key", key);
  try {
    await api("/v1/events?limit=1");
    $("#signin-error").textContent = "";
    if (!location.hash) location.hash = LANDING;
    render();
  } catch (error) {
    store.removeItem("eye.key");
    $("#signin-error").textContent = error.status === 403 ? "This key lacks the query scope." : error.message;
  }
}

function start() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => { store.clear(); forgetKnownValues(); location.hash = ""; render(); });
  $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; });
  window.addEventListener("hashchange", render);
  render();
}

// Modules run after the document is parsed; DOMContentLoaded may not have fired yet.
if (document.readyState === "loading") window.addEventListener("DOMContentLoaded", start);
else start();
