//! Every vector of tests/vectors/qiniu_v2.json (tokens, encoded keys, the SDK's captured flows request by
//! request with regenerated part bodies, the doc-derived list/abort requests, the callback), plus the
//! token the broker mints, the answer parsers and the error mapping.
use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::*;
use crate::providers::qiniu::callback::{verify_callback, CallbackRequest};
use crate::providers::qiniu::signing::{
    encoded_sign, qbox_signing_data, qiniu_signing_data, RequestToSign,
};
use crate::providers::qiniu::token::{decode_verified_token, upload_token, PutPolicy};
use crate::providers::qiniu::QiniuStoreConfig;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../../../tests/vectors/qiniu_v2.json"))
        .expect("tests/vectors/qiniu_v2.json parses")
}

fn s<'v>(v: &'v Value, field: &str) -> &'v str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {v}"))
}

fn list<'v>(v: &'v Value, field: &str) -> &'v Vec<Value> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is not an array"))
}

fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

/// A store on the vector's bucket and upload host, with the vectors' AK/SK.
fn store_on(bucket: &str, up_host: &str) -> QiniuStore {
    QiniuStore::new(QiniuStoreConfig {
        bucket: bucket.to_owned(),
        upload_url: up_host.to_owned(),
        download_domain: None,
        access_key: "MY_ACCESS_KEY".to_owned(),
        secret_key: "MY_SECRET_KEY".into(),
        rs_host: None,
    })
    .expect("valid store")
}

/// `[name, value]` pairs of a captured request, minus the ones the HTTP client adds (`User-Agent` always,
/// `Content-Length` of a non-empty body, which the test checks against the body instead).
fn captured_headers(request: &Value) -> Vec<(String, String)> {
    list(request, "headers")
        .iter()
        .map(|h| {
            let pair = h.as_array().expect("[name, value]");
            (
                pair[0].as_str().expect("name").to_owned(),
                pair[1].as_str().expect("value").to_owned(),
            )
        })
        .filter(|(name, value)| name != "User-Agent" && !(name == "Content-Length" && value != "0"))
        .collect()
}

fn captured_length(request: &Value) -> Option<u64> {
    list(request, "headers")
        .iter()
        .find(|h| h[0] == "Content-Length")
        .and_then(|h| h[1].as_str())
        .and_then(|l| l.parse().ok())
}

#[test]
fn both_token_vectors_are_reproduced_and_their_policies_fit_put_policy() {
    let v = vectors();
    let tokens = list(&v, "upload_tokens");
    assert_eq!(tokens.len(), 2);
    let mut failures = Vec::new();
    for t in tokens {
        let (id, ak, sk, json) = (s(t, "id"), s(t, "ak"), s(t, "sk"), s(t, "policy_json"));
        let encoded_policy = urlsafe_b64(json.as_bytes());
        if encoded_policy != s(t, "encoded_policy") {
            failures.push(format!("{id}: encoded_policy"));
        }
        if encoded_sign(sk, encoded_policy.as_bytes()) != s(t, "encoded_sign") {
            failures.push(format!("{id}: encoded_sign"));
        }
        if upload_token(ak, sk, json) != s(t, "token") {
            failures.push(format!("{id}: token"));
        }
        // The typed policy reads every field of the SDK's policy and writes the same data back.
        match serde_json::from_str::<PutPolicy>(json) {
            Ok(policy) => {
                let ours: Value = serde_json::from_str(&policy.to_json()).expect("JSON");
                let theirs: Value = serde_json::from_str(json).expect("JSON");
                if ours != theirs {
                    failures.push(format!("{id}: typed policy differs: {ours}"));
                }
            }
            Err(e) => failures.push(format!("{id}: does not fit PutPolicy: {e}")),
        }
    }
    report(failures);
}

