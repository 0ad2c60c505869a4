//! AWS Signature Version 4: presigned query URLs and header-signed requests (pure: time is passed in).
//!
//! Every function returns its intermediate strings (canonical request, string to sign) so tests can compare
//! them byte for byte with the published vectors.
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::providers::common;

type HmacSha256 = Hmac<Sha256>;

/// The SigV4 algorithm name, in `X-Amz-Algorithm`, the string to sign and `Authorization`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload hash of presigned S3 URLs: the body is not known when the URL is made.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Longest `X-Amz-Expires` S3 accepts (7 days); servers answer 400 above it.
pub const MAX_EXPIRES_SECONDS: i64 = 604_800;

/// An access key pair, with the session token of temporary (STS) credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (public; part of every credential scope).
    pub access_key: String,
    /// Secret access key; never printed, exposed only to key the signing HMAC.
    pub secret_key: Secret,
    /// STS session token, sent as `X-Amz-Security-Token`; never printed.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// S3's UriEncode: every byte outside `A-Za-z0-9-._~` becomes `%XX` (uppercase), space is `%20`.
/// `/` is kept unless `encode_slash` (object paths keep it; query names and values encode it).
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    common::push_percent_encoded(&mut out, s, !encode_slash);
    out
}

/// Lowercase hex SHA-256, the form SigV4 uses for payload and canonical-request hashes.
pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The two renderings of the signing time: `yyyymmdd` (scope) and `yyyymmddTHHMMSSZ` (`X-Amz-Date`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningTime {
    /// `yyyymmdd`.
    pub date: String,
    /// `yyyymmddTHHMMSSZ`.
    pub datetime: String,
}

impl SigningTime {
    /// Formats unix seconds; a timestamp chrono cannot represent signs as 1970, so the credential is expired (fails closed).
    pub fn from_unix(now: i64) -> SigningTime {
        let Some([year, month, day, hour, minute, second]) = common::utc_fields(now) else {
            // Years outside 0..=9999 (and unrepresentable instants): chrono's own rendering.
            let t = DateTime::<Utc>::from_timestamp(now, 0).unwrap_or(DateTime::UNIX_EPOCH);
            return SigningTime {
                date: t.format("%Y%m%d").to_string(),
                datetime: t.format("%Y%m%dT%H%M%SZ").to_string(),
            };
        };
        // Written digit by digit: chrono's `format` costs more than the HMAC this feeds.
        let mut datetime = String::with_capacity(16);
        common::push_digits(&mut datetime, year, 4);
        common::push_digits(&mut datetime, month, 2);
        common::push_digits(&mut datetime, day, 2);
        let date = datetime.clone();
        datetime.push('T');
        common::push_digits(&mut datetime, hour, 2);
        common::push_digits(&mut datetime, minute, 2);
        common::push_digits(&mut datetime, second, 2);
        datetime.push('Z');
        SigningTime { date, datetime }
    }
}

/// The constants of a V4 signing-key chain: the secret's prefix and the scope's terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChain {
    pub prefix: &'static str,
    pub terminator: &'static str,
}

/// AWS SigV4: `"AWS4"` + secret ... `"aws4_request"`.
pub const AWS4: KeyChain = KeyChain {
    prefix: "AWS4",
    terminator: "aws4_request",
};

/// HMAC chain over (prefix + secret, date, region, service, terminator): AWS's kSigning, and Aliyun OSS V4's
/// signing key with its own constants.
pub fn derive_key(
    chain: KeyChain,
    secret_key: &str,
    date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let k_date = hmac(
        format!("{}{secret_key}", chain.prefix).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, chain.terminator.as_bytes())
}

/// The constants of one V4 dialect. AWS SigV4 and Aliyun OSS V4 (`OSS4-HMAC-SHA256`) are one algorithm with
/// different names, so they share this module's day-key cache, canonical-request builder and signing: one
/// implementation (OSS's own differences, which headers are signed and how the URL is laid out, stay in
/// `providers::oss::sign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// First line of the string to sign (`AWS4-HMAC-SHA256`, `OSS4-HMAC-SHA256`).
    pub algorithm: &'static str,
    /// The signing-key chain, whose terminator also ends the credential scope.
    pub chain: KeyChain,
    /// A query parameter with an empty value is signed as its bare name (OSS), not as `name=` (AWS).
    pub bare_empty_values: bool,
}

