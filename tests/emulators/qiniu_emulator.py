"""Qiniu Kodo emulator for tests: one bucket; the upload host, the rs (stat) host and the private
download domain are all this one server. Objects are kept on disk.

Verification uses the `qiniu` SDK's own code:
  * upload tokens: `Auth.token` over the received encoded put policy (the HMAC that
    `Auth.token_with_data` / `upload_token` produce), compared in constant time; the policy is
    decoded with `qiniu.utils.urlsafe_base64_decode`;
  * stat: `QiniuMacAuth.token_of_request` (`Qiniu` scheme) or `Auth.token_of_request` (`QBox`);
  * private download URLs: `Auth.token` over `<url>?e=<deadline>` (what `private_download_url` signs);
  * object hashes: `qiniu.utils.etag_stream` (qetag);
  * callbacks it sends are signed with `Auth.token_of_request` (QBox) or `QiniuMacAuth.token_of_request` (Qiniu).

Run: python qiniu_emulator.py PORT DATA_DIR --bucket my-bucket --access-key AK --secret-key SK
"""

import binascii
import calendar
import hmac
import itertools
import json
import mimetypes
import os
import re
import threading
import time
import zlib
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests
from qiniu import Auth, QiniuMacAuth
from qiniu.utils import canonical_mime_header_key, etag_stream, urlsafe_base64_decode

import emu_common as common
from emu_common import HttpError, MIB

MIN_PART = 1 * MIB  # every part but the last, checked at complete
MAX_PART = 1024 * MIB
MAX_PARTS = 10000
MAX_LIST_PARTS = 1000
UPLOAD_ID_LIFETIME = 7 * 24 * 3600
# How far X-Qiniu-Date may be from the emulator's clock on a signed management call.
DATE_SKEW = 15 * 60
CALLBACK_TIMEOUT = 10
FORM = "application/x-www-form-urlencoded"

# Content sniffing for detectMime: leading bytes → MIME type (the common types a mini-program uploads).
MAGIC = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/x-gzip"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
]


def sniff(head):
    """The MIME type read from the first bytes, None when unknown."""
    for magic, mime in MAGIC:
        if head.startswith(magic):
            return mime
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if head[:5].lower() in (b"<!doc", b"<html"):
        return "text/html"
    if head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            # a multi-byte character may be cut at the end of the sample
            try:
                text = head[:-3].decode("utf-8")
            except UnicodeDecodeError:
                return None
        if all(c.isprintable() or c in "\r\n\t" for c in text):
            return "text/plain"
    return None


def by_extension(name):
    if not name:
        return None
    mime, _ = mimetypes.guess_type(name, strict=False)
    return mime


def detect_mime(policy, declared, fname, key, head):
    """The object's MIME type as Qiniu decides it (put-policy `detectMime`):
    -1 trust the client; 1 content first, then extensions; 0 (default) the client's type, then the
    file name's and the key's extension, then the content. application/octet-stream when nothing fits."""
    mode = policy.get("detectMime", 0)
    declared = declared if declared and declared != "application/octet-stream" else None
    if mode == -1:
        order = [declared]
    elif mode == 1:
        order = [sniff(head), by_extension(fname), by_extension(key)]
    else:
        order = [declared, by_extension(fname), by_extension(key), sniff(head)]
    return next((m for m in order if m), "application/octet-stream")


def mime_allowed(limit, mime):
    """`mimeLimit`: `;`-separated types, `type/*` wildcards; a leading `!` makes the list a deny-list."""
    deny = limit.startswith("!")
    patterns = [p.strip() for p in limit.lstrip("!").split(";") if p.strip()]

    def match(p):
        return p == mime or (p.endswith("/*") and mime.startswith(p[:-1]))

    hit = any(match(p) for p in patterns)
    return not hit if deny else hit


def qetag_of_file(path):
    with open(path, "rb") as f:
        return etag_stream(f)


