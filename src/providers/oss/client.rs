//! Server-side OSS calls (multipart bookkeeping and HEAD), header-signed with V4.
//!
//! Each call is first built as a pure [`SignedCall`] (tests compare it with the vectors), then sent. The senders
//! set no timeout of their own: the caller's shared `reqwest::Client` must have `connect_timeout` and `timeout`.
//! Errors never carry the URL, the signature or the secret.
use quick_xml::escape::partial_escape;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::providers::types::{ObjectInfo, ProviderError};

use super::sign::{HeaderSigned, Request};
use super::{xml, OssStore};

/// Largest OSS answer read (a ListParts page of 1000 parts is about 250 KB; a callback answer is < 3 MB).
const MAX_ANSWER_BYTES: usize = 4 << 20;
/// ListParts pages followed at most (10,000 parts are 10 pages of 1000).
const MAX_LIST_PAGES: usize = 100;
/// Parts per ListParts page (the OSS maximum).
const LIST_PAGE_SIZE: &str = "1000";

/// One uploaded part, as ListParts reports it (the same shape as S3's).
pub use crate::providers::types::PartInfo;

/// What a CompleteMultipartUpload answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    /// The object's ETag, quotes stripped, when the answer carries it (the `ETag` header, or the XML without
    /// callback).
    pub etag: Option<String>,
    /// With a callback, OSS answers with the callback server's body (the broker's JSON), relayed verbatim.
    pub callback_answer: Option<Vec<u8>>,
}

/// A fully signed request, built without I/O. No `Debug`: its headers may hold the security token.
pub struct SignedCall {
    /// HTTP method.
    pub method: Method,
    /// Full URL (path encoded as signed, query with bare names for empty values).
    pub url: String,
    /// Headers to send besides `host` and `authorization` (all signed, as OSS signs them by default).
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Canonical request, string to sign, signature; `authorization` is the `Authorization` header.
    pub signing: HeaderSigned,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Visible ASCII (and spaces) only: what an HTTP header value may carry without reqwest refusing it.
fn header_safe(value: &str) -> bool {
    value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

impl OssStore {
    /// Signs `method` on `key` with `extra` headers (any case), the V4 auth headers added.
    pub fn signed_call(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
        now: i64,
    ) -> SignedCall {
        let mut headers: Vec<(String, String)> = extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        headers.extend(self.signer.auth_headers(now));
        let to_sign: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let signing = self.signer.sign_headers(&Request {
            method: method.as_str(),
            bucket: &self.bucket,
            key,
            query,
            headers: &to_sign,
            additional_headers: &[],
            now,
        });
        let mut url = self.object_url(key);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&super::sign::encode_query_pair(name, value));
        }
        SignedCall {
            method,
            url,
            headers,
            body,
            signing,
        }
    }

    /// InitiateMultipartUpload (`POST /<key>?uploads`); `content_type` becomes the object's type, and
    /// `forbid_overwrite` sends `x-oss-forbid-overwrite: true`.
    pub fn initiate_call(
        &self,
        key: &str,
        content_type: Option<&str>,
        forbid_overwrite: bool,
        now: i64,
    ) -> SignedCall {
        let mut extra = Vec::new();
        if let Some(content_type) = content_type {
            extra.push(("Content-Type", content_type));
        }
        if forbid_overwrite {
            extra.push(("x-oss-forbid-overwrite", "true"));
        }
        self.signed_call(
            Method::POST,
            key,
            &[("uploads", "")],
            &extra,
            Vec::new(),
            now,
        )
    }

    /// One ListParts page (`max-parts=1000`, after `marker`).
    pub fn list_parts_call(
        &self,
        key: &str,
        upload_id: &str,
        marker: Option<u32>,
        now: i64,
    ) -> SignedCall {
        let marker = marker.map(|m| m.to_string());
        let mut query = vec![("uploadId", upload_id), ("max-parts", LIST_PAGE_SIZE)];
        if let Some(marker) = &marker {
            query.push(("part-number-marker", marker));
        }
        self.signed_call(Method::GET, key, &query, &[], Vec::new(), now)
    }

    /// CompleteMultipartUpload with the (part number, ETag) list, ascending; `callback` becomes `x-oss-callback`.
    pub fn complete_call(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        callback: Option<&str>,
        forbid_overwrite: bool,
        now: i64,
    ) -> SignedCall {
        let mut extra = vec![("Content-Type", "application/xml")];
        if let Some(callback) = callback {
            extra.push(("x-oss-callback", callback));
        }
        if forbid_overwrite {
            extra.push(("x-oss-forbid-overwrite", "true"));
        }
        self.signed_call(
            Method::POST,
            key,
            &[("uploadId", upload_id)],
            &extra,
            complete_body(parts).into_bytes(),
            now,
        )
    }

    /// AbortMultipartUpload (`DELETE /<key>?uploadId=`).
    pub fn abort_call(&self, key: &str, upload_id: &str, now: i64) -> SignedCall {
        self.signed_call(
            Method::DELETE,
            key,
            &[("uploadId", upload_id)],
            &[],
            Vec::new(),
            now,
        )
    }

    /// HeadObject.
    pub fn head_call(&self, key: &str, now: i64) -> SignedCall {
        self.signed_call(Method::HEAD, key, &[], &[], Vec::new(), now)
    }

