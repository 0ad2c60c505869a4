//! Signed `HEAD Object`, used by `POST /v1/uploads/confirm` (COS has no documented signed upload callback).

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use reqwest::{Method, StatusCode};

use crate::providers::common::transport_error;
use crate::providers::types::{ObjectInfo, ProviderError, SignedUrl};

use super::CosStore;

/// Lifetime of the HEAD signature: it is used at once, so a few minutes cover any latency.
const HEAD_SIGNATURE_SECONDS: i64 = 300;
/// Upper bound of one HEAD round trip, whatever the shared client is configured with.
const HEAD_TIMEOUT: Duration = Duration::from_secs(15);

impl CosStore {
    /// The HEAD request for `key` signed at `now` (unix seconds), with the q-sign `Authorization` header.
    pub fn head_request(&self, key: &str, now: i64) -> SignedUrl {
        let call = self.signed_call(
            Method::HEAD,
            key,
            &[],
            Vec::new(),
            Vec::new(),
            now,
            now + HEAD_SIGNATURE_SECONDS,
        );
        SignedUrl {
            method: "HEAD",
            url: call.url,
            headers: call.headers,
        }
    }

    /// Size, ETag and content type of `key`, from a signed HEAD (404 → `NotFound`).
    pub async fn head_object(
        &self,
        http: &reqwest::Client,
        key: &str,
    ) -> Result<ObjectInfo, ProviderError> {
        let request = self.head_request(key, chrono::Utc::now().timestamp());
        let mut builder = http.head(&request.url).timeout(HEAD_TIMEOUT);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| transport_error("COS HEAD Object", e))?;
        match response.status() {
            status if status.is_success() => object_info_from_headers(response.headers()),
            StatusCode::NOT_FOUND => Err(ProviderError::NotFound),
            status => Err(ProviderError::Upstream(format!(
                "COS HEAD Object answered {status}"
            ))),
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Reads a HEAD answer: `Content-Length` (required), `ETag` without its quotes, `Content-Type`, `x-cos-version-id`.
pub fn object_info_from_headers(headers: &HeaderMap) -> Result<ObjectInfo, ProviderError> {
    let size = header_str(headers, CONTENT_LENGTH.as_str())
        .and_then(|length| length.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            ProviderError::Upstream(
                "COS HEAD Object answer lacks a valid Content-Length".to_owned(),
            )
        })?;
    let etag = header_str(headers, ETAG.as_str())
        .map(|etag| etag.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    Ok(ObjectInfo {
        size,
        etag,
        content_type: header_str(headers, CONTENT_TYPE.as_str()).map(str::to_owned),
        version_id: header_str(headers, "x-cos-version-id").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::cos::sign::{key_time, sign_request, SignableRequest};
    use crate::providers::cos::tests::store;
    use reqwest::header::HeaderValue;

    const HOST: &str = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com";

    fn header<'a>(request: &'a SignedUrl, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn head_request_signs_method_raw_path_and_host() {
        let request = store(None).head_request("用户/a b+c.png", 1_700_000_000);
        assert_eq!(request.method, "HEAD");
        assert_eq!(
            request.url,
            format!("https://{HOST}/%E7%94%A8%E6%88%B7/a%20b%2Bc.png")
        );
        let expected = sign_request(
            "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz",
            &key_time(1_699_999_940, 1_700_000_300),
            &SignableRequest {
                method: "head",
                path: "/用户/a b+c.png",
                headers: &[("host", HOST)],
                params: &[],
            },
        );
        assert_eq!(
            expected.http_string,
            format!("head\n/用户/a b+c.png\n\nhost={HOST}\n")
        );
        assert_eq!(
            header(&request, "Authorization"),
            Some(
                expected
                    .authorization("AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q")
                    .as_str()
            )
        );
        assert_eq!(
            request.headers.len(),
            1,
            "no token header without a session token"
        );
    }

    #[test]
    fn head_request_signs_the_session_token_header() {
        let request = store(Some("TOKEN")).head_request("a.bin", 1_700_000_000);
        assert_eq!(header(&request, "x-cos-security-token"), Some("TOKEN"));
        let auth = header(&request, "Authorization").unwrap_or_default();
        assert!(
            auth.contains("&q-header-list=host;x-cos-security-token&"),
            "{auth}"
        );
        let other = store(Some("TOKEN")).head_request("b.bin", 1_700_000_000);
        assert_ne!(
            header(&other, "Authorization"),
            header(&request, "Authorization")
        );
    }

    #[test]
    fn parses_size_unquoted_etag_and_type() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("13"));
        headers.insert(
            ETAG,
            HeaderValue::from_static("\"ee8de918d05640145b18f70f4c3aa602\""),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
        headers.insert("x-cos-version-id", HeaderValue::from_static("MTg0NDUx"));
        let info = object_info_from_headers(&headers).expect("complete answer parses");
        assert_eq!(
            info,
            ObjectInfo {
                size: 13,
                etag: "ee8de918d05640145b18f70f4c3aa602".to_owned(),
                content_type: Some("image/png".to_owned()),
                version_id: Some("MTg0NDUx".to_owned()),
            }
        );
    }

    #[test]
    fn missing_or_bad_length_is_an_upstream_error() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            object_info_from_headers(&headers),
            Err(ProviderError::Upstream(_))
        ));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("-1"));
        assert!(matches!(
            object_info_from_headers(&headers),
            Err(ProviderError::Upstream(_))
        ));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let info = object_info_from_headers(&headers).expect("empty object parses");
        assert_eq!(
            (info.size, info.etag.as_str(), info.content_type),
            (0, "", None)
        );
    }
}
