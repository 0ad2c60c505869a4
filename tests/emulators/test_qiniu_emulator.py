"""Qiniu emulator self-tests: correct uploads are made with the qiniu SDK's own client code
(Auth.upload_token, put_data, ResumeUploaderV2, private_download_url, QiniuMacRequestsAuth) and must be
accepted with the bytes stored; forged, expired, oversize, mistyped, misplaced requests must be refused
with Qiniu's status. Callbacks are received by a real server here and verified with Auth.verify_callback."""

import hashlib
import io
import json
import os
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
import requests
from qiniu import Auth, QiniuMacAuth, put_data
from qiniu.auth import QiniuMacRequestsAuth
from qiniu.http.endpoint import Endpoint
from qiniu.http.region import Region, ServiceName
from qiniu.services.storage.uploaders import ResumeUploaderV2
from qiniu.utils import entry, etag_stream, urlsafe_base64_encode

import qiniu_emulator

AK, SK = "MY_ACCESS_KEY", "MY_SECRET_KEY"
BUCKET = "my-bucket"
MIB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
auth = Auth(AK, SK)


@pytest.fixture(scope="module")
def emu(start_emulator):
    return start_emulator(
        "qiniu_emulator.py", "--bucket", BUCKET, "--access-key", AK, "--secret-key", SK, "--callback-auth", "alternate"
    )


def regions(emu):
    return [Region(region_id="emu", services={ServiceName.UP: [Endpoint(emu.host, default_scheme="http")]})]


def token(key=None, expires=600, policy=None, a=auth, bucket=BUCKET):
    return a.upload_token(bucket, key, expires, policy, strict_policy=False)


def form(emu, tok, key, data, mime="application/octet-stream", fname="f.bin", extra=None):
    """put_data: the SDK's form upload (fields token, key, crc32, x:vars; then file)."""
    ret, info = put_data(tok, key, data, params=extra, mime_type=mime, fname=fname, regions=regions(emu))
    return ret, info


def stat(emu, key):
    url = f"{emu.url}/stat/{entry(BUCKET, key)}"
    return requests.get(url, auth=QiniuMacRequestsAuth(QiniuMacAuth(AK, SK)))


def download(emu, key, expires=300, a=auth):
    return requests.get(a.private_download_url(f"{emu.url}/{quote(key)}", expires=expires))


def qetag(data):
    return etag_stream(io.BytesIO(data))


# --- form upload ---------------------------------------------------------------------------------

def test_form_upload_stored_stat_and_download(emu):
    data = b"hello qiniu " * 50
    ret, info = form(emu, token("docs/中文 a.txt"), "docs/中文 a.txt", data, mime="text/plain")
    assert info.status_code == 200, info.text_body
    assert ret == {"hash": qetag(data), "key": "docs/中文 a.txt"}
    r = stat(emu, "docs/中文 a.txt")
    assert r.status_code == 200, r.text
    assert r.json()["fsize"] == len(data) and r.json()["hash"] == qetag(data)
    assert r.json()["mimeType"] == "text/plain"
    got = download(emu, "docs/中文 a.txt")
    assert got.status_code == 200 and got.content == data


def test_form_upload_rejections(emu):
    data = b"some text, not an image"
    # tampered signature (one character of the HMAC changed), wrong AK, wrong SK
    good = token("r/a")
    ak, sign, policy = good.split(":")
    forged = f"{ak}:{('A' if sign[0] != 'A' else 'B') + sign[1:]}:{policy}"
    assert form(emu, forged, "r/a", data)[1].status_code == 401
    assert form(emu, token("r/a", a=Auth("OTHER_AK", SK)), "r/a", data)[1].status_code == 401
    assert form(emu, token("r/a", a=Auth(AK, "OTHER_SK")), "r/a", data)[1].status_code == 401
    # expired
    assert form(emu, token("r/a", expires=-10), "r/a", data)[1].status_code == 401
    # over fsizeLimit
    assert form(emu, token("r/a", policy={"fsizeLimit": 10}), "r/a", data)[1].status_code == 413
    # wrong key for a bucket:key scope; a key outside a prefix scope
    assert form(emu, token("r/a"), "r/b", data)[1].status_code == 403
    assert form(emu, token("r/p/", policy={"isPrefixalScope": 1}), "r/q/x", data)[1].status_code == 403
    # another bucket
    assert form(emu, token("r/a", bucket="other-bucket"), "r/a", data)[1].status_code == 631
    # wrong type: content sniffed (detectMime=1) even though the client declares image/png
    limited = {"mimeLimit": "image/*", "detectMime": 1}
    ret, info = form(emu, token("r/a", policy=limited), "r/a", data, mime="image/png", fname="x.png")
    assert info.status_code == 403
    # a deny-list
    assert form(emu, token("r/a", policy={"mimeLimit": "!text/plain"}), "r/a", data, mime="text/plain")[1].status_code == 403
    # a crc32 that does not match the bytes
    r = requests.post(
        emu.url + "/",
        data={"token": token("r/a"), "key": "r/a", "crc32": str((zlib.crc32(data) + 1) & 0xFFFFFFFF)},
        files={"file": ("f", data)},
    )
    assert r.status_code == 406
    # nothing was stored by any of these
    assert stat(emu, "r/a").status_code == 612