#[test]
fn every_encoded_key_vector_is_reproduced() {
    let v = vectors();
    let keys = list(&v, "encoded_keys");
    assert_eq!(keys.len(), 9);
    let failures: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let got = encoded_object_name(k["key"].as_str());
            (got != s(k, "encoded")).then(|| format!("{:?}: {got}", k["key"]))
        })
        .collect();
    report(failures);
}

/// `byte i = i % 251`, as the SDK flows were generated.
fn regenerated_data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Pairs of a complete field that is a JSON object (or null).
fn object_pairs(value: &Value) -> Vec<(&str, &str)> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().expect("string value")))
                .collect()
        })
        .unwrap_or_default()
}

/// The SDK's JSON with its null members dropped, written compact in the SDK's member order
/// (serde_json keeps insertion order in the tests).
fn without_nulls(body: &str) -> String {
    let mut value: Value = serde_json::from_str(body).expect("JSON body");
    value
        .as_object_mut()
        .expect("object")
        .retain(|_, v| !v.is_null());
    serde_json::to_string(&value).expect("serializes")
}

/// One flow: initiate, each part (body regenerated, MD5 checked), complete, request by request.
fn check_flow(flow: &Value, failures: &mut Vec<String>) -> usize {
    let id = s(flow, "id");
    let store = store_on(s(flow, "bucket"), s(flow, "up_host"));
    let key = flow["key"].as_str().unwrap_or("");
    let (token, upload_id) = (s(flow, "token"), s(flow, "upload_id"));
    if encoded_object_name(flow["key"].as_str()) != s(flow, "encoded_key") {
        failures.push(format!("{id}: encoded_key"));
    }
    let data = regenerated_data(flow["data"]["size"].as_u64().expect("size") as usize);
    let part_size = flow["data"]["part_size"].as_u64().expect("part_size") as usize;
    let parts = list(flow, "parts");
    let requests = list(flow, "requests");
    assert_eq!(
        requests.len(),
        parts.len() + 2,
        "{id}: initiate, parts, complete"
    );
    let mut checked = 0;
    let mut compare = |n: usize, method: &str, url: &str, headers: Vec<(String, String)>| {
        checked += 1;
        let want = &requests[n];
        let same = method == s(want, "method")
            && url == s(want, "url")
            && headers == captured_headers(want);
        (!same).then(|| format!("{id} request {n}: {method} {url} {headers:?}"))
    };
    let mut mismatches = Vec::new();

    let initiate = store.initiate_call(key, token);
    assert!(initiate.body.is_empty());
    mismatches.extend(compare(
        0,
        initiate.method.as_str(),
        &initiate.url,
        initiate.headers,
    ));

    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = part["partNumber"].as_u64().expect("partNumber") as u32;
        let start = (number as usize - 1) * part_size;
        let body = &data[start..(start + part_size).min(data.len())];
        let md5 = hex::encode(Md5::digest(body));
        let request = &requests[i + 1];
        let body_ok = md5 == s(part, "md5_hex")
            && md5 == s(request, "body_md5_hex")
            && Some(body.len() as u64) == request["body_len"].as_u64()
            && Some(body.len() as u64) == part["size"].as_u64()
            && Some(body.len() as u64) == captured_length(request);
        if !body_ok {
            failures.push(format!(
                "{id} part {number}: body md5 {md5} / length {}",
                body.len()
            ));
        }
        let signed = store.part_request(key, token, upload_id, number, Some(&md5));
        mismatches.extend(compare(i + 1, signed.method, &signed.url, signed.headers));
        completed.push((number, s(part, "etag_returned_by_fake_server").to_owned()));
    }

    let fields = &flow["complete_fields"];
    let (custom_vars, metadata) = (
        object_pairs(&fields["customVars"]),
        object_pairs(&fields["metadata"]),
    );
    let complete = store.complete_call(
        key,
        token,
        upload_id,
        &completed,
        &CompleteFields {
            fname: fields["fname"].as_str(),
            mime_type: fields["mimeType"].as_str(),
            custom_vars: &custom_vars,
            metadata: &metadata,
        },
    );
    let last = requests.last().expect("complete request");
    let ours = String::from_utf8(complete.body.clone()).expect("UTF-8");
    if ours != without_nulls(s(last, "body")) {
        failures.push(format!("{id} complete body: {ours}"));
    }
    // The SDK's own body is what it says it is (its bytes are only spaced differently from ours).
    if hex::encode(Md5::digest(s(last, "body"))) != s(last, "body_md5_hex") {
        failures.push(format!("{id} complete: vector body md5"));
    }
    mismatches.extend(compare(
        requests.len() - 1,
        complete.method.as_str(),
        &complete.url,
        complete.headers,
    ));
    failures.extend(mismatches);
    checked
}

