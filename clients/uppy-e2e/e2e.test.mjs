// Real @uppy/core + @uppy/aws-s3 5.x and 6.x in Companion mode, in Debian's headless Chromium, against the broker's
// /companion routes and SeaweedFS: form and multipart uploads, pause/resume, cancel and a policy denial, each file's
// bytes read back and compared by SHA-256.
//
// Uppy 5 is set up as its docs say for a cross-origin Companion: `endpoint` = the broker, the JWT in `headers`.
// Uppy 6 sends no custom header and fetches with the default `credentials: "same-origin"`, so it must be served from
// the broker's origin: the page's server reverse-proxies /companion/ to the broker (as a site's own proxy would) and
// the JWT travels in the `[companion] token_cookie` cookie. Uppy 5 is also run that way once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStack, freePort, MIB } from "../js/test/lib/stack.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const COOKIE = "broker_token";
const UUID_BIN = /^client\/alice\/[0-9a-f-]{36}\.bin$/;
let stack, server, origin, browser;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (or set CHROMIUM)`);
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  stack = await startStack({ corsOrigins: [origin], extraConfig: `\n[companion]\ntoken_cookie = "${COOKIE}"\n` });
  const broker = new URL(stack.url);
  server = http.createServer(async (req, res) => {
    const url = new URL(req.url, origin);
    if (url.pathname.startsWith("/companion/")) {
      // The site's reverse proxy: same origin for the page, the broker behind it (Host kept, as proxies do).
      const out = http.request(
        { host: broker.hostname, port: broker.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        },
      );
      out.on("error", () => res.destroy());
      return void req.pipe(out);
    }
    if (url.pathname === "/") {
      const v = url.searchParams.get("v") === "6" ? 6 : 5;
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(`<!doctype html><title>Uppy ${v}</title><script type="module" src="/dist/uppy${v}.js"></script>`);
    }
    const m = /^\/dist\/uppy[56]\.js$/.exec(url.pathname);
    if (!m) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": "text/javascript" });
    res.end(await readFile(join(here, url.pathname)));
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
  if (server) server.close();
});

/**
 * A fresh page (own cookies) running Uppy `version` against `store`: Uppy 5 cross-origin with the bearer header
 * (`auth: "bearer"`) or same-origin with the cookie (`auth: "cookie"`); Uppy 6 always same-origin with the cookie.
 * Returns the page and the /companion requests it made (method, path and query, status).
 */
async function openUppy(version, { store, auth = version === 5 ? "bearer" : "cookie", token = stack.token }) {
  const context = await browser.newContext();
  if (auth === "cookie") await context.addCookies([{ name: COOKIE, value: token, url: origin, httpOnly: true, sameSite: "Strict" }]);
  const page = await context.newPage();
  const requests = [];
  const console_ = [];
  page.on("console", (m) => console_.push(`${m.type()}: ${m.text()}`));
  page.on("response", (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith("/companion/")) requests.push({ method: r.request().method(), path: u.pathname + u.search, status: r.status(), headers: r.request().headers() });
  });
  await page.goto(`${origin}/?v=${version}`);
  await page.waitForFunction(() => globalThis.UppyLib);
  const lib = await page.evaluate(
    ({ store, auth, token, brokerUrl }) => {
      const { Uppy, AwsS3, version } = globalThis.UppyLib;
      const uppy = new Uppy({ autoProceed: false });
      const opts = { shouldUseMultipart: (file) => file.size > 5 * 1024 * 1024 };
      if (version === 5 && auth === "bearer") {
        Object.assign(opts, { endpoint: `${brokerUrl}/companion/${store}`, headers: { authorization: `Bearer ${token}` } });
      } else if (version === 5) {
        opts.endpoint = `${location.origin}/companion/${store}`;
      } else {
        opts.companionEndpoint = `${location.origin}/companion/${store}`;
      }
      uppy.use(AwsS3, opts);
      const log = { parts: [], errors: [], success: [] };
      const partWaiters = [];
      uppy.on("s3-multipart:part-uploaded", (_file, part) => {
        log.parts.push(part.PartNumber);
        for (const w of partWaiters.splice(0)) w(part.PartNumber);
      });
      uppy.on("upload-success", (file, r) => log.success.push({ id: file.id, key: r.body?.key, location: r.body?.location, uploadURL: r.uploadURL }));
      uppy.on("upload-error", (file, e) => log.errors.push({ id: file.id, message: String(e?.message ?? e) }));
      // Deterministic bytes (xorshift); the page reports their SHA-256.
      const makeFile = async (name, size, seed) => {
        const bytes = new Uint8Array(size);
        let x = seed;
        for (let i = 0; i < size; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          bytes[i] = x & 0xff;
        }
        const digest = await crypto.subtle.digest("SHA-256", bytes);
        const sha = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
        return { blob: new Blob([bytes], { type: "application/octet-stream" }), sha };
      };
      globalThis.t = {
        uppy,
        log,
        async add(name, size, seed) {
          const { blob, sha } = await makeFile(name, size, seed);
          const id = uppy.addFile({ name, type: "application/octet-stream", data: blob });
          return { id, sha };
        },
        nextPart: () => new Promise((r) => partWaiters.push(r)),
      };
      return { version, core: Uppy.VERSION, awsS3: AwsS3.VERSION };
    },
    { store, auth, token, brokerUrl: stack.url },
  );
  assert.equal(lib.version, version);
  return {
    page,
    requests,
    console: console_,
    lib,
    close: () => context.close(),
  };
}

/** SHA-256 and size of the stored object, read back from SeaweedFS through a presigned GET. */
async function stored(store, key) {
  return stack.objectSha256(store, key);
}

const companionPath = (p) => p.replace(/^\/companion\/[^/]+\/s3/, "");

for (const version of [5, 6]) {
  test(`Uppy ${version}: a 1 MiB file is one form POST; bytes read back`, async () => {
    const u = await openUppy(version, { store: "direct" });
    try {
      const out = await u.page.evaluate(async () => {
        const { id, sha } = await t.add("small.bin", 1024 * 1024, 11);
        const result = await t.uppy.upload();
        return { id, sha, ok: result.successful.length, failed: result.failed.length, log: t.log };
      });
      assert.equal(out.failed, 0, JSON.stringify(out.log.errors) + u.console.join("\n"));
      assert.equal(out.ok, 1);
      const { key, location } = out.log.success[0];
      assert.match(key, UUID_BIN);
      if (version === 6) {
        assert.ok(location.endsWith(key.split("/").pop()), location); // Uppy 6 makes it from url + key
      } else {
        // Uppy 5 reads the storage's Location header, else falls back to the form's URL: SeaweedFS sends none on a
        // form POST (AWS S3 does; the bucket's CORS must expose it), so here it is the bucket URL.
        assert.equal(location, `${process.env.PB_TEST_S3_ENDPOINT}/${process.env.PB_TEST_S3_BUCKET}/`);
      }
      assert.deepEqual(await stored("direct", key), { sha256: out.sha, size: MIB });
      assert.deepEqual(
        u.requests.map((r) => [r.method, companionPath(r.path).split("?")[0], r.status]),
        [["GET", "/params", 200]],
      );
      if (version === 6) {
        assert.equal(u.requests[0].headers.authorization, undefined, "Uppy 6 sends no Authorization: the cookie authenticated it");
      } else {
        assert.match(u.requests[0].headers.authorization, /^Bearer /);
      }
    } finally {
      await u.close();
    }
  });

  test(`Uppy ${version}: a 12 MiB file goes multipart (3 parts of <= 5 MiB); bytes read back`, async () => {
    const u = await openUppy(version, { store: "direct" });
    try {
      const out = await u.page.evaluate(async () => {
        const { id, sha } = await t.add("big.bin", 12 * 1024 * 1024, 12);
        const result = await t.uppy.upload();
        return { id, sha, ok: result.successful.length, log: t.log, s3: t.uppy.getFile(id)?.s3Multipart };
      });
      assert.equal(out.ok, 1, JSON.stringify(out.log.errors) + u.console.join("\n"));
      assert.deepEqual([...out.log.parts].sort(), [1, 2, 3]);
      const { key, location } = out.log.success[0];
      assert.match(key, UUID_BIN);
      assert.ok(location.includes(key.split("/").pop()), location);
      assert.deepEqual(await stored("direct", key), { sha256: out.sha, size: 12 * MIB });
      const calls = u.requests.map((r) => `${r.method} ${companionPath(r.path).replace(/multipart\/[^/?]+/, "multipart/ID").split("?")[0]} ${r.status}`);
      assert.deepEqual(
        [...calls].sort(),
        ["GET /multipart/ID/1 200", "GET /multipart/ID/2 200", "GET /multipart/ID/3 200", "POST /multipart 200", "POST /multipart/ID/complete 200"],
      );
    } finally {
      await u.close();
    }
  });

  test(`Uppy ${version}: pause after part 1, resume: the broker's part list decides what is left`, async () => {
    const u = await openUppy(version, { store: "proxied" });
    stack.proxy.reset();
    // Parts 2 and 3 are answered late, so the pause lands while they are in flight.
    stack.proxy.faults.push({ action: "delay", delayMs: 1500, times: 2, when: (req) => !/[?&]partNumber=1&/.test(req.url + "&") });
    try {
      const first = await u.page.evaluate(async () => {
        const { id, sha } = await t.add("paused.bin", 12 * 1024 * 1024, 13);
        globalThis.done = t.uppy.upload();
        const n = await t.nextPart();
        t.uppy.pauseResume(id);
        return { id, sha, n };
      });
      assert.equal(first.n, 1);
      await new Promise((r) => setTimeout(r, 500));
      await stack.proxy.idle(); // the paused client's last parts land before the list is asked for
      const paused = await u.page.evaluate((id) => ({ isPaused: t.uppy.getFile(id).isPaused, success: t.log.success.length }), first.id);
      assert.deepEqual(paused, { isPaused: true, success: 0 });
      const before = u.requests.length;
      const out = await u.page.evaluate(async (id) => {
        t.uppy.pauseResume(id);
        const result = await globalThis.done;
        return { ok: result.successful.length, log: t.log };
      }, first.id);
      assert.equal(out.ok, 1, JSON.stringify(out.log.errors) + u.console.join("\n"));
      const afterResume = u.requests.slice(before).map((r) => `${r.method} ${companionPath(r.path).split("?")[0].replace(/multipart\/[^/]+/, "multipart/ID")}`);
      assert.ok(afterResume.includes("GET /multipart/ID"), `resume lists the parts: ${afterResume}`);
      assert.equal(stack.proxy.stats.partOkNumbers.filter((n) => n === 1).length, 1, "part 1 is never sent again");
      const { key } = out.log.success[0];
      assert.deepEqual(await stored("proxied", key), { sha256: first.sha, size: 12 * MIB });
    } finally {
      stack.proxy.reset();
      await u.close();
    }
  });

  test(`Uppy ${version}: cancel mid-upload aborts the multipart upload (gone at the provider)`, async () => {
    const u = await openUppy(version, { store: "proxied" });
    stack.proxy.reset();
    stack.proxy.faults.push({ action: "delay", delayMs: 1500, times: 2, when: (req) => !/[?&]partNumber=1&/.test(req.url + "&") });
    try {
      const s3 = await u.page.evaluate(async () => {
        const { id } = await t.add("cancelled.bin", 12 * 1024 * 1024, 14);
        globalThis.done = t.uppy.upload();
        await t.nextPart();
        const state = t.uppy.getFile(id).s3Multipart;
        t.uppy.removeFile(id);
        return state;
      });
      assert.ok(s3?.uploadId?.startsWith("v1.") && UUID_BIN.test(s3.key), JSON.stringify(s3));
      const listUrl = `${stack.url}/companion/proxied/s3/multipart/${encodeURIComponent(s3.uploadId)}?key=${encodeURIComponent(s3.key)}`;
      let status = 0;
      for (let i = 0; i < 50 && status !== 404; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await stack.proxy.idle();
        status = (await fetch(listUrl, { headers: { authorization: `Bearer ${stack.token}` } })).status;
      }
      assert.equal(status, 404, "the upload is gone");
      const abort = u.requests.find((r) => r.method === "DELETE");
      assert.ok(abort, "Uppy sent the abort");
      assert.equal(abort.status, 200);
      assert.equal(companionPath(abort.path), `/multipart/${encodeURIComponent(s3.uploadId)}?key=${encodeURIComponent(s3.key)}`);
      const dl = await stack.call("POST", "/v1/downloads", { store: "proxied", key: s3.key });
      assert.equal((await fetch(dl.body.url)).status, 404, "no object either");
      const log = await u.page.evaluate(() => t.log);
      assert.deepEqual([log.success.length, log.errors.length], [0, 0]);
    } finally {
      stack.proxy.reset();
      await u.close();
    }
  });

  test(`Uppy ${version}: a policy denial is an Uppy upload error`, async () => {
    const guest = stack.mintToken("mallory", "guest");
    const u = await openUppy(version, { store: "direct", token: guest });
    try {
      const out = await u.page.evaluate(async () => {
        const { id } = await t.add("denied.bin", 1024 * 1024, 15);
        const result = await t.uppy.upload();
        return { failed: result.failed.length, fileError: t.uppy.getFile(id).error, log: t.log };
      });
      assert.equal(out.failed, 1);
      assert.equal(out.log.success.length, 0);
      assert.equal(out.log.errors.length, 1);
      const message = out.log.errors[0].message;
      // Uppy 5 shows the problem's `message`; Uppy 6 shows only the status text.
      if (version === 5) assert.match(message, /no rule with a key_template allows upload to direct/);
      else assert.equal(message, "Companion request failed: Forbidden");
      assert.equal(out.fileError, message);
      const denied = u.requests.find((r) => r.status === 403);
      assert.ok(denied && companionPath(denied.path).startsWith("/params?"), JSON.stringify(u.requests));
    } finally {
      await u.close();
    }
  });
}

test("Uppy 5 same-origin with the cookie and no headers: a multipart upload", async () => {
  const u = await openUppy(5, { store: "direct", auth: "cookie" });
  try {
    const out = await u.page.evaluate(async () => {
      const { sha } = await t.add("cookie.bin", 7 * 1024 * 1024, 16);
      const result = await t.uppy.upload();
      return { sha, ok: result.successful.length, log: t.log };
    });
    assert.equal(out.ok, 1, JSON.stringify(out.log.errors));
    assert.ok(u.requests.every((r) => r.headers.authorization === undefined && r.status === 200), JSON.stringify(u.requests));
    const { key } = out.log.success[0];
    assert.deepEqual(await stored("direct", key), { sha256: out.sha, size: 7 * MIB });
  } finally {
    await u.close();
  }
});

test("the bundles are the Uppy versions under test", async () => {
  for (const version of [5, 6]) {
    const u = await openUppy(version, { store: "direct" });
    try {
      assert.equal(u.lib.awsS3.split(".")[0], String(version), JSON.stringify(u.lib));
      assert.equal(u.lib.core.split(".")[0], String(version), JSON.stringify(u.lib));
    } finally {
      await u.close();
    }
  }
});
