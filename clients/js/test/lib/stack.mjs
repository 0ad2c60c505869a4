// The real stack for integration tests: SeaweedFS (scripts/services.sh, PB_TEST_* env), a broker process built from
// this repo, and the fault proxy in front of SeaweedFS.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, createReadStream, openSync, writeSync, closeSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { startFaultProxy } from "./proxy.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = join(here, "..", "..", "..", "..");
export const MIB = 1024 * 1024;

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run clients/js/test.sh, or start scripts/services.sh and eval "$(scripts/services.sh env)"`);
  }
  return v;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const HS_SECRET = "client-js-test-secret-0123456789abcdef";

/** Starts a broker with two stores over the same bucket: `proxied` (through the fault proxy) and `direct`. */
export async function startStack({ corsOrigins = [], extraConfig = "" } = {}) {
  const s3 = need("PB_TEST_S3_ENDPOINT");
  const bucket = need("PB_TEST_S3_BUCKET");
  const access = need("PB_TEST_S3_ACCESS_KEY");
  const secret = need("PB_TEST_S3_SECRET_KEY");
  const region = process.env.PB_TEST_S3_REGION || "us-east-1";
  const bin = process.env.PB_BROKER_BIN || join(REPO, "target", "debug", "presign-broker");
  const proxy = await startFaultProxy(s3);
  const dir = mkdtempSync(join(tmpdir(), "pb-client-"));
  mkdirSync(join(dir, "policies"));
  writeFileSync(
    join(dir, "policies", "client.toml"),
    `[[rule]]
description = "client tests upload under client/{sub}/"
roles = ["user"]
stores = ["proxied", "direct"]
actions = ["upload", "download", "multipart"]
paths = ["client/{sub}/**"]
max_size = "2GiB"
max_expires = "1h"
key_template = "client/{sub}/{uuid}{ext}"
`,
  );
  const port = await freePort();
  const store = (name, endpoint) => `
[stores.${name}]
provider = "s3"
endpoint = "${endpoint}"
region = "${region}"
bucket = "${bucket}"
path_style = true
access_key = "${access}"
secret_key = "${secret}"
`;
  const config = join(dir, "broker.toml");
  writeFileSync(
    config,
    `[server]
bind = "127.0.0.1:${port}"
public_url = "http://127.0.0.1:${port}"
workers = 2
drain_seconds = 0
cors_origins = ${JSON.stringify(corsOrigins)}

[auth]
roles_claim = "roles"
leeway_seconds = 30

[[auth.keys]]
kid = "t"
algorithm = "HS256"
secret = "${HS_SECRET}"

[policies]
dir = "policies"
${store("proxied", proxy.url)}${store("direct", s3)}${extraConfig}`,
  );
  const log = [];
  const child = spawn(bin, ["serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  const url = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 200 && !ready; i++) {
    if (child.exitCode !== null) break;
    try {
      ready = (await fetch(`${url}/readyz`)).ok;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!ready) {
    child.kill("SIGKILL");
    throw new Error(`the broker (${bin}) did not become ready:\n${log.join("").slice(-2000)}`);
  }
  const token = (sub = "alice", role = "user") =>
    execFileSync(bin, ["token", "--config", config, "--sub", sub, "--role", role, "--ttl", "2h"], { encoding: "utf8" }).trim();
  const tok = token();
  const stack = {
    url,
    proxy,
    token: tok,
    mintToken: token,
    bin,
    config,
    dir,
    log,
    /** A broker call with the test token; returns {status, body}. */
    async call(method, path, body) {
      const r = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${tok}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    /** SHA-256 of an object, streamed through a presigned GET from the broker. */
    async objectSha256(store, key) {
      const d = await stack.call("POST", "/v1/downloads", { store, key });
      if (d.status !== 200) throw new Error(`download URL: ${d.status} ${JSON.stringify(d.body)}`);
      const r = await fetch(d.body.url);
      if (!r.ok) throw new Error(`GET object: ${r.status}`);
      const h = createHash("sha256");
      let size = 0;
      for await (const chunk of r.body) {
        h.update(chunk);
        size += chunk.length;
      }
      return { sha256: h.digest("hex"), size };
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/**
 * Writes `size` generated bytes (each MiB distinct: a fixed pseudo-random block stamped with its index) and returns
 * the file's SHA-256, computed while writing, so nothing holds more than one MiB.
 */
export function generateFile(path, size, seed = 1) {
  let x = seed >>> 0 || 1;
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < MIB; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  const h = createHash("sha256");
  const fd = openSync(path, "w");
  try {
    for (let off = 0, i = 0; off < size; off += MIB, i++) {
      block.writeUInt32LE(i, 0);
      block.writeUInt32LE(seed, 4);
      const n = Math.min(MIB, size - off);
      const chunk = n === MIB ? block : block.subarray(0, n);
      writeSync(fd, chunk);
      h.update(chunk);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

export async function fileSha256(path) {
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c);
  return h.digest("hex");
}

const tempDirs = [];
process.on("exit", () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A scratch directory removed when the test process exits (generated files are tens of MiB). */
export function tempDir(prefix = "pb-client-data-") {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}
