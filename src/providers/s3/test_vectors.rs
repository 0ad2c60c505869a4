//! Test support: the known-answer vectors of `tests/vectors/s3.json` and URL comparison helpers.
use chrono::NaiveDateTime;
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use super::sigv4::Credentials;

const S3_VECTORS: &str = include_str!("../../../tests/vectors/s3.json");

#[derive(Deserialize)]
pub struct Vectors {
    pub presigned: Vec<PresignedVector>,
    pub header_signed: Vec<HeaderVector>,
}

#[derive(Deserialize)]
pub struct PresignedVector {
    pub id: String,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
    pub datetime: String,
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub addressing_style: Option<String>,
    pub key: Option<String>,
    pub query: Vec<(String, String)>,
    pub expires: i64,
    pub signed_headers: Vec<(String, String)>,
    pub payload_hash: String,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub url: Option<String>,
    pub request_target: Option<String>,
}

#[derive(Deserialize)]
pub struct HeaderVector {
    pub id: String,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
    pub datetime: String,
    pub method: String,
    pub host: String,
    pub path: String,
    pub key: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub payload_hash: String,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
    pub url: Option<String>,
}

pub fn load() -> Vectors {
    serde_json::from_str(S3_VECTORS).expect("tests/vectors/s3.json parses")
}

/// Unix seconds of an `X-Amz-Date` value.
pub fn unix(datetime: &str) -> i64 {
    NaiveDateTime::parse_from_str(datetime, "%Y%m%dT%H%M%SZ")
        .expect("vector datetime")
        .and_utc()
        .timestamp()
}

pub fn credentials(
    access_key: &str,
    secret_key: &str,
    session_token: &Option<String>,
) -> Credentials {
    Credentials {
        access_key: access_key.to_owned(),
        secret_key: secret_key.into(),
        session_token: session_token.clone(),
    }
}

/// A URL or request target reduced to what signing fixes: scheme, host, decoded path, sorted decoded params.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedTarget {
    pub scheme: Option<String>,
    pub host: Option<String>,
    pub path: String,
    pub params: Vec<(String, String)>,
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parses `scheme://host/path?query` or `/path?query` by hand (the vectors' raw targets are not valid URLs).
pub fn parse_target(target: &str) -> ParsedTarget {
    let (scheme, host, rest) = match target.split_once("://") {
        Some((scheme, after)) => {
            let slash = after.find('/').unwrap_or(after.len());
            (
                Some(scheme.to_owned()),
                Some(after[..slash].to_owned()),
                &after[slash..],
            )
        }
        None => (None, None, target),
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    params.sort();
    ParsedTarget {
        scheme,
        host,
        path: decode(path),
        params,
    }
}
