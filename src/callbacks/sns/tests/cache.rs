//! CertCache and confirm_subscription against a loopback HTTP server started by each test.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;

use super::super::{confirm_subscription, verify_with_key, CertCache, SnsError, SnsMessage};
use super::{confirmation, notification, sign, TEST_CERT_PEM};

/// One scripted answer: status, extra header lines, body.
type Answer = (u16, String, Vec<u8>);

/// A loopback HTTP/1.1 server answering its script, one connection per answer, then closing.
struct Loopback {
    port: u16,
    connections: Arc<AtomicUsize>,
    request_lines: Arc<Mutex<Vec<String>>>,
}

impl Loopback {
    fn start(script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let request_lines = Arc::new(Mutex::new(Vec::new()));
        let (count, lines) = (Arc::clone(&connections), Arc::clone(&request_lines));
        std::thread::spawn(move || {
            for (status, headers, body) in script {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                lines
                    .lock()
                    .expect("lock")
                    .push(head.lines().next().unwrap_or_default().to_owned());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = stream
                    .write_all(reply.as_bytes())
                    .and_then(|()| stream.write_all(&body));
            }
        });
        Self {
            port,
            connections,
            request_lines,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Only `.pem` paths on this server's port.
    fn pattern(&self) -> Regex {
        Regex::new(&format!(
            r"^http://127\.0\.0\.1:{}/[a-z/]*\.pem$",
            self.port
        ))
        .expect("pattern")
    }
}

fn pem_answer() -> Answer {
    (200, String::new(), TEST_CERT_PEM.as_bytes().to_vec())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

#[tokio::test]
async fn second_get_is_served_from_the_cache() {
    let server = Loopback::start(vec![pem_answer(), pem_answer()]);
    let cache = CertCache::default();
    let (http, pattern, url) = (client(), server.pattern(), server.url("/cert.pem"));
    let first = cache.get(&http, &url, &pattern).await.expect("first get");
    let second = cache.get(&http, &url, &pattern).await.expect("second get");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(server.connections(), 1);
    assert_eq!(
        server.request_lines.lock().expect("lock").as_slice(),
        ["GET /cert.pem HTTP/1.1"]
    );
    assert_eq!(
        verify_with_key(&sign(notification(None), "2"), &first),
        Ok(())
    );
}

#[tokio::test]
async fn disallowed_urls_make_no_connection() {
    let server = Loopback::start(vec![pem_answer()]);
    let cache = CertCache::default();
    let (http, pattern) = (client(), server.pattern());
    let port = server.port;
    for url in [
        server.url("/cert.txt"),
        server.url("/cert.pem?x=1"),
        server.url("/cert.pem#x"),
        format!("http://user@127.0.0.1:{port}/cert.pem"),
        format!("http://127.0.0.1:{port}@127.0.0.1:{port}/cert.pem"),
        format!("https://127.0.0.1:{port}/cert.pem"),
    ] {
        assert_eq!(
            cache.get(&http, &url, &pattern).await,
            Err(SnsError::CertUrlNotAllowed),
            "{url}"
        );
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let server = Loopback::start(vec![(500, String::new(), b"oops".to_vec()), pem_answer()]);
    let cache = CertCache::default();
    let (http, pattern, url) = (client(), server.pattern(), server.url("/cert.pem"));
    assert_eq!(
        cache.get(&http, &url, &pattern).await,
        Err(SnsError::CertFetch("status 500".into()))
    );
    assert!(cache.get(&http, &url, &pattern).await.is_ok());
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn non_certificate_bodies_and_redirects_are_refused() {
    let elsewhere = "Location: /elsewhere.txt\r\n".to_owned();
    let server = Loopback::start(vec![
        (200, String::new(), b"<html>not a cert</html>".to_vec()),
        (302, elsewhere.clone(), Vec::new()),
        (302, elsewhere, Vec::new()),
        pem_answer(),
    ]);
    let cache = CertCache::default();
    let (pattern, url) = (server.pattern(), server.url("/cert.pem"));
    assert!(matches!(
        cache.get(&client(), &url, &pattern).await,
        Err(SnsError::Certificate(_))
    ));
    // Policy::none(): the redirect is an unsuccessful answer.
    assert_eq!(
        cache.get(&client(), &url, &pattern).await,
        Err(SnsError::CertFetch("status 302".into()))
    );
    // A client that follows redirects gets a certificate from a URL the pattern refuses: it is not trusted.
    let following = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert_eq!(
        cache.get(&following, &url, &pattern).await,
        Err(SnsError::CertUrlNotAllowed)
    );
    assert_eq!(server.connections(), 4);
    assert_eq!(
        server
            .request_lines
            .lock()
            .expect("lock")
            .last()
            .map(String::as_str),
        Some("GET /elsewhere.txt HTTP/1.1")
    );
}

#[tokio::test]
async fn cache_is_bounded() {
    let server = Loopback::start(vec![pem_answer(), pem_answer(), pem_answer()]);
    let cache = CertCache::new(1, Duration::from_secs(3600));
    let http = client();
    let pattern = server.pattern();
    for path in ["/a.pem", "/b.pem", "/a.pem"] {
        assert!(
            cache.get(&http, &server.url(path), &pattern).await.is_ok(),
            "{path}"
        );
    }
    assert_eq!(
        server.connections(),
        3,
        "capacity 1: /a.pem was evicted by /b.pem"
    );
}

#[tokio::test]
async fn subscription_is_confirmed_only_on_an_allowed_url() {
    let server = Loopback::start(vec![(
        200,
        String::new(),
        b"<ConfirmSubscriptionResponse/>".to_vec(),
    )]);
    let pattern = server.pattern();
    let http = client();
    let with_urls = |subscribe: String| SnsMessage {
        subscribe_url: Some(subscribe),
        signing_cert_url: server.url("/cert.pem"),
        ..confirmation("SubscriptionConfirmation")
    };

    let refused = [
        with_urls("http://127.0.0.1:9/?Action=ConfirmSubscription".into()),
        with_urls(format!(
            "http://x@127.0.0.1:{}/?Action=ConfirmSubscription",
            server.port
        )),
        SnsMessage {
            signing_cert_url: "https://evil.example/x.pem".into(),
            ..with_urls(server.url("/?Action=ConfirmSubscription"))
        },
    ];
    for msg in &refused {
        assert_eq!(
            confirm_subscription(&http, msg, &pattern).await,
            Err(SnsError::SubscribeUrlNotAllowed)
        );
    }
    let notification = SnsMessage {
        signing_cert_url: server.url("/cert.pem"),
        ..notification(None)
    };
    assert_eq!(
        confirm_subscription(&http, &notification, &pattern).await,
        Err(SnsError::UnsupportedType)
    );
    assert_eq!(server.connections(), 0);

    let msg = with_urls(server.url("/?Action=ConfirmSubscription&Token=abc"));
    assert_eq!(confirm_subscription(&http, &msg, &pattern).await, Ok(()));
    assert_eq!(
        server.request_lines.lock().expect("lock").as_slice(),
        ["GET /?Action=ConfirmSubscription&Token=abc HTTP/1.1"]
    );
}
