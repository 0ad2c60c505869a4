//! Every way a bearer token can be wrong gets 401 `unauthenticated` with `WWW-Authenticate`.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use crate::helpers::{
    assert_problem, fixture, sign, token, token_with, AppOptions, LoopbackServer, TestApp,
    HS_SECRET,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn stores_with(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/v1/stores"));
    if let Some(a) = authorization {
        req = req.header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(a.as_bytes()).expect("header bytes"),
        );
    }
    req.send().await.expect("request")
}

async fn assert_rejected(app: &TestApp, authorization: Option<&str>, case: &str) {
    let res = stores_with(app, authorization).await;
    let www = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    assert_eq!(res.status().as_u16(), 401, "case {case}");
    assert_eq!(
        www.as_deref(),
        Some(r#"Bearer error="invalid_token""#),
        "case {case}"
    );
    assert_problem(res, 401, "unauthenticated").await;
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("keys/{name}"))).expect("fixture key")
}

#[tokio::test]
async fn a_valid_token_lists_the_stores() {
    let app = TestApp::spawn().await;
    let res = stores_with(&app, Some(&format!("Bearer {}", token("alice", &["user"])))).await;
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    let mut stores: Vec<(String, String)> = body["stores"]
        .as_array()
        .expect("stores array")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").into(),
                s["provider"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    stores.sort();
    assert_eq!(
        stores,
        [
            ("media".into(), "s3".into()),
            ("qn".into(), "qiniu".into()),
            ("wx".into(), "cos".into())
        ]
    );
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = TestApp::spawn_with(AppOptions {
        auth_settings: "issuer = \"https://auth.test\"\naudience = \"presign-broker\"".into(),
        ..Default::default()
    })
    .await;
    let good_claims = || json!({"sub": "alice", "roles": ["user"], "iss": "https://auth.test", "aud": "presign-broker"});
    let valid = token_with(good_claims());
    assert_eq!(
        stores_with(&app, Some(&format!("Bearer {valid}")))
            .await
            .status()
            .as_u16(),
        200,
        "control"
    );

    let hs = |claims: serde_json::Value| token_with(claims);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good_claims();
        c[k] = v;
        hs(c)
    };
    let rsa_public_as_secret = sign(
        Algorithm::HS256,
        Some("test"),
        &EncodingKey::from_secret(&pem("rsa-public.pem")),
        good_claims(),
    );
    let wrong_secret = sign(
        Algorithm::HS256,
        Some("test"),
        &EncodingKey::from_secret(b"another-secret-0123456789abcdef-xyz"),
        good_claims(),
    );
    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"sub":"alice","exp": now() + 600})).expect("json"));
        format!("{header}.{payload}.")
    };
    let tampered = {
        let mut parts: Vec<String> = valid.split('.').map(String::from).collect();
        let mut claims = good_claims();
        claims["sub"] = json!("bob");
        claims["exp"] = json!(now() + 3600);
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        parts.join(".")
    };
    let unknown_kid = sign(
        Algorithm::HS256,
        Some("nope"),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        good_claims(),
    );
    let no_exp = {
        let mut c = good_claims();
        c["exp"] = serde_json::Value::Null;
        hs(c)
    };
    let no_sub = {
        let mut c = good_claims();
        c.as_object_mut().expect("object").remove("sub");
        hs(c)
    };
    let without = |claim: &str| {
        let mut c = good_claims();
        c.as_object_mut().expect("object").remove(claim);
        hs(c)
    };
    let oversized = format!("Bearer {}", "a".repeat(9 * 1024));

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("Bearer with nothing", Some("Bearer".into())),
        ("Bearer and a space", Some("Bearer ".into())),
        ("Basic scheme", Some("Basic YWxpY2U6cHc=".into())),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "non-ASCII bytes",
            Some("Bearer \u{fc}.\u{fc}.\u{fc}".into()),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "HS256 with the RSA public key as secret",
            Some(format!("Bearer {rsa_public_as_secret}")),
        ),
        ("wrong secret", Some(format!("Bearer {wrong_secret}"))),
        (
            "expired beyond leeway",
            Some(format!("Bearer {}", with("exp", json!(now() - 120)))),
        ),
        (
            "nbf in the future",
            Some(format!("Bearer {}", with("nbf", json!(now() + 600)))),
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                with("iss", json!("https://evil.test"))
            )),
        ),
        (
            "wrong aud",
            Some(format!("Bearer {}", with("aud", json!("someone-else")))),
        ),
        ("missing exp", Some(format!("Bearer {no_exp}"))),
        ("missing sub", Some(format!("Bearer {no_sub}"))),
        // A token the same key signed for another purpose carries no `iss`/`aud` of ours (issue 10 #1).
        ("missing iss", Some(format!("Bearer {}", without("iss")))),
        ("missing aud", Some(format!("Bearer {}", without("aud")))),
        (
            "empty sub",
            Some(format!("Bearer {}", with("sub", json!("")))),
        ),
        (
            "sub not a string",
            Some(format!("Bearer {}", with("sub", json!(42)))),
        ),
        (
            "exp as a string",
            Some(format!(
                "Bearer {}",
                with("exp", json!((now() + 600).to_string()))
            )),
        ),
        (
            "nbf as a string",
            Some(format!(
                "Bearer {}",
                with("nbf", json!((now() + 600).to_string()))
            )),
        ),
        ("tampered payload", Some(format!("Bearer {tampered}"))),
        ("unknown kid", Some(format!("Bearer {unknown_kid}"))),
        ("header over 8 KiB", Some(oversized)),
    ];
    for (case, header) in &cases {
        assert_rejected(&app, header.as_deref(), case).await;
    }
}

