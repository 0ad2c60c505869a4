//! OSS Signature V4 (`OSS4-HMAC-SHA256`): presigned query URLs and header-signed requests (pure: time is passed in).
//!
//! The algorithm is AWS SigV4 with OSS's constants and three differences that matter (docs/PROVIDERS.md, Aliyun
//! OSS): the canonical URI is `/<bucket>/<key>` whatever host the request goes to, the payload hash is always
//! `UNSIGNED-PAYLOAD`, and the signed headers are not listed: every `x-oss-*`, `content-type` and `content-md5`
//! header present is signed, anything else only when named in `AdditionalHeaders` /
//! `x-oss-additional-headers`. A query parameter without a value is signed as its bare name.
//!
//! Every function returns its intermediate strings so tests compare them byte for byte with the vectors.
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::providers::common as text;
use crate::providers::s3::sigv4::{derive_key, uri_encode, KeyChain, MAX_EXPIRES_SECONDS};
pub use crate::providers::s3::sigv4::{Credentials, SigningTime, UNSIGNED_PAYLOAD};

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name, in `x-oss-signature-version`, the string to sign and `Authorization`.
pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The product of the credential scope.
pub const PRODUCT: &str = "oss";
/// Longest `x-oss-expires` OSS accepts (7 days).
pub const MAX_EXPIRES: i64 = MAX_EXPIRES_SECONDS;

/// OSS V4's key-chain constants (the chain itself is SigV4's).
pub const ALIYUN_V4: KeyChain = KeyChain {
    prefix: "aliyun_v4",
    terminator: "aliyun_v4_request",
};

/// SigningKey = HMAC chain over (`"aliyun_v4"` + secret, `yyyymmdd`, region, `"oss"`, `"aliyun_v4_request"`).
pub fn derive_signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    derive_key(ALIYUN_V4, secret, date, region, PRODUCT)
}

/// Whether OSS signs header `lower` without being told: `x-oss-*`, `content-type`, `content-md5`.
pub fn is_default_signed(lower: &str) -> bool {
    lower.starts_with("x-oss-") || lower == "content-type" || lower == "content-md5"
}

/// `/<bucket>/<key>` UriEncoded with `/` kept (`/<bucket>/` for bucket operations, `/` without a bucket).
pub fn canonical_uri(bucket: &str, key: &str) -> String {
    let mut raw = String::with_capacity(bucket.len() + key.len() + 2);
    raw.push('/');
    if !bucket.is_empty() {
        raw.push_str(bucket);
        raw.push('/');
    }
    raw.push_str(key);
    uri_encode(&raw, false)
}

/// `name=value` of UriEncoded pairs, or the bare name when the value is empty (what OSS signs and accepts).
fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    if !value.is_empty() {
        out.push('=');
        out.push_str(value);
    }
}

/// Encoded pairs sorted by (name, value), bare names for empty values, `&`-joined.
fn canonical_query(mut encoded: Vec<(String, String)>) -> String {
    encoded.sort();
    let mut out = String::with_capacity(encoded.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_pair(&mut out, k, v);
    }
    out
}

