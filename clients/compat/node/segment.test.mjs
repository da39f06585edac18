// @segment/analytics-node, unchanged, against The Eye's Segment-compatible API: a real `eye`
// server on a random loopback port (temporary data directory, the repository's schemas/),
// the SDK pointed at it by its `host` option with an ingest key as write key. Every message
// is queried back through GET /v1/events and checked against the mapping of issue 22.
//
// The SDK's requests are observed through its `httpClient` option (a fetch-like function),
// which records each request and answer; the writeKey test also removes the Authorization
// header there, so that the key travels only in the body's `writeKey`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Analytics } from "@segment/analytics-node";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..", "..");
const eye = process.env.EYE_BIN || join(process.env.CARGO_TARGET_DIR || join(root, "target"), "debug", "eye");
const require = createRequire(import.meta.url);
const SDK_VERSION = JSON.parse(readFileSync(require.resolve("@segment/analytics-node/package.json"), "utf8")).version;
const HOST = "shop.example.com";

let dataDir, server, base;
const keys = {};

function createKey(app, scope) {
  return execFileSync(eye, ["keys", "create", "--app", app, "--scope", scope, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"] })
    .toString().trim();
}

function startServer() {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(eye, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--schemas", join(root, "schemas")], { stdio: ["ignore", "ignore", "pipe"] });
    const timer = setTimeout(() => { child.kill(); reject(new Error("the server did not log its address within 30 s")); }, 30000);
    let buffered = "";
    child.stderr.on("data", (chunk) => {
      if (base) return;
      buffered += chunk.toString();
      const match = buffered.match(/listening addr=(\S+)/);
      if (match) {
        clearTimeout(timer);
        base = `http://${match[1]}`;
        resolvePromise(child);
      }
    });
    child.on("exit", (code) => { clearTimeout(timer); if (!base) reject(new Error(`the server exited with ${code}:\n${buffered}`)); });
  });
}

async function query(path) {
  const response = await fetch(base + path, { headers: { Authorization: `Bearer ${keys.query}` } });
  const body = await response.json();
  assert.equal(response.status, 200, `GET ${path}: ${JSON.stringify(body)}`);
  return body;
}

/** Every stored event (or error record) matching the filters, following pagination. */
async function all(path, field, filters) {
  const found = [];
  let cursor = "";
  for (;;) {
    const page = await query(`${path}?${new URLSearchParams({ ...filters, limit: "1000", cursor })}`);
    found.push(...page[field]);
    if (!page.next_cursor) return found;
    cursor = page.next_cursor;
  }
}
const stored = (filters) => all("/v1/events", "events", filters);
const errors = (filters) => all("/v1/errors", "errors", filters);

/** Waits (10 s at most) until the server processed everything it acknowledged. */
async function drain() {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const ready = await (await fetch(`${base}/readyz`)).json();
    if (ready.queue_depth === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the queue did not drain within 10 s");
}

const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 12)}`;

/**
 * An SDK client of its own for one test: its requests and answers recorded, its reported
 * failures collected. `stripAuthorization` leaves the key only in the body's `writeKey`.
 */
function sdk(writeKey, { stripAuthorization = false, ...settings } = {}) {
  const exchanges = [];
  const failures = [];
  const analytics = new Analytics({
    writeKey,
    host: base,
    maxRetries: 2,
    ...settings,
    httpClient: async (url, init) => {
      const headers = { ...init.headers };
      if (stripAuthorization) delete headers.Authorization;
      const response = await fetch(url, { ...init, headers });
      exchanges.push({ url, method: init.method, headers, body: JSON.parse(init.body), status: response.status, answer: await response.clone().text() });
      return response;
    },
  });
  analytics.on("error", (error) => failures.push(error));
  return { analytics, exchanges, failures };
}

/** Every request went to /v1/batch and got exactly 200 with the Segment-compatible answer. */
function checkAnswers(exchanges, { sent, rejected, authorization }) {
  assert.ok(exchanges.length > 0, "the SDK sent nothing");
  let accepted = 0, refused = 0;
  const messages = [];
  for (const exchange of exchanges) {
    assert.equal(new URL(exchange.url).pathname, "/v1/batch");
    assert.equal(exchange.method, "POST");
    assert.equal(exchange.headers.Authorization, authorization, JSON.stringify(exchange.headers));
    assert.equal(exchange.status, 200, exchange.answer);
    const answer = JSON.parse(exchange.answer);
    assert.equal(answer.success, true, exchange.answer);
    assert.equal(answer.accepted + answer.rejected, exchange.body.batch.length, exchange.answer);
    assert.equal(answer.results.length, exchange.body.batch.length, exchange.answer);
    accepted += answer.accepted;
    refused += answer.rejected;
    messages.push(...exchange.body.batch);
  }
  assert.deepEqual([accepted, refused, messages.length], [sent - rejected, rejected, sent], exchanges.map((e) => e.answer).join("\n"));
  return messages;
}

function checkStored(event, message, { sessionId, category, name, data }) {
  assert.equal(event.event_id, message.messageId);
  assert.equal(event.session_id, sessionId);
  assert.equal(event.user_id ?? null, message.userId ?? null);
  assert.deepEqual([event.category, event.name], [category, name]);
  assert.deepEqual(event.data, data);
  assert.equal(event.app, "shop");
  assert.deepEqual(event.context, message.context);
  assert.deepEqual(event.context.library, { name: "@segment/analytics-node", version: SDK_VERSION });
  const sent = Date.parse(message.timestamp);
  assert.ok(Math.abs(Date.parse(event.timestamp) - sent) < 1000, `${event.timestamp} vs ${message.timestamp}`);
  assert.ok(event.original_timestamp, JSON.stringify(event));
  assert.equal(Date.parse(event.original_timestamp), sent, `${event.original_timestamp} vs ${message.timestamp}`);
}

const basic = (key) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

before(async () => {
  console.log(`SDK under test: @segment/analytics-node ${SDK_VERSION}`);
  dataDir = mkdtempSync(join(tmpdir(), "eye-compat-node-"));
  keys.ingest = createKey("shop", "ingest");
  keys.query = createKey("analytics", "query");
  server = await startServer();
});

after(() => {
  server?.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
});

test("track, page and identify with Basic auth are stored as mapped; a broken one goes to /v1/errors", async () => {
  const session = unique("session"), user = unique("user"), anonymous = unique("anon");
  const { analytics, exchanges, failures } = sdk(keys.ingest);
  const pageProperties = { session_id: session, host: HOST, path: "/pricing" };
  const traits = { plan: "pro", seats: 3, verified: true };
  analytics.track({ userId: user, anonymousId: anonymous, event: "cta click", context: { sessionId: session },
    properties: { category: "page interaction", host: HOST, path: "/pricing", element: "buy button" } });
  analytics.page({ userId: user, anonymousId: anonymous, name: "Pricing", properties: pageProperties });
  analytics.page({ userId: user, properties: { host: HOST, path: "/" }, context: { sessionId: session } });
  analytics.identify({ userId: user, anonymousId: session, traits });
  analytics.track({ userId: user, event: "pageview", properties: { category: "page interaction", host: HOST, path: "/" } });
  analytics.track({ userId: user, event: "cta click", context: { sessionId: session },
    properties: { category: "page interaction", host: HOST, path: "/pricing" } }); // no element: rejected
  await analytics.closeAndFlush({ timeout: 20000 });
  assert.deepEqual(failures, []);
  const [track, page, unnamed, identify, alone, bad] = checkAnswers(exchanges, { sent: 6, rejected: 1, authorization: basic(keys.ingest) });
  // The SDK sends the key twice: as Basic username and as the body's writeKey.
  for (const exchange of exchanges) assert.equal(exchange.body.writeKey, keys.ingest);
  assert.deepEqual([track.type, page.type, unnamed.type, identify.type, alone.type, bad.type], ["track", "page", "page", "identify", "track", "track"]);
  await drain();

  const inSession = Object.fromEntries((await stored({ session_id: session })).map((e) => [e.event_id, e]));
  assert.deepEqual(Object.keys(inSession).sort(), [track, page, unnamed, identify].map((m) => m.messageId).sort());
  checkStored(inSession[track.messageId], track, { sessionId: session, category: "page interaction", name: "cta click",
    data: { host: HOST, path: "/pricing", element: "buy button" } });
  checkStored(inSession[page.messageId], page, { sessionId: session, category: "page", name: "Pricing", data: pageProperties });
  checkStored(inSession[unnamed.messageId], unnamed, { sessionId: session, category: "page", name: "page", data: { host: HOST, path: "/" } });
  checkStored(inSession[identify.messageId], identify, { sessionId: session, category: "identify", name: "identify", data: traits });

  const ofUser = Object.fromEntries((await stored({ user_id: user })).map((e) => [e.event_id, e]));
  assert.deepEqual(Object.keys(ofUser).sort(), [track, page, unnamed, identify, alone].map((m) => m.messageId).sort());
  checkStored(ofUser[alone.messageId], alone, { sessionId: user, category: "page interaction", name: "pageview", data: { host: HOST, path: "/" } });

  const rejected = (await errors({ code: "schema_violation" })).filter((e) => e.raw.includes(bad.messageId));
  assert.equal(rejected.length, 1, JSON.stringify(await errors({})));
  assert.equal(rejected[0].code, "schema_violation");
  assert.ok(rejected[0].path?.endsWith("element"), JSON.stringify(rejected[0]));
  assert.deepEqual([rejected[0].category, rejected[0].name], ["page interaction", "cta click"]);
  console.log(`rejected message -> path ${JSON.stringify(rejected[0].path)}, message ${JSON.stringify(rejected[0].message)}`);
});

test("with the key only in the body's writeKey (no Authorization header)", async () => {
  const session = unique("session");
  const { analytics, exchanges, failures } = sdk(keys.ingest, { stripAuthorization: true });
  analytics.track({ anonymousId: session, event: "cta click", properties: { category: "page interaction", host: HOST, path: "/", element: "chat bubble" } });
  analytics.screen({ anonymousId: session, name: "Settings", properties: { tab: "billing" } });
  analytics.group({ anonymousId: session, groupId: "acme", traits: { name: "Acme" } });
  analytics.alias({ userId: session, previousId: "visitor-1" });
  await analytics.closeAndFlush({ timeout: 20000 });
  assert.deepEqual(failures, []);
  const [track, screen, group, alias] = checkAnswers(exchanges, { sent: 4, rejected: 0, authorization: undefined });
  for (const exchange of exchanges) assert.equal(exchange.body.writeKey, keys.ingest);
  await drain();
  const events = Object.fromEntries((await stored({ session_id: session })).map((e) => [e.event_id, e]));
  assert.deepEqual(Object.keys(events).sort(), [track, screen, group, alias].map((m) => m.messageId).sort());
  checkStored(events[track.messageId], track, { sessionId: session, category: "page interaction", name: "cta click",
    data: { host: HOST, path: "/", element: "chat bubble" } });
  checkStored(events[screen.messageId], screen, { sessionId: session, category: "screen", name: "Settings", data: { tab: "billing" } });
  checkStored(events[group.messageId], group, { sessionId: session, category: "group", name: "group", data: { name: "Acme", groupId: "acme" } });
  checkStored(events[alias.messageId], alias, { sessionId: session, category: "alias", name: "alias", data: { previous_id: "visitor-1" } });
});

test("the same messages sent twice (same messageId and timestamp) are stored once", async () => {
  const session = unique("session"), user = unique("user");
  const timestamp = new Date(Date.now() - 60000);
  const ids = { track: randomUUID(), page: randomUUID(), identify: randomUUID() };
  for (let round = 0; round < 2; round++) {
    const { analytics, exchanges, failures } = sdk(keys.ingest);
    analytics.track({ userId: user, anonymousId: session, event: "cta click", timestamp, messageId: ids.track,
      properties: { category: "page interaction", host: HOST, path: "/", element: "chat bubble" } });
    analytics.page({ userId: user, anonymousId: session, name: "Home", timestamp, messageId: ids.page, properties: { host: HOST, path: "/" } });
    analytics.identify({ userId: user, anonymousId: session, timestamp, messageId: ids.identify, traits: { plan: "free" } });
    await analytics.closeAndFlush({ timeout: 20000 });
    assert.deepEqual(failures, []);
    // Duplicates are answered as accepted: a retry is always safe.
    checkAnswers(exchanges, { sent: 3, rejected: 0, authorization: basic(keys.ingest) });
  }
  await drain();
  const events = await stored({ session_id: session });
  assert.deepEqual(events.map((e) => e.event_id).sort(), Object.values(ids).sort());
});

test("a wrong key: 401 with top-level code and message, reported by the SDK, not retried", async () => {
  const wrong = `eye_${"A".repeat(43)}`;
  const { analytics, exchanges, failures } = sdk(wrong);
  analytics.track({ anonymousId: unique("session"), event: "cta click", properties: { host: HOST } });
  await analytics.closeAndFlush({ timeout: 20000 });
  assert.equal(exchanges.length, 1, JSON.stringify(exchanges.map((e) => [e.status, e.answer])));
  assert.equal(exchanges[0].status, 401);
  const answer = JSON.parse(exchanges[0].answer);
  assert.equal(answer.code, "unauthorized");
  assert.ok(answer.message);
  assert.equal(answer.error.code, "unauthorized");
  assert.ok(!exchanges[0].answer.includes(wrong));
  assert.equal(failures.length, 1);
  assert.equal(failures[0].code, "delivery_failure");
  assert.match(String(failures[0].reason), /401/);
});
