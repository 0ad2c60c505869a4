//! Provider-neutral inputs and outputs of the signers. Pure data: no I/O, no clock.

/// What the policy decided for one upload, ready to be baked into a credential.
#[derive(Debug, Clone)]
pub struct UploadGrant<'a> {
    /// Exact object key (already validated against the key rules).
    pub key: &'a str,
    /// Content type the caller declared; pinned exactly in the credential when present.
    pub content_type: Option<&'a str>,
    /// The deciding rule's allowed content types (`image/*`, `video/mp4`); empty = any.
    pub content_types: &'a [String],
    /// Size the caller declared (a PUT signs it as `content-length`).
    pub size: Option<u64>,
    /// Upper bound of `content-length-range` / `fsizeLimit`.
    pub max_size: u64,
    /// `false` forbids replacing an existing object where the provider can enforce it.
    pub overwrite: bool,
    /// JWT `sub` of the caller.
    pub subject: &'a str,
    /// Unix seconds, the moment of signing.
    pub now: i64,
    /// Unix seconds, when the credential stops working.
    pub expires_at: i64,
    /// Where the provider should send a signed upload callback (ticket included), for stores that take one.
    pub callback_url: Option<&'a str>,
}

/// A credential for an HTML-form (`multipart/form-data`) POST upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormUpload {
    pub url: String,
    /// Form fields in the order the client should send them (the file goes last, as `file`). The names are
    /// the providers' constants: a static name costs no allocation per credential.
    pub fields: Vec<(&'static str, String)>,
}

/// A presigned URL and the exact headers the client must send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// Optional response header overrides of a download URL.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions<'a> {
    pub response_content_disposition: Option<&'a str>,
    pub response_content_type: Option<&'a str>,
}

impl<'a> DownloadOptions<'a> {
    /// The overrides given, as the `response-*` query parameters S3, COS and OSS sign into a GET URL.
    pub fn query(&self) -> Vec<(&'static str, &'a str)> {
        [
            (
                "response-content-disposition",
                self.response_content_disposition,
            ),
            ("response-content-type", self.response_content_type),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

/// Metadata of a stored object, from a signed HEAD / stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// Hex ETag / hash with any surrounding quotes stripped.
    pub etag: String,
    pub content_type: Option<String>,
    pub version_id: Option<String>,
}

/// Why a call to a storage provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The object or upload does not exist (S3 NoSuchKey / NoSuchUpload, 404).
    #[error("not found")]
    NotFound,
    /// The provider refused the client's input (InvalidPart, EntityTooSmall, ...).
    #[error("{0}")]
    BadRequest(String),
    /// The provider answered with an error or could not be reached.
    #[error("{0}")]
    Upstream(String),
    /// The provider could not be reached or its answer not read; `what` names the call and how it failed.
    #[error("{what}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    /// The provider cannot do this (PUT on Qiniu, ...): 422 `unsupported`.
    #[error("{0}")]
    Unsupported(String),
}

/// One uploaded part, as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1..=10000.
    pub part_number: u32,
    /// As returned, with its quotes (`"5d41..."`): the form a completion expects back.
    pub etag: String,
    /// Bytes in the part.
    pub size: u64,
    /// When the part was stored (unix milliseconds), when the provider says: of a part number listed twice
    /// (a re-sent part racing the original, on SeaweedFS) the latest counts.
    pub last_modified: Option<i64>,
}

/// The parts as a completion needs them: ascending, one per part number, the latest upload of a number kept
/// (by `last_modified`; the later listed on a tie). Every provider's listing goes through here
/// (`providers::uploaded_parts`), so the client, `max_size` and the completion all see the same list.
pub fn latest_per_part(mut parts: Vec<PartInfo>) -> Vec<PartInfo> {
    // Stable: equal (number, time) keep their listed order, and the last of each run is kept below.
    parts.sort_by_key(|p| (p.part_number, p.last_modified));
    let mut out: Vec<PartInfo> = Vec::with_capacity(parts.len());
    for part in parts {
        match out.last_mut() {
            Some(last) if last.part_number == part.part_number => *last = part,
            _ => out.push(part),
        }
    }
    out
}

/// Unix milliseconds of an RFC 3339 time (`LastModified` of S3-style listings).
pub fn rfc3339_millis(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The object a multipart completion made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    /// ETag with the surrounding quotes stripped, as in `ObjectInfo`.
    pub etag: String,
    /// When the provider's answer carries it (S3's does not; the listed parts give it).
    pub size: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, etag: &str, at: Option<i64>) -> PartInfo {
        PartInfo {
            part_number: n,
            etag: etag.to_owned(),
            size: 1,
            last_modified: at,
        }
    }

    #[test]
    fn a_part_listed_twice_counts_once_as_its_latest_upload() {
        let listed = vec![
            part(2, "new", Some(2_000)),
            part(1, "a", Some(1_000)),
            part(2, "old", Some(1_000)),
            part(3, "first", None),
            part(3, "second", None),
        ];
        let kept: Vec<(u32, String)> = latest_per_part(listed)
            .into_iter()
            .map(|p| (p.part_number, p.etag))
            .collect();
        assert_eq!(
            kept,
            [(1, "a".into()), (2, "new".into()), (3, "second".into())]
        );
        assert_eq!(latest_per_part(Vec::new()), Vec::new());
    }

    #[test]
    fn rfc3339_times_become_milliseconds() {
        assert_eq!(
            rfc3339_millis("2026-01-01T00:00:01.500Z"),
            Some(1_767_225_601_500)
        );
        assert_eq!(rfc3339_millis("yesterday"), None);
    }
}
