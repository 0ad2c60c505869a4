//! Store-level tests: configuration, the token a form upload carries, download URLs, stat over a
//! loopback socket, and callback delegation.

use super::token::decode_verified_token;
use super::*;
use serde_json::{json, Value};
use std::io::{Read, Write};

const VECTORS: &str = include_str!("../../../tests/vectors/qiniu.json");

fn config() -> QiniuStoreConfig {
    QiniuStoreConfig {
        bucket: "my-bucket".into(),
        upload_url: "https://up-z2.qiniup.com/".into(),
        download_domain: Some("https://cdn.example.com".into()),
        access_key: "MY_ACCESS_KEY".into(),
        secret_key: "MY_SECRET_KEY".into(),
        rs_host: None,
    }
}

fn store() -> QiniuStore {
    QiniuStore::new(config()).expect("valid config")
}

fn grant<'a>(key: &'a str, content_types: &'a [String]) -> UploadGrant<'a> {
    UploadGrant {
        callback_url: None,
        key,
        content_type: Some("image/jpeg"),
        content_types,
        size: None,
        max_size: 1_048_576,
        overwrite: false,
        subject: "user 42",
        now: 1_893_455_400,
        expires_at: 1_893_456_000,
    }
}

#[test]
fn config_is_validated_and_defaults_apply() {
    let s = store();
    assert_eq!(s.upload_url, "https://up-z2.qiniup.com");
    assert_eq!(
        s.rs,
        ManagementHost {
            origin: "https://rs.qiniuapi.com".into(),
            host: "rs.qiniuapi.com".into()
        }
    );
    let custom = QiniuStore::new(QiniuStoreConfig {
        rs_host: Some("http://127.0.0.1:9000".into()),
        ..config()
    })
    .expect("valid");
    assert_eq!(
        custom.rs,
        ManagementHost {
            origin: "http://127.0.0.1:9000".into(),
            host: "127.0.0.1:9000".into()
        }
    );
    let bad = [
        QiniuStoreConfig {
            bucket: "".into(),
            ..config()
        },
        QiniuStoreConfig {
            bucket: "a:b".into(),
            ..config()
        },
        QiniuStoreConfig {
            access_key: "A K".into(),
            ..config()
        },
        QiniuStoreConfig {
            access_key: "A:K".into(),
            ..config()
        },
        QiniuStoreConfig {
            secret_key: "".into(),
            ..config()
        },
        QiniuStoreConfig {
            secret_key: "MY_SECRET_KEY\n".into(),
            ..config()
        },
        QiniuStoreConfig {
            upload_url: "up-z2.qiniup.com".into(),
            ..config()
        },
        QiniuStoreConfig {
            upload_url: "https://up-z2.qiniup.com/path".into(),
            ..config()
        },
        QiniuStoreConfig {
            upload_url: "ftp://up-z2.qiniup.com".into(),
            ..config()
        },
        QiniuStoreConfig {
            download_domain: Some("https://cdn.example.com/?a=1".into()),
            ..config()
        },
        QiniuStoreConfig {
            download_domain: Some("https://user:pw@cdn.example.com".into()),
            ..config()
        },
        QiniuStoreConfig {
            rs_host: Some("rs.qiniuapi.com".into()),
            ..config()
        },
    ];
    for cfg in bad {
        let described = format!("{cfg:?}");
        let error = QiniuStore::new(cfg).expect_err(&described);
        assert!(!error.contains("MY_SECRET_KEY"), "{error}");
    }
}

#[test]
fn keys_with_non_ascii_spaces_and_plus_are_accepted_as_secrets() {
    let cfg = QiniuStoreConfig {
        secret_key: "秘 密+key".into(),
        ..config()
    };
    let s = QiniuStore::new(cfg).expect("inner spaces and non-ASCII are fine");
    let upload = s.form_upload(&grant("k", &[]), None);
    assert!(decode_verified_token("MY_ACCESS_KEY", "秘 密+key", &upload.fields[0].1).is_ok());
}