/// AWS Signature Version 4.
pub const AWS_V4: Dialect = Dialect {
    algorithm: ALGORITHM,
    chain: AWS4,
    bare_empty_values: false,
};

/// kSigning = HMAC chain over ("AWS4"+secret, date, region, service, "aws4_request").
pub fn derive_signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    derive_key(AWS4, secret_key, date, region, service)
}

/// Everything about one signing date that does not change during that day: the credential scope, the
/// credential value (raw and UriEncoded) and the HMAC state already keyed with the derived signing key,
/// so a warm presign costs one SHA-256 of the canonical request plus one keyed HMAC, with no key setup.
pub(crate) struct DayKey {
    date: String,
    pub(crate) scope: String,
    pub(crate) credential: String,
    pub(crate) credential_encoded: String,
    keyed: HmacSha256,
}

/// One-entry cache of the [`DayKey`]. Its owner (a [`Signer`]) fixes secret, region and service, so the date is
/// the only part that varies: the entry is replaced once a day. Lock-free reads; a racing first use of a new
/// day derives the key twice, which is harmless.
struct SigningKeyCache {
    entry: ArcSwapOption<DayKey>,
}

impl SigningKeyCache {
    fn get_or_derive(&self, date: &str, derive: impl FnOnce() -> DayKey) -> Arc<DayKey> {
        if let Some(day) = self.entry.load().as_ref().filter(|d| d.date == date) {
            return Arc::clone(day);
        }
        let day = Arc::new(derive());
        self.entry.store(Some(Arc::clone(&day)));
        day
    }
}

/// A presigned (query-string authenticated) request to sign.
#[derive(Debug, Clone)]
pub struct QueryRequest<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// `http` or `https`, used only to build the URL.
    pub scheme: &'a str,
    /// Host with a non-default port (`127.0.0.1:9000`); always signed as `host`.
    pub host: &'a str,
    /// Raw, unencoded path; encoded once here, `/` kept, never normalised.
    pub path: &'a str,
    /// Raw operation parameters (`partNumber`, `response-content-type`, ...); all of them are signed.
    pub query: &'a [(&'a str, &'a str)],
    /// Signed headers besides `host` (lowercase names); the client must send exactly these values.
    pub headers: &'a [(&'a str, &'a str)],
    /// [`UNSIGNED_PAYLOAD`] for S3.
    pub payload_hash: &'a str,
    /// Unix seconds of signing.
    pub now: i64,
    /// Lifetime in seconds, clamped to 1..=604800.
    pub expires: i64,
}

/// A presigned URL and the strings it was derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// `AWS4-HMAC-SHA256\n<date>\n<scope>\n<hash>`.
    pub string_to_sign: String,
    /// Hex signature (`X-Amz-Signature`).
    pub signature: String,
    /// Full URL: canonical query plus `X-Amz-Signature`.
    pub url: String,
}

/// A header-authenticated request to sign.
#[derive(Debug, Clone)]
pub struct HeaderRequest<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// Raw, unencoded path.
    pub path: &'a str,
    /// Raw query parameters.
    pub query: &'a [(&'a str, &'a str)],
    /// Every signed header including `host` and `x-amz-date` (lowercase names).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body (S3 also sends it as `x-amz-content-sha256`).
    pub payload_hash: &'a str,
    /// Unix seconds of signing; must match the `x-amz-date` header.
    pub now: i64,
}

/// The `Authorization` header of a header-signed request and the strings it was derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSigned {
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// `AWS4-HMAC-SHA256\n<date>\n<scope>\n<hash>`.
    pub string_to_sign: String,
    /// Hex signature.
    pub signature: String,
    /// `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    pub authorization: String,
}

/// Signs requests for one (credentials, region, service), caching the derived key.
pub struct Signer {
    dialect: Dialect,
    credentials: Credentials,
    region: String,
    service: String,
    key_cache: SigningKeyCache,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `service` (`s3`) in `region`.
    pub fn new(credentials: Credentials, region: &str, service: &str) -> Signer {
        Signer::with_dialect(AWS_V4, credentials, region, service)
    }

