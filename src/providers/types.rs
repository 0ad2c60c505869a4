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
    /// Form fields in the order the client should send them (the file goes last, as `file`).
    pub fields: Vec<(String, String)>,
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
}

/// The object a multipart completion made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    /// ETag with the surrounding quotes stripped, as in `ObjectInfo`.
    pub etag: String,
    /// When the provider's answer carries it (S3's does not; the listed parts give it).
    pub size: Option<u64>,
}
