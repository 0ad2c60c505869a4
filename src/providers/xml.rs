//! S3-style XML answers of the multipart API (quick-xml serde) and the mapping of their error codes to
//! `ProviderError` (pure). S3, COS and OSS answer in the same format; `vendor` names the provider in messages.
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Deserialize;

use crate::providers::types::{rfc3339_millis, PartInfo, ProviderError};

/// Longest error message passed on to the client; S3 and COS messages are one sentence.
const MAX_MESSAGE_CHARS: usize = 200;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    upload_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsResult {
    #[serde(default)]
    is_truncated: bool,
    // A string: some servers send an empty element on the last page.
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
    last_modified: Option<String>,
}

#[derive(Deserialize)]
struct CompleteMultipartUploadResult {
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorXml {
    code: Option<String>,
    message: Option<String>,
}

/// One page of ListParts; `next_marker` is set when more pages follow.
#[derive(Debug, PartialEq, Eq)]
pub struct PartsPage {
    pub parts: Vec<PartInfo>,
    pub next_marker: Option<u32>,
}

fn parse<'de, T: Deserialize<'de>>(
    vendor: &str,
    op: &str,
    body: &'de [u8],
) -> Result<T, ProviderError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ProviderError::Upstream(format!("{vendor} {op}: answer is not UTF-8")))?;
    // A Complete answer starts with the spaces sent while the parts are merged.
    quick_xml::de::from_str(text.trim_start())
        .map_err(|e| ProviderError::Upstream(format!("{vendor} {op}: unexpected answer ({e})")))
}

/// The upload id of a CreateMultipartUpload (Initiate) answer.
pub fn upload_id(vendor: &str, op: &str, body: &[u8]) -> Result<String, ProviderError> {
    let result: InitiateMultipartUploadResult = parse(vendor, op, body)?;
    if result.upload_id.is_empty() {
        return Err(ProviderError::Upstream(format!(
            "{vendor} {op}: empty UploadId"
        )));
    }
    Ok(result.upload_id)
}

/// One ListParts page. A truncated page without a usable marker is an error rather than an endless loop.
pub fn parts_page(vendor: &str, body: &[u8]) -> Result<PartsPage, ProviderError> {
    let page: ListPartsResult = parse(vendor, "ListParts", body)?;
    let next_marker = if page.is_truncated {
        let marker = page
            .next_part_number_marker
            .as_deref()
            .and_then(|m| m.trim().parse::<u32>().ok());
        Some(marker.ok_or_else(|| {
            ProviderError::Upstream(format!(
                "{vendor} ListParts: truncated page without a marker"
            ))
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
            last_modified: p.last_modified.as_deref().and_then(rfc3339_millis),
        })
        .collect();
    Ok(PartsPage { parts, next_marker })
}

/// The ETag of a CompleteMultipartUpload answer without its quotes, or the error reported inside a 200
/// answer: S3 and COS answer 200 before the parts are merged, then report a late failure as an `<Error>`
/// body, and a 200 without an ETag is a failed merge too (an `Upstream` error, 502).
pub fn completed_etag(vendor: &str, body: &[u8]) -> Result<String, ProviderError> {
    const OP: &str = "CompleteMultipartUpload";
    if root_element(body).as_deref() == Some("Error") {
        return Err(error_for(vendor, OP, 200, body));
    }
    let result: CompleteMultipartUploadResult = parse(vendor, OP, body)?;
    result
        .etag
        .map(|e| e.trim().trim_matches('"').to_owned())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            ProviderError::Upstream(format!(
                "{vendor} {OP}: 200 without an ETag (the merge failed)"
            ))
        })
}

/// Local name of the first element, skipping the declaration and the whitespace S3 sends while it works.
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

/// Maps an error answer: missing upload/object → NotFound, the client's bad part list (or OSS's refusal to
/// overwrite, `x-oss-forbid-overwrite`) → BadRequest, anything else → Upstream with the status and code only.
pub fn error_for(vendor: &str, op: &str, status: u16, body: &[u8]) -> ProviderError {
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
        "NoSuchUpload" | "NoSuchKey" => ProviderError::NotFound,
        "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" => {
            let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
            ProviderError::BadRequest(format!("{code}: {message}"))
        }
        "FileAlreadyExists" => {
            ProviderError::BadRequest("FileAlreadyExists: the object exists".to_owned())
        }
        // A missing bucket is the broker's misconfiguration, not a missing object.
        "NoSuchBucket" => {
            ProviderError::Upstream(format!("{vendor} {op} failed: HTTP {status} NoSuchBucket"))
        }
        _ if status == 404 => ProviderError::NotFound,
        "" => ProviderError::Upstream(format!("{vendor} {op} failed: HTTP {status}")),
        _ => {
            let code: String = code
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(64)
                .collect();
            ProviderError::Upstream(format!("{vendor} {op} failed: HTTP {status} {code}"))
        }
    }
}

/// Every XML answer parser on untrusted bytes (for `crate::fuzz_targets`).
#[doc(hidden)]
pub fn parse_answers_for_fuzzing(body: &[u8]) {
    let _ = upload_id("Fuzz", "Fuzz", body);
    if let Ok(page) = parts_page("Fuzz", body) {
        assert!(page.next_marker.is_none() || !body.is_empty());
    }
    let _ = completed_etag("Fuzz", body);
    let _ = error_for("Fuzz", "Fuzz", 400, body);
}

#[cfg(test)]
mod tests;
