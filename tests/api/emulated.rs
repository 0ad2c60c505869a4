//! COS and Qiniu flows through the broker's HTTP API against the emulators in tests/emulators/, which
//! verify every request with the vendors' own SDK code (see tests/emulators/README.md).
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::helpers::{assert_problem, token, AppOptions, Services, TestApp};
use crate::s3::{
    bytes, complete, create_upload, credential, form_post, path_id, put_with, send_part, sign,
    unique, upload_query_in,
};

const MIB: usize = 1 << 20;
const COS_BUCKET: &str = "examplebucket-1250000000";
const COS_REGION: &str = "ap-guangzhou";
const COS_SECRET_ID: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
const COS_SECRET_KEY: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
const QN_BUCKET: &str = "my-bucket";
const QN_AK: &str = "MY_ACCESS_KEY";
const QN_SK: &str = "MY_SECRET_KEY";
/// The smallest PNG signature: what the Qiniu emulator's content sniffing (`detectMime = 1`) reads.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn run_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/emulators/run.sh")
}

/// `run.sh install` once per test process: tests starting emulators in parallel would otherwise race
/// to create the venv (scripts/test.sh installs it first; this covers `cargo test` run alone).
fn install_once() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = Command::new(run_sh())
            .arg("install")
            .status()
            .expect("run tests/emulators/run.sh install");
        assert!(status.success(), "tests/emulators/run.sh install failed");
    });
}

/// One emulator process on a free loopback port with its own data directory; killed on drop.
pub struct Emulator {
    pub base: String,
    child: Child,
    _stdout: BufReader<ChildStdout>,
    dir: tempfile::TempDir,
}

impl Emulator {
    /// `run.sh KIND 0 <tempdir>/data ARGS...`, waiting for its `ready on http://127.0.0.1:PORT` line.
    pub fn spawn(kind: &str, args: &[&str]) -> Self {
        install_once();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("emulator.log")).expect("log file");
        let mut child = Command::new(run_sh())
            .arg(kind)
            .arg("0")
            .arg(dir.path().join("data"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start tests/emulators/run.sh");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let base = line
            .trim_end()
            .strip_prefix("ready on ")
            .filter(|b| b.starts_with("http://127.0.0.1:"))
            .map(String::from);
        let Some(base) = base else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("emulator.log")).unwrap_or_default();
            panic!("{kind} emulator did not start (stdout {line:?}); its log:\n{log}");
        };
        Self {
            base,
            child,
            _stdout: stdout,
            dir,
        }
    }

    pub fn cos() -> Self {
        Self::spawn(
            "cos",
            &[
                "--bucket",
                COS_BUCKET,
                "--region",
                COS_REGION,
                "--secret-id",
                COS_SECRET_ID,
                "--secret-key",
                COS_SECRET_KEY,
            ],
        )
    }

    /// `callback_auth`: the scheme the emulator signs callbacks with, `qbox` or `qiniu`.
    pub fn qiniu(callback_auth: &str) -> Self {
        Self::spawn(
            "qiniu",
            &[
                "--bucket",
                QN_BUCKET,
                "--access-key",
                QN_AK,
                "--secret-key",
                QN_SK,
                "--callback-auth",
                callback_auth,
            ],
        )
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("emulator.log"));
            eprintln!("emulator log ({}):\n{}", self.base, log.unwrap_or_default());
        }
    }
}

/// A broker with Redis and the stores `cosemu` (COS), `qnemu` (Qiniu, callbacks on) and `qnplain`
/// (Qiniu, no callback) at these emulators; `public_url` is the broker itself, so callbacks reach it.
async fn broker(cos: Option<&Emulator>, qiniu: Option<&Emulator>) -> TestApp {
    let mut extra = String::new();
    if let Some(cos) = cos {
        extra += &format!(
            "[stores.cosemu]\nprovider = \"cos\"\nbucket = \"{COS_BUCKET}\"\nregion = \"{COS_REGION}\"\n\
             endpoint = \"{}\"\nsecret_id = \"{COS_SECRET_ID}\"\nsecret_key = \"{COS_SECRET_KEY}\"\n\n",
            cos.base
        );
    }
    if let Some(qiniu) = qiniu {
        for (name, callback) in [("qnemu", true), ("qnplain", false)] {
            extra += &format!(
                "[stores.{name}]\nprovider = \"qiniu\"\nbucket = \"{QN_BUCKET}\"\nupload_url = \"{b}\"\n\
                 rs_host = \"{b}\"\ndownload_domain = \"{b}\"\naccess_key = \"{QN_AK}\"\n\
                 secret_key = \"{QN_SK}\"\ncallback = {callback}\n\n",
                b = qiniu.base
            );
        }
    }
    TestApp::spawn_with(AppOptions {
        redis: true,
        extra,
        ..Default::default()
    })
    .await
}

