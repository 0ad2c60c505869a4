//! The management `stat` call (资源元信息查询, developer.qiniu.com/kodo/1308/stat), split into a pure
//! request builder and a pure answer parser so both are testable without reaching Qiniu.
//!
//! Signed with the `Qiniu` v2 management scheme plus `X-Qiniu-Date`, as the current stat doc shows:
//! unlike `QBox` it also binds the method and the Host, and the date makes a captured header expire
//! instead of working forever. Its signing string is the one the callback vectors pin (docs/PROVIDERS.md, Qiniu).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::providers::types::{ObjectInfo, ProviderError};

use super::signing::{
    encoded_sign, qiniu_signing_data, urlsafe_b64, RequestToSign, FORM_CONTENT_TYPE,
};

/// Qiniu's "no such file or directory" status.
const NO_SUCH_FILE: u16 = 612;
/// Upstream error text is cut to this many characters before it goes into an error.
const MAX_ERROR_CHARS: usize = 200;

/// Where management calls go: the origin and the `Host` value that is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementHost {
    /// `https://rs.qiniuapi.com`: scheme, host and non-default port, no trailing `/`.
    pub origin: String,
    /// `rs.qiniuapi.com[:port]`, exactly what the HTTP client sends as `Host`.
    pub host: String,
}

/// A fully signed stat request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRequest {
    /// `{rs}/stat/<EncodedEntryURI>`.
    pub url: String,
    /// `Authorization`, `Content-Type` and `X-Qiniu-Date`, all signed.
    pub headers: Vec<(&'static str, String)>,
}

/// `GET {rs}/stat/<urlsafe_b64(bucket:key)>` with `Authorization: Qiniu AK:sign`. The EncodedEntryURI
/// is padded like every SDK's; `=` needs no escaping in a path, so the signed path is the sent path.
pub fn stat_request(
    rs: &ManagementHost,
    ak: &str,
    sk: &str,
    bucket: &str,
    key: &str,
    now: DateTime<Utc>,
) -> StatRequest {
    let path = format!(
        "/stat/{}",
        urlsafe_b64(format!("{bucket}:{key}").as_bytes())
    );
    let date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let signed_headers = [("X-Qiniu-Date", date.as_str())];
    let data = qiniu_signing_data(&RequestToSign {
        method: "GET",
        path: &path,
        query: None,
        host: &rs.host,
        // Sent and signed explicitly: the Go and Node SDKs sign a missing Content-Type as form, so leaving it
        // out could disagree with the server.
        content_type: Some(FORM_CONTENT_TYPE),
        headers: &signed_headers,
        body: b"",
    });
    let authorization = format!("Qiniu {ak}:{}", encoded_sign(sk, &data));
    StatRequest {
        url: format!("{}{path}", rs.origin),
        headers: vec![
            ("Authorization", authorization),
            ("Content-Type", FORM_CONTENT_TYPE.to_owned()),
            ("X-Qiniu-Date", date),
        ],
    }
}

