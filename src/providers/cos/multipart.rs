//! COS multipart upload (docs/PROVIDERS.md, Tencent COS): presigned UploadPart URLs for clients, and the
//! server-side Initiate / ListParts / Complete / Abort calls. Each call is first built as a pure [`CosCall`]
//! (`CosStore::signed_call`, shared with HEAD) from (store, request, time), so the known-answer vectors pin it
//! byte for byte; the answers are S3-style XML, parsed by `providers::xml`; the `async` methods only send and
//! read.
//!
//! Server-side calls sign what cos-python-sdk-v5 signs: `host`, `content-length` (also `0` on an empty POST or
//! DELETE), `content-type`, the `x-cos-*` headers, and every query parameter.

use std::time::Duration;

use quick_xml::escape::escape;
use reqwest::Method;

use crate::providers::common::{all_pages, is_header_value, send_bounded, Answer};
use crate::providers::types::{CompletedUpload, PartInfo, ProviderError, SignedUrl};
use crate::providers::xml;

use super::{CosCall, CosStore};

/// Lifetime of a server-side call's signature: it is sent at once.
const SERVER_CALL_SECONDS: i64 = 600;
/// Complete may take long on a big object (COS streams spaces while it merges), more than the shared
/// client's total timeout allows; the other calls keep the client's own.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read (a ListParts page of 1000 parts is about 250 KB).
const MAX_ANSWER_BYTES: usize = 4 << 20;
/// Parts asked per ListParts page (the COS maximum).
pub const LIST_PAGE_SIZE: u32 = 1000;
/// How errors name the provider.
const VENDOR: &str = "COS";

/// What an Initiate sets on the object-to-be.
#[derive(Debug, Clone, Copy, Default)]
pub struct InitiateOptions<'a> {
    /// Becomes the object's `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `x-cos-forbid-overwrite: true`: Complete fails if the key exists (buckets that never enabled versioning).
    pub forbid_overwrite: bool,
    /// `x-cos-meta-*` headers, stored as object metadata.
    pub metadata: &'a [(&'a str, &'a str)],
}

/// Headers a presigned UploadPart URL pins: the client must send exactly these values.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartPins<'a> {
    /// The part's exact length, signed as `content-length` (known when the upload's size was declared).
    pub content_length: Option<u64>,
    /// Base64 MD5 of the part, signed as `content-md5`.
    pub content_md5: Option<&'a str>,
}

