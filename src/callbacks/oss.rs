//! Aliyun OSS upload callbacks (docs/API.md, "Provider callbacks"; docs/PROVIDERS.md, Aliyun OSS).
//!
//! OSS POSTs the callback with `authorization` = base64 RSA PKCS#1 v1.5 signature over MD5 of
//! `urldecode(path) + ("?" + query, as received, when there is one) + "\n" + raw body`, and `x-oss-pub-key-url` =
//! base64 of the URL of the public key (PEM `PUBLIC KEY`). The key URL is fetched only when it matches the
//! store's `oss_pub_key_url_pattern` (default [`DEFAULT_PUB_KEY_URL_PATTERN`]), and cached by URL.
//!
//! Flow for the handler: [`pub_key_url`] (decode + allow-list), [`PubKeyCache::get`], [`verify_with_key`] over the
//! raw path, raw query and raw body, then [`CallbackBody::parse`] and the ticket check, then answer
//! [`CallbackBody::answer_json`]. The signature covers neither a time nor a nonce: the ticket in the callback
//! URL's query (signed) and the idempotency key are what stop replays.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use regex::Regex;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use url::Url;

use super::key_cache::{FetchFailure, KeyCache};
use super::sns::allowed_cert_url;

/// Where OSS publishes its callback keys (`http://` and `https://` both occur in real callbacks).
pub const DEFAULT_PUB_KEY_URL_PATTERN: &str = r"^https?://gosspublic\.alicdn\.com/";
/// OSS's published callback key is 512-bit RSA: anything shorter is refused, that one must be accepted.
const MIN_RSA_BITS: usize = 512;
/// Keys kept by [`PubKeyCache::default`] (OSS has used one URL for years).
const DEFAULT_CAPACITY: usize = 16;
/// How long [`PubKeyCache::default`] trusts a fetched key.
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// A PEM public key is a few hundred bytes.
const MAX_KEY_BYTES: usize = 16 * 1024;
/// Longest base64 `authorization` accepted (a 4096-bit signature is 684 characters).
const MAX_SIGNATURE_CHARS: usize = 1024;

/// Why an OSS callback was rejected. Carries no secret and no attacker-chosen text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OssCallbackError {
    /// `authorization` or `x-oss-pub-key-url` is absent.
    #[error("OSS callback lacks the {0} header")]
    MissingHeader(&'static str),
    /// A header or the body is not in the expected encoding.
    #[error("malformed OSS callback: {0}")]
    Malformed(&'static str),
    /// The public key URL does not match the store's pattern (or the fetch was redirected elsewhere).
    #[error("x-oss-pub-key-url not allowed")]
    KeyUrlNotAllowed,
    /// The key could not be fetched.
    #[error("fetching the OSS callback key failed: {0}")]
    KeyFetch(String),
    /// The fetched document is not an acceptable RSA public key.
    #[error("bad OSS callback key: {0}")]
    BadKey(String),
    /// The RSA-MD5 signature does not match.
    #[error("OSS callback signature does not verify")]
    SignatureMismatch,
}

/// An OSS callback public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssPublicKey(RsaPublicKey);

impl OssPublicKey {
    /// Parses a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), what OSS serves.
    pub fn from_pem(pem: &[u8]) -> Result<Self, OssCallbackError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| OssCallbackError::BadKey("not a PEM text".into()))?;
        let key = RsaPublicKey::from_public_key_pem(text.trim())
            .map_err(|e| OssCallbackError::BadKey(e.to_string()))?;
        if key.size() * 8 < MIN_RSA_BITS {
            return Err(OssCallbackError::BadKey(
                "RSA key shorter than 512 bits".into(),
            ));
        }
        Ok(Self(key))
    }
}

/// The signed parts of one callback request, as received.
#[derive(Debug, Clone, Copy)]
pub struct CallbackRequest<'a> {
    /// The request path as on the wire (percent-encoded), without the query.
    pub raw_path: &'a str,
    /// The raw query without `?` (empty when there is none), never decoded.
    pub query: &'a str,
    /// The raw body bytes.
    pub body: &'a [u8],
    /// The `authorization` header: base64 of the signature.
    pub authorization: &'a str,
}