    /// A signer of another V4 dialect (Aliyun OSS).
    pub(crate) fn with_dialect(
        dialect: Dialect,
        credentials: Credentials,
        region: &str,
        service: &str,
    ) -> Signer {
        Signer {
            dialect,
            credentials,
            region: region.to_owned(),
            service: service.to_owned(),
            key_cache: SigningKeyCache {
                entry: ArcSwapOption::empty(),
            },
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

    /// `yyyymmdd/region/service/aws4_request` (the dialect's terminator).
    pub fn scope(&self, date: &str) -> String {
        format!(
            "{date}/{}/{}/{}",
            self.region, self.service, self.dialect.chain.terminator
        )
    }

    /// `AK/yyyymmdd/region/service/aws4_request` (`X-Amz-Credential`, `x-amz-credential`).
    pub fn credential(&self, date: &str) -> String {
        format!("{}/{}", self.credentials.access_key, self.scope(date))
    }

    /// The cached per-day values of `date`, derived on the first use of a new day.
    pub(crate) fn day(&self, date: &str) -> Arc<DayKey> {
        self.key_cache.get_or_derive(date, || {
            let key = derive_key(
                self.dialect.chain,
                self.credentials.secret_key.expose(),
                date,
                &self.region,
                &self.service,
            );
            let credential = self.credential(date);
            DayKey {
                date: date.to_owned(),
                scope: self.scope(date),
                credential_encoded: uri_encode(&credential, true),
                credential,
                keyed: HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable!()),
            }
        })
    }

    /// Hex HMAC-SHA256 of `string_to_sign` with the signing key of `date` (also signs POST policies).
    pub fn sign(&self, date: &str, string_to_sign: &str) -> String {
        hex_hmac(&self.day(date).keyed, string_to_sign.as_bytes())
    }

    /// `X-Amz-Credential` of `date`, from the day cache (what [`Signer::credential`] returns).
    pub fn cached_credential(&self, date: &str) -> String {
        self.day(date).credential.clone()
    }

    fn string_to_sign(&self, time: &SigningTime, canonical_request: &str) -> String {
        let hash = Hex64::of(&Sha256::digest(canonical_request.as_bytes()).into());
        self.string_to_sign_of_hash(&time.datetime, &self.scope(&time.date), hash.as_str())
    }

    /// `<algorithm>\n<datetime>\n<scope>\n<hash>`, the string [`Signer::sign_canonical`] signs.
    pub(crate) fn string_to_sign_of_hash(&self, datetime: &str, scope: &str, hash: &str) -> String {
        let parts = [
            self.dialect.algorithm,
            "\n",
            datetime,
            "\n",
            scope,
            "\n",
            hash,
        ];
        parts.concat()
    }

    /// The hex SHA-256 of `canonical_request` and the hex signature of the string to sign around it, fed to
    /// the day's pre-keyed HMAC in pieces (the string to sign itself is never built).
    pub(crate) fn sign_canonical(
        &self,
        day: &DayKey,
        datetime: &str,
        canonical_request: &str,
    ) -> (Hex64, Hex64) {
        let hash = Hex64::of(&Sha256::digest(canonical_request.as_bytes()).into());
        let mut mac = day.keyed.clone();
        for part in [
            self.dialect.algorithm,
            "\n",
            datetime,
            "\n",
            &day.scope,
            "\n",
        ] {
            mac.update(part.as_bytes());
        }
        mac.update(&hash.0);
        let signature = Hex64::of(&mac.finalize().into_bytes().into());
        (hash, signature)
    }

    /// Presigns a query-string URL: every parameter but `X-Amz-Signature` is signed, the session token included.
    pub fn presign(&self, req: &QueryRequest<'_>) -> Presigned {
        let (url, parts) = self.presign_core(req, true);
        let (canonical_request, string_to_sign, signature) =
            parts.unwrap_or_else(|| unreachable!("kept on request"));
        Presigned {
            canonical_request,
            string_to_sign,
            signature,
            url,
        }
    }

    /// [`Signer::presign`]'s URL alone: what the stores hand out, without keeping the intermediate strings.
    pub fn presign_url(&self, req: &QueryRequest<'_>) -> String {
        self.presign_core(req, false).0
    }

    /// The canonical request of a presign, written once by [`write_canonical_request`]: what [`Signer::presign`]
    /// and [`Signer::presign_urls_varying`] share. With `varying`, that parameter's value is left empty and
    /// [`Layout::mark`] is where a value goes.
    fn presign_request(
        &self,
        req: &QueryRequest<'_>,
        datetime: &str,
        day: &DayKey,
        varying: Option<&str>,
        mut canonical_request: String,
    ) -> (String, Layout) {
        let headers = normalized_headers(Some(req.host), req.headers);
        let signed = SignedNames::of(&headers);
        let mut expires_buf = [0u8; 20];
        let expires = decimal(
            req.expires.clamp(1, MAX_EXPIRES_SECONDS).unsigned_abs(),
            &mut expires_buf,
        );
        let mut query = self.sorted_query(req.query, day, datetime, expires, signed.encoded());
        // The caller checked that `varying` is one of the operation's names, and UriEncode is injective, so
        // the name is unique: the value, left empty here, never moves the pair.
        let mark = varying.map(|name| {
            let encoded = uri_encode_cow(name);
            let at = query
                .iter()
                .position(|(k, _)| *k == encoded)
                .unwrap_or_else(|| unreachable!("the name is in the query"));
            query[at].1 = Cow::Borrowed("");
            at
        });
        canonical_request
            .reserve(req.method.len() + req.path.len() * 3 + 640 + req.payload_hash.len());
        let layout = write_canonical_request(
            &mut canonical_request,
            req.method,
            &[req.path],
            &query,
            &headers,
            signed.raw(),
            req.payload_hash,
            mark,
            self.dialect.bare_empty_values,
        );
        (canonical_request, layout)
    }

    /// The URL, and the canonical request, string to sign and signature when `keep`. The string to sign is fed
    /// to the (cloned, pre-keyed) HMAC in pieces; the URL reuses the canonical request's path and query.
    fn presign_core(
        &self,
        req: &QueryRequest<'_>,
        keep: bool,
    ) -> (String, Option<(String, String, String)>) {
        let (mut datetime_buf, mut fallback) = ([0u8; 16], String::new());
        let datetime = datetime(req.now, &mut datetime_buf, &mut fallback);
        let day = self.day(&datetime[..8]);
        // A URL alone writes its canonical request into this thread's reused buffer: one allocation less.
        let buffer = if keep { String::new() } else { scratch_take() };
        let (canonical_request, layout) = self.presign_request(req, datetime, &day, None, buffer);
        let (hash, signature) = self.sign_canonical(&day, datetime, &canonical_request);
        let signature = signature.as_str();

        let path = &canonical_request[layout.path];
        let query = &canonical_request[layout.query];
        let mut url = String::with_capacity(
            req.scheme.len() + req.host.len() + path.len() + query.len() + 88,
        );
        for part in [
            req.scheme,
            "://",
            req.host,
            path,
            "?",
            query,
            "&X-Amz-Signature=",
            signature,
        ] {
            url.push_str(part);
        }
        if !keep {
            scratch_return(canonical_request);
            return (url, None);
        }
        let string_to_sign = self.string_to_sign_of_hash(datetime, &day.scope, hash.as_str());
        let kept = Some((canonical_request, string_to_sign, signature.to_owned()));
        (url, kept)
    }

    /// (encoded name, encoded value) of every signed parameter: the operation's, then the X-Amz-* ones, sorted.
    fn sorted_query<'a>(
        &'a self,
        query: &[(&'a str, &'a str)],
        day: &'a DayKey,
        datetime: &'a str,
        expires: &'a str,
        signed_headers_encoded: &'a str,
    ) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        let mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(query.len() + 6);
        pairs.extend(
            query
                .iter()
                .map(|(k, v)| (uri_encode_cow(k), uri_encode_cow(v))),
        );
        pairs.extend([
            (Cow::Borrowed("X-Amz-Algorithm"), Cow::Borrowed(ALGORITHM)),
            (
                Cow::Borrowed("X-Amz-Credential"),
                Cow::Borrowed(day.credential_encoded.as_str()),
            ),
            (Cow::Borrowed("X-Amz-Date"), Cow::Borrowed(datetime)),
            (Cow::Borrowed("X-Amz-Expires"), Cow::Borrowed(expires)),
            (
                Cow::Borrowed("X-Amz-SignedHeaders"),
                Cow::Borrowed(signed_headers_encoded),
            ),
        ]);
        if let Some(token) = &self.credentials.session_token {
            pairs.push((Cow::Borrowed("X-Amz-Security-Token"), uri_encode_cow(token)));
        }
        pairs.sort_unstable();
        pairs
    }

    /// The URLs [`Signer::presign`] gives for `req` with its parameter `varying` set to each of `values` in turn
    /// (e.g. a batch of UploadPart URLs, where only `partNumber` changes), sharing every fixed part: the
    /// canonical request is built once with the value left out, its head up to the value is hashed once and the
    /// SHA-256 state cloned, and the keyed HMAC state is cloned after the fixed start of the string to sign.
    /// Falls back to one [`Signer::presign`] per value when `varying` is not exactly one of `req.query`'s names.
    pub fn presign_urls_varying<'v>(
        &self,
        req: &QueryRequest<'_>,
        varying: &str,
        values: impl ExactSizeIterator<Item = &'v str>,
    ) -> Vec<String> {
        let mut urls = Vec::with_capacity(values.len());
        let time = SigningTime::from_unix(req.now);
        let day = self.day(&time.date);
        let shared = (req.query.iter().filter(|(k, _)| *k == varying).count() == 1
            && !varying.starts_with("X-Amz-"))
        .then(|| self.presign_request(req, &time.datetime, &day, Some(varying), String::new()));
        let Some((canonical_request, layout)) = shared else {
            for value in values {
                let query: Vec<(&str, &str)> = req
                    .query
                    .iter()
                    .map(|&(k, v)| if k == varying { (k, value) } else { (k, v) })
                    .collect();
                urls.push(
                    self.presign(&QueryRequest {
                        query: &query,
                        ..req.clone()
                    })
                    .url,
                );
            }
            return urls;
        };
        let mark = layout
            .mark
            .unwrap_or_else(|| unreachable!("the name is in the query"));
        let (request_head, request_tail) = canonical_request.split_at(mark);
        let path = &canonical_request[layout.path];
        let query_head = &canonical_request[layout.query.start..mark];
        let query_tail = &canonical_request[mark..layout.query.end];
        let mut request_state = Sha256::new();
        request_state.update(request_head.as_bytes());
        let mut sign_head = day.keyed.clone();
        for part in [
            self.dialect.algorithm,
            "\n",
            &time.datetime,
            "\n",
            &day.scope,
            "\n",
        ] {
            sign_head.update(part.as_bytes());
        }
        let mut value_buf = String::new();
        for value in values {
            value_buf.clear();
            common::push_percent_encoded(&mut value_buf, value, false);
            let mut request = request_state.clone();
            request.update(value_buf.as_bytes());
            request.update(request_tail.as_bytes());
            let mut hash = [0u8; 64];
            hex::encode_to_slice(request.finalize(), &mut hash)
                .unwrap_or_else(|_| unreachable!("64 hex digits"));
            let mut mac = sign_head.clone();
            mac.update(&hash);
            let mut signature = [0u8; 64];
            hex::encode_to_slice(mac.finalize().into_bytes(), &mut signature)
                .unwrap_or_else(|_| unreachable!("64 hex digits"));
            let mut url = String::with_capacity(
                req.scheme.len()
                    + req.host.len()
                    + path.len()
                    + query_head.len()
                    + value_buf.len()
                    + query_tail.len()
                    + 88,
            );
            for part in [
                req.scheme,
                "://",
                req.host,
                path,
                "?",
                query_head,
                &value_buf,
                query_tail,
                "&X-Amz-Signature=",
                std::str::from_utf8(&signature).unwrap_or_else(|_| unreachable!("hex is ASCII")),
            ] {
                url.push_str(part);
            }
            urls.push(url);
        }
        urls
    }

    /// Signs a request with an `Authorization` header over exactly `req.headers`.
    pub fn sign_headers(&self, req: &HeaderRequest<'_>) -> HeaderSigned {
        let time = SigningTime::from_unix(req.now);
        let headers = normalized_headers(None, req.headers);
        let signed = SignedNames::of(&headers);
        let signed_headers = signed.raw();
        let mut canonical_request = String::with_capacity(512);
        write_canonical_request(
            &mut canonical_request,
            req.method,
            &[req.path],
            &encoded_query(req.query),
            &headers,
            signed_headers,
            req.payload_hash,
            None,
            self.dialect.bare_empty_values,
        );
        let string_to_sign = self.string_to_sign(&time, &canonical_request);
        let signature = self.sign(&time.date, &string_to_sign);
        let authorization = format!(
            "{} Credential={}, SignedHeaders={signed_headers}, Signature={signature}",
            self.dialect.algorithm,
            self.credential(&time.date)
        );
        HeaderSigned {
            canonical_request,
            string_to_sign,
            signature,
            authorization,
        }
    }
}

