//! The credentials a client uploads or downloads with: presigned URLs and the POST form (pure).
use crate::providers::types::{DownloadOptions, FormUpload, SignedUrl, UploadGrant};

use super::post_policy::{self, PostPolicyInput};
use super::sigv4::{QueryRequest, UNSIGNED_PAYLOAD};
use super::S3Store;

impl S3Store {
    /// An HTML-form POST to the bucket URL: exact key, `content-length-range` 0..=max_size, exact Content-Type when given.
    pub fn form_upload(&self, g: &UploadGrant<'_>) -> FormUpload {
        let (_, fields) = post_policy::sign_fields(
            &self.signer,
            &PostPolicyInput {
                bucket: &self.bucket,
                key: g.key,
                content_type: g.content_type,
                max_size: g.max_size,
                now: g.now,
                expires_at: g.expires_at,
            },
        );
        FormUpload {
            url: self.bucket_url(),
            fields,
        }
    }

    /// A presigned PUT. `content-type` and `content-length` are signed when known, so the client must send
    /// exactly the returned `headers`. No checksum parameters: S3-compatible servers reject them.
    pub fn presigned_put(&self, g: &UploadGrant<'_>) -> SignedUrl {
        let mut headers = Vec::with_capacity(2);
        if let Some(content_type) = g.content_type {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if let Some(size) = g.size {
            headers.push(("Content-Length".to_owned(), size.to_string()));
        }
        // The signed names are the returned ones lowercased (at most two: no list to allocate).
        let mut signed = [("", ""); 2];
        for (slot, (name, value)) in signed.iter_mut().zip(&headers) {
            let lower = if name == "Content-Type" {
                "content-type"
            } else {
                "content-length"
            };
            *slot = (lower, value.as_str());
        }
        let url = self.presign_object(
            "PUT",
            g.key,
            &[],
            &signed[..headers.len()],
            g.now,
            g.expires_at,
        );
        SignedUrl {
            method: "PUT",
            url,
            headers,
        }
    }

    /// A presigned GET; `response-*` overrides are signed query parameters, so the client cannot change them.
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

    /// A presigned UploadPart (PUT `?partNumber=&uploadId=`, both signed).
    pub fn presigned_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        now: i64,
        expires_at: i64,
    ) -> SignedUrl {
        let part_number = part_number.to_string();
        let query = [
            ("partNumber", part_number.as_str()),
            ("uploadId", upload_id),
        ];
        SignedUrl {
            method: "PUT",
            url: self.presign_object("PUT", key, &query, &[], now, expires_at),
            headers: Vec::new(),
        }
    }

    /// [`S3Store::presigned_upload_part`] for many part numbers at once, byte for byte the same URLs, with the
    /// work every part shares done once (what `POST /v1/multipart/{id}/parts` needs, up to 1000 a call).
    pub fn presigned_upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        part_numbers: &[u32],
        now: i64,
        expires_at: i64,
    ) -> Vec<String> {
        self.presigned_upload_parts_signing(key, upload_id, part_numbers, &[], now, expires_at)
    }

    /// [`S3Store::presigned_upload_parts`] with extra signed `headers` (lowercase names), e.g. every part's
    /// exact `content-length`, so the URLs admit no other body size.
    pub fn presigned_upload_parts_signing(
        &self,
        key: &str,
        upload_id: &str,
        part_numbers: &[u32],
        headers: &[(&str, &str)],
        now: i64,
        expires_at: i64,
    ) -> Vec<String> {
        let (host, path) = self.object_location(key);
        let numbers: Vec<String> = part_numbers.iter().map(u32::to_string).collect();
        self.signer.presign_urls_varying(
            &QueryRequest {
                method: "PUT",
                scheme: &self.scheme,
                host,
                path: &path,
                query: &[("partNumber", ""), ("uploadId", upload_id)],
                headers,
                payload_hash: UNSIGNED_PAYLOAD,
                now,
                expires: expires_at.saturating_sub(now),
            },
            "partNumber",
            numbers.iter().map(String::as_str),
        )
    }

    fn presign_object(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        now: i64,
        expires_at: i64,
    ) -> String {
        let (host, path) = self.object_location(key);
        // The URL alone: the intermediate strings are for tests.
        self.signer.presign_url(&QueryRequest {
            method,
            scheme: &self.scheme,
            host,
            path: &path,
            query,
            headers,
            payload_hash: UNSIGNED_PAYLOAD,
            now,
            // The signer clamps to 1..=604800; saturating keeps absurd inputs from overflowing.
            expires: expires_at.saturating_sub(now),
        })
    }
}