def test_form_upload_type_accepted_when_it_matches(emu):
    limited = {"mimeLimit": "image/jpeg;image/png", "detectMime": 1}
    ret, info = form(emu, token("img/a.bin", policy=limited), "img/a.bin", PNG, mime="application/octet-stream")
    assert info.status_code == 200, info.text_body
    assert stat(emu, "img/a.bin").json()["mimeType"] == "image/png"


def test_insert_only(emu):
    assert form(emu, token("io/a"), "io/a", b"first")[1].status_code == 200
    only = {"insertOnly": 1}
    assert form(emu, token("io/a", policy=only), "io/a", b"second")[1].status_code == 614
    assert download(emu, "io/a").content == b"first"
    # identical content is not a conflict (Qiniu's insert mode compares the hash)
    assert form(emu, token("io/a", policy=only), "io/a", b"first")[1].status_code == 200
    # without insertOnly, a bucket:key token overwrites
    assert form(emu, token("io/a"), "io/a", b"third")[1].status_code == 200
    assert download(emu, "io/a").content == b"third"


def test_return_body(emu):
    policy = {"returnBody": '{"key":$(key),"hash":$(etag),"fsize":$(fsize),"bucket":$(bucket),"u":"$(x:u)"}'}
    ret, info = form(emu, token("rb/a", policy=policy), "rb/a", b"abc", extra={"x:u": 'q"1'})
    assert info.status_code == 200
    assert ret == {"key": "rb/a", "hash": qetag(b"abc"), "fsize": 3, "bucket": BUCKET, "u": 'q"1'}


# --- stat and private download -------------------------------------------------------------------

def test_stat_and_download_rejections(emu):
    form(emu, token("sd/a"), "sd/a", b"data")
    assert stat(emu, "sd/missing").status_code == 612
    url = f"{emu.url}/stat/{entry(BUCKET, 'sd/a')}"
    assert requests.get(url).status_code == 401
    assert requests.get(url, auth=QiniuMacRequestsAuth(QiniuMacAuth(AK, "OTHER_SK"))).status_code == 401
    # QBox management signature is also accepted (Auth.token_of_request)
    r = requests.get(url, headers={"Authorization": "QBox " + auth.token_of_request(url)})
    assert r.status_code == 200 and r.json()["fsize"] == 4
    # download: expired, tampered, wrong SK
    assert download(emu, "sd/a", expires=-10).status_code == 401
    good = auth.private_download_url(f"{emu.url}/sd/a", expires=300)
    assert requests.get(good.replace("/sd/a?", "/sd/b?")).status_code == 401
    assert download(emu, "sd/a", a=Auth(AK, "OTHER_SK")).status_code == 401
    assert requests.get(f"{emu.url}/sd/a").status_code == 401


# --- resumable upload v2 ---------------------------------------------------------------------------

def v2_upload(emu, tok, key, data, part_size, **kwargs):
    uploader = ResumeUploaderV2(BUCKET, part_size=part_size, regions=regions(emu), preferred_scheme="http")
    return uploader.upload(key=key, data=io.BytesIO(data), data_size=len(data), up_token=tok, **kwargs)


def test_v2_sdk_upload(emu):
    data = bytes(range(256)) * (4096 * 2) + b"tail"  # 2 MiB + 4 bytes → 3 parts of 1 MiB, 1 MiB, 4 B
    ret, info = v2_upload(emu, token("v2/a.bin"), "v2/a.bin", data, MIB, file_name="a.bin", mime_type="application/x-test")
    assert info.status_code == 200, info.text_body
    assert ret == {"hash": qetag(data), "key": "v2/a.bin"}
    assert download(emu, "v2/a.bin").content == data
    assert stat(emu, "v2/a.bin").json()["mimeType"] == "application/x-test"


