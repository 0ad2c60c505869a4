// The browser adapter in Debian's headless Chromium (playwright-core drives /usr/bin/chromium; no browser download):
// the built ESM is served to a page that uploads Blobs through XMLHttpRequest, with resume state in localStorage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join, dirname, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStack, freePort, MIB } from "./lib/stack.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let stack, server, origin, context, page;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (or set CHROMIUM)`);
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  server = http.createServer(async (req, res) => {
    const path = normalize(new URL(req.url, origin).pathname).replace(/^\/+/, "");
    if (path === "" || path === "index.html") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end("<!doctype html><title>client test</title>");
    }
    if (!path.startsWith("dist/")) return res.writeHead(404).end();
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  stack = await startStack({ corsOrigins: [origin] });
  context = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic"],
  });
  page = await context.newPage();
  await page.goto(`${origin}/index.html`);
  await page.evaluate(async ({ baseUrl, token }) => {
    const lib = await import("/dist/index.js");
    // Deterministic bytes (xorshift) so Node can recompute nothing: the page reports its own SHA-256.
    window.makeFile = async (name, size, seed) => {
      const bytes = new Uint8Array(size);
      let x = seed;
      for (let i = 0; i < size; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        bytes[i] = x & 0xff;
      }
      const sha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
      return { file: new File([bytes], name, { lastModified: 1700000000000, type: "application/octet-stream" }), sha };
    };
    window.client = lib.createClient({ baseUrl, getToken: () => token });
    window.lib = lib;
  }, { baseUrl: stack.url, token: stack.token });
});

after(async () => {
  if (context) await context.close();
  if (stack) await stack.stop();
  if (server) server.close();
});

test("the default adapter in a page is the browser's, state in localStorage", async () => {
  assert.equal(await page.evaluate(() => window.client.adapter.name), "browser");
});

test("a small Blob: one form POST from the page, bytes verified", async () => {
  const out = await page.evaluate(async () => {
    const { file, sha } = await window.makeFile("note.txt", 300 * 1024, 7);
    const progress = [];
    const r = await window.client.upload(file, { store: "proxied", filename: "note.txt", contentType: "text/plain", onProgress: (p) => progress.push(p.loaded) });
    return { r, sha, last: progress.at(-1) };
  });
  assert.match(out.r.key, /^client\/alice\/[0-9a-f-]{36}\.txt$/);
  assert.match(out.r.etag, /[0-9a-f]{32}/, "ETag readable: the bucket exposes it");
  assert.equal(out.last, 300 * 1024);
  assert.equal((await stack.objectSha256("proxied", out.r.key)).sha256, out.sha);
});

test("a large Blob: Blob.slice parts by XHR with byte progress; paused, then resumed from localStorage", async () => {
  stack.proxy.reset();
  stack.proxy.faults.push({ action: "delay", delayMs: 200, times: Infinity });
  const first = await page.evaluate(async () => {
    const { file, sha } = await window.makeFile("clip.bin", 17 * 1024 * 1024 + 11, 9);
    window.clip = file;
    const ac = new AbortController();
    const events = [];
    let err = null;
    try {
      await window.client.upload(file, {
        store: "proxied", key: "client/alice/clip.bin", concurrency: 2, signal: ac.signal, keepOnAbort: true,
        onEvent: (e) => (events.push(e), e.type === "part" && ac.abort()),
      });
    } catch (e) {
      err = e.name;
    }
    return { err, events, sha, saved: Object.keys(localStorage).filter((k) => k.startsWith("presign-broker:")).length };
  });
  assert.equal(first.err, "AbortError");
  assert.equal(first.saved, 1, "resume state in localStorage");
  const created = first.events.find((e) => e.type === "created");

  await stack.proxy.idle();
  stack.proxy.reset();
  const second = await page.evaluate(async () => {
    const events = [];
    const progress = [];
    const r = await window.client.upload(window.clip, {
      store: "proxied", key: "client/alice/clip.bin", concurrency: 2, checksum: "md5", // Content-MD5 of Blob parts
      onEvent: (e) => events.push(e), onProgress: (p) => progress.push(p.loaded),
    });
    return { r, events, progress, left: Object.keys(localStorage).filter((k) => k.startsWith("presign-broker:")).length };
  });
  const resumed = second.events.find((e) => e.type === "resumed");
  assert.ok(resumed && resumed.uploadId === created.uploadId, "resumed the paused upload");
  assert.ok(resumed.listed >= 1);
  assert.equal(stack.proxy.stats.partOk, resumed.remaining, "only the missing parts were sent");
  const size = 17 * MIB + 11;
  assert.ok(second.progress.length > resumed.remaining + 1, "XHR upload progress inside parts, not only per part");
  assert.equal(second.progress.at(-1), size);
  assert.equal(second.left, 0);
  assert.equal(second.r.size, size);
  assert.deepEqual(await stack.objectSha256("proxied", "client/alice/clip.bin"), { sha256: first.sha, size });
});

test("cancel in the page aborts the upload at the provider", async () => {
  stack.proxy.reset();
  stack.proxy.faults.push({ action: "delay", delayMs: 300, times: Infinity });
  const out = await page.evaluate(async () => {
    const { file } = await window.makeFile("gone.bin", 12 * 1024 * 1024, 5);
    const ac = new AbortController();
    const events = [];
    try {
      await window.client.upload(file, { store: "proxied", key: "client/alice/gone.bin", signal: ac.signal, onEvent: (e) => (events.push(e), e.type === "part" && ac.abort()) });
      return { err: null };
    } catch (e) {
      return { err: e.name, events };
    }
  });
  assert.equal(out.err, "AbortError");
  const c = out.events.find((e) => e.type === "created");
  assert.ok(out.events.some((e) => e.type === "aborted"));
  const q = `store=proxied&key=${encodeURIComponent(c.key)}${c.handle ? `&handle=${encodeURIComponent(c.handle)}` : ""}`;
  const listed = await stack.call("GET", `/v1/multipart/${encodeURIComponent(c.uploadId)}/parts?${q}`);
  assert.equal(listed.status, 404);
});
