"""COS emulator self-tests: correct requests are made with cos-python-sdk-v5's own client code
(get_presigned_url, get_auth, put/get/head_object, the multipart calls) and must be accepted with the
bytes stored; forged, expired, oversize, mistyped, misplaced requests must be refused with COS's
status and error code. An emulator that accepted everything would fail most of these."""

import base64
import hashlib
import json
import logging
import os
import time
from datetime import datetime, timezone
from xml.etree import ElementTree

import pytest
import requests
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

import cos_emulator

logging.getLogger("qcloud_cos").setLevel(logging.CRITICAL)

SID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SKEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
REGION = "ap-guangzhou"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def emu(start_emulator):
    return start_emulator(
        "cos_emulator.py", "--bucket", BUCKET, "--region", REGION, "--secret-id", SID, "--secret-key", SKEY
    )


def client_for(emu, secret_id=SID, secret_key=SKEY):
    """The SDK's own client, sending to the emulator (it then sends and signs Host: <bucket>.cos.<region>...)."""
    conf = CosConfig(
        Region=REGION, SecretId=secret_id, SecretKey=secret_key, Scheme="http", IP="127.0.0.1", Port=emu.port
    )
    return CosS3Client(conf, retry=0)


@pytest.fixture(scope="module")
def client(emu):
    return client_for(emu)


def presign(client, emu, key, method, expired=300, headers=None, params=None, bucket=BUCKET):
    """SDK presigned URL signing the emulator's address as host (what the broker signs)."""
    signed_headers = {"Host": emu.host}
    signed_headers.update(headers or {})
    return client.get_presigned_url(
        Bucket=bucket, Key=key, Method=method, Expired=expired, Headers=signed_headers, Params=params or {}
    )


def error_code(response):
    return ElementTree.fromstring(response.content).findtext("Code")


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text


# --- the verifiers themselves, against the COS doc's published examples --------------------------

def test_request_verifier_reproduces_the_doc_get_example():
    # cos.md 2.6 "Download": KeyTime 1557989753;1557996953, headers date+host, two signed params.
    fields = cos_emulator.sdk_signature(
        SID,
        SKEY,
        "GET",
        "/exampleobject(腾讯云)",
        {"response-content-type": "application/octet-stream", "response-cache-control": "max-age=600"},
        {"date": "Thu, 16 May 2019 06:55:53 GMT", "host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"},
        "1557989753;1557996953",
    )
    assert fields["q-signature"] == "01681b8c9d798a678e43b685a9f1bba0f6c0e012"
    assert fields["q-url-param-list"] == "response-cache-control;response-content-type"


def test_post_policy_signer_reproduces_the_doc_example():
    policy_b64 = (
        "ewogICAgImV4cGlyYXRpb24iOiAiMjAxOS0wOC0zMFQwOTozODoxMi40MTRaIiwKICAgICJjb25kaXRpb25zIjogWwogICAgICAgIHsgImFjbCI6ICJkZWZhdWx0IiB9LAog"
        "ICAgICAgIHsgImJ1Y2tldCI6ICJleGFtcGxlYnVja2V0LTEyNTAwMDAwMDAiIH0sCiAgICAgICAgWyAic3RhcnRzLXdpdGgiLCAiJGtleSIsICJmb2xkZXIvc3ViZm9sZGVy"
        "LyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkQ29udGVudC1UeXBlIiwgImltYWdlLyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkc3VjY2Vzc19hY3Rp"
        "b25fcmVkaXJlY3QiLCAiaHR0cHM6Ly9teS53ZWJzaXRlLyIgXSwKICAgICAgICBbICJlcSIsICIkeC1jb3Mtc2VydmVyLXNpZGUtZW5jcnlwdGlvbiIsICJBRVMyNTYiIF0s"
        "CiAgICAgICAgeyAicS1zaWduLWFsZ29yaXRobSI6ICJzaGExIiB9LAogICAgICAgIHsgInEtYWsiOiAiQUtJRFFqejNsdG9tcFZqQm5pNUxpdGtXSEZsRnB3a245VTVxIiB9"
        "LAogICAgICAgIHsgInEtc2lnbi10aW1lIjogIjE1NjcxNTA2OTI7MTU2NzE1Nzg5MiIgfQogICAgXQp9"
    )
    signature = cos_emulator.post_policy_signature(SKEY, "1567150692;1567157892", base64.b64decode(policy_b64))
    assert signature == "7758dc9a832e9d301dca704cacbf9d9f8172fdef"


