//! AWS Signature Version 4: presigned query URLs and header-signed requests (pure: time is passed in).
//!
//! Every function returns its intermediate strings (canonical request, string to sign) so tests can compare
//! them byte for byte with the published vectors.
use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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
    /// Secret access key; never printed.
    pub secret_key: String,
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
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved || (b == b'/' && !encode_slash) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
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
        let t = DateTime::<Utc>::from_timestamp(now, 0).unwrap_or(DateTime::UNIX_EPOCH);
        SigningTime {
            date: t.format("%Y%m%d").to_string(),
            datetime: t.format("%Y%m%dT%H%M%SZ").to_string(),
        }
    }
}

/// kSigning = HMAC chain over ("AWS4"+secret, date, region, service, "aws4_request").
pub fn derive_signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// One-entry cache of the derived key. Its owner (a [`Signer`]) fixes secret, region and service, so the date is
/// the only part that varies: the entry is replaced once a day and a warm presign costs one HMAC plus one hash.
struct SigningKeyCache {
    entry: Mutex<Option<(String, [u8; 32])>>,
}

impl SigningKeyCache {
    fn get_or_derive(&self, date: &str, derive: impl FnOnce() -> [u8; 32]) -> [u8; 32] {
        // A poisoned lock only means another thread panicked mid-update; the entry is still a valid (date, key) pair.
        let mut entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        match entry.as_ref() {
            Some((cached_date, key)) if cached_date == date => *key,
            _ => {
                let key = derive();
                *entry = Some((date.to_owned(), key));
                key
            }
        }
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
        Signer {
            credentials,
            region: region.to_owned(),
            service: service.to_owned(),
            key_cache: SigningKeyCache {
                entry: Mutex::new(None),
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

    /// `yyyymmdd/region/service/aws4_request`.
    pub fn scope(&self, date: &str) -> String {
        format!("{date}/{}/{}/aws4_request", self.region, self.service)
    }

    /// `AK/yyyymmdd/region/service/aws4_request` (`X-Amz-Credential`, `x-amz-credential`).
    pub fn credential(&self, date: &str) -> String {
        format!("{}/{}", self.credentials.access_key, self.scope(date))
    }

    /// Hex HMAC-SHA256 of `string_to_sign` with the signing key of `date` (also signs POST policies).
    pub fn sign(&self, date: &str, string_to_sign: &str) -> String {
        let key = self.key_cache.get_or_derive(date, || {
            derive_signing_key(
                &self.credentials.secret_key,
                date,
                &self.region,
                &self.service,
            )
        });
        hex::encode(hmac(&key, string_to_sign.as_bytes()))
    }

    fn string_to_sign(&self, time: &SigningTime, canonical_request: &str) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            time.datetime,
            self.scope(&time.date),
            hex_sha256(canonical_request.as_bytes())
        )
    }

    /// Presigns a query-string URL: every parameter but `X-Amz-Signature` is signed, the session token included.
    pub fn presign(&self, req: &QueryRequest<'_>) -> Presigned {
        let time = SigningTime::from_unix(req.now);
        let mut headers: Vec<(&str, &str)> = vec![("host", req.host)];
        headers.extend_from_slice(req.headers);
        let (canonical_headers, signed_headers) = canonical_headers(&headers);

        let credential = self.credential(&time.date);
        let expires = req.expires.clamp(1, MAX_EXPIRES_SECONDS).to_string();
        let mut query: Vec<(&str, &str)> = req.query.to_vec();
        query.extend([
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", credential.as_str()),
            ("X-Amz-Date", time.datetime.as_str()),
            ("X-Amz-Expires", expires.as_str()),
            ("X-Amz-SignedHeaders", signed_headers.as_str()),
        ]);
        if let Some(token) = &self.credentials.session_token {
            query.push(("X-Amz-Security-Token", token.as_str()));
        }
        let canonical_query = canonical_query(&query);
        let canonical_path = uri_encode(req.path, false);
        let canonical_request = format!(
            "{}\n{canonical_path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{}",
            req.method, req.payload_hash
        );
        let string_to_sign = self.string_to_sign(&time, &canonical_request);
        let signature = self.sign(&time.date, &string_to_sign);
        let url = format!(
            "{}://{}{canonical_path}?{canonical_query}&X-Amz-Signature={signature}",
            req.scheme, req.host
        );
        Presigned {
            canonical_request,
            string_to_sign,
            signature,
            url,
        }
    }

    /// Signs a request with an `Authorization` header over exactly `req.headers`.
    pub fn sign_headers(&self, req: &HeaderRequest<'_>) -> HeaderSigned {
        let time = SigningTime::from_unix(req.now);
        let (canonical_headers, signed_headers) = canonical_headers(req.headers);
        let canonical_request = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
            req.method,
            uri_encode(req.path, false),
            canonical_query(req.query),
            req.payload_hash
        );
        let string_to_sign = self.string_to_sign(&time, &canonical_request);
        let signature = self.sign(&time.date, &string_to_sign);
        let authorization = format!(
            "{ALGORITHM} Credential={}, SignedHeaders={signed_headers}, Signature={signature}",
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

/// `name=value` pairs, both UriEncoded with `/` encoded, sorted by name then value, `&`-joined.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    encoded.sort();
    let pairs: Vec<String> = encoded
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    pairs.join("&")
}

/// (`name:value\n` lines sorted by lowercase name, `;`-joined names). Values are trimmed and inner runs of
/// whitespace collapse to one space, as the servers do when they recompute the signature.
fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut normalized: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            let value: Vec<&str> = value.split_ascii_whitespace().collect();
            (name.to_ascii_lowercase(), value.join(" "))
        })
        .collect();
    normalized.sort();
    let lines: String = normalized
        .iter()
        .map(|(n, v)| format!("{n}:{v}\n"))
        .collect();
    let names: Vec<&str> = normalized.iter().map(|(n, _)| n.as_str()).collect();
    (lines, names.join(";"))
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
