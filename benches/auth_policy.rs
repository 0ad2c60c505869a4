//! JWT verification per algorithm family, policy evaluation at 10 and 1,000 rules, and key validation.
//! `cargo bench --bench auth_policy`; docs/PERFORMANCE.md has the figures.
//!
//! JWT floors: the signature check alone, with the key already parsed (a verifier built once by the same
//! crypto provider `jsonwebtoken` uses, called with the token's signing input and its decoded signature):
//! HS256 = one keyed HMAC-SHA256 over `header.payload`; RS256 = SHA-256 + an RSA-2048 public-key operation;
//! ES256 = SHA-256 + a P-256 ECDSA verification; EdDSA = an Ed25519 verification (SHA-512 inside). Everything
//! else (base64, JSON, claim checks) is overhead. Only HS256 is cheap enough for that overhead to matter.
//! `verify` is full verification (a token's first request); `verify_cached` is the same token again, which the
//! authenticator serves from its cache of verified tokens after checking exp/nbf against the clock: below the
//! floor by design, since the signature is not checked again.
use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::json;

use presign_broker::auth::Authenticator;
use presign_broker::config::Config;
use presign_broker::policy::key::validate_key;
use presign_broker::policy::{parse_file, Action, Claims, Decision, PolicySet, Request};

const HS_SECRET: &str = "presign-broker-bench-secret-0123456789abcdef";
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "presign-broker";

fn keys_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(keys_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A config with one key per family, each with its own kid, issuer and audience checked.
fn authenticator() -> Authenticator {
    let dir = keys_dir().display().to_string();
    let text = format!(
        r#"
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
roles_claim = "roles"

[[auth.keys]]
kid = "hs"
algorithm = "HS256"
secret = "{HS_SECRET}"

[[auth.keys]]
kid = "rs"
algorithm = "RS256"
public_key_file = "{dir}/rsa-public.pem"

[[auth.keys]]
kid = "es"
algorithm = "ES256"
public_key_file = "{dir}/ec-public.pem"

[[auth.keys]]
kid = "ed"
algorithm = "EdDSA"
public_key_file = "{dir}/ed25519-public.pem"
"#
    );
    let config = Config::parse("bench.toml", &text, None).unwrap_or_else(|e| panic!("{e}"));
    Authenticator::new(&config.auth, None).expect("authenticator")
}

fn token(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "alice",
        "roles": ["user"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 24 * 3600,
        "tenant": "acme",
    });
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, key).expect("token")
}

/// Polls a future that never waits (static keys only: no JWKS fetch) to completion.
fn now_or_never<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("authenticate waited on something"),
    }
}

fn jwt(c: &mut Criterion) {
    let auth = authenticator();
    let cases = [
        (
            "HS256",
            Algorithm::HS256,
            "hs",
            EncodingKey::from_secret(HS_SECRET.as_bytes()),
            DecodingKey::from_secret(HS_SECRET.as_bytes()),
        ),
        (
            "RS256",
            Algorithm::RS256,
            "rs",
            EncodingKey::from_rsa_pem(read("rsa-private.pem").as_bytes()).expect("rsa"),
            DecodingKey::from_rsa_pem(read("rsa-public.pem").as_bytes()).expect("rsa"),
        ),
        (
            "ES256",
            Algorithm::ES256,
            "es",
            EncodingKey::from_ec_pem(read("ec-private.pem").as_bytes()).expect("ec"),
            DecodingKey::from_ec_pem(read("ec-public.pem").as_bytes()).expect("ec"),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            "ed",
            EncodingKey::from_ed_pem(read("ed25519-private.pem").as_bytes()).expect("ed"),
            DecodingKey::from_ed_pem(read("ed25519-public.pem").as_bytes()).expect("ed"),
        ),
    ];
    for (name, alg, kid, encoding, decoding) in cases {
        let token = token(alg, kid, &encoding);
        let header = format!("Bearer {token}");
        let claims = now_or_never(auth.authenticate(Some(header.as_bytes())))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(claims.sub, "alice");
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64 signature");
        let verifier =
            (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, &decoding)
                .expect("verifier");
        assert!(verifier.verify(message.as_bytes(), &signature).is_ok());

        let mut group = c.benchmark_group(format!("jwt_{name}"));
        // Full verification: a token's first request (and every request before the cache of verified tokens).
        group.bench_function("verify", |b| {
            b.iter(|| now_or_never(auth.authenticate_uncached(Some(black_box(header.as_bytes())))))
        });
        // The same token again: served from the cache, only exp/nbf checked against the clock.
        group.bench_function("verify_cached", |b| {
            b.iter(|| now_or_never(auth.authenticate(Some(black_box(header.as_bytes())))))
        });
        group.bench_function("floor", |b| {
            b.iter(|| verifier.verify(black_box(message.as_bytes()), black_box(&signature)))
        });
        group.finish();
    }
}

