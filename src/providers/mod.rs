//! Storage providers behind one interface, [`Provider`]: the routes call it without knowing which provider a
//! store uses, and what a provider cannot do it answers itself with [`ProviderError::Unsupported`] (422).
//!
//! Signers stay pure functions of (credentials, request, time) inside each provider module; the trait methods
//! are thin adapters over them, plus the server-side calls (multipart bookkeeping, HEAD/stat) that do I/O.
//! To add a capability, add a method here with a default that answers `Unsupported`, implement it in the
//! providers that can do it, and call it from the route (docs/ARCHITECTURE.md).
pub mod common;
pub mod cos;
#[cfg(test)]
pub(crate) mod loopback;
pub mod oss;
pub mod qiniu;
pub mod s3;
pub mod s3_like;
pub mod store;
pub mod types;
pub mod xml;

use futures_util::future::BoxFuture;

pub use store::Store;
pub use types::*;

/// A provider's multipart limits (docs/API.md "Multipart uploads").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLimits {
    /// Smallest part the provider accepts (all but the last).
    pub min_part_size: u64,
    /// Largest part the provider accepts.
    pub max_part_size: u64,
    /// Highest part number.
    pub max_parts: u32,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl PartLimits {
    /// S3 (and S3-compatible servers): 5 MiB ..= 5 GiB, 10,000 parts.
    pub const S3: PartLimits = PartLimits {
        min_part_size: 5 * MIB,
        max_part_size: 5 * GIB,
        max_parts: 10_000,
    };
    /// Tencent COS: 1 MiB ..= 5 GiB, 10,000 parts.
    pub const COS: PartLimits = PartLimits {
        min_part_size: MIB,
        max_part_size: 5 * GIB,
        max_parts: 10_000,
    };
    /// Qiniu resumable upload v2: 1 MiB ..= 1 GiB, 10,000 parts.
    pub const QINIU: PartLimits = PartLimits {
        min_part_size: MIB,
        max_part_size: GIB,
        max_parts: 10_000,
    };
    /// Aliyun OSS: 100 KiB ..= 5 GiB, 10,000 parts.
    pub const OSS: PartLimits = PartLimits {
        min_part_size: 100 << 10,
        max_part_size: 5 * GIB,
        max_parts: 10_000,
    };
}

/// One part to presign. With `content_length` the provider signs the part's exact length, so the URL admits
/// no other body size (docs/API.md "Multipart uploads", bounding incomplete uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRequest {
    pub part_number: u32,
    pub content_length: Option<u64>,
}

/// What a route may ask a provider for; checked before the policy so that an impossible request is a 422
/// whoever asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    FormUpload,
    PresignedPut,
    PresignedGet,
    Multipart,
}

/// One storage provider, configured for one bucket. Every method has the meaning of docs/API.md; a provider
/// that cannot do something keeps the default, which answers [`ProviderError::Unsupported`].
///
/// Multipart calls take the [`UploadGrant`] the upload was created under (key, subject, content type,
/// `max_size`, overwrite, callback URL, expiry): providers whose part or completion requests carry a token with
/// those constraints (Qiniu's `UpToken`, OSS's callback) build it from the grant.
pub trait Provider: Send + Sync {
    /// `s3`, `cos`, `qiniu`, `oss` (the `provider` of answers, metrics labels).
    fn name(&self) -> &'static str;

    /// `Ok` when the provider can do `capability`, else the reason as `Unsupported`.
    fn require(&self, capability: Capability) -> Result<(), ProviderError> {
        let _ = capability;
        Ok(())
    }

    /// Multipart part-size and part-count limits.
    fn part_limits(&self) -> PartLimits;

    /// The object's plain, unsigned URL (`location` of a completed multipart upload), when there is one.
    fn location(&self, key: &str) -> Option<String>;

    /// An HTML-form POST credential.
    fn form_upload(&self, grant: &UploadGrant<'_>) -> Result<FormUpload, ProviderError>;

    /// A presigned PUT; `content-type` and `content-length` signed when the grant fixes them.
    fn presigned_put(&self, grant: &UploadGrant<'_>) -> Result<SignedUrl, ProviderError> {
        let _ = grant;
        Err(unsupported(self.name(), "presigned PUT"))
    }

    /// A presigned GET (download URL).
    fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<SignedUrl, ProviderError>;

    /// Size, ETag (normalized the way callbacks spell it) and type of a stored object: signed HEAD or stat.
    fn stat<'a>(
        &'a self,
        http: &'a reqwest::Client,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, ProviderError>>;

    /// Initiate a multipart upload; returns the provider's upload id.
    fn initiate_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        let _ = (http, grant);
        Box::pin(async move { Err(unsupported(self.name(), "multipart upload")) })
    }

    /// One presigned request per part, in the order of `parts`, valid from `grant.now` to `expires_at`
    /// (at most the upload's own expiry, `grant.expires_at`, which a provider minting a token for the whole
    /// upload uses instead, so that every call of the upload carries the same token).
    fn sign_parts(
        &self,
        grant: &UploadGrant<'_>,
        upload_id: &str,
        parts: &[PartRequest],
        expires_at: i64,
    ) -> Result<Vec<SignedUrl>, ProviderError> {
        let _ = (grant, upload_id, parts, expires_at);
        Err(unsupported(self.name(), "multipart upload"))
    }

    /// Every uploaded part (all pages) as the provider lists them; callers use [`uploaded_parts`], which
    /// keeps one per part number.
    fn list_parts<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, ProviderError>> {
        let _ = (http, grant, upload_id);
        Box::pin(async move { Err(unsupported(self.name(), "multipart upload")) })
    }

    /// Complete with `(part number, ETag as listed)` in ascending order.
    fn complete_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
        parts: &'a [(u32, String)],
    ) -> BoxFuture<'a, Result<CompletedUpload, ProviderError>> {
        let _ = (http, grant, upload_id, parts);
        Box::pin(async move { Err(unsupported(self.name(), "multipart upload")) })
    }

    /// Abort; the parts are deleted.
    fn abort_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = (http, grant, upload_id);
        Box::pin(async move { Err(unsupported(self.name(), "multipart upload")) })
    }
}

/// The uploaded parts of an upload, the same way for every provider: ascending, one per part number (the
/// latest upload of a number, see [`latest_per_part`]). What the list route shows and what complete checks and
/// sends.
pub async fn uploaded_parts(
    provider: &dyn Provider,
    http: &reqwest::Client,
    grant: &UploadGrant<'_>,
    upload_id: &str,
) -> Result<Vec<PartInfo>, ProviderError> {
    Ok(latest_per_part(
        provider.list_parts(http, grant, upload_id).await?,
    ))
}

/// The `Unsupported` answer for `what` on `provider`.
pub fn unsupported(provider: &str, what: &str) -> ProviderError {
    ProviderError::Unsupported(format!("{provider} stores do not support {what} here"))
}

/// Times one provider HTTP call into `upstream_request_duration_seconds{provider, operation}`.
pub async fn timed<T>(
    provider: &'static str,
    operation: &'static str,
    call: impl std::future::Future<Output = T>,
) -> T {
    let started = std::time::Instant::now();
    let out = call.await;
    metrics::histogram!("upstream_request_duration_seconds", "provider" => provider, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    out
}