/// The sorted, deduplicated lowercase names of `additional` that are present in `headers` with a non-empty value
/// and not signed by default anyway (the SDK's rule; the server recomputes the same list).
fn effective_additional(headers: &[(&str, &str)], additional: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = additional
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .filter(|n| !is_default_signed(n))
        .filter(|n| {
            headers
                .iter()
                .any(|(h, v)| h.eq_ignore_ascii_case(n) && !v.trim().is_empty())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `name:value\n` for every signed header, names lowercased, values trimmed (HTTP drops surrounding whitespace
/// on the wire, so the server only ever sees trimmed values; ali-oss trims too), sorted by name.
fn canonical_headers(headers: &[(&str, &str)], additional: &[String]) -> String {
    let mut lines: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
        .filter(|(n, _)| is_default_signed(n) || additional.iter().any(|a| a == n))
        .collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(lines.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (n, v) in lines {
        out.push_str(&n);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out
}

/// One request to sign (either way).
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// Bucket of the canonical URI, whatever the host.
    pub bucket: &'a str,
    /// Raw object key (`""` for bucket operations).
    pub key: &'a str,
    /// Raw operation parameters (`partNumber`, `uploadId`, `uploads` with an empty value, ...); all signed.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header the request will carry (any case); those OSS signs by default are signed, plus
    /// `additional_headers`. Header mode: must include `x-oss-date` and `x-oss-content-sha256`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Extra headers to sign (e.g. `content-length`, to pin a body size); the client must send them.
    pub additional_headers: &'a [&'a str],
    /// Unix seconds of signing.
    pub now: i64,
}

/// A presigned request: its query string and the strings it was derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// `OSS4-HMAC-SHA256\n<datetime>\n<scope>\n<hash>`.
    pub string_to_sign: String,
    /// Hex signature (`x-oss-signature`).
    pub signature: String,
    /// The URL's query without `?`: operation parameters in the given order, the `x-oss-*` ones, then
    /// `x-oss-signature` (the SDK's order).
    pub query: String,
}

/// The `Authorization` header of a header-signed request and the strings it was derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSigned {
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// `OSS4-HMAC-SHA256\n<datetime>\n<scope>\n<hash>`.
    pub string_to_sign: String,
    /// Hex signature.
    pub signature: String,
    /// `OSS4-HMAC-SHA256 Credential=<AK>/<scope>[,AdditionalHeaders=<names>],Signature=<hex>`.
    pub authorization: String,
}

/// The per-day values: date, scope, credential and the HMAC state keyed with the derived signing key.
struct DayKey {
    date: String,
    scope: String,
    credential: String,
    keyed: HmacSha256,
}

/// Signs requests for one (credentials, region), caching the signing key of the current day.
pub struct Signer {
    credentials: Credentials,
    region: String,
    /// One entry, replaced once a day; lock-free reads. A racing first use of a new day derives twice, harmlessly.
    day: ArcSwapOption<DayKey>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `region` (the short id, `cn-hangzhou`).
    pub fn new(credentials: Credentials, region: &str) -> Signer {
        Signer {
            credentials,
            region: region.to_owned(),
            day: ArcSwapOption::empty(),
        }
    }

    /// The credentials this signer uses.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The region of the credential scope.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// `yyyymmdd/<region>/oss/aliyun_v4_request`.
    pub fn scope(&self, date: &str) -> String {
        format!("{date}/{}/{PRODUCT}/aliyun_v4_request", self.region)
    }

    fn day_key(&self, date: &str) -> Arc<DayKey> {
        if let Some(day) = self.day.load().as_ref().filter(|d| d.date == date) {
            return Arc::clone(day);
        }
        let key = derive_signing_key(self.credentials.secret_key.expose(), date, &self.region);
        let scope = self.scope(date);
        let day = Arc::new(DayKey {
            date: date.to_owned(),
            credential: format!("{}/{scope}", self.credentials.access_key),
            scope,
            keyed: HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable!()),
        });
        self.day.store(Some(Arc::clone(&day)));
        day
    }

    /// `<AK>/yyyymmdd/<region>/oss/aliyun_v4_request` (`x-oss-credential`).
    pub fn credential(&self, date: &str) -> String {
        self.day_key(date).credential.clone()
    }

    /// Hex HMAC-SHA256 of `string_to_sign` with the signing key of `date` (also signs POST policies).
    pub fn sign(&self, date: &str, string_to_sign: &str) -> String {
        let mut mac = self.day_key(date).keyed.clone();
        mac.update(string_to_sign.as_bytes());
        text::hex_string(&mac.finalize().into_bytes())
    }

    /// (string to sign, signature) of a canonical request.
    fn finish(&self, time: &SigningTime, canonical_request: &str) -> (String, String) {
        let day = self.day_key(&time.date);
        let hash = text::hex_string(&Sha256::digest(canonical_request.as_bytes()));
        let string_to_sign = format!("{ALGORITHM}\n{}\n{}\n{hash}", time.datetime, day.scope);
        let signature = self.sign(&time.date, &string_to_sign);
        (string_to_sign, signature)
    }

    /// Presigns in query mode, valid `expires` seconds (clamped to 1..=604800). The security token, when the
    /// credentials have one, becomes the signed `x-oss-security-token` parameter.
    pub fn presign(&self, req: &Request<'_>, expires: i64) -> Presigned {
        let time = SigningTime::from_unix(req.now);
        let credential = self.credential(&time.date);
        let additional = effective_additional(req.headers, req.additional_headers);
        let mut pairs: Vec<(String, String)> = req
            .query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        let mut auth = vec![
            ("x-oss-signature-version".to_owned(), ALGORITHM.to_owned()),
            ("x-oss-date".to_owned(), time.datetime.clone()),
            (
                "x-oss-expires".to_owned(),
                expires.clamp(1, MAX_EXPIRES).to_string(),
            ),
            ("x-oss-credential".to_owned(), uri_encode(&credential, true)),
        ];
        if let Some(token) = &self.credentials.session_token {
            auth.push(("x-oss-security-token".to_owned(), uri_encode(token, true)));
        }
        if !additional.is_empty() {
            auth.push((
                "x-oss-additional-headers".to_owned(),
                uri_encode(&additional.join(";"), true),
            ));
        }
        pairs.extend(auth);
        let mut query = String::with_capacity(512);
        for (k, v) in &pairs {
            push_pair(&mut query, k, v);
            query.push('&');
        }
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{UNSIGNED_PAYLOAD}",
            req.method,
            canonical_uri(req.bucket, req.key),
            canonical_query(pairs),
            canonical_headers(req.headers, &additional),
            additional.join(";"),
        );
        let (string_to_sign, signature) = self.finish(&time, &canonical_request);
        query.push_str("x-oss-signature=");
        query.push_str(&signature);
        Presigned {
            canonical_request,
            string_to_sign,
            signature,
            query,
        }
    }

    /// Signs in header mode over `req.headers` (which must carry `x-oss-date` of `req.now`,
    /// `x-oss-content-sha256: UNSIGNED-PAYLOAD` and, with STS credentials, `x-oss-security-token`; see
    /// [`auth_headers`]).
    pub fn sign_headers(&self, req: &Request<'_>) -> HeaderSigned {
        let time = SigningTime::from_unix(req.now);
        let additional = effective_additional(req.headers, req.additional_headers);
        let pairs = req
            .query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{UNSIGNED_PAYLOAD}",
            req.method,
            canonical_uri(req.bucket, req.key),
            canonical_query(pairs),
            canonical_headers(req.headers, &additional),
            additional.join(";"),
        );
        let (string_to_sign, signature) = self.finish(&time, &canonical_request);
        let mut authorization = format!("{ALGORITHM} Credential={}", self.credential(&time.date));
        if !additional.is_empty() {
            authorization.push_str(",AdditionalHeaders=");
            authorization.push_str(&additional.join(";"));
        }
        authorization.push_str(",Signature=");
        authorization.push_str(&signature);
        HeaderSigned {
            canonical_request,
            string_to_sign,
            signature,
            authorization,
        }
    }

    /// The headers header mode adds to every request at `now`: `x-oss-date`, `x-oss-content-sha256` and, with
    /// STS credentials, `x-oss-security-token` (all signed).
    pub fn auth_headers(&self, now: i64) -> Vec<(String, String)> {
        auth_headers(&self.credentials, now)
    }
}

/// See [`Signer::auth_headers`].
pub fn auth_headers(credentials: &Credentials, now: i64) -> Vec<(String, String)> {
    let mut headers = vec![
        (
            "x-oss-date".to_owned(),
            SigningTime::from_unix(now).datetime,
        ),
        (
            "x-oss-content-sha256".to_owned(),
            UNSIGNED_PAYLOAD.to_owned(),
        ),
    ];
    if let Some(token) = &credentials.session_token {
        headers.push(("x-oss-security-token".to_owned(), token.clone()));
    }
    headers
}

/// `name=value` (or the bare `name` for an empty value), both UriEncoded: one query pair as sent and signed.
pub fn encode_query_pair(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 1);
    push_pair(&mut out, &uri_encode(name, true), &uri_encode(value, true));
    out
}
