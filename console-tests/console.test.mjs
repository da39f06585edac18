// Browser tests of the web console: Debian's chromium, driven by playwright-core, against a
// real `eye` server on a random port. Screenshots of each step go to
// console-tests/screenshots (or $EYE_ARTIFACTS). The tests run in order and share one page:
// each starts where the one before it left the console.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const eye = process.env.EYE_BIN || join(process.env.CARGO_TARGET_DIR || join(root, "target"), "debug", "eye");
const artifacts = process.env.EYE_ARTIFACTS || join(root, "console-tests", "screenshots");
const SESSION = "console-session-1";

let dataDir, server, base, browser, page, refusedCode;
const keys = {};
// Recent events (minutes before the start), in the overview's preset ranges: two sessions of
// two applications, five events stored and one rejected; with the one rejected event of the
// 2021 seed, two rejected events were received during the run (and one body refused whole).
const START = Date.now();
const minutesAgo = (n) => new Date(START - n * 60000).toISOString();
const RECENT = {
  shop: [
    { session_id: "recent-1", category: "page interaction", name: "pageview", data: { host: "shop.example", path: "/" }, timestamp: minutesAgo(5) },
    { session_id: "recent-1", category: "page interaction", name: "cta click", data: { host: "shop.example", path: "/", element: "buy" }, timestamp: minutesAgo(4) },
    { session_id: "recent-1", category: "page interaction", name: "pageview", data: { host: "shop.example", path: "/pricing" }, timestamp: minutesAgo(3) },
  ],
  blog: [
    { session_id: "recent-2", category: "page interaction", name: "pageview", data: { host: "blog.example", path: "/" }, timestamp: minutesAgo(2) },
    { session_id: "recent-2", category: "form interaction", name: "submit", data: { host: "blog.example", path: "/", form: { topic: "hi" } }, timestamp: minutesAgo(1) },
    { session_id: "recent-2", category: "page interaction", name: "pageview", data: { host: "blog.example" }, timestamp: minutesAgo(1) }, // rejected: no path
  ],
};

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

/// Waits until the console shows the page of the address it is at.
async function settled() {
  await page.waitForFunction(() => document.querySelector("#view").dataset.shown === location.hash);
}

