//! OCB1–OCB5 and every tamper case of tests/vectors/oss.json, the key-URL allow-list, the body parser and the key
//! cache against a loopback server.
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use regex::Regex;
use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Vectors {
    callbacks: Callbacks,
}

#[derive(Deserialize)]
struct Callbacks {
    vectors: Vec<CallbackVector>,
}

#[derive(Deserialize, Clone)]
struct CallbackVector {
    id: String,
    raw_path: String,
    query: String,
    body: String,
    x_oss_pub_key_url: String,
    pub_key_url: String,
    public_key_pem: String,
    string_to_sign: String,
    authorization: String,
    expect: String,
    #[serde(default)]
    tamper: Vec<Tamper>,
}

#[derive(Deserialize, Clone)]
struct Tamper {
    what: String,
    change: serde_json::Map<String, serde_json::Value>,
    expect: String,
}

fn vectors() -> Vec<CallbackVector> {
    let v: Vectors = serde_json::from_str(include_str!("../../../tests/vectors/oss.json"))
        .expect("tests/vectors/oss.json parses");
    v.callbacks.vectors
}

fn default_pattern() -> Regex {
    Regex::new(DEFAULT_PUB_KEY_URL_PATTERN).expect("pattern")
}

/// The full check a handler makes, with the key the vector names (its URL is mapped to the vector's key: this
/// machine cannot fetch gosspublic.alicdn.com, and OCB3–5 use a local test key under that URL).
fn check(v: &CallbackVector, raw_sts: Option<Vec<u8>>) -> Result<(), OssCallbackError> {
    let url = pub_key_url(&v.x_oss_pub_key_url, &default_pattern())?;
    assert!(url.as_str().starts_with("http"), "{}", v.id);
    let key = OssPublicKey::from_pem(v.public_key_pem.as_bytes())?;
    match raw_sts {
        Some(sts) => verify_string_for_tests(&key, &v.authorization, &sts),
        None => verify_with_key(
            &key,
            &CallbackRequest {
                raw_path: &v.raw_path,
                query: &v.query,
                body: v.body.as_bytes(),
                authorization: &v.authorization,
            },
        ),
    }
}