/// The bundled policies (users, services, a global deny) plus `total - 5` other rules: other roles, other
/// stores, other first path segments, claims and wildcards, the way a multi-tenant deployment grows.
fn policy_set(total: usize) -> PolicySet {
    let mut rules = Vec::new();
    for (name, text) in [
        ("app-users.toml", include_str!("../policies/app-users.toml")),
        ("backend.toml", include_str!("../policies/backend.toml")),
        ("deny.toml", include_str!("../policies/deny.toml")),
    ] {
        rules.extend(parse_file(name, text).unwrap_or_else(|e| panic!("{e}")));
    }
    let mut filler = String::new();
    for i in 0..total.saturating_sub(rules.len()) {
        let role = ["user", "service", "admin", "editor"][i % 4];
        let store = ["\"wx\"", "\"qn\"", "\"media\"", "\"*\""][(i / 4) % 4];
        let action = ["\"upload\"", "\"download\"", "\"multipart\"", "\"*\""][(i / 16) % 4];
        let path = match i % 5 {
            0 => format!("tenants/t{i}/{{sub}}/**"),
            1 => format!("apps/a{i}/*/uploads/*.jpg"),
            2 => format!("t{i}/{{claims.tenant}}/**"),
            3 => format!("users/{{sub}}/p{i}/**"),
            _ => format!("shared-{i}/**"),
        };
        filler.push_str(&format!(
            "[[rule]]\nroles = [\"{role}\"]\nstores = [{store}]\nactions = [{action}]\npaths = [\"{path}\"]\nmax_size = \"1GiB\"\n\n"
        ));
    }
    rules.extend(parse_file("generated.toml", &filler).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(rules.len(), total.max(5));
    PolicySet::new(rules)
}

fn policy(c: &mut Criterion) {
    let extra = json!({"tenant": "acme"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let alice = Claims::new("alice", vec!["user".into()], extra);
    let upload = Request {
        claims: &alice,
        store: "wx",
        action: Action::Upload,
        key: "users/alice/photos/2026/cat.jpg",
        content_type: Some("image/jpeg"),
        size: Some(123_456),
    };
    let part = Request {
        store: "media",
        action: Action::Multipart,
        key: "users/alice/videos/big.mp4",
        content_type: None,
        size: None,
        ..upload
    };
    let denied = Request {
        key: "users/bob/cat.jpg",
        ..upload
    };
    for total in [10, 1_000] {
        let set = policy_set(total);
        assert!(matches!(set.evaluate(&upload), Decision::Allow(r) if r.id.index == 0));
        assert!(matches!(set.evaluate_scope(&part), Decision::Allow(r) if r.id.index == 2));
        assert!(matches!(set.evaluate(&denied), Decision::Deny(_)));
        let mut group = c.benchmark_group(format!("policy_{total}_rules"));
        group.bench_function("allow_upload", |b| {
            b.iter(|| set.evaluate(black_box(&upload)).rule().map(|r| r.id.index))
        });
        group.bench_function("scope_multipart", |b| {
            b.iter(|| {
                set.evaluate_scope(black_box(&part))
                    .rule()
                    .map(|r| r.id.index)
            })
        });
        group.bench_function("deny_other_user", |b| {
            b.iter(|| set.evaluate(black_box(&denied)).rule().map(|r| r.id.index))
        });
        group.finish();
    }
}

fn keys(c: &mut Criterion) {
    let typical = "users/alice/photos/2026/cat.jpg";
    let longest = "dir/".repeat(255) + "file";
    assert!(validate_key(typical).is_ok() && validate_key(&longest).is_ok());
    let mut group = c.benchmark_group("validate_key");
    group.bench_function("typical_31B", |b| {
        b.iter(|| validate_key(black_box(typical)))
    });
    group.bench_function("longest_1024B", |b| {
        b.iter(|| validate_key(black_box(&longest)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = jwt, policy, keys
}
criterion_main!(benches);
