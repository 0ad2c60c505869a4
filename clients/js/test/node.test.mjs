// Node adapter against the real broker and SeaweedFS: form POST, PUT, multipart, typed broker errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { statSync } from "node:fs";
import { createClient, BrokerError, nodeAdapter } from "../dist/node.js";
import { startStack, generateFile, tempDir, MIB } from "./lib/stack.mjs";

let stack, dir;
before(async () => {
  stack = await startStack();
  dir = tempDir();
});
after(() => stack && stack.stop());

const client = (o = {}) =>
  createClient({ baseUrl: stack.url, getToken: () => stack.token, adapter: nodeAdapter({ stateFile: join(dir, "state.json") }), ...o });

test("a small file goes up in one form POST, bytes verified", async () => {
  const f = join(dir, "small.bin");
  const sha = generateFile(f, 300 * 1024, 11);
  const seen = [];
  const events = [];
  const r = await client().upload(f, {
    store: "proxied", key: "client/alice/small.bin", contentType: "application/octet-stream",
    onProgress: (p) => seen.push(p), onEvent: (e) => events.push(e),
  });
  assert.equal(r.key, "client/alice/small.bin");
  assert.equal(r.size, 300 * 1024);
  assert.match(r.etag, /^"?[0-9a-f]{32}"?$/);
  assert.equal(stack.proxy.stats.partPuts, 0, "no multipart for a small file");
  assert.deepEqual(seen.at(-1), { loaded: 300 * 1024, total: 300 * 1024 });
  assert.ok(!events.some((e) => e.type === "created"));
  assert.deepEqual(await stack.objectSha256("proxied", r.key), { sha256: sha, size: 300 * 1024 });
});

test("method PUT with a broker-made key from `filename`", async () => {
  const f = join(dir, "photo.jpg");
  const sha = generateFile(f, 64 * 1024, 12);
  const r = await client().upload(f, { store: "proxied", filename: "photo.jpg", contentType: "image/jpeg", method: "PUT" });
  assert.match(r.key, /^client\/alice\/[0-9a-f-]{36}\.jpg$/);
  assert.ok(r.etag);
  assert.deepEqual(await stack.objectSha256("proxied", r.key), { sha256: sha, size: 64 * 1024 });
});

test("a large file goes multipart in parallel parts; progress is monotonic and ends at the size", async () => {
  const size = 23 * MIB + 77;
  const f = join(dir, "large.bin");
  const sha = generateFile(f, size, 13);
  stack.proxy.reset();
  const events = [];
  const loaded = [];
  let maxInFlight = 0;
  let inFlight = 0;
  stack.proxy.faults.push({ action: "delay", delayMs: 150, times: Infinity, when: () => (maxInFlight = Math.max(maxInFlight, ++inFlight), setTimeout(() => inFlight--, 150), true) });
  const r = await client().upload(f, {
    store: "proxied", key: "client/alice/large.bin", concurrency: 3,
    onEvent: (e) => events.push(e), onProgress: (p) => loaded.push(p.loaded),
  });
  const created = events.find((e) => e.type === "created");
  assert.ok(created, "multipart was used");
  assert.equal(created.parts, Math.ceil(size / created.partSize));
  assert.equal(stack.proxy.stats.partOk, created.parts, "each part sent once");
  assert.ok(maxInFlight >= 2 && maxInFlight <= 3, `parts in parallel, at most the concurrency (saw ${maxInFlight})`);
  for (let i = 1; i < loaded.length; i++) assert.ok(loaded[i] >= loaded[i - 1], "progress never goes back");
  assert.equal(loaded.at(-1), size);
  // URLs are signed in batches, each part once.
  const signed = events.filter((e) => e.type === "sign").flatMap((e) => e.partNumbers);
  assert.deepEqual([...signed].sort((a, b) => a - b), Array.from({ length: created.parts }, (_, i) => i + 1));
  assert.equal(r.size, size);
  assert.equal(r.key, "client/alice/large.bin");
  assert.deepEqual(await stack.objectSha256("proxied", r.key), { sha256: sha, size });
  const state = JSON.parse(await import("node:fs/promises").then((m) => m.readFile(join(dir, "state.json"), "utf8")));
  assert.deepEqual(state, {}, "resume state is removed after completion");
});

test("the broker's problem+json becomes a BrokerError with code, status, requestId, detail", async () => {
  const f = join(dir, "small.bin");
  await assert.rejects(
    client().upload(f, { store: "proxied", key: "client/bob/not-mine.bin" }),
    (e) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.status, 403);
      assert.equal(e.code, "policy_denied");
      assert.ok(e.requestId && e.requestId.length > 0);
      assert.match(e.detail, /client\/bob\/not-mine\.bin/);
      return true;
    },
  );
  await assert.rejects(client().upload(f, { store: "nope", key: "client/alice/x" }), { name: "BrokerError", code: "unknown_store", status: 404 });
  const bad = createClient({ baseUrl: stack.url, getToken: () => "not-a-jwt", adapter: nodeAdapter({ stateFile: join(dir, "s2.json") }) });
  await assert.rejects(bad.upload(f, { store: "proxied", key: "client/alice/x" }), { name: "BrokerError", code: "unauthenticated", status: 401 });
  assert.ok(statSync(f).size > 0);
});