#[test]
fn debug_output_redacts_the_secret_key() {
    let cfg = QiniuStoreConfig {
        secret_key: "TOP-SECRET-VALUE".into(),
        ..config()
    };
    let config_debug = format!("{cfg:?}");
    let store_debug = format!("{:?}", QiniuStore::new(cfg).expect("valid"));
    for debug in [config_debug, store_debug] {
        assert!(!debug.contains("TOP-SECRET-VALUE"), "{debug}");
        assert!(
            debug.contains("<redacted>") && debug.contains("MY_ACCESS_KEY"),
            "{debug}"
        );
    }
}

#[test]
fn form_upload_with_callback_carries_a_verifiable_token_with_the_broker_policy() {
    let types = vec!["image/*".to_owned()];
    let spec = CallbackSpec {
        url: "https://broker.example.com/v1/callbacks/qn?t=tk.sig",
    };
    let upload = store().form_upload(&grant("图片/a b+c.jpg", &types), Some(&spec));
    assert_eq!(upload.url, "https://up-z2.qiniup.com");
    let names: Vec<&str> = upload.fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["token", "key"]);
    assert_eq!(upload.fields[1].1, "图片/a b+c.jpg");
    let policy = decode_verified_token("MY_ACCESS_KEY", "MY_SECRET_KEY", &upload.fields[0].1)
        .expect("HMAC verifies");
    assert_eq!(
        policy,
        json!({
            "scope": "my-bucket:图片/a b+c.jpg",
            "deadline": 1_893_456_000,
            "insertOnly": 1,
            "fsizeLimit": 1_048_576,
            "mimeLimit": "image/*",
            "detectMime": 1,
            "endUser": "user 42",
            "callbackUrl": "https://broker.example.com/v1/callbacks/qn?t=tk.sig",
            "callbackBodyType": "application/x-www-form-urlencoded",
            "callbackBody": "key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)&sub=user+42",
        })
    );
    assert!(decode_verified_token("MY_ACCESS_KEY", "OTHER_SECRET", &upload.fields[0].1).is_err());
}

#[test]
fn form_upload_without_callback_returns_the_same_fields_to_the_client() {
    let upload = store().form_upload(&grant("a.jpg", &[]), None);
    let policy = decode_verified_token("MY_ACCESS_KEY", "MY_SECRET_KEY", &upload.fields[0].1)
        .expect("HMAC verifies");
    assert_eq!(
        policy["returnBody"],
        json!("{\"key\":$(key),\"hash\":$(etag),\"fsize\":$(fsize),\"bucket\":$(bucket)}")
    );
    assert_eq!(policy["mimeLimit"], json!("image/jpeg"));
    assert_eq!(policy.get("callbackUrl"), None);
}

#[test]
fn download_urls_match_the_sdk_vectors_and_encode_keys() {
    let s = store();
    let d1 = s
        .private_download_url("uploads/2030/photo.jpg", 1_893_452_400, 1_893_456_000)
        .expect("domain");
    let d2 = s
        .private_download_url("图片/a b.png", 1_893_452_400, 1_893_453_000)
        .expect("domain");
    let vectors: Value = serde_json::from_str(VECTORS).expect("parses");
    assert_eq!(
        d1.url,
        vectors["private_download_urls"][0]["url"]
            .as_str()
            .expect("D1")
    );
    assert_eq!(
        d2.url,
        vectors["private_download_urls"][1]["url"]
            .as_str()
            .expect("D2")
    );
    assert_eq!((d1.method, d1.headers.len()), ("GET", 0));
    // Expected value computed with Python's urllib.parse.quote(key, safe="/~") and hmac.
    let plus = s
        .private_download_url("图片/a b+c.jpg", 0, 1_893_453_000)
        .expect("domain");
    assert_eq!(
        plus.url,
        "https://cdn.example.com/%E5%9B%BE%E7%89%87/a%20b%2Bc.jpg?e=1893453000&token=MY_ACCESS_KEY:x9A3laISAcrF2fCQWAniXFw5rfY="
    );
    let literal = s.private_download_url("a%2e?#b", 0, 1).expect("domain");
    assert!(
        literal
            .url
            .starts_with("https://cdn.example.com/a%252e%3F%23b?e=1&token="),
        "{}",
        literal.url
    );
}

#[test]
fn download_urls_need_a_domain_and_a_future_expiry() {
    let no_domain = QiniuStore::new(QiniuStoreConfig {
        download_domain: None,
        ..config()
    })
    .expect("valid");
    assert!(no_domain.private_download_url("k", 0, 10).is_err());
    assert!(store().private_download_url("k", 10, 10).is_err());
}

