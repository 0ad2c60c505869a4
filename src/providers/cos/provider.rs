//! [`Provider`] for Tencent COS. Multipart is answered `Unsupported` until its part signer is wired here.
use futures_util::future::BoxFuture;

use crate::providers::{
    timed, unsupported, Capability, DownloadOptions, FormUpload, ObjectInfo, PartLimits, Provider,
    ProviderError, SignedUrl, UploadGrant,
};

use super::presign::{encode_path, key_path};
use super::CosStore;

impl Provider for CosStore {
    fn name(&self) -> &'static str {
        "cos"
    }

    fn require(&self, capability: Capability) -> Result<(), ProviderError> {
        match capability {
            Capability::Multipart => Err(unsupported("cos", "multipart upload")),
            _ => Ok(()),
        }
    }

    fn part_limits(&self) -> PartLimits {
        PartLimits::COS
    }

    fn location(&self, key: &str) -> Option<String> {
        Some(format!("{}{}", self.base_url, encode_path(&key_path(key))))
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
}