#[test]
fn every_callback_vector_and_tamper_case() {
    let vectors = vectors();
    assert_eq!(
        vectors.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["OCB1", "OCB2", "OCB3", "OCB4", "OCB5"]
    );
    let mut tampers = 0;
    for v in &vectors {
        assert_eq!(
            string_to_sign(&v.raw_path, &v.query, v.body.as_bytes()),
            v.string_to_sign.as_bytes(),
            "{}",
            v.id
        );
        let url = pub_key_url(&v.x_oss_pub_key_url, &default_pattern()).expect("allowed");
        assert_eq!(url.as_str(), v.pub_key_url, "{}", v.id);
        assert_eq!(v.expect, "accept");
        assert_eq!(check(v, None), Ok(()), "{}", v.id);
        for t in &v.tamper {
            tampers += 1;
            let mut changed = v.clone();
            let mut raw_sts = None;
            for (field, value) in &t.change {
                let text = value.as_str().unwrap_or_default().to_owned();
                match field.as_str() {
                    "authorization" => changed.authorization = text,
                    "body" => changed.body = text,
                    "query" => changed.query = text,
                    "x_oss_pub_key_url" => changed.x_oss_pub_key_url = text,
                    // A verifier that signs the still-encoded path.
                    "__sign_raw_path__" => {
                        let mut sts = format!("{}?{}\n", v.raw_path, v.query).into_bytes();
                        sts.extend_from_slice(v.body.as_bytes());
                        raw_sts = Some(sts);
                    }
                    // A verifier that decodes the query too.
                    "__decode_query__" => {
                        let mut sts: Vec<u8> = percent_decode_str(&v.raw_path).collect();
                        sts.push(b'?');
                        sts.extend(percent_decode_str(&v.query));
                        sts.push(b'\n');
                        sts.extend_from_slice(v.body.as_bytes());
                        raw_sts = Some(sts);
                    }
                    other => panic!("{}: unknown tamper field {other}", v.id),
                }
            }
            let result = check(&changed, raw_sts);
            match t.expect.as_str() {
                "accept" => assert_eq!(result, Ok(()), "{}: {}", v.id, t.what),
                "reject" => assert!(result.is_err(), "{}: {} accepted", v.id, t.what),
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!(tampers, 11);
}

#[test]
fn key_urls_are_allow_listed_on_the_decoded_url() {
    let p = default_pattern();
    let b64 = |s: &str| STANDARD.encode(s);
    assert!(pub_key_url(
        &b64("https://gosspublic.alicdn.com/callback_pub_key_v1.pem"),
        &p
    )
    .is_ok());
    assert!(pub_key_url(
        &b64("http://gosspublic.alicdn.com/callback_pub_key_v1.pem"),
        &p
    )
    .is_ok());
    for bad in [
        "https://gosspublic.alicdn.com.evil.example/k.pem",
        "https://evil.example/https://gosspublic.alicdn.com/k.pem",
        "https://gosspublic.alicdn.com@evil.example/k.pem",
        "https://gosspublic.alicdn.com/k.pem?x=1",
        "https://gosspublic.alicdn.com/k.pem#f",
        "ftp://gosspublic.alicdn.com/k.pem",
        "gosspublic.alicdn.com/k.pem",
    ] {
        assert_eq!(
            pub_key_url(&b64(bad), &p),
            Err(OssCallbackError::KeyUrlNotAllowed),
            "{bad}"
        );
    }
    assert!(matches!(
        pub_key_url("not base64!", &p),
        Err(OssCallbackError::Malformed(_))
    ));
    // A test pattern may allow a loopback key server.
    let loopback = Regex::new(r"^http://127\.0\.0\.1:[0-9]+/").expect("pattern");
    assert!(pub_key_url(&b64("http://127.0.0.1:9/key.pem"), &loopback).is_ok());
    assert!(pub_key_url(&b64("http://127.0.0.1:9/key.pem"), &p).is_err());
}

#[test]
fn malformed_signatures_and_keys_are_rejected_without_panic() {
    let v = &vectors()[2];
    let key = OssPublicKey::from_pem(v.public_key_pem.as_bytes()).expect("key");
    let req = |authorization| CallbackRequest {
        raw_path: &v.raw_path,
        query: &v.query,
        body: v.body.as_bytes(),
        authorization,
    };
    assert_eq!(
        verify_with_key(&key, &req("")),
        Err(OssCallbackError::MissingHeader("authorization"))
    );
    assert!(matches!(
        verify_with_key(&key, &req("%%%")),
        Err(OssCallbackError::Malformed(_))
    ));
    assert_eq!(
        verify_with_key(&key, &req("AAAA")),
        Err(OssCallbackError::SignatureMismatch)
    );
    let long = "A".repeat(2000);
    assert!(matches!(
        verify_with_key(&key, &req(&long)),
        Err(OssCallbackError::Malformed(_))
    ));
    // OCB1's real OSS key (512-bit) cannot verify OCB3's local-key signature.
    let oss_key = OssPublicKey::from_pem(vectors()[0].public_key_pem.as_bytes()).expect("key");
    assert_eq!(
        verify_with_key(&oss_key, &req(&v.authorization)),
        Err(OssCallbackError::SignatureMismatch)
    );
    assert!(matches!(
        OssPublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        Err(OssCallbackError::BadKey(_))
    ));
    assert!(OssPublicKey::from_pem(&[0xff, 0xfe]).is_err());
}

#[test]
fn callback_body_parses_and_answers() {
    let body = b"bucket=examplebucket&key=user%2F42%2Fa+b.jpg&etag=D8E8FCA2DC0F896FD7CB4CB0031BA249&size=5&mimeType=image%2Fjpeg&sub=al+ice";
    let parsed = CallbackBody::parse(body).expect("body");
    assert_eq!(parsed.key, "user/42/a b.jpg");
    assert_eq!(parsed.subject, "al ice");
    assert_eq!(parsed.size, 5);
    assert_eq!(parsed.mime_type.as_deref(), Some("image/jpeg"));
    let answer = parsed.answer_json();
    assert_eq!(
        answer,
        serde_json::json!({"key": "user/42/a b.jpg", "etag": "D8E8FCA2DC0F896FD7CB4CB0031BA249", "size": 5, "bucket": "examplebucket"})
    );
    for bad in [
        &b"bucket=b&key=k&etag=e&size=x&mimeType=&sub=s"[..],
        b"bucket=b&key=k&etag=e&size=1&mimeType=",
        b"bucket=b&key=k&key=k2&etag=e&size=1&mimeType=&sub=s",
        b"bucket=b&key=&etag=e&size=1&mimeType=&sub=s",
    ] {
        assert!(
            CallbackBody::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let empty_type =
        CallbackBody::parse(b"bucket=b&key=k&etag=%22E%22&size=1&mimeType=&sub=s").expect("ok");
    assert_eq!(
        (empty_type.mime_type, empty_type.etag.as_str()),
        (None, "E")
    );
}

/// A loopback HTTP server answering `answers` (status, extra header lines, body), one connection each.
fn serve(answers: Vec<(u16, String, Vec<u8>)>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for (status, headers, body) in answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                body.len()
            );
            let _ = stream
                .write_all(reply.as_bytes())
                .and_then(|()| stream.write_all(&body));
        }
    });
    (port, count)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

#[tokio::test]
async fn keys_are_fetched_once_and_cached() {
    let v = &vectors()[2];
    let (port, count) = serve(vec![(
        200,
        String::new(),
        v.public_key_pem.clone().into_bytes(),
    )]);
    let pattern = Regex::new(r"^http://127\.0\.0\.1:[0-9]+/").expect("pattern");
    let header = STANDARD.encode(format!("http://127.0.0.1:{port}/callback_pub_key_v1.pem"));
    let url = pub_key_url(&header, &pattern).expect("allowed");
    let cache = PubKeyCache::default();
    let http = client();
    let key = cache.get(&http, &url, &pattern).await.expect("key");
    let again = cache.get(&http, &url, &pattern).await.expect("cached");
    assert!(Arc::ptr_eq(&key, &again));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let req = CallbackRequest {
        raw_path: &v.raw_path,
        query: &v.query,
        body: v.body.as_bytes(),
        authorization: &v.authorization,
    };
    assert_eq!(verify_with_key(&key, &req), Ok(()));
}

#[tokio::test]
async fn failures_redirects_and_disallowed_urls() {
    let pattern = Regex::new(r"^http://127\.0\.0\.1:[0-9]+/").expect("pattern");
    let (port, count) = serve(vec![
        (500, String::new(), Vec::new()),
        (200, String::new(), b"not a key".to_vec()),
        (
            302,
            "Location: http://localhost:1/k.pem\r\n".to_owned(),
            Vec::new(),
        ),
    ]);
    let url = Url::parse(&format!("http://127.0.0.1:{port}/k.pem")).expect("url");
    let cache = PubKeyCache::new(1, Duration::from_secs(60));
    let http = client();
    assert!(matches!(
        cache.get(&http, &url, &pattern).await,
        Err(OssCallbackError::KeyFetch(_))
    ));
    assert!(matches!(
        cache.get(&http, &url, &pattern).await,
        Err(OssCallbackError::BadKey(_))
    ));
    assert!(matches!(
        cache.get(&http, &url, &pattern).await,
        Err(OssCallbackError::KeyFetch(_))
    ));
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // A URL the pattern does not allow is refused without any connection.
    let other = Url::parse("http://localhost:9/k.pem").expect("url");
    assert_eq!(
        cache.get(&http, &other, &pattern).await,
        Err(OssCallbackError::KeyUrlNotAllowed)
    );
}
