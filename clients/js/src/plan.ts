// Pure helpers: part planning, backoff, resume state. No I/O, so they are unit-tested directly.
import type { RetryOptions } from "./types.js";

export const MIB = 1024 * 1024;
export const DEFAULT_MULTIPART_THRESHOLD = 8 * MIB;
export const DEFAULT_CONCURRENCY = 4;
/** The contract's cap on part numbers per signing call (docs/API.md "Multipart uploads"). */
export const MAX_SIGN_BATCH = 1000;

export interface PlannedPart {
  partNumber: number;
  offset: number;
  length: number;
}

/** Parts 1..n of `partSize` bytes, the last one shorter (docs/API.md: every part but the last is exactly `part_size`). */
export function planParts(size: number, partSize: number): PlannedPart[] {
  if (!(Number.isSafeInteger(size) && size >= 0)) throw new RangeError(`bad size ${size}`);
  if (!(Number.isSafeInteger(partSize) && partSize > 0)) throw new RangeError(`bad part size ${partSize}`);
  const parts: PlannedPart[] = [];
  for (let offset = 0, n = 1; offset < size || n === 1; offset += partSize, n++) {
    parts.push({ partNumber: n, offset, length: Math.min(partSize, size - offset) });
    if (size === 0) break;
  }
  return parts;
}

/** How many part URLs to ask for at once: enough to keep every worker busy for a while, never all 10,000 up front. */
export function signBatchSize(concurrency: number): number {
  return Math.min(MAX_SIGN_BATCH, Math.max(8, concurrency * 4));
}

export interface Backoff {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export function backoffOptions(o: RetryOptions = {}): Backoff {
  return {
    retries: o.retries ?? 5,
    baseDelayMs: o.baseDelayMs ?? 500,
    maxDelayMs: o.maxDelayMs ?? 20000,
  };
}

/**
 * Delay before retry `attempt` (0-based): "full jitter", uniform in [0, min(max, base·2^attempt)), so many clients
 * failing together do not retry together. A server's Retry-After (seconds) is a floor.
 */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random, retryAfterS?: number): number {
  const ceiling = Math.min(b.maxDelayMs, b.baseDelayMs * Math.pow(2, attempt));
  const jittered = Math.floor(random() * ceiling);
  const floor = retryAfterS !== undefined && retryAfterS >= 0 ? Math.min(retryAfterS * 1000, b.maxDelayMs) : 0;
  return Math.max(jittered, floor);
}

/** Statuses worth another attempt: timeouts, rate limits and server errors. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Parses a Retry-After in seconds (the HTTP-date form is ignored: the backoff covers it). */
export function retryAfterSeconds(v: string | null): number | undefined {
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

/**
 * A part URL is reused only while it has this much life left: a fifth of its lifetime, at most 30 s, so a URL is not
 * sent moments before it expires mid-body.
 */
export function urlStillGood(expiresAtMs: number, signedAtMs: number, nowMs: number): boolean {
  const margin = Math.min(30000, Math.max(0, (expiresAtMs - signedAtMs) / 5));
  return expiresAtMs - nowMs > margin;
}

/** What is persisted per unfinished multipart upload (ids and ETags only, never data: mini-program storage is small). */
export interface ResumeState {
  v: 1;
  store: string;
  key: string;
  uploadId: string;
  /** The store's provider as the broker named it (decides the Content-MD5 encoding). */
  provider?: string;
  /** Absent with brokers that predate the multipart handle. */
  handle?: string;
  partSize: number;
  size: number;
  fingerprint: string;
  /** [part number, ETag] of parts this client saw succeed; informational: the broker's list decides on resume. */
  done: Array<[number, string]>;
  createdAt: number;
  /** When the handle stops working (ms since the epoch); a state past it is dropped without asking the broker. */
  expiresAt?: number;
}

/** Storage key of an upload: store + requested key (or filename) + file fingerprint. */
export function stateKey(store: string, keyOrFilename: { key?: string; filename?: string }, fingerprint: string): string {
  const target = keyOrFilename.key !== undefined ? `k:${keyOrFilename.key}` : `f:${keyOrFilename.filename ?? ""}`;
  return `presign-broker:v1:${JSON.stringify([store, target, fingerprint])}`;
}

export function parseState(raw: string | null | undefined, fingerprint: string, size: number, nowMs = Date.now()): ResumeState | null {
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as ResumeState;
    if (
      s && s.v === 1 && typeof s.uploadId === "string" && typeof s.key === "string" &&
      s.fingerprint === fingerprint && s.size === size && Number.isSafeInteger(s.partSize) && s.partSize > 0 &&
      Array.isArray(s.done) && !(typeof s.expiresAt === "number" && s.expiresAt <= nowMs)
    ) {
      return s;
    }
  } catch {
    // unreadable state is no state
  }
  return null;
}

export interface ListedPart {
  part_number: number;
  etag: string;
  size: number;
}

/**
 * Which planned parts the provider already holds: a listed part counts only if its size is the planned one
 * (anything else, e.g. a part cut short by another writer, is uploaded again and so overwritten).
 */
export function partsAlreadyDone(plan: PlannedPart[], listed: ListedPart[]): Map<number, string> {
  const want = new Map(plan.map((p) => [p.partNumber, p.length] as [number, number]));
  const done = new Map<number, string>();
  for (const p of listed) {
    if (want.get(p.part_number) === p.size && p.etag) done.set(p.part_number, p.etag);
  }
  return done;
}
