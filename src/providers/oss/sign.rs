//! OSS Signature V4 (`OSS4-HMAC-SHA256`): presigned query URLs and header-signed requests (pure: time is passed in).
//!
//! The algorithm is AWS SigV4 with OSS's constants and three differences that matter (docs/PROVIDERS.md, Aliyun
//! OSS): the canonical URI is `/<bucket>/<key>` whatever host the request goes to, the payload hash is always
//! `UNSIGNED-PAYLOAD`, and the signed headers are not listed: every `x-oss-*`, `content-type` and `content-md5`
//! header present is signed, anything else only when named in `AdditionalHeaders` /
//! `x-oss-additional-headers`. A query parameter without a value is signed as its bare name.
//!
//! Every function returns its intermediate strings so tests compare them byte for byte with the vectors.
use std::borrow::Cow;
use std::fmt;

use crate::providers::common as text;
use crate::providers::s3::sigv4::{
    self, datetime, decimal, derive_key, uri_encode, uri_encode_cow, write_canonical_request,
    Dialect, KeyChain, MAX_EXPIRES_SECONDS,
};
pub use crate::providers::s3::sigv4::{Credentials, SigningTime, UNSIGNED_PAYLOAD};

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

/// OSS V4 as a dialect of the shared V4 code (`providers::s3::sigv4`).
const DIALECT: Dialect = Dialect {
    algorithm: ALGORITHM,
    chain: ALIYUN_V4,
    bare_empty_values: true,
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
    let mut out = String::with_capacity(bucket.len() + key.len() + 8);
    push_canonical_uri(&mut out, bucket, key);
    out
}

/// [`canonical_uri`] appended to `out`.
pub fn push_canonical_uri(out: &mut String, bucket: &str, key: &str) {
    for piece in uri_pieces(bucket, key) {
        text::push_percent_encoded(out, piece, true);
    }
}

/// The raw pieces of [`canonical_uri`], encoded one after the other.
fn uri_pieces<'a>(bucket: &'a str, key: &'a str) -> [&'a str; 4] {
    if bucket.is_empty() {
        ["/", "", "", key]
    } else {
        ["/", bucket, "/", key]
    }
}

/// `name=value` of UriEncoded pairs, or the bare name when the value is empty (what OSS signs and accepts).
fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    if !value.is_empty() {
        out.push('=');
        out.push_str(value);
    }
}

/// `name` lowercased, borrowed when it already is.
fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// What OSS signs of a request's headers: every default-signed one and the effective additional ones.
struct SignedHeaders<'a> {
    /// (lowercase name, trimmed value), sorted by name (stable: a repeated name keeps its order). HTTP drops
    /// surrounding whitespace on the wire, so the server only ever sees trimmed values; ali-oss trims too.
    lines: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The `;`-joined effective additional names: the canonical request's line, `x-oss-additional-headers`
    /// and `AdditionalHeaders=`.
    additional: Cow<'a, str>,
}

/// The effective additional names are the sorted, deduplicated lowercase names of `additional` that are present
/// in `headers` with a non-empty value and not signed by default anyway (the SDK's rule; the server recomputes
/// the same list).
fn signed_headers<'a>(headers: &[(&'a str, &'a str)], additional: &[&'a str]) -> SignedHeaders<'a> {
    let mut names: Vec<Cow<'a, str>> = Vec::with_capacity(additional.len());
    for name in additional {
        let name = lowercase(name);
        let present = headers
            .iter()
            .any(|(h, v)| h.eq_ignore_ascii_case(&name) && !v.trim().is_empty());
        if present && !is_default_signed(&name) {
            names.push(name);
        }
    }
    names.sort_unstable();
    names.dedup();
    let mut lines: Vec<(Cow<'a, str>, Cow<'a, str>)> = headers
        .iter()
        .map(|(n, v)| (lowercase(n), Cow::Borrowed(v.trim())))
        .filter(|(n, _)| is_default_signed(n) || names.contains(n))
        .collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let additional = match &names[..] {
        [] => Cow::Borrowed(""),
        [one] => one.clone(),
        more => Cow::Owned(more.join(";")),
    };
    SignedHeaders { lines, additional }
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

