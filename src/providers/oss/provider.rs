//! [`Provider`] for Aliyun OSS: adapters over the pure V4 signers and the server-side client. With callbacks on
//! (the grant carries the ticketed callback URL), every upload credential and the Complete carry the broker's
//! `callback` / `x-oss-callback` (docs/API.md, "Provider callbacks").
use futures_util::future::BoxFuture;

use crate::callbacks::normalize_etag;
use crate::providers::{
    timed, CompletedUpload, DownloadOptions, FormUpload, ObjectInfo, PartInfo, PartLimits,
    PartRequest, Provider, ProviderError, SignedUrl, UploadGrant,
};

use super::{callback, OssStore};

/// The `callback` value a credential carries for `grant`, when the store takes callbacks.
fn callback_of(grant: &UploadGrant<'_>) -> Option<String> {
    grant
        .callback_url
        .map(|url| callback::broker_callback(url, grant.subject))
}

/// The ETag spelling callbacks and confirms share (lowercase hex, quotes stripped), so both give one
/// idempotency key; anything else is kept as it came.
fn normalized(etag: String) -> String {
    normalize_etag(&etag).unwrap_or(etag)
}

impl Provider for OssStore {
    fn name(&self) -> &'static str {
        "oss"
    }

    fn part_limits(&self) -> PartLimits {
        PartLimits::OSS
    }

    fn location(&self, key: &str) -> Option<String> {
        Some(self.object_url(key))
    }

    fn form_upload(&self, grant: &UploadGrant<'_>) -> Result<FormUpload, ProviderError> {
        Ok(OssStore::form_upload(
            self,
            grant,
            callback_of(grant).as_deref(),
        ))
    }

    fn presigned_put(&self, grant: &UploadGrant<'_>) -> Result<SignedUrl, ProviderError> {
        Ok(OssStore::presigned_put(
            self,
            grant,
            callback_of(grant).as_deref(),
        ))
    }

    fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<SignedUrl, ProviderError> {
        Ok(OssStore::presigned_get(self, key, opts, now, expires_at))
    }

    fn stat<'a>(
        &'a self,
        http: &'a reqwest::Client,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, ProviderError>> {
        Box::pin(async move {
            let mut info = timed("oss", "head", self.head_object(http, key)).await?;
            info.etag = normalized(info.etag);
            Ok(info)
        })
    }

    fn initiate_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(timed(
            "oss",
            "initiate_multipart",
            self.initiate_multipart_upload(http, grant.key, grant.content_type, !grant.overwrite),
        ))
    }

    fn sign_parts(
        &self,
        grant: &UploadGrant<'_>,
        upload_id: &str,
        parts: &[PartRequest],
        expires_at: i64,
    ) -> Result<Vec<SignedUrl>, ProviderError> {
        Ok(parts
            .iter()
            .map(|p| {
                self.presigned_upload_part(
                    grant.key,
                    upload_id,
                    p.part_number,
                    p.content_length,
                    grant.now,
                    expires_at,
                )
            })
            .collect())
    }

    fn list_parts<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, ProviderError>> {
        Box::pin(timed(
            "oss",
            "list_parts",
            OssStore::list_parts(self, http, grant.key, upload_id),
        ))
    }

    /// With callbacks, OSS calls the broker before it answers and relays the broker's JSON: the ETag comes from
    /// the `ETag` header, else from that JSON.
    fn complete_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
        parts: &'a [(u32, String)],
    ) -> BoxFuture<'a, Result<CompletedUpload, ProviderError>> {
        Box::pin(async move {
            let callback = callback_of(grant);
            let done = timed(
                "oss",
                "complete_multipart",
                self.complete_multipart_upload(
                    http,
                    grant.key,
                    upload_id,
                    parts,
                    callback.as_deref(),
                    !grant.overwrite,
                ),
            )
            .await?;
            let relayed: Option<serde_json::Value> = done
                .callback_answer
                .as_deref()
                .and_then(|body| serde_json::from_slice(body).ok());
            let etag = done
                .etag
                .or_else(|| {
                    relayed
                        .as_ref()
                        .and_then(|v| v["etag"].as_str().map(str::to_owned))
                })
                .ok_or_else(|| {
                    ProviderError::Upstream(
                        "OSS CompleteMultipartUpload: answer without ETag".to_owned(),
                    )
                })?;
            Ok(CompletedUpload {
                etag: normalized(etag),
                size: relayed.as_ref().and_then(|v| v["size"].as_u64()),
            })
        })
    }

    fn abort_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(timed(
            "oss",
            "abort_multipart",
            self.abort_multipart_upload(http, grant.key, upload_id),
        ))
    }
}