class State:
    def __init__(self, args):
        self.bucket = args.bucket
        self.access_key = args.access_key
        self.auth = Auth(args.access_key, args.secret_key)
        self.mac = QiniuMacAuth(args.access_key, args.secret_key, disable_qiniu_timestamp_signature=True)
        self.max_form_bytes = args.max_form_bytes
        self.store = common.ObjectStore(args.data_dir)
        self.port = args.port
        scheme = args.callback_auth
        if scheme not in ("qbox", "qiniu", "alternate"):
            raise SystemExit("--callback-auth must be qbox, qiniu or alternate")
        self.callback_schemes = itertools.cycle(["qbox", "qiniu"]) if scheme == "alternate" else itertools.repeat(scheme)
        self.callback_lock = threading.Lock()

    def next_callback_scheme(self):
        with self.callback_lock:
            return next(self.callback_schemes)


def jerr(status, message):
    return HttpError(status, status, message)


def verify_upload_token(auth, access_key, bucket, token, now=None):
    """The put policy of a genuine, unexpired upload token for `bucket`, else an HttpError as Qiniu answers.

    The signature is recomputed with the SDK (`Auth.token` over the encoded policy exactly as received,
    which is the HMAC `Auth.token_with_data` / `upload_token` produce) and compared in constant time."""
    pieces = (token or "").split(":")
    if len(pieces) != 3:
        raise jerr(401, "bad token")
    ak, sign, encoded_policy = pieces
    if not hmac.compare_digest(ak.encode(), access_key.encode()):
        raise jerr(401, "bad token")
    expected = auth.token(encoded_policy)  # "AK:" + urlsafe_b64(HMAC-SHA1(SK, encodedPolicy))
    if not hmac.compare_digest(expected.encode(), f"{ak}:{sign}".encode()):
        raise jerr(401, "bad token")
    try:
        policy = json.loads(urlsafe_base64_decode(encoded_policy))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise jerr(401, "invalid put policy encoding")
    if not isinstance(policy, dict) or not isinstance(policy.get("scope"), str):
        raise jerr(401, "invalid put policy encoding")
    for field in ("deadline", "insertOnly", "fsizeLimit", "fsizeMin", "detectMime", "isPrefixalScope"):
        if field in policy and (not isinstance(policy[field], int) or isinstance(policy[field], bool)):
            raise jerr(401, "invalid put policy encoding")
    if not isinstance(policy.get("deadline"), int):
        raise jerr(401, "invalid put policy encoding")
    if "forceSaveKey" in policy and not isinstance(policy["forceSaveKey"], bool):
        raise jerr(401, "invalid put policy encoding")
    if (time.time() if now is None else now) > policy["deadline"]:
        raise jerr(401, "expired token")
    if policy["scope"].split(":", 1)[0] != bucket:
        raise jerr(631, "no such bucket")
    return policy


def sign_callback(auth, mac, scheme, url, host, content_type, body):
    """The Authorization Qiniu puts on a callback: `QBox` (Auth.token_of_request: path?query + form body)
    or `Qiniu` (QiniuMacAuth.token_of_request: method, path?query, Host, Content-Type, body)."""
    if scheme == "qbox":
        return "QBox " + auth.token_of_request(url, body.decode("utf-8"), content_type)
    return "Qiniu " + mac.token_of_request("POST", host, url, "", content_type, body)


def private_url_token_ok(auth, signed_url, token):
    """`token` is what `Auth.private_download_url` appends to `signed_url` (`<url>?e=<deadline>`)."""
    return hmac.compare_digest(auth.token(signed_url).encode(), token.encode())


