// Faults injected between the client and SeaweedFS by the loopback proxy; every upload's bytes are verified.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createClient, nodeAdapter, BrokerError } from "../dist/node.js";
import { startStack, generateFile, tempDir, MIB } from "./lib/stack.mjs";

let stack, dir, file, sha;
const SIZE = 21 * MIB + 5; // 3..5 parts whatever the broker's part size (5 or 8 MiB)
before(async () => {
  stack = await startStack();
  dir = tempDir();
  file = join(dir, "f.bin");
  sha = generateFile(file, SIZE, 21);
});
after(() => stack && stack.stop());
beforeEach(() => stack.proxy.reset());

const fast = { retries: 4, baseDelayMs: 50, maxDelayMs: 400 };
const client = () =>
  createClient({ baseUrl: stack.url, getToken: () => stack.token, retry: fast, adapter: nodeAdapter({ stateFile: join(dir, "state.json") }) });

async function run(key, opts = {}) {
  const events = [];
  const r = await client().upload(file, { store: "proxied", key, concurrency: 2, onEvent: (e) => events.push(e), ...opts });
  assert.deepEqual(await stack.objectSha256("proxied", r.key), { sha256: sha, size: SIZE });
  return { r, events, created: events.find((e) => e.type === "created") };
}

test("a connection cut mid-part: that part is retried after a backoff, the rest unaffected", async () => {
  stack.proxy.faults.push({ action: "cut", afterBytes: 1 * MIB, times: 1, when: (req) => /partNumber=2&/.test(req.url + "&") });
  const { events, created } = await run("client/alice/cut.bin");
  const retries = events.filter((e) => e.type === "retry");
  assert.equal(retries.length, 1);
  assert.equal(retries[0].partNumber, 2);
  assert.deepEqual(stack.proxy.stats.faultsFired.map((f) => f.action), ["cut"]);
  assert.equal(stack.proxy.stats.partOk, created.parts, "no part stored twice");
});

test("a 503 burst: parts back off and retry until the provider recovers", async () => {
  stack.proxy.faults.push({ action: "status", status: 503, times: 4 });
  const { events, created } = await run("client/alice/503.bin");
  const retries = events.filter((e) => e.type === "retry");
  assert.equal(retries.length, 4, "one retry per 503");
  assert.ok(retries.every((e) => e.reason === "status 503"));
  assert.equal(stack.proxy.stats.partOk, created.parts);
});

test("a 503 storm longer than the retries fails with UploadError and keeps the upload for a resume", async () => {
  stack.proxy.faults.push({ action: "status", status: 503, times: 1000, when: (req) => /partNumber=1\b/.test(req.url) });
  const events = [];
  await assert.rejects(
    client().upload(file, { store: "proxied", key: "client/alice/storm.bin", concurrency: 1, onEvent: (e) => events.push(e) }),
    { name: "UploadError", status: 503, partNumber: 1 },
  );
  assert.equal(events.filter((e) => e.type === "retry").length, fast.retries);
  stack.proxy.reset();
  // Same call again: resumes the same upload (state was kept), nothing aborted.
  const { events: ev2 } = await run("client/alice/storm.bin", { concurrency: 1 });
  const resumed = ev2.find((e) => e.type === "resumed");
  assert.ok(resumed, "the failed upload was resumed, not recreated");
  assert.equal(resumed.uploadId, events.find((e) => e.type === "created").uploadId);
});

test("a part URL refused with 403 (expired at the provider) is signed again, once", async () => {
  stack.proxy.faults.push({ action: "status", status: 403, times: 1, when: (req) => /partNumber=1\b/.test(req.url) });
  const { events } = await run("client/alice/403.bin");
  const resigns = events.filter((e) => e.type === "resign");
  assert.deepEqual(resigns.map((e) => [e.partNumber, e.reason]), [[1, "403 from the provider"]]);
  const signs = events.filter((e) => e.type === "sign");
  assert.ok(signs.filter((e) => e.partNumbers.includes(1)).length === 2, "part 1 was signed twice");
});

test("a real 403 (every attempt refused) fails after the re-sign budget instead of looping", async () => {
  stack.proxy.faults.push({ action: "status", status: 403, times: 1000 });
  await assert.rejects(
    client().upload(file, { store: "proxied", key: "client/alice/403-forever.bin", concurrency: 1, resume: false }),
    { name: "UploadError", status: 403 },
  );
});

