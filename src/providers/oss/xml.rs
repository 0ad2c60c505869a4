//! OSS XML answers and the mapping of OSS error codes to `ProviderError` (pure). OSS answers in S3's shapes
//! (`InitiateMultipartUploadResult`, `ListPartsResult`, `<Error><Code>`).
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Deserialize;

use crate::providers::types::ProviderError;

use super::client::PartInfo;

/// Longest OSS error message passed on to the client.
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

/// One ListParts page; `next_marker` is set when more pages follow.
#[derive(Debug, PartialEq, Eq)]
pub struct PartsPage {
    pub parts: Vec<PartInfo>,
    pub next_marker: Option<u32>,
}

fn parse<'de, T: Deserialize<'de>>(op: &str, body: &'de [u8]) -> Result<T, ProviderError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ProviderError::Upstream(format!("OSS {op}: answer is not UTF-8")))?;
    quick_xml::de::from_str(text)
        .map_err(|e| ProviderError::Upstream(format!("OSS {op}: unexpected answer ({e})")))
}

/// The upload id of an InitiateMultipartUpload answer.
pub fn upload_id(body: &[u8]) -> Result<String, ProviderError> {
    let result: InitiateMultipartUploadResult = parse("InitiateMultipartUpload", body)?;
    if result.upload_id.is_empty() {
        return Err(ProviderError::Upstream(
            "OSS InitiateMultipartUpload: empty UploadId".to_owned(),
        ));
    }
    Ok(result.upload_id)
}

/// One ListParts page. A truncated page without a usable marker is an error rather than an endless loop.
pub fn parts_page(body: &[u8]) -> Result<PartsPage, ProviderError> {
    let page: ListPartsResult = parse("ListParts", body)?;
    let next_marker = if page.is_truncated {
        let marker = page
            .next_part_number_marker
            .as_deref()
            .and_then(|m| m.trim().parse::<u32>().ok());
        Some(marker.ok_or_else(|| {
            ProviderError::Upstream("OSS ListParts: truncated page without a marker".to_owned())
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
            last_modified: None,
        })
        .collect();
    Ok(PartsPage { parts, next_marker })
}

/// The ETag of a CompleteMultipartUpload answer without callback (`CompleteMultipartUploadResult`).
pub fn completed_etag(body: &[u8]) -> Result<String, ProviderError> {
    if root_element(body).as_deref() == Some("Error") {
        return Err(error_for("CompleteMultipartUpload", 200, body));
    }
    let result: CompleteMultipartUploadResult = parse("CompleteMultipartUpload", body)?;
    result.etag.filter(|e| !e.is_empty()).ok_or_else(|| {
        ProviderError::Upstream("OSS CompleteMultipartUpload: answer without ETag".to_owned())
    })
}

/// Local name of the first element, skipping the declaration and whitespace.
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

fn error_xml(body: &[u8]) -> Option<ErrorXml> {
    std::str::from_utf8(body)
        .ok()
        .filter(|_| root_element(body).as_deref() == Some("Error"))
        .and_then(|text| quick_xml::de::from_str(text).ok())
}

/// Maps an OSS error answer: missing upload/object → NotFound; the client's bad part list → BadRequest; anything
/// else → Upstream with the status and code only (never the message of an unknown error).
pub fn error_for(op: &str, status: u16, body: &[u8]) -> ProviderError {
    let parsed = error_xml(body);
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
            ProviderError::Upstream(format!("OSS {op} failed: HTTP {status} NoSuchBucket"))
        }
        _ if status == 404 => ProviderError::NotFound,
        "" => ProviderError::Upstream(format!("OSS {op} failed: HTTP {status}")),
        _ => {
            let code: String = code
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(64)
                .collect();
            ProviderError::Upstream(format!("OSS {op} failed: HTTP {status} {code}"))
        }
    }
}
