//! Qiniu resumable upload v2 (docs/PROVIDERS.md, "Qiniu resumable upload v2"): every call goes to the
//! store's upload host with `Authorization: UpToken <token>`, the token minted for the one key (scope
//! `bucket:key`, deadline, `fsizeLimit`, `mimeLimit` + `detectMime`, `insertOnly`, the callback). The put
//! policy and the callback apply at complete. Requests are built as pure [`QiniuCall`]s, answers parsed by pure
//! functions; the `async` methods only send and read.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::providers::common::{self as text, all_pages, send_bounded, Answer};
use crate::providers::types::{CompletedUpload, PartInfo, ProviderError, SignedUrl, UploadGrant};

use super::signing::urlsafe_b64;
use super::token::upload_token_keyed;
use super::upload::broker_put_policy_json;
use super::{CallbackSpec, QiniuStore};

/// Complete assembles the object and waits for the callback, longer than the shared client's total timeout.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read (a list page of 1000 parts is about 150 KB).
const MAX_ANSWER_BYTES: usize = 4 << 20;
/// Parts asked per list page (the maximum).
pub const LIST_PAGE_SIZE: u32 = 1000;
/// Qiniu error text is cut to this many characters before it goes into an error.
const MAX_ERROR_CHARS: usize = 200;
/// Fixed by the upload-part doc.
const OCTET_STREAM: &str = "application/octet-stream";

/// `EncodedObjectName`: urlsafe base64 of the key WITH `=` padding; `~` when there is no key (`None` or
/// empty, as the Python SDK treats both). `=`, `-`, `_` and `~` are legal in a path segment, so it goes into
/// the URL as is.
pub fn encoded_object_name(key: Option<&str>) -> String {
    match key {
        Some(key) if !key.is_empty() => urlsafe_b64(key.as_bytes()),
        _ => "~".to_owned(),
    }
}

/// `UpToken <token>`, the `Authorization` of every resumable-upload request.
fn up_token_header(token: &str) -> (String, String) {
    ("Authorization".to_owned(), format!("UpToken {token}"))
}

/// A request to the upload host, built without I/O. No `Debug` of the headers: the token is a credential.
pub struct QiniuCall {
    pub method: Method,
    pub url: String,
    /// Every header to send; `host` and a non-empty body's `content-length` come from the HTTP client.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for QiniuCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("QiniuCall")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The optional fields of a complete.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompleteFields<'a> {
    /// Original file name (`$(fname)`, `$(ext)` in templates).
    pub fname: Option<&'a str>,
    /// The object's type; Qiniu detects one when absent.
    pub mime_type: Option<&'a str>,
    /// `x:*` variables for `$(x:…)`; the broker's own callback body uses none.
    pub custom_vars: &'a [(&'a str, &'a str)],
    /// `x-qn-meta-*` metadata.
    pub metadata: &'a [(&'a str, &'a str)],
}

#[derive(Serialize)]
struct CompleteBody<'a> {
    parts: Vec<CompletePart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fname: Option<&'a str>,
    #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'a str>,
    #[serde(rename = "customVars", skip_serializing_if = "Option::is_none")]
    custom_vars: Option<Pairs<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Pairs<'a>>,
}

/// The SDK's member order: `etag`, then `partNumber`.
#[derive(Serialize)]
struct CompletePart<'a> {
    etag: &'a str,
    #[serde(rename = "partNumber")]
    part_number: u32,
}

/// Name/value pairs serialized as a JSON object in their given order.
struct Pairs<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// The complete body: `{"parts":[{"etag","partNumber"}…],"fname","mimeType","customVars","metadata"}`, parts
/// ascending (Qiniu requires it, gaps allowed), absent fields left out.
pub fn complete_body(parts: &[(u32, String)], fields: &CompleteFields) -> String {
    let mut sorted: Vec<&(u32, String)> = parts.iter().collect();
    sorted.sort_by_key(|(number, _)| *number);
    let body = CompleteBody {
        parts: sorted
            .into_iter()
            .map(|(number, etag)| CompletePart {
                etag,
                part_number: *number,
            })
            .collect(),
        fname: fields.fname,
        mime_type: fields.mime_type,
        custom_vars: (!fields.custom_vars.is_empty()).then_some(Pairs(fields.custom_vars)),
        metadata: (!fields.metadata.is_empty()).then_some(Pairs(fields.metadata)),
    };
    serde_json::to_string(&body).expect("strings and numbers always serialize")
}