#[test]
fn store_verifies_callbacks_with_its_own_key() {
    let vectors: Value = serde_json::from_str(VECTORS).expect("parses");
    let c1 = &vectors["callbacks"][0];
    let text = |field: &str| c1[field].as_str().expect("string field");
    let request = |authorization| CallbackRequest {
        method: text("method"),
        path: text("path"),
        query: None,
        host: text("host"),
        content_type: Some(text("content_type")),
        headers: &[],
        body: text("body").as_bytes(),
        authorization,
    };
    let s = store();
    assert_eq!(
        s.verify_callback(&request(Some(text("qbox_authorization")))),
        Ok(())
    );
    assert_eq!(
        s.verify_callback(&request(Some(text("qiniu_authorization")))),
        Ok(())
    );
    assert_eq!(
        s.verify_callback(&request(None)),
        Err(CallbackError::Missing)
    );
    let other = QiniuStore::new(QiniuStoreConfig {
        access_key: "OTHER".into(),
        ..config()
    })
    .expect("valid");
    assert_eq!(
        other.verify_callback(&request(Some(text("qbox_authorization")))),
        Err(CallbackError::UnknownKey)
    );
}

/// Serves one canned HTTP answer on loopback and hands back the raw request it received.
fn one_shot_server(
    status_line: &'static str,
    body: &'static str,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
        let answer = format!("{status_line}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = socket.write_all(answer.as_bytes());
        let _ = sender.send(String::from_utf8_lossy(&received).into_owned());
    });
    (origin, receiver)
}

#[tokio::test]
async fn stat_sends_a_request_whose_signature_verifies_as_received() {
    let (origin, received) = one_shot_server(
        "HTTP/1.1 200 OK",
        r#"{"fsize":12345,"hash":"FmDZwqadA4-ib_15hYfQpb7UXUYR","mimeType":"image/jpeg","putTime":1}"#,
    );
    let s = QiniuStore::new(QiniuStoreConfig {
        rs_host: Some(origin),
        ..config()
    })
    .expect("valid");
    let info = s
        .stat(&reqwest::Client::new(), "图片/a b+c.jpg")
        .await
        .expect("stat answers");
    assert_eq!(
        info,
        ObjectInfo {
            size: 12345,
            etag: "FmDZwqadA4-ib_15hYfQpb7UXUYR".into(),
            content_type: Some("image/jpeg".into()),
            version_id: None
        }
    );

    let raw = received.recv().expect("request captured");
    let mut lines = raw.split("\r\n");
    let request_line = lines.next().expect("request line");
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().expect("method"), parts.next().expect("target"));
    assert_eq!(target, "/stat/bXktYnVja2V0OuWbvueJhy9hIGIrYy5qcGc=");
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(": ")).collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let as_received = CallbackRequest {
        method,
        path: target,
        query: None,
        host: header("host").expect("Host sent"),
        content_type: header("content-type"),
        headers: &headers,
        body: b"",
        authorization: header("authorization"),
    };
    assert!(header("authorization").is_some_and(|a| a.starts_with("Qiniu MY_ACCESS_KEY:")));
    assert_eq!(s.verify_callback(&as_received), Ok(()));
}

#[tokio::test]
async fn stat_maps_612_to_not_found() {
    let (origin, _received) = one_shot_server(
        "HTTP/1.1 612 Unknown",
        r#"{"error":"no such file or directory"}"#,
    );
    let s = QiniuStore::new(QiniuStoreConfig {
        rs_host: Some(origin),
        ..config()
    })
    .expect("valid");
    assert!(matches!(
        s.stat(&reqwest::Client::new(), "missing").await,
        Err(ProviderError::NotFound)
    ));
}

#[tokio::test]
async fn stat_reports_an_unreachable_host_as_upstream() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let s = QiniuStore::new(QiniuStoreConfig {
        rs_host: Some(format!("http://127.0.0.1:{port}")),
        ..config()
    })
    .expect("valid");
    match s.stat(&reqwest::Client::new(), "k").await {
        Err(e @ ProviderError::Transport { .. }) => {
            let message = format!("{e} {:?}", std::error::Error::source(&e));
            assert!(!message.contains("MY_SECRET_KEY"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
