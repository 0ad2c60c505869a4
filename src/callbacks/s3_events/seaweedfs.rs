//! SeaweedFS filer webhook events (`notification.webhook`), as captured from SeaweedFS 4.48
//! (tests/fixtures/seaweedfs/). One event per POST: `{"event_type","key","message":{"old_entry","new_entry",…}}`.
//!
//! What the captures show: `key` is the full filer path `/buckets/<bucket>/<object key>`, raw (not encoded);
//! `extended` values are protobuf `bytes`, hence base64 in JSON; `Seaweed-X-Amz-ETag` is base64 of the ETag's ASCII
//! hex without quotes, equal to what S3 returns for PUT, copy and multipart (`…-N`) objects; a 0-byte object has
//! no `file_size` (protobuf JSON omits zeros); `mime` is absent when the client sent none or
//! `application/octet-stream`, and may be sniffed (`text/plain; charset=utf-8`) when the client sent none.

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;

use super::{malformed, normalize_etag, EventError, ObjectCreated};

/// Filer folder under which each directory is a bucket (SeaweedFS default).
const BUCKETS_PREFIX: &str = "/buckets/";
/// Per-bucket folder holding multipart staging entries (`.uploads/<upload id>/<part>.part`).
const MULTIPART_STAGING_PREFIX: &str = ".uploads/";
/// Suffix of the folder holding a versioned object's versions (`<key>.versions/v_<version id>`).
const VERSIONS_DIR_SUFFIX: &str = ".versions";
const ETAG_ATTR: &str = "Seaweed-X-Amz-ETag";
const VERSION_ID_ATTR: &str = "Seaweed-X-Amz-Version-Id";
const DELETE_MARKER_ATTR: &str = "Seaweed-X-Amz-Delete-Marker";
/// Present on the object a CompleteMultipartUpload writes.
const UPLOAD_ID_ATTR: &str = "X-Seaweedfs-Upload-Id";

#[derive(Deserialize)]
struct FilerEvent {
    event_type: String,
    key: String,
    message: Option<FilerMessage>,
}

#[derive(Deserialize)]
struct FilerMessage {
    old_entry: Option<Entry>,
    new_entry: Option<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    #[serde(default)]
    is_directory: bool,
    attributes: Option<Attributes>,
    extended: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct Attributes {
    file_size: Option<u64>,
    mime: Option<String>,
}

impl Entry {
    /// An `extended` attribute, base64-decoded to UTF-8.
    fn extended(&self, name: &str) -> Result<Option<String>, EventError> {
        let Some(encoded) = self.extended.as_ref().and_then(|ext| ext.get(name)) else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| EventError::Malformed(format!("{name} is not base64")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| EventError::Malformed(format!("{name} is not UTF-8")))
    }

    fn etag(&self) -> Result<Option<String>, EventError> {
        self.extended(ETAG_ATTR)?
            .map(|raw| normalize_etag(&raw).ok_or(EventError::InvalidEtag))
            .transpose()
    }

    fn size(&self) -> u64 {
        self.attributes
            .as_ref()
            .and_then(|a| a.file_size)
            .unwrap_or(0)
    }
}

/// The upload a SeaweedFS filer event reports, if any. Not uploads: `delete` and `rename` events, entries without
/// `new_entry`, directories (including `PUT key/` folder objects), paths outside `/buckets/<bucket>/` or in a
/// bucket named `.…` (`/buckets/.system`), `.uploads/` multipart staging, delete markers, entries without
/// `Seaweed-X-Amz-ETag` (written through the filer, not S3), and `update`s that keep the ETag and size (tagging,
/// a version becoming noncurrent).
pub fn parse_seaweedfs_event(body: &[u8]) -> Result<Vec<ObjectCreated>, EventError> {
    let event: FilerEvent = serde_json::from_slice(body).map_err(malformed)?;
    Ok(upload_of(event)?.into_iter().collect())
}

fn upload_of(event: FilerEvent) -> Result<Option<ObjectCreated>, EventError> {
    if event.event_type != "create" && event.event_type != "update" {
        return Ok(None);
    }
    let Some(FilerMessage {
        old_entry,
        new_entry: Some(entry),
    }) = event.message
    else {
        return Ok(None);
    };
    let Some((bucket, path)) = bucket_and_path(&event.key) else {
        return Ok(None);
    };
    if entry.is_directory || path.starts_with(MULTIPART_STAGING_PREFIX) {
        return Ok(None);
    }
    if path.rsplit('/').next() != Some(entry.name.as_str()) {
        return Err(EventError::Malformed(
            "key does not end with the entry name".into(),
        ));
    }
    if entry.extended(DELETE_MARKER_ATTR)?.as_deref() == Some("true") {
        return Ok(None);
    }
    let Some(etag) = entry.etag()? else {
        return Ok(None);
    };
    if let Some(old) = &old_entry {
        if old.etag()?.as_deref() == Some(etag.as_str()) && old.size() == entry.size() {
            return Ok(None);
        }
    }
    let version_id = entry.extended(VERSION_ID_ATTR)?;
    let key = match &version_id {
        Some(version) => versioned_object_key(path, version).unwrap_or(path),
        None => path,
    };
    let event_name = match entry.extended(UPLOAD_ID_ATTR)? {
        Some(_) => "ObjectCreated:CompleteMultipartUpload",
        None => "ObjectCreated:Put",
    };
    Ok(Some(ObjectCreated {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: Some(entry.size()),
        etag,
        content_type: entry
            .attributes
            .as_ref()
            .and_then(|a| a.mime.clone())
            .filter(|m| !m.is_empty()),
        version_id,
        event_name: event_name.to_owned(),
    }))
}

/// Splits `/buckets/<bucket>/<path>`; `None` for anything else or a bucket starting with `.` (SeaweedFS's own).
fn bucket_and_path(key: &str) -> Option<(&str, &str)> {
    let (bucket, path) = key.strip_prefix(BUCKETS_PREFIX)?.split_once('/')?;
    (!bucket.is_empty() && !bucket.starts_with('.') && !path.is_empty()).then_some((bucket, path))
}

/// `<key>.versions/v_<version>` → `<key>`: where a versioned bucket stores each version.
fn versioned_object_key<'a>(path: &'a str, version: &str) -> Option<&'a str> {
    let (dir, file) = path.rsplit_once('/')?;
    let file_version = file.strip_prefix("v_")?;
    if file_version != version {
        return None;
    }
    dir.strip_suffix(VERSIONS_DIR_SUFFIX)
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests;