/// (encoded name, encoded value) of `params`, sorted by name then value: the canonical query's pairs.
fn encoded_query<'a>(params: &[(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut encoded: Vec<_> = params
        .iter()
        .map(|(k, v)| (uri_encode_cow(k), uri_encode_cow(v)))
        .collect();
    encoded.sort_unstable();
    encoded
}

/// `name=value` pairs, both UriEncoded with `/` encoded, sorted by name then value, `&`-joined.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(params.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    push_query(&mut out, &encoded_query(params), None, false);
    out
}

/// `k=v&k=v` of already encoded, sorted pairs; the offset in `out` of the value of pair `mark`, if any.
fn push_query(
    out: &mut String,
    pairs: &[(Cow<'_, str>, Cow<'_, str>)],
    mark: Option<usize>,
    bare_empty_values: bool,
) -> Option<usize> {
    let mut mark_at = None;
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        if bare_empty_values && v.is_empty() && mark != Some(i) {
            continue;
        }
        out.push('=');
        if mark == Some(i) {
            mark_at = Some(out.len());
        }
        out.push_str(v);
    }
    mark_at
}

/// Where a canonical request's parts sit in its buffer, for URLs that reuse them.
pub(crate) struct Layout {
    /// The encoded path.
    path: Range<usize>,
    /// The canonical query.
    query: Range<usize>,
    /// Where the value of the marked query pair starts (see [`write_canonical_request`]).
    mark: Option<usize>,
}

