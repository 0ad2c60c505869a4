//! [`Provider`] for Qiniu Kodo. Uploads are form POSTs (no presigned PUT); multipart (resumable upload v2)
//! is answered `Unsupported` until its signer is wired here.
use futures_util::future::BoxFuture;

use crate::providers::{
    timed, unsupported, Capability, DownloadOptions, FormUpload, ObjectInfo, PartLimits, Provider,
    ProviderError, SignedUrl, UploadGrant,
};

use super::{CallbackSpec, QiniuStore};

impl Provider for QiniuStore {
    fn name(&self) -> &'static str {
        "qiniu"
    }

    fn require(&self, capability: Capability) -> Result<(), ProviderError> {
        match capability {
            Capability::PresignedPut => Err(ProviderError::Unsupported(
                "Qiniu uploads are form POSTs; use method POST".into(),
            )),
            Capability::Multipart => Err(unsupported("qiniu", "multipart upload")),
            _ => Ok(()),
        }
    }

    fn part_limits(&self) -> PartLimits {
        PartLimits::QINIU
    }

    fn location(&self, key: &str) -> Option<String> {
        let domain = self.download_domain.as_deref()?;
        Some(super::key_url(domain, key))
    }

    fn form_upload(&self, grant: &UploadGrant<'_>) -> Result<FormUpload, ProviderError> {
        let callback = grant.callback_url.map(|url| CallbackSpec { url });
        Ok(QiniuStore::form_upload(self, grant, callback.as_ref()))
    }

    fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<SignedUrl, ProviderError> {
        if opts.response_content_disposition.is_some() || opts.response_content_type.is_some() {
            return Err(ProviderError::Unsupported(
                "Qiniu private URLs take no response_* overrides".into(),
            ));
        }
        self.private_download_url(key, now, expires_at)
            .map_err(ProviderError::Unsupported)
    }

    fn stat<'a>(
        &'a self,
        http: &'a reqwest::Client,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, ProviderError>> {
        // Qiniu hashes are not hex: kept as they are, as the Qiniu callback spells them.
        Box::pin(timed("qiniu", "stat", QiniuStore::stat(self, http, key)))
    }
}
