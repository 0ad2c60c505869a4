//! The error model: problem+json with stable codes, request ids, body limits, no 5xx for client mistakes.
use serde_json::json;

use crate::helpers::{assert_problem, token, TestApp};

#[tokio::test]
async fn request_ids_are_adopted_when_valid_and_generated_otherwise() {
    let app = TestApp::spawn().await;
    let id_of = |res: &reqwest::Response| {
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123_XYZ")
        .send()
        .await
        .expect("req");
    assert_eq!(id_of(&res).as_deref(), Some("abc-123_XYZ"));
    let res = app.http.get(app.url("/healthz")).send().await.expect("req");
    let generated = id_of(&res).expect("a generated id");
    assert!(!generated.is_empty() && generated.len() <= 128);
    for bad in [
        "has space".to_string(),
        "x".repeat(129),
        "tab\tin".to_string(),
        "ünï".to_string(),
    ] {
        let res = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", bad.as_bytes())
            .send()
            .await
            .expect("req");
        let id = id_of(&res).expect("an id");
        assert_ne!(id, bad, "invalid id {bad:?} must not be echoed");
    }
    let edge = "~".repeat(128);
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", &edge)
        .send()
        .await
        .expect("req");
    assert_eq!(id_of(&res).as_deref(), Some(edge.as_str()));
    // Errors carry the same id in the body.
    let res = app
        .http
        .get(app.url("/v1/stores"))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .expect("req");
    let body = assert_problem(res, 401, "unauthenticated").await;
    assert_eq!(body["request_id"], "trace-me");
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let send = |body: &'static str| {
        app.http
            .post(app.url("/v1/uploads"))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: &[(&str, &str)] = &[
        ("{not json", "invalid JSON"),
        ("", "empty"),
        ("[]", "invalid JSON"),
        (
            r#"{"store":"media","key":"users/alice/a","sise":5}"#,
            "sise",
        ),
        (
            r#"{"store":"media","key":"users/alice/a","size":"big"}"#,
            "size",
        ),
        (
            r#"{"store":"media","key":"users/alice/a","size":-1}"#,
            "size",
        ),
        (r#"{"key":"users/alice/a"}"#, "store"),
        (
            r#"{"store":"media","key":"users/alice/a","method":"PATCH"}"#,
            "method",
        ),
        (
            r#"{"store":"media","key":"users/alice/a","expires_in":0}"#,
            "expires_in",
        ),
        (r#"{"store":"media"}"#, "key"),
        (
            r#"{"store":"media","key":"users/alice/a","filename":"a.jpg"}"#,
            "either key or filename",
        ),
    ];
    for (body, needle) in cases {
        let res = send(body).await.expect("request");
        let problem = assert_problem(res, 400, "invalid_request").await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "{body}: detail {detail:?} should mention {needle:?}"
        );
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_before_parsing() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let big = format!(
        r#"{{"store":"media","key":"users/alice/a","pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let res = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(&t)
        .body(big.clone())
        .send()
        .await
        .expect("req");
    assert_problem(res, 413, "payload_too_large").await;
    // Chunked, so no Content-Length announces it.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let res = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(&t)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("req");
    assert_problem(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_stores_and_paths_are_404_problems() {
    let app = TestApp::spawn().await;
    let t = token("svc", &["service"]);
    let (status, body) = app
        .post_json("/v1/uploads", &t, &json!({"store": "nope", "key": "a"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_store"))
    );
    // Same answer for a caller with no rights at all.
    let nobody = token("nobody", &[]);
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &nobody,
            &json!({"store": "nope", "key": "a"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_store"))
    );
    let res = app
        .http
        .get(app.url("/no/such/endpoint"))
        .send()
        .await
        .expect("req");
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn a_qiniu_put_is_unsupported() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let res = app
        .post(
            "/v1/uploads",
            &t,
            &json!({"store": "qn", "key": "users/alice/a.jpg", "method": "PUT"}),
        )
        .await;
    assert_problem(res, 422, "unsupported").await;
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/healthz")).send().await.expect("req");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json"),
        json!({"status": "ok"})
    );
    let res = app.http.get(app.url("/readyz")).send().await.expect("req");
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json"),
        json!({"status": "ready", "checks": {}})
    );

    let t = token("alice", &["user"]);
    app.post_json(
        "/v1/uploads",
        &t,
        &json!({"store": "wx", "key": "users/alice/m.jpg"}),
    )
    .await;
    app.http
        .get(app.url("/v1/stores/some-raw-path-123"))
        .send()
        .await
        .expect("req");
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"route="/v1/uploads""#),
        "labelled by route pattern"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(
        text.contains(r#"credentials_issued_total{provider="cos",kind="form"}"#),
        "{text}"
    );
    assert!(
        !text.contains("some-raw-path-123"),
        "raw paths never become labels"
    );

    let doc: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "OpenAPI 3.1"
    );
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/stores",
        "/v1/uploads",
        "/v1/uploads/confirm",
        "/v1/downloads",
        "/v1/multipart",
        "/v1/multipart/{upload_id}/parts",
        "/v1/multipart/{upload_id}/complete",
        "/v1/multipart/{upload_id}",
        "/companion/{store}/s3/params",
        "/companion/{store}/s3/multipart",
        "/companion/{store}/s3/multipart/{upload_id}/{part_number}",
        "/companion/{store}/s3/multipart/{upload_id}",
        "/companion/{store}/s3/multipart/{upload_id}/complete",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi documents {path}");
    }
}
