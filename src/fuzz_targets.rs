//! One entry point per parser of untrusted input, shared by the cargo-fuzz targets in `fuzz/` and by the
//! corpus replay in `cargo test` (tests/api/fuzz_corpus.rs), so CI covers every corpus file without nightly.
//! Each function must never panic, whatever the bytes; where a parser accepts, it checks what acceptance
//! promises (a valid key has no `//`, a media type has no comma, ...), so a fuzzer finds wrong answers too.
#![doc(hidden)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::FutureExt as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::Authenticator;
use crate::config::{Config, DEV_CONFIG};

/// A target: its name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("jwt", jwt),
    ("jwt_claims", jwt_claims),
    ("policy_toml", policy_toml),
    ("qiniu_callback", qiniu_callback),
    ("s3_events", s3_events),
    ("sns", sns),
    ("s3_xml", s3_xml),
    ("content_type", content_type),
    ("key", key),
];

const DEV_SECRET: &[u8] = b"presign-broker-development-secret-do-not-use";

fn authenticator() -> &'static Authenticator {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    AUTH.get_or_init(|| {
        let config = Config::parse("fuzz.toml", DEV_CONFIG, None).expect("the dev config parses");
        Authenticator::new(&config.auth, None).expect("the dev keys load")
    })
}

/// No JWKS is configured, so verification never waits: one poll finishes it.
fn authenticate(header: &[u8]) {
    if let Some(Ok(claims)) = authenticator()
        .authenticate_uncached(Some(header))
        .now_or_never()
    {
        assert!(!claims.sub.is_empty(), "accepted a token without a subject");
    }
}

/// The whole `Authorization` header: scheme, JWT header, signature check.
pub fn jwt(data: &[u8]) {
    authenticate(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jsonwebtoken::decode_header(text);
    }
}

/// The claims of a correctly signed token (the bytes are the payload), so claim handling is reached.
pub fn jwt_claims(data: &[u8]) {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"dev"}"#);
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(data));
    let mut mac = Hmac::<Sha256>::new_from_slice(DEV_SECRET).expect("any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    authenticate(format!("Bearer {signing_input}.{signature}").as_bytes());
}

/// A policy file, then one decision with it.
pub fn policy_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = crate::policy::parse_file("fuzz.toml", text) else {
        return;
    };
    let set = crate::policy::PolicySet::new(rules);
    let claims = crate::policy::Claims::new("alice", vec!["user".into()], Default::default());
    for action in [
        crate::policy::Action::Upload,
        crate::policy::Action::Download,
        crate::policy::Action::Multipart,
    ] {
        let _ = set.evaluate(&crate::policy::Request {
            claims: &claims,
            store: "media",
            action,
            key: "users/alice/a.jpg",
            content_type: Some("image/jpeg"),
            size: Some(1 << 20),
        });
    }
}

/// A Qiniu callback: `path\nauthorization\nbody`, verified as received and again correctly signed; the
/// ticket parser and the form body too.
pub fn qiniu_callback(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let path = std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or("/");
    let authorization = std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let body = parts.next().unwrap_or_default();
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let keyed = crate::providers::qiniu::signing::hmac_sha1("MY_SECRET_KEY");
    let keys = [("MY_ACCESS_KEY", &keyed)];
    let request = |authorization| crate::providers::qiniu::CallbackRequest {
        method: "POST",
        path,
        query,
        host: "127.0.0.1:8080",
        content_type: Some("application/x-www-form-urlencoded"),
        headers: &[],
        body,
        authorization,
    };
    let _ =
        crate::providers::qiniu::callback::verify_callback_keyed(&keys, &request(authorization));
    // QBox signs "path[?query]\nbody": sign it so the check passes and the rest is reached.
    let mut signed = Vec::with_capacity(path.len() + body.len() + 2);
    signed.extend_from_slice(path.as_bytes());
    if let Some(q) = query {
        signed.push(b'?');
        signed.extend_from_slice(q.as_bytes());
    }
    signed.push(b'\n');
    signed.extend_from_slice(body);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"MY_SECRET_KEY").expect("any key length");
    mac.update(&signed);
    let good = format!(
        "QBox MY_ACCESS_KEY:{}",
        base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes())
    );
    let _ = crate::providers::qiniu::callback::verify_callback_keyed(&keys, &request(Some(&good)));
    let _ = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body);
    if let Some(ticket) = query.and_then(|q| q.strip_prefix("t=")) {
        let _ = crate::ticket::verify(b"secret", "qn", "k", "s", ticket, 0);
    }
}