# --- presigned PUT / GET / HEAD ------------------------------------------------------------------

def test_presigned_put_get_head_round_trip(client, emu):
    data = b"hello presigned world"
    put = presign(client, emu, "dir/中文 a+b.txt", "PUT", headers={"Content-Type": "text/plain"})
    r = requests.put(put, data=data, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()

    r = requests.get(presign(client, emu, "dir/中文 a+b.txt", "GET"))
    assert r.status_code == 200 and r.content == data

    r = requests.head(presign(client, emu, "dir/中文 a+b.txt", "HEAD"))
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()


def test_sdk_header_signed_calls(client):
    client.put_object(Bucket=BUCKET, Key="sdk/obj.bin", Body=b"\x00\x01" * 100, ContentType="application/x-test")
    head = client.head_object(Bucket=BUCKET, Key="sdk/obj.bin")
    assert head["Content-Length"] == "200" and head["Content-Type"] == "application/x-test"
    body = client.get_object(Bucket=BUCKET, Key="sdk/obj.bin")["Body"].get_raw_stream().read()
    assert body == b"\x00\x01" * 100


def test_signed_content_length_pins_the_body(client, emu):
    url = presign(client, emu, "pinned.bin", "PUT", headers={"Content-Length": "5"})
    assert requests.put(url, data=b"12345").status_code == 200
    assert_error(requests.put(url, data=b"123456"), 403, "SignatureDoesNotMatch")


def test_tampered_signature_is_refused(client, emu):
    url = presign(client, emu, "t.txt", "PUT")
    sig = url.split("q-signature=")[1][:40]
    forged = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert_error(requests.put(forged, data=b"x"), 403, "SignatureDoesNotMatch")


def test_expired_url_is_refused(client, emu):
    # SDK key time: now-60 ; now+Expired → already over.
    url = presign(client, emu, "t.txt", "GET", expired=-5)
    assert_error(requests.get(url), 403, "AccessDenied")


def test_wrong_secret_id_and_wrong_secret_key_are_refused(emu):
    other = client_for(emu, secret_id="AKIDotherotherotherotherotherotherot")
    assert_error(requests.put(presign(other, emu, "t.txt", "PUT"), data=b"x"), 403, "InvalidAccessKeyId")
    wrong_key = client_for(emu, secret_key="not-the-secret-key-not-the-secret")
    assert_error(requests.put(presign(wrong_key, emu, "t.txt", "PUT"), data=b"x"), 403, "SignatureDoesNotMatch")


def test_url_for_another_key_is_refused(client, emu):
    url = presign(client, emu, "allowed.txt", "PUT")
    assert_error(requests.put(url.replace("/allowed.txt?", "/other.txt?"), data=b"x"), 403, "SignatureDoesNotMatch")


def test_url_for_another_bucket_is_refused(client, emu):
    # Another bucket's virtual host: unknown here; and its own host signed at our address does not verify.
    with pytest.raises(CosServiceError) as e:
        client.put_object(Bucket="otherbucket-1250000000", Key="x", Body=b"x")
    assert e.value.get_status_code() == 404 and e.value.get_error_code() == "NoSuchBucket"
    url = presign(client, emu, "x.txt", "PUT", headers={"Host": "otherbucket-1250000000.cos.ap-guangzhou.myqcloud.com"})
    assert_error(requests.put(url, data=b"x"), 403, "SignatureDoesNotMatch")


def test_host_alias_is_accepted_and_other_hosts_are_not(start_emulator):
    alias = "127.0.0.1:1"  # what a proxy in front of the emulator forwards as Host
    emu2 = start_emulator("cos_emulator.py", "--bucket", BUCKET, "--region", REGION, "--host-alias", alias)
    client = client_for(emu2)
    for host, status in ((alias, 200), ("127.0.0.1:2", 404)):
        url = client.get_presigned_url(Bucket=BUCKET, Key="alias.txt", Method="PUT", Headers={"Host": host})
        r = requests.put(url.replace(f"://{host}/", f"://{emu2.host}/", 1), data=b"x", headers={"Host": host})
        assert r.status_code == status, r.text


def test_unsigned_requests_and_missing_objects(client, emu):
    assert_error(requests.get(f"{emu.url}/dir/x"), 403, "AccessDenied")
    assert_error(requests.get(presign(client, emu, "nothing-here", "GET")), 404, "NoSuchKey")


# --- POST Object with a policy ---------------------------------------------------------------------

def form_fields(key, conditions=None, expires_in=600, key_time=None, bucket=BUCKET, ak=SID, sk=SKEY, extra=None):
    now = int(time.time())
    key_time = key_time or f"{now - 60};{now + expires_in}"
    expiration = datetime.fromtimestamp(now + expires_in, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    policy = {
        "expiration": expiration,
        "conditions": [
            {"q-sign-algorithm": "sha1"},
            {"q-ak": ak},
            {"q-sign-time": key_time},
            {"bucket": bucket},
            {"key": key},
        ]
        + (conditions or []),
    }
    policy_bytes = json.dumps(policy).encode()
    fields = {
        "key": key,
        "policy": base64.b64encode(policy_bytes).decode(),
        "q-sign-algorithm": "sha1",
        "q-ak": ak,
        "q-key-time": key_time,
        "q-signature": cos_emulator.post_policy_signature(sk, key_time, policy_bytes),
        "success_action_status": "200",
    }
    fields.update(extra or {})
    return fields


def post(emu, fields, data=b"form bytes", filename="a.bin"):
    return requests.post(emu.url + "/", data=fields, files={"file": (filename, data, "application/octet-stream")})


def test_form_post_accepted_and_stored(client, emu):
    data = b"\x89PNG\r\n\x1a\n" + b"p" * 100
    fields = form_fields(
        "form/ok.png",
        [["content-length-range", 0, 1000], ["eq", "$Content-Type", "image/png"]],
        extra={"Content-Type": "image/png"},
    )
    r = post(emu, fields, data)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    got = requests.get(presign(client, emu, "form/ok.png", "GET"))
    assert got.content == data and got.headers["Content-Type"] == "image/png"


def test_form_post_success_action_status(emu):
    r = post(emu, form_fields("form/201.bin", extra={"success_action_status": "201"}))
    assert r.status_code == 201 and ElementTree.fromstring(r.content).findtext("Key") == "form/201.bin"
    fields = form_fields("form/204.bin")
    del fields["success_action_status"]
    assert post(emu, fields).status_code == 204


def test_form_post_rejections(emu):
    limited = [["content-length-range", 0, 10]]
    # over size
    assert_error(post(emu, form_fields("f/big", limited), b"x" * 11), 400, "EntityTooLarge")
    # tampered signature
    fields = form_fields("f/a")
    fields["q-signature"] = "0" * 40
    assert_error(post(emu, fields), 403, "SignatureDoesNotMatch")
    # policy altered after signing (another key)
    fields = form_fields("f/a")
    fields["policy"] = base64.b64encode(
        base64.b64decode(fields["policy"]).replace(b'"f/a"', b'"f/b"')
    ).decode()
    fields["key"] = "f/b"
    assert_error(post(emu, fields), 403, "SignatureDoesNotMatch")
    # wrong key for the policy
    assert_error(post(emu, form_fields("f/a", extra={"key": "f/other"})), 403, "AccessDenied")
    # wrong bucket in the policy
    assert_error(post(emu, form_fields("f/a", bucket="otherbucket-1250000000")), 403, "AccessDenied")
    # wrong content type
    typed = [["eq", "$Content-Type", "image/png"]]
    assert_error(post(emu, form_fields("f/a", typed, extra={"Content-Type": "text/html"})), 403, "AccessDenied")
    assert_error(post(emu, form_fields("f/a", typed)), 403, "AccessDenied")  # not sent at all
    # expired policy and key time
    now = int(time.time())
    assert_error(post(emu, form_fields("f/a", expires_in=-5)), 403, "AccessDenied")
    assert_error(post(emu, form_fields("f/a", key_time=f"{now - 600};{now - 300}")), 403, "AccessDenied")
    # wrong AK (signed with the right SK, so only q-ak differs) and wrong SK
    assert_error(post(emu, form_fields("f/a", ak="AKIDother")), 403, "InvalidAccessKeyId")
    assert_error(post(emu, form_fields("f/a", sk="wrong-secret")), 403, "SignatureDoesNotMatch")
    # a q-ak condition different from the form's q-ak field
    fields = form_fields("f/a", extra={})
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "q-ak" not in c]
    body = json.dumps(policy).encode()
    fields["policy"] = base64.b64encode(body).decode()
    fields["q-signature"] = cos_emulator.post_policy_signature(SKEY, fields["q-key-time"], body)
    assert_error(post(emu, fields), 403, "AccessDenied")  # q-ak condition is mandatory


# --- multipart -------------------------------------------------------------------------------------

def test_multipart_with_sdk_client_and_presigned_parts(client, emu):
    key = "mp/video 1.mp4"
    parts_data = [bytes([i]) * MIB for i in range(3)] + [b"tail"]
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="video/mp4")["UploadId"]
    etags = []
    for n, chunk in enumerate(parts_data, start=1):
        if n % 2:
            etag = client.upload_part(Bucket=BUCKET, Key=key, Body=chunk, PartNumber=n, UploadId=upload_id, EnableMD5=True)["ETag"]
        else:
            # presigned part URL signing partnumber;uploadid and content-length, as the broker does
            url = presign(
                client, emu, key, "PUT", params={"partNumber": str(n), "uploadId": upload_id},
                headers={"Content-Length": str(len(chunk))},
            )
            assert "q-url-param-list=partnumber%3Buploadid" in url
            r = requests.put(url, data=chunk)
            assert r.status_code == 200, r.text
            etag = r.headers["ETag"]
        assert etag == '"%s"' % hashlib.md5(chunk).hexdigest()
        etags.append(etag)

    # ListParts paged two at a time
    seen, marker = [], 0
    while True:
        page = client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id, MaxParts=2, PartNumberMarker=marker)
        seen += [(int(p["PartNumber"]), p["ETag"]) for p in page["Part"]]
        if page["IsTruncated"] != "true":
            break
        marker = int(page["NextPartNumberMarker"])
    assert seen == [(n, e) for n, e in enumerate(etags, start=1)]

    done = client.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload_id,
        MultipartUpload={"Part": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    assert done["ETag"].endswith('-4"')
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].get_raw_stream().read()
    assert body == b"".join(parts_data)
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["Content-Type"] == "video/mp4" and int(head["Content-Length"]) == 3 * MIB + 4
    # the upload is gone once completed
    with pytest.raises(CosServiceError) as e:
        client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert e.value.get_status_code() == 404 and e.value.get_error_code() == "NoSuchUpload"


