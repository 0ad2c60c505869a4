// @presign-broker/client for mini-programs and browsers (Node resolves to ./node.js, which adds the Node adapter).
import { createClient as create, type Client } from "./client.js";
import { browserAdapter } from "./adapters/browser.js";
import { wxAdapter } from "./adapters/wx.js";
import type { Adapter, ClientOptions } from "./types.js";

export { BrokerError, UploadError } from "./errors.js";
export { browserAdapter, memoryStorage } from "./adapters/browser.js";
export { wxAdapter } from "./adapters/wx.js";
export { planParts, backoffDelay } from "./plan.js";
export type * from "./types.js";
export type { Client } from "./client.js";

declare const wx: unknown;

/** The platform's adapter: the mini-program's when a `wx` global exists, else the browser's. */
export function defaultAdapter(): Adapter {
  if (typeof wx === "object" && wx !== null && typeof (wx as { request?: unknown }).request === "function") return wxAdapter();
  if (typeof XMLHttpRequest !== "undefined") return browserAdapter();
  throw new Error("no adapter for this platform: pass `adapter`");
}

export function createClient(options: ClientOptions): Client {
  return create(options, defaultAdapter);
}
