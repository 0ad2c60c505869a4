//! Normalization of S3-family upload notifications into [`ObjectCreated`] records.
//!
//! Two body formats arrive: S3 event records (MinIO webhooks `{"EventName","Key","Records":[…]}`, and the bare
//! `{"Records":[…]}` S3 puts in an SNS `Message`), and SeaweedFS filer events (`{"event_type","key","message"}`).
//! Events that are not uploads (deletions, test events, directories, multipart staging, metadata-only changes)
//! yield no record rather than an error, so the handler can acknowledge them.

mod s3_records;
mod seaweedfs;

pub use s3_records::parse_s3_event_records;
pub use seaweedfs::parse_seaweedfs_event;

use serde::{de::IgnoredAny, Deserialize, Serialize};

/// Longest ETag accepted (an MD5 multipart ETag `<32 hex>-<parts>` is at most 38 characters).
const MAX_ETAG_LEN: usize = 128;

/// One stored object reported by a provider, normalized across MinIO, AWS S3 (via SNS) and SeaweedFS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectCreated {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded (no form-encoding left).
    pub key: String,
    /// Object size in bytes, when the event says.
    pub size: Option<u64>,
    /// ETag as lowercase hex (`-N` suffix kept for multipart), quotes stripped: see [`normalize_etag`].
    pub etag: String,
    /// Content type, when the provider sends one (MinIO and SeaweedFS do; AWS does not).
    pub content_type: Option<String>,
    /// Version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// Event name without the `s3:` prefix, e.g. `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`.
    pub event_name: String,
}

/// Why a notification body could not be normalized.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed event body: {0}")]
    Malformed(String),
    /// Neither S3 event records nor a SeaweedFS filer event.
    #[error("unrecognized event format")]
    UnknownFormat,
    /// An upload event lacks a field the record needs.
    #[error("upload event lacks {0}")]
    MissingField(&'static str),
    /// An object key is not valid form-encoding of UTF-8.
    #[error("invalid object key encoding")]
    InvalidKey,
    /// An ETag is empty, too long or not made of hex digits and `-`.
    #[error("invalid ETag")]
    InvalidEtag,
}

/// Normalizes an ETag the same way for every source (events, HEAD, ListParts): trims whitespace, strips one pair of
/// surrounding double quotes, lowercases; `None` unless the rest is 1..=128 ASCII hex digits or `-`.
pub fn normalize_etag(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let unquoted = trimmed
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(trimmed);
    let valid = !unquoted.is_empty()
        && unquoted.len() <= MAX_ETAG_LEN
        && unquoted.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    valid.then(|| unquoted.to_ascii_lowercase())
}

/// Parses a MinIO or SeaweedFS webhook body, telling the two formats apart by their top-level fields.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<ObjectCreated>, EventError> {
    parse_webhook_with_source(body).map(|(_, objects)| objects)
}

/// [`parse_webhook`], also naming the format it parsed: `seaweedfs-webhook` or `minio-webhook`.
pub fn parse_webhook_with_source(
    body: &[u8],
) -> Result<(&'static str, Vec<ObjectCreated>), EventError> {
    #[derive(Deserialize)]
    struct Probe {
        event_type: Option<IgnoredAny>,
        #[serde(rename = "Records")]
        records: Option<IgnoredAny>,
        #[serde(rename = "EventName")]
        event_name: Option<IgnoredAny>,
    }
    let probe: Probe = serde_json::from_slice(body).map_err(malformed)?;
    match probe {
        Probe {
            event_type: Some(_),
            records: None,
            event_name: None,
        } => parse_seaweedfs_event(body).map(|o| ("seaweedfs-webhook", o)),
        Probe {
            event_type: None,
            records,
            event_name,
        } if records.is_some() || event_name.is_some() => {
            parse_s3_event_records(body).map(|o| ("minio-webhook", o))
        }
        _ => Err(EventError::UnknownFormat),
    }
}

fn malformed(e: serde_json::Error) -> EventError {
    EventError::Malformed(e.to_string())
}
