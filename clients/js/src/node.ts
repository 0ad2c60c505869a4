// The Node entry (package.json "exports" picks it under Node): everything in index, with the Node adapter as default.
import { createClient as create, type Client } from "./client.js";
import { nodeAdapter } from "./adapters/node.js";
import type { ClientOptions } from "./types.js";

export { BrokerError, UploadError } from "./errors.js";
export { browserAdapter, memoryStorage } from "./adapters/browser.js";
export { wxAdapter } from "./adapters/wx.js";
export { nodeAdapter, fileStorage, type NodeAdapterOptions } from "./adapters/node.js";
export { planParts, backoffDelay } from "./plan.js";
export type * from "./types.js";
export type { Client } from "./client.js";

export function createClient(options: ClientOptions): Client {
  return create(options, () => nodeAdapter());
}