/// The one canonical-request builder of every V4 form (single and batched presigns, header signing; AWS and
/// OSS): `method\npath\nquery\nname:value\n...\n\nsigned;headers\npayload` appended to `out`, with `path`
/// (the concatenation of its pieces) UriEncoded (`/` kept, never normalised), `query` already encoded and
/// sorted, `headers` normalised, lowercase and sorted, and `signed_headers` their `;`-joined names (OSS: its
/// additional-headers line). `mark` (a pair index) asks for the offset of that pair's value. With
/// `bare_empty_values` (OSS) an empty value is signed as the bare name.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_canonical_request(
    out: &mut String,
    method: &str,
    path: &[&str],
    query: &[(Cow<'_, str>, Cow<'_, str>)],
    headers: &[(Cow<'_, str>, Cow<'_, str>)],
    signed_headers: &str,
    payload_hash: &str,
    mark: Option<usize>,
    bare_empty_values: bool,
) -> Layout {
    out.push_str(method);
    out.push('\n');
    let path_start = out.len();
    for piece in path {
        common::push_percent_encoded(out, piece, true);
    }
    let path_end = out.len();
    out.push('\n');
    let query_start = out.len();
    let mark_at = push_query(out, query, mark, bare_empty_values);
    let query_end = out.len();
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    Layout {
        path: path_start..path_end,
        query: query_start..query_end,
        mark: mark_at,
    }
}