/// Signs requests for one (credentials, region): the V4 signer of `providers::s3::sigv4` in OSS's dialect, so the
/// signing key of the current day is cached the same way.
pub struct Signer {
    v4: sigv4::Signer,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("v4", &self.v4).finish()
    }
}

impl Signer {
    /// A signer for `region` (the short id, `cn-hangzhou`).
    pub fn new(credentials: Credentials, region: &str) -> Signer {
        Signer {
            v4: sigv4::Signer::with_dialect(DIALECT, credentials, region, PRODUCT),
        }
    }

    /// The credentials this signer uses.
    pub fn credentials(&self) -> &Credentials {
        self.v4.credentials()
    }

    /// The region of the credential scope.
    pub fn region(&self) -> &str {
        self.v4.region()
    }

    /// `yyyymmdd/<region>/oss/aliyun_v4_request`.
    pub fn scope(&self, date: &str) -> String {
        self.v4.scope(date)
    }

    /// `<AK>/yyyymmdd/<region>/oss/aliyun_v4_request` (`x-oss-credential`).
    pub fn credential(&self, date: &str) -> String {
        self.v4.cached_credential(date)
    }

    /// Hex HMAC-SHA256 of `string_to_sign` with the signing key of `date` (also signs POST policies).
    pub fn sign(&self, date: &str, string_to_sign: &str) -> String {
        self.v4.sign(date, string_to_sign)
    }

    /// Presigns in query mode, valid `expires` seconds (clamped to 1..=604800). The security token, when the
    /// credentials have one, becomes the signed `x-oss-security-token` parameter.
    pub fn presign(&self, req: &Request<'_>, expires: i64) -> Presigned {
        let mut query = String::with_capacity(512);
        let (canonical_request, string_to_sign, signature) = self
            .presign_into(req, expires, &mut query, true)
            .unwrap_or_else(|| unreachable!("kept on request"));
        Presigned {
            canonical_request,
            string_to_sign,
            signature,
            query,
        }
    }

    /// Appends [`Presigned::query`] to `out` (the store's URL); the canonical request, string to sign and
    /// signature too when `keep`. The canonical request is written once (by SigV4's builder) and hashed.
    pub(crate) fn presign_into(
        &self,
        req: &Request<'_>,
        expires: i64,
        out: &mut String,
        keep: bool,
    ) -> Option<(String, String, String)> {
        let (mut datetime_buf, mut fallback) = ([0u8; 16], String::new());
        let datetime = datetime(req.now, &mut datetime_buf, &mut fallback);
        let day = self.v4.day(&datetime[..8]);
        let signed = signed_headers(req.headers, req.additional_headers);
        let mut expires_buf = [0u8; 20];
        let expires = decimal(
            expires.clamp(1, MAX_EXPIRES).unsigned_abs(),
            &mut expires_buf,
        );
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(req.query.len() + 6);
        pairs.extend(
            req.query
                .iter()
                .map(|(k, v)| (uri_encode_cow(k), uri_encode_cow(v))),
        );
        pairs.extend([
            (
                Cow::Borrowed("x-oss-signature-version"),
                Cow::Borrowed(ALGORITHM),
            ),
            (Cow::Borrowed("x-oss-date"), Cow::Borrowed(datetime)),
            (Cow::Borrowed("x-oss-expires"), Cow::Borrowed(expires)),
            (
                Cow::Borrowed("x-oss-credential"),
                Cow::Borrowed(day.credential_encoded.as_str()),
            ),
        ]);
        if let Some(token) = &self.credentials().session_token {
            pairs.push((Cow::Borrowed("x-oss-security-token"), uri_encode_cow(token)));
        }
        if !signed.additional.is_empty() {
            pairs.push((
                Cow::Borrowed("x-oss-additional-headers"),
                uri_encode_cow(&signed.additional),
            ));
        }
        // The URL keeps the SDK's order (operation parameters, then the x-oss-* ones); the signature is sorted.
        for (k, v) in &pairs {
            push_pair(out, k, v);
            out.push('&');
        }
        pairs.sort_unstable();
        // A URL alone hashes its canonical request in this thread's reused buffer (as SigV4's URLs do).
        let buffer = if keep {
            String::new()
        } else {
            sigv4::scratch_take()
        };
        let canonical_request = self.canonical_request(req, &pairs, &signed, buffer);
        let (hash, signature) = self.v4.sign_canonical(&day, datetime, &canonical_request);
        out.push_str("x-oss-signature=");
        out.push_str(signature.as_str());
        if !keep {
            sigv4::scratch_return(canonical_request);
            return None;
        }
        let string_to_sign = self
            .v4
            .string_to_sign_of_hash(datetime, &day.scope, hash.as_str());
        Some((
            canonical_request,
            string_to_sign,
            signature.as_str().to_owned(),
        ))
    }