/// The text of each cell of each body row of `table`.
async function rows(table) {
  return page.locator(`${table} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
}

/// Clicks Export with `format` chosen and answers the download's name and content.
async function exportAs(format) {
  await page.selectOption("#export-format", format);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const path = await download.path();
  assert.ok(path, `the ${format} download failed: ${await download.failure()}`);
  return { name: download.suggestedFilename(), content: readFileSync(path) };
}

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "eye-console-"));
  keys.ingest = createKey("shop", "ingest");
  keys.blog = createKey("blog", "ingest");
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
  const shop = await call("/v1/events", keys.ingest, { method: "POST", body: JSON.stringify(RECENT.shop) });
  assert.deepEqual([shop.status, shop.body.accepted], [202, 3]);
  const blog = await call("/v1/events", keys.blog, { method: "POST", body: JSON.stringify(RECENT.blog) });
  assert.deepEqual([blog.status, blog.body.accepted, blog.body.rejected], [202, 2, 1]);
  // A body refused whole: kept in the error store, but no event, so not in the rejection rate.
  const refused = await call("/v1/events", keys.ingest, { method: "POST", body: "{not json" });
  assert.equal(refused.status, 400);
  refusedCode = refused.body.error.code;
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

test("a wrong key is refused and a query key signs in to the overview", async () => {
  await page.goto(base + "/");
  await page.fill("#signin-key", "eye_not_a_key");
  await page.click("#signin-form button");
  await page.waitForSelector("#signin-error:has-text('unauthorized')");
  await page.fill("#signin-key", keys.query);
  await page.click("#signin-form button");
  await page.waitForSelector("#overview-events");
  assert.equal(await page.evaluate(() => location.hash), "#/overview");
  assert.ok(await page.isVisible("#nav"));
});

test("the overview shows events by type, sessions started and the rejection rate", async () => {
  // The default range, the last 24 hours, holds the recent events only.
  assert.equal(await page.inputValue("#overview-range"), "day");
  const expectRecent = async () => {
    assert.equal(await page.textContent("#overview-events"), "5");
    assert.equal(await page.textContent("#overview-sessions"), "2");
    assert.equal(await page.textContent("#overview-rejected"), "2");
    assert.equal(await page.textContent("#overview-rejection-rate"), "28.6%"); // 2 ÷ (5 + 2)
    assert.deepEqual((await rows("#overview-types")).sort(), [
      ["form interaction / submit", "1", "20.0%"],
      ["page interaction / cta click", "1", "20.0%"],
      ["page interaction / pageview", "3", "60.0%"],
    ]);
    assert.deepEqual((await rows("#overview-rejections")).sort(), [
      [refusedCode, "request refused whole", "1"],
      ["schema_violation", "event rejected", "2"],
    ].sort());
    assert.ok(await page.locator("#overview-events-chart rect").count() >= 3);
    assert.ok(await page.locator("#overview-sessions-chart rect").count() >= 1);
  };
  await expectRecent();
  await page.selectOption("#overview-range", "hour");
  await page.waitForFunction(() => location.hash === "#/overview?range=hour");
  await settled();
  assert.match(await page.textContent("#overview-window"), /per minute/);
  await expectRecent();
  await shot("01-overview");

  // A custom range around the 2021 seed: its three events, one session, nothing rejected
  // (rejections count by receive time: they all came in now).
  await page.selectOption("#overview-range", "custom");
  await page.fill("input[name=from]", "2021-01-01 09:00:00");
  await page.fill("input[name=to]", "2021-01-01 10:00:00");
  await page.click("#overview-range-form button[type=submit]");
  await settled();
  assert.match(await page.textContent("#overview-window"), /^2021-01-01T09:00:00Z to 2021-01-01T10:00:00Z \(UTC\), per minute/);
  assert.equal(await page.textContent("#overview-events"), "3");
  assert.equal(await page.textContent("#overview-sessions"), "1");
  assert.equal(await page.textContent("#overview-rejected"), "0");
  assert.equal(await page.textContent("#overview-rejection-rate"), "0.0%");
  assert.equal(await page.locator("#overview-events-chart rect").count(), 3); // 09:15, one per type
  await shot("02-overview-custom-range");

  // A bar of the chart opens its events: one type, one minute.
  await page.click("#overview-events-chart a:has(title:has-text('cta click')) rect");
  await settled();
  assert.equal(await page.evaluate(() => location.hash),
    "#/events?category=page+interaction&name=cta+click&from=2021-01-01T09%3A15%3A00Z&to=2021-01-01T09%3A16%3A00Z");
  assert.equal(await page.locator("#events-table tbody tr").count(), 1);
  assert.equal(await page.inputValue("select[name=category]"), "page interaction");
  assert.equal(await page.inputValue("select[name=name]"), "cta click");

  // The totals link into the Events page, the rejections into the Errors page.
  await page.goBack();
  await settled();
  await page.click("#overview-types a:has-text('page interaction / pageview')");
  await settled();
  assert.equal(await page.locator("#events-table tbody tr").count(), 1);
  await page.click("#nav a[href='#/overview']");
  await settled();
  await page.click("a:has-text('Open these errors')");
  await settled();
  assert.equal(await page.locator("#errors-table tbody tr").count(), 3);
  assert.match(await page.evaluate(() => location.hash), /^#\/errors\?from=.*&to=/);
});

test("events can be filtered with the known types and applications, and opened", async () => {
  await page.click("#nav a[href='#/events']");
  await settled();
  await shot("03-events");
  const options = (name) => page.locator(`select[name=${name}] option`).allTextContents();
  assert.deepEqual(await options("app"), ["any", "blog", "shop"]);
  assert.deepEqual(await options("category"), ["any", "form interaction", "page interaction"]);
  assert.deepEqual(await options("name"), ["any", "cta click", "pageview", "submit"]);
  await page.fill("input[name=session_id]", SESSION);
  await page.selectOption("select[name=category]", "page interaction");
  assert.deepEqual(await options("name"), ["any", "cta click", "pageview"]); // the names of that category
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("category="));
  await settled();
  assert.equal(await page.locator("#events-table tbody tr").count(), 2);
  await page.click("#events-table tbody tr:nth-child(2)");
  const detail = await page.textContent("#detail-body");
  assert.match(detail, /chat bubble/);
  await shot("04-event-detail");
});

test("a session shows its timeline with the gaps between events", async () => {
  await page.click(`#events-table tbody tr:first-child a`);
  await page.waitForSelector("#timeline li");
  assert.equal(await page.textContent("#session-count"), "3");
  const gaps = await page.locator("#timeline .gap").allTextContents();
  assert.deepEqual(gaps, ["start", "+2.0 s", "+5.0 s"]);
  await shot("05-session");
});

