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

// The emulators' credentials (tests/emulators/README.md): the vendors' documented dummy values.
const EMU = {
  cos: { bucket: "examplebucket-1250000000", region: "ap-guangzhou", id: "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", key: "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz" },
  qiniu: { bucket: "my-bucket", ak: "MY_ACCESS_KEY", sk: "MY_SECRET_KEY" },
  oss: { bucket: "pb-test", region: "cn-hangzhou", ak: "PBTESTOSSACCESSKEY01", sk: "pbtest/oss+secret0000000000000000" },
};

/**
 * One emulator (`tests/emulators/run.sh KIND 0 DIR ...`) behind its own fault proxy, so part uploads can be counted
 * and delayed like SeaweedFS's. `data` is the emulator's object directory.
 */
async function startEmulator(kind, dir) {
  const proxy = await startFaultProxy();
  const args = {
    cos: ["--bucket", EMU.cos.bucket, "--region", EMU.cos.region, "--secret-id", EMU.cos.id, "--secret-key", EMU.cos.key, "--host-alias", new URL(proxy.url).host],
    qiniu: ["--bucket", EMU.qiniu.bucket, "--access-key", EMU.qiniu.ak, "--secret-key", EMU.qiniu.sk],
    oss: ["--region", EMU.oss.region, "--access-key-id", EMU.oss.ak, "--access-key-secret", EMU.oss.sk],
  }[kind];
  const data = join(dir, `${kind}-data`);
  const log = [];
  const child = spawn(join(REPO, "tests", "emulators", "run.sh"), [kind, "0", data, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.on("data", (d) => log.push(String(d)));
  const base = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`${kind} emulator exited (${code}):\n${log.join("").slice(-2000)}`)));
  });
  proxy.setUpstream(base);
  return {
    kind, base, proxy, data, log,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));
      await proxy.close();
    },
  };
}

/** Broker stores at the emulators, named after the provider (`cos`, `qiniu`, `oss`); Qiniu and OSS with callbacks. */
function emulatorStores(emus) {
  let toml = "";
  for (const e of emus) {
    if (e.kind === "cos") {
      toml += `
[stores.cos]
provider = "cos"
bucket = "${EMU.cos.bucket}"
region = "${EMU.cos.region}"
endpoint = "${e.proxy.url}"
secret_id = "${EMU.cos.id}"
secret_key = "${EMU.cos.key}"
`;
    } else if (e.kind === "qiniu") {
      // Parts and the server-side v2 calls through the proxy; stat and downloads straight to the emulator.
      toml += `
[stores.qiniu]
provider = "qiniu"
bucket = "${EMU.qiniu.bucket}"
upload_url = "${e.proxy.url}"
rs_host = "${e.base}"
download_domain = "${e.base}"
access_key = "${EMU.qiniu.ak}"
secret_key = "${EMU.qiniu.sk}"
callback = true
`;
    } else {
      toml += `
[stores.oss]
provider = "oss"
bucket = "${EMU.oss.bucket}"
region = "${EMU.oss.region}"
endpoint = "${e.proxy.url}"
path_style = true
access_key_id = "${EMU.oss.ak}"
access_key_secret = "${EMU.oss.sk}"
callback = true
oss_pub_key_url_pattern = '^${e.base.replace(/\./g, "\\.")}/__emulator/'
`;
    }
  }
  return toml;
}

/**
 * Starts a broker with two stores over the same bucket: `proxied` (through the fault proxy) and `direct`; with
 * `emulators` (["cos", "qiniu", "oss"]), those emulators too (stack.emulators.cos, …), stores named after them,
 * Redis for the callbacks' events (stack.events()).
 */
export async function startStack({ corsOrigins = [], extraConfig = "", emulators = [] } = {}) {
  const s3 = need("PB_TEST_S3_ENDPOINT");
  const bucket = need("PB_TEST_S3_BUCKET");
  const access = need("PB_TEST_S3_ACCESS_KEY");
  const secret = need("PB_TEST_S3_SECRET_KEY");
  const region = process.env.PB_TEST_S3_REGION || "us-east-1";
  const bin = process.env.PB_BROKER_BIN || join(REPO, "target", "debug", "presign-broker");
  const proxy = await startFaultProxy(s3);
  const dir = mkdtempSync(join(tmpdir(), "pb-client-"));
  mkdirSync(join(dir, "policies"));
  const emus = await Promise.all(emulators.map((k) => startEmulator(k, dir)));
  const storeNames = ["proxied", "direct", ...emulators];
  const streamPrefix = `pb-client-test:${process.pid}:${Date.now()}:`;
  const redisUrl = emulators.length ? need("PB_TEST_REDIS_URL") : null;
  const redisToml = redisUrl
    ? `
[redis]
url = "${redisUrl}"
stream = "${streamPrefix}events"
key_prefix = "${streamPrefix}"

[callbacks]
ticket_secret = "client-js-test-ticket-secret-0123456789"
`
    : "";
  writeFileSync(
    join(dir, "policies", "client.toml"),
    `[[rule]]
description = "client tests upload under client/{sub}/"
roles = ["user"]
stores = ${JSON.stringify(storeNames)}
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
${redisToml}${store("proxied", proxy.url)}${store("direct", s3)}${emulatorStores(emus)}${extraConfig}`,
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
    await Promise.all(emus.map((e) => e.stop()));
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
    emulators: Object.fromEntries(emus.map((e) => [e.kind, e])),
    /** The events the broker recorded in Redis (callbacks, confirms), oldest first. */
    async events() {
      const entries = await redisCommand(redisUrl, ["XRANGE", `${streamPrefix}events`, "-", "+"]);
      return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf("event") + 1]));
    },
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
      await Promise.all(emus.map((e) => e.stop()));
      if (redisUrl) await redisCommand(redisUrl, ["DEL", `${streamPrefix}events`]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** One Redis command over RESP (no client library in the tests' dependencies); resolves with the parsed reply. */
export function redisCommand(url, args) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port || 6379), u.hostname);
    let buf = Buffer.alloc(0);
    const select = u.pathname.length > 1 ? ["SELECT", u.pathname.slice(1)] : null;
    const enc = (a) => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join("");
    sock.write((select ? enc(select) : "") + enc(args));
    // Parses one reply at `i`; returns [value, next] or null when more bytes are needed.
    const parse = (i) => {
      const eol = buf.indexOf("\r\n", i);
      if (eol < 0) return null;
      const t = String.fromCharCode(buf[i]);
      const line = buf.toString("utf8", i + 1, eol);
      if (t === "+" || t === ":") return [t === ":" ? Number(line) : line, eol + 2];
      if (t === "-") return [new Error(line), eol + 2];
      if (t === "$") {
        const n = Number(line);
        if (n < 0) return [null, eol + 2];
        if (buf.length < eol + 2 + n + 2) return null;
        return [buf.toString("utf8", eol + 2, eol + 2 + n), eol + 2 + n + 2];
      }
      if (t === "*") {
        const n = Number(line);
        const out = [];
        let j = eol + 2;
        for (let k = 0; k < n; k++) {
          const r = parse(j);
          if (!r) return null;
          out.push(r[0]);
          j = r[1];
        }
        return [out, j];
      }
      throw new Error(`redis: unexpected reply ${t}`);
    };
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      let r = parse(0);
      if (r && select) r = parse(r[1]);
      if (!r) return;
      sock.end();
      r[0] instanceof Error ? reject(r[0]) : resolve(r[0]);
    });
    sock.on("error", reject);
  });
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