impl QiniuStore {
    /// The upload token of one multipart upload of `g.key`: the form-upload put policy (scope `bucket:key`,
    /// `deadline = g.expires_at`, `fsizeLimit`, `mimeLimit` + `detectMime`, `insertOnly`, `endUser`, and the
    /// callback or `returnBody`). Every call of the upload carries it and Qiniu checks it at complete, so
    /// `expires_at` must outlive the whole upload; the same grant always gives the same token.
    pub fn multipart_token(&self, g: &UploadGrant, callback: Option<&CallbackSpec>) -> String {
        let policy = broker_put_policy_json(&self.bucket, g, callback);
        upload_token_keyed(&self.access_key, &self.keyed_secret, &policy)
    }

    /// The object's plain, unsigned URL on the store's `download_domain` (the `location` of a completed
    /// upload), or `None` when the store has no download domain.
    pub fn object_url(&self, key: &str) -> Option<String> {
        let domain = self.download_domain.as_deref()?;
        Some(super::key_url(domain, key))
    }

    /// `{upload_url}/buckets/{bucket}/objects/{EncodedObjectName}/uploads`.
    fn uploads_url(&self, key: &str) -> String {
        let mut url = String::with_capacity(self.upload_url.len() + key.len() * 2 + 40);
        url.push_str(&self.upload_url);
        url.push_str("/buckets/");
        text::push_percent_encoded(&mut url, &self.bucket, false);
        url.push_str("/objects/");
        url.push_str(&encoded_object_name(Some(key)));
        url.push_str("/uploads");
        url
    }

    /// `…/uploads/{UploadId}`, the id percent-encoded as one path segment.
    fn upload_url_of(&self, key: &str, upload_id: &str) -> String {
        let mut url = self.uploads_url(key);
        url.push('/');
        text::push_percent_encoded(&mut url, upload_id, false);
        url
    }

    /// Initiate: `POST …/uploads`, empty body (`Content-Length: 0` said explicitly, as the SDK does).
    pub fn initiate_call(&self, key: &str, token: &str) -> QiniuCall {
        QiniuCall {
            method: Method::POST,
            url: self.uploads_url(key),
            headers: vec![
                up_token_header(token),
                ("Content-Length".to_owned(), "0".to_owned()),
            ],
            body: Vec::new(),
        }
    }

    /// The part request a client sends: `PUT …/uploads/{UploadId}/{PartNumber}` with the token,
    /// `Content-Type: application/octet-stream` and, when given, `Content-MD5` (lowercase HEX, not base64).
    pub fn part_request(
        &self,
        key: &str,
        token: &str,
        upload_id: &str,
        part_number: u32,
        content_md5_hex: Option<&str>,
    ) -> SignedUrl {
        let mut headers = vec![("Content-Type".to_owned(), OCTET_STREAM.to_owned())];
        if let Some(md5) = content_md5_hex {
            headers.push(("Content-MD5".to_owned(), md5.to_owned()));
        }
        headers.push(up_token_header(token));
        SignedUrl {
            method: "PUT",
            url: format!("{}/{part_number}", self.upload_url_of(key, upload_id)),
            headers,
        }
    }

    /// One list page: `GET …/uploads/{UploadId}?max-parts=N[&part-number-marker=M]` (the documented hyphen
    /// spelling; no marker on the first page).
    pub fn list_parts_call(
        &self,
        key: &str,
        token: &str,
        upload_id: &str,
        max_parts: u32,
        marker: Option<u32>,
    ) -> QiniuCall {
        let mut url = format!(
            "{}?max-parts={max_parts}",
            self.upload_url_of(key, upload_id)
        );
        if let Some(marker) = marker {
            url.push_str(&format!("&part-number-marker={marker}"));
        }
        QiniuCall {
            method: Method::GET,
            url,
            headers: vec![up_token_header(token)],
            body: Vec::new(),
        }
    }

