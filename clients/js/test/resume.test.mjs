// The process is killed mid-upload and started again: it resumes the same upload and sends only the parts the
// provider does not list (the broker's list decides, not the local state).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startStack, generateFile, tempDir, MIB } from "./lib/stack.mjs";
import { runChild } from "./lib/child.mjs";

let stack, dir;
before(async () => {
  stack = await startStack();
  dir = tempDir();
});
after(() => stack && stack.stop());

test("killed mid-upload, restarted: only the missing parts are sent again", async () => {
  const size = 101 * MIB + 999;
  const file = join(dir, "resume.bin");
  const sha = generateFile(file, size, 31);
  const args = { baseUrl: stack.url, token: stack.token, file, store: "proxied", key: "client/alice/resume.bin", stateFile: join(dir, "state.json"), concurrency: 3 };
  // Slow answers so the kill lands with parts in flight.
  stack.proxy.faults.push({ action: "delay", delayMs: 250, times: Infinity });

  const first = await runChild(args, (e, all) => (all.filter((x) => x.type === "part").length === 3 ? "kill" : undefined));
  assert.equal(first.signal, "SIGKILL", `killed (${first.stderr})`);
  const created = first.events.find((e) => e.type === "created");
  assert.ok(created);
  const ackedBeforeKill = first.events.filter((e) => e.type === "part").length;

  // What the provider holds now: the parts acknowledged, plus any whose answer the kill cut off.
  await stack.proxy.idle();
  const saved = JSON.parse(readFileSync(args.stateFile, "utf8"));
  const st = JSON.parse(Object.values(saved)[0]);
  assert.equal(st.uploadId, created.uploadId, "the state file names the upload");
  const q = `store=proxied&key=${encodeURIComponent(st.key)}${st.handle ? `&handle=${encodeURIComponent(st.handle)}` : ""}`;
  const listed = await stack.call("GET", `/v1/multipart/${encodeURIComponent(st.uploadId)}/parts?${q}`);
  assert.equal(listed.status, 200);
  const held = listed.body.parts.length;
  assert.ok(held >= ackedBeforeKill, `listed ${held} ≥ acknowledged ${ackedBeforeKill}`);
  assert.ok(held < created.parts, "the kill left work to do");

  // Local state claims fewer parts than the provider holds? It does not matter: the list decides. Make the local
  // state lie the other way too (claim every part done) to prove it is not trusted.
  st.done = Array.from({ length: created.parts }, (_, i) => [i + 1, '"bogus"']);
  saved[Object.keys(saved)[0]] = JSON.stringify(st);
  (await import("node:fs")).writeFileSync(args.stateFile, JSON.stringify(saved));

  stack.proxy.reset();
  const second = await runChild(args);
  assert.equal(second.code, 0, second.stderr);
  const resumed = second.events.find((e) => e.type === "resumed");
  assert.ok(resumed, "resumed, not recreated");
  assert.equal(resumed.uploadId, created.uploadId);
  assert.equal(resumed.listed, held);
  const expected = created.parts - held;
  const measured = stack.proxy.stats.partOk;
  console.log(`# resume: ${created.parts} parts of ${created.partSize} B; acknowledged before kill ${ackedBeforeKill}, listed after kill ${held}; re-sent expected ${expected}, measured ${measured}`);
  assert.equal(measured, expected, "exactly the missing parts were sent");
  assert.equal(second.events.filter((e) => e.type === "part").length, expected);
  assert.deepEqual(await stack.objectSha256("proxied", "client/alice/resume.bin"), { sha256: sha, size });
  assert.deepEqual(JSON.parse(readFileSync(args.stateFile, "utf8")), {}, "state removed after completion");
});

test("a saved upload whose handle expired starts over (the broker refuses the old handle)", async () => {
  const short = await startStack({ extraConfig: "\n[multipart]\nhandle_ttl_seconds = 3\n" });
  try {
    const { createClient, nodeAdapter } = await import("../dist/node.js");
    const file = join(dir, "ttl.bin");
    const sha = generateFile(file, 20 * MIB, 61);
    const stateFile = join(dir, "ttl-state.json");
    const client = createClient({ baseUrl: short.url, getToken: () => short.token, adapter: nodeAdapter({ stateFile }) });
    const ac = new AbortController();
    const events = [];
    short.proxy.faults.push({ action: "delay", delayMs: 200, times: Infinity });
    await assert.rejects(
      client.upload(file, {
        store: "proxied", key: "client/alice/ttl.bin", concurrency: 1, signal: ac.signal, keepOnAbort: true,
        onEvent: (e) => (events.push(e), e.type === "part" && ac.abort()),
      }),
      { name: "AbortError" },
    );
    const saved = JSON.parse(readFileSync(stateFile, "utf8"));
    const k = Object.keys(saved)[0];
    const st = JSON.parse(saved[k]);
    assert.ok(Math.abs(st.expiresAt - (Date.now() + 3000)) < 3000, "the handle's expiry is saved");
    // Forget the saved expiry so the broker itself has to refuse the expired handle.
    delete st.expiresAt;
    saved[k] = JSON.stringify(st);
    (await import("node:fs")).writeFileSync(stateFile, JSON.stringify(saved));
    await short.proxy.idle();
    await new Promise((r) => setTimeout(r, 3500));
    const ev2 = [];
    const r = await client.upload(file, { store: "proxied", key: "client/alice/ttl.bin", onEvent: (e) => ev2.push(e) });
    const restart = ev2.find((e) => e.type === "restart");
    assert.ok(restart, "restarted");
    assert.match(restart.reason, /^policy_denied \(403\)/);
    assert.notEqual(ev2.find((e) => e.type === "created").uploadId, events.find((e) => e.type === "created").uploadId);
    assert.deepEqual(await short.objectSha256("proxied", r.key), { sha256: sha, size: 20 * MIB });
  } finally {
    await short.stop();
  }
});
