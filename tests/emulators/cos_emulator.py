"""Tencent COS emulator for tests: one bucket, path-style `http://127.0.0.1:PORT/<key>`, objects on disk.

Every request signature (presigned query or `Authorization` header) is recomputed with
cos-python-sdk-v5's own `qcloud_cos.cos_auth.CosS3Auth` from what was received (method, decoded
path, the params named in q-url-param-list, the headers named in q-header-list) and compared in
constant time. The POST-policy signature is computed with hmac/hashlib following the COS POST Object
doc's algorithm, because the SDK has no POST-policy signer (checked against the doc's published
example in test_cos_emulator.py).

Run: python cos_emulator.py PORT DATA_DIR --bucket examplebucket-1250000000 --region ap-guangzhou \
        --secret-id AKID... --secret-key ...
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import threading
import time
from datetime import datetime, timezone
from email.utils import formatdate
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import qcloud_cos.cos_auth as cos_auth
from qcloud_cos import CosConfig

import emu_common as common
from emu_common import HttpError, MIB

MAX_OBJECT = 5 * 1024 * MIB  # PUT Object / UploadPart / POST Object limit: 5 GB
MIN_PART = 1 * MIB  # every part but the last, checked at Complete
MAX_PARTS = 10000
MAX_LIST_PARTS = 1000

# --- the SDK's signer, driven at the time the client chose -----------------------------------
# CosS3Auth reads the clock itself (start = now - 60, end = now + expire). A thread-local clock
# lets each request thread replay the client's q-sign-time exactly, without a global patch race.
_clock = threading.local()


class _ThreadClock:
    def time(self):
        value = getattr(_clock, "now", None)
        return time.time() if value is None else value

    def __getattr__(self, name):
        return getattr(time, name)


cos_auth.time = _ThreadClock()
# The SDK drops headers outside its whitelist before signing (e.g. `date`); COS itself verifies
# exactly the headers listed in q-header-list, which is all this emulator passes in.
cos_auth.filter_headers = lambda headers: dict(headers)


class _Request:
    """The three attributes CosS3Auth reads from a requests.PreparedRequest."""

    def __init__(self, method, url, headers):
        self.method = method
        self.url = url
        self.headers = headers


def sdk_signature(secret_id, secret_key, method, path, params, headers, key_time):
    """The q-signature cos-python-sdk-v5 computes for this request at `key_time` ("start;end")."""
    start, end = (int(x) for x in key_time.split(";"))
    conf = CosConfig(Region="ap-guangzhou", SecretId=secret_id, SecretKey=secret_key)
    auth = cos_auth.CosS3Auth(conf, path, params=params, expire=end - start - 60, sign_host=False)
    _clock.now = float(start + 60)
    try:
        signed = auth(_Request(method, "http://emulator" + quote(path), dict(headers)))
    finally:
        _clock.now = None
    fields = dict(item.split("=", 1) for item in signed.headers["Authorization"].split("&"))
    return fields


def post_policy_signature(secret_key, key_time, policy_bytes):
    """COS POST Object doc, "Signature protection": HMAC-SHA1(hex(HMAC-SHA1(SK, KeyTime)), hex(SHA1(policy)))."""
    sign_key = hmac.new(secret_key.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    string_to_sign = hashlib.sha1(policy_bytes).hexdigest()
    return hmac.new(sign_key.encode(), string_to_sign.encode(), hashlib.sha1).hexdigest()


def url_encode(value):
    """COS UrlEncode: keep only A-Za-z0-9-_.~ (how names in q-header-list/q-url-param-list are formed)."""
    return quote(value.encode("utf-8"), safe="-_.~")


def error_xml(code, message, resource, request_id):
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n<Error>"
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId>"
        "<TraceId>emulator</TraceId></Error>"
    ).encode()


def quoted_etag(md5_bytes):
    return '"' + md5_bytes.hex() + '"'


def multipart_etag(part_etags):
    digest = hashlib.md5(b"".join(binascii.unhexlify(e) for e in part_etags)).hexdigest()
    return f'"{digest}-{len(part_etags)}"'


class State:
    def __init__(self, args):
        self.bucket = args.bucket
        self.region = args.region
        self.secret_id = args.secret_id
        self.secret_key = args.secret_key
        self.max_form_bytes = args.max_form_bytes
        self.store = common.ObjectStore(args.data_dir)
        self.port = args.port
        self.extra_hosts = set(args.host_alias or [])

    def accepted_hosts(self):
        return {
            f"127.0.0.1:{self.port}",
            f"localhost:{self.port}",
            f"{self.bucket}.cos.{self.region}.myqcloud.com",
        } | self.extra_hosts


class Handler(common.QuietHandler):
    state = None

    # --- plumbing ---------------------------------------------------------------------------
    def handle_any(self):
        s = self.state
        self.body_consumed = False
        self.request_id = common.new_request_id()
        parts = urlsplit(self.path)
        self.raw_path = parts.path or "/"
        self.query = parse_qsl(parts.query, keep_blank_values=True)
        self.qdict = {k: v for k, v in self.query}
        self.object_path = unquote(self.raw_path, errors="replace")
        self.key = self.object_path[1:]
        try:
            unquote(self.raw_path, encoding="utf-8", errors="strict")
            host = self.headers.get("Host", "")
            if host not in s.accepted_hosts():
                raise HttpError(404, "NoSuchBucket", "The specified bucket does not exist.")
            self.route()
        except HttpError as e:
            self.send_error_xml(e)
        except common.BodyTooLarge as e:
            self.send_error_xml(HttpError(400, "EntityTooLarge", str(e)))
        except common.MissingLength as e:
            self.send_error_xml(HttpError(411, "MissingContentLength", str(e)))
        except UnicodeDecodeError:
            self.send_error_xml(HttpError(400, "InvalidURI", "the path is not UTF-8"))
        except Exception as e:  # a bug here must show up as a 500 in the test, not a dropped connection
            common.log_exception(e)
            self.send_error_xml(HttpError(500, "InternalError", "emulator internal error"))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def send_error_xml(self, e):
        self.send_bytes(
            e.status,
            error_xml(e.code, e.message, self.raw_path, self.request_id),
            "application/xml",
            dict(e.headers, **{"x-cos-request-id": self.request_id}),
        )

    def reply(self, status, body=b"", content_type=None, headers=None):
        self.send_bytes(status, body, content_type, dict(headers or {}, **{"x-cos-request-id": self.request_id}))

    def route(self):
        m, q = self.command, self.qdict
        if m == "POST" and self.raw_path == "/" and "multipart/form-data" in self.headers.get("Content-Type", ""):
            return self.post_object()
        self.verify_request_signature()
        if not self.key:
            raise HttpError(400, "InvalidRequest", "bucket-level operations are not emulated")
        if m == "POST" and "uploads" in q:
            return self.initiate()
        if "uploadId" in q:
            handler = {
                "PUT": self.upload_part,
                "GET": self.list_parts,
                "POST": self.complete,
                "DELETE": self.abort,
            }.get(m)
            if handler is None:
                raise HttpError(405, "MethodNotAllowed", "method not allowed with uploadId")
            return handler()
        handler = {
            "PUT": self.put_object,
            "GET": self.get_object,
            "HEAD": self.get_object,
            "DELETE": self.delete_object,
        }.get(m)
        if handler is None:
            raise HttpError(405, "MethodNotAllowed", "method not allowed")
        return handler()

    # --- request signature ------------------------------------------------------------------
    def verify_request_signature(self):
        s = self.state
        header = self.headers.get("Authorization")
        if header:
            auth = dict(item.split("=", 1) for item in header.split("&") if "=" in item)
            query_auth = False
        elif "q-signature" in self.qdict:
            auth = {k: v for k, v in self.query if k.startswith("q-")}
            query_auth = True
        else:
            raise HttpError(403, "AccessDenied", "Access Denied. (anonymous request on a private bucket)")
        required = ["q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list", "q-signature"]
        missing = [k for k in required if k not in auth]
        if missing:
            raise HttpError(403, "AccessDenied", "Authorization is missing " + ", ".join(missing))
        if auth["q-sign-algorithm"] != "sha1":
            raise HttpError(400, "InvalidArgument", "q-sign-algorithm must be sha1")
        if not hmac.compare_digest(auth["q-ak"].encode(), s.secret_id.encode()):
            raise HttpError(403, "InvalidAccessKeyId", "The access key Id format you provided is invalid.")
        key_time = auth["q-key-time"]
        if not re.fullmatch(r"\d{1,12};\d{1,12}", key_time) or auth["q-sign-time"] != key_time:
            raise HttpError(403, "AccessDenied", "q-sign-time/q-key-time malformed or different")
        start, end = (int(x) for x in key_time.split(";"))
        now = int(time.time())
        if now > end:
            raise HttpError(403, "AccessDenied", "Request has expired")
        if now < start:
            raise HttpError(403, "AccessDenied", "Request is not yet valid (q-sign-time starts in the future)")

        header_names = [h for h in auth["q-header-list"].split(";") if h]
        signed_headers = {}
        for name in header_names:
            value = self.headers.get(name)
            if value is None:
                raise HttpError(403, "SignatureDoesNotMatch", f"signed header {name} was not sent")
            signed_headers[name] = value

        param_names = [p for p in auth["q-url-param-list"].split(";") if p]
        received = {}
        for k, v in self.query:
            if query_auth and k.startswith("q-"):
                continue
            received.setdefault(url_encode(k).lower(), (k, v))
        signed_params = {}
        for name in param_names:
            if name not in received:
                raise HttpError(403, "SignatureDoesNotMatch", f"signed parameter {name} was not sent")
            k, v = received[name]
            signed_params[k] = v

        expected = sdk_signature(
            s.secret_id, s.secret_key, self.command, self.object_path, signed_params, signed_headers, key_time
        )
        same_lists = (
            expected["q-header-list"] == ";".join(sorted(header_names))
            and expected["q-url-param-list"] == ";".join(sorted(param_names))
        )
        if not (same_lists and hmac.compare_digest(expected["q-signature"].encode(), auth["q-signature"].encode())):
            raise HttpError(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.")

    # --- objects ----------------------------------------------------------------------------
    def put_object(self):
        st = self.state.store
        temp = st.temp_path()
        try:
            _, md5 = common.stream_body_to_file(self, temp, MAX_OBJECT)
            self.check_content_md5(md5)
        except BaseException:
            _remove(temp)
            raise
        etag = quoted_etag(md5)
        content_type = self.headers.get("Content-Type") or "application/octet-stream"
        st.put_from_file(self.key, temp, {"etag": etag, "content_type": content_type})
        self.reply(200, headers={"ETag": etag})

    def check_content_md5(self, md5):
        claimed = self.headers.get("Content-MD5")
        if claimed is not None and claimed.strip() != base64.b64encode(md5).decode():
            raise HttpError(400, "BadDigest", "The Content-MD5 you specified did not match what was received.")

    def get_object(self):
        st = self.state.store
        meta = st.get_meta(self.key)
        if meta is None:
            raise HttpError(404, "NoSuchKey", "The specified key does not exist.")
        content_type = self.qdict.get("response-content-type") or meta["content_type"]
        headers = {
            "ETag": meta["etag"],
            "Last-Modified": formatdate(meta["put_time"], usegmt=True),
            "x-cos-request-id": self.request_id,
        }
        self.send_file(200, st.data_path(self.key), meta["size"], content_type, headers)

    def delete_object(self):
        self.state.store.delete(self.key)
        self.reply(204)

    # --- POST Object (form upload with a policy) --------------------------------------------
    def post_object(self):
        s = self.state
        body = common.read_body(self, s.max_form_bytes)
        try:
            parts = common.parse_multipart(body, self.headers.get("Content-Type"))
        except ValueError as e:
            raise HttpError(400, "MalformedPOSTRequest", str(e))
        fields, file_part = {}, None
        for part in parts:
            if part["name"] == "file":
                file_part = part
                break  # COS: `file` comes last; anything after it is ignored
            fields.setdefault(part["name"].lower(), part["data"].decode("utf-8", "replace"))
        if file_part is None:
            raise HttpError(400, "MalformedPOSTRequest", "the form has no file field")
        data = file_part["data"]
        key = fields.get("key")
        if not key:
            raise HttpError(400, "InvalidArgument", "the form has no key field")
        key = key.replace("${filename}", file_part["filename"] or "")
        for name in ("policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature"):
            if name not in fields:
                raise HttpError(403, "AccessDenied", f"the form has no {name} field")
        if fields["q-sign-algorithm"] != "sha1":
            raise HttpError(400, "InvalidArgument", "q-sign-algorithm must be sha1")
        if not hmac.compare_digest(fields["q-ak"].encode(), s.secret_id.encode()):
            raise HttpError(403, "InvalidAccessKeyId", "The access key Id format you provided is invalid.")
        try:
            policy_bytes = base64.b64decode(fields["policy"], validate=True)
            policy = json.loads(policy_bytes)
        except (ValueError, binascii.Error):
            raise HttpError(400, "InvalidPolicyDocument", "the policy is not base64 JSON")
        key_time = fields["q-key-time"]
        if not re.fullmatch(r"\d{1,12};\d{1,12}", key_time):
            raise HttpError(403, "AccessDenied", "q-key-time malformed")
        expected = post_policy_signature(s.secret_key, key_time, policy_bytes)
        if not hmac.compare_digest(expected.encode(), fields["q-signature"].encode()):
            raise HttpError(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.")
        self.check_policy(policy, fields, key, len(data), key_time)

        status = fields.get("success_action_status", "204")
        if status not in ("200", "201", "204"):
            status = "204"
        content_type = fields.get("content-type") or "application/octet-stream"
        md5 = hashlib.md5(data).digest()
        etag = quoted_etag(md5)
        s.store.put_bytes(key, data, {"etag": etag, "content_type": content_type})
        location = f"http://{self.headers.get('Host')}/{quote(key.encode(), safe='/-_.~')}"
        headers = {"ETag": etag, "Location": location}
        if status == "201":
            xml = (
                "<?xml version='1.0' encoding='utf-8' ?>\n<PostResponse>"
                f"<Location>{escape(location)}</Location><Bucket>{escape(s.bucket)}</Bucket>"
                f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
            ).encode()
            self.reply(201, xml, "application/xml", headers)
        else:
            self.reply(int(status), headers=headers)

    def check_policy(self, policy, fields, key, size, key_time):
        s = self.state

        def deny(why):
            raise HttpError(403, "AccessDenied", "Invalid according to Policy: " + why)

        if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
            raise HttpError(400, "InvalidPolicyDocument", "the policy has no conditions list")
        expiration = policy.get("expiration")
        try:
            expires_at = datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
        except ValueError:
            raise HttpError(400, "InvalidPolicyDocument", "the policy expiration is not ISO 8601")
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)
        if datetime.now(timezone.utc) > expires_at:
            deny("Policy expired.")
        start, end = (int(x) for x in key_time.split(";"))
        now = int(time.time())
        if now > end:
            raise HttpError(403, "AccessDenied", "Request has expired")
        if now < start:
            raise HttpError(403, "AccessDenied", "Request is not yet valid (q-key-time starts in the future)")

        values = dict(fields)
        values["bucket"] = s.bucket
        values["key"] = key
        values["q-sign-time"] = fields.get("q-key-time")
        seen = set()
        for cond in policy["conditions"]:
            if isinstance(cond, dict) and len(cond) == 1:
                (name, expected), = cond.items()
                op, name = "eq", name
            elif isinstance(cond, list) and len(cond) == 3 and cond[0] in ("eq", "starts-with"):
                op, name, expected = cond
                if not isinstance(name, str) or not name.startswith("$"):
                    raise HttpError(400, "InvalidPolicyDocument", f"bad condition {cond!r}")
                name = name[1:]
            elif isinstance(cond, list) and len(cond) == 3 and cond[0] == "content-length-range":
                low, high = cond[1], cond[2]
                if not all(isinstance(v, int) for v in (low, high)):
                    raise HttpError(400, "InvalidPolicyDocument", "content-length-range needs integers")
                if size > high:
                    raise HttpError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                if size < low:
                    raise HttpError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
                continue
            else:
                raise HttpError(400, "InvalidPolicyDocument", f"unknown condition {cond!r}")
            lname = name.lower()
            seen.add(lname)
            actual = values.get(lname)
            if actual is None:
                deny(f"Policy Condition failed: [{op!r}, '${name}', ...] (the form has no {name})")
            expected = str(expected)
            ok = actual == expected if op == "eq" else actual.startswith(expected)
            if not ok:
                deny(f"Policy Condition failed: [{op!r}, '${name}', {expected!r}]")
        for name in ("q-sign-algorithm", "q-ak", "q-sign-time"):
            if name not in seen:
                deny(f"the policy must contain the {name} condition")

    # --- multipart ---------------------------------------------------------------------------
    def initiate(self):
        s = self.state
        content_type = self.headers.get("Content-Type") or "application/octet-stream"
        upload_id = s.store.new_upload({"key": self.key, "content_type": content_type, "initiated": time.time()})
        xml = (
            "<?xml version='1.0' encoding='utf-8' ?>\n<InitiateMultipartUploadResult>"
            f"<Bucket>{escape(s.bucket)}</Bucket><Key>{escape(self.key)}</Key>"
            f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>"
        ).encode()
        self.reply(200, xml, "application/xml")

    def upload_meta(self):
        upload_id = self.qdict.get("uploadId", "")
        meta = self.state.store.upload_meta(upload_id)
        if meta is None or meta["key"] != self.key:
            raise HttpError(404, "NoSuchUpload", "The specified upload does not exist.")
        return upload_id, meta

    def upload_part(self):
        st = self.state.store
        upload_id, _ = self.upload_meta()
        number = self.qdict.get("partNumber", "")
        if not re.fullmatch(r"\d{1,5}", number) or not 1 <= int(number) <= MAX_PARTS:
            raise HttpError(400, "InvalidArgument", "partNumber must be 1..10000")
        temp = st.temp_path()
        try:
            _, md5 = common.stream_body_to_file(self, temp, MAX_OBJECT)
            self.check_content_md5(md5)
        except BaseException:
            _remove(temp)
            raise
        if not st.put_part(upload_id, int(number), temp, {"etag": md5.hex()}):
            raise HttpError(404, "NoSuchUpload", "The specified upload does not exist.")
        self.reply(200, headers={"ETag": quoted_etag(md5)})

    def list_parts(self):
        s = self.state
        upload_id, _ = self.upload_meta()
        try:
            max_parts = int(self.qdict.get("max-parts", MAX_LIST_PARTS))
            marker = int(self.qdict.get("part-number-marker", 0) or 0)
        except ValueError:
            raise HttpError(400, "InvalidArgument", "max-parts and part-number-marker must be integers")
        if max_parts < 1:
            raise HttpError(400, "InvalidArgument", "max-parts must be positive")
        max_parts = min(max_parts, MAX_LIST_PARTS)
        parts = [p for p in s.store.parts(upload_id) or [] if p["number"] > marker]
        page, truncated = parts[:max_parts], len(parts) > max_parts
        next_marker = page[-1]["number"] if page else marker
        url_encoding = self.qdict.get("encoding-type") == "url"
        key = quote(self.key.encode(), safe="-_.~/") if url_encoding else self.key
        rows = "".join(
            f"<Part><PartNumber>{p['number']}</PartNumber>"
            f"<LastModified>{datetime.fromtimestamp(p['put_time'], timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
            f"<ETag>&quot;{p['etag']}&quot;</ETag><Size>{p['size']}</Size></Part>"
            for p in page
        )
        xml = (
            "<?xml version='1.0' encoding='utf-8' ?>\n<ListPartsResult>"
            f"<Bucket>{escape(s.bucket)}</Bucket>"
            + ("<Encoding-type>url</Encoding-type>" if url_encoding else "")
            + f"<Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            f"<Initiator><ID>emulator</ID><DisplayName>emulator</DisplayName></Initiator>"
            f"<Owner><ID>emulator</ID><DisplayName>emulator</DisplayName></Owner>"
            f"<PartNumberMarker>{marker}</PartNumberMarker>{rows}"
            f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
            f"<StorageClass>STANDARD</StorageClass><MaxParts>{max_parts}</MaxParts>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated></ListPartsResult>"
        ).encode()
        self.reply(200, xml, "application/xml")

    def complete(self):
        s = self.state
        upload_id, meta = self.upload_meta()
        body = common.read_body(self, common.MAX_DOCUMENT_BYTES)
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            raise HttpError(400, "MalformedXML", "The XML you provided was not well-formed")
        requested = []
        for part in root.findall("Part"):
            number, etag = part.findtext("PartNumber"), part.findtext("ETag")
            if number is None or etag is None or not number.strip().isdigit():
                raise HttpError(400, "MalformedXML", "each Part needs PartNumber and ETag")
            requested.append((int(number), etag.strip().strip('"')))
        if root.tag != "CompleteMultipartUpload" or not requested:
            raise HttpError(400, "MalformedXML", "CompleteMultipartUpload with at least one Part expected")
        numbers = [n for n, _ in requested]
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise HttpError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        stored = {p["number"]: p for p in s.store.parts(upload_id) or []}
        for number, etag in requested:
            p = stored.get(number)
            if p is None or not hmac.compare_digest(p["etag"].encode(), etag.encode()):
                raise HttpError(400, "InvalidPart", f"part {number} was not uploaded or its ETag does not match")
        for number, _ in requested[:-1]:
            if stored[number]["size"] < MIN_PART:
                raise HttpError(400, "EntityTooSmall", f"part {number} is smaller than the 1 MB minimum")
        temp = s.store.assemble(upload_id, numbers)
        etag = multipart_etag([e for _, e in requested])
        s.store.put_from_file(self.key, temp, {"etag": etag, "content_type": meta["content_type"]})
        s.store.drop_upload(upload_id)
        location = f"{s.bucket}.cos.{s.region}.myqcloud.com/{quote(self.key.encode(), safe='/-_.~')}"
        xml = (
            "<?xml version='1.0' encoding='utf-8' ?>\n<CompleteMultipartUploadResult>"
            f"<Location>{escape(location)}</Location><Bucket>{escape(s.bucket)}</Bucket>"
            f"<Key>{escape(self.key)}</Key><ETag>{escape(etag)}</ETag></CompleteMultipartUploadResult>"
        ).encode()
        self.reply(200, xml, "application/xml")

    def abort(self):
        upload_id, _ = self.upload_meta()
        self.state.store.drop_upload(upload_id)
        self.reply(204)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def main(argv=None):
    parser = common.base_arguments(
        "Tencent COS emulator (signatures verified with cos-python-sdk-v5)",
        "COS_EMU_",
        {
            "bucket": ("BUCKET", "examplebucket-1250000000", "bucket name with its APPID"),
            "region": ("REGION", "ap-guangzhou", "region"),
            "secret-id": ("SECRET_ID", "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", "SecretId"),
            "secret-key": ("SECRET_KEY", "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz", "SecretKey"),
        },
    )
    # A proxy in front (the JS client's fault proxy) forwards its own Host, which the signatures bind.
    parser.add_argument("--host-alias", action="append", metavar="HOST:PORT", help="another accepted Host value")
    args = parser.parse_args(argv)
    common.serve(Handler, args.port, State(args))


if __name__ == "__main__":
    main()