    /// InitiateMultipartUpload; returns the upload id.
    pub async fn initiate_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        content_type: Option<&str>,
        forbid_overwrite: bool,
    ) -> Result<String, ProviderError> {
        if content_type.is_some_and(|t| !header_safe(t)) {
            return Err(ProviderError::BadRequest(
                "content type must be printable ASCII".to_owned(),
            ));
        }
        let call = self.initiate_call(key, content_type, forbid_overwrite, unix_now());
        let op = "InitiateMultipartUpload";
        xml::upload_id(&success_body(execute(http, op, call).await?, op)?)
    }

    /// ListParts, following every page (`IsTruncated`, `NextPartNumberMarker`).
    pub async fn list_parts(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>, ProviderError> {
        let mut parts = Vec::new();
        let mut marker = None;
        for _ in 0..MAX_LIST_PAGES {
            let call = self.list_parts_call(key, upload_id, marker, unix_now());
            let page = xml::parts_page(&success_body(
                execute(http, "ListParts", call).await?,
                "ListParts",
            )?)?;
            parts.extend(page.parts);
            match page.next_marker {
                None => return Ok(parts),
                Some(next) if marker.is_some_and(|m| next <= m) => {
                    return Err(ProviderError::Upstream(
                        "OSS ListParts: page marker did not advance".to_owned(),
                    ));
                }
                Some(next) => marker = Some(next),
            }
        }
        Err(ProviderError::Upstream(
            "OSS ListParts: too many pages".to_owned(),
        ))
    }

    /// CompleteMultipartUpload. With `callback`, OSS calls the broker before answering and relays its answer
    /// (returned in `callback_answer`); a failed callback (`203 CallbackFailed`, object stored) is an error.
    pub async fn complete_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        callback: Option<&str>,
        forbid_overwrite: bool,
    ) -> Result<CompletedUpload, ProviderError> {
        let op = "CompleteMultipartUpload";
        let call = self.complete_call(
            key,
            upload_id,
            parts,
            callback,
            forbid_overwrite,
            unix_now(),
        );
        let answer = execute(http, op, call).await?;
        complete_answer(
            callback.is_some(),
            answer.status,
            &answer.headers,
            answer.body,
        )
    }

    /// AbortMultipartUpload; its parts are deleted.
    pub async fn abort_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<(), ProviderError> {
        let op = "AbortMultipartUpload";
        let call = self.abort_call(key, upload_id, unix_now());
        success_body(execute(http, op, call).await?, op).map(|_| ())
    }

    /// HeadObject: size, ETag (quotes stripped), content type and version id.
    pub async fn head_object(
        &self,
        http: &reqwest::Client,
        key: &str,
    ) -> Result<ObjectInfo, ProviderError> {
        let answer = execute(http, "HeadObject", self.head_call(key, unix_now())).await?;
        let headers = answer.headers.clone();
        success_body(answer, "HeadObject")?;
        object_info(&headers)
    }
}

/// The Complete body: parts ascending (OSS answers InvalidPartOrder otherwise), ETags with their quotes; only
/// `<`, `>` and `&` are escaped, so client input cannot inject elements.
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let mut sorted: Vec<&(u32, String)> = parts.iter().collect();
    sorted.sort_by_key(|(number, _)| *number);
    let mut body = String::from("<CompleteMultipartUpload>");
    for (number, etag) in sorted {
        body.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            partial_escape(etag.as_str())
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// Interprets a Complete answer (pure, for tests).
fn complete_answer(
    with_callback: bool,
    status: StatusCode,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<CompletedUpload, ProviderError> {
    let op = "CompleteMultipartUpload";
    // 203 is OSS's "object stored, callback failed" (CallbackFailed); never report that as success.
    if status == StatusCode::NON_AUTHORITATIVE_INFORMATION || !status.is_success() {
        return Err(xml::error_for(op, status.as_u16(), &body));
    }
    let header_etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(strip_quotes)
        .filter(|e| !e.is_empty());
    if with_callback {
        return Ok(CompletedUpload {
            etag: header_etag,
            callback_answer: Some(body),
        });
    }
    let etag = strip_quotes(&xml::completed_etag(&body)?);
    Ok(CompletedUpload {
        etag: Some(etag),
        callback_answer: None,
    })
}

/// ObjectInfo from HeadObject's headers.
pub fn object_info(headers: &HeaderMap) -> Result<ObjectInfo, ProviderError> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let size = text("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ProviderError::Upstream("OSS HeadObject: answer without Content-Length".to_owned())
        })?;
    let etag = text("etag")
        .map(|e| strip_quotes(&e))
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ProviderError::Upstream("OSS HeadObject: answer without ETag".to_owned()))?;
    Ok(ObjectInfo {
        size,
        etag,
        content_type: text("content-type"),
        version_id: text("x-oss-version-id"),
    })
}

fn strip_quotes(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn success_body(answer: Answer, op: &str) -> Result<Vec<u8>, ProviderError> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(xml::error_for(op, answer.status.as_u16(), &answer.body))
    }
}

async fn execute(
    http: &reqwest::Client,
    op: &str,
    call: SignedCall,
) -> Result<Answer, ProviderError> {
    let mut request = http
        .request(call.method, call.url)
        .header("authorization", call.signing.authorization);
    for (name, value) in &call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if !call.body.is_empty() {
        request = request.body(call.body);
    }
    let mut response = request.send().await.map_err(|e| transport_error(op, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(op, e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProviderError::Upstream(format!(
                "OSS {op}: answer too large"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A short, URL-free description: reqwest's own message includes the request URL.
fn transport_error(op: &str, error: reqwest::Error) -> ProviderError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    tracing::debug!(op, error = %error.without_url(), "OSS transport error");
    ProviderError::Upstream(format!("OSS {op}: {what}"))
}

#[cfg(test)]
pub(super) fn complete_answer_for_tests(
    with_callback: bool,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CompletedUpload, ProviderError> {
    complete_answer(
        with_callback,
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        body.to_vec(),
    )
}
