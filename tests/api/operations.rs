//! Operations: graceful shutdown and SIGHUP reload of the real binary, rate limits, the policy watcher.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_problem, token, AppOptions, TestApp, HS_SECRET};

const ALLOW_UPLOADS: &str = "[[rule]]\nroles = [\"user\"]\nstores = [\"*\"]\nactions = [\"upload\"]\npaths = [\"users/{sub}/**\"]\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// A loopback "S3" whose every answer takes `delay`: requests to it stay in flight.
async fn slow_s3(delay: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: image/png\r\n\
                            etag: \"0123456789abcdef0123456789abcdef\"\r\nconnection: close\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

struct Broker {
    child: Child,
    base: String,
}

impl Broker {
    fn start(config: &std::path::Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_presign-broker"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn broker");
        let broker = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "broker did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(ok.success());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &std::path::Path, port: u16, s3_endpoint: &str) -> std::path::PathBuf {
    let text = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\ndrain_seconds = 1\nshutdown_timeout_seconds = 10\n\
         [auth]\n[[auth.keys]]\nkid = \"test\"\nalgorithm = \"HS256\"\nsecret = \"{HS_SECRET}\"\n\
         [policies]\ndir = \"policies\"\n\
         [stores.slow]\nprovider = \"s3\"\nendpoint = \"{s3_endpoint}\"\nregion = \"us-east-1\"\nbucket = \"b\"\n\
         path_style = true\naccess_key = \"AK\"\nsecret_key = \"SK\"\n"
    );
    std::fs::create_dir_all(dir.join("policies")).expect("mkdir");
    let path = dir.join("broker.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test]
async fn sigterm_drains_then_finishes_in_flight_requests_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &slow_s3(Duration::from_millis(2500)).await,
    );
    std::fs::write(dir.path().join("policies/users.toml"), ALLOW_UPLOADS).expect("policy");
    let mut broker = Broker::start(&config, port);
    let http = reqwest::Client::new();
    let t = token("alice", &["user"]);

    // A request that is still in flight when the listener closes.
    let slow = {
        let (http, url, t) = (
            http.clone(),
            format!("{}/v1/uploads/confirm", broker.base),
            t.clone(),
        );
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(t)
                .json(&json!({"store": "slow", "key": "users/alice/a.png"}))
                .send()
                .await
        })
    };
    // Clients that behave like a load balancer: keep sending until readiness says stop.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (http, base, t) = (http.clone(), broker.base.clone(), t.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let ready = http
                        .get(format!("{base}/readyz"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .ok();
                    if ready != Some(200) {
                        return (statuses, ready);
                    }
                    let res = http
                        .post(format!("{base}/v1/uploads"))
                        .bearer_auth(&t)
                        .json(&json!({"store": "slow", "key": "users/alice/b.png"}))
                        .send()
                        .await;
                    statuses.push(res.map(|r| r.status().as_u16()).unwrap_or(0));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    broker.signal("TERM");

    for client in clients {
        let (statuses, last_ready) = client.await.expect("client task");
        assert!(!statuses.is_empty(), "requests were made during the run");
        assert!(
            statuses.iter().all(|s| *s == 200),
            "a request failed during shutdown: {statuses:?}"
        );
        assert_eq!(
            last_ready,
            Some(503),
            "readiness turned 503 while still serving"
        );
    }
    let slow = slow
        .await
        .expect("task")
        .expect("the in-flight request got an answer");
    assert_eq!(
        slow.status().as_u16(),
        200,
        "the in-flight request finished"
    );
    let status = loop {
        if let Some(status) = broker.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "the broker did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit code 0, got {status:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(1),
        "drained for drain_seconds first"
    );
}

#[tokio::test]
async fn sighup_reloads_policies_and_a_broken_file_keeps_the_old_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), port, "http://127.0.0.1:9");
    let policy = dir.path().join("policies/users.toml");
    std::fs::write(
        &policy,
        ALLOW_UPLOADS.replace("users/{sub}", "nothing/{sub}"),
    )
    .expect("policy");
    let broker = Broker::start(&config, port);
    let http = reqwest::Client::new();
    let t = token("alice", &["user"]);
    let status = || async {
        http.post(format!("{}/v1/uploads", broker.base))
            .bearer_auth(&t)
            .json(&json!({"store": "slow", "key": "users/alice/a.png"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let eventually = |want: u16| async move {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = status().await;
            if got == want || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(status().await, 403);
    std::fs::write(&policy, ALLOW_UPLOADS).expect("policy");
    broker.signal("HUP");
    assert_eq!(eventually(200).await, 200, "reloaded on SIGHUP");
    std::fs::write(&policy, "[[rule]]\nroles = [\"user\"]\nbroken").expect("policy");
    broker.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status().await, 200, "a broken file keeps the previous set");
    assert_eq!(
        http.get(format!("{}/healthz", broker.base))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok(),
        Some(200)
    );
}

#[tokio::test]
async fn the_policy_watcher_reloads_on_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("users.toml"),
        ALLOW_UPLOADS.replace("users/{sub}", "nothing/{sub}"),
    )
    .expect("write");
    let app = TestApp::spawn_with(AppOptions {
        policies_dir: Some(dir.path().to_path_buf()),
        policies_settings: "watch_seconds = 1".into(),
        ..Default::default()
    })
    .await;
    let t = token("alice", &["user"]);
    let body = json!({"store": "wx", "key": "users/alice/a.jpg"});
    assert_eq!(app.post_json("/v1/uploads", &t, &body).await.0, 403);
    std::fs::write(dir.path().join("users.toml"), ALLOW_UPLOADS).expect("write");
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.post_json("/v1/uploads", &t, &body).await.0 != 200 {
        assert!(Instant::now() < deadline, "the watcher did not reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The reload is atomic: a direct reload of a broken set changes nothing.
    std::fs::write(dir.path().join("zz.toml"), "[[rule]]\nbad = 1").expect("write");
    assert!(presign_broker::reload_policies(&app.state).is_err());
    assert_eq!(app.post_json("/v1/uploads", &t, &body).await.0, 200);
}

#[tokio::test]
async fn rate_limits_apply_per_subject() {
    let app = TestApp::spawn_with(AppOptions {
        extra: "[rate_limit]\nper_subject = \"1/m\"\nburst = 2\n".into(),
        ..Default::default()
    })
    .await;
    let alice = token("alice", &["user"]);
    let body = json!({"store": "wx", "key": "users/alice/a.jpg"});
    for _ in 0..2 {
        assert_eq!(app.post_json("/v1/uploads", &alice, &body).await.0, 200);
    }
    let res = app.post("/v1/uploads", &alice, &body).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(res, 429, "rate_limited").await;
    let bob = token("bob", &["user"]);
    let (status, _) = app
        .post_json(
            "/v1/uploads",
            &bob,
            &json!({"store": "wx", "key": "users/bob/a.jpg"}),
        )
        .await;
    assert_eq!(status, 200, "another subject has its own bucket");
}

#[tokio::test]
async fn with_redis_the_limit_holds_across_replicas() {
    let prefix = format!("pb-test:{}:", uuid::Uuid::new_v4().simple());
    let replica = || {
        TestApp::spawn_with(AppOptions {
            redis: true,
            redis_prefix: Some(prefix.clone()),
            extra: "[rate_limit]\nper_subject = \"1/m\"\nburst = 2\n".into(),
            ..Default::default()
        })
    };
    let (a, b) = (replica().await, replica().await);
    let alice = token("alice", &["user"]);
    let body = json!({"store": "wx", "key": "users/alice/a.jpg"});
    assert_eq!(a.post_json("/v1/uploads", &alice, &body).await.0, 200);
    assert_eq!(b.post_json("/v1/uploads", &alice, &body).await.0, 200);
    assert_eq!(a.post_json("/v1/uploads", &alice, &body).await.0, 429);
    assert_eq!(b.post_json("/v1/uploads", &alice, &body).await.0, 429);
}

#[tokio::test]
async fn browsers_can_read_errors_cors_headers_included() {
    let app = TestApp::spawn_with(AppOptions {
        server_settings: "cors_origins = [\"http://app.test\"]".into(),
        ..Default::default()
    })
    .await;
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/uploads"))
        .header("origin", "http://app.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some("http://app.test")
    );
    assert!(header(&preflight, "x-request-id").is_some());

    let res = app
        .http
        .post(app.url("/v1/uploads"))
        .header("origin", "http://app.test")
        .body("{}")
        .send()
        .await
        .expect("req");
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("http://app.test"),
        "errors keep CORS headers"
    );
    let exposed = header(&res, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["x-request-id", "retry-after", "www-authenticate"] {
        assert!(exposed.contains(h), "{h} exposed in {exposed:?}");
    }
    assert_problem(res, 401, "unauthenticated").await;

    let other = app
        .http
        .get(app.url("/healthz"))
        .header("origin", "http://evil.test")
        .send()
        .await
        .expect("req");
    assert_eq!(header(&other, "access-control-allow-origin"), None);
}
