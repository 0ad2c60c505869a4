//! Redis Sentinel and Redis Cluster, each started for real on loopback, record callbacks like a single Redis.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_problem, AppOptions, Services, TestApp};

struct Processes {
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Processes {
    fn new() -> Self {
        Self {
            children: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn redis(&mut self, args: &[&str]) {
        let child = Command::new("redis-server")
            .args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/services.sh install)");
        self.children.push(child);
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A MinIO-style webhook delivery for `key`; returns the HTTP status.
async fn deliver(app: &TestApp, key: &str) -> u16 {
    let event = json!({"EventName": "s3:ObjectCreated:Put", "Records": [{"eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": Services::s3_bucket()}, "object": {"key": key, "size": 3, "eTag": "0123456789abcdef0123456789abcdef"}}}]});
    app.http
        .post(app.url("/v1/callbacks/media"))
        .bearer_auth(Services::webhook_token())
        .json(&event)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_sentinel_managed_primary_records_events() {
    let mut p = Processes::new();
    let (primary, sentinel) = (free_port(), free_port());
    p.redis(&[
        "--port",
        &primary.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ]);
    wait_for("primary", || cli(primary, &["ping"]).trim() == "PONG");
    let conf = p.dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel}\nbind 127.0.0.1\nsentinel monitor pbmaster 127.0.0.1 {primary} 1\n"
        ),
    )
    .expect("conf");
    p.redis(&[conf.to_str().expect("path"), "--sentinel"]);
    wait_for("sentinel", || {
        cli(
            sentinel,
            &["sentinel", "get-master-addr-by-name", "pbmaster"],
        )
        .contains(&primary.to_string())
    });

    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_connection: Some(format!(
            "sentinel_urls = [\"redis://127.0.0.1:{sentinel}\"]\nsentinel_master = \"pbmaster\""
        )),
        ..Default::default()
    })
    .await;
    assert_eq!(deliver(&app, "sentinel/a.txt").await, 200);
    assert_eq!(deliver(&app, "sentinel/a.txt").await, 200);
    let events = app
        .recorded_events(&format!("redis://127.0.0.1:{primary}/0"))
        .await;
    assert_eq!(
        events.len(),
        1,
        "recorded once on the primary the sentinel names"
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok(),
        Some(200)
    );
}

#[tokio::test]
async fn a_redis_cluster_records_events_with_hash_tagged_keys() {
    let mut p = Processes::new();
    let ports = [free_port(), free_port(), free_port()];
    for port in ports {
        p.redis(&[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &format!("nodes-{port}.conf"),
        ]);
    }
    for port in ports {
        wait_for("cluster node", || cli(port, &["ping"]).trim() == "PONG");
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    wait_for("cluster state ok", || {
        ports
            .iter()
            .all(|p| cli(*p, &["cluster", "info"]).contains("cluster_state:ok"))
    });

    let tag = format!("{{pb-{}}}:", uuid::Uuid::new_v4().simple());
    let urls: Vec<String> = nodes.iter().map(|n| format!("\"redis://{n}\"")).collect();
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_prefix: Some(tag.clone()),
        redis_connection: Some(format!("cluster_urls = [{}]", urls.join(", "))),
        ..Default::default()
    })
    .await;
    for key in ["cluster/a.txt", "cluster/b.txt", "cluster/a.txt"] {
        assert_eq!(deliver(&app, key).await, 200, "{key}");
    }
    // The stream lives on whichever node owns the hash tag's slot.
    let stream = format!("{tag}events");
    let lengths: Vec<i64> = ports
        .iter()
        .map(|p| cli(*p, &["xlen", &stream]).trim().parse().unwrap_or(0))
        .collect();
    assert_eq!(
        lengths.iter().sum::<i64>(),
        2,
        "two objects, one event each: {lengths:?}"
    );
}

#[tokio::test]
async fn a_cluster_without_a_shared_hash_tag_is_a_start_up_error() {
    // The default-looking names (no `{tag}`): the record script would fail with CROSSSLOT on every callback.
    let result = TestApp::try_spawn_with(AppOptions {
        redis: true,
        redis_prefix: Some("pb-test:no-tag:".into()),
        redis_connection: Some(format!(
            "cluster_urls = [\"redis://127.0.0.1:{}\"]",
            free_port()
        )),
        ..Default::default()
    })
    .await;
    let error = result.err().expect("a start-up error");
    assert!(
        error.contains("hash tag")
            && error.contains("key_prefix")
            && error.contains("{presign-broker}"),
        "the error says how to fix it: {error}"
    );
}

async fn readyz(app: &TestApp) -> (u16, serde_json::Value, String) {
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = res.status().as_u16();
    let text = res.text().await.expect("text");
    (status, serde_json::from_str(&text).expect("json"), text)
}

#[tokio::test]
async fn readiness_names_the_dependency_it_waits_for_without_secrets() {
    // Redis answering and writable: ready.
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        ..Default::default()
    })
    .await;
    let (status, body, _) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["redis"], "ok");

    // Nothing listens there: `"redis": "unreachable"`, and never the URL or its password.
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_url: Some(format!(
            "redis://:hunter2-secret@127.0.0.1:{}/0",
            free_port()
        )),
        redis_settings: "timeout_ms = 300".into(),
        ..Default::default()
    })
    .await;
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let problem = assert_problem(res, 503, "unavailable").await;
    assert_eq!(problem["checks"]["redis"], "unreachable", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("redis"),
        "{problem}"
    );
    let (_, _, text) = readyz(&app).await;
    assert!(
        !text.contains("hunter2") && !text.contains("redis://"),
        "{text}"
    );

    // A read-only replica answers PING but cannot record an event: not ready either.
    let mut p = Processes::new();
    let port = free_port();
    let primary = Services::redis_url();
    let primary_port = url::Url::parse(&primary)
        .expect("url")
        .port()
        .expect("port");
    p.redis(&[
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--replicaof",
        "127.0.0.1",
        &primary_port.to_string(),
    ]);
    wait_for("replica", || cli(port, &["ping"]).trim() == "PONG");
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_url: Some(format!("redis://127.0.0.1:{port}/0")),
        ..Default::default()
    })
    .await;
    let (status, body, _) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["redis"], "cannot_record", "{body}");
}
