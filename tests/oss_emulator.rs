//! The OSS store's credentials, server-side calls and callback verifier against the OSS emulator
//! (tests/emulators/oss, which checks every request with alibabacloud-oss-v2's own signer): accepted when right,
//! refused when tampered, expired, over-size, of the wrong type or for the wrong key; the emulator's RSA-MD5
//! callbacks verified by the broker's verifier, and a forged one refused.
//!
//! Starts its own emulator through `tests/emulators/run.sh oss 0 DIR` (which creates the one emulator venv
//! under `${PB_SERVICES_DIR:-.test-services}` on first use).
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use presign_broker::callbacks::oss::{
    pub_key_url, verify_with_key, CallbackBody, CallbackRequest, PubKeyCache,
};
use presign_broker::providers::oss::{callback, Credentials, OssStore, OssStoreConfig};
use presign_broker::providers::{DownloadOptions, ProviderError, SignedUrl, UploadGrant};
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUCKET: &str = "pb-test";

struct Emulator {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_emulator(extra: &[&str]) -> Emulator {
    let data = tempfile::tempdir().expect("tempdir");
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(format!("{root}/tests/emulators/run.sh"))
        .args(["oss", "0"])
        .arg(data.path())
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the OSS emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let port = line
        .trim_end()
        .strip_prefix("ready on http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("emulator did not start: {line:?}"));
    Emulator {
        child,
        port,
        _data: data,
    }
}

fn store(port: u16, token: Option<&str>) -> OssStore {
    OssStore::new(OssStoreConfig {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "cn-hangzhou".into(),
        bucket: BUCKET.into(),
        path_style: true,
        credentials: Credentials {
            access_key: "PBTESTOSSACCESSKEY01".into(),
            secret_key: "pbtest/oss+secret0000000000000000".into(),
            session_token: token.map(str::to_owned),
        },
    })
    .expect("store")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn grant<'a>(key: &'a str, content_type: Option<&'a str>, size: Option<u64>) -> UploadGrant<'a> {
    UploadGrant {
        key,
        content_type,
        content_types: &[],
        size,
        max_size: 64,
        overwrite: false,
        subject: "alice",
        now: now(),
        expires_at: now() + 300,
        callback_url: None,
    }
}

/// Sends `signed` with `body`, its headers but those named in `skip`, and the `Content-Type` override.
async fn send(
    http: &reqwest::Client,
    signed: &SignedUrl,
    url: &str,
    body: &[u8],
    skip: &[&str],
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(signed.method.as_bytes()).expect("method");
    let mut request = http.request(method, url).body(body.to_vec());
    for (name, value) in &signed.headers {
        // reqwest writes Content-Length from the body itself.
        if name.eq_ignore_ascii_case("content-length") || skip.contains(&name.as_str()) {
            continue;
        }
        request = request.header(name, value);
    }
    request.send().await.expect("send")
}

fn error_code(text: &str) -> &str {
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code)
        .unwrap_or_default()
}

fn tamper(url: &str) -> String {
    let (head, last) = url.split_at(url.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

/// One callback as received: (path with query, headers, body).
type Received = (String, Vec<(String, String)>, Vec<u8>);

/// A loopback callback endpoint verifying with the broker's verifier (key fetched from the emulator, which the
/// test pattern allows), answering `answer_json`, or 401.
async fn callback_receiver(received: Arc<Mutex<Vec<Received>>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let cache = Arc::new(PubKeyCache::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let pattern = Regex::new(r"^http://127\.0\.0\.1:[0-9]+/").expect("pattern");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(at + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.split("\r\n");
            let target = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or("/")
                .to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let length: usize = header("content-length").parse().unwrap_or(0);
            while buf.len() < head_end + length {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_end..].to_vec();
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let verdict = async {
                let url = pub_key_url(&header("x-oss-pub-key-url"), &pattern).ok()?;
                let key = cache.get(&http, &url, &pattern).await.ok()?;
                verify_with_key(
                    &key,
                    &CallbackRequest {
                        raw_path: path,
                        query,
                        body: &body,
                        authorization: &header("authorization"),
                    },
                )
                .ok()?;
                CallbackBody::parse(&body).ok()
            }
            .await;
            received
                .lock()
                .expect("lock")
                .push((target.clone(), headers.clone(), body.clone()));
            let (status, answer) = match verdict {
                Some(fields) => ("200 OK", fields.answer_json().to_string()),
                None => (
                    "401 Unauthorized",
                    "{\"error\":\"signature_invalid\"}".to_owned(),
                ),
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_store_against_the_emulator() {
    let emulator = start_emulator(&[]);
    let s = store(emulator.port, None);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");

    // Presigned PUT: type, size and no-overwrite signed.
    let put = s.presigned_put(
        &grant("users/alice/a b.txt", Some("text/plain"), Some(5)),
        None,
    );
    let r = send(&http, &put, &put.url, b"hello", &[]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = send(&http, &put, &put.url, b"hello", &[]).await;
    assert_eq!(r.status(), 409, "overwrite refused");
    let fresh = s.presigned_put(
        &grant("users/alice/b.txt", Some("text/plain"), Some(5)),
        None,
    );
    for (label, url, body, skip, status, code) in [
        (
            "tampered",
            tamper(&fresh.url),
            &b"hello"[..],
            &[][..],
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "over-size",
            fresh.url.clone(),
            b"hello!",
            &[],
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "wrong key",
            fresh.url.replace("/users/alice/", "/users/bob/"),
            b"hello",
            &[],
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "type dropped",
            fresh.url.clone(),
            b"hello",
            &["Content-Type"],
            403,
            "SignatureDoesNotMatch",
        ),
    ] {
        let r = send(&http, &fresh, &url, body, skip).await;
        assert_eq!(r.status(), status, "{label}");
        assert_eq!(
            error_code(&r.text().await.unwrap_or_default()),
            code,
            "{label}"
        );
    }
    let r = http
        .put(&fresh.url)
        .header("Content-Type", "text/html")
        .header("x-oss-forbid-overwrite", "true")
        .body("hello")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403, "wrong content type");
    let mut old = grant("users/alice/b.txt", Some("text/plain"), Some(5));
    old.now -= 3600;
    old.expires_at = old.now + 60;
    let expired = s.presigned_put(&old, None);
    let r = send(&http, &expired, &expired.url, b"hello", &[]).await;
    assert_eq!(r.status(), 403, "expired");
    assert_eq!(
        error_code(&r.text().await.unwrap_or_default()),
        "AccessDenied"
    );
    let r = send(&http, &fresh, &fresh.url, b"hello", &[]).await;
    assert_eq!(r.status(), 200, "the untampered credential works");

    // Presigned GET with a signed response-content-type; HEAD (header-signed).
    let get = s.presigned_get(
        "users/alice/a b.txt",
        &DownloadOptions {
            response_content_disposition: None,
            response_content_type: Some("application/x-test"),
        },
        now(),
        now() + 60,
    );
    let r = http.get(&get.url).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-test");
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"hello");
    let info = s
        .head_object(&http, "users/alice/a b.txt")
        .await
        .expect("head");
    assert_eq!(
        (info.size, info.content_type.as_deref()),
        (5, Some("text/plain"))
    );
    assert_eq!(info.etag, "5D41402ABC4B2A76B9719D911017C592");
    assert!(matches!(
        s.head_object(&http, "absent").await,
        Err(ProviderError::NotFound)
    ));

    // PostObject form.
    let form_post = |key: &str, fields: &[(&'static str, String)], data: Vec<u8>| {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            let value = if *name == "key" {
                key.to_owned()
            } else {
                value.clone()
            };
            form = form.text(*name, value);
        }
        form = form.part("file", reqwest::multipart::Part::bytes(data).file_name("f"));
        form
    };
    let form = s.form_upload(
        &grant("users/alice/form.png", Some("image/png"), None),
        None,
    );
    let r = http
        .post(&form.url)
        .multipart(form_post("users/alice/form.png", &form.fields, vec![7; 64]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    let r = http
        .post(&form.url)
        .multipart(form_post("users/alice/form.png", &form.fields, vec![7; 65]))
        .send()
        .await
        .expect("post");
    assert_eq!(
        error_code(&r.text().await.unwrap_or_default()),
        "EntityTooLarge"
    );
    let r = http
        .post(&form.url)
        .multipart(form_post("users/bob/form.png", &form.fields, vec![7; 8]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403, "wrong key in the form");

    // Multipart: server-side Initiate/ListParts/Complete/Abort, presigned UploadPart with a pinned size.
    let key = "users/alice/big ✓.bin";
    let id = s
        .initiate_multipart_upload(&http, key, Some("video/mp4"), false)
        .await
        .expect("initiate");
    let part1 = vec![1u8; 100 * 1024];
    let mut etags = Vec::new();
    for (n, data) in [(1u32, part1.as_slice()), (2, &b"tail"[..])] {
        let url = s.presigned_upload_part(key, &id, n, Some(data.len() as u64), now(), now() + 60);
        let r = send(&http, &url, &url.url, data, &[]).await;
        assert_eq!(r.status(), 200, "part {n}");
        etags.push((n, r.headers()["etag"].to_str().expect("etag").to_owned()));
    }
    let pinned = s.presigned_upload_part(key, &id, 3, Some(4), now(), now() + 60);
    let r = send(&http, &pinned, &pinned.url, b"12345", &[]).await;
    assert_eq!(r.status(), 403, "part larger than its signed size");
    let parts = s.list_parts(&http, key, &id).await.expect("list");
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.part_number, p.size))
            .collect::<Vec<_>>(),
        [(1, 102_400), (2, 4)]
    );
    let reversed = [etags[1].clone(), (1, "\"0000\"".to_owned())];
    assert!(matches!(
        s.complete_multipart_upload(&http, key, &id, &reversed, None, false).await,
        Err(ProviderError::BadRequest(m)) if m.starts_with("InvalidPart")
    ));
    let done = s
        .complete_multipart_upload(&http, key, &id, &etags, None, false)
        .await
        .expect("complete");
    assert!(done.etag.as_deref().is_some_and(|e| e.ends_with("-2")));
    assert_eq!(s.head_object(&http, key).await.expect("head").size, 102_404);
    let id = s
        .initiate_multipart_upload(&http, key, None, false)
        .await
        .expect("initiate");
    let mut small = Vec::new();
    for n in [1u32, 2] {
        let url = s.presigned_upload_part(key, &id, n, None, now(), now() + 60);
        let r = send(&http, &url, &url.url, b"tiny", &[]).await;
        small.push((n, r.headers()["etag"].to_str().expect("etag").to_owned()));
    }
    assert!(matches!(
        s.complete_multipart_upload(&http, key, &id, &small, None, false).await,
        Err(ProviderError::BadRequest(m)) if m.starts_with("EntityTooSmall")
    ));
    s.abort_multipart_upload(&http, key, &id)
        .await
        .expect("abort");
    assert!(matches!(
        s.list_parts(&http, key, &id).await,
        Err(ProviderError::NotFound)
    ));

    // Callbacks: the emulator signs them as OSS does; the broker's verifier accepts them and OSS relays the answer.
    let received = Arc::new(Mutex::new(Vec::new()));
    let port = callback_receiver(Arc::clone(&received)).await;
    let cb_url = format!("http://127.0.0.1:{port}/v1/callbacks/ali?t=ticket-1");
    let cb = callback::broker_callback(&cb_url, "alice@example");
    let put = s.presigned_put(
        &grant("users/alice/cb.txt", Some("text/plain"), Some(3)),
        Some(&cb),
    );
    let r = send(&http, &put, &put.url, b"abc", &[]).await;
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.expect("relayed JSON");
    assert_eq!(
        answer,
        serde_json::json!({"key": "users/alice/cb.txt", "etag": "900150983CD24FB0D6963F7D28E17F72", "size": 3, "bucket": BUCKET})
    );
    let (target, headers, body) = received.lock().expect("lock")[0].clone();
    assert_eq!(target, "/v1/callbacks/ali?t=ticket-1");
    let fields = CallbackBody::parse(&body).expect("body");
    assert_eq!(
        (fields.subject.as_str(), fields.mime_type.as_deref()),
        ("alice@example", Some("text/plain"))
    );

    let form = s.form_upload(
        &grant("users/alice/cb-form.png", Some("image/png"), None),
        Some(&cb),
    );
    let r = http
        .post(&form.url)
        .multipart(form_post(
            "users/alice/cb-form.png",
            &form.fields,
            vec![1; 10],
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["key"],
        "users/alice/cb-form.png"
    );

    let id = s
        .initiate_multipart_upload(&http, "users/alice/cb.bin", None, false)
        .await
        .expect("initiate");
    let url = s.presigned_upload_part("users/alice/cb.bin", &id, 1, None, now(), now() + 60);
    let r = send(&http, &url, &url.url, b"xyz", &[]).await;
    let etag = r.headers()["etag"].to_str().expect("etag").to_owned();
    let done = s
        .complete_multipart_upload(
            &http,
            "users/alice/cb.bin",
            &id,
            &[(1, etag)],
            Some(&cb),
            false,
        )
        .await
        .expect("complete with callback");
    let answer: serde_json::Value =
        serde_json::from_slice(&done.callback_answer.expect("callback answer")).expect("json");
    assert_eq!(answer["key"], "users/alice/cb.bin");
    assert!(answer["etag"].as_str().is_some_and(|e| e.ends_with("-1")));

    // A forged callback (the emulator's real signature, another body) is refused by the verifier.
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let forged = String::from_utf8(body)
        .expect("utf8")
        .replace("size=3", "size=4");
    let r = http
        .post(format!("http://127.0.0.1:{port}{target}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", header("authorization"))
        .header("x-oss-pub-key-url", header("x-oss-pub-key-url"))
        .body(forged)
        .send()
        .await
        .expect("forged");
    assert_eq!(r.status(), 401, "forged callback");
    // And one naming a key URL outside the pattern.
    let r = http
        .post(format!("http://127.0.0.1:{port}{target}"))
        .header("authorization", header("authorization"))
        .header(
            "x-oss-pub-key-url",
            STANDARD.encode("https://evil.example/k.pem"),
        )
        .body("bucket=b")
        .send()
        .await
        .expect("evil key");
    assert_eq!(r.status(), 401, "key URL outside the pattern");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_credentials_against_the_emulator() {
    let emulator = start_emulator(&["--security-token", "STS+/token=="]);
    let http = reqwest::Client::new();
    let s = store(emulator.port, Some("STS+/token=="));
    let put = s.presigned_put(&grant("sts/a.txt", Some("text/plain"), Some(2)), None);
    assert_eq!(send(&http, &put, &put.url, b"ok", &[]).await.status(), 200);
    assert_eq!(
        s.head_object(&http, "sts/a.txt").await.expect("head").size,
        2
    );
    let form = s.form_upload(&grant("sts/b.txt", None, None), None);
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in form.fields {
        multipart = multipart.text(name, value);
    }
    multipart = multipart.part("file", reqwest::multipart::Part::bytes(vec![1u8; 3]));
    let r = http
        .post(&form.url)
        .multipart(multipart)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    // Without the token the same emulator refuses.
    let plain = store(emulator.port, None);
    let put = plain.presigned_put(&grant("sts/c.txt", None, None), None);
    let r = send(&http, &put, &put.url, b"no", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        error_code(&r.text().await.unwrap_or_default()),
        "InvalidSecurityToken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_keys_and_parameters_sign_as_the_sdk_verifies() {
    let emulator = start_emulator(&[]);
    let http = reqwest::Client::new();
    let s = store(emulator.port, None);
    // Valid keys only (docs/API.md, "Object key rules": no `.`/`..` segment, which URL parsers would resolve away,
    // no trailing `/`, no control characters).
    let keys = [
        "a+b/c%20d.txt",
        "sp ace/x  y",
        "ünï/中文/ключ.bin",
        "!*'()~;:@&=$,[]{}|^`\"<>#.txt",
        "...dots/.x/x.",
    ];
    for key in keys {
        let mut g = grant(key, Some("application/octet-stream"), Some(3));
        g.overwrite = true;
        let put = s.presigned_put(&g, None);
        let r = send(&http, &put, &put.url, b"k!y", &[]).await;
        assert_eq!(
            r.status(),
            200,
            "PUT {key:?}: {}",
            r.text().await.unwrap_or_default()
        );
        let get = s.presigned_get(
            key,
            &DownloadOptions {
                response_content_disposition: Some(
                    "attachment; filename*=UTF-8''%E4%B8%AD; x=\"a b\"",
                ),
                response_content_type: Some("text/plain; charset=utf-8"),
            },
            now(),
            now() + 60,
        );
        let r = http.get(&get.url).send().await.expect("get");
        assert_eq!(r.status(), 200, "GET {key:?}");
        assert_eq!(r.bytes().await.expect("body").as_ref(), b"k!y", "{key:?}");
        assert_eq!(
            s.head_object(&http, key).await.expect("head").size,
            3,
            "{key:?}"
        );
    }
}
