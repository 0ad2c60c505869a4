//! COS multipart upload (docs/PROVIDERS.md, Tencent COS): presigned UploadPart URLs for clients, and the
//! server-side Initiate / ListParts / Complete / Abort calls. Each call is first built as a pure [`CosCall`]
//! from (store, request, time), so the known-answer vectors pin it byte for byte; the answers are parsed by
//! pure functions; the `async` methods only send and read.
//!
//! Server-side calls sign what cos-python-sdk-v5 signs: `host`, `content-length` (also `0` on an empty POST or
//! DELETE), `content-type`, the `x-cos-*` headers, and every query parameter.

use std::fmt;
use std::time::Duration;

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::Reader;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::providers::s3::{CompletedUpload, PartInfo};
use crate::providers::types::{ProviderError, SignedUrl};

use super::presign::{encode_path, key_path};
use super::sign::{sign_request_keyed, url_encode, SignableRequest};
use super::{CosStore, SECURITY_TOKEN};

/// Lifetime of a server-side call's signature: it is sent at once.
const SERVER_CALL_SECONDS: i64 = 600;
/// Complete may take long on a big object (COS streams spaces while it merges), more than the shared
/// client's total timeout allows; the other calls keep the client's own.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read (a ListParts page of 1000 parts is about 250 KB).
const MAX_ANSWER_BYTES: usize = 4 << 20;
/// ListParts pages followed at most: 10,000 parts are 10 pages of 1000; the margin covers smaller pages.
const MAX_LIST_PAGES: usize = 100;
/// Parts asked per ListParts page (the COS maximum).
pub const LIST_PAGE_SIZE: u32 = 1000;
/// Smallest part but the last (1 MiB), checked by COS only at Complete (`EntityTooSmall`).
pub const MIN_PART_SIZE: u64 = 1 << 20;
/// Largest part (5 GiB).
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Part numbers run 1..=10,000.
pub const MAX_PARTS: u32 = 10_000;
/// Longest COS error message passed on to the client.
const MAX_MESSAGE_CHARS: usize = 200;

/// A fully signed server-side request, built without I/O.
pub struct CosCall {
    pub method: Method,
    /// Percent-encoded path and query, exactly as signed.
    pub url: String,
    /// Every header to send, `Authorization` last; `host` comes from the URL.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for CosCall {
    /// Header names only: the values include the STS token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CosCall")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

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

    /// The object's plain, unsigned URL (the `location` of a completed upload).
    pub fn object_url(&self, key: &str) -> String {
        format!("{}{}", self.base_url, encode_path(&key_path(key)))
    }

