//! Server-side OSS calls (multipart bookkeeping and HEAD), header-signed with V4.
//!
//! Each call is first built as a pure [`SignedCall`] (tests compare it with the vectors), then sent. The senders
//! set no timeout of their own: the caller's shared `reqwest::Client` must have `connect_timeout` and `timeout`.
//! Errors never carry the URL, the signature or the secret.
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::providers::common::{all_pages, check_content_type_header};
use crate::providers::s3_like::{
    self, execute, strip_quotes, success_body, unix_now, Answer, Outgoing,
};
use crate::providers::types::{ObjectInfo, ProviderError};
use crate::providers::xml;

use super::sign::{HeaderSigned, Request};
use super::OssStore;

const OSS: &str = "OSS";
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
        check_content_type_header(content_type)?;
        let call = self.initiate_call(key, content_type, forbid_overwrite, unix_now());
        let op = "InitiateMultipartUpload";
        xml::upload_id(
            OSS,
            op,
            &success_body(send(http, op, call).await?, OSS, op)?,
        )
    }

    /// ListParts, following every page (`IsTruncated`, `NextPartNumberMarker`).
    pub async fn list_parts(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>, ProviderError> {
        all_pages("OSS ListParts", |marker| async move {
            let call = self.list_parts_call(key, upload_id, marker, unix_now());
            let body = success_body(send(http, "ListParts", call).await?, OSS, "ListParts")?;
            let page = xml::parts_page(OSS, &body)?;
            Ok((page.parts, page.next_marker))
        })
        .await
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
        let answer = send(http, op, call).await?;
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
        success_body(send(http, op, call).await?, OSS, op).map(|_| ())
    }

    /// HeadObject: size, ETag (quotes stripped), content type and version id.
    pub async fn head_object(
        &self,
        http: &reqwest::Client,
        key: &str,
    ) -> Result<ObjectInfo, ProviderError> {
        let answer = send(http, "HeadObject", self.head_call(key, unix_now())).await?;
        let headers = answer.headers.clone();
        success_body(answer, OSS, "HeadObject")?;
        object_info(&headers)
    }
}

/// The Complete body (no namespace): see [`s3_like::complete_body`].
pub fn complete_body(parts: &[(u32, String)]) -> String {
    s3_like::complete_body(parts, None)
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
        return Err(xml::error_for(OSS, op, status.as_u16(), &body));
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
    let etag = strip_quotes(&xml::completed_etag(OSS, &body)?);
    Ok(CompletedUpload {
        etag: Some(etag),
        callback_answer: None,
    })
}

/// ObjectInfo from HeadObject's headers.
pub fn object_info(headers: &HeaderMap) -> Result<ObjectInfo, ProviderError> {
    s3_like::object_info(headers, OSS, "x-oss-version-id")
}

async fn send(http: &reqwest::Client, op: &str, call: SignedCall) -> Result<Answer, ProviderError> {
    let outgoing = Outgoing {
        method: call.method,
        url: call.url,
        authorization: &call.signing.authorization,
        headers: &call.headers,
        body: call.body,
    };
    execute(http, OSS, op, outgoing).await
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
