// The upload engine: one request for small files, the broker's multipart calls for large ones (docs/API.md
// "Direct upload credentials", "Multipart uploads"). Platform specifics live in the adapters.
import { BrokerError, NetworkError, UploadError, abortError } from "./errors.js";
import { md5, toBase64, toHex } from "./md5.js";
import {
  DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD, backoffDelay, backoffOptions, parseState, partsAlreadyDone,
  planParts, retryAfterSeconds, retryableStatus, signBatchSize, stateKey, urlStillGood,
  type ListedPart, type PlannedPart, type ResumeState,
} from "./plan.js";
import type {
  Adapter, Cancel, ClientOptions, FileSource, HttpResponse, SignalLike, StateStorage, UploadEvent, UploadOptions,
  UploadResult,
} from "./types.js";

interface Created {
  store: string;
  provider?: string;
  key: string;
  upload_id: string;
  handle?: string;
  part_size: number;
  max_parts?: number;
  expires_at?: string;
}

interface SignedPart {
  part_number: number;
  method?: string;
  url: string;
  headers?: Record<string, string>;
}

interface Credential {
  key: string;
  method: string;
  url: string;
  fields?: Record<string, string>;
  headers?: Record<string, string>;
}

interface CachedUrl {
  method: string;
  url: string;
  headers: Record<string, string>;
  expiresAtMs: number;
  signedAtMs: number;
}

export interface Client {
  upload(file: unknown, opts: UploadOptions): Promise<UploadResult>;
  /** The adapter in use (its `storage()` holds resume state unless `storage` was given). */
  readonly adapter: Adapter;
}

/** Cancellation fired by the caller's signal or by the first fatal error of an upload. */
class Canceller implements Cancel {
  aborted = false;
  reason: unknown;
  private fns = new Set<() => void>();
  abort(reason?: unknown) {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const fns = [...this.fns];
    this.fns.clear();
    for (const fn of fns) fn();
  }
  onAbort(fn: () => void): () => void {
    if (this.aborted) {
      fn();
      return () => {};
    }
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
}

function sleep(ms: number, cancel: Cancel): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cancel.aborted) return reject(abortError());
    const off = cancel.onAbort(() => {
      clearTimeout(t);
      reject(abortError());
    });
    const t = setTimeout(() => {
      off();
      resolve();
    }, ms);
  });
}