#[test]
fn every_captured_sdk_request_is_reproduced() {
    let v = vectors();
    let flows = list(&v, "flows");
    assert_eq!(flows.len(), 2);
    let mut failures = Vec::new();
    let checked: usize = flows.iter().map(|f| check_flow(f, &mut failures)).sum();
    report(failures);
    assert_eq!(checked, 8);
}

#[test]
fn every_doc_derived_list_and_abort_request_is_reproduced() {
    let v = vectors();
    let docs = list(&v, "doc_requests");
    let ids: Vec<&str> = docs.iter().map(|d| s(d, "id")).collect();
    assert_eq!(ids, ["L1", "L2", "A1"]);
    let mut failures = Vec::new();
    for d in docs {
        let store = store_on(s(d, "bucket"), s(d, "up_host"));
        let (key, token, upload_id) = (s(d, "key"), s(d, "token"), s(d, "upload_id"));
        assert_eq!(encoded_object_name(Some(key)), s(d, "encoded_key"));
        let want = &d["request"];
        let call = match s(want, "method") {
            "GET" => {
                let query = s(want, "query");
                let marker = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("part-number-marker="))
                    .map(|m| m.parse().expect("numeric marker"));
                store.list_parts_call(key, token, upload_id, LIST_PAGE_SIZE, marker)
            }
            "DELETE" => store.abort_call(key, token, upload_id),
            other => panic!("unexpected method {other}"),
        };
        let ok = call.method.as_str() == s(want, "method")
            && call.url == s(want, "url")
            && call.headers == captured_headers(want)
            && call.body.is_empty()
            && s(want, "body").is_empty();
        if !ok {
            failures.push(format!("{}: {call:?}", s(d, "id")));
        }
    }
    report(failures);
}

#[test]
fn the_callback_vector_signs_and_verifies_in_both_schemes() {
    let v = vectors();
    let callbacks = list(&v, "callbacks");
    assert_eq!(callbacks.len(), 1);
    let cb = &callbacks[0];
    assert!(list(cb, "headers").is_empty());
    let (ak, sk) = (s(cb, "ak"), s(cb, "sk"));
    let request = RequestToSign {
        method: s(cb, "method"),
        path: s(cb, "path"),
        query: Some(s(cb, "query")),
        host: s(cb, "host"),
        content_type: Some(s(cb, "content_type")),
        headers: &[],
        body: s(cb, "body").as_bytes(),
    };
    let qbox = qbox_signing_data(&request);
    let qiniu = qiniu_signing_data(&request);
    assert_eq!(qbox, s(cb, "qbox_signing_string").as_bytes());
    assert_eq!(qiniu, s(cb, "qiniu_signing_string").as_bytes());
    assert_eq!(
        format!("QBox {ak}:{}", encoded_sign(sk, &qbox)),
        s(cb, "qbox_authorization")
    );
    assert_eq!(
        format!("Qiniu {ak}:{}", encoded_sign(sk, &qiniu)),
        s(cb, "qiniu_authorization")
    );
    let body = s(cb, "body");
    let tampered = body.replace("1048581", "1");
    let keys = [(ak, sk)];
    let (qbox_auth, qiniu_auth) = (s(cb, "qbox_authorization"), s(cb, "qiniu_authorization"));
    assert_eq!(
        verify_callback(&keys, &received(&request, qbox_auth, body)),
        Ok(())
    );
    assert_eq!(
        verify_callback(&keys, &received(&request, qiniu_auth, body)),
        Ok(())
    );
    assert!(verify_callback(&keys, &received(&request, qiniu_auth, &tampered)).is_err());
    // QBox leaves a JSON body unsigned: why the broker's tokens ask for a form callback body.
    assert_eq!(
        verify_callback(&keys, &received(&request, qbox_auth, &tampered)),
        Ok(())
    );
}

