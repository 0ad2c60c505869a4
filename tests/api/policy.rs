//! Policies through the HTTP API: key rules, claims that never widen a rule, deny precedence, constraints.
use serde_json::json;

use crate::helpers::{assert_problem, token, token_with, TestApp};

#[tokio::test]
async fn invalid_keys_are_refused_with_invalid_key() {
    let app = TestApp::spawn().await;
    let t = token("svc", &["service"]);
    let long = "a".repeat(1025);
    let keys = [
        "users/alice/../bob/a.jpg",
        "users/./a.jpg",
        "..",
        "users//a.jpg",
        "users/alice/",
        "/users/alice/a.jpg",
        "users\\alice\\a.jpg",
        "users/alice/a\u{0}.jpg",
        "users/alice/a\n.jpg",
        "users/alice/a\u{7f}.jpg",
        "",
        long.as_str(),
    ];
    for key in keys {
        for path in [
            "/v1/uploads",
            "/v1/downloads",
            "/v1/uploads/confirm",
            "/v1/multipart",
        ] {
            let res = app
                .post(path, &t, &json!({"store": "media", "key": key}))
                .await;
            assert_problem(res, 400, "invalid_key").await;
        }
    }
}

#[tokio::test]
async fn callers_are_confined_to_their_own_prefix() {
    let app = TestApp::spawn().await;
    let alice = token("alice", &["user"]);
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "wx", "key": "users/alice/a.jpg"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for key in [
        "users/bob/a.jpg",
        "users/alicex/a.jpg",
        "users/a.jpg",
        "other/alice/a.jpg",
        "users/%2e%2e/bob/a.jpg",
    ] {
        let res = app
            .post("/v1/uploads", &alice, &json!({"store": "wx", "key": key}))
            .await;
        let problem = assert_problem(res, 403, "policy_denied").await;
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains(key),
            "detail names the key"
        );
    }
    // No role, no access.
    let nobody = token("alice", &[]);
    let res = app
        .post(
            "/v1/uploads",
            &nobody,
            &json!({"store": "wx", "key": "users/alice/a.jpg"}),
        )
        .await;
    assert_problem(res, 403, "policy_denied").await;
    // Roles as a single string work too.
    let single = token_with(json!({"sub": "alice", "roles": "user"}));
    let (status, _) = app
        .post_json(
            "/v1/uploads",
            &single,
            &json!({"store": "wx", "key": "users/alice/a.jpg"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unsafe_claim_values_never_match_outside_their_prefix() {
    let app = TestApp::spawn().await;
    let keys = [
        "users/bob/a.jpg",
        "users/x/a.jpg",
        "users/*/a.jpg",
        "users/a/b/a.jpg",
        "users/{sub}/a.jpg",
    ];
    for sub in ["../bob", "*", "**", "a/b", "..", ".", "{sub}"] {
        let t = token(sub, &["user"]);
        for key in keys {
            let res = app
                .post("/v1/uploads", &t, &json!({"store": "wx", "key": key}))
                .await;
            assert_problem(res, 403, "policy_denied").await;
        }
    }
    for tenant in [
        json!("../acme"),
        json!("*"),
        json!("a/b"),
        json!(".."),
        json!(""),
        json!(7),
        json!(["acme"]),
    ] {
        let t = token_with(json!({"sub": "admin", "roles": ["tenant-admin"], "tenant": tenant}));
        for key in ["tenants/acme/a.jpg", "tenants/x/a.jpg", "tenants/a/b/c.jpg"] {
            let res = app
                .post("/v1/uploads", &t, &json!({"store": "wx", "key": key}))
                .await;
            assert_problem(res, 403, "policy_denied").await;
        }
    }
    let ok = token_with(json!({"sub": "admin", "roles": ["tenant-admin"], "tenant": "acme"}));
    let (status, _) = app
        .post_json(
            "/v1/uploads",
            &ok,
            &json!({"store": "wx", "key": "tenants/acme/a.jpg"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_deny_rule_beats_every_allow() {
    let app = TestApp::spawn().await;
    let svc = token("svc", &["service"]);
    let alice = token("alice", &["user"]);
    for (t, key) in [
        (&svc, "shared/.private/x"),
        (&alice, "users/alice/.private/x"),
        (&svc, ".private/x"),
    ] {
        for path in ["/v1/uploads", "/v1/downloads", "/v1/multipart"] {
            let res = app
                .post(path, t, &json!({"store": "media", "key": key}))
                .await;
            let problem = assert_problem(res, 403, "policy_denied").await;
            assert!(problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("deny rule"));
        }
    }
}

#[tokio::test]
async fn constraints_give_413_and_415_and_are_baked_in() {
    let app = TestApp::spawn().await;
    let alice = token("alice", &["user"]);
    let too_big = json!({"store": "wx", "key": "strict/alice/a.png", "content_type": "image/png", "size": 2 << 20});
    let too_big = app.post("/v1/uploads", &alice, &too_big).await;
    assert_problem(too_big, 413, "payload_too_large").await;
    let wrong_type =
        json!({"store": "wx", "key": "strict/alice/a.txt", "content_type": "text/plain"});
    let wrong_type = app.post("/v1/uploads", &alice, &wrong_type).await;
    assert_problem(wrong_type, 415, "unsupported_media_type").await;
    let no_type = app
        .post(
            "/v1/uploads",
            &alice,
            &json!({"store": "wx", "key": "strict/alice/a.png"}),
        )
        .await;
    let problem = assert_problem(no_type, 415, "unsupported_media_type").await;
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("content_type is required"));
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "wx", "key": "strict/alice/a.png", "content_type": "image/png"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["max_size"], 1 << 20);
}

#[tokio::test]
async fn expiry_is_capped_never_refused() {
    let app = TestApp::spawn().await;
    let alice = token("alice", &["user"]);
    let now = chrono::Utc::now().timestamp();
    let expires = |body: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap_or_default())
            .map(|t| t.timestamp() - now)
    };
    // Rule max_expires is 15m; the store allows 7200.
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "media", "key": "users/alice/a", "expires_in": 86400}),
        )
        .await;
    assert_eq!(status, 200);
    let secs = expires(&body).expect("rfc3339");
    assert!(
        (899..=901).contains(&secs),
        "capped to the rule's 15m, got {secs}"
    );
    let (_, body) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "media", "key": "users/alice/a", "expires_in": 60}),
        )
        .await;
    assert!((59..=61).contains(&expires(&body).expect("rfc3339")));
    let (_, body) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "media", "key": "users/alice/a"}),
        )
        .await;
    assert!(
        (599..=601).contains(&expires(&body).expect("rfc3339")),
        "store default 600 s"
    );
}

#[tokio::test]
async fn key_templates_make_the_key_from_the_filename() {
    let app = TestApp::spawn().await;
    let alice = token("alice", &["user"]);
    let (status, body) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "wx", "filename": "../../Holiday Photo.JPG"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let key = body["key"].as_str().unwrap_or_default();
    let rest = key
        .strip_prefix("users/alice/")
        .expect("key under the caller's prefix");
    let uuid = rest.strip_suffix(".jpg").expect("lower-cased extension");
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{key}");
    assert_eq!(body["fields"]["key"], key);
    // A caller whose sub cannot form a key gets no key at all.
    let bad = token("../bob", &["user"]);
    let res = app
        .post(
            "/v1/uploads",
            &bad,
            &json!({"store": "wx", "filename": "a.jpg"}),
        )
        .await;
    assert_problem(res, 403, "policy_denied").await;
}