function snippet(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

export function createClient(options: ClientOptions, defaultAdapter?: () => Adapter): Client {
  const adapter = options.adapter ?? (defaultAdapter ? defaultAdapter() : undefined);
  if (!adapter) throw new Error("no adapter: pass `adapter` (wxAdapter(), browserAdapter(), nodeAdapter())");
  if (!options.baseUrl) throw new Error("baseUrl is required");
  const base = options.baseUrl.replace(/\/+$/, "");
  const backoff = backoffOptions(options.retry);
  const timeoutMs = options.timeoutMs ?? 120000;
  let storage: StateStorage | undefined = options.storage;
  const store = () => (storage = storage ?? adapter.storage());

  /** One broker call, retried on network errors, 429 and 5xx; problem answers become BrokerError. */
  async function broker<T>(method: string, path: string, cancel: Cancel, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (cancel.aborted) throw abortError();
      const token = await options.getToken();
      let res: HttpResponse;
      try {
        res = await adapter!.request({
          method,
          url: base + path,
          headers: {
            authorization: `Bearer ${token}`,
            accept: "application/json",
            ...(body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
          cancel,
          timeoutMs,
        });
      } catch (e) {
        if (cancel.aborted) throw abortError();
        if (e instanceof NetworkError && attempt < backoff.retries) {
          await sleep(backoffDelay(backoff, attempt), cancel);
          continue;
        }
        throw e;
      }
      if (res.status >= 200 && res.status < 300) {
        return (res.text ? JSON.parse(res.text) : null) as T;
      }
      // Not 502: the broker already gave the provider its chance, and a repeated create would leave orphan uploads.
      if (retryableStatus(res.status) && res.status !== 502 && attempt < backoff.retries) {
        await sleep(backoffDelay(backoff, attempt, Math.random, retryAfterSeconds(res.header("retry-after"))), cancel);
        continue;
      }
      throw toBrokerError(res);
    }
  }

  async function upload(file: unknown, opts: UploadOptions): Promise<UploadResult> {
    if (!opts || !opts.store) throw new TypeError("upload: `store` is required");
    if (opts.key === undefined && opts.filename === undefined) throw new TypeError("upload: `key` or `filename` is required");
    const cancel = new Canceller();
    const sig = opts.signal;
    const onSignal = () => cancel.abort(abortError(sig && sig.reason));
    if (sig && sig.aborted) throw abortError(sig.reason);
    const source = await adapter!.open(file);
    if (sig) sig.addEventListener("abort", onSignal);
    try {
      const threshold = opts.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
      return source.size <= threshold
        ? await single(file, source, opts, cancel)
        : await multipart(source, opts, cancel);
    } finally {
      if (sig) sig.removeEventListener("abort", onSignal);
      await source.close().catch(() => {});
    }
  }

  /** Small files: one form POST (or PUT) with credentials from `POST /v1/uploads`. */
  async function single(file: unknown, source: FileSource, opts: UploadOptions, cancel: Canceller): Promise<UploadResult> {
    const method = opts.method ?? "POST";
    const emit = opts.onEvent ?? (() => {});
    const progress = (n: number) => opts.onProgress && opts.onProgress({ loaded: n, total: source.size });
    progress(0);
    const sign = () =>
      broker<Credential>("POST", "/v1/uploads", cancel, {
        store: opts.store,
        ...(opts.key !== undefined ? { key: opts.key } : { filename: opts.filename }),
        ...(opts.contentType ? { content_type: opts.contentType } : {}),
        size: source.size,
        method,
      });
    let cred = await sign();
    let resigned = 0;
    const body = method === "PUT" ? await source.read(0, source.size) : undefined;
    for (let attempt = 0; ; ) {
      let res: HttpResponse;
      try {
        res =
          method === "PUT"
            ? await adapter!.request({
                method: "PUT", url: cred.url, headers: cred.headers ?? {}, body, cancel, timeoutMs,
                onUploadProgress: progress,
              })
            : await adapter!.formPost({
                url: cred.url, fields: cred.fields ?? {}, source, file, contentType: opts.contentType, cancel, timeoutMs,
                onUploadProgress: progress,
              });
      } catch (e) {
        if (cancel.aborted) throw abortError(cancel.reason);
        if (!(e instanceof NetworkError)) throw e;
        if (attempt >= backoff.retries) throw new UploadError(`upload failed: ${e.message}`, 0);
        const delayMs = backoffDelay(backoff, attempt);
        emit({ type: "retry", attempt: ++attempt, delayMs, reason: e.message });
        await sleep(delayMs, cancel);
        continue;
      }
      if (res.status >= 200 && res.status < 300) {
        progress(source.size);
        return { key: cred.key, etag: etagOf(res), size: source.size };
      }
      if (res.status === 403 && resigned < 2) {
        // Most likely an expired credential (a slow retry); a real refusal fails again on the fresh one.
        resigned++;
        emit({ type: "resign", partNumber: 0, reason: "403 from the provider" });
        cred = await sign();
        continue;
      }
      if (retryableStatus(res.status) && attempt < backoff.retries) {
        const delayMs = backoffDelay(backoff, attempt, Math.random, retryAfterSeconds(res.header("retry-after")));
        emit({ type: "retry", attempt: ++attempt, delayMs, reason: `status ${res.status}` });
        await sleep(delayMs, cancel);
        continue;
      }
      throw new UploadError(`the provider answered ${res.status}`, res.status, undefined, snippet(res.text));
    }
  }

  async function multipart(source: FileSource, opts: UploadOptions, cancel: Canceller): Promise<UploadResult> {
    const emit = opts.onEvent ?? (() => {});
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? DEFAULT_CONCURRENCY));
    const sk = stateKey(opts.store, opts, source.fingerprint);
    const st = store();
    let state: ResumeState | null = null;
    let done = new Map<number, string>();
    let plan: PlannedPart[] = [];

    if (opts.resume !== false) {
      state = parseState(await st.getItem(sk), source.fingerprint, source.size);
      if (state) {
        // Local state only says which upload to continue; the provider's list says what is left.
        try {
          const listed = await broker<{ parts: ListedPart[] }>("GET", `/v1/multipart/${enc(state.uploadId)}/parts?${idQuery(opts.store, state)}`, cancel);
          plan = planParts(source.size, state.partSize);
          done = partsAlreadyDone(plan, listed.parts);
          emit({ type: "resumed", uploadId: state.uploadId, key: state.key, listed: done.size, remaining: plan.length - done.size });
        } catch (e) {
          // 403/404: handle expired or revoked, upload aborted or completed; 400: a state the broker cannot use
          // (e.g. saved before it issued handles). Anything else (401, 5xx) is not the saved upload's fault.
          if (!(e instanceof BrokerError && (e.status === 400 || e.status === 403 || e.status === 404))) throw e;
          emit({ type: "restart", reason: `${e.code} (${e.status}) listing the saved upload` });
          await st.removeItem(sk);
          state = null;
        }
      }
    }
    if (!state) {
      const created = await broker<Created>("POST", "/v1/multipart", cancel, {
        store: opts.store,
        ...(opts.key !== undefined ? { key: opts.key } : { filename: opts.filename }),
        ...(opts.contentType ? { content_type: opts.contentType } : {}),
        size: source.size,
      });
      const partSize = created.part_size || opts.partSize;
      if (!partSize) throw new Error("the broker named no part_size and no partSize was given");
      state = {
        v: 1, store: opts.store, key: created.key, uploadId: created.upload_id,
        ...(created.provider ? { provider: created.provider } : {}),
        ...(created.handle !== undefined ? { handle: created.handle } : {}),
        partSize, size: source.size, fingerprint: source.fingerprint, done: [], createdAt: Date.now(),
      };
      const exp = created.expires_at ? Date.parse(created.expires_at) : NaN;
      if (Number.isFinite(exp)) state.expiresAt = exp;
      plan = planParts(source.size, partSize);
      if (created.max_parts && plan.length > created.max_parts) {
        await abortUpload(state, new Canceller()).catch(() => {});
        throw new UploadError(`the file needs ${plan.length} parts, over the ${created.max_parts} its rule allows`, 413);
      }
      await st.setItem(sk, JSON.stringify(state));
      emit({ type: "created", uploadId: state.uploadId, key: state.key, handle: state.handle, partSize, parts: plan.length });
    }
    const s = state;

    // Progress: bytes of finished parts plus bytes reported in flight.
    const inflight = new Map<number, number>();
    let doneBytes = 0;
    for (const p of plan) if (done.has(p.partNumber)) doneBytes += p.length;
    const report = () => {
      if (!opts.onProgress) return;
      let loaded = doneBytes;
      inflight.forEach((v) => (loaded += v));
      opts.onProgress({ loaded: Math.min(loaded, source.size), total: source.size });
    };
    report();

    const queue = plan.filter((p) => !done.has(p.partNumber));
    const urls = new Map<number, CachedUrl>();
    let signing: { numbers: Set<number>; promise: Promise<void> } | null = null;
    const batch = signBatchSize(concurrency);

    async function signBatch(numbers: number[]): Promise<void> {
      emit({ type: "sign", partNumbers: numbers });
      const r = await broker<{ parts: SignedPart[]; expires_at: string }>(
        "POST", `/v1/multipart/${enc(s.uploadId)}/parts`, cancel,
        {
          store: s.store, key: s.key, ...(s.handle !== undefined ? { handle: s.handle } : {}), part_numbers: numbers,
          ...(opts.partUrlExpiresIn ? { expires_in: opts.partUrlExpiresIn } : {}),
        },
      );
      const signedAtMs = Date.now();
      const expiresAtMs = Date.parse(r.expires_at);
      for (const p of r.parts) {
        urls.set(p.part_number, {
          method: p.method || "PUT", url: p.url, headers: p.headers ?? {}, signedAtMs,
          expiresAtMs: Number.isFinite(expiresAtMs) ? expiresAtMs : signedAtMs + 60000,
        });
      }
    }

    /** A usable URL for part `n`, signing it with the next waiting parts when none is cached. */
    async function urlFor(n: number, next: () => number[]): Promise<CachedUrl> {
      for (;;) {
        const u = urls.get(n);
        if (u && urlStillGood(u.expiresAtMs, u.signedAtMs, Date.now())) return u;
        if (u) {
          urls.delete(n);
          emit({ type: "resign", partNumber: n, reason: "past expires_at" });
        }
        if (signing && signing.numbers.has(n)) {
          await signing.promise;
          if (urls.has(n)) {
            const again = urls.get(n)!;
            if (urlStillGood(again.expiresAtMs, again.signedAtMs, Date.now())) return again;
          }
          continue;
        }
        if (signing) {
          await signing.promise.catch(() => {});
          continue;
        }
        const now = Date.now();
        const numbers = [n];
        for (const m of next()) {
          if (numbers.length >= batch) break;
          const c = urls.get(m);
          if (m !== n && !(c && urlStillGood(c.expiresAtMs, c.signedAtMs, now))) numbers.push(m);
        }
        const current: { numbers: Set<number>; promise: Promise<void> } = {
          numbers: new Set(numbers),
          promise: signBatch(numbers).finally(() => {
            if (signing === current) signing = null;
          }),
        };
        signing = current;
        await current.promise;
      }
    }

    let saveChain: Promise<void> = Promise.resolve();
    const persist = () => {
      s.done = [...done.entries()];
      const snapshot = JSON.stringify(s);
      saveChain = saveChain.then(() => st.setItem(sk, snapshot)).catch(() => {});
      return saveChain;
    };

    async function sendPart(p: PlannedPart): Promise<void> {
      const body = await source.read(p.offset, p.length);
      try {
        await sendBody(p, body);
      } finally {
        if (source.release) source.release(body);
      }
    }

    async function sendBody(p: PlannedPart, body: unknown): Promise<void> {
      let resigned = 0;
      let md5Header: Record<string, string> = {};
      if (opts.checksum === "md5") {
        const digest = md5(await bytesOf(body));
        md5Header = { "Content-MD5": s.provider === "qiniu" ? toHex(digest) : toBase64(digest) };
      }
      for (let attempt = 0; ; ) {
        if (cancel.aborted) throw abortError(cancel.reason);
        const u = await urlFor(p.partNumber, () => queue.map((q) => q.partNumber));
        let res: HttpResponse;
        inflight.set(p.partNumber, 0);
        try {
          res = await adapter!.request({
            method: u.method, url: u.url, headers: { ...u.headers, ...md5Header }, body, cancel, timeoutMs,
            onUploadProgress: (sent) => {
              inflight.set(p.partNumber, Math.min(sent, p.length));
              report();
            },
          });
        } catch (e) {
          inflight.delete(p.partNumber);
          if (cancel.aborted) throw abortError(cancel.reason);
          if (!(e instanceof NetworkError)) throw e;
          if (attempt >= backoff.retries) {
            throw new UploadError(`part ${p.partNumber} failed after ${attempt + 1} attempts: ${e.message}`, 0, p.partNumber);
          }
          const delayMs = backoffDelay(backoff, attempt);
          emit({ type: "retry", partNumber: p.partNumber, attempt: ++attempt, delayMs, reason: e.message });
          report();
          await sleep(delayMs, cancel);
          continue;
        }
        inflight.delete(p.partNumber);
        if (res.status >= 200 && res.status < 300) {
          done.set(p.partNumber, etagOf(res));
          doneBytes += p.length;
          urls.delete(p.partNumber);
          report();
          emit({ type: "part", partNumber: p.partNumber, size: p.length });
          await persist();
          return;
        }
        report();
        if (res.status === 403 && resigned < 3) {
          // An expired (or clock-skewed) URL: sign this part again. A real refusal stays 403 and fails below.
          resigned++;
          urls.delete(p.partNumber);
          emit({ type: "resign", partNumber: p.partNumber, reason: "403 from the provider" });
          continue;
        }
        // A digest mismatch is bytes changed in transit: worth another try like a network error.
        const badDigest = res.status === 400 && /BadDigest|InvalidDigest/i.test(res.text);
        if ((retryableStatus(res.status) || badDigest) && attempt < backoff.retries) {
          const delayMs = backoffDelay(backoff, attempt, Math.random, retryAfterSeconds(res.header("retry-after")));
          const reason = badDigest ? "BadDigest" : `status ${res.status}`;
          emit({ type: "retry", partNumber: p.partNumber, attempt: ++attempt, delayMs, reason });
          await sleep(delayMs, cancel);
          continue;
        }
        throw new UploadError(`part ${p.partNumber}: the provider answered ${res.status}`, res.status, p.partNumber, snippet(res.text));
      }
    }

    let failure: unknown = null;
    const worker = async () => {
      while (queue.length && !cancel.aborted) {
        const p = queue.shift()!;
        try {
          await sendPart(p);
        } catch (e) {
          if (failure === null) failure = e;
          cancel.abort(e);
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, queue.length)) }, worker));
    await saveChain;

    if (cancel.aborted) {
      const userAbort = failure === null || (failure instanceof Error && failure.name === "AbortError");
      if (userAbort && !opts.keepOnAbort) {
        await abortUpload(s, new Canceller()).catch(() => {});
        await st.removeItem(sk);
        emit({ type: "aborted", uploadId: s.uploadId });
      }
      // Other failures keep the upload and its state: calling upload() again resumes it.
      throw userAbort ? abortError(cancel.reason) : failure;
    }

    // ETags hidden from the page (bucket CORS without ExposeHeaders: ETag) are taken from the broker's list.
    if ([...done.values()].some((e) => !e)) {
      const listed = await broker<{ parts: ListedPart[] }>("GET", `/v1/multipart/${enc(s.uploadId)}/parts?${idQuery(s.store, s)}`, cancel);
      for (const l of listed.parts) if (done.has(l.part_number) && !done.get(l.part_number)) done.set(l.part_number, l.etag);
    }
    const parts = plan.map((p) => ({ part_number: p.partNumber, etag: done.get(p.partNumber) || "" }));
    const missing = parts.filter((p) => !p.etag).map((p) => p.part_number);
    if (missing.length) {
      throw new UploadError(`no ETag for part(s) ${missing.join(",")}: the bucket's CORS must expose the ETag header`, 0);
    }
    const r = await broker<{ key: string; etag: string; size: number; location?: string }>(
      "POST", `/v1/multipart/${enc(s.uploadId)}/complete`, cancel,
      { store: s.store, key: s.key, ...(s.handle !== undefined ? { handle: s.handle } : {}), parts },
    );
    await st.removeItem(sk);
    return { key: r.key, etag: r.etag, size: r.size ?? source.size, ...(r.location ? { location: r.location } : {}) };
  }

  function abortUpload(s: ResumeState, cancel: Cancel): Promise<unknown> {
    return broker("DELETE", `/v1/multipart/${enc(s.uploadId)}?${idQuery(s.store, s)}`, cancel);
  }

  return { upload, adapter };
}