/// The callback as the broker receives it: `request` with `authorization` and `body`.
fn received<'a>(
    request: &RequestToSign<'a>,
    authorization: &'a str,
    body: &'a str,
) -> CallbackRequest<'a> {
    CallbackRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        host: request.host,
        content_type: request.content_type,
        headers: &[],
        body: body.as_bytes(),
        authorization: Some(authorization),
    }
}

fn grant(key: &str) -> UploadGrant<'_> {
    UploadGrant {
        key,
        content_type: Some("video/mp4"),
        content_types: &[],
        size: Some(3 * 1_048_576 + 5),
        max_size: 10 << 30,
        overwrite: false,
        subject: "user 42",
        now: 1_893_452_400,
        expires_at: 1_893_456_000,
        callback_url: None,
    }
}

#[test]
fn the_multipart_token_carries_the_broker_policy_for_one_key() {
    let store = store_on("my-bucket", "https://up-z2.qiniup.com");
    let spec = CallbackSpec {
        url: "https://broker.example.com/v1/callbacks/qn?t=abc.def",
    };
    let key = "uploads/2030/video.mp4";
    let token = store.multipart_token(&grant(key), Some(&spec));
    let policy = decode_verified_token("MY_ACCESS_KEY", "MY_SECRET_KEY", &token).expect("verifies");
    assert_eq!(
        policy,
        json!({
            "scope": "my-bucket:uploads/2030/video.mp4",
            "deadline": 1_893_456_000,
            "insertOnly": 1,
            "fsizeLimit": 10_737_418_240u64,
            "mimeLimit": "video/mp4",
            "detectMime": 1,
            "endUser": "user 42",
            "callbackUrl": "https://broker.example.com/v1/callbacks/qn?t=abc.def",
            "callbackBodyType": "application/x-www-form-urlencoded",
            "callbackBody": "key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)&sub=user+42",
        })
    );
    // Stateless: every call of the upload re-mints the same bytes from the same grant.
    assert_eq!(store.multipart_token(&grant(key), Some(&spec)), token);
    assert_ne!(
        store.multipart_token(&grant("other.mp4"), Some(&spec)),
        token
    );
    let without_callback = store.multipart_token(&grant(key), None);
    let policy = decode_verified_token("MY_ACCESS_KEY", "MY_SECRET_KEY", &without_callback)
        .expect("verifies");
    assert!(policy.get("callbackUrl").is_none() && policy.get("returnBody").is_some());
}

#[test]
fn part_requests_carry_the_token_and_optional_hex_md5() {
    let store = store_on("my-bucket", "http://127.0.0.1:9000/");
    let part = store.part_request("a b/中.bin", "AK:sig:policy", "id/with space", 7, None);
    assert_eq!(part.method, "PUT");
    assert_eq!(
        part.url,
        "http://127.0.0.1:9000/buckets/my-bucket/objects/YSBiL-S4rS5iaW4=/uploads/id%2Fwith%20space/7"
    );
    assert_eq!(
        part.headers,
        [
            (
                "Content-Type".to_owned(),
                "application/octet-stream".to_owned()
            ),
            (
                "Authorization".to_owned(),
                "UpToken AK:sig:policy".to_owned()
            ),
        ]
    );
    assert!(!format!("{:?}", store.abort_call("k", "SECRET-TOKEN", "id")).contains("SECRET-TOKEN"));
}