/// A download URL from `/v1/downloads` (`expires_in` when given).
pub(crate) async fn download_url(
    app: &TestApp,
    t: &str,
    store: &str,
    key: &str,
    expires_in: Option<u64>,
) -> String {
    let mut body = json!({"store": store, "key": key});
    if let Some(e) = expires_in {
        body["expires_in"] = json!(e);
    }
    let (status, d) = app.post_json("/v1/downloads", t, &body).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["method"], "GET");
    d["url"].as_str().expect("url").to_string()
}

pub(crate) async fn get(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let res = app.http.get(url).send().await.expect("GET");
    (
        res.status().as_u16(),
        res.bytes().await.expect("body").to_vec(),
    )
}

/// Downloads through a fresh `/v1/downloads` URL.
pub(crate) async fn download(app: &TestApp, t: &str, store: &str, key: &str) -> (u16, Vec<u8>) {
    get(app, &download_url(app, t, store, key, None).await).await
}

pub(crate) async fn text(res: reqwest::Response) -> (u16, String) {
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

/// `url` with the first character after `param=` changed.
pub(crate) fn flip_after(url: &str, param: &str) -> String {
    let at = url
        .find(param)
        .unwrap_or_else(|| panic!("{param} in {url}"))
        + param.len();
    let flipped = if &url[at..at + 1] == "a" { "b" } else { "a" };
    format!("{}{flipped}{}", &url[..at], &url[at + 1..])
}

/// A PNG-looking body of `len` bytes (the signature, then filler).
fn png(len: usize, seed: u8) -> Vec<u8> {
    let mut data = PNG_MAGIC.to_vec();
    data.extend(bytes(len - PNG_MAGIC.len(), seed));
    data
}

/// Qiniu's hash of a body under 4 MiB: URL-safe base64 of 0x16 and its SHA-1 (the qetag algorithm).
fn qetag(data: &[u8]) -> String {
    let mut raw = vec![0x16];
    raw.extend(Sha1::digest(data));
    URL_SAFE.encode(raw)
}

pub(crate) async fn confirm(app: &TestApp, t: &str, store: &str, key: &str) -> reqwest::Response {
    app.post(
        "/v1/uploads/confirm",
        t,
        &json!({"store": store, "key": key}),
    )
    .await
}

// ---- COS ------------------------------------------------------------------------------------

#[tokio::test]
async fn cos_form_post_stores_the_bytes_and_its_policy_refuses_the_rest() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let t = token("alice", &["user"]);
    // The strict rule has no download action: a service reads those objects back.
    let svc = token("svc", &["service"]);

    let key = unique("users/alice/form ü+");
    let data = bytes(300_000, 3);
    let cred = credential(
        &app,
        &t,
        json!({"store": "cosemu", "key": key, "content_type": "image/jpeg"}),
    )
    .await;
    assert_eq!(cred["provider"], "cos");
    assert_eq!(cred["url"], format!("{}/", cos.base));
    let res = form_post(&app, &cred, data.clone(), "image/jpeg").await;
    assert_eq!(text(res).await.0, 200, "success_action_status 200");
    assert_eq!(download(&app, &t, "cosemu", &key).await, (200, data));

    // Over the rule's max_size (strict: 1 MiB): content-length-range refuses it.
    let img = unique("strict/alice/img-") + ".png";
    let cred = credential(
        &app,
        &t,
        json!({"store": "cosemu", "key": img, "content_type": "image/png"}),
    )
    .await;
    let (status, body) = text(form_post(&app, &cred, png(MIB + 1, 1), "image/png").await).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>EntityTooLarge</Code>"), "{body}");
    // The same credential with the allowed size is accepted: the refusal was the size alone.
    let small = png(1000, 2);
    let res = form_post(&app, &cred, small.clone(), "image/png").await;
    assert_eq!(text(res).await.0, 200);
    assert_eq!(download(&app, &svc, "cosemu", &img).await, (200, small));

    // A field changed after signing (another key, another type): the POST policy refuses it.
    let other = unique("strict/alice/other-") + ".png";
    for (field, value) in [("key", other.as_str()), ("Content-Type", "text/html")] {
        let mut forged = cred.clone();
        forged["fields"][field] = json!(value);
        let (status, body) = text(form_post(&app, &forged, png(100, 3), "image/png").await).await;
        assert_eq!(status, 403, "forged {field}: {body}");
    }
    assert_eq!(download(&app, &svc, "cosemu", &other).await.0, 404);
}