def complete_error(client, key, upload_id, parts):
    with pytest.raises(CosServiceError) as e:
        client.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload_id,
            MultipartUpload={"Part": [{"PartNumber": n, "ETag": t} for n, t in parts]},
        )
    return e.value.get_status_code(), e.value.get_error_code()


def test_multipart_rejections(client, emu):
    key = "mp/bad.bin"
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    small = client.upload_part(Bucket=BUCKET, Key=key, Body=b"s" * 1000, PartNumber=1, UploadId=upload_id)["ETag"]
    big = client.upload_part(Bucket=BUCKET, Key=key, Body=b"b" * MIB, PartNumber=2, UploadId=upload_id)["ETag"]
    # a part below 1 MB that is not the last
    assert complete_error(client, key, upload_id, [(1, small), (2, big)]) == (400, "EntityTooSmall")
    # a forged ETag, an unknown part, descending order
    assert complete_error(client, key, upload_id, [(2, '"' + "0" * 32 + '"')]) == (400, "InvalidPart")
    assert complete_error(client, key, upload_id, [(2, big), (3, big)]) == (400, "InvalidPart")
    assert complete_error(client, key, upload_id, [(2, big), (1, small)]) == (400, "InvalidPartOrder")
    # expired presigned part URL
    url = presign(client, emu, key, "PUT", expired=-5, params={"partNumber": "3", "uploadId": upload_id})
    assert_error(requests.put(url, data=b"x"), 403, "AccessDenied")
    # a signed partNumber changed in the URL
    url = presign(client, emu, key, "PUT", params={"partNumber": "3", "uploadId": upload_id})
    assert_error(requests.put(url.replace("partNumber=3", "partNumber=4"), data=b"x"), 403, "SignatureDoesNotMatch")
    # Content-MD5 that does not match
    with pytest.raises(CosServiceError) as e:
        client.upload_part(Bucket=BUCKET, Key=key, Body=b"x", PartNumber=3, UploadId=upload_id, ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert e.value.get_error_code() == "BadDigest"
    # abort, after which the upload is unknown
    client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)
    with pytest.raises(CosServiceError) as e:
        client.upload_part(Bucket=BUCKET, Key=key, Body=b"x", PartNumber=1, UploadId=upload_id)
    assert e.value.get_status_code() == 404 and e.value.get_error_code() == "NoSuchUpload"
    with pytest.raises(CosServiceError) as e:
        client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId="f" * 40)
    assert e.value.get_error_code() == "NoSuchUpload"
    # the object was never created
    with pytest.raises(CosServiceError) as e:
        client.head_object(Bucket=BUCKET, Key=key)
    assert e.value.get_status_code() == 404


