// The same client code through the broker to the COS, Qiniu and OSS emulators (tests/emulators/), which verify every
// request with the vendors' own SDK code: a small file by form POST, and a multipart upload whose process is killed
// and restarted (only the missing parts are sent again). Qiniu and OSS stores have `callback = true`: each upload
// must be recorded exactly once by the provider's signed callback (the events in Redis).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, nodeAdapter } from "../dist/node.js";
import { startStack, generateFile, tempDir, MIB } from "./lib/stack.mjs";
import { runChild } from "./lib/child.mjs";

const PROVIDERS = ["cos", "qiniu", "oss"];
let stack, dir;
before(async () => {
  stack = await startStack({ emulators: PROVIDERS });
  dir = tempDir();
});
after(() => stack && stack.stop());

/** A node adapter that records what the client sends: form fields, and each broker answer and part request. */
function recording(adapter) {
  const seen = { forms: [], signed: [], partRequests: [], lists: 0 };
  return {
    seen,
    adapter: {
      ...adapter,
      formPost: (p) => (seen.forms.push(p.fields), adapter.formPost(p)),
      async request(r) {
        const res = await adapter.request(r);
        const path = new URL(r.url).pathname;
        if (r.method === "POST" && /^\/v1\/multipart\/[^/]+\/parts$/.test(path) && res.status === 200) {
          seen.signed.push(...JSON.parse(res.text).parts);
        } else if (r.method === "GET" && /^\/v1\/multipart\/[^/]+\/parts$/.test(path)) {
          seen.lists++;
        } else if (!r.url.startsWith(stack.url)) {
          seen.partRequests.push({ url: r.url, headers: r.headers, status: res.status });
        }
        return res;
      },
    },
  };
}

/** The provider's own form fields (docs/API.md "Direct upload credentials"). */
const FORM_FIELDS = {
  cos: ["key", "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature"],
  qiniu: ["token", "key"],
  oss: ["key", "policy", "x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-signature"],
};

async function eventsFor(key) {
  return (await stack.events()).filter((e) => e.key === key);
}

