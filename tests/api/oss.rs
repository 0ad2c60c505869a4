//! Aliyun OSS flows through the broker's HTTP API against the OSS emulator (tests/emulators/oss_emulator.py),
//! which checks every request with alibabacloud-oss-v2's own V4 signer, enforces the POST policy, presigned
//! limits and multipart rules, keeps objects on disk and sends RSA-MD5-signed callbacks.
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::emulated::{confirm, download, download_url, flip_after, get, text, Emulator};
use crate::helpers::{assert_problem, fixture, token, AppOptions, Services, TestApp};
use crate::s3::{
    bytes, complete, create_upload, credential, form_post, handle, path_id, put_part, put_with,
    send_part, sign, unique,
};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const BUCKET: &str = "pb-test";
const AK: &str = "PBTESTOSSACCESSKEY01";
const SK: &str = "pbtest/oss+secret0000000000000000";

fn oss_emulator() -> Emulator {
    Emulator::spawn(
        "oss",
        &[
            "--region",
            "cn-hangzhou",
            "--access-key-id",
            AK,
            "--access-key-secret",
            SK,
        ],
    )
}

/// A broker with `ossemu` (callbacks on; the emulator's key URL allowed) and `ossplain` (no callback).
async fn broker(emu: &Emulator) -> TestApp {
    let mut extra = String::new();
    let pattern = format!("^{}/__emulator/", emu.base.replace('.', r"\."));
    for (name, callback) in [("ossemu", true), ("ossplain", false)] {
        extra += &format!(
            "[stores.{name}]\nprovider = \"oss\"\nbucket = \"{BUCKET}\"\nregion = \"cn-hangzhou\"\n\
             endpoint = \"{}\"\npath_style = true\naccess_key_id = \"{AK}\"\naccess_key_secret = \"{SK}\"\n\
             callback = {callback}\noss_pub_key_url_pattern = '{pattern}'\n\n",
            emu.base
        );
    }
    TestApp::spawn_with(AppOptions {
        redis: true,
        extra,
        ..Default::default()
    })
    .await
}

fn xml_code(body: &str) -> &str {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code)
        .unwrap_or_default()
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// `store=..&key=..&handle=..`, form-encoded.
fn upload_query(store: &str, key: &str, handle: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("store", store)
        .append_pair("key", key)
        .append_pair("handle", handle)
        .finish()
}

async fn list(app: &TestApp, t: &str, created: &Value) -> reqwest::Response {
    let q = upload_query(
        created["store"].as_str().unwrap_or_default(),
        created["key"].as_str().unwrap_or_default(),
        &handle(created),
    );
    app.http
        .get(app.url(&format!("/v1/multipart/{}/parts?{q}", path_id(created))))
        .bearer_auth(t)
        .send()
        .await
        .expect("list parts")
}

async fn listed_parts(app: &TestApp, t: &str, created: &Value) -> Vec<Value> {
    let res = list(app, t, created).await;
    assert_eq!(res.status().as_u16(), 200);
    let listed: Value = res.json().await.expect("json");
    listed["parts"].as_array().expect("parts").clone()
}

fn as_complete(listed: &[Value]) -> Value {
    listed
        .iter()
        .map(|p| json!({"part_number": p["part_number"], "etag": p["etag"]}))
        .collect()
}

