#!/usr/bin/env python3
"""Signed Qiniu callbacks for scripts/load.sh, signed as Qiniu signs them (QBox: HMAC-SHA1 of path, newline, body).

  callbacks.py make  ANSWER.json N OUT    one line per distinct upload: path<TAB>authorization<TAB>body, from
                                          the broker's /v1/uploads answer (its token's callbackUrl and callbackBody)
                                          with Qiniu's magic variables filled in; the etag makes each one distinct
  callbacks.py redeliver PORT FILE        delivers every line once more (8 keep-alive connections); prints the count
                                          per status. Every event is then delivered at least once, so the stream
                                          must hold exactly one entry per line
  callbacks.py count N                    reads `redis-cli XRANGE` output on stdin: entries, distinct etags, doubles
"""
import base64, hashlib, hmac, http.client, json, re, sys, threading, urllib.parse
from collections import Counter

AK, SK = "MY_ACCESS_KEY", b"MY_SECRET_KEY"  # the dummy keys of scripts/load/broker.toml's store qn


def make(answer, n, out):
    token = json.load(open(answer))["fields"]["token"]
    policy = json.loads(base64.urlsafe_b64decode(token.rsplit(":", 1)[1] + "=="))
    url = urllib.parse.urlsplit(policy["callbackUrl"])
    path = f"{url.path}?{url.query}"
    with open(out, "w") as f:
        for i in range(int(n)):
            body = (policy["callbackBody"]
                    .replace("$(key)", urllib.parse.quote_plus(policy["scope"].split(":", 1)[1]))
                    .replace("$(etag)", f"Fload{i:09d}")
                    .replace("$(fsize)", "123456").replace("$(bucket)", "my-bucket")
                    .replace("$(mimeType)", "image%2Fjpeg"))
            sig = base64.urlsafe_b64encode(hmac.new(SK, f"{path}\n{body}".encode(), hashlib.sha1).digest()).decode()
            f.write(f"{path}\tQBox {AK}:{sig}\t{body}\n")


def redeliver(port, file):
    lines = [l.rstrip("\n").split("\t", 2) for l in open(file)]
    statuses = Counter()
    lock = threading.Lock()

    def worker(part):
        conn = http.client.HTTPConnection("127.0.0.1", int(port))
        local = Counter()
        for path, auth, body in part:
            conn.request("POST", path, body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
            r = conn.getresponse()
            r.read()
            local[r.status] += 1
        with lock:
            statuses.update(local)

    threads = [threading.Thread(target=worker, args=(lines[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join(f"{s}={c}" for s, c in sorted(statuses.items())))


def count(n):
    etags = Counter(re.findall(r'"etag":"(Fload\d+)"', sys.stdin.read()))
    entries = sum(etags.values())
    doubled = sum(1 for c in etags.values() if c > 1)
    lost = int(n) - len(etags)
    print(f"entries={entries} distinct={len(etags)} doubled={doubled} lost={lost}")


if __name__ == "__main__":
    {"make": make, "redeliver": redeliver, "count": count}[sys.argv[1]](*sys.argv[2:])
