//! Issue 10's hardening items, each through the HTTP API: metric labels, 405, media types, body timeouts.
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_problem, token, AppOptions, TestApp};

/// `/metrics` as text.
async fn metrics(app: &TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn made_up_methods_never_become_metric_labels() {
    let app = TestApp::spawn().await;
    let made_up = format!("X{}", "Q".repeat(1000));
    for i in 0..20 {
        let method =
            reqwest::Method::from_bytes(format!("{made_up}{i}").as_bytes()).expect("token");
        let res = app
            .http
            .request(method, app.url("/healthz"))
            .send()
            .await
            .expect("request");
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let text = metrics(&app).await;
    assert!(
        !text.contains(&made_up),
        "a client-chosen method became a label"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_requests_total") && l.contains("method=\"other\"")),
        "unknown methods are counted as `other`:\n{text}"
    );
    // Every label of every series takes one of a few server-chosen values: no line is longer than a route.
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 400, "a {longest}-byte metrics line");
}

#[tokio::test]
async fn known_routes_with_another_method_answer_405_with_allow() {
    let app = TestApp::spawn().await;
    for (method, path, allow) in [
        (reqwest::Method::GET, "/v1/uploads", "POST"),
        (reqwest::Method::DELETE, "/healthz", "GET"),
        (reqwest::Method::PUT, "/v1/multipart/abc/parts", "GET, POST"),
        (reqwest::Method::GET, "/v1/callbacks/media", "HEAD, POST"),
        (
            reqwest::Method::from_bytes(b"BREW").expect("token"),
            "/v1/stores",
            "GET",
        ),
    ] {
        let res = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        let got_allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        assert_problem(res, 405, "method_not_allowed").await;
        assert_eq!(got_allow.as_deref(), Some(allow), "{method} {path}");
    }
    let res = app.http.get(app.url("/v1/nope")).send().await.expect("req");
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn content_types_are_one_media_type() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    for bad in [
        "image/png,text/html",
        "image/png text/html",
        "image/png\r\nX-Evil: 1",
        "image/png\n",
        "\"image/png\"",
        "image/png;charset",
        "image/",
    ] {
        for (path, body) in [
            (
                "/v1/uploads",
                json!({"store":"media","key":"users/alice/a.png","content_type":bad,"method":"PUT","size":1}),
            ),
            (
                "/v1/uploads",
                json!({"store":"media","key":"strict/alice/a.png","content_type":bad}),
            ),
            (
                "/v1/multipart",
                json!({"store":"media","key":"users/alice/a.png","content_type":bad}),
            ),
            (
                "/v1/downloads",
                json!({"store":"media","key":"users/alice/a.png","response_content_type":bad}),
            ),
        ] {
            let res = app.post(path, &t, &body).await;
            let problem = assert_problem(res, 400, "invalid_request").await;
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("content_type")),
                "{bad:?} at {path}: {problem}"
            );
        }
    }
    // Control: valid media types with parameters still work and are pinned as given.
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &t,
            &json!({"store":"media","key":"strict/alice/a.png","content_type":"image/PNG; charset=\"x\""}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fields"]["Content-Type"], "image/PNG; charset=\"x\"");
}

#[tokio::test]
async fn image_wildcards_do_not_admit_svg_unless_a_rule_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("images.toml"),
        r#"
[[rule]]
roles = ["user"]
stores = ["*"]
actions = ["upload"]
paths = ["pics/{sub}/**"]
max_size = "1MiB"
content_types = ["image/*"]

[[rule]]
roles = ["user"]
stores = ["*"]
actions = ["upload"]
paths = ["vector/{sub}/**"]
max_size = "1MiB"
content_types = ["image/*", "image/svg+xml"]
"#,
    )
    .expect("write policy");
    let app = TestApp::spawn_with(AppOptions {
        policies_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let t = token("alice", &["user"]);
    let ask = |key: &str, ct: &str| json!({"store":"media","key":key,"content_type":ct});
    let (status, _) = app
        .post_json("/v1/uploads", &t, &ask("pics/alice/a.png", "image/png"))
        .await;
    assert_eq!(status, 200, "image/* admits image/png");
    let res = app
        .post("/v1/uploads", &t, &ask("pics/alice/a.svg", "image/svg+xml"))
        .await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = app
        .post(
            "/v1/uploads",
            &t,
            &ask("pics/alice/a.svg", "IMAGE/SVG+XML; charset=utf-8"),
        )
        .await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &t,
            &ask("vector/alice/a.svg", "image/svg+xml"),
        )
        .await;
    assert_eq!(status, 200, "a rule naming image/svg+xml admits it: {body}");
}

#[tokio::test]
async fn trailing_data_after_the_json_object_is_refused() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let one = r#"{"store":"media","key":"users/alice/a.txt"}"#;
    for body in [
        format!("{one}{one}"),
        format!("{one} junk"),
        format!("{one}\n{{}}"),
        format!("{one}]"),
    ] {
        let res = app
            .http
            .post(app.url("/v1/uploads"))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("req");
        assert_problem(res, 400, "invalid_request").await;
    }
    // Trailing whitespace is not data.
    let res = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(format!("{one} \n"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status().as_u16(), 200);
}

/// Sends the head of a request declaring `declared` body bytes, then only `sent` of them, and waits.
fn trickle(
    port: u16,
    path: &str,
    auth: Option<&str>,
    declared: usize,
    sent: &[u8],
) -> (String, Duration) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let auth = auth
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{auth}content-length: {declared}\r\n\r\n"
    )
    .expect("head");
    s.write_all(sent).expect("body");
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_bodies_time_out_with_408() {
    let app = TestApp::spawn_with(AppOptions {
        server_settings: "body_timeout_seconds = 1".into(),
        ..Default::default()
    })
    .await;
    let t = token("alice", &["user"]);
    let port = app.port;
    for (path, auth) in [
        ("/v1/uploads", Some(t.as_str())),
        ("/v1/callbacks/media", None),
    ] {
        let auth = auth.map(String::from);
        let (answer, waited) = tokio::task::spawn_blocking(move || {
            trickle(port, path, auth.as_deref(), 100, br#"{"store":"#)
        })
        .await
        .expect("join");
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
        assert!(
            waited < Duration::from_secs(5),
            "{path}: answered after {waited:?}, and the connection is closed"
        );
    }
}

#[tokio::test]
async fn the_dev_config_follows_pb_s3_port() {
    use presign_broker::config::{dev_config_text, Config};
    let mut config =
        Config::parse("dev.toml", &dev_config_text(Some("8533")), None).expect("dev config");
    config.dev_defaults = true;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let t = presign_broker::cli::mint_token(&config, "alice", &["user".into()], "5m", &[])
        .expect("token");
    let app = presign_broker::Application::build(config, Some(listener))
        .await
        .expect("app");
    tokio::spawn(app.run_until_stopped());
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/uploads"))
        .bearer_auth(t)
        .json(&json!({"store":"media","key":"users/alice/a.jpg","content_type":"image/jpeg","size":5,"method":"PUT"}))
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    let url = body["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("http://127.0.0.1:8533/"), "{url}");
    // Without the variable: the documented default.
    assert!(dev_config_text(None).contains("http://127.0.0.1:8333"));
    assert!(dev_config_text(Some("8333; rm")).contains("http://127.0.0.1:8333\""));
}
