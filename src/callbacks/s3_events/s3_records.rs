//! S3 event records, as MinIO webhooks send them and as S3 publishes them to SNS.

use serde::Deserialize;

use super::{malformed, normalize_etag, EventError, ObjectCreated};

/// MinIO names these `s3:ObjectCreated:*` although they only change an existing object's metadata.
const METADATA_ONLY_EVENTS: [&str; 4] = [
    "ObjectCreated:PutRetention",
    "ObjectCreated:PutLegalHold",
    "ObjectCreated:PutTagging",
    "ObjectCreated:DeleteTagging",
];

// Every field optional: records of other event kinds (ObjectRemoved has no size or eTag) must not fail the batch.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Option<BucketEntity>,
    object: Option<ObjectEntity>,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: Option<String>,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: Option<String>,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    e_tag: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
}

/// Upload records of an S3 event document: a MinIO webhook body or an S3 notification's SNS `Message`.
/// A document without `Records` (S3's `s3:TestEvent`) and records of other events give no upload.
pub fn parse_s3_event_records(json: &[u8]) -> Result<Vec<ObjectCreated>, EventError> {
    let envelope: Envelope = serde_json::from_slice(json).map_err(malformed)?;
    let mut uploads = Vec::new();
    for record in envelope.records.unwrap_or_default() {
        let Some(event_name) = record.event_name.as_deref().and_then(upload_event_name) else {
            continue;
        };
        let s3 = record.s3.ok_or(EventError::MissingField("s3"))?;
        let object = s3.object.ok_or(EventError::MissingField("s3.object"))?;
        let bucket = s3.bucket.and_then(|b| b.name).filter(|n| !n.is_empty());
        let raw_key = object
            .key
            .filter(|k| !k.is_empty())
            .ok_or(EventError::MissingField("s3.object.key"))?;
        let raw_etag = object
            .e_tag
            .ok_or(EventError::MissingField("s3.object.eTag"))?;
        uploads.push(ObjectCreated {
            bucket: bucket.ok_or(EventError::MissingField("s3.bucket.name"))?,
            key: form_decode(&raw_key)?,
            size: object.size,
            etag: normalize_etag(&raw_etag).ok_or(EventError::InvalidEtag)?,
            content_type: object.content_type.filter(|t| !t.is_empty()),
            version_id: object.version_id.filter(|v| !v.is_empty()),
            event_name: event_name.to_owned(),
        });
    }
    Ok(uploads)
}

/// The name without `s3:` when it is an upload (`ObjectCreated:*` minus metadata-only events).
fn upload_event_name(name: &str) -> Option<&str> {
    // MinIO prefixes `s3:`, AWS does not.
    let name = name.strip_prefix("s3:").unwrap_or(name);
    (name.starts_with("ObjectCreated:") && !METADATA_ONLY_EVENTS.contains(&name)).then_some(name)
}

/// Decodes an S3 event key: `application/x-www-form-urlencoded` style (`+` is a space, `%XX` a byte), strictly:
/// a `%` not followed by two hex digits or bytes that are not UTF-8 are errors, not passed through.
fn form_decode(raw: &str) -> Result<String, EventError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = input
                    .next()
                    .and_then(hex_value)
                    .ok_or(EventError::InvalidKey)?;
                let lo = input
                    .next()
                    .and_then(hex_value)
                    .ok_or(EventError::InvalidKey)?;
                bytes.push(hi << 4 | lo);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| EventError::InvalidKey)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests;