def v2_url(emu, key, *rest):
    encoded = urlsafe_base64_encode(key) if key else "~"
    return "/".join([emu.url, "buckets", BUCKET, "objects", encoded, "uploads", *map(str, rest)])


def up(tok):
    return {"Authorization": "UpToken " + tok}


def test_v2_raw_flow_list_pages_and_abort(emu):
    tok, key = token("v2/raw"), "v2/raw"
    r = requests.post(v2_url(emu, key), headers=up(tok))
    assert r.status_code == 200 and r.json()["expireAt"] > time.time()
    upload_id = r.json()["uploadId"]
    etags = []
    for n in (1, 2, 3):
        chunk = bytes([n]) * (MIB if n < 3 else 10)
        r = requests.put(v2_url(emu, key, upload_id, n), data=chunk, headers=dict(up(tok), **{"Content-MD5": hashlib.md5(chunk).hexdigest()}))
        assert r.status_code == 200, r.text
        etags.append(r.json()["etag"])
    # a wrong hex Content-MD5 is refused
    r = requests.put(v2_url(emu, key, upload_id, 4), data=b"x", headers=dict(up(tok), **{"Content-MD5": "0" * 32}))
    assert r.status_code == 400
    # list two pages of 2
    r = requests.get(v2_url(emu, key, upload_id) + "?max-parts=2", headers=up(tok))
    page1 = r.json()
    assert [p["partNumber"] for p in page1["parts"]] == [1, 2] and page1["partNumberMarker"] == 2
    page2 = requests.get(v2_url(emu, key, upload_id) + "?max-parts=2&part-number-marker=2", headers=up(tok)).json()
    assert [p["partNumber"] for p in page2["parts"]] == [3] and page2["partNumberMarker"] == 0
    assert [p["etag"] for p in page1["parts"] + page2["parts"]] == etags
    # every call needs a valid token
    assert requests.get(v2_url(emu, key, upload_id)).status_code == 401  # no UpToken
    assert requests.get(v2_url(emu, key, upload_id), headers=up(token("v2/raw", a=Auth(AK, "X")))).status_code == 401
    assert requests.get(v2_url(emu, key, upload_id), headers=up(token("v2/raw", expires=-5))).status_code == 401
    assert requests.post(v2_url(emu, "v2/other"), headers=up(tok)).status_code == 403  # key outside the scope
    # abort → the upload id is gone
    assert requests.delete(v2_url(emu, key, upload_id), headers=up(tok)).status_code == 200
    assert requests.get(v2_url(emu, key, upload_id), headers=up(tok)).status_code == 612


def v2_parts(emu, tok, key, chunks):
    upload_id = requests.post(v2_url(emu, key), headers=up(tok)).json()["uploadId"]
    etags = [
        requests.put(v2_url(emu, key, upload_id, n), data=c, headers=up(tok)).json()["etag"]
        for n, c in enumerate(chunks, start=1)
    ]
    return upload_id, etags


def complete(emu, tok, key, upload_id, parts, **extra):
    body = dict({"parts": [{"partNumber": n, "etag": e} for n, e in parts], "fname": None, "mimeType": None}, **extra)
    return requests.post(v2_url(emu, key, upload_id), data=json.dumps(body), headers=dict(up(tok), **{"Content-Type": "application/json"}))


def test_v2_complete_rejections(emu):
    key = "v2/bad"
    tok = token(key)
    upload_id, (small, big) = v2_parts(emu, tok, key, [b"s" * 1000, b"b" * MIB])
    assert complete(emu, tok, key, upload_id, [(1, small), (2, big)]).status_code == 400  # part below 1 MB
    assert complete(emu, tok, key, upload_id, [(2, "Fforged" + big[7:])]).status_code == 400  # forged etag
    assert complete(emu, tok, key, upload_id, [(2, big), (1, small)]).status_code == 400  # descending
    # the put policy applies at complete: fsizeLimit, mimeLimit, insertOnly
    assert complete(emu, token(key, policy={"fsizeLimit": MIB - 1}), key, upload_id, [(2, big)]).status_code == 413
    assert complete(emu, token(key, policy={"mimeLimit": "image/*", "detectMime": 1}), key, upload_id, [(2, big)]).status_code == 403
    form(emu, token(key), key, b"exists")
    assert complete(emu, token(key, policy={"insertOnly": 1}), key, upload_id, [(2, big)]).status_code == 614
    assert download(emu, key).content == b"exists"
    # and the same upload still completes with a plain token
    r = complete(emu, tok, key, upload_id, [(2, big)])
    assert r.status_code == 200 and r.json()["hash"] == qetag(b"b" * MIB)
    assert download(emu, key).content == b"b" * MIB


