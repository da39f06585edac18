// Browser tests of the web console: Debian's chromium, driven by playwright-core, against a
// real `eye` server on a random port. Screenshots of each step go to
// console-tests/screenshots (or $EYE_ARTIFACTS).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const eye = process.env.EYE_BIN || join(process.env.CARGO_TARGET_DIR || join(root, "target"), "debug", "eye");
const artifacts = process.env.EYE_ARTIFACTS || join(root, "console-tests", "screenshots");
const SESSION = "console-session-1";

let dataDir, server, base, browser, page;
const keys = {};

function createKey(app, scope) {
  return execFileSync(eye, ["keys", "create", "--app", app, "--scope", scope, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "ignore"] })
    .toString().trim();
}

function startServer() {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(eye, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--schemas", join(root, "schemas")], { stdio: ["ignore", "ignore", "pipe"] });
    const timer = setTimeout(() => reject(new Error("the server did not log its address")), 30000);
    let buffered = "";
    child.stderr.on("data", (chunk) => {
      buffered += chunk.toString();
      const match = buffered.match(/listening addr=(\S+)/);
      if (match && !base) {
        clearTimeout(timer);
        base = `http://${match[1]}`;
        resolvePromise(child);
      }
    });
    child.on("exit", (code) => reject(new Error(`the server exited with ${code}`)));
  });
}

async function call(path, key, options = {}) {
  const response = await fetch(base + path, {
    ...options,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function drain() {
  for (let i = 0; i < 500; i++) {
    const ready = await (await fetch(`${base}/readyz`)).json();
    if (ready.queue_depth === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the queue did not drain");
}

function event(name, data, seconds) {
  return { session_id: SESSION, category: name === "submit" ? "form interaction" : "page interaction", name,
    data: { host: "www.consumeraffairs.com", path: "/", ...data }, timestamp: `2021-01-01 09:15:${String(seconds).padStart(2, "0")}.243860` };
}

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "eye-console-"));
  keys.ingest = createKey("shop", "ingest");
  keys.query = createKey("analytics", "query");
  keys.admin = createKey("ops", "admin");
  server = await startServer();
  const seeded = await call("/v1/events", keys.ingest, { method: "POST", body: JSON.stringify([
    event("pageview", {}, 1),
    event("cta click", { element: "chat bubble" }, 3),
    event("submit", { form: { first_name: "John", last_name: "Doe" } }, 8),
    event("cta click", {}, 9), // rejected: the shipped schema requires `element`
  ]) });
  assert.equal(seeded.status, 202);
  assert.equal(seeded.body.rejected, 1);
  await drain();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("a wrong key is refused and a query key signs in", async () => {
  await page.goto(base + "/");
  await page.fill("#signin-key", "eye_not_a_key");
  await page.click("#signin-form button");
  await page.waitForSelector("#signin-error:has-text('unauthorized')");
  await page.fill("#signin-key", keys.query);
  await page.click("#signin-form button");
  await page.waitForSelector("#events-table tbody tr");
  await shot("1-events");
  assert.ok(await page.isVisible("#nav"));
});

test("events can be filtered and opened", async () => {
  await page.fill("input[name=session_id]", SESSION);
  await page.fill("input[name=category]", "page interaction");
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("category="));
  await page.waitForSelector("#events-table tbody tr");
  assert.equal(await page.locator("#events-table tbody tr").count(), 2);
  await page.click("#events-table tbody tr:nth-child(2)");
  const detail = await page.textContent("#detail-body");
  assert.match(detail, /chat bubble/);
  await shot("2-event-detail");
});

test("a session shows its timeline with the gaps between events", async () => {
  await page.click(`#events-table tbody tr:first-child a`);
  await page.waitForSelector("#timeline li");
  assert.equal(await page.textContent("#session-count"), "3");
  const gaps = await page.locator("#timeline .gap").allTextContents();
  assert.deepEqual(gaps, ["start", "+2.0 s", "+5.0 s"]);
  await shot("3-session");
});

test("an error shows its raw input, path and schema version", async () => {
  await page.click("#nav a[href='#/errors']");
  await page.waitForSelector("#errors-table tbody tr");
  await page.waitForSelector("#errors-chart rect");
  await page.waitForSelector("#errors-by-type-chart rect");
  assert.match(await page.textContent("#view"), /page interaction \/ cta click/);
  await page.click("#errors-table tbody tr:has-text('schema_violation')");
  assert.equal(await page.textContent("#error-path"), "/data/element");
  assert.equal(await page.textContent("#error-schema-version"), "1");
  assert.match(await page.textContent("#error-raw"), /cta click/);
  await shot("4-error-detail");
});

test("a fixed schema lets the error be replayed from the console", async () => {
  const relaxed = { type: "object", properties: { element: { type: "string" } } };
  const put = await call("/v1/schemas/page%20interaction/cta%20click", keys.admin, { method: "PUT", body: JSON.stringify(relaxed) });
  assert.equal(put.status, 200);
  await page.fill("#admin-key", keys.admin);
  await page.click("#replay-dry-run");
  await page.waitForSelector("#replay-result:has-text('would store 1')");
  await page.click("#replay");
  await page.waitForSelector("#replay-result:has-text('stored 1')");
  await shot("5-replayed");
  const session = await call(`/v1/sessions/${SESSION}`, keys.query);
  assert.equal(session.body.event_count, 4);
});

test("schemas can be tried and saved with an admin key", async () => {
  await page.click("#nav a[href='#/schemas']");
  await page.waitForSelector("#schemas-table tbody tr");
  await page.click("#schemas-table tbody tr:has-text('pageview')");
  await page.fill("#schema-sample", JSON.stringify({ session_id: "s", category: "page interaction", name: "pageview", data: { host: "h" }, timestamp: "2021-01-01 00:00:00" }));
  await page.click("#schema-try");
  await page.waitForSelector("#schema-result:has-text('/data/path')");
  await page.click("#schema-save");
  await page.waitForSelector("#schema-result:has-text('version 1')");
  await shot("6-schemas");
});

test("the live page shows events as they are stored", async () => {
  await page.click("#nav a[href='#/live']");
  await page.waitForSelector("#live-status:has-text('following')");
  const now = new Date().toISOString();
  const sent = await call("/v1/events", keys.ingest, { method: "POST", body: JSON.stringify({ session_id: "live-1", category: "page interaction", name: "pageview", data: { host: "h", path: "/live" }, timestamp: now }) });
  assert.equal(sent.status, 202);
  await page.waitForSelector("#live-table tbody tr:has-text('live-1')");
  await shot("7-live");
});
