// A `wx` object for Node whose request/uploadFile/FileSystemManager/storage are real: HTTP over node:http,
// files through node:fs, storage in a JSON file. Only the surface the wx adapter uses, with wx's callback shapes.
import http from "node:http";
import { openSync, readSync, closeSync, statSync, readFileSync, writeFileSync, openAsBlob } from "node:fs";
import { basename } from "node:path";

/** `chosen`: the paths wx.chooseMedia "picks" (for the example's pages). */
export function createWx({ storageFile, chosen = [] }) {
  const calls = { request: 0, uploadFile: 0, readFileSync: 0, maxReadLength: 0 };
  const loadStore = () => {
    try {
      return JSON.parse(readFileSync(storageFile, "utf8"));
    } catch {
      return {};
    }
  };
  const wx = {
    calls,
    request({ url, method = "GET", header = {}, data, dataType = "json", timeout, success, fail }) {
      calls.request++;
      let done = false;
      const finish = (fn, v) => !done && ((done = true), fn && fn(v));
      // Like wx: an object is sent as JSON (the pages' own broker calls); the adapter sends strings and ArrayBuffers.
      if (data !== null && typeof data === "object" && !(data instanceof ArrayBuffer)) {
        if (!Object.keys(header).some((k) => k.toLowerCase() === "content-type")) header = { ...header, "content-type": "application/json" };
        data = JSON.stringify(data);
      }
      const body = data instanceof ArrayBuffer ? Buffer.from(data) : typeof data === "string" ? data : undefined;
      // Like the real runtime, the length comes from `data`, whatever a header said.
      header = Object.fromEntries(Object.entries(header).filter(([k]) => k.toLowerCase() !== "content-length"));
      const u = new URL(url);
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: { ...header, ...(body !== undefined ? { "content-length": Buffer.byteLength(body) } : {}) }, timeout },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            // wx gives headers with the server's spelling; node lowercases them, so restore a typical case.
            const h = {};
            for (const [k, v] of Object.entries(res.headers)) h[k === "etag" ? "ETag" : k] = Array.isArray(v) ? v.join(", ") : v;
            let text = Buffer.concat(chunks).toString("utf8");
            // dataType "json" (wx's default) parses a JSON answer; "text" (what the adapter asks) keeps it raw.
            if (dataType === "json") {
              try {
                text = JSON.parse(text);
              } catch {
                // not JSON: left a string, as wx does
              }
            }
            finish(success, { statusCode: res.statusCode, data: text, header: h });
          });
          res.on("error", (e) => finish(fail, { errMsg: `request:fail ${e.message}` }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => finish(fail, { errMsg: `request:fail ${e.message}` }));
      req.end(body);
      return { abort: () => (req.destroy(new Error("abort")), finish(fail, { errMsg: "request:fail abort" })) };
    },
    uploadFile({ url, filePath, name, formData = {}, success, fail }) {
      calls.uploadFile++;
      const ac = new AbortController();
      let progress = null;
      (async () => {
        const form = new FormData();
        for (const [k, v] of Object.entries(formData)) form.append(k, v);
        form.append(name, await openAsBlob(filePath), basename(filePath));
        const r = await fetch(url, { method: "POST", body: form, signal: ac.signal });
        const size = statSync(filePath).size;
        if (progress) progress({ progress: 100, totalBytesSent: size, totalBytesExpectedToSend: size });
        // Like most base libraries, no response headers for uploadFile.
        success({ statusCode: r.status, data: await r.text() });
      })().catch((e) => fail({ errMsg: `uploadFile:fail ${e.message}` }));
      return { abort: () => ac.abort(), onProgressUpdate: (cb) => (progress = cb) };
    },
    chooseMedia({ count = 9, success, fail }) {
      if (!chosen.length) return void (fail && fail({ errMsg: "chooseMedia:fail cancel" }));
      const tempFiles = chosen.slice(0, count).map((p) => ({ tempFilePath: p, size: statSync(p).size, fileType: "video" }));
      setTimeout(() => success({ tempFiles, type: "mix" }), 0);
    },
    getFileSystemManager() {
      return {
        statSync(path) {
          const s = statSync(path);
          return { size: s.size, lastModifiedTime: Math.floor(s.mtimeMs / 1000), isFile: () => s.isFile() };
        },
        readFileSync(path, encoding, position, length) {
          if (encoding !== undefined) throw new Error("shim: only ArrayBuffer reads");
          calls.readFileSync++;
          calls.maxReadLength = Math.max(calls.maxReadLength, length);
          const ab = new ArrayBuffer(length);
          const fd = openSync(path, "r");
          try {
            let got = 0;
            while (got < length) {
              const n = readSync(fd, new Uint8Array(ab, got), 0, length - got, position + got);
              if (n === 0) break;
              got += n;
            }
            return got === length ? ab : ab.slice(0, got);
          } finally {
            closeSync(fd);
          }
        },
      };
    },
    getStorageSync: (k) => (k in loadStore() ? loadStore()[k] : ""),
    setStorageSync: (k, v) => {
      const s = loadStore();
      s[k] = v;
      writeFileSync(storageFile, JSON.stringify(s));
    },
    removeStorageSync: (k) => {
      const s = loadStore();
      delete s[k];
      writeFileSync(storageFile, JSON.stringify(s));
    },
  };
  return wx;
}
