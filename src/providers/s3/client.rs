//! Server-side S3 calls (multipart bookkeeping and HEAD), header-signed with SigV4.
//!
//! Every call takes the application's shared `reqwest::Client`. These functions set no timeout of their own: the
//! caller must build that client with `connect_timeout` and `timeout` (total), or an unreachable endpoint hangs
//! the request. Errors never carry the URL, the signature or the secret.
use reqwest::Method;

use crate::providers::common::{all_pages, check_content_type_header};
use crate::providers::s3_like::{
    self, execute, strip_quotes, success_body, unix_now, Answer, Outgoing,
};
use crate::providers::types::{CompletedUpload, ObjectInfo, PartInfo, ProviderError};
use crate::providers::xml;

use super::sigv4::{
    canonical_query, hex_sha256, uri_encode, HeaderRequest, HeaderSigned, SigningTime,
};
use super::S3Store;

const S3: &str = "S3";
/// Parts per ListParts page (the S3 maximum).
const LIST_PAGE_SIZE: &str = "1000";

/// A fully signed request, built without I/O so tests can compare it with the vectors.
/// No `Debug`: its headers hold the session token.
struct SignedCall {
    method: Method,
    url: String,
    /// Signed headers to send besides `host`, which the HTTP client derives from the URL exactly as it was signed.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Its `authorization` is the `Authorization` header.
    signing: HeaderSigned,
}

impl S3Store {
    /// Signs `method` on an object with `x-amz-content-sha256` = hex SHA-256 of `body` and `x-amz-date`.
    fn signed_call(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        content_type: Option<&str>,
        body: Vec<u8>,
        now: i64,
    ) -> SignedCall {
        let (host, path) = self.object_location(key);
        let time = SigningTime::from_unix(now);
        let payload_hash = hex_sha256(&body);
        let mut headers: Vec<(String, String)> = vec![
            ("x-amz-content-sha256".to_owned(), payload_hash.clone()),
            ("x-amz-date".to_owned(), time.datetime),
        ];
        if let Some(token) = &self.signer.credentials().session_token {
            headers.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        if let Some(content_type) = content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        let mut to_sign: Vec<(&str, &str)> = vec![("host", host)];
        to_sign.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let signing = self.signer.sign_headers(&HeaderRequest {
            method: method.as_str(),
            path: &path,
            query,
            headers: &to_sign,
            payload_hash: &payload_hash,
            now,
        });
        let query = canonical_query(query);
        let separator = if query.is_empty() { "" } else { "?" };
        let url = format!(
            "{}://{host}{}{separator}{query}",
            self.scheme,
            uri_encode(&path, false)
        );
        SignedCall {
            method,
            url,
            headers,
            body,
            signing,
        }
    }

    fn create_call(&self, key: &str, content_type: Option<&str>, now: i64) -> SignedCall {
        self.signed_call(
            Method::POST,
            key,
            &[("uploads", "")],
            content_type,
            Vec::new(),
            now,
        )
    }

    fn list_parts_call(
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
        self.signed_call(Method::GET, key, &query, None, Vec::new(), now)
    }

    fn complete_call(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        now: i64,
    ) -> SignedCall {
        let body = complete_body(parts).into_bytes();
        self.signed_call(
            Method::POST,
            key,
            &[("uploadId", upload_id)],
            None,
            body,
            now,
        )
    }

    fn abort_call(&self, key: &str, upload_id: &str, now: i64) -> SignedCall {
        self.signed_call(
            Method::DELETE,
            key,
            &[("uploadId", upload_id)],
            None,
            Vec::new(),
            now,
        )
    }

    fn head_call(&self, key: &str, now: i64) -> SignedCall {
        self.signed_call(Method::HEAD, key, &[], None, Vec::new(), now)
    }

    /// CreateMultipartUpload; `content_type` is signed and becomes the object's type. Returns the upload id.
    pub async fn create_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        content_type: Option<&str>,
    ) -> Result<String, ProviderError> {
        check_content_type_header(content_type)?;
        let call = self.create_call(key, content_type, unix_now());
        let op = "CreateMultipartUpload";
        let body = success_body(send(http, op, call).await?, S3, op)?;
        xml::upload_id(S3, op, &body)
    }

    /// ListParts, following every page (`max-parts=1000`, `part-number-marker`, `IsTruncated`).
    pub async fn list_parts(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>, ProviderError> {
        all_pages("S3 ListParts", |marker| async move {
            let call = self.list_parts_call(key, upload_id, marker, unix_now());
            let body = success_body(send(http, "ListParts", call).await?, S3, "ListParts")?;
            let page = xml::parts_page(S3, &body)?;
            Ok((page.parts, page.next_marker))
        })
        .await
    }

    /// CompleteMultipartUpload with the client's (part number, ETag) list, sent in ascending part order.
    /// A 200 answer whose body is an `<Error>` is an error (S3 reports late failures that way).
    pub async fn complete_multipart_upload(
        &self,
        http: &reqwest::Client,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<CompletedUpload, ProviderError> {
        let call = self.complete_call(key, upload_id, parts, unix_now());
        let op = "CompleteMultipartUpload";
        let body = success_body(send(http, op, call).await?, S3, op)?;
        let etag = xml::completed_etag(S3, &body)?;
        Ok(CompletedUpload {
            etag: strip_quotes(&etag),
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
        let call = self.abort_call(key, upload_id, unix_now());
        let op = "AbortMultipartUpload";
        success_body(send(http, op, call).await?, S3, op).map(|_| ())
    }

    /// HeadObject: size, ETag (quotes stripped), content type and version id.
    pub async fn head_object(
        &self,
        http: &reqwest::Client,
        key: &str,
    ) -> Result<ObjectInfo, ProviderError> {
        let answer = send(http, "HeadObject", self.head_call(key, unix_now())).await?;
        let headers = answer.headers.clone();
        success_body(answer, S3, "HeadObject")?;
        object_info(&headers)
    }
}

/// The CompleteMultipartUpload body, in S3's namespace.
fn complete_body(parts: &[(u32, String)]) -> String {
    s3_like::complete_body(parts, Some("http://s3.amazonaws.com/doc/2006-03-01/"))
}

fn object_info(headers: &reqwest::header::HeaderMap) -> Result<ObjectInfo, ProviderError> {
    s3_like::object_info(headers, S3, "x-amz-version-id")
}

async fn send(http: &reqwest::Client, op: &str, call: SignedCall) -> Result<Answer, ProviderError> {
    let outgoing = Outgoing {
        method: call.method,
        url: call.url,
        authorization: &call.signing.authorization,
        headers: &call.headers,
        body: call.body,
    };
    execute(http, S3, op, outgoing).await
}

#[cfg(test)]
mod tests;