for (const provider of PROVIDERS) {
  test(`${provider}: a small file goes up by one form POST with the provider's own fields`, async () => {
    const f = join(dir, `${provider}-small.jpg`);
    const size = 300 * 1024 + 7;
    const sha = generateFile(f, size, 71);
    const rec = recording(nodeAdapter({ stateFile: join(dir, `${provider}-small.json`) }));
    const r = await createClient({ baseUrl: stack.url, getToken: () => stack.token, adapter: rec.adapter }).upload(f, {
      store: provider, filename: "small.jpg", contentType: "image/jpeg",
    });
    assert.equal(rec.seen.forms.length, 1);
    for (const field of FORM_FIELDS[provider]) assert.ok(field in rec.seen.forms[0], `${field} in ${Object.keys(rec.seen.forms[0])}`);
    assert.match(r.key, /^client\/alice\/[0-9a-f-]{36}\.jpg$/);
    assert.equal(r.size, size);
    assert.deepEqual(await stack.objectSha256(provider, r.key), { sha256: sha, size });
    if (provider !== "cos") {
      // The provider relays the broker's callback answer; the event is recorded once.
      const ev = await eventsFor(r.key);
      assert.equal(ev.length, 1, JSON.stringify(ev));
      assert.equal(ev[0].provider, provider);
      assert.equal(ev[0].size, size);
      if (provider === "qiniu") assert.equal(r.etag, ev[0].etag, "the client got Qiniu's hash from the relayed answer");
    }
  });

  test(`${provider}: multipart, killed after a part and restarted: only the missing parts are sent again`, async () => {
    const em = stack.emulators[provider];
    const size = 3 * 8 * MIB + 12345; // the broker's 8 MiB parts: 4 parts
    const file = join(dir, `${provider}-big.bin`);
    const sha = generateFile(file, size, 72);
    const key = `client/alice/${provider}-big.bin`;
    const stateFile = join(dir, `${provider}-big-state.json`);
    em.proxy.reset();
    // Slow answers, one part at a time: the kill lands after one acknowledged part with the next one in flight.
    em.proxy.faults.push({ action: "delay", delayMs: 300, times: Infinity });
    const args = { baseUrl: stack.url, token: stack.token, file, store: provider, key, stateFile, concurrency: 1 };
    const first = await runChild(args, (e) => (e.type === "part" ? "kill" : undefined));
    assert.equal(first.signal, "SIGKILL", `killed (${first.stderr})`);
    const created = first.events.find((e) => e.type === "created");
    assert.equal(created.partSize, 8 * MIB);
    assert.equal(created.parts, 4);
    await em.proxy.idle();
    const held = em.proxy.stats.partOk; // what reached the provider, the kill's in-flight part included

    em.proxy.reset();
    const rec = recording(nodeAdapter({ stateFile }));
    const events = [];
    const r = await createClient({ baseUrl: stack.url, getToken: () => stack.token, adapter: rec.adapter }).upload(file, {
      store: provider, key, concurrency: 2, onEvent: (e) => events.push(e),
    });
    const resumed = events.find((e) => e.type === "resumed");
    assert.ok(resumed && resumed.uploadId === created.uploadId, "resumed the killed upload");
    assert.equal(resumed.listed, held, "the broker lists what reached the provider");
    const expected = created.parts - held;
    console.log(`# ${provider} resume: ${created.parts} parts; at the provider after the kill ${held}; re-sent expected ${expected}, measured ${em.proxy.stats.partOk}`);
    assert.ok(expected > 0, "the kill left work to do");
    assert.equal(em.proxy.stats.partOk, expected, "exactly the missing parts");
    assert.equal(em.proxy.stats.partPuts, expected);
    // Every part request carried exactly the headers the broker gave for it (Qiniu: Authorization: UpToken …).
    assert.equal(rec.seen.partRequests.length, expected);
    for (const p of rec.seen.partRequests) {
      const signed = rec.seen.signed.find((s) => s.url === p.url);
      assert.ok(signed, "a URL the broker signed");
      assert.deepEqual(p.headers, signed.headers);
      if (provider === "qiniu") assert.match(p.headers.Authorization ?? p.headers.authorization, /^UpToken [^:]+:[^:]+:[A-Za-z0-9_=-]+$/);
    }
    // One list to resume; none before complete: every part's answer gave its ETag (Qiniu's in its JSON body).
    assert.equal(rec.seen.lists, 1);
    assert.equal(r.size, size);
    assert.equal(r.key, key);
    assert.deepEqual(await stack.objectSha256(provider, key), { sha256: sha, size });
    assert.deepEqual(JSON.parse(readFileSync(stateFile, "utf8")), {}, "state removed after completion");
    if (provider !== "cos") {
      const ev = await eventsFor(key);
      assert.equal(ev.length, 1, `recorded once by the callback: ${JSON.stringify(ev)}`);
      assert.equal(ev[0].size, size);
    }
  });
}

// The mini-program example's own pages (examples/wechat-miniprogram), run by fixtures/wx-page.mjs with the wx shim
// against the COS and Qiniu emulators: what a phone would do, with the library's wx adapter.
const miniProgram = (extra) => ({
  token: stack.token,
  globalData: { brokerUrl: stack.url, photoStores: { cos: "cos", qiniu: "qiniu" }, videoStore: extra.store },
  ...extra,
});