#[tokio::test]
async fn leeway_admits_small_clock_skew_only() {
    let app = TestApp::spawn().await;
    let skewed = token_with(
        json!({"sub": "alice", "roles": ["user"], "exp": now() - 10, "nbf": now() + 10}),
    );
    assert_eq!(
        stores_with(&app, Some(&format!("Bearer {skewed}")))
            .await
            .status()
            .as_u16(),
        200
    );
    let scheme_case = format!("bearer {}", token("alice", &["user"]));
    assert_eq!(
        stores_with(&app, Some(&scheme_case))
            .await
            .status()
            .as_u16(),
        200,
        "scheme is case-insensitive"
    );
}

#[tokio::test]
async fn asymmetric_keys_verify_and_are_pinned_to_their_algorithm() {
    let extra = format!(
        "[[auth.keys]]\nkid = \"rsa\"\nalgorithm = \"RS256\"\npublic_key_file = \"{}\"\n\
         [[auth.keys]]\nkid = \"ec\"\nalgorithm = \"ES256\"\npublic_key_file = \"{}\"\n\
         [[auth.keys]]\nkid = \"ed\"\nalgorithm = \"EdDSA\"\npublic_key_file = \"{}\"\n",
        fixture("keys/rsa-public.pem").display(),
        fixture("keys/ec-public.pem").display(),
        fixture("keys/ed25519-public.pem").display()
    );
    let app = TestApp::spawn_with(AppOptions {
        extra,
        ..Default::default()
    })
    .await;
    let claims = json!({"sub": "svc", "roles": ["service"]});
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa-private.pem")).expect("rsa");
    let ec = EncodingKey::from_ec_pem(&pem("ec-private.pem")).expect("ec");
    let ed = EncodingKey::from_ed_pem(&pem("ed25519-private.pem")).expect("ed");
    let accepted = [
        (
            "RS256",
            sign(Algorithm::RS256, Some("rsa"), &rsa, claims.clone()),
        ),
        (
            "ES256",
            sign(Algorithm::ES256, Some("ec"), &ec, claims.clone()),
        ),
        (
            "EdDSA",
            sign(Algorithm::EdDSA, Some("ed"), &ed, claims.clone()),
        ),
        (
            "RS256 without kid",
            sign(Algorithm::RS256, None, &rsa, claims.clone()),
        ),
    ];
    for (case, t) in &accepted {
        assert_eq!(
            stores_with(&app, Some(&format!("Bearer {t}")))
                .await
                .status()
                .as_u16(),
            200,
            "{case}"
        );
    }
    let refused = [
        (
            "RS512 with the RS256 key",
            sign(Algorithm::RS512, Some("rsa"), &rsa, claims.clone()),
        ),
        (
            "PS256 with the RS256 key",
            sign(Algorithm::PS256, Some("rsa"), &rsa, claims.clone()),
        ),
        (
            "RS256 under the EC kid",
            sign(Algorithm::RS256, Some("ec"), &rsa, claims.clone()),
        ),
        (
            "HS256 with the RSA public key under the rsa kid",
            sign(
                Algorithm::HS256,
                Some("rsa"),
                &EncodingKey::from_secret(&pem("rsa-public.pem")),
                claims.clone(),
            ),
        ),
    ];
    for (case, t) in &refused {
        assert_rejected(&app, Some(&format!("Bearer {t}")), case).await;
    }
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("jwk");
    jwk.common.key_id = Some(kid.into());
    jwk
}

