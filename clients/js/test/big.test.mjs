// A 1 GiB generated file through the Node adapter in a child process: bytes verified by SHA-256 (streamed, never
// held in memory), throughput and peak RSS measured. PB_CLIENT_BIG_MIB sets the size (default 1024).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startStack, generateFile, tempDir, MIB } from "./lib/stack.mjs";

const child = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "upload-child.mjs");
const sizeMib = Number(process.env.PB_CLIENT_BIG_MIB || 1024);
let stack, dir;
before(async () => {
  stack = await startStack();
  dir = tempDir();
});
after(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (stack) await stack.stop();
});

test(`${sizeMib} MiB through Node: verified bytes, bounded memory`, { timeout: 30 * 60 * 1000 }, async () => {
  const size = sizeMib * MIB;
  const file = join(dir, "big.bin");
  const sha = generateFile(file, size, 51);
  const args = { baseUrl: stack.url, token: stack.token, file, store: "direct", key: "client/alice/big.bin", stateFile: join(dir, "state.json"), concurrency: 4 };
  const { code, lines, stderr } = await new Promise((resolve) => {
    const p = spawn(process.execPath, [child, JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("exit", (c) => resolve({ code: c, lines: out.trim().split("\n").map((l) => JSON.parse(l)), stderr: err }));
  });
  assert.equal(code, 0, stderr);
  const created = lines.find((l) => l.event && l.event.type === "created").event;
  const last = lines.at(-1);
  assert.equal(last.result.size, size);
  const mibps = sizeMib / last.seconds;
  const rssMib = last.maxRssBytes / MIB;
  console.log(`# big: ${sizeMib} MiB in ${created.parts} parts of ${created.partSize / MIB} MiB, concurrency 4: ${last.seconds.toFixed(1)} s, ${mibps.toFixed(1)} MiB/s, peak RSS ${rssMib.toFixed(0)} MiB`);
  // Memory is bounded by parts in flight, not by the file: a few parts plus Node's baseline.
  assert.ok(rssMib < 64 + 6 * (created.partSize / MIB), `peak RSS ${rssMib.toFixed(0)} MiB`);
  const got = await stack.objectSha256("direct", "client/alice/big.bin");
  assert.deepEqual(got, { sha256: sha, size });
});