#[derive(Deserialize)]
struct StatAnswer {
    fsize: u64,
    hash: String,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// 200 → the object's size, hash (Qiniu's etag) and MIME type; 612 / 404 → `NotFound`; anything
/// else → `Upstream` with Qiniu's `error` text.
pub fn parse_stat_response(status: u16, body: &[u8]) -> Result<ObjectInfo, ProviderError> {
    match status {
        200 => {
            let answer: StatAnswer = serde_json::from_slice(body).map_err(|e| {
                ProviderError::Upstream(format!("qiniu stat: unreadable answer: {e}"))
            })?;
            Ok(ObjectInfo {
                size: answer.fsize,
                etag: answer.hash,
                content_type: answer.mime_type.filter(|t| !t.is_empty()),
                version_id: None,
            })
        }
        NO_SUCH_FILE | 404 => Err(ProviderError::NotFound),
        _ => {
            let detail = serde_json::from_slice::<ErrorAnswer>(body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
            let detail: String = detail.chars().take(MAX_ERROR_CHARS).collect();
            Err(ProviderError::Upstream(format!(
                "qiniu stat: HTTP {status}: {detail}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::callback::{verify_callback, CallbackRequest};
    use super::*;

    fn rs() -> ManagementHost {
        ManagementHost {
            origin: "https://rs.qiniuapi.com".into(),
            host: "rs.qiniuapi.com".into(),
        }
    }

    fn at_2030() -> DateTime<Utc> {
        DateTime::from_timestamp(1_893_456_000, 0).expect("in range")
    }

    /// Expected values computed independently with Python's `hmac` over the v2 signing string.
    #[test]
    fn stat_request_is_signed_qiniu_v2_with_date() {
        for (key, entry, sign) in [
            (
                "uploads/2030/photo.jpg",
                "bXktYnVja2V0OnVwbG9hZHMvMjAzMC9waG90by5qcGc=",
                "H5F8dceIs-7DsSJdcOIBgAd15Lo=",
            ),
            (
                "图片/a b+c.jpg",
                "bXktYnVja2V0OuWbvueJhy9hIGIrYy5qcGc=",
                "bf2oMk0bIlVVdgx07tX4khp8RRg=",
            ),
        ] {
            let req = stat_request(
                &rs(),
                "MY_ACCESS_KEY",
                "MY_SECRET_KEY",
                "my-bucket",
                key,
                at_2030(),
            );
            assert_eq!(req.url, format!("https://rs.qiniuapi.com/stat/{entry}"));
            assert_eq!(
                req.headers,
                [
                    ("Authorization", format!("Qiniu MY_ACCESS_KEY:{sign}")),
                    (
                        "Content-Type",
                        "application/x-www-form-urlencoded".to_owned()
                    ),
                    ("X-Qiniu-Date", "20300101T000000Z".to_owned()),
                ]
            );
        }
    }

    #[test]
    fn stat_request_verifies_with_the_callback_verifier_as_a_cross_check() {
        let req = stat_request(&rs(), "AK", "秘密 +sk", "b", "k", at_2030());
        let path = req.url.trim_start_matches("https://rs.qiniuapi.com");
        let headers: Vec<(&str, &str)> =
            req.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let request = CallbackRequest {
            method: "GET",
            path,
            query: None,
            host: "rs.qiniuapi.com",
            content_type: Some("application/x-www-form-urlencoded"),
            headers: &headers,
            body: b"",
            authorization: Some(headers[0].1),
        };
        assert_eq!(verify_callback(&[("AK", "秘密 +sk")], &request), Ok(()));
        let later = CallbackRequest {
            headers: &[("X-Qiniu-Date", "20300101T000001Z")],
            ..request
        };
        assert!(verify_callback(&[("AK", "秘密 +sk")], &later).is_err());
    }

    #[test]
    fn stat_answer_is_parsed() {
        let body = br#"{"fsize":5122935,"hash":"ljfockr0lOil_bZfyaI2ZY78HWoH","mimeType":"application/octet-stream","putTime":13603956734587420,"type":0}"#;
        let info = parse_stat_response(200, body).expect("parses");
        assert_eq!(
            info,
            ObjectInfo {
                size: 5_122_935,
                etag: "ljfockr0lOil_bZfyaI2ZY78HWoH".into(),
                content_type: Some("application/octet-stream".into()),
                version_id: None,
            }
        );
        let no_type = parse_stat_response(
            200,
            br#"{"fsize":0,"hash":"Fto5o-5ea0sNMlW_75VgGJCv2AcJ","mimeType":""}"#,
        );
        assert_eq!(no_type.expect("parses").content_type, None);
    }

    #[test]
    fn stat_errors_are_mapped() {
        assert!(matches!(
            parse_stat_response(612, br#"{"error":"no such file or directory"}"#),
            Err(ProviderError::NotFound)
        ));
        assert!(matches!(
            parse_stat_response(404, b""),
            Err(ProviderError::NotFound)
        ));
        match parse_stat_response(401, br#"{"error":"bad token"}"#) {
            Err(ProviderError::Upstream(message)) => {
                assert_eq!(message, "qiniu stat: HTTP 401: bad token")
            }
            other => panic!("{other:?}"),
        }
        match parse_stat_response(631, br#"{"error":"no such bucket"}"#) {
            Err(ProviderError::Upstream(message)) => {
                assert!(message.contains("631") && message.contains("no such bucket"))
            }
            other => panic!("{other:?}"),
        }
        match parse_stat_response(502, &[b'x'; 1000]) {
            Err(ProviderError::Upstream(message)) => assert!(message.len() < 250),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_stat_response(200, b"<html>"),
            Err(ProviderError::Upstream(_))
        ));
        assert!(matches!(
            parse_stat_response(200, br#"{"hash":"x"}"#),
            Err(ProviderError::Upstream(_))
        ));
    }
}