#[tokio::test]
async fn oss_form_post_what_wx_upload_file_sends_is_stored_and_its_policy_refuses_the_rest() {
    let emu = oss_emulator();
    let app = broker(&emu).await;
    let t = token("alice", &["user"]);
    let svc = token("svc", &["service"]);

    let key = unique("users/alice/form ü+");
    let data = bytes(300_000, 3);
    let cred = credential(
        &app,
        &t,
        json!({"store": "ossplain", "key": key, "content_type": "image/jpeg"}),
    )
    .await;
    assert_eq!(cred["provider"], "oss");
    assert_eq!(cred["url"], format!("{}/{BUCKET}/", emu.base));
    assert_eq!(
        cred["fields"]["x-oss-signature-version"],
        "OSS4-HMAC-SHA256"
    );
    // wx.uploadFile: the fields as formData, the file as `file`.
    let (status, body) = text(form_post(&app, &cred, data.clone(), "image/jpeg").await).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(download(&app, &t, "ossplain", &key).await, (200, data));

    // Over the strict rule's 1 MiB: content-length-range refuses it; the allowed size then passes.
    let img = unique("strict/alice/img-") + ".png";
    let cred = credential(
        &app,
        &t,
        json!({"store": "ossplain", "key": img, "content_type": "image/png"}),
    )
    .await;
    let (status, body) = text(form_post(&app, &cred, bytes(MIB + 1, 1), "image/png").await).await;
    assert_eq!((status, xml_code(&body)), (400, "EntityTooLarge"), "{body}");
    let small = bytes(1000, 2);
    assert_eq!(
        text(form_post(&app, &cred, small.clone(), "image/png").await)
            .await
            .0,
        204
    );
    assert_eq!(download(&app, &svc, "ossplain", &img).await, (200, small));

    // A field changed after signing (another key, another type, a forged signature): refused.
    let other = unique("strict/alice/other-") + ".png";
    for (field, value, code) in [
        ("key", other.as_str(), "AccessDenied"),
        ("Content-Type", "text/html", "AccessDenied"),
        ("x-oss-signature", &"0".repeat(64), "SignatureDoesNotMatch"),
    ] {
        let mut forged = cred.clone();
        forged["fields"][field] = json!(value);
        let (status, body) = text(form_post(&app, &forged, bytes(100, 3), "image/png").await).await;
        assert_eq!(status, 403, "forged {field}: {body}");
        assert_eq!(xml_code(&body), code, "forged {field}");
    }
    assert_eq!(download(&app, &svc, "ossplain", &other).await.0, 404);
}

#[tokio::test]
async fn oss_put_download_and_confirm_work_and_tampered_or_expired_credentials_are_refused() {
    let emu = oss_emulator();
    let app = broker(&emu).await;
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);
    let key = unique("users/alice/put a+b=");
    let data = bytes(100_000, 7);
    let cred = credential(&app, &t, json!({"store": "ossplain", "key": key, "method": "PUT", "content_type": "image/jpeg", "size": data.len()})).await;
    let url = cred["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(&emu.base), "{url}");
    assert!(
        url.contains("x-oss-additional-headers=content-length"),
        "{url}"
    );

    // A longer body than the signed Content-Length, a tampered signature, another key: refused.
    let res = app
        .http
        .put(&url)
        .header("content-type", "image/jpeg")
        .body(bytes(data.len() + 1, 7))
        .send()
        .await
        .expect("PUT");
    let (status, body) = text(res).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"));
    let mut tampered = cred.clone();
    tampered["url"] = json!(flip_after(&url, "x-oss-signature="));
    let (status, body) = text(put_with(&app, &tampered, data.clone()).await).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"));
    let mut moved = cred.clone();
    moved["url"] = json!(url.replacen("/users/alice/", "/users/alicf/", 1));
    assert_eq!(
        text(put_with(&app, &moved, data.clone()).await).await.0,
        403
    );
    assert_eq!(download(&app, &t, "ossplain", &key).await.0, 404);

    let res = put_with(&app, &cred, data.clone()).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        download(&app, &t, "ossplain", &key).await,
        (200, data.clone())
    );

    // Download URLs: tampered or expired → refused by the emulator.
    let short = download_url(&app, &t, "ossplain", &key, Some(1)).await;
    let url = download_url(&app, &t, "ossplain", &key, None).await;
    assert_eq!(
        get(&app, &flip_after(&url, "x-oss-signature=")).await.0,
        403
    );
    assert_eq!(
        get(&app, &url.replacen("/users/alice/", "/users/alicf/", 1))
            .await
            .0,
        403,
        "another key"
    );

    // Confirm: a signed HEAD, recorded once however often it is asked.
    for attempt in 0..2 {
        let res = confirm(&app, &t, "ossplain", &key).await;
        assert_eq!(res.status().as_u16(), 200, "attempt {attempt}");
        let confirmed: Value = res.json().await.expect("json");
        assert_eq!(
            confirmed,
            json!({"store": "ossplain", "key": key, "size": data.len(), "etag": md5_hex(&data), "content_type": "image/jpeg"})
        );
    }
    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (
            &events[0]["provider"],
            &events[0]["source"],
            &events[0]["bucket"]
        ),
        (&json!("oss"), &json!("confirm"), &json!(BUCKET))
    );
    assert_problem(
        confirm(&app, &t, "ossplain", &unique("users/alice/absent-")).await,
        404,
        "not_found",
    )
    .await;

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = get(&app, &short).await;
    assert_eq!(status, 403, "expired");
    assert_eq!(xml_code(&String::from_utf8_lossy(&body)), "AccessDenied");
}

