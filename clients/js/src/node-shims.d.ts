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
