"""Shared pieces of the COS and Qiniu test emulators: the HTTP server, bounded body reading,
a multipart/form-data parser, the on-disk object store and the command-line plumbing.

Nothing here verifies a signature: each emulator does that with its vendor SDK's own code.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MIB = 1024 * 1024
# Bodies read into memory (form uploads, XML/JSON documents) never exceed these.
DEFAULT_MAX_FORM_BYTES = 64 * MIB
MAX_DOCUMENT_BYTES = 4 * MIB  # a Complete listing 10,000 parts fits
CHUNK = 256 * 1024


class HttpError(Exception):
    """An error answer; each emulator renders it in its vendor's format."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class BodyTooLarge(Exception):
    pass


class MissingLength(Exception):
    pass


def discard_unread_body(handler):
    """After an early error answer: drain a small unread body so keep-alive stays in sync, or close."""
    if getattr(handler, "body_consumed", False):
        return
    handler.body_consumed = True
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        length = -1
    if handler.headers.get("Transfer-Encoding") or length < 0 or length > MAX_DOCUMENT_BYTES:
        handler.close_connection = True
    elif length:
        handler.rfile.read(length)


def content_length(handler):
    """The request's Content-Length; chunked or absent bodies are refused (both vendors want a length)."""
    if handler.headers.get("Transfer-Encoding"):
        handler.close_connection = True
        raise MissingLength("chunked bodies are not supported; send Content-Length")
    raw = handler.headers.get("Content-Length")
    if raw is None:
        return None
    if not re.fullmatch(r"\d{1,19}", raw.strip()):
        raise MissingLength("Content-Length is not a number")
    return int(raw)


def read_body(handler, max_bytes):
    """The whole body in memory, refused past max_bytes (the rest is drained so the connection stays sane)."""
    handler.body_consumed = True
    length = content_length(handler) or 0
    if length > max_bytes:
        drain(handler, length)
        raise BodyTooLarge(f"body of {length} bytes exceeds {max_bytes}")
    return handler.rfile.read(length) if length else b""