/// `yyyymmddTHHMMSSZ` of `now`, in `buf` (in `fallback`, by [`SigningTime`], for years past 9999); its first
/// eight bytes are the date.
pub(crate) fn datetime<'b>(now: i64, buf: &'b mut [u8; 16], fallback: &'b mut String) -> &'b str {
    match amz_datetime(now, buf) {
        Some(datetime) => datetime,
        None => {
            *fallback = SigningTime::from_unix(now).datetime;
            fallback.as_str()
        }
    }
}

/// `yyyymmddTHHMMSSZ` of `now` in `buf`, when the year has four digits (else `None`: use [`SigningTime`]).
fn amz_datetime(now: i64, buf: &mut [u8; 16]) -> Option<&str> {
    let [year, month, day, hour, minute, second] = common::utc_fields(now)?;
    let mut at = 0;
    for (mut value, width) in [
        (year, 4),
        (month, 2),
        (day, 2),
        (hour, 2),
        (minute, 2),
        (second, 2),
    ] {
        if at == 8 {
            buf[at] = b'T';
            at += 1;
        }
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        at += width;
    }
    buf[15] = b'Z';
    std::str::from_utf8(buf).ok()
}

/// `n` in decimal, in `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_else(|_| unreachable!("digits are ASCII"))
}