test("an error shows its raw input, path and schema version", async () => {
  await page.click("#nav a[href='#/errors']");
  await page.waitForSelector("#errors-table tbody tr");
  await page.waitForSelector("#errors-chart rect");
  await page.waitForSelector("#errors-by-type-chart rect");
  assert.match(await page.textContent("#view"), /page interaction \/ cta click/);
  await page.click("#errors-table tbody tr:has-text('cta click')");
  assert.equal(await page.textContent("#error-path"), "/data/element");
  assert.equal(await page.textContent("#error-schema-version"), "1");
  assert.match(await page.textContent("#error-raw"), /cta click/);
  await shot("06-error-detail");
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
  await shot("07-replayed");
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
  await shot("08-schemas");
});

test("the sessions page lists sessions by last activity, filtered, and opens a timeline", async () => {
  await page.click("#nav a[href='#/sessions']");
  await settled();
  const ids = async () => (await rows("#sessions-table")).map((row) => row[0]);
  assert.deepEqual(await ids(), ["recent-2", "recent-1", SESSION]);
  assert.deepEqual((await rows("#sessions-table"))[0].slice(3), ["2", "blog"]);
  const search = async (hashPart) => {
    await page.click("form.filters button[type=submit]");
    await page.waitForFunction((part) => location.hash.includes(part), hashPart);
    await settled();
  };
  await page.selectOption("select[name=app]", "blog");
  await search("app=blog");
  assert.deepEqual(await ids(), ["recent-2"]);
  await page.selectOption("select[name=app]", "");
  await page.selectOption("select[name=has_event]", "form interaction/submit");
  await search("has_event=");
  assert.deepEqual(await ids(), ["recent-2", SESSION]);
  await page.selectOption("select[name=has_event]", "");
  await page.fill("input[name=min_events]", "3");
  await search("min_events=3");
  assert.deepEqual(await ids(), ["recent-1", SESSION]);
  await shot("09-sessions");
  await page.click("#sessions-table tbody tr:has-text('recent-1')");
  await settled();
  assert.equal(await page.textContent("#session-count"), "3");
  assert.deepEqual(await page.locator("#timeline .gap").allTextContents(), ["start", "+1.0 min", "+1.0 min"]);
});

test("export downloads the filtered events as ndjson, csv and parquet", async () => {
  await page.click("#nav a[href='#/events']");
  await settled();
  await page.fill("input[name=session_id]", "recent-1");
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("session_id=recent-1"));
  await settled();
  assert.equal(await page.textContent("#events-count"), "3 events");

  const ndjson = await exportAs("ndjson");
  assert.match(ndjson.name, /\.ndjson$/);
  const lines = ndjson.content.toString().trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((e) => [e.session_id, e.name, e.app]),
    [["recent-1", "pageview", "shop"], ["recent-1", "cta click", "shop"], ["recent-1", "pageview", "shop"]]);
  await page.waitForSelector(`#export-status:has-text('Downloaded ${ndjson.name}')`);
  await shot("10-export");

  const csv = await exportAs("csv");
  assert.match(csv.name, /\.csv$/);
  const [header, ...records] = csv.content.toString().trim().split(/\r?\n/);
  assert.match(header, /session_id/);
  assert.equal(records.length, 3);
  assert.ok(records.every((record) => record.includes("recent-1")));
  assert.equal(records.filter((record) => record.includes("cta click")).length, 1);

  const parquet = await exportAs("parquet");
  assert.match(parquet.name, /\.parquet$/);
  assert.equal(parquet.content.subarray(0, 4).toString(), "PAR1");
  assert.equal(parquet.content.subarray(-4).toString(), "PAR1");
});