# --- the verifiers against every SDK-produced vector of the repo (tests/vectors/cos.json) ----------------

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "cos.json"), encoding="utf-8") as f:
    VECTORS = json.load(f)


def test_request_verifier_reproduces_every_vector():
    checked = []
    for v in VECTORS["request_signatures"]:
        if "header_list" not in v or "params" not in v:
            continue
        header_names = [h for h in v["header_list"].split(";") if h]
        given = {k.lower(): val for k, val in v["headers"].items()}
        headers = {name: given[name] for name in header_names}
        fields = cos_emulator.sdk_signature(
            v["secret_id"], v["secret_key"], v["method"], v["path"], v["params"], headers, v["key_time"]
        )
        assert fields["q-signature"] == v["signature"], v["id"]
        assert fields["q-url-param-list"] == v["url_param_list"], v["id"]
        checked.append(v["id"])
    assert len(checked) >= 8, checked


def test_post_policy_signer_reproduces_every_vector():
    for v in VECTORS["post_policies"]:
        policy = base64.b64decode(v["policy_base64"])
        assert cos_emulator.post_policy_signature(v["secret_key"], v["key_time"], policy) == v["signature"], v["id"]


def test_malformed_requests_get_4xx_not_5xx(client, emu):
    url = presign(client, emu, "m.txt", "PUT")
    cases = [
        ("GET", "/m.txt", {"Authorization": "garbage"}, b""),
        ("GET", "/m.txt", {"Authorization": "q-sign-algorithm=sha1&q-ak=x&q-sign-time=a;b&q-key-time=a;b&q-header-list=&q-url-param-list=&q-signature=x"}, b""),
        ("GET", "/m.txt?q-signature=abc", {}, b""),
        ("GET", "/%ff%fe", {}, b""),
        ("POST", "/", {"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nnot a part"),
        ("POST", "/", {"Content-Type": "multipart/form-data"}, b"x"),
        ("POST", "/", {"Content-Type": "multipart/form-data; boundary=zz"},
         b'--zz\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--zz\r\nContent-Disposition: form-data; name="policy"\r\n\r\n!!\r\n'
         b'--zz\r\nContent-Disposition: form-data; name="q-sign-algorithm"\r\n\r\nsha1\r\n--zz\r\nContent-Disposition: form-data; name="q-ak"\r\n\r\n' + SID.encode() +
         b'\r\n--zz\r\nContent-Disposition: form-data; name="q-key-time"\r\n\r\n1;2\r\n--zz\r\nContent-Disposition: form-data; name="q-signature"\r\n\r\nx\r\n'
         b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc\r\n--zz--\r\n'),
    ]
    for method, path, headers, body in cases:
        r = requests.request(method, emu.url + path, headers=headers, data=body)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert error_code(r)
    r = requests.put(url.replace("q-key-time=", "q-key-time=x"), data=b"x")
    assert r.status_code == 403
    # a chunked body is refused with 411 (COS wants a length)
    r = requests.put(url, data=iter([b"a", b"b"]))
    assert r.status_code == 411