class Handler(common.QuietHandler):
    state = None

    def handle_any(self):
        self.body_consumed = False
        self.request_id = common.new_request_id()
        parts = urlsplit(self.path)
        self.raw_path = parts.path or "/"
        self.raw_query = parts.query
        self.qdict = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            self.route()
        except HttpError as e:
            self.send_json(e.status, {"error": e.message})
        except common.BodyTooLarge as e:
            self.send_json(413, {"error": str(e)})
        except common.MissingLength as e:
            self.send_json(411, {"error": str(e)})
        except Exception as e:  # a bug here must show up as a 500 in the test, not a dropped connection
            common.log_exception(e)
            self.send_json(500, {"error": "emulator internal error"})

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def send_json(self, status, value, headers=None):
        body = json.dumps(value, ensure_ascii=False).encode()
        self.send_bytes(status, body, "application/json", dict(headers or {}, **{"X-Reqid": self.request_id}))

    def route(self):
        m, path = self.command, self.raw_path
        v2 = re.fullmatch(r"/buckets/([^/]+)/objects/([^/]+)/uploads(?:/([^/]+)(?:/([^/]+))?)?", path)
        if v2:
            return self.resumable_v2(m, *v2.groups())
        if m == "POST" and path == "/":
            return self.form_upload()
        if m in ("GET", "HEAD") and "token" in self.qdict and "e" in self.qdict:
            return self.private_download()
        stat = re.fullmatch(r"/stat/([A-Za-z0-9_=-]+)", path)
        if m == "GET" and stat:
            return self.stat(stat.group(1))
        if m in ("GET", "HEAD"):
            raise jerr(401, "download token not specified")
        raise jerr(404, "no such route on this emulator")

    # --- upload tokens ------------------------------------------------------------------------
    def verify_upload_token(self, token):
        """The put policy of a genuine, unexpired token for this bucket (as data)."""
        s = self.state
        return verify_upload_token(s.auth, s.access_key, s.bucket, token)

    def scope_key(self, policy):
        scope = policy["scope"]
        return scope.split(":", 1)[1] if ":" in scope else None

    def check_key_in_scope(self, policy, key):
        """bucket:key → exactly that key; with isPrefixalScope → a key with that prefix; bucket → any."""
        scoped = self.scope_key(policy)
        if scoped is None:
            return
        if policy.get("isPrefixalScope") == 1:
            ok = key is not None and key.startswith(scoped)
        else:
            ok = key == scoped
        if not ok:
            raise jerr(403, "key doesn't match with scope")

    def insert_mode(self, policy):
        """Insert-only: insertOnly != 0, a bucket-only scope or a prefix scope cannot overwrite."""
        return bool(policy.get("insertOnly")) or self.scope_key(policy) is None or policy.get("isPrefixalScope") == 1

    def finish_upload(self, policy, key, temp, declared_mime, fname, custom_vars):
        """Apply the put policy to the assembled object at `temp`, store it, run the callback and answer."""
        s = self.state
        size = os.path.getsize(temp)
        if "fsizeLimit" in policy and size > policy["fsizeLimit"]:
            raise jerr(413, "exceeding the maximum file size limit")
        if "fsizeMin" in policy and size < policy["fsizeMin"]:
            raise jerr(403, "less than the minimum file size")
        with open(temp, "rb") as f:
            head = f.read(512)
        etag = qetag_of_file(temp)
        if key is None:
            if policy.get("saveKey"):
                key = self.render(policy["saveKey"], {"etag": etag, "fname": fname, "bucket": s.bucket}, custom_vars, "raw")
            else:
                key = etag
        self.check_key_in_scope(policy, key)
        mime = detect_mime(policy, declared_mime, fname, key, head)
        if policy.get("mimeLimit") and not mime_allowed(policy["mimeLimit"], mime):
            raise jerr(403, "limited mimeType: this file type (%s) is forbidden to upload" % mime)
        existing = s.store.get_meta(key)
        if existing is not None and self.insert_mode(policy) and existing["hash"] != etag:
            raise jerr(614, "file exists")
        md5 = common.file_md5(temp).hex()
        s.store.put_from_file(key, temp, {"hash": etag, "mime": mime, "md5": md5})
        variables = {
            "key": key,
            "etag": etag,
            "hash": etag,
            "fsize": size,
            "bucket": s.bucket,
            "mimeType": mime,
            "fname": fname or "",
            "ext": os.path.splitext(fname or key)[1],
            "endUser": policy.get("endUser", ""),
        }
        if policy.get("callbackUrl"):
            return self.callback(policy, variables, custom_vars)
        if policy.get("returnBody"):
            body = self.render(policy["returnBody"], variables, custom_vars, "json").encode()
            return self.send_bytes(200, body, "application/json", {"X-Reqid": self.request_id})
        return self.send_json(200, {"hash": etag, "key": key})

    # --- magic variables ------------------------------------------------------------------------
    @staticmethod
    def render(template, variables, custom_vars, mode):
        """Substitute $(var) / $(x:var). mode json: a bare $(v) becomes a JSON value and "$(v)" a JSON
        string's content; form: URL-encoded values; raw: the text itself. Unknown variables → empty."""
        def value_of(name):
            if name.startswith("x:"):
                return (custom_vars or {}).get(name, "")
            return variables.get(name, "")

        def sub(m):
            quoted_before, name = m.group(1), m.group(2)
            value = value_of(name)
            if mode == "json":
                if quoted_before:
                    return quoted_before + json.dumps(str(value), ensure_ascii=False)[1:-1]
                return json.dumps(value, ensure_ascii=False)
            if mode == "form":
                return quote(str(value), safe="")
            return str(value)

        pattern = r'(")?\$\(([A-Za-z0-9_:.\-]+)\)' if mode == "json" else r"()\$\(([A-Za-z0-9_:.\-]+)\)"
        return re.sub(pattern, sub, template)

    # --- callbacks ----------------------------------------------------------------------------
    def callback(self, policy, variables, custom_vars):
        s = self.state
        body_type = policy.get("callbackBodyType") or FORM
        mode = "json" if body_type.startswith("application/json") else "form"
        body = self.render(policy.get("callbackBody", ""), variables, custom_vars, mode).encode()
        scheme = s.next_callback_scheme()
        failure = "no callbackUrl reachable"
        for url in policy["callbackUrl"].split(";"):
            url = url.strip()
            if not common.loopback_only(url):
                failure = "callbackUrl is not a loopback http(s) URL (the emulator calls nothing else)"
                continue
            parts = urlsplit(url)
            host = policy.get("callbackHost") or parts.netloc
            authorization = sign_callback(s.auth, s.mac, scheme, url, host, body_type, body)
            try:
                answer = requests.post(
                    url,
                    data=body,
                    headers={
                        "Host": host,
                        "Content-Type": body_type,
                        "Authorization": authorization,
                        "User-Agent": "qiniu-callback/1.0 (emulator)",
                        "X-Reqid": self.request_id,
                    },
                    timeout=CALLBACK_TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as e:
                failure = f"callback failed: {type(e).__name__}"
                continue
            try:
                relayed = answer.json() if answer.status_code == 200 else None
            except ValueError:
                relayed = None
            if answer.status_code == 200 and relayed is not None:
                return self.send_json(200, relayed)
            failure = f"callback failed: status {answer.status_code}, body {answer.text[:200]!r}"
        raise jerr(579, failure)

    # --- form upload ----------------------------------------------------------------------------
    def form_upload(self):
        s = self.state
        if "multipart/form-data" not in self.headers.get("Content-Type", ""):
            raise jerr(400, "form upload needs multipart/form-data")
        body = common.read_body(self, s.max_form_bytes)
        try:
            parts = common.parse_multipart(body, self.headers.get("Content-Type"))
        except ValueError as e:
            raise jerr(400, str(e))
        fields, file_part = {}, None
        for part in parts:
            if part["name"] == "file":
                file_part = part
            else:
                fields.setdefault(part["name"], part["data"].decode("utf-8", "replace"))
        if "token" not in fields:
            raise jerr(401, "token not specified")
        policy = self.verify_upload_token(fields["token"])
        if file_part is None:
            raise jerr(400, "file is not specified in multipart")
        data = file_part["data"]
        if "crc32" in fields:
            if not fields["crc32"].isdigit() or int(fields["crc32"]) != zlib.crc32(data) & 0xFFFFFFFF:
                raise jerr(406, "crc32 not match")
        key = fields.get("key")
        if policy.get("forceSaveKey") and policy.get("saveKey"):
            key = None
        if key is not None:
            self.check_key_in_scope(policy, key)
        elif self.scope_key(policy) is not None and policy.get("isPrefixalScope") != 1:
            key = self.scope_key(policy)
        custom_vars = {k: v for k, v in fields.items() if k.startswith("x:")}
        temp = s.store.temp_path()
        with open(temp, "wb") as f:
            f.write(data)
        try:
            self.finish_upload(policy, key, temp, file_part["content_type"], file_part["filename"], custom_vars)
        finally:
            _remove(temp)

    # --- resumable upload v2 ------------------------------------------------------------------
    def resumable_v2(self, method, bucket, encoded_key, upload_id, part_number):
        s = self.state
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("UpToken "):
            raise jerr(401, "UpToken not specified")
        policy = self.verify_upload_token(authorization[len("UpToken "):])
        if bucket != policy["scope"].split(":", 1)[0]:
            raise jerr(403, "bucket doesn't match with scope")
        if encoded_key == "~":
            key = None
        else:
            try:
                key = urlsafe_base64_decode(encoded_key).decode("utf-8")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise jerr(400, "invalid EncodedObjectName")
        if key is not None:
            self.check_key_in_scope(policy, key)
        if upload_id is None:
            if method != "POST":
                raise jerr(405, "method not allowed")
            expire_at = int(time.time()) + UPLOAD_ID_LIFETIME
            new_id = s.store.new_upload({"key": key, "expire_at": expire_at})
            return self.send_json(200, {"uploadId": new_id, "expireAt": expire_at})
        meta = s.store.upload_meta(upload_id)
        if meta is None or meta["key"] != key or meta["expire_at"] < time.time():
            raise jerr(612, "no such uploadId")
        if part_number is not None:
            if method != "PUT":
                raise jerr(405, "method not allowed")
            return self.v2_part(upload_id, part_number)
        if method == "GET":
            return self.v2_list(upload_id, meta)
        if method == "POST":
            return self.v2_complete(upload_id, policy, key)
        if method == "DELETE":
            s.store.drop_upload(upload_id)
            return self.send_json(200, {})
        raise jerr(405, "method not allowed")

    def v2_part(self, upload_id, part_number):
        st = self.state.store
        if not re.fullmatch(r"\d{1,5}", part_number) or not 1 <= int(part_number) <= MAX_PARTS:
            raise jerr(400, "invalid partNumber: must be 1..10000")
        temp = st.temp_path()
        try:
            size, md5 = common.stream_body_to_file(self, temp, MAX_PART)
            claimed = self.headers.get("Content-MD5")
            if claimed is not None and claimed.strip().lower() != md5.hex():
                raise jerr(400, "Content-MD5 does not match the part")
            etag = qetag_of_file(temp)
        except BaseException:
            _remove(temp)
            raise
        if not st.put_part(upload_id, int(part_number), temp, {"etag": etag, "md5": md5.hex()}):
            raise jerr(612, "no such uploadId")
        self.send_json(200, {"etag": etag, "md5": md5.hex()})

    def v2_list(self, upload_id, meta):
        try:
            max_parts = int(self.qdict.get("max-parts", MAX_LIST_PARTS) or MAX_LIST_PARTS)
            marker = int(self.qdict.get("part-number-marker", 0) or 0)
        except ValueError:
            raise jerr(400, "max-parts and part-number-marker must be integers")
        if not 1 <= max_parts <= MAX_LIST_PARTS:
            raise jerr(400, "max-parts must be 1..1000")
        parts = [p for p in self.state.store.parts(upload_id) or [] if p["number"] > marker]
        page = parts[:max_parts]
        next_marker = page[-1]["number"] if len(parts) > max_parts else 0
        self.send_json(
            200,
            {
                "uploadId": upload_id,
                "expireAt": meta["expire_at"],
                "partNumberMarker": next_marker,
                "parts": [
                    {"partNumber": p["number"], "etag": p["etag"], "size": p["size"], "putTime": int(p["put_time"])}
                    for p in page
                ],
            },
        )

    def v2_complete(self, upload_id, policy, key):
        s = self.state
        try:
            doc = json.loads(common.read_body(self, common.MAX_DOCUMENT_BYTES) or b"null")
        except ValueError:
            raise jerr(400, "invalid JSON body")
        if not isinstance(doc, dict) or not isinstance(doc.get("parts"), list) or not doc["parts"]:
            raise jerr(400, "parts must be a non-empty list")
        requested = []
        for p in doc["parts"]:
            if not isinstance(p, dict) or not isinstance(p.get("partNumber"), int) or not isinstance(p.get("etag"), str):
                raise jerr(400, "each part needs partNumber (number) and etag (string)")
            requested.append((p["partNumber"], p["etag"]))
        numbers = [n for n, _ in requested]
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise jerr(400, "parts must be in ascending partNumber order")
        stored = {p["number"]: p for p in s.store.parts(upload_id) or []}
        for number, etag in requested:
            p = stored.get(number)
            if p is None or not hmac.compare_digest(p["etag"].encode(), etag.encode()):
                raise jerr(400, f"invalid part {number}: not uploaded or etag mismatch")
        for number in numbers[:-1]:
            if stored[number]["size"] < MIN_PART:
                raise jerr(400, f"part {number} is smaller than 1 MB and is not the last part")
        custom_vars = doc.get("customVars") or {}
        if not isinstance(custom_vars, dict):
            raise jerr(400, "customVars must be an object")
        temp = s.store.assemble(upload_id, numbers)
        try:
            self.finish_upload(policy, key, temp, doc.get("mimeType"), doc.get("fname"), custom_vars)
        finally:
            _remove(temp)
        s.store.drop_upload(upload_id)

    # --- stat (rs host) -------------------------------------------------------------------------
    def stat(self, encoded_entry):
        s = self.state
        self.verify_management_auth()
        try:
            entry = urlsafe_base64_decode(encoded_entry).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise jerr(400, "invalid EncodedEntryURI")
        bucket, sep, key = entry.partition(":")
        if bucket != s.bucket:
            raise jerr(631, "no such bucket")
        meta = s.store.get_meta(key) if sep else None
        if meta is None:
            raise jerr(612, "no such file or directory")
        answer = {
            "fsize": meta["size"],
            "hash": meta["hash"],
            "mimeType": meta["mime"],
            "putTime": int(meta["put_time"] * 10_000_000),
            "type": 0,
        }
        if meta.get("md5"):
            answer["md5"] = meta["md5"]
        self.send_json(200, answer)

    def verify_management_auth(self):
        """`Qiniu AK:sign` (v2, with X-Qiniu-* headers) or `QBox AK:sign`, recomputed with the SDK."""
        s = self.state
        authorization = self.headers.get("Authorization", "")
        url = f"http://{self.headers.get('Host', '')}{self.path}"
        content_type = self.headers.get("Content-Type")
        if authorization.startswith("Qiniu "):
            qheaders = {
                canonical_mime_header_key(name): value
                for name, value in self.headers.items()
                if canonical_mime_header_key(name).startswith("X-Qiniu-")
            }
            date = qheaders.get("X-Qiniu-Date")
            if date is not None:
                try:
                    signed_at = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
                except ValueError:
                    raise jerr(401, "bad X-Qiniu-Date")
                if abs(time.time() - signed_at) > DATE_SKEW:
                    raise jerr(403, "X-Qiniu-Date is too far from the server time")
            expected = "Qiniu " + s.mac.token_of_request(
                self.command, self.headers.get("Host"), url, s.mac.qiniu_headers(qheaders), content_type, b""
            )
        elif authorization.startswith("QBox "):
            expected = "QBox " + s.auth.token_of_request(url, None, content_type)
        else:
            raise jerr(401, "bad token")
        if not hmac.compare_digest(expected.encode(), authorization.encode()):
            raise jerr(401, "bad token")

    # --- private download -----------------------------------------------------------------------
    def private_download(self):
        s = self.state
        index = self.raw_query.rfind("&token=")
        if index < 0:
            raise jerr(401, "bad token")
        signed_query, token = self.raw_query[:index], unquote(self.raw_query[index + len("&token="):])
        signed_url = f"http://{self.headers.get('Host', '')}{self.raw_path}?{signed_query}"
        if not private_url_token_ok(s.auth, signed_url, token):
            raise jerr(401, "bad token")
        try:
            deadline = int(dict(parse_qsl(signed_query)).get("e", ""))
        except ValueError:
            raise jerr(401, "bad token")
        if time.time() > deadline:
            raise jerr(401, "token expired")
        key = unquote(self.raw_path[1:])
        meta = s.store.get_meta(key)
        if meta is None:
            raise jerr(404, "Document not found")
        self.send_file(200, s.store.data_path(key), meta["size"], meta["mime"], {"ETag": f'"{meta["hash"]}"'})


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def main(argv=None):
    parser = common.base_arguments(
        "Qiniu Kodo emulator (tokens and callbacks verified/signed with the qiniu SDK)",
        "QINIU_EMU_",
        {
            "bucket": ("BUCKET", "my-bucket", "bucket name"),
            "access-key": ("ACCESS_KEY", "MY_ACCESS_KEY", "AccessKey"),
            "secret-key": ("SECRET_KEY", "MY_SECRET_KEY", "SecretKey"),
            "callback-auth": ("CALLBACK_AUTH", "alternate", "callback signature: qbox, qiniu or alternate"),
        },
    )
    args = parser.parse_args(argv)
    common.serve(Handler, args.port, State(args))


if __name__ == "__main__":
    main()
