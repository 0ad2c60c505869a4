// A loopback HTTP proxy in front of SeaweedFS or an emulator that injects faults into part uploads
// (S3/COS/OSS: PUT ?partNumber=&uploadId=; Qiniu v2: PUT /buckets/…/uploads/{id}/{n}). The broker's store endpoint
// points at it, so presigned URLs name it as their host and it forwards the Host header untouched: signatures
// still verify upstream.
import http from "node:http";

const QINIU_PART = /^\/buckets\/[^/?]+\/objects\/[^/?]+\/uploads\/[^/?]+\/(\d+)(?:\?|$)/;
const isPart = (req) =>
  req.method === "PUT" && ((/[?&]partNumber=\d+/.test(req.url) && /[?&]uploadId=/.test(req.url)) || QINIU_PART.test(req.url));
const partNumber = (req) => Number((/[?&]partNumber=(\d+)/.exec(req.url) || QINIU_PART.exec(req.url) || [])[1]);

/** `upstream` may be given later with `setUpstream` (an emulator that must know the proxy's address first). */
export async function startFaultProxy(upstream) {
  let up = upstream ? new URL(upstream) : null;
  const faults = []; // {when(req), action: "status"|"cut"|"delay" (of the answer), status?, afterBytes?, delayMs?, times}
  const stats = { partPuts: 0, partOk: 0, partOkNumbers: [], faultsFired: [] };
  const sockets = new Set();
  let upstreamBusy = 0;
  const idleWaiters = [];

  const server = http.createServer((req, res) => {
    const part = isPart(req);
    if (part) stats.partPuts++;
    const f = part ? faults.find((x) => x.times > 0 && (!x.when || x.when(req))) : undefined;
    if (f && f.action !== "delay" && f.action !== "corrupt") {
      f.times--;
      stats.faultsFired.push({ action: f.action, status: f.status, partNumber: partNumber(req) });
    }
    if (f && f.action === "status") {
      req.resume();
      req.on("end", () => {
        res.writeHead(f.status, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0"?><Error><Code>${f.status === 403 ? "AccessDenied" : "SlowDown"}</Code><Message>injected</Message></Error>`);
      });
      return;
    }
    if (f && f.action === "cut") {
      let seen = 0;
      req.on("data", (c) => {
        seen += c.length;
        if (seen >= (f.afterBytes ?? 1)) req.socket.destroy();
      });
      return;
    }
    // "corrupt": one byte of the body flipped on the way (a link that damages data without failing).
    let corruptAt = -1;
    if (f && f.action === "corrupt") corruptAt = f.atByte ?? 1000;
    const forward = () => {
      if (req.destroyed || res.destroyed) return;
      upstreamBusy++;
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        upstreamBusy--;
        if (upstreamBusy === 0) for (const w of idleWaiters.splice(0)) w();
      };
      const out = http.request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          settle();
          if (part && r.statusCode >= 200 && r.statusCode < 300) {
            stats.partOk++;
            stats.partOkNumbers.push(partNumber(req));
          }
          const reply = () => {
            if (res.destroyed) return void r.resume();
            res.writeHead(r.statusCode, r.headers);
            r.pipe(res);
          };
          // "delay" holds the answer, not the request: the provider sees the URL at once (expiry is judged on
          // arrival), the client waits.
          if (delayMs) setTimeout(reply, delayMs);
          else reply();
        },
      );
      out.on("error", () => (settle(), res.destroy()));
      out.on("close", settle);
      // A client that goes away mid-body leaves no part behind; one that goes away after sending the whole body
      // (waiting for the answer) still gets its part stored, as over a real network, and `idle()` waits for it.
      let bodySent = false;
      req.on("end", () => (bodySent = true));
      req.on("aborted", () => out.destroy());
      res.on("close", () => {
        if (!res.writableFinished && !bodySent) out.destroy();
      });
      if (corruptAt < 0) return void req.pipe(out);
      let seen = 0;
      req.on("data", (c) => {
        if (corruptAt >= seen && corruptAt < seen + c.length) {
          c = Buffer.from(c);
          c[corruptAt - seen] ^= 0xff;
        }
        seen += c.length;
        if (!out.write(c)) {
          req.pause();
          out.once("drain", () => req.resume());
        }
      });
      req.on("end", () => out.end());
    };
    if (f && f.action === "corrupt") {
      f.times--;
      stats.faultsFired.push({ action: "corrupt", partNumber: partNumber(req) });
    }
    let delayMs = 0;
    if (f && f.action === "delay") {
      if (f.times !== Infinity) f.times--;
      delayMs = f.delayMs;
    }
    forward();
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    setUpstream(u) {
      up = new URL(u);
    },
    faults,
    stats,
    /**
     * Resolves when no request is pending upstream. A paused or killed client's last requests can still land at
     * the provider after it is gone; tests wait for them so a resume never races them (SeaweedFS then lists the
     * same part number twice, see clients/js/README.md).
     */
    idle() {
      return upstreamBusy === 0 ? Promise.resolve() : new Promise((r) => idleWaiters.push(r));
    },
    reset() {
      faults.length = 0;
      stats.partPuts = 0;
      stats.partOk = 0;
      stats.partOkNumbers = [];
      stats.faultsFired = [];
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}
