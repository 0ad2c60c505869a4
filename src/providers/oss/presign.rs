//! The credentials a client uploads or downloads with: presigned V4 URLs and the POST form (pure).
use crate::providers::types::{DownloadOptions, FormUpload, SignedUrl, UploadGrant};

use super::post_policy::{self, PostPolicyInput};
use super::sign::Request;
use super::OssStore;

impl OssStore {
    /// A PostObject form: exact key, `content-length-range` 0..=max_size, exact Content-Type when given, and the
    /// `callback` field (pinned by the policy) when `callback` is given (see [`super::callback::broker_callback`]),
    /// and `x-oss-forbid-overwrite` when `!g.overwrite`.
    pub fn form_upload(&self, g: &UploadGrant<'_>, callback: Option<&str>) -> FormUpload {
        let (_, fields) = post_policy::sign_fields(
            &self.signer,
            &PostPolicyInput {
                bucket: &self.bucket,
                key: g.key,
                content_type: g.content_type,
                max_size: g.max_size,
                callback,
                forbid_overwrite: !g.overwrite,
                now: g.now,
                expires_at: g.expires_at,
            },
        );
        FormUpload {
            url: self.bucket_url(),
            fields,
        }
    }

    /// A presigned PUT. Content-Type, `x-oss-forbid-overwrite` (when `!g.overwrite`) and `x-oss-callback` are
    /// signed by default; the declared size is signed as `content-length` through `x-oss-additional-headers`.
    /// The client must send exactly the returned `headers`.
    pub fn presigned_put(&self, g: &UploadGrant<'_>, callback: Option<&str>) -> SignedUrl {
        let mut headers = Vec::new();
        if let Some(content_type) = g.content_type {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if let Some(size) = g.size {
            headers.push(("Content-Length".to_owned(), size.to_string()));
        }
        if !g.overwrite {
            headers.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        if let Some(callback) = callback {
            headers.push(("x-oss-callback".to_owned(), callback.to_owned()));
        }
        let url = self.presign_object("PUT", g.key, &[], &headers, g.now, g.expires_at);
        SignedUrl {
            method: "PUT",
            url,
            headers,
        }
    }

    /// A presigned GET; `response-*` overrides are signed query parameters.
    pub fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions<'_>,
        now: i64,
        expires_at: i64,
    ) -> SignedUrl {
        SignedUrl {
            method: "GET",
            url: self.presign_object("GET", key, &opts.query(), &[], now, expires_at),
            headers: Vec::new(),
        }
    }

    /// A presigned UploadPart (PUT `?partNumber=&uploadId=`, both signed). With `content_length`, the part's size
    /// is signed (`x-oss-additional-headers=content-length`) and returned as a header the client must send.
    pub fn presigned_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        content_length: Option<u64>,
        now: i64,
        expires_at: i64,
    ) -> SignedUrl {
        let part_number = part_number.to_string();
        let query = [
            ("partNumber", part_number.as_str()),
            ("uploadId", upload_id),
        ];
        let headers: Vec<(String, String)> = content_length
            .map(|n| ("Content-Length".to_owned(), n.to_string()))
            .into_iter()
            .collect();
        SignedUrl {
            method: "PUT",
            url: self.presign_object("PUT", key, &query, &headers, now, expires_at),
            headers,
        }
    }

    /// [`OssStore::presigned_upload_part`] URLs (no size pinned) for many part numbers: what
    /// `POST /v1/multipart/{id}/parts` hands out, in the shape of `S3Store::presigned_upload_parts`.
    pub fn presigned_upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        part_numbers: &[u32],
        now: i64,
        expires_at: i64,
    ) -> Vec<String> {
        part_numbers
            .iter()
            .map(|&n| {
                self.presigned_upload_part(key, upload_id, n, None, now, expires_at)
                    .url
            })
            .collect()
    }

    /// A query-signed URL valid until `expires_at` (clamped to 1 s..7 days from `now`). A `Content-Length` among
    /// `headers` is signed as an additional header; the default-signed ones are signed anyway.
    fn presign_object(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        now: i64,
        expires_at: i64,
    ) -> String {
        // The stores sign at most four headers (type, length, no-overwrite, callback): no list to allocate.
        let mut few = [("", ""); 4];
        let many: Vec<(&str, &str)>;
        let headers: &[(&str, &str)] = if headers.len() <= few.len() {
            for (slot, (n, v)) in few.iter_mut().zip(headers) {
                *slot = (n.as_str(), v.as_str());
            }
            &few[..headers.len()]
        } else {
            many = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            &many
        };
        let mut url = self.object_url_with_capacity(key, 640);
        url.push('?');
        self.signer.presign_into(
            &Request {
                method,
                bucket: &self.bucket,
                key,
                query,
                headers,
                additional_headers: &["content-length"],
                now,
            },
            expires_at.saturating_sub(now),
            &mut url,
            false,
        );
        url
    }
}
