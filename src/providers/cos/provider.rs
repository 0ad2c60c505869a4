//! [`Provider`] for Tencent COS: adapters over the pure signers and the server-side calls.
use futures_util::future::BoxFuture;

use crate::providers::{
    timed, CompletedUpload, DownloadOptions, FormUpload, ObjectInfo, PartInfo, PartLimits,
    PartRequest, Provider, ProviderError, SignedUrl, UploadGrant,
};

use super::multipart::{InitiateOptions, PartPins};
use super::CosStore;

impl Provider for CosStore {
    fn name(&self) -> &'static str {
        "cos"
    }

    fn part_limits(&self) -> PartLimits {
        PartLimits::COS
    }

    fn location(&self, key: &str) -> Option<String> {
        Some(self.object_url(key))
    }

    fn form_upload(&self, grant: &UploadGrant<'_>) -> Result<FormUpload, ProviderError> {
        Ok(CosStore::form_upload(self, grant))
    }

    fn presigned_put(&self, grant: &UploadGrant<'_>) -> Result<SignedUrl, ProviderError> {
        Ok(CosStore::presigned_put(self, grant))
    }

    fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<SignedUrl, ProviderError> {
        Ok(CosStore::presigned_get(self, key, opts, now, expires_at))
    }

    fn stat<'a>(
        &'a self,
        http: &'a reqwest::Client,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, ProviderError>> {
        Box::pin(async move {
            let mut info = timed("cos", "head", self.head_object(http, key)).await?;
            info.etag = crate::callbacks::normalize_etag(&info.etag).unwrap_or(info.etag);
            Ok(info)
        })
    }

    /// The declared content type becomes the object's; without overwrite, `x-cos-forbid-overwrite` makes
    /// COS refuse a Complete onto an existing key.
    fn initiate_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let opts = InitiateOptions {
                content_type: grant.content_type,
                forbid_overwrite: !grant.overwrite,
                metadata: &[],
            };
            timed(
                "cos",
                "initiate_multipart",
                self.create_multipart_upload(http, grant.key, &opts),
            )
            .await
        })
    }

    /// q-signed UploadPart URLs; a known part length is a signed `content-length`.
    fn sign_parts(
        &self,
        grant: &UploadGrant<'_>,
        upload_id: &str,
        parts: &[PartRequest],
        expires_at: i64,
    ) -> Result<Vec<SignedUrl>, ProviderError> {
        Ok(parts
            .iter()
            .map(|part| {
                let pins = PartPins {
                    content_length: part.content_length,
                    content_md5: None,
                };
                self.presigned_upload_part(
                    grant.key,
                    upload_id,
                    part.part_number,
                    &pins,
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
            "cos",
            "list_parts",
            CosStore::list_parts(self, http, grant.key, upload_id),
        ))
    }

    fn complete_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
        parts: &'a [(u32, String)],
    ) -> BoxFuture<'a, Result<CompletedUpload, ProviderError>> {
        Box::pin(timed(
            "cos",
            "complete_multipart",
            self.complete_multipart_upload(http, grant.key, upload_id, parts),
        ))
    }

    fn abort_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(timed(
            "cos",
            "abort_multipart",
            self.abort_multipart_upload(http, grant.key, upload_id),
        ))
    }
}
