"""Self-tests of the OSS emulator: correct requests (built with alibabacloud-oss-v2's own presigner, signer and client,
never with the broker's Rust code) are accepted; tampered, expired, over-size, wrong-type and wrong-key ones are
refused. Run: tests/emulators/run.sh test
"""
import base64
import datetime
import http.server
import json
import os
import threading
import time
import urllib.parse

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import alibabacloud_oss_v2 as oss
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import Credentials, HttpRequest, SigningContext

AK, SK, REGION, BUCKET = "PBTESTOSSACCESSKEY01", "pbtest/oss+secret0000000000000000", "cn-hangzhou", "pb-test"


@pytest.fixture(scope="module")
def emulator(start_emulator):
    return start_emulator("oss_emulator.py").url


def client(endpoint, secret=SK):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, secret)
    cfg.region = REGION
    cfg.endpoint = endpoint
    cfg.use_path_style = True
    return oss.Client(cfg)


def presign_query(endpoint, method, key, params=(), headers=None, additional=None, signing_time=None, expires=600):
    """A presigned URL made by the SDK's own SignerV4 in query mode (what Client.presign uses), for cases the
    Client API cannot express: a signing time in the past, or a signed Content-Length (additional header)."""
    query = "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in params)
    url = f"{endpoint}/{BUCKET}/{urllib.parse.quote(key, safe='/')}" + (f"?{query}" if query else "")
    request = HttpRequest(method, url, headers=headers or {})
    when = signing_time or datetime.datetime.now(datetime.timezone.utc)
    ctx = SigningContext(product="oss", region=REGION, bucket=BUCKET, key=key, request=request,
                         credentials=Credentials(AK, SK), signing_time=when, additional_headers=additional)
    ctx.auth_method_query = True
    ctx.expiration_time = when + datetime.timedelta(seconds=expires)
    SignerV4().sign(ctx)
    return request.url


def code(resp):
    return resp.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in resp.text else None


def flip(url):
    """The same URL with the last hex digit of x-oss-signature changed."""
    last = url[-1]
    return url[:-1] + ("0" if last != "0" else "1")


def test_presigned_put_get_and_sdk_head(emulator):
    c = client(emulator)
    put = c.presign(oss.PutObjectRequest(bucket=BUCKET, key="a b/photo ✓.jpg", content_type="image/jpeg"))
    r = requests.put(put.url, data=b"hello", headers=put.signed_headers)
    assert r.status_code == 200, r.text
    etag = r.headers["ETag"]
    get = c.presign(oss.GetObjectRequest(bucket=BUCKET, key="a b/photo ✓.jpg"))
    r = requests.get(get.url)
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (200, b"hello", "image/jpeg")
    head = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="a b/photo ✓.jpg"))
    assert (head.content_length, head.etag) == (5, etag)


def test_tampered_signature_is_refused(emulator):
    c = client(emulator)
    put = c.presign(oss.PutObjectRequest(bucket=BUCKET, key="t.txt"))
    r = requests.put(flip(put.url), data=b"x")
    assert (r.status_code, code(r)) == (403, "SignatureDoesNotMatch")
    # A different secret (a forged signature) is refused too, in header mode as well.
    bad = client(emulator, secret="not-the-secret")
    with pytest.raises(oss.exceptions.OperationError) as err:
        bad.put_object(oss.PutObjectRequest(bucket=BUCKET, key="t.txt", body=b"x"))
    assert "SignatureDoesNotMatch" in str(err.value)
    assert requests.put(put.url, data=b"x").status_code == 200


def test_expired_url_is_refused(emulator):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=120)
    url = presign_query(emulator, "PUT", "old.txt", signing_time=past, expires=60)
    r = requests.put(url, data=b"x")
    assert (r.status_code, code(r)) == (403, "AccessDenied")
    assert "expired" in r.text
    fresh = presign_query(emulator, "PUT", "old.txt", signing_time=past, expires=600)
    assert requests.put(fresh, data=b"x").status_code == 200


def test_signed_content_length_caps_the_body(emulator):
    url = presign_query(emulator, "PUT", "capped.bin", headers={"Content-Length": "5"}, additional={"content-length"})
    assert "x-oss-additional-headers=content-length" in url
    r = requests.put(url, data=b"123456")
    assert (r.status_code, code(r)) == (403, "SignatureDoesNotMatch")
    assert requests.put(url, data=b"12345").status_code == 200


def test_wrong_content_type_is_refused(emulator):
    put = client(emulator).presign(oss.PutObjectRequest(bucket=BUCKET, key="typed.jpg", content_type="image/jpeg"))
    r = requests.put(put.url, data=b"x", headers={"Content-Type": "text/html"})
    assert (r.status_code, code(r)) == (403, "SignatureDoesNotMatch")


def test_wrong_key_is_refused(emulator):
    put = client(emulator).presign(oss.PutObjectRequest(bucket=BUCKET, key="users/alice/a.txt"))
    r = requests.put(put.url.replace("/users/alice/", "/users/bob/"), data=b"x")
    assert (r.status_code, code(r)) == (403, "SignatureDoesNotMatch")