#[tokio::test]
async fn cos_presigned_put_is_accepted_and_a_longer_body_or_another_key_is_refused() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let t = token("alice", &["user"]);
    let key = unique("users/alice/put a+b=");
    let data = bytes(100_000, 7);
    let cred = credential(&app, &t, json!({"store": "cosemu", "key": key, "method": "PUT", "content_type": "image/jpeg", "size": data.len()})).await;
    let url = cred["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(&cos.base), "{url}");

    // A body longer than the signed content-length.
    let res = app
        .http
        .put(&url)
        .header("content-type", "image/jpeg")
        .body(bytes(data.len() + 1, 7))
        .send()
        .await
        .expect("PUT");
    let (status, body) = text(res).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    // Another key under the same signature.
    let res = app
        .http
        .put(url.replacen("/users/alice/", "/users/alicf/", 1))
        .header("content-type", "image/jpeg")
        .body(data.clone())
        .send()
        .await
        .expect("PUT");
    assert_eq!(text(res).await.0, 403, "another key");
    assert_eq!(download(&app, &t, "cosemu", &key).await.0, 404);

    let res = put_with(&app, &cred, data.clone()).await;
    assert_eq!(text(res).await.0, 200);
    assert_eq!(download(&app, &t, "cosemu", &key).await, (200, data));
}

