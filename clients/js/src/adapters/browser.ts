// Browser adapter: Blob.slice parts (nothing read into memory by us), XMLHttpRequest for upload progress,
// localStorage for resume state.
import { NetworkError } from "../errors.js";
import type { Adapter, FileSource, FormPost, HttpRequest, HttpResponse, StateStorage } from "../types.js";

/** Headers a page may not set (the browser computes them); the broker's part `headers` can name Content-Length. */
const FORBIDDEN = /^(content-length|host|connection|keep-alive|transfer-encoding|expect|te|trailer|upgrade|accept-encoding|cookie|date|origin|referer|via)$/i;

function xhr(method: string, url: string, headers: Record<string, string>, body: unknown, req: {
  cancel?: HttpRequest["cancel"]; timeoutMs?: number; onUploadProgress?: (n: number) => void;
}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url, true);
    for (const [k, v] of Object.entries(headers)) if (!FORBIDDEN.test(k)) x.setRequestHeader(k, v);
    if (req.timeoutMs) x.timeout = req.timeoutMs;
    if (req.onUploadProgress) {
      const cb = req.onUploadProgress;
      x.upload.onprogress = (e) => cb(e.loaded);
    }
    const off = req.cancel ? req.cancel.onAbort(() => x.abort()) : () => {};
    x.onload = () => {
      off();
      resolve({ status: x.status, text: x.responseText, header: (n) => x.getResponseHeader(n) });
    };
    x.onerror = () => {
      off();
      reject(new NetworkError(`network error on ${method} (connection failed, cut, or refused by CORS)`));
    };
    x.ontimeout = () => {
      off();
      reject(new NetworkError(`timeout after ${req.timeoutMs} ms`));
    };
    x.onabort = () => {
      off();
      reject(new NetworkError("request aborted"));
    };
    x.send(body as XMLHttpRequestBodyInit | null | undefined);
  });
}

/** Files are `File`/`Blob` objects. Fingerprint: name + size + lastModified (+ type). */
export function browserAdapter(): Adapter {
  return {
    name: "browser",
    async open(file: unknown): Promise<FileSource> {
      if (typeof Blob === "undefined" || !(file instanceof Blob)) throw new TypeError("browser adapter: file must be a File or Blob");
      const f = file as Blob & { name?: string; lastModified?: number };
      const name = f.name || "blob";
      return {
        size: f.size,
        name,
        fingerprint: `browser:${name}:${f.size}:${f.lastModified ?? 0}:${f.type}`,
        read: async (offset, length) => f.slice(offset, offset + length),
        close: async () => {},
      };
    },
    request: (r) => xhr(r.method, r.url, r.headers, r.body, r),
    formPost(p: FormPost): Promise<HttpResponse> {
      const form = new FormData();
      for (const [k, v] of Object.entries(p.fields)) form.append(k, v);
      form.append("file", p.file as Blob, p.source.name);
      return xhr("POST", p.url, {}, form, p);
    },
    storage(): StateStorage {
      if (typeof localStorage !== "undefined") return localStorage;
      return memoryStorage();
    },
  };
}

/** State that lives as long as the page (where localStorage is unavailable). */
export function memoryStorage(): StateStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => (m.has(k) ? m.get(k)! : null),
    setItem: (k, v) => {
      m.set(k, v);
    },
    removeItem: (k) => {
      m.delete(k);
    },
  };
}