#[tokio::test]
async fn oss_multipart_resumes_completes_and_is_refused_over_max_size_or_aborted() {
    let emu = oss_emulator();
    let app = broker(&emu).await;
    let t = token("alice", &["user"]);

    // Three parts: 100 KiB (OSS's minimum), 100 KiB, a short last one.
    let key = unique("users/alice/multi ü-");
    let created = create_upload(
        &app,
        &t,
        json!({"store": "ossplain", "key": key, "content_type": "video/mp4"}),
    )
    .await;
    assert_eq!(created["provider"], "oss");
    assert_eq!(created["max_parts"], 3, "20 MiB rule, 8 MiB parts");
    let data = [bytes(100 * KIB, 1), bytes(100 * KIB, 2), bytes(1234, 3)];
    let (status, signed) = sign(&app, &t, &created, &[1, 2, 3]).await;
    assert_eq!(status, 200, "{signed}");
    let urls = signed["parts"].as_array().expect("parts").clone();
    assert_eq!(
        urls[0]["headers"],
        json!({}),
        "no size declared: none signed"
    );
    put_part(&app, &urls[0], data[0].clone()).await;
    put_part(&app, &urls[1], data[1].clone()).await;
    // The client loses its state: the list gives the parts back, then it goes on with part 3.
    let listed = listed_parts(&app, &t, &created).await;
    assert_eq!(
        listed
            .iter()
            .map(|p| (p["part_number"].as_u64(), p["size"].as_u64()))
            .collect::<Vec<_>>(),
        [
            (Some(1), Some(100 * KIB as u64)),
            (Some(2), Some(100 * KIB as u64))
        ]
    );
    let (_, again) = sign(&app, &t, &created, &[3]).await;
    put_part(&app, &again["parts"][0], data[2].clone()).await;
    let listed = listed_parts(&app, &t, &created).await;
    let res = complete(&app, &t, &created, as_complete(&listed)).await;
    assert_eq!(res.status().as_u16(), 200);
    let done: Value = res.json().await.expect("json");
    let whole = data.concat();
    assert_eq!(done["size"], whole.len());
    assert!(
        done["etag"].as_str().is_some_and(|e| e.ends_with("-3")),
        "{done}"
    );
    assert_eq!(
        done["location"],
        format!(
            "{}/{BUCKET}/{}",
            emu.base,
            key.replace(' ', "%20").replace('ü', "%C3%BC")
        )
    );
    assert_eq!(download(&app, &t, "ossplain", &key).await, (200, whole));

    // A part under 100 KiB that is not the last: OSS refuses the Complete (400 invalid_request).
    let small = unique("users/alice/small-");
    let created = create_upload(&app, &t, json!({"store": "ossplain", "key": small})).await;
    let (_, signed) = sign(&app, &t, &created, &[1, 2]).await;
    put_part(&app, &signed["parts"][0], bytes(99 * KIB, 1)).await;
    put_part(&app, &signed["parts"][1], bytes(10, 2)).await;
    let listed = listed_parts(&app, &t, &created).await;
    assert_problem(
        complete(&app, &t, &created, as_complete(&listed)).await,
        400,
        "invalid_request",
    )
    .await;

    // A declared size: each part's exact length is signed; another length is refused by the emulator.
    let sized = unique("users/alice/sized-");
    let total = 8 * MIB + 1000;
    let created = create_upload(
        &app,
        &t,
        json!({"store": "ossplain", "key": sized, "size": total}),
    )
    .await;
    let (_, signed) = sign(&app, &t, &created, &[1, 2]).await;
    assert_eq!(signed["parts"][1]["headers"]["Content-Length"], "1000");
    let res = app
        .http
        .put(signed["parts"][1]["url"].as_str().expect("url"))
        .body(bytes(1001, 9))
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status().as_u16(), 403, "a part of another length");
    let body = bytes(total, 4);
    put_part(&app, &signed["parts"][0], body[..8 * MIB].to_vec()).await;
    put_part(&app, &signed["parts"][1], body[8 * MIB..].to_vec()).await;
    let listed = listed_parts(&app, &t, &created).await;
    assert_eq!(
        complete(&app, &t, &created, as_complete(&listed))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(download(&app, &t, "ossplain", &sized).await, (200, body));

    // Over the rule's 20 MiB: 413, and the upload is aborted (gone).
    let big = unique("users/alice/big-");
    let created = create_upload(&app, &t, json!({"store": "ossplain", "key": big})).await;
    let (_, signed) = sign(&app, &t, &created, &[1, 2, 3]).await;
    for (i, len) in [10 * MIB, 10 * MIB, 1].into_iter().enumerate() {
        let res = send_part(&app, &signed["parts"][i], bytes(len, i as u8)).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let listed = listed_parts(&app, &t, &created).await;
    assert_problem(
        complete(&app, &t, &created, as_complete(&listed)).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_problem(list(&app, &t, &created).await, 404, "not_found").await;
    assert_eq!(download(&app, &t, "ossplain", &big).await.0, 404);

    // Abort: 204, then the upload is gone.
    let gone = unique("users/alice/abort-");
    let created = create_upload(&app, &t, json!({"store": "ossplain", "key": gone})).await;
    let (_, signed) = sign(&app, &t, &created, &[1]).await;
    put_part(&app, &signed["parts"][0], bytes(1000, 1)).await;
    let q = upload_query("ossplain", &gone, &handle(&created));
    let res = app
        .http
        .delete(app.url(&format!("/v1/multipart/{}?{q}", path_id(&created))))
        .bearer_auth(&t)
        .send()
        .await
        .expect("abort");
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(list(&app, &t, &created).await, 404, "not_found").await;
}

#[tokio::test]
async fn oss_callbacks_are_verified_recorded_once_and_their_answer_relayed_to_the_uploader() {
    let emu = oss_emulator();
    let app = broker(&emu).await;
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);

    // Form POST: the emulator calls back, the broker verifies and records, the emulator relays the answer.
    let key = unique("users/alice/cb ü+");
    let data = bytes(200_000, 4);
    let cred = credential(
        &app,
        &t,
        json!({"store": "ossemu", "key": key, "content_type": "image/png"}),
    )
    .await;
    assert!(cred["fields"]["callback"].as_str().is_some(), "{cred}");
    let (status, answer) = text(form_post(&app, &cred, data.clone(), "image/png").await).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("relayed JSON");
    let etag = md5_hex(&data).to_ascii_uppercase();
    assert_eq!(
        answer,
        json!({"key": key, "etag": etag, "size": data.len(), "bucket": BUCKET})
    );
    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (&e["provider"], &e["store"], &e["source"], &e["subject"]),
        (
            &json!("oss"),
            &json!("ossemu"),
            &json!("oss-callback"),
            &json!("alice")
        )
    );
    assert_eq!(
        (&e["key"], &e["etag"], &e["size"], &e["content_type"]),
        (
            &json!(key),
            &json!(md5_hex(&data)),
            &json!(data.len()),
            &json!("image/png")
        )
    );
    // The same object confirmed (signed HEAD) and uploaded again: one idempotency key, nothing new.
    assert_eq!(
        confirm(&app, &t, "ossemu", &key).await.status().as_u16(),
        200
    );
    let res = form_post(&app, &cred, data.clone(), "image/png").await;
    assert_eq!(
        res.status().as_u16(),
        200,
        "a redelivery is answered the same"
    );
    assert_eq!(app.recorded_events(&redis).await.len(), 1, "recorded once");

    // PUT: x-oss-callback is a signed header; the answer is relayed too.
    let put_key = unique("users/alice/cbput-");
    let body = bytes(5000, 5);
    let cred = credential(
        &app,
        &t,
        json!({"store": "ossemu", "key": put_key, "method": "PUT", "size": body.len()}),
    )
    .await;
    assert!(
        cred["headers"]["x-oss-callback"].as_str().is_some(),
        "{cred}"
    );
    let mut unsigned_callback = cred.clone();
    unsigned_callback["headers"]["x-oss-callback"] =
        json!(STANDARD
            .encode(r#"{"callbackUrl":"http://127.0.0.1:9/x","callbackBody":"k=${object}"}"#));
    assert_eq!(
        text(put_with(&app, &unsigned_callback, body.clone()).await)
            .await
            .0,
        403,
        "another callback breaks the signature"
    );
    let res = put_with(&app, &cred, body.clone()).await;
    assert_eq!(res.status().as_u16(), 200);
    let answer: Value = res.json().await.expect("relayed JSON");
    assert_eq!(answer["key"], put_key.as_str());
    assert_eq!(app.recorded_events(&redis).await.len(), 2);

    // Multipart: Complete carries x-oss-callback; the broker, called back while it completes, records it.
    let mp_key = unique("users/alice/cbmp-");
    let created = create_upload(&app, &t, json!({"store": "ossemu", "key": mp_key})).await;
    let (_, signed) = sign(&app, &t, &created, &[1, 2]).await;
    let parts = [bytes(100 * KIB, 6), bytes(77, 7)];
    put_part(&app, &signed["parts"][0], parts[0].clone()).await;
    put_part(&app, &signed["parts"][1], parts[1].clone()).await;
    let listed = listed_parts(&app, &t, &created).await;
    let res = complete(&app, &t, &created, as_complete(&listed)).await;
    assert_eq!(res.status().as_u16(), 200);
    let done: Value = res.json().await.expect("json");
    assert_eq!(done["size"], 100 * KIB + 77);
    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        (&events[2]["key"], &events[2]["etag"], &events[2]["source"]),
        (&json!(mp_key), &done["etag"], &json!("oss-callback"))
    );
    assert_eq!(
        download(&app, &t, "ossemu", &mp_key).await,
        (200, parts.concat())
    );
}

/// A callback signed with another RSA key (the test's fixture key), under the emulator's allowed key URL.
fn forged_signature(path_and_query: &str, body: &str) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    let pem = std::fs::read_to_string(fixture("keys/rsa-private.pem")).expect("fixture key");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("RSA key");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut to_sign = path.as_bytes().to_vec();
    if !query.is_empty() {
        to_sign.push(b'?');
        to_sign.extend_from_slice(query.as_bytes());
    }
    to_sign.push(b'\n');
    to_sign.extend_from_slice(body.as_bytes());
    let digest = Md5::digest(&to_sign);
    let signature = key
        .sign(rsa::Pkcs1v15Sign::new::<Md5>(), &digest)
        .expect("sign");
    STANDARD.encode(signature)
}