#[tokio::test]
async fn cos_download_urls_tampered_or_expired_are_refused() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let t = token("alice", &["user"]);
    let key = unique("users/alice/dl-");
    let data = bytes(5000, 1);
    let cred = credential(
        &app,
        &t,
        json!({"store": "cosemu", "key": key, "method": "PUT", "size": data.len()}),
    )
    .await;
    assert_eq!(text(put_with(&app, &cred, data.clone()).await).await.0, 200);

    let short = download_url(&app, &t, "cosemu", &key, Some(1)).await;
    let url = download_url(&app, &t, "cosemu", &key, None).await;
    assert_eq!(get(&app, &url).await, (200, data));
    assert_eq!(
        get(&app, &flip_after(&url, "q-signature=")).await.0,
        403,
        "tampered signature"
    );
    assert_eq!(
        get(&app, &flip_after(&url, "q-ak=")).await.0,
        403,
        "another SecretId"
    );
    assert_eq!(
        get(&app, &url.replacen("/users/alice/", "/users/alicf/", 1))
            .await
            .0,
        403,
        "another key"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = get(&app, &short).await;
    assert_eq!(status, 403, "expired");
    assert!(
        String::from_utf8_lossy(&body).contains("AccessDenied"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test]
async fn cos_confirm_heads_the_object_records_it_once_and_refuses_over_size_or_wrong_type() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);
    let key = unique("users/alice/confirm-");
    let data = bytes(12_345, 5);
    let cred = credential(&app, &t, json!({"store": "cosemu", "key": key, "method": "PUT", "content_type": "image/jpeg", "size": data.len()})).await;
    let res = put_with(&app, &cred, data.clone()).await;
    assert_eq!(res.status().as_u16(), 200);
    let etag = res.headers()["etag"]
        .to_str()
        .expect("etag")
        .trim_matches('"')
        .to_string();

    for attempt in 0..2 {
        let res = confirm(&app, &t, "cosemu", &key).await;
        assert_eq!(res.status().as_u16(), 200, "attempt {attempt}");
        let confirmed: Value = res.json().await.expect("json");
        assert_eq!(
            confirmed,
            json!({"store": "cosemu", "key": key, "size": data.len(), "etag": etag, "content_type": "image/jpeg"})
        );
    }
    let events = app.recorded_events(&redis).await;
    assert_eq!(
        events.len(),
        1,
        "a second confirm is a duplicate: {events:?}"
    );
    let e = &events[0];
    assert_eq!(
        (&e["provider"], &e["store"], &e["bucket"]),
        (&json!("cos"), &json!("cosemu"), &json!(COS_BUCKET))
    );
    assert_eq!((&e["key"], &e["size"]), (&json!(key), &json!(data.len())));
    assert_eq!(
        (&e["etag"], &e["source"]),
        (&json!(etag), &json!("confirm"))
    );
    assert_eq!(
        (&e["subject"], e.get("rejected")),
        (&json!("alice"), None),
        "not rejected"
    );

    // Objects a service put where alice's strict rule (1 MiB, JPEG/PNG) applies.
    let svc = token("svc", &["service"]);
    let big = unique("strict/alice/big-") + ".png";
    let doc = unique("strict/alice/doc-") + ".txt";
    for (k, body, ct) in [
        (&big, png(MIB + 1, 1), "image/png"),
        (&doc, b"plain text".to_vec(), "text/plain"),
    ] {
        let cred = credential(&app, &svc, json!({"store": "cosemu", "key": k, "method": "PUT", "content_type": ct, "size": body.len()})).await;
        assert_eq!(text(put_with(&app, &cred, body).await).await.0, 200);
    }
    assert_problem(
        confirm(&app, &t, "cosemu", &big).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_problem(
        confirm(&app, &t, "cosemu", &doc).await,
        415,
        "unsupported_media_type",
    )
    .await;
    let events = app.recorded_events(&redis).await;
    let rejected: Vec<(&Value, &Value)> = events[1..]
        .iter()
        .map(|e| (&e["key"], &e["rejected"]))
        .collect();
    assert_eq!(
        rejected,
        [(&json!(big), &json!(true)), (&json!(doc), &json!(true))],
        "recorded as rejected"
    );

    let absent = unique("users/alice/absent-");
    assert_problem(confirm(&app, &t, "cosemu", &absent).await, 404, "not_found").await;
    assert_eq!(app.recorded_events(&redis).await.len(), 3);
}

// ---- Qiniu ----------------------------------------------------------------------------------

/// A form upload with the broker's token: `token` and `key` fields, then the file. Keys ending in
/// `.png` declare `image/png` (the strict rule requires a declared type).
async fn qiniu_upload(
    app: &TestApp,
    t: &str,
    store: &str,
    key: &str,
    data: Vec<u8>,
) -> (u16, Value) {
    let mut body = json!({"store": store, "key": key});
    if key.ends_with(".png") {
        body["content_type"] = json!("image/png");
    }
    let cred = credential(app, t, body).await;
    assert_eq!(cred["provider"], "qiniu");
    let res = form_post(app, &cred, data, "application/octet-stream").await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn qiniu_callbacks_in_both_schemes_are_verified_recorded_once_and_answered() {
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);
    let svc = token("svc", &["service"]);
    for scheme in ["qbox", "qiniu"] {
        let qiniu = Emulator::qiniu(scheme);
        let app = broker(None, Some(&qiniu)).await;
        let key = unique("strict/alice/cb ü+") + ".png";
        let data = png(200_000, 4);
        let hash = qetag(&data);

        let (status, answer) = qiniu_upload(&app, &t, "qnemu", &key, data.clone()).await;
        assert_eq!(status, 200, "{scheme}: {answer}");
        // The broker's JSON answer to the callback, relayed by the emulator.
        assert_eq!(
            answer,
            json!({"key": key, "hash": hash, "fsize": data.len(), "bucket": QN_BUCKET}),
            "{scheme}"
        );
        let events = app.recorded_events(&redis).await;
        assert_eq!(events.len(), 1, "{scheme}: {events:?}");
        let e = &events[0];
        assert_eq!(
            (&e["provider"], &e["store"], &e["bucket"]),
            (&json!("qiniu"), &json!("qnemu"), &json!(QN_BUCKET))
        );
        assert_eq!((&e["key"], &e["etag"]), (&json!(key), &json!(hash)));
        assert_eq!(
            (&e["size"], &e["content_type"], &e["subject"]),
            (&json!(data.len()), &json!("image/png"), &json!("alice"))
        );

        // Uploading the same bytes again: Qiniu accepts it (same hash) and calls back again; the
        // broker answers the same and records nothing new. A confirm (stat) is the same object too.
        let (status, again) = qiniu_upload(&app, &t, "qnemu", &key, data.clone()).await;
        assert_eq!((status, &again), (200, &answer), "{scheme}: redelivery");
        let res = confirm(&app, &t, "qnemu", &key).await;
        assert_eq!(res.status().as_u16(), 200);
        let confirmed: Value = res.json().await.expect("json");
        assert_eq!(
            (&confirmed["etag"], &confirmed["size"]),
            (&json!(hash), &json!(data.len()))
        );
        assert_eq!(
            app.recorded_events(&redis).await.len(),
            1,
            "{scheme}: recorded once"
        );
        assert_eq!(download(&app, &svc, "qnemu", &key).await, (200, data));
    }
}

#[tokio::test]
async fn qiniu_form_uploads_over_size_of_a_wrong_type_or_overwriting_are_refused() {
    let qiniu = Emulator::qiniu("qbox");
    let app = broker(None, Some(&qiniu)).await;
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);
    let svc = token("svc", &["service"]);

    // strict: fsizeLimit 1 MiB, mimeLimit image/jpeg;image/png on the sniffed content, insertOnly.
    let big = unique("strict/alice/big-") + ".png";
    let (status, body) = qiniu_upload(&app, &t, "qnemu", &big, png(MIB + 1, 1)).await;
    assert_eq!(status, 413, "{body}");
    // Text declared as a PNG (name and part type): the content decides.
    let fake = unique("strict/alice/fake-") + ".png";
    let (status, body) = qiniu_upload(&app, &t, "qnemu", &fake, b"just text".to_vec()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("mimeType")),
        "{body}"
    );
    for k in [&big, &fake] {
        assert_problem(confirm(&app, &t, "qnemu", k).await, 404, "not_found").await;
    }

    let key = unique("strict/alice/once-") + ".png";
    let first = png(1000, 1);
    assert_eq!(
        qiniu_upload(&app, &t, "qnemu", &key, first.clone()).await.0,
        200
    );
    let (status, body) = qiniu_upload(&app, &t, "qnemu", &key, png(1000, 2)).await;
    assert_eq!(status, 614, "overwrite = false: {body}");
    assert_eq!(download(&app, &svc, "qnemu", &key).await, (200, first));
    // A token for another key does not upload this one.
    let cred = credential(
        &app,
        &t,
        json!({"store": "qnemu", "key": unique("strict/alice/x-") + ".png", "content_type": "image/png"}),
    )
    .await;
    let mut forged = cred.clone();
    forged["fields"]["key"] = json!(key);
    let res = form_post(&app, &forged, png(1000, 3), "image/png").await;
    assert_eq!(res.status().as_u16(), 403, "key outside the token's scope");

    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 1, "only the accepted upload: {events:?}");
    assert_eq!(events[0]["key"], key.as_str());
}

