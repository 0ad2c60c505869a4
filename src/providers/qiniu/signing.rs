//! Qiniu's MAC primitive and the two request signing strings (`QBox` and `Qiniu` v2), shared by the
//! callback verifier and the management (stat) signer. Pure: no clock, no I/O.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// HMAC-SHA1 keyed with a secret key, as every Qiniu credential uses it.
pub type HmacSha1 = Hmac<Sha1>;

/// The only Content-Type whose body the `QBox` scheme signs (docs/PROVIDERS.md, Qiniu).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The only Content-Type whose body the `Qiniu` v2 scheme leaves unsigned (docs/PROVIDERS.md, Qiniu).
const OCTET_STREAM: &str = "application/octet-stream";
/// Signed header prefix of the v2 scheme; `X-Qiniu-` alone is not signed (docs/PROVIDERS.md, Qiniu).
const QINIU_HEADER_PREFIX: &str = "X-Qiniu-";

/// Base64 with the urlsafe alphabet and the `=` padding KEPT: every SDK pads, and the HMAC covers
/// the padded text (docs/PROVIDERS.md, Qiniu).
pub fn urlsafe_b64(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// A fresh HMAC-SHA1 keyed with the UTF-8 bytes of `sk`.
pub fn hmac_sha1(sk: &str) -> HmacSha1 {
    HmacSha1::new_from_slice(sk.as_bytes()).expect("HMAC accepts keys of any length")
}

/// `urlsafe_b64(HMAC-SHA1(sk, data))`: the `<sign>` of every Qiniu credential.
pub fn encoded_sign(sk: &str, data: &[u8]) -> String {
    encoded_sign_keyed(&hmac_sha1(sk), data)
}

/// [`encoded_sign`] from a state already keyed with the SK (cloned, so the key is not absorbed again).
pub fn encoded_sign_keyed(keyed_sk: &HmacSha1, data: &[u8]) -> String {
    let mut mac = keyed_sk.clone();
    mac.update(data);
    urlsafe_b64(&mac.finalize().into_bytes())
}

/// The parts of an HTTP request that Qiniu's request signatures cover, taken raw from the wire.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    /// Request method, e.g. `POST`.
    pub method: &'a str,
    /// Raw (still percent-encoded) path; may be empty.
    pub path: &'a str,
    /// Raw query without `?`; `None` and `Some("")` both mean no query.
    pub query: Option<&'a str>,
    /// `Host` header value, including a non-default port.
    pub host: &'a str,
    /// `None` and `Some("")` both mean no Content-Type (the SDKs test it for truthiness).
    pub content_type: Option<&'a str>,
    /// Every header received; names in any case. Only `X-Qiniu-*` ones are signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// Raw body bytes.
    pub body: &'a [u8],
}

impl<'a> RequestToSign<'a> {
    fn query(&self) -> Option<&'a str> {
        self.query.filter(|q| !q.is_empty())
    }

    fn content_type(&self) -> Option<&'a str> {
        self.content_type.filter(|ct| !ct.is_empty())
    }

    fn push_path_and_query(&self, data: &mut Vec<u8>) {
        data.extend_from_slice(self.path.as_bytes());
        if let Some(query) = self.query() {
            data.push(b'?');
            data.extend_from_slice(query.as_bytes());
        }
    }
}

/// `QBox` signing data: `path[?query]\n` + the body only when the Content-Type is exactly
/// form-urlencoded (so a JSON body is NOT signed; docs/PROVIDERS.md, Qiniu).
pub fn qbox_signing_data(r: &RequestToSign) -> Vec<u8> {
    let mut data = Vec::with_capacity(r.path.len() + r.body.len() + 64);
    r.push_path_and_query(&mut data);
    data.push(b'\n');
    if r.content_type() == Some(FORM_CONTENT_TYPE) {
        data.extend_from_slice(r.body);
    }
    data
}