#[tokio::test]
async fn a_forged_oss_callback_is_refused_and_nothing_is_recorded() {
    let emu = oss_emulator();
    let app = broker(&emu).await;
    let redis = Services::redis_url();
    let key = "users/alice/forged.bin";
    let valid_until = chrono::Utc::now().timestamp() + 3600;
    let ticket =
        presign_broker::ticket::issue(&app.state.ticket_key, "ossemu", key, "alice", valid_until);
    let path = format!("/v1/callbacks/ossemu?t={ticket}");
    let body = format!(
        "bucket={BUCKET}&key=users%2Falice%2Fforged.bin&etag=ABC&size=3&mimeType=&sub=alice"
    );
    let key_url = |url: &str| STANDARD.encode(url);
    let allowed = format!("{}/__emulator/callback_pub_key.pem", emu.base);
    let post = |authorization: String, pub_key_url: String| {
        app.http
            .post(app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", authorization)
            .header("x-oss-pub-key-url", pub_key_url)
            .body(body.clone())
            .send()
    };
    // Signed by a key that is not the one at the (allowed) key URL.
    let forged = forged_signature(&path, &body);
    let res = post(forged.clone(), key_url(&allowed)).await.expect("POST");
    assert_problem(res, 401, "signature_invalid").await;
    // The forger's own key URL does not match oss_pub_key_url_pattern: never fetched.
    let res = post(forged, key_url("http://127.0.0.1:1/evil.pem"))
        .await
        .expect("POST");
    assert_problem(res, 401, "signature_invalid").await;
    // Garbage and missing signatures.
    let res = post("bm90IGEgc2lnbmF0dXJl".into(), key_url(&allowed))
        .await
        .expect("POST");
    assert_problem(res, 401, "signature_invalid").await;
    let res = app
        .http
        .post(app.url(&path))
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_problem(res, 401, "signature_invalid").await;
    assert!(
        app.recorded_events(&redis).await.is_empty(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_oss_wherever_providers_are_enumerated() {
    fn descriptions<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(text) if k == "description" => out.push(text),
                        _ => descriptions(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| descriptions(v, out)),
            _ => {}
        }
    }
    let app = TestApp::spawn().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let mut texts = Vec::new();
    descriptions(&doc, &mut texts);
    let enumerations: Vec<&str> = texts
        .into_iter()
        .filter(|t| {
            let t = t.to_ascii_lowercase();
            // A list of providers names Qiniu beside S3 or COS.
            t.contains("qiniu") && (t.contains("cos") || t.contains("s3"))
        })
        .collect();
    assert!(enumerations.len() >= 4, "{enumerations:?}");
    for text in enumerations {
        assert!(text.to_ascii_lowercase().contains("oss"), "{text}");
    }
}