#[test]
fn object_url_is_the_plain_url_on_the_download_domain() {
    let store = store_on("b", "https://up-z2.qiniup.com");
    assert_eq!(store.object_url("k"), None);
    let with_domain = QiniuStore::new(QiniuStoreConfig {
        bucket: "b".to_owned(),
        upload_url: "https://up-z2.qiniup.com".to_owned(),
        download_domain: Some("https://cdn.example.com".to_owned()),
        access_key: "AK".to_owned(),
        secret_key: "SK".into(),
        rs_host: None,
    })
    .expect("valid");
    assert_eq!(
        with_domain.object_url("图/a b+c.jpg").as_deref(),
        Some("https://cdn.example.com/%E5%9B%BE/a%20b%2Bc.jpg")
    );
}

#[test]
fn complete_body_sorts_parts_and_leaves_absent_fields_out() {
    let parts = [(3, "c".to_owned()), (1, "a\"\\".to_owned())];
    assert_eq!(
        complete_body(&parts, &CompleteFields::default()),
        r#"{"parts":[{"etag":"a\"\\","partNumber":1},{"etag":"c","partNumber":3}]}"#
    );
    let fields = CompleteFields {
        fname: Some("视频.mp4"),
        mime_type: Some("video/mp4"),
        ..CompleteFields::default()
    };
    assert_eq!(
        complete_body(&parts[..1], &fields),
        r#"{"parts":[{"etag":"c","partNumber":3}],"fname":"视频.mp4","mimeType":"video/mp4"}"#
    );
}

