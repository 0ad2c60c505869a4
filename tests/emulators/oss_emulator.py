"""Aliyun OSS emulator for presign-broker's end-to-end tests (loopback only).

CLI (through tests/emulators/run.sh, which owns the venv):
    tests/emulators/run.sh oss PORT DATA_DIR [--region cn-hangzhou] [--access-key-id AK] [--access-key-secret SK]
                           [--security-token TOKEN] [--max-body BYTES] [--callback-timeout SECONDS]
    (options fall back to OSS_EMU_REGION, OSS_EMU_ACCESS_KEY_ID, OSS_EMU_ACCESS_KEY_SECRET, OSS_EMU_SECURITY_TOKEN)

    Defaults: region cn-hangzhou, AK `PBTESTOSSACCESSKEY01`, SK `pbtest/oss+secret0000000000000000`, no STS token,
    --max-body 268435456. Requests are path-style: http://127.0.0.1:PORT/<bucket>/<key>; any bucket name is accepted
    (buckets spring into existence). Prints `ready on http://127.0.0.1:PORT` once listening (PORT 0 = a free port).

    Emulator-only routes (paths starting with /__emulator/, which no bucket name can):
      GET /__emulator/health                  200 "ok"
      GET /__emulator/callback_pub_key.pem    the PEM public key of the test RSA key (generated at start) that
                                              signs callbacks; `x-oss-pub-key-url` is base64 of this URL.

What it checks, with alibabacloud-oss-v2's own code (never the broker's):
  * every request's V4 signature: header mode (`Authorization: OSS4-HMAC-SHA256 ...`) and query mode
    (`x-oss-signature`), recomputed by `alibabacloud_oss_v2.signer.SignerV4.sign` on a `SigningContext` built from
    the received method, URL, headers, bucket and key, the signing time of `x-oss-date` and the additional headers
    the request names; compared in constant time. So a signed `Content-Length` (x-oss-additional-headers), a signed
    `Content-Type`, `x-oss-callback`, `x-oss-forbid-overwrite` and the key (canonical URI) are enforced.
  * presigned expiry (`x-oss-date` + `x-oss-expires`, at most 604800) and header-mode clock skew (15 min);
    the credential scope (date, region, `oss`, `aliyun_v4_request`) and the STS token.
  * PostObject V4: `x-oss-signature` = `SignerV4._calc_signature(secret, date, region, "oss", policy_base64)`; the
    policy's expiration and every condition (`{"field": v}`, `eq`, `starts-with`, `content-length-range`), where
    `bucket` is the URL's bucket and `$key` the form's key; the `x-oss-*` credential fields must be conditions.
  * multipart: part numbers 1..10000, parts <= 5 GiB, at Complete ascending order (InvalidPartOrder), known parts
    with matching ETags (InvalidPart), every part but the last >= 100 KiB (EntityTooSmall).
  * `x-oss-forbid-overwrite: true` -> 409 FileAlreadyExists.
Objects and parts are kept on disk under --data-dir. With `x-oss-callback` (PUT, Complete) or the `callback` form
field (PostObject) it POSTs the callback to its `callbackUrl` signed as OSS signs it (RSA PKCS#1 v1.5 over MD5 of
urldecode(path) + "?" + query + "\n" + body, `authorization` and `x-oss-pub-key-url` headers) and relays the
callback's answer body to the uploader (200), or answers 203 CallbackFailed (the object stays stored).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import shutil
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import emu_common as common
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import Credentials, HttpRequest, SigningContext

ALGORITHM = "OSS4-HMAC-SHA256"
MAX_EXPIRES = 604800
MAX_SKEW = datetime.timedelta(minutes=15)
MIN_PART = 100 * 1024
MAX_PART = 5 << 30
MAX_PARTS = 10000
MAX_FORM = 64 << 20
CHUNK = 1 << 20
KEY_PATH = "/__emulator/callback_pub_key.pem"


class OssError(Exception):
    def __init__(self, status, code, message, extra=None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_iso_basic(value):
    try:
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        raise OssError(400, "InvalidArgument", "bad x-oss-date")


def raw_query_pairs(query):
    """(name, value) as they appear in the URL (still encoded), in order."""
    pairs = []
    if query:
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            pairs.append((name, value))
    return pairs


def unq(s):
    return urllib.parse.unquote(s)


class Emulator:
    def __init__(self, args):
        self.region = args.region
        self.ak, self.sk, self.token = args.access_key_id, args.access_key_secret, args.security_token
        self.max_body = args.max_body
        self.max_form = args.max_form_bytes
        self.callback_timeout = args.callback_timeout
        self.data = os.path.abspath(args.data_dir)
        os.makedirs(os.path.join(self.data, "objects"), exist_ok=True)
        os.makedirs(os.path.join(self.data, "uploads"), exist_ok=True)
        self.lock = threading.Lock()
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self.public_pem = self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.base_url = None  # set once the port is known

    # ---- storage -------------------------------------------------------------------------------------------
    def _obj_paths(self, bucket, key):
        digest = hashlib.sha256(f"{bucket}\0{key}".encode()).hexdigest()
        base = os.path.join(self.data, "objects", digest)
        return base + ".bin", base + ".json"

    def get_meta(self, bucket, key):
        _, meta = self._obj_paths(bucket, key)
        try:
            with open(meta) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def exists(self, bucket, key):
        return self.get_meta(bucket, key) is not None

    def store(self, bucket, key, tmp_path, size, etag, content_type):
        data, meta = self._obj_paths(bucket, key)
        with self.lock:
            os.replace(tmp_path, data)
            with open(meta + ".tmp", "w") as f:
                json.dump({"bucket": bucket, "key": key, "size": size, "etag": etag,
                           "content_type": content_type or "application/octet-stream",
                           "last_modified": utcnow().strftime("%a, %d %b %Y %H:%M:%S GMT")}, f)
            os.replace(meta + ".tmp", meta)

    def tmp_file(self):
        return os.path.join(self.data, "tmp-" + secrets.token_hex(8))

    def upload_dir(self, upload_id):
        if not re.fullmatch(r"[0-9A-F]{32}", upload_id or ""):
            raise OssError(404, "NoSuchUpload", "The specified upload does not exist.")
        path = os.path.join(self.data, "uploads", upload_id)
        if not os.path.isdir(path):
            raise OssError(404, "NoSuchUpload", "The specified upload does not exist.")
        return path

    # ---- signature verification (alibabacloud-oss-v2's SignerV4) ---------------------------------------------
    def credentials(self, ak, token):
        if ak != self.ak:
            raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist.")
        if (token or None) != (self.token or None):
            raise OssError(403, "InvalidSecurityToken", "The security token is missing or wrong.")
        return Credentials(self.ak, self.sk, token or None)

    def check_scope(self, scope, when):
        parts = scope.split("/")
        if len(parts) != 4 or parts[2] != "oss" or parts[3] != "aliyun_v4_request":
            raise OssError(400, "InvalidArgument", "bad credential scope")
        if parts[0] != when.strftime("%Y%m%d"):
            raise OssError(403, "SignatureDoesNotMatch", "credential date differs from x-oss-date")
        if parts[1] != self.region:
            raise OssError(403, "SignatureDoesNotMatch", "credential region differs")
        return parts[1]

    def verify(self, method, raw_path, raw_query, headers, bucket, key):
        """Raises OssError unless the request carries a valid V4 signature (either mode)."""
        pairs = raw_query_pairs(raw_query)
        query = {name: value for name, value in pairs}
        lower = {k.lower(): v for k, v in headers.items()}
        now = utcnow()
        url_base = f"http://127.0.0.1{raw_path}"
        if "x-oss-signature" in query:
            if query.get("x-oss-signature-version") != ALGORITHM:
                raise OssError(400, "InvalidArgument", "x-oss-signature-version must be OSS4-HMAC-SHA256")
            when = parse_iso_basic(query.get("x-oss-date"))
            try:
                expires = int(query.get("x-oss-expires", ""))
            except ValueError:
                raise OssError(400, "InvalidArgument", "bad x-oss-expires")
            if expires < 1 or expires > MAX_EXPIRES:
                raise OssError(400, "InvalidArgument", "x-oss-expires out of range")
            if when - now > MAX_SKEW:
                raise OssError(403, "RequestTimeTooSkewed", "x-oss-date is in the future")
            if now > when + datetime.timedelta(seconds=expires):
                raise OssError(403, "AccessDenied", "Request has expired.")
            ak, _, scope = unq(query.get("x-oss-credential", "")).partition("/")
            creds = self.credentials(ak, unq(query["x-oss-security-token"]) if "x-oss-security-token" in query else None)
            region = self.check_scope(scope, when)
            additional = {h for h in unq(query.get("x-oss-additional-headers", "")).split(";") if h}
            rest = "&".join(p for p in raw_query.split("&") if not p.startswith("x-oss-signature="))
            request = HttpRequest(method, url_base + "?" + rest, headers=dict(headers))
            ctx = SigningContext(product="oss", region=region, bucket=bucket, key=key, request=request,
                                 credentials=creds, signing_time=when, additional_headers=additional)
            ctx.auth_method_query = True
            ctx.expiration_time = when + datetime.timedelta(seconds=expires)
            SignerV4().sign(ctx)
            expected = dict(raw_query_pairs(urllib.parse.urlsplit(request.url).query)).get("x-oss-signature", "")
            given = query["x-oss-signature"]
        else:
            auth = lower.get("authorization")
            if not auth:
                raise OssError(403, "AccessDenied", "Anonymous access is forbidden.")
            m = re.fullmatch(r"OSS4-HMAC-SHA256 (.*)", auth.strip())
            if not m:
                raise OssError(400, "InvalidArgument", "Authorization must be OSS4-HMAC-SHA256")
            fields = {}
            for item in m.group(1).split(","):
                name, _, value = item.strip().partition("=")
                fields[name] = value
            when = parse_iso_basic(lower.get("x-oss-date"))
            if abs(now - when) > MAX_SKEW:
                raise OssError(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
            ak, _, scope = fields.get("Credential", "").partition("/")
            creds = self.credentials(ak, lower.get("x-oss-security-token"))
            region = self.check_scope(scope, when)
            additional = {h for h in fields.get("AdditionalHeaders", "").split(";") if h}
            sent = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            request = HttpRequest(method, url_base + ("?" + raw_query if raw_query else ""), headers=sent)
            ctx = SigningContext(product="oss", region=region, bucket=bucket, key=key, request=request,
                                 credentials=creds, signing_time=when, additional_headers=additional)
            SignerV4().sign(ctx)
            expected = request.headers["Authorization"].rpartition("Signature=")[2]
            given = fields.get("Signature", "")
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise OssError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.")

    # ---- POST policy -------------------------------------------------------------------------------------
    def verify_post(self, bucket, form, file_size):
        """Checks a PostObject form (V4 policy) for a file of `file_size` bytes; returns the object key."""
        for name in ("policy", "x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-signature", "key"):
            if name not in form:
                raise OssError(400, "InvalidArgument", f"form lacks {name}")
        if form["x-oss-signature-version"] != ALGORITHM:
            raise OssError(400, "InvalidArgument", "x-oss-signature-version must be OSS4-HMAC-SHA256")
        when = parse_iso_basic(form["x-oss-date"])
        ak, _, scope = form["x-oss-credential"].partition("/")
        self.credentials(ak, form.get("x-oss-security-token"))
        region = self.check_scope(scope, when)
        expected = SignerV4()._calc_signature(self.sk, when.strftime("%Y%m%d"), region, "oss", form["policy"])
        if not hmac.compare_digest(expected.encode(), form["x-oss-signature"].encode()):
            raise OssError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        try:
            policy = json.loads(base64.b64decode(form["policy"], validate=True))
            expiration = datetime.datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            conditions = policy["conditions"]
        except (ValueError, KeyError, TypeError):
            raise OssError(400, "InvalidPolicyDocument", "Invalid Policy: malformed")
        if utcnow() > expiration:
            raise OssError(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        if utcnow() - when > datetime.timedelta(days=7) or when - utcnow() > MAX_SKEW:
            raise OssError(403, "AccessDenied", "x-oss-date out of range")
        values = {k.lower(): v for k, v in form.items()}
        values["bucket"] = bucket
        pinned = set()
        for cond in conditions:
            if isinstance(cond, dict):
                for name, want in cond.items():
                    pinned.add(name.lower())
                    if values.get(name.lower()) != want:
                        raise OssError(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {name}")
            elif isinstance(cond, list) and len(cond) == 3 and cond[0] == "content-length-range":
                if not (int(cond[1]) <= file_size <= int(cond[2])):
                    code = "EntityTooLarge" if file_size > int(cond[2]) else "EntityTooSmall"
                    raise OssError(400, code, "Your proposed upload size is out of the policy's content-length-range.")
            elif isinstance(cond, list) and len(cond) == 3 and cond[0] in ("eq", "starts-with"):
                name = str(cond[1]).lstrip("$").lower()
                pinned.add(name)
                got = values.get(name, "")
                ok = got == cond[2] if cond[0] == "eq" else got.startswith(cond[2])
                if not ok:
                    raise OssError(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {cond[1]}")
            else:
                raise OssError(400, "InvalidPolicyDocument", "Invalid Policy: unknown condition")
        for name in ("x-oss-signature-version", "x-oss-credential", "x-oss-date") + (
                ("x-oss-security-token",) if "x-oss-security-token" in form else ()):
            if name not in pinned:
                raise OssError(403, "AccessDenied", f"Invalid according to Policy: {name} must be a condition")
        return form["key"]

    # ---- callbacks ------------------------------------------------------------------------------------------
    def run_callback(self, callback_b64, var_b64, values):
        """POSTs the callback; returns (status, body, content_type) to relay to the uploader."""
        try:
            cb = json.loads(base64.b64decode(callback_b64, validate=True))
            url = cb["callbackUrl"].split(";")[0].strip()
            template = cb["callbackBody"]
        except (ValueError, KeyError, TypeError):
            raise OssError(400, "InvalidArgument", "The callback configuration is not json format.")
        if not common.loopback_only(url):
            # The emulator never calls anything but loopback; a real OSS would try the URL.
            return 203, error_xml("CallbackFailed", "Error status : -1. not a loopback URL"), "application/xml"
        body_type = cb.get("callbackBodyType", "application/x-www-form-urlencoded")
        variables = {}
        if var_b64:
            try:
                variables = json.loads(base64.b64decode(var_b64, validate=True))
            except ValueError:
                raise OssError(400, "InvalidArgument", "The callback-var is not json format.")
        variables.update(values.get("form_vars", {}))
        system = {"bucket": values["bucket"], "object": values["key"], "etag": values["etag"],
                  "size": str(values["size"]), "mimeType": values["mime_type"] or ""}

        def substitute(m):
            name = m.group(1)
            value = system.get(name, variables.get(name, ""))
            if body_type == "application/json":
                return json.dumps(value)[1:-1]
            return urllib.parse.quote(str(value), safe="")

        body = re.sub(r"\$\{([^}]*)\}", substitute, template).encode()
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        to_sign = unq(path).encode() + (b"?" + parts.query.encode() if parts.query else b"") + b"\n" + body
        signature = self.rsa_key.sign(to_sign, padding.PKCS1v15(), hashes.MD5())
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": body_type,
            "authorization": base64.b64encode(signature).decode(),
            "x-oss-pub-key-url": base64.b64encode((self.base_url + KEY_PATH).encode()).decode(),
        })
        if cb.get("callbackHost"):
            request.add_header("Host", cb["callbackHost"])
        try:
            with urllib.request.urlopen(request, timeout=self.callback_timeout) as resp:
                answer = resp.read(3 << 20)
                status = resp.status
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read(3 << 20)
        except (urllib.error.URLError, OSError) as e:
            return 203, error_xml("CallbackFailed", f"Error status : -1. {type(e).__name__}"), "application/xml"
        if status != 200:
            return 203, error_xml("CallbackFailed", f"Response body is not valid json format. Error status : {status}."), "application/xml"
        try:
            json.loads(answer)
        except ValueError:
            return 203, error_xml("CallbackFailed", "Response body is not valid json format."), "application/xml"
        return 200, answer, "application/json"


def error_xml(code, message, extra=None):
    extra_xml = "".join(f"<{k}>{v}</{k}>" for k, v in (extra or {}).items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"{extra_xml}<RequestId>{secrets.token_hex(12).upper()}</RequestId><HostId>127.0.0.1</HostId></Error>").encode()


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_multipart(body, content_type):
    """(fields, file_bytes, file_content_type) of a multipart/form-data body; the file must be the last part."""
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not m:
        raise OssError(400, "InvalidArgument", "multipart/form-data boundary missing")
    delimiter = b"--" + m.group(1).encode()
    fields, file_data, file_type, seen_file = {}, None, None, False
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, value = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise OssError(400, "MalformedPOSTRequest", "bad multipart part")
        if value.endswith(b"\r\n"):
            value = value[:-2]
        disposition = re.search(rb'name="([^"]*)"', head)
        if not disposition:
            raise OssError(400, "MalformedPOSTRequest", "part without name")
        name = disposition.group(1).decode()
        if seen_file:
            raise OssError(400, "MalformedPOSTRequest", "the file field must be the last")
        if name == "file":
            seen_file, file_data = True, value
            ctype = re.search(rb"(?im)^content-type:\s*([^\r\n]+)", head)
            file_type = ctype.group(1).decode().strip() if ctype else None
        else:
            fields[name] = value.decode()
    if file_data is None:
        raise OssError(400, "InvalidArgument", "form lacks the file field")
    return fields, file_data, file_type


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS-emulator"

    def log_message(self, fmt, *args):
        # Method, path and status only: the query of a presigned URL carries its signature.
        line, path = fmt % args, getattr(self, "path", "")
        if path:
            line = line.replace(path, urllib.parse.urlsplit(path).path)
        sys.stderr.write("oss-emulator: " + line + "\n")

    @property
    def emu(self):
        return self.server.emulator

    def send(self, status, body=b"", content_type="application/xml", headers=None):
        self.send_response(status)
        self.send_header("x-oss-request-id", secrets.token_hex(12).upper())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def fail(self, e):
        self.send(e.status, b"" if self.command == "HEAD" else error_xml(e.code, xml_escape(e.message), e.extra))

    def drain(self):
        """Reads and discards what is left of a refused body (bounded) so the connection stays usable."""
        if self.body_read:
            return
        self.body_read = True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = self.emu.max_body + 1
        if length > self.emu.max_body:
            self.close_connection = True
            return
        while length > 0:
            got = self.rfile.read(min(CHUNK, length))
            if not got:
                break
            length -= len(got)

    def dispatch(self):
        split = urllib.parse.urlsplit(self.path)
        raw_path, raw_query = split.path, split.query
        if raw_path == "/__emulator/health":
            return self.send(200, b"ok", "text/plain")
        if raw_path == KEY_PATH and self.command == "GET":
            return self.send(200, self.emu.public_pem, "application/x-pem-file")
        segments = raw_path.lstrip("/").split("/", 1)
        bucket = unq(segments[0])
        key = unq(segments[1]) if len(segments) > 1 else ""
        if not bucket:
            raise OssError(400, "InvalidBucketName", "path-style requests only: /<bucket>/<key>")
        query = {unq(k): unq(v) for k, v in raw_query_pairs(raw_query)}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.command == "POST" and not key and (headers.get("content-type") or "").startswith("multipart/form-data"):
            return self.post_object(bucket, headers)
        self.emu.verify(self.command, raw_path, raw_query, dict(self.headers.items()), bucket, key or None)
        if not key:
            raise OssError(400, "InvalidArgument", "bucket operations are not emulated")
        if self.command == "PUT" and "uploadId" in query:
            return self.upload_part(bucket, key, query, headers)
        if self.command == "PUT":
            return self.put_object(bucket, key, headers)
        if self.command in ("GET", "HEAD") and "uploadId" in query:
            return self.list_parts(bucket, key, query)
        if self.command in ("GET", "HEAD"):
            return self.get_object(bucket, key, query)
        if self.command == "POST" and "uploads" in query:
            return self.initiate(bucket, key, headers)
        if self.command == "POST" and "uploadId" in query:
            return self.complete(bucket, key, query, headers)
        if self.command == "DELETE" and "uploadId" in query:
            shutil.rmtree(self.emu.upload_dir(query["uploadId"]))
            return self.send(204)
        raise OssError(405, "MethodNotAllowed", "operation not emulated")

    def handle_any(self):
        self.body_read = False
        try:
            self.dispatch()
        except OssError as e:
            self.drain()
            self.fail(e)
        except Exception as e:  # a bug in the emulator must still answer
            sys.stderr.write(f"oss-emulator: internal error {e!r}\n")
            self.close_connection = True
            self.fail(OssError(500, "InternalError", "emulator error"))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    # ---- operations -------------------------------------------------------------------------------------
    def body_to_file(self, limit):
        """Streams the request body to a temp file; returns (path, size, md5)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise OssError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise OssError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if length > limit:
            raise OssError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
        self.body_read = True
        path, md5, left = self.emu.tmp_file(), hashlib.md5(), length
        with open(path, "wb") as f:
            while left > 0:
                got = self.rfile.read(min(CHUNK, left))
                if not got:
                    break
                f.write(got)
                md5.update(got)
                left -= len(got)
        if left:
            os.unlink(path)
            raise OssError(400, "IncompleteBody", "body shorter than Content-Length")
        return path, length, md5

    def finish_upload(self, bucket, key, etag, size, content_type, callback, callback_var, form_vars=None,
                      ok_status=200):
        headers = {"ETag": f'"{etag}"'}
        if callback:
            status, body, ctype = self.emu.run_callback(callback, callback_var, {
                "bucket": bucket, "key": key, "etag": etag, "size": size, "mime_type": content_type,
                "form_vars": form_vars or {}})
            return self.send(status, body, ctype, headers)
        return self.send(ok_status, headers=headers)

    def put_object(self, bucket, key, headers):
        if headers.get("x-oss-forbid-overwrite", "").lower() == "true" and self.emu.exists(bucket, key):
            raise OssError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
        path, size, md5 = self.body_to_file(min(self.emu.max_body, MAX_PART))
        etag = md5.hexdigest().upper()
        self.emu.store(bucket, key, path, size, etag, headers.get("content-type"))
        self.finish_upload(bucket, key, etag, size, headers.get("content-type"),
                           headers.get("x-oss-callback"), headers.get("x-oss-callback-var"))

    def post_object(self, bucket, headers):
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            raise OssError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if length > min(self.emu.max_form, self.emu.max_body):
            raise OssError(400, "EntityTooLarge", "form too large for the emulator")
        self.body_read = True
        body = self.rfile.read(length)
        fields, data, file_type = parse_multipart(body, headers.get("content-type"))
        key = self.emu.verify_post(bucket, fields, len(data))
        if "${filename}" in key:
            key = key.replace("${filename}", "file")
        if not key:
            raise OssError(400, "InvalidArgument", "empty key")
        if fields.get("x-oss-forbid-overwrite", "").lower() == "true" and self.emu.exists(bucket, key):
            raise OssError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
        path = self.emu.tmp_file()
        with open(path, "wb") as f:
            f.write(data)
        etag = hashlib.md5(data).hexdigest().upper()
        content_type = fields.get("Content-Type") or file_type
        self.emu.store(bucket, key, path, len(data), etag, content_type)
        status = {"200": 200, "201": 201}.get(fields.get("success_action_status", ""), 204)
        form_vars = {k: v for k, v in fields.items() if k.startswith("x:")}
        self.finish_upload(bucket, key, etag, len(data), content_type, fields.get("callback"),
                           fields.get("callback-var"), form_vars, ok_status=status)

    def get_object(self, bucket, key, query):
        meta = self.emu.get_meta(bucket, key)
        if meta is None:
            raise OssError(404, "NoSuchKey", "The specified key does not exist.")
        data_path, _ = self.emu._obj_paths(bucket, key)
        headers = {"ETag": f'"{meta["etag"]}"', "Last-Modified": meta["last_modified"]}
        if query.get("response-content-disposition"):
            headers["Content-Disposition"] = query["response-content-disposition"]
        ctype = query.get("response-content-type") or meta["content_type"]
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(meta["size"]))
        self.end_headers()
        if self.command == "GET":
            with open(data_path, "rb") as f:
                shutil.copyfileobj(f, self.wfile, CHUNK)

    def initiate(self, bucket, key, headers):
        if headers.get("x-oss-forbid-overwrite", "").lower() == "true" and self.emu.exists(bucket, key):
            raise OssError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
        upload_id = secrets.token_hex(16).upper()
        path = os.path.join(self.emu.data, "uploads", upload_id)
        os.makedirs(path)
        with open(os.path.join(path, "upload.json"), "w") as f:
            json.dump({"bucket": bucket, "key": key, "content_type": headers.get("content-type")}, f)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult><Bucket>{xml_escape(bucket)}'
                f"</Bucket><Key>{xml_escape(key)}</Key><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>")
        self.send(200, body.encode())

    def upload_meta(self, bucket, key, upload_id):
        path = self.emu.upload_dir(upload_id)
        with open(os.path.join(path, "upload.json")) as f:
            meta = json.load(f)
        if (meta["bucket"], meta["key"]) != (bucket, key):
            raise OssError(404, "NoSuchUpload", "The specified upload does not exist.")
        return path, meta

    def upload_part(self, bucket, key, query, headers):
        path, _ = self.upload_meta(bucket, key, query["uploadId"])
        try:
            number = int(query.get("partNumber", ""))
        except ValueError:
            raise OssError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.")
        if not 1 <= number <= MAX_PARTS:
            raise OssError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.")
        tmp, size, md5 = self.body_to_file(min(self.emu.max_body, MAX_PART))
        etag = md5.hexdigest().upper()
        os.replace(tmp, os.path.join(path, f"{number:05d}.part"))
        with open(os.path.join(path, f"{number:05d}.json"), "w") as f:
            json.dump({"etag": etag, "size": size, "md5": md5.hexdigest(),
                       "last_modified": utcnow().strftime("%Y-%m-%dT%H:%M:%S.000Z")}, f)
        self.send(200, headers={"ETag": f'"{etag}"'})

    def parts(self, path):
        out = {}
        for name in sorted(os.listdir(path)):
            if name.endswith(".json") and name != "upload.json":
                with open(os.path.join(path, name)) as f:
                    out[int(name[:5])] = json.load(f)
        return out

    def list_parts(self, bucket, key, query):
        path, _ = self.upload_meta(bucket, key, query["uploadId"])
        try:
            max_parts = min(int(query.get("max-parts", "1000")), 1000)
            marker = int(query.get("part-number-marker", "0") or 0)
        except ValueError:
            raise OssError(400, "InvalidArgument", "bad max-parts or part-number-marker")
        if max_parts < 1:
            raise OssError(400, "InvalidArgument", "max-parts must be positive")
        numbers = [n for n in sorted(self.parts(path)) if n > marker]
        page, truncated = numbers[:max_parts], len(numbers) > max_parts
        parts = self.parts(path)
        items = "".join(
            f"<Part><PartNumber>{n}</PartNumber><LastModified>{parts[n]['last_modified']}</LastModified>"
            f"<ETag>\"{parts[n]['etag']}\"</ETag><Size>{parts[n]['size']}</Size></Part>" for n in page)
        next_marker = page[-1] if page else marker
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult><Bucket>{xml_escape(bucket)}</Bucket>'
                f"<Key>{xml_escape(key)}</Key><UploadId>{query['uploadId']}</UploadId>"
                f"<PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
                f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
                f"{items}</ListPartsResult>")
        self.send(200, body.encode())

    def complete(self, bucket, key, query, headers):
        path, meta = self.upload_meta(bucket, key, query["uploadId"])
        length = int(headers.get("content-length") or 0)
        if length > (4 << 20):
            raise OssError(400, "InvalidArgument", "Complete body too large")
        self.body_read = True
        body = self.rfile.read(length).decode("utf-8", "replace")
        listed = [(int(n), e.strip()) for n, e in re.findall(
            r"<Part>\s*<PartNumber>\s*(\d+)\s*</PartNumber>\s*<ETag>(.*?)</ETag>\s*</Part>", body, re.S)]
        if not listed:
            raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.")
        numbers = [n for n, _ in listed]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        stored = self.parts(path)
        for n, etag in listed:
            got = etag.replace("&quot;", '"').strip('"').upper()
            if n not in stored or stored[n]["etag"] != got:
                raise OssError(400, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")
        for n, _ in listed[:-1]:
            if stored[n]["size"] < MIN_PART:
                raise OssError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.",
                               {"PartNumber": n, "MinSizeAllowed": MIN_PART})
        if headers.get("x-oss-forbid-overwrite", "").lower() == "true" and self.emu.exists(bucket, key):
            raise OssError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
        tmp, size, digest = self.emu.tmp_file(), 0, hashlib.md5()
        with open(tmp, "wb") as out:
            for n, _ in listed:
                with open(os.path.join(path, f"{n:05d}.part"), "rb") as f:
                    shutil.copyfileobj(f, out, CHUNK)
                size += stored[n]["size"]
                digest.update(bytes.fromhex(stored[n]["md5"]))
        etag = f"{digest.hexdigest().upper()}-{len(listed)}"
        content_type = meta.get("content_type") or "application/octet-stream"
        self.emu.store(bucket, key, tmp, size, etag, content_type)
        shutil.rmtree(path)
        if headers.get("x-oss-callback"):
            return self.finish_upload(bucket, key, etag, size, content_type, headers.get("x-oss-callback"),
                                      headers.get("x-oss-callback-var"))
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult><Location>/{xml_escape(bucket)}/'
                f"{xml_escape(key)}</Location><Bucket>{xml_escape(bucket)}</Bucket><Key>{xml_escape(key)}</Key>"
                f"<ETag>\"{etag}\"</ETag></CompleteMultipartUploadResult>")
        self.send(200, body.encode(), headers={"ETag": f'"{etag}"'})


def main(argv=None):
    p = common.base_arguments(
        "Aliyun OSS emulator (V4 signatures checked by alibabacloud-oss-v2)",
        "OSS_EMU_",
        {
            "region": ("REGION", "cn-hangzhou", "region of the credential scope"),
            "access-key-id": ("ACCESS_KEY_ID", "PBTESTOSSACCESSKEY01", "AccessKey id"),
            "access-key-secret": ("ACCESS_KEY_SECRET", "pbtest/oss+secret0000000000000000", "AccessKey secret"),
            "security-token": ("SECURITY_TOKEN", None, "STS token every request must carry (none by default)"),
        },
    )
    p.add_argument("--max-body", type=int, default=256 << 20, help="largest object or part body")
    p.add_argument("--callback-timeout", type=float, default=5.0, help="seconds to wait for a callback answer")
    args = p.parse_args(argv)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.emulator = Emulator(args)
    port = server.server_address[1]
    server.emulator.base_url = f"http://127.0.0.1:{port}"
    print(f"ready on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
