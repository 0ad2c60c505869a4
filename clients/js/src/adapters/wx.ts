// WeChat mini-program adapter: parts read with FileSystemManager.readFileSync(path, undefined, position, length)
// (base library ≥ 2.10.0) and sent by wx.request PUT with the ArrayBuffer; small files by wx.uploadFile (a form
// POST, the only thing it can send); resume state in wx.setStorageSync.
import { NetworkError } from "../errors.js";
import type { Adapter, FileSource, FormPost, HttpRequest, HttpResponse, StateStorage } from "../types.js";

/* The subset of the mini-program API used here. */
interface WxTask {
  abort(): void;
  onProgressUpdate?(cb: (r: { totalBytesSent: number }) => void): void;
}
interface WxFs {
  readFileSync(path: string, encoding: undefined, position: number, length: number): ArrayBuffer;
  statSync(path: string): { size: number; lastModifiedTime: number };
}
interface WxApi {
  request(o: Record<string, unknown>): WxTask;
  uploadFile(o: Record<string, unknown>): WxTask;
  getFileSystemManager(): WxFs;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: string): void;
  removeStorageSync(key: string): void;
}
declare const wx: WxApi | undefined;

/** A file is a path (`tempFilePath` from wx.chooseMessageFile/chooseMedia) or `{path, name?}`. */
export type WxFile = string | { path: string; name?: string };

function headerGetter(h: Record<string, string> | undefined): (n: string) => string | null {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(h || {})) lower[k.toLowerCase()] = String(v);
  return (n) => (n.toLowerCase() in lower ? lower[n.toLowerCase()] : null);
}

function failure(err: { errMsg?: string } | undefined): NetworkError {
  return new NetworkError((err && err.errMsg) || "wx request failed");
}

/** `api` defaults to the global `wx` (tests pass a shim). */
export function wxAdapter(api?: WxApi): Adapter {
  const w = (): WxApi => {
    const a = api ?? (typeof wx !== "undefined" ? wx : undefined);
    if (!a) throw new Error("wx adapter: no `wx` global");
    return a;
  };
  return {
    name: "wx",
    async open(file: unknown): Promise<FileSource> {
      const path = typeof file === "string" ? file : file ? (file as { path?: string }).path : undefined;
      if (!path) throw new TypeError("wx adapter: file must be a path or {path}");
      const fs = w().getFileSystemManager();
      const st = fs.statSync(path);
      const name = (typeof file === "object" && (file as { name?: string }).name) || path.split("/").pop() || "file";
      return {
        size: st.size,
        name,
        // Temp paths change between sessions for the same chosen file; name + size + mtime still identify it.
        fingerprint: `wx:${name}:${st.size}:${st.lastModifiedTime}`,
        read: async (offset, length) => fs.readFileSync(path, undefined, offset, length),
        close: async () => {},
      };
    },
    request(r: HttpRequest): Promise<HttpResponse> {
      return new Promise((resolve, reject) => {
        let off = () => {};
        // The runtime sets Content-Length from the ArrayBuffer (a signed one in the part's headers is the same).
        const header: Record<string, string> = {};
        for (const [k, v] of Object.entries(r.headers)) if (!/^content-length$/i.test(k)) header[k] = v;
        const task = w().request({
          url: r.url,
          method: r.method,
          header,
          data: r.body,
          dataType: "text", // keep the raw body: problem+json and provider XML are parsed here
          responseType: "text",
          timeout: r.timeoutMs,
          success: (res: { statusCode: number; data: unknown; header: Record<string, string> }) => {
            off();
            resolve({ status: res.statusCode, text: typeof res.data === "string" ? res.data : JSON.stringify(res.data ?? ""), header: headerGetter(res.header) });
          },
          fail: (err: { errMsg?: string }) => {
            off();
            reject(failure(err));
          },
        });
        if (r.cancel) off = r.cancel.onAbort(() => task.abort());
      });
    },
    formPost(p: FormPost): Promise<HttpResponse> {
      return new Promise((resolve, reject) => {
        let off = () => {};
        const file = p.file as WxFile;
        const task = w().uploadFile({
          url: p.url,
          filePath: typeof file === "string" ? file : file.path,
          name: "file",
          formData: p.fields,
          timeout: p.timeoutMs,
          success: (res: { statusCode: number; data: string; header?: Record<string, string> }) => {
            off();
            // wx.uploadFile exposes no response headers on most base libraries, so the ETag may be empty.
            resolve({ status: res.statusCode, text: res.data ?? "", header: headerGetter(res.header) });
          },
          fail: (err: { errMsg?: string }) => {
            off();
            reject(failure(err));
          },
        });
        if (p.onUploadProgress && task.onProgressUpdate) {
          const cb = p.onUploadProgress;
          task.onProgressUpdate((e) => cb(e.totalBytesSent));
        }
        if (p.cancel) off = p.cancel.onAbort(() => task.abort());
      });
    },
    storage(): StateStorage {
      return {
        getItem: (k) => {
          const v = w().getStorageSync(k);
          return typeof v === "string" && v ? v : null;
        },
        setItem: (k, v) => w().setStorageSync(k, v),
        removeItem: (k) => w().removeStorageSync(k),
      };
    },
  };
}
