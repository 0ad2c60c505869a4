// Node ≥ 18 adapter: a file handle read part by part (never the whole file in memory), the global fetch,
// resume state in a JSON file.
import * as fsp from "node:fs/promises";
import * as fs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import * as http from "node:http";
import * as https from "node:https";
import { NetworkError } from "../errors.js";
import type { Adapter, FileSource, FormPost, HttpRequest, HttpResponse, StateStorage } from "../types.js";

export interface NodeAdapterOptions {
  /** Resume state file (default `~/.presign-broker/uploads.json`). */
  stateFile?: string;
}

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
const CHUNK = 256 * 1024;

/**
 * A request with a string or byte body over node:http(s): the body is written from the caller's buffer as is (fetch
 * copies a BufferSource body, a part-sized garbage buffer per part) and its progress is reported per chunk.
 */
function sendHttp(r: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = typeof r.body === "string" ? new TextEncoder().encode(r.body) : (r.body as Uint8Array | undefined);
    const headers: Record<string, string> = { ...r.headers };
    for (const k of Object.keys(headers)) if (/^content-length$/i.test(k)) delete headers[k];
    if (body) headers["content-length"] = String(body.byteLength);
    const tls = r.url.startsWith("https:");
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      off();
      req.destroy();
      reject(new NetworkError(`${r.method} failed: ${why}`));
    };
    const req = (tls ? https.request : http.request)(r.url, { method: r.method, headers, agent: tls ? agents.https : agents.http });
    const off = r.cancel ? r.cancel.onAbort(() => fail("aborted")) : () => {};
    if (r.timeoutMs) req.setTimeout(r.timeoutMs, () => fail(`timeout after ${r.timeoutMs} ms`));
    req.on("error", (e: Error & { code?: string }) => fail(e.code || e.message));
    req.on("response", (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", (e: Error & { code?: string }) => fail(e.code || e.message));
      res.on("aborted", () => fail("response cut"));
      res.on("end", () => {
        if (settled) return;
        settled = true;
        off();
        let n = 0;
        for (const c of chunks) n += c.byteLength;
        const all = new Uint8Array(n);
        n = 0;
        for (const c of chunks) (all.set(c, n), (n += c.byteLength));
        const hs = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          text: new TextDecoder().decode(all),
          header: (name) => {
            const v = hs[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
          },
        });
      });
    });
    if (!body) return void req.end();
    let sent = 0;
    const pump = () => {
      while (sent < body.byteLength && !settled) {
        const chunk = body.subarray(sent, Math.min(sent + CHUNK, body.byteLength));
        sent += chunk.byteLength;
        const more = req.write(chunk);
        if (r.onUploadProgress) r.onUploadProgress(sent);
        if (!more) return void req.once("drain", pump);
      }
      if (!settled) req.end();
    };
    pump();
  });
}

/** Headers fetch computes itself from the body and URL. */
const COMPUTED = /^(content-length|host)$/i;

async function send(url: string, init: { method: string; headers: Record<string, string>; body?: unknown }, r: {
  cancel?: HttpRequest["cancel"]; timeoutMs?: number;
}): Promise<HttpResponse> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = r.timeoutMs ? setTimeout(() => ((timedOut = true), ac.abort()), r.timeoutMs) : undefined;
  const off = r.cancel ? r.cancel.onAbort(() => ac.abort()) : () => {};
  try {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(init.headers)) if (!COMPUTED.test(k)) headers[k] = v;
    const res = await fetch(url, { method: init.method, headers, body: init.body as BodyInit | undefined, signal: ac.signal });
    const text = await res.text();
    return { status: res.status, text, header: (n) => res.headers.get(n) };
  } catch (e) {
    const cause = e instanceof Error && (e as Error & { cause?: { code?: string; message?: string } }).cause;
    const why = timedOut ? `timeout after ${r.timeoutMs} ms` : cause ? cause.code || cause.message : e instanceof Error ? e.message : String(e);
    throw new NetworkError(`${init.method} failed: ${why}`);
  } finally {
    if (timer) clearTimeout(timer);
    off();
  }
}

/** Files are paths or `{path, name?}`. Fingerprint: absolute path + size + mtime. */
export function nodeAdapter(o: NodeAdapterOptions = {}): Adapter {
  return {
    name: "node",
    async open(file: unknown): Promise<FileSource> {
      const p = typeof file === "string" ? file : file ? (file as { path?: string }).path : undefined;
      if (!p) throw new TypeError("node adapter: file must be a path or {path}");
      const abs = path.resolve(p);
      const fh = await fsp.open(abs, "r");
      const st = await fh.stat();
      const name = (typeof file === "object" && (file as { name?: string }).name) || path.basename(abs);
      // Part buffers are reused (at most one per part in flight) rather than left to the GC, which lets
      // hundreds of MiB of finished parts pile up on a fast link.
      const free: Uint8Array[] = [];
      return {
        size: st.size,
        name,
        fingerprint: `node:${abs}:${st.size}:${st.mtimeMs}`,
        async read(offset, length) {
          const pooled = free.pop();
          const buf = pooled && pooled.buffer.byteLength === length ? pooled : new Uint8Array(length);
          let got = 0;
          while (got < length) {
            const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
            if (bytesRead === 0) throw new Error(`${abs} shrank while uploading (read ${offset + got} of ${st.size})`);
            got += bytesRead;
          }
          return buf;
        },
        release(body) {
          if (body instanceof Uint8Array && free.length < 16) free.push(body);
        },
        close: () => fh.close(),
      };
    },
    request: sendHttp,
    async formPost(p: FormPost): Promise<HttpResponse> {
      const form = new FormData();
      for (const [k, v] of Object.entries(p.fields)) form.append(k, v);
      const file = p.file as string | { path: string };
      const abs = path.resolve(typeof file === "string" ? file : file.path);
      const type = p.contentType ? { type: p.contentType } : {};
      // openAsBlob (Node ≥ 19.8) streams from disk; Node 18 reads the (small: under the multipart threshold) file.
      const blob = typeof fs.openAsBlob === "function" ? await fs.openAsBlob(abs, type) : new Blob([await fsp.readFile(abs)], type);
      form.append("file", blob, p.source.name);
      const res = await send(p.url, { method: "POST", headers: {}, body: form }, p);
      if (p.onUploadProgress && res.status < 300) p.onUploadProgress(p.source.size);
      return res;
    },
    storage: () => fileStorage(o.stateFile ?? path.join(os.homedir(), ".presign-broker", "uploads.json")),
  };
}

/** A JSON object in one file; writes go to a temporary file renamed over it, so a kill never leaves half a file. */
export function fileStorage(file: string): StateStorage {
  let chain: Promise<unknown> = Promise.resolve();
  const load = async (): Promise<Record<string, string>> => {
    try {
      const j = JSON.parse(await fsp.readFile(file, "utf8"));
      return j && typeof j === "object" ? j : {};
    } catch {
      return {};
    }
  };
  const update = (fn: (m: Record<string, string>) => void): Promise<void> => {
    const next = chain.then(async () => {
      const m = await load();
      fn(m);
      await fsp.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, JSON.stringify(m));
      await fsp.rename(tmp, file);
    });
    chain = next.catch(() => {});
    return next;
  };
  return {
    getItem: async (k) => {
      await chain;
      const m = await load();
      return k in m ? m[k] : null;
    },
    setItem: (k, v) => update((m) => void (m[k] = v)),
    removeItem: (k) => update((m) => void delete m[k]),
  };
}