test("part URLs past their expires_at are re-signed before use (expires_in = 2 s, slow parts)", async () => {
  // Each part waits 1.2 s in the proxy; with one worker, a batch's later URLs age past their expiry margin.
  stack.proxy.faults.push({ action: "delay", delayMs: 1200, times: Infinity });
  const { events, created } = await run("client/alice/expiry.bin", { concurrency: 1, partUrlExpiresIn: 2 });
  const resigns = events.filter((e) => e.type === "resign");
  assert.ok(resigns.length >= 1, "at least one URL re-signed for age");
  assert.ok(resigns.every((e) => e.reason === "past expires_at"));
  assert.equal(stack.proxy.stats.faultsFired.length, 0);
  assert.equal(stack.proxy.stats.partPuts, created.parts, "no URL was sent after it expired (no 403 round trip)");
});

test("cancel through the signal: in-flight parts stop, the upload is aborted (list → 404), state removed", async () => {
  stack.proxy.faults.push({ action: "delay", delayMs: 400, times: Infinity });
  const ac = new AbortController();
  const events = [];
  const p = client().upload(file, {
    store: "proxied", key: "client/alice/cancel.bin", concurrency: 2, signal: ac.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.type === "part") ac.abort();
    },
  });
  await assert.rejects(p, { name: "AbortError" });
  const created = events.find((e) => e.type === "created");
  assert.ok(events.some((e) => e.type === "aborted"));
  const handle = created.handle; // absent with brokers that predate the handle
  const q = `store=proxied&key=${encodeURIComponent(created.key)}${handle ? `&handle=${encodeURIComponent(handle)}` : ""}`;
  const listed = await stack.call("GET", `/v1/multipart/${encodeURIComponent(created.uploadId)}/parts?${q}`);
  assert.equal(listed.status, 404, `upload gone: ${JSON.stringify(listed.body)}`);
  assert.equal(listed.body.code, "not_found");
  const state = JSON.parse(await import("node:fs/promises").then((m) => m.readFile(join(dir, "state.json"), "utf8")));
  assert.equal(Object.keys(state).filter((k) => k.includes("cancel.bin")).length, 0);
});

test("a saved upload that is gone at the provider (aborted elsewhere) starts over", async () => {
  const ac = new AbortController();
  const events = [];
  stack.proxy.faults.push({ action: "delay", delayMs: 300, times: Infinity });
  await assert.rejects(
    client().upload(file, {
      store: "proxied", key: "client/alice/gone.bin", concurrency: 1, signal: ac.signal, keepOnAbort: true,
      onEvent: (e) => (events.push(e), e.type === "part" && ac.abort()),
    }),
    { name: "AbortError" },
  );
  const created = events.find((e) => e.type === "created");
  const saved = JSON.parse(await import("node:fs/promises").then((m) => m.readFile(join(dir, "state.json"), "utf8")));
  const st = JSON.parse(Object.entries(saved).find(([k]) => k.includes("gone.bin"))[1]);
  const q = `store=proxied&key=${encodeURIComponent(st.key)}${st.handle ? `&handle=${encodeURIComponent(st.handle)}` : ""}`;
  await stack.proxy.idle();
  const del = await stack.call("DELETE", `/v1/multipart/${encodeURIComponent(st.uploadId)}?${q}`);
  assert.equal(del.status, 204);
  stack.proxy.reset();
  const { events: ev2 } = await run("client/alice/gone.bin");
  const restart = ev2.find((e) => e.type === "restart");
  assert.ok(restart, "restarted");
  assert.match(restart.reason, /not_found \(404\)|policy_denied \(403\)/);
  assert.notEqual(ev2.find((e) => e.type === "created").uploadId, created.uploadId);
  assert.ok(BrokerError);
});

test("a byte flipped in transit: stored silently without a checksum…", async () => {
  stack.proxy.faults.push({ action: "corrupt", atByte: 4096, times: 1, when: (req) => /partNumber=2\b/.test(req.url) });
  const r = await client().upload(file, { store: "proxied", key: "client/alice/corrupt-plain.bin", concurrency: 2 });
  assert.deepEqual(stack.proxy.stats.faultsFired.map((f) => f.action), ["corrupt"]);
  const got = await stack.objectSha256("proxied", r.key);
  assert.equal(got.size, SIZE);
  assert.notEqual(got.sha256, sha, "the damage reached the object: the fault is real");
});

test("…and refused by the provider then re-sent with checksum: \"md5\" (Content-MD5 per part)", async () => {
  stack.proxy.faults.push({ action: "corrupt", atByte: 4096, times: 1, when: (req) => /partNumber=2\b/.test(req.url) });
  const { events, created } = await run("client/alice/corrupt-md5.bin", { checksum: "md5" });
  assert.deepEqual(stack.proxy.stats.faultsFired.map((f) => f.action), ["corrupt"]);
  const retries = events.filter((e) => e.type === "retry");
  assert.deepEqual(retries.map((e) => [e.partNumber, e.reason]), [[2, "BadDigest"]]);
  assert.equal(stack.proxy.stats.partOk, created.parts);
});