#[tokio::test]
async fn qiniu_without_callback_answers_the_return_body_and_confirm_downloads_work() {
    let qiniu = Emulator::qiniu("qiniu");
    let app = broker(None, Some(&qiniu)).await;
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);
    let key = unique("users/alice/plain ü a+b=");
    let data = bytes(70_000, 9);
    let hash = qetag(&data);

    let (status, answer) = qiniu_upload(&app, &t, "qnplain", &key, data.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"key": key, "hash": hash, "fsize": data.len(), "bucket": QN_BUCKET}),
        "the token's returnBody"
    );
    assert!(app.recorded_events(&redis).await.is_empty(), "no callback");

    // Confirm through the emulator's signed stat.
    for _ in 0..2 {
        let res = confirm(&app, &t, "qnplain", &key).await;
        assert_eq!(res.status().as_u16(), 200);
        let confirmed: Value = res.json().await.expect("json");
        assert_eq!(
            confirmed,
            json!({"store": "qnplain", "key": key, "size": data.len(), "etag": hash, "content_type": "application/octet-stream"})
        );
    }
    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (&events[0]["source"], &events[0]["etag"]),
        (&json!("confirm"), &json!(hash))
    );
    assert_problem(
        confirm(&app, &t, "qnplain", &unique("users/alice/absent-")).await,
        404,
        "not_found",
    )
    .await;

    // Private download URLs: fetched, and refused when tampered or expired.
    let short = download_url(&app, &t, "qnplain", &key, Some(1)).await;
    let url = download_url(&app, &t, "qnplain", &key, None).await;
    assert!(url.starts_with(&qiniu.base), "{url}");
    assert_eq!(get(&app, &url).await, (200, data));
    let sig = url.rfind(':').expect("token AK:sign") + 1;
    let flipped = if &url[sig..sig + 1] == "a" { "b" } else { "a" };
    let bad_sig = format!("{}{flipped}{}", &url[..sig], &url[sig + 1..]);
    assert_eq!(get(&app, &bad_sig).await.0, 401, "tampered token");
    assert_eq!(
        get(&app, &url.replacen("/users/alice/", "/users/alicf/", 1))
            .await
            .0,
        401,
        "another key"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&app, &short).await.0, 401, "expired");
}

// ---- Multipart (COS and Qiniu through the same five calls) ----------------------------------

/// A part as the emulator stored it: its ETag from the answer (COS: the `ETag` header; Qiniu: the JSON
/// body's `etag`, which is also how the list spells it).
async fn put_part(app: &TestApp, part: &Value, data: Vec<u8>) -> String {
    let res = send_part(app, part, data).await;
    let status = res.status().as_u16();
    let header = res
        .headers()
        .get("etag")
        .and_then(|e| e.to_str().ok())
        .map(str::to_owned);
    let body = res.text().await.unwrap_or_default();
    assert_eq!(status, 200, "part upload: {body}");
    header.unwrap_or_else(|| {
        let answer: Value = serde_json::from_str(&body).expect("JSON part answer");
        answer["etag"].as_str().expect("etag").to_owned()
    })
}

async fn list_of(app: &TestApp, t: &str, created: &Value) -> reqwest::Response {
    let query = upload_query_in(
        created["store"].as_str().expect("store"),
        created["key"].as_str().expect("key"),
        created["handle"].as_str().expect("handle"),
    );
    app.http
        .get(app.url(&format!("/v1/multipart/{}/parts?{query}", path_id(created))))
        .bearer_auth(t)
        .send()
        .await
        .expect("list parts")
}

