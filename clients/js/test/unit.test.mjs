// Pure parts: part planning, backoff, URL freshness, resume state. No network.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  planParts, signBatchSize, backoffOptions, backoffDelay, retryableStatus, retryAfterSeconds, urlStillGood,
  stateKey, parseState, partsAlreadyDone, MIB,
} from "../dist/plan.js";

test("planParts: exact parts of part_size, a shorter last one, offsets contiguous", () => {
  const size = 3 * 5 * MIB + 123;
  const parts = planParts(size, 5 * MIB);
  assert.equal(parts.length, 4);
  assert.deepEqual(parts.map((p) => p.partNumber), [1, 2, 3, 4]);
  assert.deepEqual(parts.map((p) => p.length), [5 * MIB, 5 * MIB, 5 * MIB, 123]);
  let next = 0;
  for (const p of parts) {
    assert.equal(p.offset, next);
    next += p.length;
  }
  assert.equal(next, size);
  assert.equal(planParts(10 * MIB, 5 * MIB).length, 2, "an exact multiple has no empty last part");
  assert.deepEqual(planParts(0, MIB), [{ partNumber: 1, offset: 0, length: 0 }]);
  assert.throws(() => planParts(10, 0), RangeError);
  assert.throws(() => planParts(-1, 10), RangeError);
  assert.throws(() => planParts(1.5, 10), RangeError);
});

test("planParts: a 10,000-part plan ends exactly at the size", () => {
  const ps = 8 * MIB;
  const size = 10000 * ps - 1;
  const parts = planParts(size, ps);
  assert.equal(parts.length, 10000);
  assert.equal(parts[9999].offset + parts[9999].length, size);
});

test("signBatchSize: a few URLs per worker, never over the contract's 1000", () => {
  assert.equal(signBatchSize(1), 8);
  assert.equal(signBatchSize(4), 16);
  assert.equal(signBatchSize(1000), 1000);
});

test("backoffDelay: full jitter under a doubling ceiling, capped, Retry-After as a floor", () => {
  const b = backoffOptions({ baseDelayMs: 100, maxDelayMs: 1000 });
  assert.equal(b.retries, 5);
  assert.equal(backoffDelay(b, 0, () => 0.999999), 99);
  assert.equal(backoffDelay(b, 1, () => 0.999999), 199);
  assert.equal(backoffDelay(b, 3, () => 0.5), 400);
  assert.equal(backoffDelay(b, 10, () => 0.999999), 999, "capped at maxDelayMs");
  assert.equal(backoffDelay(b, 0, () => 0), 0, "jitter reaches zero");
  assert.equal(backoffDelay(b, 0, () => 0, 0.5), 500, "Retry-After is a floor");
  assert.equal(backoffDelay(b, 0, () => 0, 60), 1000, "but never above maxDelayMs");
  // Spread: many draws at one attempt are not all equal.
  const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(b, 4)));
  assert.ok(draws.size > 10);
  for (const d of draws) assert.ok(d >= 0 && d < 1000);
});