    /// Complete: `POST …/uploads/{UploadId}` with the JSON [`complete_body`].
    pub fn complete_call(
        &self,
        key: &str,
        token: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        fields: &CompleteFields,
    ) -> QiniuCall {
        QiniuCall {
            method: Method::POST,
            url: self.upload_url_of(key, upload_id),
            headers: vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                up_token_header(token),
            ],
            body: complete_body(parts, fields).into_bytes(),
        }
    }

    /// Abort: `DELETE …/uploads/{UploadId}`.
    pub fn abort_call(&self, key: &str, token: &str, upload_id: &str) -> QiniuCall {
        QiniuCall {
            method: Method::DELETE,
            url: self.upload_url_of(key, upload_id),
            headers: vec![up_token_header(token)],
            body: Vec::new(),
        }
    }

    /// Initiates an upload of `key` with `token` (from [`QiniuStore::multipart_token`]); returns the upload id.
    pub async fn initiate_multipart(
        &self,
        http: &reqwest::Client,
        key: &str,
        token: &str,
    ) -> Result<String, ProviderError> {
        let body = success_body(
            execute(http, Op::Initiate, self.initiate_call(key, token)).await?,
            Op::Initiate,
        )?;
        parse_initiate(&body)
    }

    /// Every uploaded part, following the pages (`partNumberMarker` 0 = no more).
    pub async fn list_parts(
        &self,
        http: &reqwest::Client,
        key: &str,
        token: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>, ProviderError> {
        all_pages("qiniu list parts", |marker| async move {
            let call = self.list_parts_call(key, token, upload_id, LIST_PAGE_SIZE, marker);
            let body = success_body(execute(http, Op::ListParts, call).await?, Op::ListParts)?;
            let page = parse_parts_page(&body)?;
            Ok((page.parts, page.next_marker))
        })
        .await
    }

    /// Completes the upload; the token's policy and callback apply now. Returns the object's hash and size
    /// from the answer (the broker's `returnBody` or its callback answer carry both).
    pub async fn complete_multipart(
        &self,
        http: &reqwest::Client,
        key: &str,
        token: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        fields: &CompleteFields<'_>,
    ) -> Result<CompletedUpload, ProviderError> {
        let call = self.complete_call(key, token, upload_id, parts, fields);
        let body = success_body(execute(http, Op::Complete, call).await?, Op::Complete)?;
        parse_complete(&body)
    }

    /// Aborts the upload; its parts are deleted.
    pub async fn abort_multipart(
        &self,
        http: &reqwest::Client,
        key: &str,
        token: &str,
        upload_id: &str,
    ) -> Result<(), ProviderError> {
        let call = self.abort_call(key, token, upload_id);
        success_body(execute(http, Op::Abort, call).await?, Op::Abort).map(|_| ())
    }
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
            Op::Initiate => "initiate",
            Op::ListParts => "list parts",
            Op::Complete => "complete",
            Op::Abort => "abort",
        }
    }
}

#[derive(Deserialize)]
struct InitiateAnswer {
    #[serde(rename = "uploadId")]
    upload_id: String,
}

#[derive(Deserialize)]
struct ListAnswer {
    /// The next page's marker; 0 when there is none.
    #[serde(rename = "partNumberMarker", default)]
    part_number_marker: u32,
    #[serde(default)]
    parts: Vec<ListedPart>,
}

#[derive(Deserialize)]
struct ListedPart {
    #[serde(rename = "partNumber")]
    part_number: u32,
    etag: String,
    size: u64,
    /// Unix seconds.
    #[serde(rename = "putTime")]
    put_time: Option<i64>,
}