/// `urldecode(raw_path) + ("?" + query if any) + "\n" + body`: what OSS signs. The path's `%XX` are decoded
/// (`+` is left alone); the query is used exactly as received.
pub fn string_to_sign(raw_path: &str, query: &str, body: &[u8]) -> Vec<u8> {
    let path: Vec<u8> = percent_decode_str(raw_path).collect();
    let mut out = Vec::with_capacity(path.len() + query.len() + body.len() + 2);
    out.extend_from_slice(&path);
    if !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// Decodes the base64 `x-oss-pub-key-url` header and returns the URL to fetch when `pattern` allows it: an
/// absolute http(s) URL without userinfo, query or fragment whose normalized form `pattern` matches from its start
/// through at least its host (the same rules as SNS certificate URLs).
pub fn pub_key_url(header: &str, pattern: &Regex) -> Result<Url, OssCallbackError> {
    let raw = STANDARD
        .decode(header.trim())
        .map_err(|_| OssCallbackError::Malformed("x-oss-pub-key-url is not base64"))?;
    let raw = String::from_utf8(raw)
        .map_err(|_| OssCallbackError::Malformed("x-oss-pub-key-url is not UTF-8"))?;
    allowed_cert_url(&raw, pattern).ok_or(OssCallbackError::KeyUrlNotAllowed)
}

/// Verifies the RSA-MD5 signature of `req` with `key`.
pub fn verify_with_key(
    key: &OssPublicKey,
    req: &CallbackRequest<'_>,
) -> Result<(), OssCallbackError> {
    verify_string(
        key,
        req.authorization,
        &string_to_sign(req.raw_path, req.query, req.body),
    )
}

/// Verifies base64 `authorization` over an already built string to sign.
fn verify_string(
    key: &OssPublicKey,
    authorization: &str,
    string_to_sign: &[u8],
) -> Result<(), OssCallbackError> {
    let authorization = authorization.trim();
    if authorization.is_empty() {
        return Err(OssCallbackError::MissingHeader("authorization"));
    }
    if authorization.len() > MAX_SIGNATURE_CHARS {
        return Err(OssCallbackError::Malformed("authorization too long"));
    }
    let signature = STANDARD
        .decode(authorization)
        .map_err(|_| OssCallbackError::Malformed("authorization is not base64"))?;
    let digest = Md5::digest(string_to_sign);
    key.0
        .verify(Pkcs1v15Sign::new::<Md5>(), &digest, &signature)
        .map_err(|_| OssCallbackError::SignatureMismatch)
}

#[cfg(test)]
pub(crate) fn verify_string_for_tests(
    key: &OssPublicKey,
    authorization: &str,
    string_to_sign: &[u8],
) -> Result<(), OssCallbackError> {
    verify_string(key, authorization, string_to_sign)
}

/// The fields of the broker's form callback body (`bucket=…&key=…&etag=…&size=…&mimeType=…&sub=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackBody {
    pub bucket: String,
    pub key: String,
    /// As OSS sends it (upper-case hex, no quotes; `…-N` for multipart).
    pub etag: String,
    pub size: u64,
    pub mime_type: Option<String>,
    /// The subject the credential was issued to (bound by the ticket).
    pub subject: String,
}

impl CallbackBody {
    /// Parses the form body; every field must appear exactly once (`mimeType` may be empty).
    pub fn parse(body: &[u8]) -> Result<Self, OssCallbackError> {
        let mut fields: HashMap<String, String> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if !matches!(
                name.as_ref(),
                "bucket" | "key" | "etag" | "size" | "mimeType" | "sub"
            ) {
                continue;
            }
            if fields
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OssCallbackError::Malformed("duplicated callback field"));
            }
        }
        let mut take = |name: &'static str| {
            fields
                .remove(name)
                .ok_or(OssCallbackError::Malformed("callback body lacks a field"))
        };
        let bucket = take("bucket")?;
        let key = take("key")?;
        let etag = take("etag")?.trim_matches('"').to_owned();
        let size = take("size")?
            .parse::<u64>()
            .map_err(|_| OssCallbackError::Malformed("callback size is not a number"))?;
        let mime_type = Some(take("mimeType")?).filter(|m| !m.is_empty());
        let subject = take("sub")?;
        if bucket.is_empty() || key.is_empty() || etag.is_empty() {
            return Err(OssCallbackError::Malformed("empty callback field"));
        }
        Ok(Self {
            bucket,
            key,
            etag,
            size,
            mime_type,
            subject,
        })
    }

    /// The JSON OSS relays to the uploader: `{"key","etag","size","bucket"}`.
    pub fn answer_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "etag": self.etag,
            "size": self.size,
            "bucket": self.bucket,
        })
    }
}

impl From<FetchFailure> for OssCallbackError {
    fn from(failure: FetchFailure) -> Self {
        match failure {
            FetchFailure::NotAllowed => OssCallbackError::KeyUrlNotAllowed,
            FetchFailure::Fetch(m) => OssCallbackError::KeyFetch(m),
            FetchFailure::TooLarge => OssCallbackError::KeyFetch("key too large".into()),
        }
    }
}

/// Bounded cache of callback keys by normalized URL (see [`KeyCache`]; give it a client that does not follow
/// redirects). Failures are never cached.
#[derive(Debug)]
pub struct PubKeyCache(KeyCache<OssPublicKey>);

impl Default for PubKeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl PubKeyCache {
    /// A cache of at most `capacity` keys (at least 1), each trusted for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self(KeyCache::new(capacity, ttl))
    }

    /// The key at `url` (from [`pub_key_url`]): from the cache when fresh, else fetched with `http`. The URL is
    /// re-checked against `pattern`, so a caller cannot skip the allow-list by building the Url itself.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        url: &Url,
        pattern: &Regex,
    ) -> Result<Arc<OssPublicKey>, OssCallbackError> {
        self.0
            .get(
                http,
                url.as_str(),
                pattern,
                MAX_KEY_BYTES,
                OssPublicKey::from_pem,
            )
            .await
    }
}

#[cfg(test)]
#[path = "oss/tests.rs"]
mod tests;
