// The mini-program adapter, run in Node with a `wx` shim backed by real HTTP, files and a storage file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { createClient, wxAdapter } from "../dist/index.js";
import { startStack, generateFile, tempDir, MIB } from "./lib/stack.mjs";
import { createWx } from "./lib/wx-shim.mjs";

let stack, dir;
before(async () => {
  stack = await startStack();
  dir = tempDir();
});
after(() => stack && stack.stop());

test("createClient picks the wx adapter when a `wx` global exists", () => {
  globalThis.wx = createWx({ storageFile: join(dir, "g.json") });
  try {
    assert.equal(createClient({ baseUrl: stack.url, getToken: () => "" }).adapter.name, "wx");
  } finally {
    delete globalThis.wx;
  }
});

test("a small file goes up by wx.uploadFile (form POST)", async () => {
  const wx = createWx({ storageFile: join(dir, "s1.json") });
  const f = join(dir, "small.jpg");
  const sha = generateFile(f, 200 * 1024, 41);
  const progress = [];
  const r = await createClient({ baseUrl: stack.url, getToken: () => stack.token, adapter: wxAdapter(wx) }).upload(f, {
    store: "proxied", filename: "small.jpg", contentType: "image/jpeg", onProgress: (p) => progress.push(p.loaded),
  });
  assert.equal(wx.calls.uploadFile, 1);
  assert.match(r.key, /^client\/alice\/[0-9a-f-]{36}\.jpg$/);
  assert.equal(progress.at(-1), 200 * 1024);
  assert.deepEqual(await stack.objectSha256("proxied", r.key), { sha256: sha, size: 200 * 1024 });
});

test("a large file: parts read with readFileSync(path, undefined, position, length), PUT by wx.request; paused and resumed after a restart", async () => {
  const storageFile = join(dir, "s2.json");
  const size = 26 * MIB + 3;
  const f = join(dir, "video.mp4");
  const sha = generateFile(f, size, 42);
  const key = "client/alice/video.mp4";
  stack.proxy.reset();
  stack.proxy.faults.push({ action: "delay", delayMs: 200, times: Infinity });
  // A connection cut on the first try of part 2: wx.request's `fail` is a network error, retried.
  stack.proxy.faults.push({ action: "cut", afterBytes: 64 * 1024, times: 1, when: (req) => /partNumber=2\b/.test(req.url) });
  stack.proxy.faults.reverse(); // the cut first

  const wx1 = createWx({ storageFile });
  const ac = new AbortController();
  const events = [];
  await assert.rejects(
    createClient({ baseUrl: stack.url, getToken: () => stack.token, adapter: wxAdapter(wx1), retry: { baseDelayMs: 20 } }).upload(f, {
      store: "proxied", key, concurrency: 2, signal: ac.signal, keepOnAbort: true,
      onEvent: (e) => (events.push(e), events.filter((x) => x.type === "part").length === 2 && ac.abort()),
    }),
    { name: "AbortError" },
  );
  const created = events.find((e) => e.type === "created");
  assert.ok(events.some((e) => e.type === "retry" && e.partNumber === 2), "the cut part was retried");
  assert.ok(wx1.calls.maxReadLength <= created.partSize, "never read more than one part");
  const saved = JSON.parse(readFileSync(storageFile, "utf8"));
  assert.equal(Object.keys(saved).length, 1, "state in wx storage");

  // "The app restarts": a new wx, same storage and file.
  await stack.proxy.idle();
  stack.proxy.reset();
  const wx2 = createWx({ storageFile });
  const ev2 = [];
  const r = await createClient({ baseUrl: stack.url, getToken: () => stack.token, adapter: wxAdapter(wx2) }).upload(f, {
    store: "proxied", key, concurrency: 2, onEvent: (e) => ev2.push(e), checksum: "md5", // Content-MD5 of ArrayBuffer parts
  });
  const resumed = ev2.find((e) => e.type === "resumed");
  assert.ok(resumed && resumed.uploadId === created.uploadId, "resumed the saved upload");
  assert.equal(stack.proxy.stats.partOk, resumed.remaining, "only the missing parts");
  assert.equal(resumed.listed + resumed.remaining, created.parts);
  assert.equal(r.size, size);
  assert.deepEqual(await stack.objectSha256("proxied", key), { sha256: sha, size });
  assert.deepEqual(JSON.parse(readFileSync(storageFile, "utf8")), {});
});