test("the live page shows events as they are stored", async () => {
  await page.click("#nav a[href='#/live']");
  await page.waitForSelector("#live-status:has-text('following')");
  const now = new Date().toISOString();
  const sent = await call("/v1/events", keys.ingest, { method: "POST", body: JSON.stringify({ session_id: "live-1", category: "page interaction", name: "pageview", data: { host: "h", path: "/live" }, timestamp: now }) });
  assert.equal(sent.status, 202);
  await page.waitForSelector("#live-table tbody tr:has-text('live-1')");
  await shot("11-live");
});

test("an event shows its user, context and the timestamp its client sent; events and sessions filter by user", async () => {
  // A client whose clock runs an hour ahead: The Eye moves its timestamps back by that hour
  // and keeps the ones it sent.
  const hourAhead = (minutes) => new Date(Date.now() + 3600000 - minutes * 60000).toISOString();
  const context = { page: { url: "https://shop.example/pricing" }, locale: "en-GB" };
  const sent = await call("/v1/events", keys.ingest, { method: "POST", body: JSON.stringify({
    sent_at: hourAhead(0),
    events: [
      { session_id: "user-1", category: "page interaction", name: "pageview", data: { host: "shop.example", path: "/pricing" }, timestamp: hourAhead(3), user_id: "u-42", context },
      { session_id: "user-2", category: "page interaction", name: "pageview", data: { host: "shop.example", path: "/" }, timestamp: hourAhead(2), user_id: "u-42", context },
      { session_id: "user-3", category: "page interaction", name: "pageview", data: { host: "shop.example", path: "/" }, timestamp: hourAhead(1), user_id: "u-7" },
    ],
  }) });
  assert.deepEqual([sent.status, sent.body.accepted], [202, 3]);
  await drain();

  await page.click("#nav a[href='#/events']");
  await settled();
  await page.fill("input[name=user_id]", "u-42");
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("user_id=u-42"));
  await settled();
  const shown = await rows("#events-table");
  assert.deepEqual(shown.map((row) => [row[2], row[3]]), [["user-1", "u-42"], ["user-2", "u-42"]]);
  await page.click("#events-table tbody tr:first-child");
  assert.equal(await page.textContent("#event-user"), "u-42");
  const original = await page.textContent("#event-original-timestamp");
  assert.match(original, /corrected by −(59 min 5\d(\.\d+)? s|1 h 0 min \d(\.\d+)? s)/);
  assert.deepEqual(JSON.parse(await page.textContent("#event-context")), context);
  assert.match(await page.textContent("#event-data"), /pricing/);
  await shot("12-event-user-context");

  // An event sent without a user, context or correction says so, and shows no "sent as".
  await page.click("#nav a[href='#/events']");
  await settled();
  await page.fill("input[name=session_id]", SESSION);
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("session_id="));
  await settled();
  await page.click("#events-table tbody tr:first-child");
  assert.equal(await page.textContent("#event-user"), "none sent");
  assert.equal(await page.textContent("#event-context"), "none sent");
  assert.equal(await page.locator("#event-original-timestamp").count(), 0);

  await page.click("#nav a[href='#/sessions']");
  await settled();
  await page.fill("input[name=user_id]", "u-42");
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("user_id=u-42"));
  await settled();
  assert.deepEqual((await rows("#sessions-table")).map((row) => row[0]), ["user-2", "user-1"]);
  await shot("13-sessions-of-a-user");
});
