//! [`Provider`] for S3 and S3-compatible stores: adapters over the pure signers and the server-side client.
use futures_util::future::BoxFuture;

use crate::providers::{
    timed, CompletedUpload, DownloadOptions, FormUpload, ObjectInfo, PartInfo, PartLimits,
    PartRequest, Provider, ProviderError, SignedUrl, UploadGrant,
};

use super::sigv4::uri_encode;
use super::S3Store;

impl Provider for S3Store {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn part_limits(&self) -> PartLimits {
        PartLimits::S3
    }

    fn location(&self, key: &str) -> Option<String> {
        let (host, path) = self.object_location(key);
        Some(format!(
            "{}://{host}{}",
            self.scheme,
            uri_encode(&path, false)
        ))
    }

    fn form_upload(&self, grant: &UploadGrant<'_>) -> Result<FormUpload, ProviderError> {
        Ok(S3Store::form_upload(self, grant))
    }

    fn presigned_put(&self, grant: &UploadGrant<'_>) -> Result<SignedUrl, ProviderError> {
        Ok(S3Store::presigned_put(self, grant))
    }

    fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<SignedUrl, ProviderError> {
        Ok(S3Store::presigned_get(self, key, opts, now, expires_at))
    }

    fn stat<'a>(
        &'a self,
        http: &'a reqwest::Client,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, ProviderError>> {
        Box::pin(async move {
            let mut info = timed("s3", "head", self.head_object(http, key)).await?;
            // The same ETag spelling as the callbacks give, so a confirm and a callback share one idempotency key.
            info.etag = crate::callbacks::normalize_etag(&info.etag).unwrap_or(info.etag);
            Ok(info)
        })
    }

    fn initiate_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(timed(
            "s3",
            "initiate_multipart",
            self.create_multipart_upload(http, grant.key, grant.content_type),
        ))
    }

    /// Parts that share a length are signed as one batch (the fast path of `presigned_upload_parts`): with a
    /// declared size that is every part but the last.
    fn sign_parts(
        &self,
        grant: &UploadGrant<'_>,
        upload_id: &str,
        parts: &[PartRequest],
        expires_at: i64,
    ) -> Result<Vec<SignedUrl>, ProviderError> {
        let mut out: Vec<Option<SignedUrl>> = vec![None; parts.len()];
        let mut lengths: Vec<Option<u64>> = parts.iter().map(|p| p.content_length).collect();
        lengths.sort_unstable();
        lengths.dedup();
        for length in lengths {
            let (indices, numbers): (Vec<usize>, Vec<u32>) = parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.content_length == length)
                .map(|(i, p)| (i, p.part_number))
                .unzip();
            let length_text = length.map(|l| l.to_string());
            let signed: Vec<(&str, &str)> = length_text
                .as_deref()
                .map(|l| vec![("content-length", l)])
                .unwrap_or_default();
            let headers: Vec<(String, String)> = length_text
                .iter()
                .map(|l| ("Content-Length".to_owned(), l.clone()))
                .collect();
            let urls = self.presigned_upload_parts_signing(
                grant.key, upload_id, &numbers, &signed, grant.now, expires_at,
            );
            for (i, url) in indices.into_iter().zip(urls) {
                out[i] = Some(SignedUrl {
                    method: "PUT",
                    url,
                    headers: headers.clone(),
                });
            }
        }
        out.into_iter()
            .map(|u| u.ok_or_else(|| ProviderError::Upstream("a part was not signed".into())))
            .collect()
    }

    fn list_parts<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, ProviderError>> {
        Box::pin(timed(
            "s3",
            "list_parts",
            S3Store::list_parts(self, http, grant.key, upload_id),
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
            "s3",
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
            "s3",
            "abort_multipart",
            self.abort_multipart_upload(http, grant.key, upload_id),
        ))
    }
}