    /// Signs `method /<key>?params` over `host`, `headers` and the STS token header; `Authorization` is added
    /// last. Parameters go into the URL in the given order.
    #[allow(clippy::too_many_arguments)]
    fn signed_call(
        &self,
        method: Method,
        key: &str,
        params: &[(&str, &str)],
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
        now: i64,
        expires_at: i64,
    ) -> CosCall {
        let path = key_path(key);
        if let Some(token) = &self.session_token {
            headers.push((SECURITY_TOKEN.to_owned(), token.clone()));
        }
        let mut signed: Vec<(&str, &str)> = vec![("host", &self.host)];
        signed.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let key_time = Self::window(now, expires_at);
        let signature = sign_request_keyed(
            &self.keyed_secret,
            &key_time,
            &SignableRequest {
                method: method.as_str(),
                path: &path,
                headers: &signed,
                params,
            },
        );
        headers.push((
            "Authorization".to_owned(),
            signature.authorization(&self.secret_id, &key_time),
        ));
        let mut url = self.object_url(key);
        for (i, (name, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&url_encode(name));
            url.push('=');
            url.push_str(&url_encode(value));
        }
        CosCall {
            method,
            url,
            headers,
            body,
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
        parse_initiate(&body)
    }

    /// ListParts, following every page (`part-number-marker` = `NextPartNumberMarker` while `IsTruncated`).
    pub async fn list_parts(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>, ProviderError> {
        let mut parts = Vec::new();
        let mut marker = 0;
        for _ in 0..MAX_LIST_PAGES {
            let now = unix_now();
            let call = self.list_parts_call(
                key,
                upload_id,
                marker,
                LIST_PAGE_SIZE,
                now,
                now + SERVER_CALL_SECONDS,
            );
            let body = success_body(execute(http, Op::ListParts, call).await?, Op::ListParts)?;
            let page = parse_parts_page(&body)?;
            parts.extend(page.parts);
            match page.next_marker {
                None => return Ok(parts),
                Some(next) if next <= marker => {
                    return Err(ProviderError::Upstream(
                        "COS ListParts: page marker did not advance".to_owned(),
                    ));
                }
                Some(next) => marker = next,
            }
        }
        Err(ProviderError::Upstream(
            "COS ListParts: too many pages".to_owned(),
        ))
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
        parse_complete(&body)
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

/// Visible ASCII and spaces: what an HTTP header value may hold without reqwest refusing it.
fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
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
    fn name(self) -> &'static str {
        match self {
            Op::Initiate => "InitiateMultipartUpload",
            Op::ListParts => "ListParts",
            Op::Complete => "CompleteMultipartUpload",
            Op::Abort => "AbortMultipartUpload",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateResult {
    upload_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsResult {
    #[serde(default)]
    is_truncated: bool,
    next_part_number_marker: Option<String>,
    #[serde(rename = "Part", default)]
    parts: Vec<PartXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PartXml {
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
    size: u64,
}

#[derive(Deserialize)]
struct CompleteResult {
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorXml {
    code: Option<String>,
    message: Option<String>,
}

/// One ListParts page; `next_marker` is set when more pages follow.
#[derive(Debug, PartialEq, Eq)]
pub struct PartsPage {
    pub parts: Vec<PartInfo>,
    pub next_marker: Option<u32>,
}

fn parse<'de, T: Deserialize<'de>>(op: Op, body: &'de [u8]) -> Result<T, ProviderError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ProviderError::Upstream(format!("COS {}: answer is not UTF-8", op.name())))?;
    // Complete's answer starts with the spaces COS sends while it merges.
    quick_xml::de::from_str(text.trim_start())
        .map_err(|e| ProviderError::Upstream(format!("COS {}: unexpected answer ({e})", op.name())))
}

/// The `UploadId` of an Initiate answer.
pub fn parse_initiate(body: &[u8]) -> Result<String, ProviderError> {
    let result: InitiateResult = parse(Op::Initiate, body)?;
    if result.upload_id.is_empty() {
        return Err(ProviderError::Upstream(
            "COS InitiateMultipartUpload: empty UploadId".to_owned(),
        ));
    }
    Ok(result.upload_id)
}

/// One ListParts page. A truncated page without a usable marker is an error rather than an endless loop.
pub fn parse_parts_page(body: &[u8]) -> Result<PartsPage, ProviderError> {
    let page: ListPartsResult = parse(Op::ListParts, body)?;
    let next_marker = if page.is_truncated {
        let marker = page
            .next_part_number_marker
            .as_deref()
            .and_then(|m| m.trim().parse::<u32>().ok());
        Some(marker.ok_or_else(|| {
            ProviderError::Upstream("COS ListParts: truncated page without a marker".to_owned())
        })?)
    } else {
        None
    };
    let parts = page
        .parts
        .into_iter()
        .map(|p| PartInfo {
            part_number: p.part_number,
            etag: p.etag,
            size: p.size,
        })
        .collect();
    Ok(PartsPage { parts, next_marker })
}

/// A 200 Complete answer: the object's ETag (quotes stripped), or the error COS reports inside the 200.
pub fn parse_complete(body: &[u8]) -> Result<CompletedUpload, ProviderError> {
    if root_element(body).as_deref() == Some("Error") {
        return Err(error_for(Op::Complete, 200, body));
    }
    let result: CompleteResult = parse(Op::Complete, body)?;
    let etag = result
        .etag
        .map(|e| e.trim().trim_matches('"').to_owned())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            ProviderError::Upstream(
                "COS CompleteMultipartUpload: 200 without an ETag (the merge failed)".to_owned(),
            )
        })?;
    Ok(CompletedUpload { etag, size: None })
}

/// Local name of the first element, past the declaration and leading whitespace.
fn root_element(body: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(body);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Maps a COS error answer: no such upload → `NotFound`; the client's part list refused (`InvalidPart`,
/// `InvalidPartOrder`, `EntityTooSmall`) → `BadRequest`; anything else → `Upstream` with status and code only.
pub fn error_for(op: Op, status: u16, body: &[u8]) -> ProviderError {
    let parsed: Option<ErrorXml> = std::str::from_utf8(body)
        .ok()
        .filter(|_| root_element(body).as_deref() == Some("Error"))
        .and_then(|text| quick_xml::de::from_str(text.trim_start()).ok());
    let code = parsed
        .as_ref()
        .and_then(|e| e.code.clone())
        .unwrap_or_default();
    let message = parsed.and_then(|e| e.message).unwrap_or_default();
    match code.as_str() {
        "NoSuchUpload" => ProviderError::NotFound,
        "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" => {
            let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
            ProviderError::BadRequest(format!("{code}: {message}"))
        }
        // A missing bucket is the broker's misconfiguration, not a missing upload.
        "NoSuchBucket" => ProviderError::Upstream(format!(
            "COS {} failed: HTTP {status} NoSuchBucket",
            op.name()
        )),
        _ if status == 404 => ProviderError::NotFound,
        "" => ProviderError::Upstream(format!("COS {} failed: HTTP {status}", op.name())),
        _ => {
            let code: String = code
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(64)
                .collect();
            ProviderError::Upstream(format!("COS {} failed: HTTP {status} {code}", op.name()))
        }
    }
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

fn success_body(answer: Answer, op: Op) -> Result<Vec<u8>, ProviderError> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(error_for(op, answer.status.as_u16(), &answer.body))
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
    let mut response = request.send().await.map_err(|e| transport_error(op, e))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(op, e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProviderError::Upstream(format!(
                "COS {}: answer too large",
                op.name()
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body })
}

/// A short, URL-free description: reqwest's own message includes the request URL.
fn transport_error(op: Op, error: reqwest::Error) -> ProviderError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    tracing::debug!(op = op.name(), error = %error.without_url(), "COS transport error");
    ProviderError::Upstream(format!("COS {}: {what}", op.name()))
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