/// `[(part_number, etag, size)]` of a successful list.
async fn listed(app: &TestApp, t: &str, created: &Value) -> Vec<(u64, String, u64)> {
    let res = list_of(app, t, created).await;
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.expect("json");
    body["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["part_number"].as_u64().expect("number"),
                p["etag"].as_str().expect("etag").to_owned(),
                p["size"].as_u64().expect("size"),
            )
        })
        .collect()
}

/// The complete body's `parts` from a list.
fn parts_of(listed: &[(u64, String, u64)]) -> Value {
    Value::Array(
        listed
            .iter()
            .map(|(n, e, _)| json!({"part_number": n, "etag": e}))
            .collect(),
    )
}

async fn signed_parts(app: &TestApp, t: &str, created: &Value, numbers: &[u32]) -> Vec<Value> {
    let (status, signed) = sign(app, t, created, numbers).await;
    assert_eq!(status, 200, "{signed}");
    signed["parts"].as_array().expect("parts").clone()
}

/// Create, upload 3 parts of the provider's minimum (1 MiB) and a short last part, "lose" the client state
/// (part 3 never sent), resume from the list, complete, read back. Returns the completed answer and the bytes.
async fn resumed_upload(app: &TestApp, t: &str, store: &str, base: &str) -> (Value, Vec<u8>) {
    let key = unique("mp/alice/big ü+");
    let created = create_upload(app, t, json!({"store": store, "key": key})).await;
    assert_eq!(
        (&created["part_size"], &created["max_parts"]),
        (&json!(8 * MIB), &json!(8)),
        "{created}"
    );
    let data: Vec<Vec<u8>> = vec![bytes(MIB, 1), bytes(MIB, 2), bytes(MIB, 3), bytes(1000, 4)];
    let parts = signed_parts(app, t, &created, &[1, 2, 3, 4]).await;
    for p in &parts {
        assert_eq!(p["method"], "PUT");
        assert!(
            p["url"].as_str().is_some_and(|u| u.starts_with(base)),
            "{p}"
        );
    }
    // A part under the minimum that is not the last: the emulator refuses the complete (COS EntityTooSmall,
    // Qiniu 400), which the broker answers 400 and the upload stays.
    let mut etags = [
        put_part(app, &parts[0], bytes(1000, 9)).await,
        put_part(app, &parts[1], data[1].clone()).await,
    ];
    let res = complete(app, t, &created, parts_of(&listed(app, t, &created).await)).await;
    let problem = assert_problem(res, 400, "invalid_request").await;
    assert!(
        problem.to_string().contains("part 1") || problem.to_string().contains("EntityTooSmall"),
        "{problem}"
    );
    // The part re-sent with its real bytes replaces it; then the last part; part 3 is "lost".
    etags[0] = put_part(app, &parts[0], data[0].clone()).await;
    let last = put_part(app, &parts[3], data[3].clone()).await;

    // Resume with nothing but the handle: list, sign the missing part again, send it, complete.
    let before = listed(app, t, &created).await;
    let unquote = |e: &str| e.trim_matches('"').to_owned();
    let seen: Vec<(u64, String, u64)> = before
        .iter()
        .map(|(n, e, s)| (*n, unquote(e), *s))
        .collect();
    assert_eq!(
        seen,
        [
            (1, unquote(&etags[0]), MIB as u64),
            (2, unquote(&etags[1]), MIB as u64),
            (4, unquote(&last), 1000)
        ]
    );
    let missing: Vec<u32> = (1..=4u32)
        .filter(|n| !before.iter().any(|(m, _, _)| u64::from(*n) == *m))
        .collect();
    assert_eq!(missing, [3]);
    let again = signed_parts(app, t, &created, &missing).await;
    put_part(app, &again[0], data[2].clone()).await;
    let all = listed(app, t, &created).await;
    assert_eq!(all.len(), 4);
    let res = complete(app, t, &created, parts_of(&all)).await;
    let status = res.status().as_u16();
    let done: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{done}");
    let whole = data.concat();
    assert_eq!(
        (&done["store"], &done["key"], &done["size"]),
        (&json!(store), &json!(key), &json!(whole.len()))
    );
    assert!(
        done["location"]
            .as_str()
            .is_some_and(|l| l.starts_with(base) && l.contains("/big%20%C3%BC%2B")),
        "{done}"
    );
    assert_eq!(download(app, t, store, &key).await, (200, whole.clone()));
    // The upload is gone once completed.
    assert_problem(list_of(app, t, &created).await, 404, "not_found").await;
    (done, whole)
}