#[test]
fn answers_are_parsed() {
    assert_eq!(
        parse_initiate(
            br#"{"uploadId":"5f89e8b3a9e0a1000ac2b5e4region02z0","expireAt":1894061200}"#
        )
        .expect("parses"),
        "5f89e8b3a9e0a1000ac2b5e4region02z0"
    );
    assert!(matches!(
        parse_initiate(br#"{"uploadId":""}"#),
        Err(ProviderError::Upstream(_))
    ));
    assert!(matches!(
        parse_initiate(b"<html>"),
        Err(ProviderError::Upstream(_))
    ));

    let page = br#"{"uploadId":"u","expireAt":1894061200,"partNumberMarker":1000,"parts":[{"partNumber":1,"etag":"FpwvxMsg8TAaaw3SEcGeaaE5Jdvk","size":1048576,"putTime":1893452400}]}"#;
    assert_eq!(
        parse_parts_page(page).expect("parses"),
        PartsPage {
            parts: vec![PartInfo {
                part_number: 1,
                etag: "FpwvxMsg8TAaaw3SEcGeaaE5Jdvk".to_owned(),
                size: 1_048_576,
                last_modified: Some(1_893_452_400_000),
            }],
            next_marker: Some(1000),
        }
    );
    let last =
        parse_parts_page(br#"{"uploadId":"u","partNumberMarker":0,"parts":[]}"#).expect("parses");
    assert_eq!(
        last,
        PartsPage {
            parts: vec![],
            next_marker: None
        }
    );
    assert!(matches!(
        parse_parts_page(br#"{"parts":[{"partNumber":1}]}"#),
        Err(ProviderError::Upstream(_))
    ));

    // The broker's returnBody / callback answer, and Qiniu's default answer without fsize.
    let done = parse_complete(
        br#"{"key":"k","hash":"FhYGLkgWnkAR3CrCxpBuSA6CpR3R","fsize":1048581,"bucket":"b"}"#,
    )
    .expect("parses");
    assert_eq!(
        done,
        CompletedUpload {
            etag: "FhYGLkgWnkAR3CrCxpBuSA6CpR3R".to_owned(),
            size: Some(1_048_581)
        }
    );
    assert_eq!(
        parse_complete(br#"{"hash":"h","key":"k"}"#)
            .expect("parses")
            .size,
        None
    );
    assert!(matches!(
        parse_complete(br#"{"key":"k"}"#),
        Err(ProviderError::Upstream(_))
    ));
}

#[test]
fn qiniu_errors_are_mapped() {
    let err = |op, status, message: &str| {
        error_for(
            op,
            status,
            json!({ "error": message }).to_string().as_bytes(),
        )
    };
    for op in [Op::ListParts, Op::Complete, Op::Abort] {
        assert!(matches!(
            err(op, 612, "no such uploadId"),
            ProviderError::NotFound
        ));
    }
    assert!(matches!(
        error_for(Op::Abort, 404, b""),
        ProviderError::NotFound
    ));
    for (status, message) in [
        (400, "invalid part order"),
        (400, "part size too small"),
        (701, "invalid part etag"),
        (413, "file size exceeds limit"),
        (614, "file exists"),
        (
            403,
            "limited mimeType: this file type is forbidden to upload",
        ),
    ] {
        match err(Op::Complete, status, message) {
            ProviderError::BadRequest(text) => {
                assert_eq!(text, format!("qiniu {status}: {message}"))
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    for (op, status, message) in [
        (
            Op::Complete,
            400,
            "incorrect region, please use up-z2.qiniup.com",
        ),
        (Op::Complete, 401, "bad token"),
        (Op::Complete, 403, "key doesn't match with scope"),
        (Op::Complete, 579, "callback failed"),
        (Op::Initiate, 400, "invalid part order"),
        (Op::ListParts, 614, "file exists"),
        (Op::Abort, 503, "busy"),
    ] {
        match err(op, status, message) {
            ProviderError::Upstream(text) => assert!(
                text.contains(&status.to_string()) && text.contains(message),
                "{text}"
            ),
            other => panic!("{status} {message}: {other:?}"),
        }
    }
    match error_for(Op::Complete, 502, &[b'x'; 1000]) {
        ProviderError::Upstream(text) => assert!(text.len() < 250, "{text}"),
        other => panic!("{other:?}"),
    }
}

mod wire {
    //! The async calls against a loopback server: what goes on the wire, paging, and answers mapped.
    use super::*;
    use crate::providers::loopback::canned;

    const TOKEN: &str = "AK:sign=:policy==";

    fn list_page(parts: &[u32], marker: u32) -> String {
        let parts: Vec<Value> = parts
            .iter()
            .map(|n| json!({"partNumber": n, "etag": format!("e{n}"), "size": n, "putTime": 1}))
            .collect();
        json!({"uploadId": "U", "expireAt": 1, "partNumberMarker": marker, "parts": parts})
            .to_string()
    }

    #[tokio::test]
    async fn initiate_posts_with_the_up_token_and_reads_the_upload_id() {
        let (origin, server) = canned(vec![(200, r#"{"uploadId":"U1","expireAt":1}"#.to_owned())]);
        let store = store_on("my-bucket", &origin);
        let id = store
            .initiate_multipart(&reqwest::Client::new(), "uploads/2030/video.mp4", TOKEN)
            .await
            .expect("initiated");
        assert_eq!(id, "U1");
        let seen = server.join().expect("server");
        assert_eq!(
            seen[0].line,
            "POST /buckets/my-bucket/objects/dXBsb2Fkcy8yMDMwL3ZpZGVvLm1wNA==/uploads HTTP/1.1"
        );
        assert_eq!(
            seen[0].header("authorization"),
            Some("UpToken AK:sign=:policy==")
        );
        assert_eq!(seen[0].header("content-length"), Some("0"));
    }

    #[tokio::test]
    async fn list_parts_follows_every_page_and_refuses_a_stuck_marker() {
        let (origin, server) = canned(vec![
            (200, list_page(&[1, 2], 2)),
            (200, list_page(&[3], 0)),
        ]);
        let parts = store_on("b", &origin)
            .list_parts(&reqwest::Client::new(), "k", TOKEN, "U")
            .await
            .expect("two pages");
        let numbers: Vec<(u32, &str, u64)> = parts
            .iter()
            .map(|p| (p.part_number, p.etag.as_str(), p.size))
            .collect();
        assert_eq!(numbers, [(1, "e1", 1), (2, "e2", 2), (3, "e3", 3)]);
        let lines: Vec<String> = server
            .join()
            .expect("server")
            .into_iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(
            lines,
            [
                "GET /buckets/b/objects/aw==/uploads/U?max-parts=1000 HTTP/1.1",
                "GET /buckets/b/objects/aw==/uploads/U?max-parts=1000&part-number-marker=2 HTTP/1.1",
            ]
        );

        let (origin, server) = canned(vec![(200, list_page(&[1], 5)), (200, list_page(&[2], 5))]);
        let err = store_on("b", &origin)
            .list_parts(&reqwest::Client::new(), "k", TOKEN, "U")
            .await
            .expect_err("stuck marker");
        assert!(matches!(err, ProviderError::Upstream(_)), "{err:?}");
        assert_eq!(server.join().expect("server").len(), 2);
    }

    #[tokio::test]
    async fn complete_posts_json_and_maps_the_answers() {
        let (origin, server) = canned(vec![
            (
                200,
                r#"{"key":"k","hash":"Fh","fsize":7,"bucket":"b"}"#.to_owned(),
            ),
            (400, r#"{"error":"invalid part order"}"#.to_owned()),
            (612, r#"{"error":"no such uploadId"}"#.to_owned()),
            (579, r#"{"error":"callback failed"}"#.to_owned()),
        ]);
        let store = store_on("b", &origin);
        let http = reqwest::Client::new();
        let parts = [(1, "e1".to_owned())];
        let fields = CompleteFields {
            fname: Some("v.mp4"),
            ..CompleteFields::default()
        };
        let done = store
            .complete_multipart(&http, "k", TOKEN, "U", &parts, &fields)
            .await
            .expect("completed");
        assert_eq!((done.etag.as_str(), done.size), ("Fh", Some(7)));
        let order = store
            .complete_multipart(&http, "k", TOKEN, "U", &parts, &fields)
            .await;
        assert!(
            matches!(order, Err(ProviderError::BadRequest(_))),
            "{order:?}"
        );
        let gone = store
            .complete_multipart(&http, "k", TOKEN, "U", &parts, &fields)
            .await;
        assert!(matches!(gone, Err(ProviderError::NotFound)), "{gone:?}");
        let callback = store
            .complete_multipart(&http, "k", TOKEN, "U", &parts, &fields)
            .await;
        assert!(
            matches!(callback, Err(ProviderError::Upstream(_))),
            "{callback:?}"
        );
        let seen = server.join().expect("server");
        assert_eq!(
            seen[0].line,
            "POST /buckets/b/objects/aw==/uploads/U HTTP/1.1"
        );
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert_eq!(
            seen[0].body,
            br#"{"parts":[{"etag":"e1","partNumber":1}],"fname":"v.mp4"}"#
        );
    }

    #[tokio::test]
    async fn abort_deletes_and_transport_failures_hide_the_url() {
        let (origin, server) = canned(vec![(200, String::new())]);
        store_on("b", &origin)
            .abort_multipart(&reqwest::Client::new(), "k", TOKEN, "U")
            .await
            .expect("aborted");
        let seen = server.join().expect("server");
        assert_eq!(
            seen[0].line,
            "DELETE /buckets/b/objects/aw==/uploads/U HTTP/1.1"
        );
        assert_eq!(
            seen[0].header("authorization"),
            Some("UpToken AK:sign=:policy==")
        );

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let store = store_on("b", &format!("http://127.0.0.1:{port}"));
        let err = store
            .abort_multipart(&reqwest::Client::new(), "k", TOKEN, "U")
            .await
            .expect_err("nothing listens");
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Transport { .. }));
        assert!(
            !text.contains("127.0.0.1") && !text.contains("policy"),
            "{text}"
        );
    }
}