test("mini-program photo page: wx.uploadFile to COS (then confirmed) and to Qiniu (recorded by its callback)", async () => {
  const file = join(dir, "photo.jpg");
  const sha = generateFile(file, 200 * 1024, 81);
  const run = await runChild(miniProgram({ page: "upload", tap: "onChoose", storageFile: join(dir, "wx-photo.json"), file }), undefined, { script: "wx-page.mjs" });
  assert.equal(run.code, 0, run.stderr);
  const { final, calls } = run.result;
  assert.equal(final.status, "done", final.error);
  assert.equal(calls.uploadFile, 2, "both by wx.uploadFile");
  assert.deepEqual(final.results.map((r) => r.store), ["cos", "qiniu"]);
  for (const r of final.results) {
    assert.match(r.key, /^client\/alice\/[0-9a-f-]{36}\.jpg$/);
    assert.deepEqual(await stack.objectSha256(r.store, r.key), { sha256: sha, size: 200 * 1024 });
    const ev = await eventsFor(r.key);
    assert.equal(ev.length, 1, `${r.store}: recorded once (COS by the page's confirm, Qiniu by the callback)`);
    assert.equal(ev[0].store, r.store);
  }
  assert.equal(final.results[1].etag, (await eventsFor(final.results[1].key))[0].etag, "Qiniu's hash from the relayed answer");
});

for (const provider of ["cos", "qiniu"]) {
  test(`mini-program video page on ${provider}: the app is killed mid-upload and restarted; it resumes from wx storage`, async () => {
    const em = stack.emulators[provider];
    const size = 3 * 8 * MIB + 777;
    const file = join(dir, `${provider}-video.mp4`);
    const sha = generateFile(file, size, 82);
    const storageFile = join(dir, `${provider}-wx-video.json`);
    const args = miniProgram({ page: "video", tap: "choose", storageFile, file, store: provider });
    em.proxy.reset();
    // Slow answers: parts are in flight (three at once, the page's concurrency) when the app dies.
    em.proxy.faults.push({ action: "delay", delayMs: 300, times: Infinity });
    const first = runChild(args, undefined, { script: "wx-page.mjs" });
    const poll = setInterval(() => em.proxy.stats.partOk >= 1 && first.kill(), 5);
    const killed = await first;
    clearInterval(poll);
    assert.equal(killed.signal, "SIGKILL", `killed (${killed.stderr})`);
    await em.proxy.idle();
    const held = em.proxy.stats.partOk;
    const saved = JSON.parse(readFileSync(storageFile, "utf8"));
    const stateKeys = Object.keys(saved).filter((k) => k !== "appToken");
    assert.equal(stateKeys.length, 1, "the upload's state is in wx storage");
    const state = JSON.parse(saved[stateKeys[0]]);

    em.proxy.reset();
    const second = await runChild(args, undefined, { script: "wx-page.mjs" });
    assert.equal(second.code, 0, second.stderr);
    const { final, calls } = second.result;
    assert.equal(final.status, `done: ${size} bytes`);
    assert.equal(final.key, state.key, "the same upload, continued");
    assert.ok(second.lines.some((l) => l.data.percent >= Math.floor((held * 8 * MIB * 100) / size)), "progress resumed from the listed parts");
    const parts = Math.ceil(size / (8 * MIB));
    const expected = parts - held;
    console.log(`# wx ${provider} app restart: ${parts} parts; at the provider after the kill ${held}; re-sent expected ${expected}, measured ${em.proxy.stats.partOk}`);
    assert.ok(expected > 0, "the kill left work to do");
    assert.equal(em.proxy.stats.partOk, expected, "only the missing parts");
    assert.equal(calls.uploadFile, 0, "large files never go by wx.uploadFile");
    assert.equal(calls.readFileSync, expected, "one readFileSync(path, undefined, position, length) per part sent");
    assert.ok(calls.maxReadLength <= 8 * MIB);
    assert.deepEqual(await stack.objectSha256(provider, final.key), { sha256: sha, size });
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(storageFile, "utf8"))), ["appToken"], "state removed after completion");
    if (provider === "qiniu") assert.equal((await eventsFor(final.key)).length, 1, "recorded once by the callback");
  });
}