/// Over the handle's `max_size` (the 2 MiB rule, no declared size): 413, the upload aborted, no object.
async fn over_max_size_is_aborted(app: &TestApp, t: &str, store: &str) {
    let key = unique("tiny/alice/over-");
    let created = create_upload(app, t, json!({"store": store, "key": key})).await;
    assert_eq!(created["max_parts"], 1, "{created}");
    let parts = signed_parts(app, t, &created, &[1]).await;
    put_part(app, &parts[0], bytes(2 * MIB + 1, 5)).await;
    let res = complete(app, t, &created, parts_of(&listed(app, t, &created).await)).await;
    assert_problem(res, 413, "payload_too_large").await;
    assert_problem(list_of(app, t, &created).await, 404, "not_found").await;
    let svc = token("svc", &["service"]);
    assert_eq!(download(app, &svc, store, &key).await.0, 404, "no object");
}

/// Abort: 204, then the list is 404 and the emulator refuses a part for the upload.
async fn abort_removes_the_upload(app: &TestApp, t: &str, store: &str) {
    let created = create_upload(
        app,
        t,
        json!({"store": store, "key": unique("mp/alice/abort-")}),
    )
    .await;
    let parts = signed_parts(app, t, &created, &[1, 2]).await;
    put_part(app, &parts[0], bytes(MIB, 1)).await;
    let query = upload_query_in(
        store,
        created["key"].as_str().expect("key"),
        created["handle"].as_str().expect("handle"),
    );
    let res = app
        .http
        .delete(app.url(&format!("/v1/multipart/{}?{query}", path_id(&created))))
        .bearer_auth(t)
        .send()
        .await
        .expect("abort");
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(list_of(app, t, &created).await, 404, "not_found").await;
    let res = send_part(app, &parts[1], bytes(1000, 2)).await;
    let status = res.status().as_u16();
    assert!(
        status == 404 || status == 612,
        "a part of an aborted upload: {status}"
    );
}

#[tokio::test]
async fn cos_multipart_resumes_completes_and_reads_back() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let t = token("alice", &["user"]);
    let (done, whole) = resumed_upload(&app, &t, "cosemu", &cos.base).await;
    assert_eq!(
        done["etag"].as_str().map(|e| e.ends_with("-4")),
        Some(true),
        "{done}"
    );
    assert_eq!(done["size"], whole.len());
}

#[tokio::test]
async fn cos_multipart_over_max_size_or_aborted_is_gone() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let t = token("alice", &["user"]);
    over_max_size_is_aborted(&app, &t, "cosemu").await;
    abort_removes_the_upload(&app, &t, "cosemu").await;
}