def drain(handler, length):
    remaining = length
    while remaining > 0:
        chunk = handler.rfile.read(min(CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
    handler.close_connection = True


def stream_body_to_file(handler, path, max_bytes):
    """Copy the body to `path` in chunks (memory stays flat); returns (size, md5 bytes)."""
    handler.body_consumed = True
    length = content_length(handler)
    if length is None:
        handler.close_connection = True
        raise MissingLength("Content-Length is required")
    if length > max_bytes:
        drain(handler, length)
        raise BodyTooLarge(f"body of {length} bytes exceeds {max_bytes}")
    md5 = hashlib.md5()
    got = 0
    with open(path, "wb") as out:
        while got < length:
            chunk = handler.rfile.read(min(CHUNK, length - got))
            if not chunk:
                break
            out.write(chunk)
            md5.update(chunk)
            got += len(chunk)
    if got != length:
        raise MissingLength("body shorter than Content-Length")
    return got, md5.digest()


def parse_multipart(body, content_type):
    """Parts of a multipart/form-data body, in order: dicts with name, filename, content_type, data."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not match:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts = []
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise ValueError("no form parts")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("form part without headers")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if not name:
            raise ValueError("form part without a name")
        parts.append(
            {
                "name": name.group(1),
                "filename": filename.group(1) if filename else None,
                "content_type": headers.get("content-type"),
                "data": data,
            }
        )
    return parts


class ObjectStore:
    """Objects and in-progress multipart uploads under one data directory.

    objects/<sha256(key)>.data + .json (key, size, content type, etag, times); uploads/<id>/ holds
    meta.json and part-<n>.data/.json. One lock serializes metadata changes; data is written to a
    temporary file first and renamed, so a reader never sees half an object.
    """

    def __init__(self, data_dir):
        self.root = os.path.abspath(data_dir)
        self.objects = os.path.join(self.root, "objects")
        self.uploads = os.path.join(self.root, "uploads")
        self.tmp = os.path.join(self.root, "tmp")
        for d in (self.objects, self.uploads, self.tmp):
            os.makedirs(d, exist_ok=True)
        self.lock = threading.Lock()

    # objects -------------------------------------------------------------------------------
    def _paths(self, key):
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()
        base = os.path.join(self.objects, name)
        return base + ".data", base + ".json"

    def temp_path(self):
        return os.path.join(self.tmp, uuid.uuid4().hex)

    def get_meta(self, key):
        _, meta_path = self._paths(key)
        try:
            with open(meta_path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def data_path(self, key):
        return self._paths(key)[0]

    def put_from_file(self, key, temp_path, meta):
        """Move temp_path into place as `key` with `meta` (the key, size and put time are added)."""
        data_path, meta_path = self._paths(key)
        meta = dict(meta, key=key, size=os.path.getsize(temp_path), put_time=time.time())
        with self.lock:
            os.replace(temp_path, data_path)
            write_json(meta_path, meta)
        return meta

    def put_bytes(self, key, data, meta):
        temp = self.temp_path()
        with open(temp, "wb") as f:
            f.write(data)
        return self.put_from_file(key, temp, meta)

    def delete(self, key):
        data_path, meta_path = self._paths(key)
        with self.lock:
            existed = os.path.exists(meta_path)
            for p in (meta_path, data_path):
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass
        return existed

    # multipart uploads --------------------------------------------------------------------
    def new_upload(self, meta):
        upload_id = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        d = os.path.join(self.uploads, upload_id)
        os.makedirs(d)
        write_json(os.path.join(d, "meta.json"), meta)
        return upload_id

    def upload_dir(self, upload_id):
        if not re.fullmatch(r"[0-9a-f]{40}", upload_id or ""):
            return None
        d = os.path.join(self.uploads, upload_id)
        return d if os.path.isdir(d) else None

    def upload_meta(self, upload_id):
        d = self.upload_dir(upload_id)
        if d is None:
            return None
        try:
            with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def put_part(self, upload_id, number, temp_path, meta):
        d = self.upload_dir(upload_id)
        if d is None:
            os.remove(temp_path)
            return False
        meta = dict(meta, number=number, size=os.path.getsize(temp_path), put_time=time.time())
        with self.lock:
            if not os.path.isdir(d):
                os.remove(temp_path)
                return False
            os.replace(temp_path, os.path.join(d, f"part-{number}.data"))
            write_json(os.path.join(d, f"part-{number}.json"), meta)
        return meta

    def parts(self, upload_id):
        """Every stored part's metadata, ascending by number."""
        d = self.upload_dir(upload_id)
        if d is None:
            return None
        out = []
        for name in os.listdir(d):
            m = re.fullmatch(r"part-(\d+)\.json", name)
            if m:
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    out.append(json.load(f))
        return sorted(out, key=lambda p: p["number"])

    def assemble(self, upload_id, numbers):
        """Concatenate the given parts into a temporary file; returns its path."""
        d = self.upload_dir(upload_id)
        temp = self.temp_path()
        with open(temp, "wb") as out:
            for n in numbers:
                with open(os.path.join(d, f"part-{n}.data"), "rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
        return temp

    def drop_upload(self, upload_id):
        d = self.upload_dir(upload_id)
        if d is None:
            return False
        with self.lock:
            shutil.rmtree(d, ignore_errors=True)
        return True


def write_json(path, value):
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(temp, path)


def file_md5(path):
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            md5.update(chunk)
    return md5.digest()


class QuietHandler(BaseHTTPRequestHandler):
    """Logs one line per request (method, path without query, status): query strings carry signatures."""

    protocol_version = "HTTP/1.1"
    server_version = "emulator"
    sys_version = ""

    def log_request(self, code="-", size="-"):
        path = urlsplit(self.path).path
        sys.stderr.write(f"{self.command} {path} {code}\n")

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def send_bytes(self, status, body, content_type=None, headers=None, head_only=False):
        if status >= 300:
            discard_unread_body(self)
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head_only and self.command != "HEAD":
            self.wfile.write(body)

    def send_file(self, status, path, size, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            shutil.copyfileobj(f, self.wfile, CHUNK)


def env_or(name, default=None):
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def base_arguments(description, env_prefix, defaults):
    """PORT and DATA_DIR positional, bucket/credentials as options with environment fallbacks."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("port", type=int, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("data_dir", help="directory holding the objects (created when missing)")
    for option, (env_name, default, help_text) in defaults.items():
        p.add_argument(
            f"--{option}",
            default=env_or(f"{env_prefix}{env_name}", default),
            help=f"{help_text} (env {env_prefix}{env_name}; default {default!r})",
        )
    p.add_argument(
        "--max-form-bytes",
        type=int,
        default=int(env_or(f"{env_prefix}MAX_FORM_BYTES", DEFAULT_MAX_FORM_BYTES)),
        help="largest multipart/form-data body held in memory",
    )
    return p


def serve(handler_class, port, state):
    """Bind 127.0.0.1:port, announce it on stdout, serve until killed."""
    handler_class.state = state
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
    server.daemon_threads = True
    state.port = server.server_address[1]
    print(f"ready on http://127.0.0.1:{state.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def loopback_only(url):
    """True when url is http(s) to a loopback host: the emulators never call anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return parts.scheme in ("http", "https") and (
        host == "localhost" or host == "::1" or re.fullmatch(r"127\.\d+\.\d+\.\d+", host) is not None
    )


def log_exception(error):
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


def new_request_id():
    return uuid.uuid4().hex


def tempdir():
    return tempfile.mkdtemp(prefix="emu-")