def test_forbid_overwrite(emulator):
    c = client(emulator)
    c.put_object(oss.PutObjectRequest(bucket=BUCKET, key="once.txt", body=b"1"))
    with pytest.raises(oss.exceptions.OperationError) as err:
        c.put_object(oss.PutObjectRequest(bucket=BUCKET, key="once.txt", body=b"2", forbid_overwrite=True))
    assert "FileAlreadyExists" in str(err.value)


def test_multipart_with_the_sdk_client(emulator):
    c = client(emulator)
    key = "big/file ✓.bin"
    init = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key, content_type="video/mp4"))
    uid = init.upload_id
    big, small = b"a" * (100 * 1024), b"tail"
    p1 = c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=uid, part_number=1, body=big))
    # A presigned UploadPart from the SDK's presigner.
    pre = c.presign(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=uid, part_number=2))
    r = requests.put(pre.url, data=small)
    assert r.status_code == 200
    p2 = r.headers["ETag"]
    with pytest.raises(oss.exceptions.OperationError) as err:
        c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=uid, part_number=10001, body=b"x"))
    assert "InvalidArgument" in str(err.value)
    listed = c.list_parts(oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=uid, max_parts=1))
    assert listed.is_truncated and [p.part_number for p in listed.parts] == [1]
    parts = lambda *ps: oss.CompleteMultipartUpload(parts=[oss.UploadPart(part_number=n, etag=e) for n, e in ps])
    for bad, expected in [((( 2, p2), (1, p1.etag)), "InvalidPartOrder"),
                          (((1, '"0000"'), (2, p2)), "InvalidPart")]:
        with pytest.raises(oss.exceptions.OperationError) as err:
            c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
                bucket=BUCKET, key=key, upload_id=uid, complete_multipart_upload=parts(*bad)))
        assert expected in str(err.value)
    done = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=BUCKET, key=key, upload_id=uid, complete_multipart_upload=parts((1, p1.etag), (2, p2))))
    assert done.etag.strip('"').endswith("-2")
    head = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=key))
    assert (head.content_length, head.content_type) == (len(big) + len(small), "video/mp4")
    # Parts below 100 KiB but the last: EntityTooSmall; Abort, then the upload is gone.
    uid = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key)).upload_id
    e1 = c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=uid, part_number=1, body=small)).etag
    e2 = c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=uid, part_number=2, body=small)).etag
    with pytest.raises(oss.exceptions.OperationError) as err:
        c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=BUCKET, key=key, upload_id=uid, complete_multipart_upload=parts((1, e1), (2, e2))))
    assert "EntityTooSmall" in str(err.value)
    c.abort_multipart_upload(oss.AbortMultipartUploadRequest(bucket=BUCKET, key=key, upload_id=uid))
    with pytest.raises(oss.exceptions.OperationError) as err:
        c.list_parts(oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=uid))
    assert "NoSuchUpload" in str(err.value)