    /// `method\n/<bucket>/<key>\nquery\nheaders\n\nadditional\nUNSIGNED-PAYLOAD` over sorted, encoded `pairs`.
    fn canonical_request(
        &self,
        req: &Request<'_>,
        pairs: &[(Cow<'_, str>, Cow<'_, str>)],
        signed: &SignedHeaders<'_>,
        mut canonical_request: String,
    ) -> String {
        canonical_request.reserve(req.method.len() + 3 * (req.bucket.len() + req.key.len()) + 512);
        write_canonical_request(
            &mut canonical_request,
            req.method,
            &uri_pieces(req.bucket, req.key),
            pairs,
            &signed.lines,
            &signed.additional,
            UNSIGNED_PAYLOAD,
            None,
            DIALECT.bare_empty_values,
        );
        canonical_request
    }

    /// Signs in header mode over `req.headers` (which must carry `x-oss-date` of `req.now`,
    /// `x-oss-content-sha256: UNSIGNED-PAYLOAD` and, with STS credentials, `x-oss-security-token`; see
    /// [`auth_headers`]).
    pub fn sign_headers(&self, req: &Request<'_>) -> HeaderSigned {
        let (mut datetime_buf, mut fallback) = ([0u8; 16], String::new());
        let datetime = datetime(req.now, &mut datetime_buf, &mut fallback);
        let day = self.v4.day(&datetime[..8]);
        let signed = signed_headers(req.headers, req.additional_headers);
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = req
            .query
            .iter()
            .map(|(k, v)| (uri_encode_cow(k), uri_encode_cow(v)))
            .collect();
        pairs.sort_unstable();
        let canonical_request = self.canonical_request(req, &pairs, &signed, String::new());
        let (hash, signature) = self.v4.sign_canonical(&day, datetime, &canonical_request);
        let string_to_sign = self
            .v4
            .string_to_sign_of_hash(datetime, &day.scope, hash.as_str());
        let mut authorization = format!("{ALGORITHM} Credential={}", day.credential);
        if !signed.additional.is_empty() {
            authorization.push_str(",AdditionalHeaders=");
            authorization.push_str(&signed.additional);
        }
        authorization.push_str(",Signature=");
        authorization.push_str(signature.as_str());
        HeaderSigned {
            canonical_request,
            string_to_sign,
            signature: signature.as_str().to_owned(),
            authorization,
        }
    }

    /// The headers header mode adds to every request at `now`: `x-oss-date`, `x-oss-content-sha256` and, with
    /// STS credentials, `x-oss-security-token` (all signed).
    pub fn auth_headers(&self, now: i64) -> Vec<(String, String)> {
        auth_headers(self.credentials(), now)
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