test("retryableStatus and Retry-After parsing", () => {
  for (const s of [408, 429, 500, 502, 503, 504]) assert.ok(retryableStatus(s), String(s));
  for (const s of [200, 400, 403, 404, 413]) assert.ok(!retryableStatus(s), String(s));
  assert.equal(retryAfterSeconds("3"), 3);
  assert.equal(retryAfterSeconds(" 12 "), 12);
  assert.equal(retryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT"), undefined);
  assert.equal(retryAfterSeconds(null), undefined);
});

test("urlStillGood: keeps a fifth of the lifetime (≤ 30 s) in reserve", () => {
  const signed = 1_000_000;
  assert.ok(urlStillGood(signed + 600_000, signed, signed + 500_000));
  assert.ok(!urlStillGood(signed + 600_000, signed, signed + 580_000), "30 s margin on a 10 min URL");
  assert.ok(urlStillGood(signed + 10_000, signed, signed + 7_000));
  assert.ok(!urlStillGood(signed + 10_000, signed, signed + 8_500), "2 s margin on a 10 s URL");
  assert.ok(!urlStillGood(signed + 1_000, signed, signed + 1_000), "expired");
});

const state = (o = {}) => ({
  v: 1, store: "media", key: "a/b.bin", uploadId: "u1", handle: "h", partSize: 5 * MIB, size: 11 * MIB,
  fingerprint: "fp", done: [[1, '"e1"']], createdAt: 1, ...o,
});

test("stateKey: store, key-or-filename and fingerprint all matter", () => {
  const a = stateKey("media", { key: "k" }, "fp");
  assert.notEqual(a, stateKey("other", { key: "k" }, "fp"));
  assert.notEqual(a, stateKey("media", { key: "k2" }, "fp"));
  assert.notEqual(a, stateKey("media", { key: "k" }, "fp2"));
  assert.notEqual(a, stateKey("media", { filename: "k" }, "fp"), "a key and a filename never collide");
});

test("parseState: only a well-formed state for this very file", () => {
  assert.deepEqual(parseState(JSON.stringify(state()), "fp", 11 * MIB), state());
  assert.equal(parseState(JSON.stringify(state()), "other", 11 * MIB), null, "other fingerprint");
  assert.equal(parseState(JSON.stringify(state()), "fp", 12 * MIB), null, "other size");
  assert.equal(parseState(JSON.stringify(state({ v: 2 })), "fp", 11 * MIB), null);
  assert.equal(parseState(JSON.stringify(state({ partSize: 0 })), "fp", 11 * MIB), null);
  assert.equal(parseState("{not json", "fp", 11 * MIB), null);
  assert.equal(parseState(null, "fp", 1), null);
  assert.equal(parseState("", "fp", 1), null);
  assert.equal(parseState(JSON.stringify(state({ expiresAt: 5000 })), "fp", 11 * MIB, 4999).uploadId, "u1");
  assert.equal(parseState(JSON.stringify(state({ expiresAt: 5000 })), "fp", 11 * MIB, 5000), null, "handle expired");
});

test("partsAlreadyDone: the broker's list decides, sizes must match the plan", () => {
  const plan = planParts(11 * MIB, 5 * MIB); // 5, 5, 1 MiB
  const done = partsAlreadyDone(plan, [
    { part_number: 1, etag: '"a"', size: 5 * MIB },
    { part_number: 2, etag: '"b"', size: 4 * MIB }, // short: upload again
    { part_number: 3, etag: '"c"', size: 1 * MIB },
    { part_number: 9, etag: '"z"', size: 5 * MIB }, // not in the plan
  ]);
  assert.deepEqual([...done.entries()], [[1, '"a"'], [3, '"c"']]);
  assert.equal(partsAlreadyDone(plan, []).size, 0, "local state alone never counts");
});

test("the CommonJS build loads and exports the same API", async () => {
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  const cjs = require("../dist/cjs/node.js");
  const esm = await import("../dist/node.js");
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.equal(typeof cjs.createClient, "function");
  const browserCjs = require("../dist/cjs/index.js");
  assert.ok(!("nodeAdapter" in browserCjs), "the browser/mini-program entry has no Node imports");
});

test("md5: RFC 1321 test suite, and equal to node:crypto around block boundaries", async () => {
  const { md5, toHex, toBase64 } = await import("../dist/md5.js");
  const { createHash, randomBytes } = await import("node:crypto");
  const enc = (s) => new TextEncoder().encode(s);
  assert.equal(toHex(md5(enc(""))), "d41d8cd98f00b204e9800998ecf8427e");
  assert.equal(toHex(md5(enc("abc"))), "900150983cd24fb0d6963f7d28e17f72");
  assert.equal(toHex(md5(enc("message digest"))), "f96b697d7cb7938d525a2f31aaf161d0");
  assert.equal(
    toHex(md5(enc("12345678901234567890123456789012345678901234567890123456789012345678901234567890"))),
    "57edf4a22be3c955ac49da2e2107b67a",
  );
  for (const n of [1, 55, 56, 57, 63, 64, 65, 127, 128, 1000, 65537]) {
    const b = randomBytes(n);
    assert.equal(toHex(md5(new Uint8Array(b))), createHash("md5").update(b).digest("hex"), `n=${n}`);
    assert.equal(toBase64(md5(new Uint8Array(b))), createHash("md5").update(b).digest("base64"), `n=${n}`);
  }
});