#[tokio::test]
async fn jwks_keys_load_rotate_once_per_unknown_kid_and_never_hammer_the_idp() {
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa-private.pem")).expect("rsa");
    let ec = EncodingKey::from_ec_pem(&pem("ec-private.pem")).expect("ec");
    let set = |keys: Vec<Jwk>| serde_json::to_string(&JwkSet { keys }).expect("jwks json");
    let server = LoopbackServer::start(&set(vec![jwk(&rsa, Algorithm::RS256, "k1")])).await;
    let jwks_url = format!("{}/.well-known/jwks.json", server.base);
    let app = TestApp::spawn_with(AppOptions {
        extra: format!("[auth.jwks]\nurl = \"{jwks_url}\"\n"),
        ..Default::default()
    })
    .await;
    // Ready once the first fetch is in.
    let mut ready = false;
    for _ in 0..50 {
        if app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok()
            == Some(200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "readyz turns 200 once the JWKS is loaded");
    let claims = json!({"sub": "alice", "roles": ["user"]});
    let t1 = sign(Algorithm::RS256, Some("k1"), &rsa, claims.clone());
    assert_eq!(
        stores_with(&app, Some(&format!("Bearer {t1}")))
            .await
            .status()
            .as_u16(),
        200
    );
    let fetches_after_load = server.hits().len();

    // The IdP rotates in k2: the first token naming it triggers exactly one refetch.
    server.set_body(&set(vec![
        jwk(&rsa, Algorithm::RS256, "k1"),
        jwk(&ec, Algorithm::ES256, "k2"),
    ]));
    let t2 = sign(Algorithm::ES256, Some("k2"), &ec, claims.clone());
    assert_eq!(
        stores_with(&app, Some(&format!("Bearer {t2}")))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(server.hits().len(), fetches_after_load + 1);

    // Unknown kids right after: refused, and no further fetch for 30 s (20 concurrent attempts).
    let bogus = sign(Algorithm::RS256, Some("bogus"), &rsa, claims.clone());
    let bogus = format!("Bearer {bogus}");
    let attempts = (0..20)
        .map(|_| stores_with(&app, Some(&bogus)))
        .collect::<Vec<_>>();
    for res in futures_util::future::join_all(attempts).await {
        assert_problem(res, 401, "unauthenticated").await;
    }
    assert_eq!(
        server.hits().len(),
        fetches_after_load + 1,
        "rate-limited refetch"
    );

    // A symmetric key served in a JWKS is never trusted.
    let mut oct = Jwk::from_encoding_key(
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("oct");
    oct.common.key_id = Some("oct".into());
    server.set_body(&set(vec![oct]));
    app.state
        .jwks
        .as_ref()
        .expect("jwks")
        .fetch()
        .await
        .expect_err("a set of only symmetric keys is not usable");
    assert_eq!(
        stores_with(&app, Some(&format!("Bearer {t1}")))
            .await
            .status()
            .as_u16(),
        200,
        "last good set kept"
    );
}