def post_form(key="user/42/photo.jpg", content_type="image/jpeg", max_size=10, expires_in=600, extra_conditions=(),
              secret=SK, **fields):
    """A PostObject V4 form signed with the SDK's own V4 signature function (the SDK has no POST helper)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    date, stamp = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{AK}/{date}/{REGION}/oss/aliyun_v4_request"
    expiration = (now + datetime.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    policy = {"expiration": expiration, "conditions": [
        {"bucket": BUCKET}, {"x-oss-signature-version": "OSS4-HMAC-SHA256"}, {"x-oss-credential": credential},
        {"x-oss-date": stamp}, ["eq", "$key", "user/42/photo.jpg"], ["content-length-range", 0, max_size],
        ["eq", "$Content-Type", "image/jpeg"], *extra_conditions]}
    policy_b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = SignerV4()._calc_signature(secret, date, REGION, "oss", policy_b64)
    form = {"key": key, "policy": policy_b64, "x-oss-signature-version": "OSS4-HMAC-SHA256",
            "x-oss-credential": credential, "x-oss-date": stamp, "x-oss-signature": signature,
            "Content-Type": content_type}
    form.update(fields)
    return form


def post(emulator, form, data=b"0123456789"):
    return requests.post(f"{emulator}/{BUCKET}/", data=form, files={"file": ("p.jpg", data, "image/jpeg")})


def test_post_policy(emulator):
    r = post(emulator, post_form())
    assert r.status_code == 204, r.text
    assert requests.get(client(emulator).presign(oss.GetObjectRequest(bucket=BUCKET, key="user/42/photo.jpg")).url).content == b"0123456789"
    cases = [
        (post_form(key="user/42/other.jpg"), b"x", 403, "AccessDenied"),          # wrong key
        (post_form(content_type="text/html"), b"x", 403, "AccessDenied"),        # wrong content type
        (post_form(), b"x" * 11, 400, "EntityTooLarge"),                          # over-size
        (post_form(expires_in=-5), b"x", 403, "AccessDenied"),                   # expired policy
        (post_form(secret="forged"), b"x", 403, "SignatureDoesNotMatch"),        # forged signature
    ]
    tampered = post_form()
    tampered["x-oss-signature"] = tampered["x-oss-signature"][:-1] + ("0" if tampered["x-oss-signature"][-1] != "0" else "1")
    cases.append((tampered, b"x", 403, "SignatureDoesNotMatch"))
    for form, data, status, err in cases:
        r = post(emulator, form, data)
        assert (r.status_code, code(r)) == (status, err), form


class CallbackReceiver(http.server.BaseHTTPRequestHandler):
    """Verifies the emulator's callback like a broker would (key fetched from x-oss-pub-key-url) and answers JSON."""
    seen = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key_url = base64.b64decode(self.headers["x-oss-pub-key-url"]).decode()
        assert key_url.startswith("http://127.0.0.1:")
        key = serialization.load_pem_public_key(requests.get(key_url).content)
        path, _, query = self.path.partition("?")
        signed = urllib.parse.unquote(path).encode() + (b"?" + query.encode() if query else b"") + b"\n" + body
        key.verify(base64.b64decode(self.headers["authorization"]), signed, padding.PKCS1v15(), hashes.MD5())
        fields = dict(urllib.parse.parse_qsl(body.decode()))
        CallbackReceiver.seen.append((self.path, fields))
        answer = json.dumps({"key": fields["key"], "size": int(fields["size"])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture(scope="module")
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CallbackReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def callback_param(receiver):
    return base64.b64encode(json.dumps({
        "callbackUrl": f"{receiver}/v1/callbacks/ali%20x?t=tick%2B1",
        "callbackBody": "bucket=${bucket}&key=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&sub=alice",
        "callbackBodyType": "application/x-www-form-urlencoded"}).encode()).decode()


def test_callbacks_are_signed_and_relayed(emulator, receiver):
    c = client(emulator)
    cb = callback_param(receiver)
    put = c.presign(oss.PutObjectRequest(bucket=BUCKET, key="cb/a b.txt", content_type="text/plain", callback=cb))
    assert "x-oss-callback" in put.signed_headers
    r = requests.put(put.url, data=b"hello", headers=put.signed_headers)
    assert (r.status_code, r.json()) == (200, {"key": "cb/a b.txt", "size": 5})
    path, fields = CallbackReceiver.seen[-1]
    assert path == "/v1/callbacks/ali%20x?t=tick%2B1"
    assert fields["mimeType"] == "text/plain" and fields["sub"] == "alice" and len(fields["etag"]) == 32
    # The callback header is signed: dropping it breaks the signature.
    no_cb = {k: v for k, v in put.signed_headers.items() if k != "x-oss-callback"}
    assert requests.put(put.url, data=b"hello", headers=no_cb).status_code == 403
    # PostObject with a pinned callback field.
    r = post(emulator, post_form(extra_conditions=[{"callback": cb}], callback=cb))
    assert (r.status_code, r.json()) == (200, {"key": "user/42/photo.jpg", "size": 10})
    # CompleteMultipartUpload with x-oss-callback (SDK client, header mode).
    uid = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=BUCKET, key="cb/mp.bin")).upload_id
    e = c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key="cb/mp.bin", upload_id=uid, part_number=1, body=b"xyz")).etag
    done = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=BUCKET, key="cb/mp.bin", upload_id=uid, callback=cb,
        complete_multipart_upload=oss.CompleteMultipartUpload(parts=[oss.UploadPart(part_number=1, etag=e)])))
    assert json.loads(done.callback_result) == {"key": "cb/mp.bin", "size": 3}
    # An unreachable callback URL: the object is stored, the uploader gets 203 CallbackFailed.
    dead = base64.b64encode(json.dumps({"callbackUrl": "http://127.0.0.1:9/x", "callbackBody": "k=${object}"}).encode()).decode()
    put = c.presign(oss.PutObjectRequest(bucket=BUCKET, key="cb/dead.txt", callback=dead))
    r = requests.put(put.url, data=b"z", headers=put.signed_headers)
    assert (r.status_code, code(r)) == (203, "CallbackFailed")


def test_sts_token_is_required_and_checked(start_emulator):
    endpoint = start_emulator("oss_emulator.py", "--security-token", "STS+/token==").url
    cfg = oss.config.load_default()
    cfg.region, cfg.endpoint, cfg.use_path_style = REGION, endpoint, True
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK, "STS+/token==")
    sts = oss.Client(cfg)
    sts.put_object(oss.PutObjectRequest(bucket=BUCKET, key="sts.txt", body=b"x"))
    url = sts.presign(oss.GetObjectRequest(bucket=BUCKET, key="sts.txt")).url
    assert "x-oss-security-token=STS%2B%2Ftoken%3D%3D" in url
    assert requests.get(url).content == b"x"
    r = requests.get(client(endpoint).presign(oss.GetObjectRequest(bucket=BUCKET, key="sts.txt")).url)
    assert (r.status_code, code(r)) == (403, "InvalidSecurityToken")