/// `host` (when given) and the other signed headers, names lowercased and values whitespace-collapsed (as the
/// servers do when they recompute the signature), sorted: the one header normalization of every SigV4 form.
fn normalized_headers<'a>(
    host: Option<&'a str>,
    headers: &[(&'a str, &'a str)],
) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut normalized = Vec::with_capacity(headers.len() + 1);
    if let Some(host) = host {
        normalized.push((Cow::Borrowed("host"), collapse_whitespace(host)));
    }
    normalized.extend(headers.iter().map(|(name, value)| {
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(*name)
        };
        (name, collapse_whitespace(value))
    }));
    normalized.sort_unstable();
    normalized
}

/// The `;`-joined names of [`normalized_headers`] (`SignedHeaders=`) and, after them in the same buffer, their
/// UriEncoded form (the `X-Amz-SignedHeaders` value): one allocation for both.
struct SignedNames {
    text: String,
    raw_end: usize,
}

impl SignedNames {
    fn of(headers: &[(Cow<'_, str>, Cow<'_, str>)]) -> SignedNames {
        let names: usize = headers.iter().map(|(n, _)| n.len() + 1).sum();
        let mut text = String::with_capacity(2 * names + 2 * headers.len());
        for (i, (name, _)) in headers.iter().enumerate() {
            if i > 0 {
                text.push(';');
            }
            text.push_str(name);
        }
        let raw_end = text.len();
        for (i, (name, _)) in headers.iter().enumerate() {
            if i > 0 {
                text.push_str("%3B");
            }
            common::push_percent_encoded(&mut text, name, false);
        }
        SignedNames { text, raw_end }
    }

    fn raw(&self) -> &str {
        &self.text[..self.raw_end]
    }

    fn encoded(&self) -> &str {
        &self.text[self.raw_end..]
    }
}

thread_local! {
    /// The canonical-request buffer [`Signer::presign_url`] (and OSS's URLs) reuse (see [`scratch_return`]).
    static CANONICAL_SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// This thread's canonical-request buffer (empty; give it back with [`scratch_return`]).
pub(crate) fn scratch_take() -> String {
    CANONICAL_SCRATCH.take()
}

/// Gives `buffer` back to this thread for the next presign, emptied; one grown by an unusually long request is
/// dropped instead, so the buffer kept stays small.
pub(crate) fn scratch_return(mut buffer: String) {
    if buffer.capacity() <= 4096 {
        buffer.clear();
        CANONICAL_SCRATCH.set(buffer);
    }
}

/// `value.split_ascii_whitespace().join(" ")`, borrowed when that changes nothing.
fn collapse_whitespace(value: &str) -> Cow<'_, str> {
    // The usual value has no space or control byte at all: one pass the compiler vectorizes.
    if value.bytes().all(|b| b > b' ') {
        return Cow::Borrowed(value);
    }
    // Unchanged exactly when no whitespace starts or ends it and every inner one is a lone space.
    let mut previous_space = true; // so that a leading space counts as a run
    let mut clean = true;
    for &b in value.as_bytes() {
        if b.is_ascii_whitespace() {
            if b != b' ' || previous_space {
                clean = false;
                break;
            }
            previous_space = true;
        } else {
            previous_space = false;
        }
    }
    if clean && !previous_space || value.is_empty() {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// [`uri_encode`] with `/` encoded, borrowed when nothing needs encoding.
pub(crate) fn uri_encode_cow(s: &str) -> Cow<'_, str> {
    if common::needs_no_encoding(s, false) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(uri_encode(s, true))
    }
}

/// 64 lowercase hex digits (a SHA-256 or HMAC-SHA256) on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Hex64([u8; 64]);

impl Hex64 {
    pub(crate) fn of(bytes: &[u8; 32]) -> Hex64 {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0f)];
        }
        Hex64(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_else(|_| unreachable!("hex is ASCII"))
    }
}

/// Hex of one HMAC computed from a state that is already keyed (cloned, never re-keyed).
fn hex_hmac(keyed: &HmacSha256, data: &[u8]) -> String {
    let mut mac = keyed.clone();
    mac.update(data);
    common::hex_string(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests;
