/** Anything with AbortSignal's shape: a real AbortSignal, or a small object where a runtime has none (old mini-program base libraries). */
export interface SignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** Cancellation inside the client: one per upload, fired by the caller's signal or by a fatal error. */
export interface Cancel {
  readonly aborted: boolean;
  /** Runs `fn` once when cancelled (at once if already cancelled); returns an unsubscribe function. */
  onAbort(fn: () => void): () => void;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** A JSON string for the broker; for parts, whatever the adapter's `FileSource.read` returned. */
  body?: unknown;
  cancel?: Cancel;
  timeoutMs?: number;
  /** Bytes of the body sent so far, where the platform reports it (XMLHttpRequest). */
  onUploadProgress?: (sent: number) => void;
}

export interface HttpResponse {
  status: number;
  /** A response header by case-insensitive name; null when absent or not exposed (CORS). */
  header(name: string): string | null;
  text: string;
}

/** An opened file: its identity and a way to read one part without loading the rest. */
export interface FileSource {
  size: number;
  /** File name (for `filename` and the form field). */
  name: string;
  /** Identifies this file's content for resuming (see README "Resume"). */
  fingerprint: string;
  /** Bytes [offset, offset+length) as the platform's request body type (Buffer, ArrayBuffer, Blob). */
  read(offset: number, length: number): Promise<unknown>;
  /** Called when a body from `read` is no longer needed, so its memory can be reused for the next part. */
  release?(body: unknown): void;
  close(): Promise<void>;
}

export interface FormPost {
  url: string;
  fields: Record<string, string>;
  source: FileSource;
  /** The original `file` argument (a wx path is sent by `wx.uploadFile` itself). */
  file: unknown;
  contentType?: string;
  cancel?: Cancel;
  timeoutMs?: number;
  onUploadProgress?: (sent: number) => void;
}

/** What the client needs from a platform (mini-program, browser, Node). */
export interface Adapter {
  readonly name: string;
  open(file: unknown): Promise<FileSource>;
  request(req: HttpRequest): Promise<HttpResponse>;
  /** `multipart/form-data` POST of `fields` then the file as `file`. */
  formPost(req: FormPost): Promise<HttpResponse>;
  /** Where resume state lives when `createClient` is given no `storage`. */
  storage(): StateStorage;
}

/** localStorage's shape (sync or async), so `localStorage` itself can be passed. */
export interface StateStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

export interface RetryOptions {
  /** Attempts after the first one, per part or broker call (default 5). */
  retries?: number;
  /** First backoff ceiling in ms (default 500); doubles per attempt, full jitter. */
  baseDelayMs?: number;
  /** Largest backoff in ms (default 20000). */
  maxDelayMs?: number;
}

export interface ClientOptions {
  /** The broker's base URL, e.g. `https://uploads.example.com` (no trailing `/v1`). */
  baseUrl: string;
  /** Returns the bearer JWT; called before every broker request, so it may refresh. */
  getToken: () => string | Promise<string>;
  storage?: StateStorage;
  adapter?: Adapter;
  retry?: RetryOptions;
  /** Per HTTP request (default 120000 ms). */
  timeoutMs?: number;
}

export interface Progress {
  loaded: number;
  total: number;
}

/** Things that happened during an upload, for logs and tests. */
export type UploadEvent =
  | { type: "created"; uploadId: string; key: string; handle?: string; partSize: number; parts: number }
  | { type: "resumed"; uploadId: string; key: string; listed: number; remaining: number }
  | { type: "restart"; reason: string }
  | { type: "sign"; partNumbers: number[] }
  | { type: "part"; partNumber: number; size: number }
  | { type: "retry"; partNumber?: number; attempt: number; delayMs: number; reason: string }
  | { type: "resign"; partNumber: number; reason: string }
  | { type: "aborted"; uploadId: string };

export interface UploadOptions {
  store: string;
  /** Object key; or give `filename` and let the rule's `key_template` make it. */
  key?: string;
  filename?: string;
  contentType?: string;
  onProgress?: (p: Progress) => void;
  signal?: SignalLike;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** Used only when the broker's answer names no `part_size` (the broker's value is binding, docs/API.md). */
  partSize?: number;
  /** Files larger than this go multipart (default 8 MiB); smaller ones are one request. */
  multipartThreshold?: number;
  /** Single-request method: `POST` form (default; works on every provider) or `PUT`. */
  method?: "POST" | "PUT";
  /** `expires_in` asked for each batch of part URLs (the broker may lower it). */
  partUrlExpiresIn?: number;
  /** On abort, keep the provider's upload and the resume state (a pause) instead of deleting both. */
  keepOnAbort?: boolean;
  /**
   * `"md5"`: send each part's MD5 as `Content-MD5` (base64; hex on Qiniu) so the provider refuses bytes changed on
   * the way (refused parts are re-sent). Costs a pass over every part (~100+ MB/s on a desktop, less on a phone).
   */
  checksum?: "md5";
  /** Resume a matching unfinished upload (default true). */
  resume?: boolean;
  onEvent?: (e: UploadEvent) => void;
}

export interface UploadResult {
  key: string;
  etag: string;
  size: number;
  /** Multipart only: the object's plain URL as the broker reports it. */
  location?: string;
}