async function bytesOf(body: unknown): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body && typeof (body as Blob).arrayBuffer === "function") return new Uint8Array(await (body as Blob).arrayBuffer());
  throw new TypeError("checksum: cannot read this part body");
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function idQuery(store: string, s: { key: string; handle?: string }): string {
  return `store=${enc(store)}&key=${enc(s.key)}${s.handle !== undefined ? `&handle=${enc(s.handle)}` : ""}`;
}

function etagOf(res: HttpResponse): string {
  const h = res.header("etag");
  if (h) return h;
  // Qiniu answers JSON instead: a form upload {"hash","key"}, a v2 part {"etag","md5"}.
  try {
    const j = JSON.parse(res.text);
    if (j && typeof j.hash === "string") return j.hash;
    if (j && typeof j.etag === "string") return j.etag;
  } catch {
    // not JSON
  }
  return "";
}

function toBrokerError(res: HttpResponse): BrokerError {
  const requestId = res.header("x-request-id") ?? undefined;
  try {
    const p = JSON.parse(res.text);
    if (p && typeof p.code === "string") {
      return new BrokerError(res.status, p.code, p.detail, p.request_id ?? requestId, p.title);
    }
  } catch {
    // not a problem document
  }
  return new BrokerError(res.status, `http_${res.status}`, snippet(res.text), requestId);
}

export type { UploadEvent, SignalLike };