#[derive(Deserialize)]
struct CompleteAnswer {
    hash: Option<String>,
    fsize: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// One list page; `next_marker` is set when more pages follow.
#[derive(Debug, PartialEq, Eq)]
pub struct PartsPage {
    pub parts: Vec<PartInfo>,
    pub next_marker: Option<u32>,
}

fn parse<'de, T: Deserialize<'de>>(op: Op, body: &'de [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::Upstream(format!("qiniu {}: unreadable answer: {e}", op.name()))
    })
}

/// The `uploadId` of an initiate answer (`{"uploadId","expireAt"}`).
pub fn parse_initiate(body: &[u8]) -> Result<String, ProviderError> {
    let answer: InitiateAnswer = parse(Op::Initiate, body)?;
    if answer.upload_id.is_empty() {
        return Err(ProviderError::Upstream(
            "qiniu initiate: empty uploadId".to_owned(),
        ));
    }
    Ok(answer.upload_id)
}

/// One list page (`{"uploadId","expireAt","partNumberMarker","parts":[{"partNumber","etag","size","putTime"}]}`).
pub fn parse_parts_page(body: &[u8]) -> Result<PartsPage, ProviderError> {
    let answer: ListAnswer = parse(Op::ListParts, body)?;
    Ok(PartsPage {
        parts: answer
            .parts
            .into_iter()
            .map(|p| PartInfo {
                part_number: p.part_number,
                etag: p.etag,
                size: p.size,
                last_modified: p.put_time.map(|t| t.saturating_mul(1000)),
            })
            .collect(),
        next_marker: (answer.part_number_marker != 0).then_some(answer.part_number_marker),
    })
}

/// A complete answer: the object's `hash` (required) and `fsize` when the answer has it.
pub fn parse_complete(body: &[u8]) -> Result<CompletedUpload, ProviderError> {
    let answer: CompleteAnswer = parse(Op::Complete, body)?;
    let etag = answer.hash.filter(|h| !h.is_empty()).ok_or_else(|| {
        ProviderError::Upstream("qiniu complete: answer without a hash".to_owned())
    })?;
    Ok(CompletedUpload {
        etag,
        size: answer.fsize,
    })
}

/// Maps a Qiniu error answer (`{"error": "…"}`): 612 (no such upload: unknown, aborted, completed or past
/// its 7 days) and 404 → `NotFound`. At complete, what the client's part list or file caused → `BadRequest`:
/// 400 (parts not ascending, a part under 1 MiB, an unknown part or ETag), 701 (a part that does not verify),
/// 413 (`fsizeLimit`), 614 (the key exists and the token is insert-only), 403 naming the MIME type
/// (`mimeLimit`). Everything else (bad token, wrong region, callback failure 579, 5xx) → `Upstream`.
pub fn error_for(op: Op, status: u16, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorAnswer>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    let detail: String = detail
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_CHARS)
        .collect();
    let lower = detail.to_ascii_lowercase();
    // A 400 about the region is the store's misconfiguration, whatever the call.
    let client_caused = op == Op::Complete
        && match status {
            400 => !lower.contains("region"),
            413 | 614 | 701 => true,
            403 => lower.contains("mime") || lower.contains("file type"),
            _ => false,
        };
    match status {
        612 | 404 => ProviderError::NotFound,
        _ if client_caused => ProviderError::BadRequest(format!("qiniu {status}: {detail}")),
        _ => ProviderError::Upstream(format!("qiniu {}: HTTP {status}: {detail}", op.name())),
    }
}

fn success_body(answer: Answer, op: Op) -> Result<Vec<u8>, ProviderError> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(error_for(op, answer.status.as_u16(), &answer.body))
    }
}

async fn execute(http: &reqwest::Client, op: Op, call: QiniuCall) -> Result<Answer, ProviderError> {
    // An explicit (possibly empty) body, so a bodiless POST still says `content-length: 0`.
    let mut request = http.request(call.method, call.url).body(call.body);
    for (name, value) in &call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if op == Op::Complete {
        request = request.timeout(COMPLETE_TIMEOUT);
    }
    send_bounded(request, &format!("qiniu {}", op.name()), MAX_ANSWER_BYTES).await
}

#[cfg(test)]
mod tests;