def test_v2_sdk_part_below_minimum_is_refused_at_complete(emu):
    data = b"z" * (MIB + 100)
    ret, info = v2_upload(emu, token("v2/small"), "v2/small", data, 512 * 1024)
    assert info.status_code == 400
    assert stat(emu, "v2/small").status_code == 612


# --- callbacks -------------------------------------------------------------------------------------

class Receiver:
    """A tiny callback server: verifies each callback with the SDK and answers as configured."""

    def __init__(self):
        self.calls = []
        self.answer = (200, {"ok": True})
        receiver = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {"Host": self.headers["Host"]}
                headers.update({k: v for k, v in self.headers.items() if k.lower().startswith("x-qiniu-")})
                url = f"http://{self.headers['Host']}{self.path}"
                ctype = self.headers["Content-Type"]
                authorization = self.headers.get("Authorization", "")
                verified = auth.verify_callback(authorization, url, body.decode(), ctype, "POST", headers)
                tampered = auth.verify_callback(authorization, url, body.decode() + "&x=1", ctype, "POST", headers)
                receiver.calls.append(
                    {"path": self.path, "auth": authorization, "type": ctype, "body": body, "verified": verified, "tampered": tampered}
                )
                status, value = receiver.answer
                payload = value if isinstance(value, bytes) else json.dumps(dict(value, verified=verified)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/qiniu/callback?t=nonce1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


FORM_BODY = "key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)&sub=alice"


def test_callbacks_are_signed_and_relayed(emu, receiver):
    policy = {"callbackUrl": receiver.url, "callbackBody": FORM_BODY, "callbackBodyType": "application/x-www-form-urlencoded"}
    data = b"callback me"
    schemes = set()
    for i in range(2):  # the emulator alternates QBox and Qiniu signatures
        key = f"cb/a{i} x.txt"
        ret, info = form(emu, token(key, policy=policy), key, data, mime="text/plain")
        assert info.status_code == 200, info.text_body
        assert ret == {"ok": True, "verified": True}
        call = receiver.calls[-1]
        assert call["verified"] and not call["tampered"]
        assert call["path"] == "/qiniu/callback?t=nonce1"
        expected = f"key={quote(key, safe='')}&hash={qetag(data)}&fsize={len(data)}&bucket={BUCKET}&mimeType=text%2Fplain&sub=alice"
        assert call["body"].decode() == expected
        schemes.add(call["auth"].split(" ")[0])
    assert schemes == {"QBox", "Qiniu"}

    # JSON body, after a v2 complete
    json_policy = {
        "callbackUrl": receiver.url,
        "callbackBody": '{"key":"$(key)","hash":"$(etag)","fsize":$(fsize),"fname":"$(fname)"}',
        "callbackBodyType": "application/json",
    }
    data = b"j" * (MIB + 5)
    ret, info = v2_upload(emu, token("cb/v2.bin", policy=json_policy), "cb/v2.bin", data, MIB, file_name="v.bin")
    assert info.status_code == 200 and ret == {"ok": True, "verified": True}
    call = receiver.calls[-1]
    assert call["verified"]
    assert json.loads(call["body"]) == {"key": "cb/v2.bin", "hash": qetag(data), "fsize": len(data), "fname": "v.bin"}


def test_callback_failure_is_579_and_object_kept(emu, receiver):
    policy = {"callbackUrl": receiver.url, "callbackBody": FORM_BODY}
    receiver.answer = (500, {"error": "down"})
    ret, info = form(emu, token("cb/fail", policy=policy), "cb/fail", b"kept")
    assert info.status_code == 579
    assert receiver.calls and receiver.calls[-1]["verified"]
    assert download(emu, "cb/fail").content == b"kept"
    receiver.answer = (200, b"not json")
    assert form(emu, token("cb/fail2", policy=policy), "cb/fail2", b"kept")[1].status_code == 579
    # a callback URL off loopback is never called
    off = {"callbackUrl": "http://192.0.2.1/cb", "callbackBody": FORM_BODY}
    assert form(emu, token("cb/fail3", policy=off), "cb/fail3", b"kept")[1].status_code == 579


# --- the emulator's verifiers against the repo's SDK-produced vectors (tests/vectors/qiniu.json) ---------

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "qiniu.json"), encoding="utf-8") as f:
    VECTORS = json.load(f)


