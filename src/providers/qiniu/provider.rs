//! [`Provider`] for Qiniu Kodo. Uploads are form POSTs (no presigned PUT); multipart is resumable upload v2,
//! every request of an upload carrying the one upload token minted from its grant.
use futures_util::future::BoxFuture;

use crate::providers::{
    timed, Capability, CompletedUpload, DownloadOptions, FormUpload, ObjectInfo, PartInfo,
    PartLimits, PartRequest, Provider, ProviderError, SignedUrl, UploadGrant,
};

use super::resumable::CompleteFields;
use super::{CallbackSpec, QiniuStore};

impl QiniuStore {
    /// The upload token of a multipart upload, from its grant: scope `bucket:key`, deadline = the upload's
    /// expiry, `fsizeLimit`, `mimeLimit`, `insertOnly`, and the callback when the store takes callbacks (so the
    /// upload is recorded like a form upload). The grant is rebuilt identically from the handle on every call,
    /// so every call carries the same token.
    fn grant_token(&self, grant: &UploadGrant<'_>) -> String {
        let callback = grant.callback_url.map(|url| CallbackSpec { url });
        self.multipart_token(grant, callback.as_ref())
    }
}

impl Provider for QiniuStore {
    fn name(&self) -> &'static str {
        "qiniu"
    }

    fn require(&self, capability: Capability) -> Result<(), ProviderError> {
        match capability {
            Capability::PresignedPut => Err(ProviderError::Unsupported(
                "Qiniu uploads are form POSTs; use method POST".into(),
            )),
            _ => Ok(()),
        }
    }

    fn part_limits(&self) -> PartLimits {
        PartLimits::QINIU
    }

    fn location(&self, key: &str) -> Option<String> {
        self.object_url(key)
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

    fn initiate_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let token = self.grant_token(grant);
            timed(
                "qiniu",
                "initiate_multipart",
                QiniuStore::initiate_multipart(self, http, grant.key, &token),
            )
            .await
        })
    }

    /// `PUT …/uploads/{id}/{n}` with `Authorization: UpToken`. The token lives as long as the upload
    /// (`grant.expires_at`), not `expires_at`: Qiniu checks the same token on every call and at complete, and a
    /// part request cannot pin its length (the token's `fsizeLimit` bounds the object at complete).
    fn sign_parts(
        &self,
        grant: &UploadGrant<'_>,
        upload_id: &str,
        parts: &[PartRequest],
        expires_at: i64,
    ) -> Result<Vec<SignedUrl>, ProviderError> {
        let _ = expires_at;
        let token = self.grant_token(grant);
        Ok(parts
            .iter()
            .map(|part| self.part_request(grant.key, &token, upload_id, part.part_number, None))
            .collect())
    }

    fn list_parts<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, ProviderError>> {
        Box::pin(async move {
            let token = self.grant_token(grant);
            timed(
                "qiniu",
                "list_parts",
                QiniuStore::list_parts(self, http, grant.key, &token, upload_id),
            )
            .await
        })
    }

    /// The complete names the file (`fname`: the key's last segment) and the declared type; with a callback
    /// Qiniu calls the broker before it answers, and relays the broker's answer (hash and size).
    fn complete_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
        parts: &'a [(u32, String)],
    ) -> BoxFuture<'a, Result<CompletedUpload, ProviderError>> {
        Box::pin(async move {
            let token = self.grant_token(grant);
            let fields = CompleteFields {
                fname: grant.key.rsplit('/').next().filter(|name| !name.is_empty()),
                mime_type: grant.content_type,
                ..CompleteFields::default()
            };
            timed(
                "qiniu",
                "complete_multipart",
                QiniuStore::complete_multipart(
                    self, http, grant.key, &token, upload_id, parts, &fields,
                ),
            )
            .await
        })
    }

    fn abort_multipart<'a>(
        &'a self,
        http: &'a reqwest::Client,
        grant: &'a UploadGrant<'a>,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let token = self.grant_token(grant);
            timed(
                "qiniu",
                "abort_multipart",
                QiniuStore::abort_multipart(self, http, grant.key, &token, upload_id),
            )
            .await
        })
    }
}