/// The headers and query parameters a presigned UploadPart signs, besides `host` and the STS token. The
/// names keep the SDK's case: the signature lowercases them (`partnumber;uploadid`), the URL does not.
struct PartSignables {
    /// The pinned headers, also handed to the client.
    headers: Vec<(String, String)>,
    /// `partNumber`, `uploadId`, in the URL's order.
    params: [(&'static str, String); 2],
}

fn upload_part_signables(upload_id: &str, part_number: u32, pins: &PartPins) -> PartSignables {
    let mut headers = Vec::new();
    if let Some(length) = pins.content_length {
        headers.push(("Content-Length".to_owned(), length.to_string()));
    }
    if let Some(md5) = pins.content_md5 {
        headers.push(("Content-MD5".to_owned(), md5.to_owned()));
    }
    let params = [
        ("partNumber", part_number.to_string()),
        ("uploadId", upload_id.to_owned()),
    ];
    PartSignables { headers, params }
}

/// The CompleteMultipartUpload body as the Python SDK writes it: XML declaration, no whitespace, parts in
/// ascending order, ETags with their quotes escaped (`&quot;`). Escaping also keeps client input from
/// adding elements.
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let mut sorted: Vec<&(u32, String)> = parts.iter().collect();
    sorted.sort_by_key(|(number, _)| *number);
    let mut body =
        String::from(r#"<?xml version="1.0" encoding="utf-8"?><CompleteMultipartUpload>"#);
    for (number, etag) in sorted {
        body.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag.as_str())
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

impl CosStore {
    /// A presigned `PUT /<key>?partNumber=N&uploadId=ID`, valid from `now` (backdated) to `expires_at`.
    pub fn presigned_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        pins: &PartPins,
        now: i64,
        expires_at: i64,
    ) -> SignedUrl {
        let PartSignables { headers, params } = upload_part_signables(upload_id, part_number, pins);
        let params = params
            .each_ref()
            .map(|(name, value)| (*name, value.as_str()));
        let url = self.presigned_url("PUT", key, &headers, &params, now, expires_at);
        SignedUrl {
            method: "PUT",
            url,
            headers,
        }
    }

    /// `POST /<key>?uploads=` (the SDK's spelling), empty body.
    pub fn initiate_call(
        &self,
        key: &str,
        opts: &InitiateOptions,
        now: i64,
        expires_at: i64,
    ) -> CosCall {
        let mut headers = Vec::new();
        if let Some(content_type) = opts.content_type {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if opts.forbid_overwrite {
            headers.push(("x-cos-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        for (name, value) in opts.metadata {
            headers.push(((*name).to_owned(), (*value).to_owned()));
        }
        headers.push(("Content-Length".to_owned(), "0".to_owned()));
        self.signed_call(
            Method::POST,
            key,
            &[("uploads", "")],
            headers,
            Vec::new(),
            now,
            expires_at,
        )
    }

    /// One ListParts page: `GET /<key>?uploadId=&part-number-marker=&max-parts=&encoding-type=url`, all
    /// four signed, as the SDK sends them (`marker` 0 = the first page).
    pub fn list_parts_call(
        &self,
        key: &str,
        upload_id: &str,
        marker: u32,
        max_parts: u32,
        now: i64,
        expires_at: i64,
    ) -> CosCall {
        let (marker, max_parts) = (marker.to_string(), max_parts.to_string());
        let params = [
            ("uploadId", upload_id),
            ("part-number-marker", marker.as_str()),
            ("max-parts", max_parts.as_str()),
            ("encoding-type", "url"),
        ];
        self.signed_call(
            Method::GET,
            key,
            &params,
            Vec::new(),
            Vec::new(),
            now,
            expires_at,
        )
    }

    /// `POST /<key>?uploadId=` with the [`complete_body`] of `parts`; its `content-length` is signed.
    pub fn complete_call(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        now: i64,
        expires_at: i64,
    ) -> CosCall {
        let body = complete_body(parts).into_bytes();
        let headers = vec![("Content-Length".to_owned(), body.len().to_string())];
        self.signed_call(
            Method::POST,
            key,
            &[("uploadId", upload_id)],
            headers,
            body,
            now,
            expires_at,
        )
    }

    /// `DELETE /<key>?uploadId=`, `content-length: 0` signed.
    pub fn abort_call(&self, key: &str, upload_id: &str, now: i64, expires_at: i64) -> CosCall {
        let headers = vec![("Content-Length".to_owned(), "0".to_owned())];
        self.signed_call(
            Method::DELETE,
            key,
            &[("uploadId", upload_id)],
            headers,
            Vec::new(),
            now,
            expires_at,
        )
    }

    /// InitiateMultipartUpload; returns the upload id.
    pub async fn create_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        opts: &InitiateOptions<'_>,
    ) -> Result<String, ProviderError> {
        let values = opts
            .content_type
            .iter()
            .chain(opts.metadata.iter().map(|(_, v)| v));
        if values.into_iter().any(|v| !is_header_value(v)) {
            return Err(ProviderError::BadRequest(
                "content type and metadata must be printable ASCII".to_owned(),
            ));
        }
        if !opts.metadata.iter().all(|(name, _)| is_meta_name(name)) {
            return Err(ProviderError::BadRequest(
                "metadata names must be x-cos-meta-<letters, digits, - or _>".to_owned(),
            ));
        }
        let now = unix_now();
        let call = self.initiate_call(key, opts, now, now + SERVER_CALL_SECONDS);
        let body = success_body(execute(http, Op::Initiate, call).await?, Op::Initiate)?;
        xml::upload_id(VENDOR, Op::Initiate.name(), &body)
    }

    /// ListParts, following every page (`part-number-marker` = `NextPartNumberMarker` while `IsTruncated`).
    pub async fn list_parts(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>, ProviderError> {
        all_pages("COS ListParts", |marker| async move {
            let now = unix_now();
            let call = self.list_parts_call(
                key,
                upload_id,
                marker.unwrap_or(0),
                LIST_PAGE_SIZE,
                now,
                now + SERVER_CALL_SECONDS,
            );
            let body = success_body(execute(http, Op::ListParts, call).await?, Op::ListParts)?;
            let page = xml::parts_page(VENDOR, &body)?;
            Ok((page.parts, page.next_marker))
        })
        .await
    }

    /// CompleteMultipartUpload with the client's (part number, ETag) list. COS answers 200 at once and
    /// reports a failed merge in the body: only an answer with an ETag is a success.
    pub async fn complete_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<CompletedUpload, ProviderError> {
        let now = unix_now();
        let call = self.complete_call(key, upload_id, parts, now, now + SERVER_CALL_SECONDS);
        let body = success_body(execute(http, Op::Complete, call).await?, Op::Complete)?;
        Ok(CompletedUpload {
            etag: xml::completed_etag(VENDOR, &body)?,
            size: None,
        })
    }

    /// AbortMultipartUpload; its parts are deleted.
    pub async fn abort_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<(), ProviderError> {
        let now = unix_now();
        let call = self.abort_call(key, upload_id, now, now + SERVER_CALL_SECONDS);
        success_body(execute(http, Op::Abort, call).await?, Op::Abort).map(|_| ())
    }
}

/// `x-cos-meta-` and a non-empty name of letters, digits, `-` and `_`.
fn is_meta_name(name: &str) -> bool {
    name.strip_prefix("x-cos-meta-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The server-side operations, for error messages and the error mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Initiate,
    ListParts,
    Complete,
    Abort,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Initiate => "InitiateMultipartUpload",
            Op::ListParts => "ListParts",
            Op::Complete => "CompleteMultipartUpload",
            Op::Abort => "AbortMultipartUpload",
        }
    }
}

fn success_body(answer: Answer, op: Op) -> Result<Vec<u8>, ProviderError> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(xml::error_for(
            VENDOR,
            op.name(),
            answer.status.as_u16(),
            &answer.body,
        ))
    }
}

async fn execute(http: &reqwest::Client, op: Op, call: CosCall) -> Result<Answer, ProviderError> {
    let mut request = http.request(call.method, call.url).body(call.body);
    for (name, value) in &call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if op == Op::Complete {
        request = request.timeout(COMPLETE_TIMEOUT);
    }
    send_bounded(
        request,
        &format!("{VENDOR} {}", op.name()),
        MAX_ANSWER_BYTES,
    )
    .await
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests;