/// `Qiniu` v2 signing data (docs/PROVIDERS.md, Qiniu): `METHOD path[?query]\nHost: host[\nContent-Type: ct]`,
/// then the sorted canonical `\nX-Qiniu-Name: value` lines, then `\n\n` (always), then the body when
/// a Content-Type is present and is not octet-stream. No Content-Type means no line and no body
/// (Python, Rust, Java; Go and Node would substitute form, which never matters for callbacks: Qiniu
/// always sends one).
pub fn qiniu_signing_data(r: &RequestToSign) -> Vec<u8> {
    let mut data = Vec::with_capacity(r.path.len() + r.body.len() + 256);
    data.extend_from_slice(r.method.as_bytes());
    data.push(b' ');
    r.push_path_and_query(&mut data);
    data.extend_from_slice(b"\nHost: ");
    data.extend_from_slice(r.host.as_bytes());
    let content_type = r.content_type();
    if let Some(ct) = content_type {
        data.extend_from_slice(b"\nContent-Type: ");
        data.extend_from_slice(ct.as_bytes());
    }
    for (name, value) in signed_qiniu_headers(r.headers) {
        data.push(b'\n');
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(b": ");
        data.extend_from_slice(value.as_bytes());
    }
    data.extend_from_slice(b"\n\n");
    if content_type.is_some_and(|ct| ct != OCTET_STREAM) {
        data.extend_from_slice(r.body);
    }
    data
}

/// The `X-Qiniu-*` headers under their canonical names, sorted by (name, value); every value of a
/// repeated header gets its own line (the Rust SDK's behaviour; docs/PROVIDERS.md, Qiniu).
fn signed_qiniu_headers<'h>(headers: &[(&str, &'h str)]) -> Vec<(String, &'h str)> {
    // Only `X-Qiniu-*` names are canonicalized (and so allocated); the prefix test is the canonical form's.
    let mut signed: Vec<(String, &'h str)> = headers
        .iter()
        .filter(|(name, _)| {
            name.len() > QINIU_HEADER_PREFIX.len()
                && name.as_bytes()[..QINIU_HEADER_PREFIX.len()]
                    .eq_ignore_ascii_case(QINIU_HEADER_PREFIX.as_bytes())
        })
        .map(|(name, value)| (canonical_header_name(name), *value))
        .collect();
    signed.sort();
    signed
}

/// Go's `CanonicalMIMEHeaderKey`: upper-case the first letter and every letter after `-`, lower-case
/// the rest. actix hands header names over lower-cased, Qiniu signs them canonical.
fn canonical_header_name(name: &str) -> String {
    let mut upper_next = true;
    name.chars()
        .map(|c| {
            let out = if upper_next {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper_next = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_match_go() {
        for (raw, canonical) in [
            ("x-qiniu-date", "X-Qiniu-Date"),
            ("X-QINIU-BBB", "X-Qiniu-Bbb"),
            ("content-type", "Content-Type"),
            ("x-qiniu-", "X-Qiniu-"),
            ("x-qiniu-a-b_c", "X-Qiniu-A-B_c"),
        ] {
            assert_eq!(canonical_header_name(raw), canonical, "{raw}");
        }
    }

    #[test]
    fn only_longer_than_prefix_qiniu_headers_are_signed_sorted_by_name_then_value() {
        let headers = [
            ("x-qiniu-b", "2"),
            ("X-Qiniu-", "a"),
            ("x-qiniu", "b"),
            ("host", "example.com"),
            ("X-Qiniu-A", "z"),
            ("x-qiniu-a", "y"),
            ("x-reqid", "r"),
        ];
        let got = signed_qiniu_headers(&headers);
        let want = [
            ("X-Qiniu-A".to_owned(), "y"),
            ("X-Qiniu-A".to_owned(), "z"),
            ("X-Qiniu-B".to_owned(), "2"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn octet_stream_body_is_not_signed_in_v2_and_a_form_body_with_parameters_not_in_qbox() {
        let base = RequestToSign {
            method: "POST",
            path: "/cb",
            query: Some(""),
            host: "h",
            content_type: Some(OCTET_STREAM),
            headers: &[],
            body: b"data",
        };
        assert_eq!(
            qiniu_signing_data(&base),
            b"POST /cb\nHost: h\nContent-Type: application/octet-stream\n\n"
        );
        let with_charset = RequestToSign {
            content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
            ..base
        };
        assert_eq!(qbox_signing_data(&with_charset), b"/cb\n");
    }

    #[test]
    fn no_content_type_means_no_line_and_no_body_in_v2() {
        let r = RequestToSign {
            method: "POST",
            path: "/cb",
            query: Some("t=1"),
            host: "h:8443",
            content_type: None,
            headers: &[],
            body: b"a=1",
        };
        assert_eq!(qiniu_signing_data(&r), b"POST /cb?t=1\nHost: h:8443\n\n");
        assert_eq!(
            qiniu_signing_data(&RequestToSign {
                content_type: Some(""),
                ..r
            }),
            qiniu_signing_data(&r)
        );
        assert_eq!(
            qiniu_signing_data(&RequestToSign { body: b"", ..r }),
            b"POST /cb?t=1\nHost: h:8443\n\n"
        );
    }
}
