// The few Node APIs the Node adapter uses (so the package needs no @types/node).
declare module "node:fs/promises" {
  interface FileHandle {
    read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
    stat(): Promise<{ size: number; mtimeMs: number }>;
    close(): Promise<void>;
  }
  export function open(path: string, flags?: string): Promise<FileHandle>;
  export function readFile(path: string, encoding: "utf8"): Promise<string>;
  export function readFile(path: string): Promise<Uint8Array<ArrayBuffer>>;
  export function writeFile(path: string, data: string): Promise<void>;
  export function rename(from: string, to: string): Promise<void>;
  export function mkdir(path: string, o: { recursive: boolean }): Promise<unknown>;
}
declare module "node:fs" {
  export function openAsBlob(path: string, o?: { type?: string }): Promise<Blob>;
}
declare module "node:path" {
  export function resolve(...p: string[]): string;
  export function basename(p: string): string;
  export function dirname(p: string): string;
  export function join(...p: string[]): string;
}
declare module "node:os" {
  export function homedir(): string;
}
declare const process: { pid: number };
declare module "node:http" {
  interface IncomingMessage {
    statusCode?: number;
    headers: Record<string, string | string[] | undefined>;
    on(ev: "data", fn: (c: Uint8Array) => void): this;
    on(ev: "end" | "aborted", fn: () => void): this;
    on(ev: "error", fn: (e: Error) => void): this;
  }
  interface ClientRequest {
    on(ev: "response", fn: (r: IncomingMessage) => void): this;
    on(ev: "error", fn: (e: Error) => void): this;
    on(ev: "drain", fn: () => void): this;
    once(ev: "drain", fn: () => void): this;
    setTimeout(ms: number, fn: () => void): this;
    write(chunk: Uint8Array | string): boolean;
    end(chunk?: Uint8Array | string): this;
    destroy(e?: Error): this;
  }
  class Agent {
    constructor(o?: { keepAlive?: boolean; maxSockets?: number });
  }
  function request(url: string, o: { method: string; headers: Record<string, string>; agent?: Agent }): ClientRequest;
}
declare module "node:https" {
  import { Agent as HttpAgent, ClientRequest } from "node:http";
  class Agent extends HttpAgent {}
  function request(url: string, o: { method: string; headers: Record<string, string>; agent?: Agent }): ClientRequest;
}