#[tokio::test]
async fn cos_part_urls_are_bound_to_their_length_and_expiry() {
    let cos = Emulator::cos();
    let app = broker(Some(&cos), None).await;
    let t = token("alice", &["user"]);
    // A declared size: each part's exact length is signed.
    let size = MIB + 500;
    let key = unique("mp/alice/sized-");
    let created = create_upload(
        &app,
        &t,
        json!({"store": "cosemu", "key": key, "size": size}),
    )
    .await;
    let parts = signed_parts(&app, &t, &created, &[1]).await;
    assert_eq!(parts[0]["headers"]["Content-Length"], size.to_string());
    for len in [size - 1, size + 1] {
        let res = app
            .http
            .put(parts[0]["url"].as_str().expect("url"))
            .body(bytes(len, 1))
            .send()
            .await
            .expect("PUT");
        let (status, body) = text(res).await;
        assert_eq!(status, 403, "{len} bytes: {body}");
        assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    }
    assert!(listed(&app, &t, &created).await.is_empty());
    put_part(&app, &parts[0], bytes(size, 1)).await;

    // A part URL signed for 1 second is refused by the emulator once expired.
    let body = json!({"store": "cosemu", "key": key, "handle": created["handle"], "part_numbers": [1], "expires_in": 1});
    let (status, short) = app
        .post_json(
            &format!("/v1/multipart/{}/parts", path_id(&created)),
            &t,
            &body,
        )
        .await;
    assert_eq!(status, 200, "{short}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = send_part(&app, &short["parts"][0], bytes(size, 1)).await;
    let (status, body) = text(res).await;
    assert_eq!(status, 403, "expired: {body}");
    assert!(body.contains("expired"), "{body}");
    let res = complete(
        &app,
        &t,
        &created,
        parts_of(&listed(&app, &t, &created).await),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn qiniu_multipart_resumes_completes_and_is_recorded_once_by_the_callback() {
    let qiniu = Emulator::qiniu("qiniu");
    let app = broker(None, Some(&qiniu)).await;
    let redis = Services::redis_url();
    let t = token("alice", &["user"]);
    let (done, whole) = resumed_upload(&app, &t, "qnemu", &qiniu.base).await;
    // Qiniu's hash of the object (under 4 MiB: one block), relayed from the broker's callback answer.
    assert_eq!(done["etag"], qetag(&whole), "{done}");
    let events = app.recorded_events(&redis).await;
    assert_eq!(
        events.len(),
        1,
        "recorded once, by the signed callback: {events:?}"
    );
    let e = &events[0];
    assert_eq!(
        (&e["provider"], &e["store"], &e["key"]),
        (&json!("qiniu"), &json!("qnemu"), &done["key"])
    );
    assert_eq!(
        (&e["etag"], &e["size"], &e["subject"]),
        (&done["etag"], &json!(whole.len()), &json!("alice"))
    );
}

#[tokio::test]
async fn qiniu_part_requests_carry_one_token_for_the_whole_upload() {
    let qiniu = Emulator::qiniu("qbox");
    let app = broker(None, Some(&qiniu)).await;
    let t = token("alice", &["user"]);
    let key = unique("mp/alice/token-");
    let created = create_upload(&app, &t, json!({"store": "qnemu", "key": key})).await;
    let first = signed_parts(&app, &t, &created, &[1, 2]).await;
    let second = signed_parts(&app, &t, &created, &[2]).await;
    let auth = |p: &Value| {
        p["headers"]["Authorization"]
            .as_str()
            .expect("UpToken")
            .to_owned()
    };
    assert!(auth(&first[0]).starts_with("UpToken "), "{}", first[0]);
    assert_eq!(
        first[0]["headers"]["Content-Type"],
        "application/octet-stream"
    );
    assert_eq!(auth(&first[0]), auth(&first[1]));
    assert_eq!(
        auth(&first[1]),
        auth(&second[0]),
        "byte-identical on every call"
    );
    assert_eq!(second[0]["url"], first[1]["url"]);
    assert!(
        first[0]["url"].as_str().is_some_and(|u| u.ends_with("/1")),
        "{}",
        first[0]
    );
    // A tampered token is refused by the emulator.
    let mut forged = first[0].clone();
    let token_text = auth(&first[0]);
    let flipped = if token_text.ends_with('A') { "B" } else { "A" };
    forged["headers"]["Authorization"] =
        json!(format!("{}{flipped}", &token_text[..token_text.len() - 1]));
    assert_eq!(
        send_part(&app, &forged, bytes(10, 1))
            .await
            .status()
            .as_u16(),
        401
    );

    over_max_size_is_aborted(&app, &t, "qnemu").await;
    abort_removes_the_upload(&app, &t, "qnemu").await;
}

#[tokio::test]
async fn qiniu_parts_of_a_declared_size_are_held_to_their_lengths_and_expire_with_the_upload() {
    let qiniu = Emulator::qiniu("qiniu");
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        extra: format!(
            "[multipart]\nhandle_ttl_seconds = 2\n\n[stores.qnemu]\nprovider = \"qiniu\"\nbucket = \"{QN_BUCKET}\"\n\
             upload_url = \"{b}\"\nrs_host = \"{b}\"\ndownload_domain = \"{b}\"\naccess_key = \"{QN_AK}\"\n\
             secret_key = \"{QN_SK}\"\ncallback = false\n",
            b = qiniu.base
        ),
        ..Default::default()
    })
    .await;
    let t = token("alice", &["user"]);
    let size = MIB + 500;
    let created = create_upload(
        &app,
        &t,
        json!({"store": "qnemu", "key": unique("mp/alice/sized-"), "size": size}),
    )
    .await;
    let parts = signed_parts(&app, &t, &created, &[1]).await;
    // A Qiniu part request cannot pin a length: the emulator takes a wrong one, the broker refuses it at
    // complete (the declared size fixes every part's length), and the upload stays resumable.
    put_part(&app, &parts[0], bytes(size - 1, 1)).await;
    let res = complete(
        &app,
        &t,
        &created,
        parts_of(&listed(&app, &t, &created).await),
    )
    .await;
    let problem = assert_problem(res, 400, "invalid_request").await;
    assert!(problem.to_string().contains("declared"), "{problem}");
    put_part(&app, &parts[0], bytes(size, 1)).await;
    assert_eq!(listed(&app, &t, &created).await[0].2, size as u64);
    // The token's deadline is the upload's (the handle's) expiry: past it the emulator refuses the part.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let res = send_part(&app, &parts[0], bytes(size, 1)).await;
    let (status, body) = text(res).await;
    assert_eq!(status, 401, "expired token: {body}");
    assert!(body.contains("expired"), "{body}");
}