def test_token_verifier_accepts_equivalent_tokens_and_rejects_forged_ones():
    eq = VECTORS["token_equivalence"]
    a = Auth(eq["ak"], eq["sk"])
    for v in eq["valid"]:
        assert qiniu_emulator.verify_upload_token(a, eq["ak"], "my-bucket", v["token"], now=0) == eq["expected_policy"], v["label"]
    for v in eq["invalid"]:
        with pytest.raises(qiniu_emulator.HttpError) as e:
            qiniu_emulator.verify_upload_token(a, eq["ak"], "my-bucket", v["token"], now=0)
        assert e.value.status == 401, v["label"]
    with pytest.raises(qiniu_emulator.HttpError) as e:  # valid but past its deadline
        qiniu_emulator.verify_upload_token(a, eq["ak"], "my-bucket", eq["valid"][0]["token"], now=1893456001)
    assert e.value.status == 401


def test_callback_signer_reproduces_the_vectors():
    checked = 0
    for c in VECTORS["callbacks"]:
        if c["id"] not in ("C1", "C2", "C3", "C4"):
            continue
        a, mac = Auth(c["ak"], c["sk"]), QiniuMacAuth(c["ak"], c["sk"], disable_qiniu_timestamp_signature=True)
        url = f"http://{c['host']}{c['path']}" + (f"?{c['query']}" if c["query"] else "")
        body = c["body"].encode()
        assert qiniu_emulator.sign_callback(a, mac, "qbox", url, c["host"], c["content_type"], body) == c["qbox_authorization"]
        assert qiniu_emulator.sign_callback(a, mac, "qiniu", url, c["host"], c["content_type"], body) == c["qiniu_authorization"]
        checked += 1
    assert checked == 4


def test_private_url_verifier_reproduces_the_vectors():
    for d in VECTORS["private_download_urls"]:
        signed, _, tok = d["url"].rpartition("&token=")
        a = Auth(d["ak"], d["sk"])
        assert qiniu_emulator.private_url_token_ok(a, signed, tok), d["id"]
        assert not qiniu_emulator.private_url_token_ok(a, signed.replace("e=", "e=1"), tok), d["id"]


def test_malformed_requests_get_4xx_not_5xx(emu):
    tok = token("m/a")
    cases = [
        ("POST", "/", {"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nbroken"),
        ("POST", "/", {"Content-Type": "text/plain"}, b"x"),
        ("POST", "/", {"Content-Type": "multipart/form-data; boundary=zz"},
         b'--zz\r\nContent-Disposition: form-data; name="token"\r\n\r\na:b:!!\r\n--zz--\r\n'),
        ("GET", "/stat/%%%", {}, b""),
        ("GET", "/stat/bm90LWJhc2U2NA", {"Authorization": "Qiniu x"}, b""),
        ("POST", "/buckets/my-bucket/objects/!!!/uploads", {"Authorization": "UpToken " + tok}, b""),
        ("POST", "/buckets/my-bucket/objects/bS9h/uploads", {"Authorization": "UpToken x:y:z"}, b""),
        ("PUT", "/buckets/my-bucket/objects/bS9h/uploads/zzz/1", {"Authorization": "UpToken " + tok}, b"x"),
        ("POST", "/buckets/my-bucket/objects/bS9h/uploads/" + "0" * 40, {"Authorization": "UpToken " + tok}, b"{"),
        ("GET", "/m/a?e=abc&token=x:y", {}, b""),
        ("DELETE", "/m/a", {}, b""),
    ]
    for method, path, headers, body in cases:
        r = requests.request(method, emu.url + path, headers=headers, data=body)
        assert 400 <= r.status_code < 700 and r.status_code != 500 and "error" in r.json(), (method, path, r.status_code, r.text)
    upload_id = requests.post(v2_url(emu, "m/a"), headers=up(tok)).json()["uploadId"]
    for body in (b"{", b"[]", b'{"parts": []}', b'{"parts": [{"partNumber": "1", "etag": 3}]}', b'{"parts": [{"partNumber": 1, "etag": "x"}], "customVars": 3}'):
        r = requests.post(v2_url(emu, "m/a", upload_id), data=body, headers=up(tok))
        assert r.status_code == 400, (body, r.text)
    for q in ("?max-parts=0", "?max-parts=x", "?max-parts=1001", "?part-number-marker=x"):
        assert requests.get(v2_url(emu, "m/a", upload_id) + q, headers=up(tok)).status_code == 400, q
    assert requests.put(v2_url(emu, "m/a", upload_id, 0), data=b"x", headers=up(tok)).status_code == 400
    assert requests.put(v2_url(emu, "m/a", upload_id, 10001), data=b"x", headers=up(tok)).status_code == 400
