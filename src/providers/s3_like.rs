//! What S3 and Aliyun OSS share on the wire (OSS speaks S3's REST dialect with its own signature): one bounded round
//! trip of a signed server-side call (over [`send_bounded`]; the XML answers are [`super::xml`]'s), the
//! CompleteMultipartUpload body and HeadObject's headers. `provider` (`S3`, `OSS`) labels every error; errors never carry the URL, the signature or
//! the secret. No timeout is set here: the caller's shared `reqwest::Client` must have `connect_timeout` and
//! `timeout`.
use quick_xml::escape::partial_escape;
use reqwest::header::HeaderMap;
use reqwest::Method;

use super::common::send_bounded;
pub use super::common::Answer;
use super::types::{ObjectInfo, ProviderError};
use super::xml;

/// Largest answer read (a ListParts page of 1000 parts is about 250 KB; an OSS callback answer < 3 MB).
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// A signed request, ready to send.
pub struct Outgoing<'a> {
    pub method: Method,
    /// Full URL, path and query encoded exactly as signed.
    pub url: String,
    /// The `Authorization` header.
    pub authorization: &'a str,
    /// Headers to send besides `host` (which the client derives from the URL, as signed) and `authorization`.
    pub headers: &'a [(String, String)],
    pub body: Vec<u8>,
}

/// Sends `call` and reads the whole (bounded) answer, whatever its status.
pub async fn execute(
    http: &reqwest::Client,
    provider: &str,
    op: &str,
    call: Outgoing<'_>,
) -> Result<Answer, ProviderError> {
    let mut request = http
        .request(call.method, call.url)
        .header("authorization", call.authorization);
    for (name, value) in call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if !call.body.is_empty() {
        request = request.body(call.body);
    }
    send_bounded(request, &format!("{provider} {op}"), MAX_ANSWER_BYTES).await
}

/// The body of a 2xx answer, else the error its XML names.
pub fn success_body(answer: Answer, provider: &str, op: &str) -> Result<Vec<u8>, ProviderError> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(xml::error_for(
            provider,
            op,
            answer.status.as_u16(),
            &answer.body,
        ))
    }
}

/// The CompleteMultipartUpload body (no XML declaration; `xmlns` on the root when given): parts ascending (both
/// answer InvalidPartOrder otherwise), ETags with their quotes; only `<`, `>` and `&` are escaped, so client
/// input cannot inject elements.
pub fn complete_body(parts: &[(u32, String)], xmlns: Option<&str>) -> String {
    let mut sorted: Vec<&(u32, String)> = parts.iter().collect();
    sorted.sort_by_key(|(number, _)| *number);
    let mut body = match xmlns {
        Some(ns) => format!(r#"<CompleteMultipartUpload xmlns="{ns}">"#),
        None => String::from("<CompleteMultipartUpload>"),
    };
    for (number, etag) in sorted {
        body.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            partial_escape(etag.as_str())
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// [`ObjectInfo`] from HeadObject's headers; `version_header` is `x-amz-version-id` or `x-oss-version-id`.
pub fn object_info(
    headers: &HeaderMap,
    provider: &str,
    version_header: &str,
) -> Result<ObjectInfo, ProviderError> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let size = text("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ProviderError::Upstream(format!(
                "{provider} HeadObject: answer without Content-Length"
            ))
        })?;
    let etag = text("etag")
        .map(|e| strip_quotes(&e))
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            ProviderError::Upstream(format!("{provider} HeadObject: answer without ETag"))
        })?;
    Ok(ObjectInfo {
        size,
        etag,
        content_type: text("content-type"),
        version_id: text(version_header),
    })
}

/// An ETag without surrounding whitespace and quotes.
pub fn strip_quotes(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

/// Now, in Unix seconds: the signing time of server-side calls.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
