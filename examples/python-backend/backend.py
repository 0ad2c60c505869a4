#!/usr/bin/env python3
"""A backend service using presign-broker: it holds no storage keys, only a JWT for the broker.

Shows, against an S3-compatible store:
  1. a presigned PUT upload (POST /v1/uploads with method PUT and a declared size), sent with `requests`
     using exactly the headers the broker returns, then POST /v1/uploads/confirm to record it;
  2. a download URL (POST /v1/downloads) and reading the object back;
  3. a multipart upload: create, part URLs signed in batches, one PUT per part keeping each ETag,
     complete; any failure aborts the upload (DELETE) so no parts are left behind.

No boto3 or other AWS SDK is needed: the broker signs, and a presigned URL is plain HTTP. (If you do send
to broker URLs through an SDK, make sure it adds no checksum headers or parameters: they are not signed.)
Only the standard library and `requests` (pip install requests).

Run it against the development broker and the local SeaweedFS (from the repository root):
    scripts/services.sh start
    cargo run -- serve &
    export BROKER_TOKEN=$(cargo run -q -- token --sub backend --role service)
    python3 examples/python-backend/backend.py
Settings (environment): BROKER_TOKEN (required: mint it with your identity provider; the bundled
policies let role "service" work under shared/**), BROKER_URL (http://127.0.0.1:8080),
BROKER_STORE (media), KEY_PREFIX (shared/backend-example/).
"""

import hashlib
import os
import sys
import uuid

import requests


class BrokerError(Exception):
    """An RFC 9457 problem answer of the broker; `code` is stable (policy_denied, payload_too_large, ...)."""

    def __init__(self, status, problem):
        self.status = status
        self.code = problem.get("code", "http_error")
        self.request_id = problem.get("request_id")
        super().__init__(f"{status} {self.code}: {problem.get('detail') or problem.get('title')}")


class Broker:
    def __init__(self, url, token, store, timeout=30):
        self.url = url.rstrip("/")
        self.store = store
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method, path, body=None, params=None):
        res = self.http.request(method, self.url + path, json=body, params=params, timeout=self.timeout)
        if res.status_code == 204:
            return None
        if not res.ok:
            try:
                problem = res.json()
            except ValueError:
                problem = {"detail": res.text[:200]}
            raise BrokerError(res.status_code, problem)
        return res.json()

    # -- single requests ----------------------------------------------------------------------------

    def put_object(self, key, data, content_type):
        """Uploads `data` with a presigned PUT; the declared size is signed, so no other length is accepted."""
        cred = self.call("POST", "/v1/uploads", {
            "store": self.store, "key": key, "method": "PUT",
            "content_type": content_type, "size": len(data),
        })
        # Send exactly the headers the broker signed (content-type, content-length), no others of note.
        res = requests.put(cred["url"], data=data, headers=cred["headers"], timeout=self.timeout)
        check_storage(res, "PUT")
        # Record the upload (the broker HEADs the object and checks it against the rule).
        return self.call("POST", "/v1/uploads/confirm", {"store": self.store, "key": key})

    def get_object(self, key, **overrides):
        """Reads an object through a presigned GET URL (overrides: response_content_disposition, ...)."""
        url = self.call("POST", "/v1/downloads", {"store": self.store, "key": key, **overrides})["url"]
        res = requests.get(url, timeout=self.timeout)
        check_storage(res, "GET")
        return res.content

    # -- multipart -----------------------------------------------------------------------------------

    def multipart_upload(self, key, stream, size, content_type, batch=1000):
        """Uploads `size` bytes read from `stream` in parts of the size the broker picks."""
        created = self.call("POST", "/v1/multipart", {
            "store": self.store, "key": key, "content_type": content_type, "size": size,
        })
        # `handle` binds the upload's limits; every later call sends it back.
        upload_id, part_size, handle = created["upload_id"], created["part_size"], created["handle"]
        base = f"/v1/multipart/{requests.utils.quote(upload_id, safe='')}"
        count = max(1, -(-size // part_size))
        parts = []
        try:
            for first in range(1, count + 1, batch):
                numbers = list(range(first, min(first + batch, count + 1)))
                signed = self.call("POST", f"{base}/parts", {
                    "store": self.store, "key": key, "handle": handle, "part_numbers": numbers,
                })
                for part in signed["parts"]:
                    # The headers carry the part's signed Content-Length; requests sends the same from the body.
                    headers = {k: v for k, v in part["headers"].items() if k.lower() != "content-length"}
                    res = requests.put(part["url"], data=stream.read(part_size), headers=headers,
                                       timeout=self.timeout)
                    check_storage(res, f"PUT part {part['part_number']}")
                    parts.append({"part_number": part["part_number"], "etag": res.headers["ETag"]})
            return self.call("POST", f"{base}/complete",
                             {"store": self.store, "key": key, "handle": handle, "parts": parts})
        except BaseException:
            try:
                self.call("DELETE", base, params={"store": self.store, "key": key, "handle": handle})
            except (BrokerError, requests.RequestException) as e:
                print(f"warning: abort failed too: {e}", file=sys.stderr)
            raise


def check_storage(res, what):
    if not res.ok:
        raise RuntimeError(f"storage {what} answered {res.status_code}: {res.text[:300]}")


class RandomStream:
    """`size` random bytes, made as they are read (a stand-in for a large file); `sha256` of what was read."""

    def __init__(self, size):
        self.left = size
        self.sha256 = hashlib.sha256()

    def read(self, n):
        out = os.urandom(min(n, self.left))
        self.left -= len(out)
        self.sha256.update(out)
        return out


def main():
    token = os.environ.get("BROKER_TOKEN")
    if not token:
        sys.exit("set BROKER_TOKEN (see the header of this file)")
    broker = Broker(os.environ.get("BROKER_URL", "http://127.0.0.1:8080"), token,
                    os.environ.get("BROKER_STORE", "media"))
    prefix = os.environ.get("KEY_PREFIX", "shared/backend-example/")
    run = uuid.uuid4().hex[:8]

    key = f"{prefix}{run}/hello.txt"
    confirmed = broker.put_object(key, b"hello from the backend\n", "text/plain")
    print(f"PUT {key}: confirmed {confirmed['size']} bytes, etag {confirmed['etag']}")
    assert broker.get_object(key) == b"hello from the backend\n"
    print(f"GET {key}: read back")

    size = 11 * 1024 * 1024 + 123  # three parts of 5 MiB, 5 MiB and 1 MiB + 123 bytes
    key = f"{prefix}{run}/big.bin"
    stream = RandomStream(size)
    done = broker.multipart_upload(key, stream, size, "application/octet-stream")
    print(f"multipart {key}: {done['size']} bytes, etag {done['etag']}")
    assert hashlib.sha256(broker.get_object(key)).digest() == stream.sha256.digest(), "multipart object differs"
    print(f"GET {key}: sha256 matches")

    try:
        broker.call("POST", "/v1/uploads", {"store": broker.store, "key": "../escape", "method": "PUT"})
    except BrokerError as e:
        print(f"refused as expected: {e}")


if __name__ == "__main__":
    main()