/// MinIO / S3 event records and SeaweedFS filer events.
pub fn s3_events(data: &[u8]) {
    for parsed in [
        crate::callbacks::parse_webhook(data),
        crate::callbacks::parse_s3_event_records(data),
        crate::callbacks::s3_events::parse_seaweedfs_event(data),
    ] {
        for object in parsed.into_iter().flatten() {
            assert!(
                crate::policy::key::validate_key(&object.key).is_ok() || !object.key.is_empty(),
                "an event with an empty key"
            );
        }
    }
}

/// An SNS message: parsing, its type, the text it signs, the freshness check and the URL allow-list.
pub fn sns(data: &[u8]) {
    let Ok(msg) = crate::callbacks::SnsMessage::parse(data) else {
        return;
    };
    let _ = msg.kind();
    let _ = crate::callbacks::string_to_sign(&msg);
    let _ = crate::replay::sns_message_fresh(&msg.timestamp, chrono::Utc::now(), 604_800);
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex::Regex::new(crate::config::DEFAULT_SNS_CERT_URL_PATTERN).expect("default pattern")
    });
    let _ = crate::callbacks::allowed_cert_url(&msg.signing_cert_url, pattern);
    if let Some(url) = &msg.subscribe_url {
        let _ = crate::callbacks::allowed_subscribe_url(url, &msg.signing_cert_url, pattern);
    }
    let _ = crate::callbacks::parse_s3_event_records(msg.message.as_bytes());
}

/// The XML answers of S3-compatible stores (COS's multipart answers are the same documents).
pub fn s3_xml(data: &[u8]) {
    crate::providers::xml::parse_answers_for_fuzzing(data);
}

/// A client's `content_type`, and the policy's own patterns against it.
pub fn content_type(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(essence) = crate::media_type::parse(text) {
        assert!(
            essence.contains('/') && text.len() <= crate::media_type::MAX_LEN,
            "{text:?}"
        );
        assert!(
            !essence.contains([',', ' ', '"', '\r', '\n', '\t']),
            "accepted {text:?} with essence {essence:?}"
        );
        assert!(
            !text.bytes().any(|b| b.is_ascii_control() && b != b'\t'),
            "accepted a control character: {text:?}"
        );
    }
    let _ = crate::policy::model::ContentTypePattern::parse(text).map(|p| p.matches(text));
}

/// An object key, and the key template helpers that build keys from client file names.
pub fn key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if crate::policy::key::validate_key(text).is_ok() {
        assert!(
            !text.is_empty() && text.len() <= 1024,
            "accepted length {}",
            text.len()
        );
        assert!(
            !text.starts_with('/') && !text.contains("//") && !text.ends_with('/'),
            "{text:?}"
        );
        assert!(!text.split('/').any(|s| s == "." || s == ".."), "{text:?}");
        assert!(
            !text.contains('\\') && !text.chars().any(|c| c.is_control() && c <= '\u{7f}'),
            "{text:?}"
        );
    }
    let sanitized = crate::policy::key::sanitize_filename(text);
    assert!(!sanitized.contains('/'), "{sanitized:?}");
    let _ = crate::policy::key::extension(text);
    let _ = crate::policy::key::KeyTemplate::parse(text);
}
