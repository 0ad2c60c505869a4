//! COS XML-API request signature (`q-sign-algorithm=sha1`), doc 436/7778. Pure: time comes in as `KeyTime`.

use std::borrow::Cow;
#[cfg(test)]
use std::fmt;

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

use crate::providers::common;

/// HMAC-SHA1 (the q-sign MAC).
pub type HmacSha1 = Hmac<Sha1>;

/// Percent-encodes `s` the way COS signatures require: every byte but `A-Za-z0-9-_.~` becomes `%XX`
/// (uppercase hex, space = `%20`, never `+`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    common::push_percent_encoded(&mut out, s, false);
    out
}

/// [`url_encode`] into `out`.
pub(crate) fn push_url_encoded(out: &mut String, s: &str) {
    common::push_percent_encoded(out, s, false);
}

/// The `start;end` validity window (unix seconds) shared by `q-sign-time` and `q-key-time`.
pub fn key_time(start: i64, end: i64) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(24);
    // Writing integers to a String cannot fail; `format!` would size its buffer by guessing and grow.
    let _ = write!(out, "{start};{end}");
    out
}

#[cfg(test)]
/// Lowercase hex SHA-1 of `data`.
pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

#[cfg(test)]
/// Lowercase hex HMAC-SHA1 of `msg` under `key`.
pub fn hmac_sha1_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
/// `SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))`; its hex *text* is the key of the second HMAC.
pub fn sign_key(secret_key: &str, key_time: &str) -> String {
    hmac_sha1_hex(secret_key.as_bytes(), key_time.as_bytes())
}

/// The parts of an HTTP request a q-sign signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method, any case (signed lowercased).
    pub method: &'a str,
    /// Raw, decoded UTF-8 path starting with `/` (`/用户/a b+.png`, never percent-encoded).
    pub path: &'a str,
    /// Headers to sign, raw names and values.
    pub headers: &'a [(&'a str, &'a str)],
    /// Query parameters to sign, raw (decoded) names and values.
    pub params: &'a [(&'a str, &'a str)],
}

#[cfg(test)]
/// Every value of one q-sign computation, so tests can check each intermediate the vectors publish.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestSignature {
    /// `start;end`, sent as both `q-sign-time` and `q-key-time`.
    pub key_time: String,
    /// Derived secret: anyone holding it can sign any request within `key_time`; never logged.
    pub sign_key: String,
    /// `q-header-list`: encoded, lowercased, sorted header names joined by `;`.
    pub header_list: String,
    /// `q-url-param-list`: the same for the signed query parameters.
    pub url_param_list: String,
    /// `name=value&…` of the signed parameters (HttpString line 3).
    pub http_parameters: String,
    /// `name=value&…` of the signed headers (HttpString line 4).
    pub http_headers: String,
    /// `method\npath\nparams\nheaders\n`.
    pub http_string: String,
    /// hex(SHA1(HttpString)).
    pub sha1_http_string: String,
    /// `sha1\nKeyTime\nhex(SHA1(HttpString))\n`.
    pub string_to_sign: String,
    /// `q-signature`: hex(HMAC-SHA1(SignKey hex text, StringToSign)).
    pub signature: String,
}

#[cfg(test)]
impl RequestSignature {
    /// The `q-*` pairs in the fixed order every SDK emits, raw (not URL-encoded).
    pub fn q_pairs<'a>(&'a self, secret_id: &'a str) -> [(&'static str, &'a str); 7] {
        [
            ("q-sign-algorithm", "sha1"),
            ("q-ak", secret_id),
            ("q-sign-time", &self.key_time),
            ("q-key-time", &self.key_time),
            ("q-header-list", &self.header_list),
            ("q-url-param-list", &self.url_param_list),
            ("q-signature", &self.signature),
        ]
    }

    /// The `Authorization` header value: the `q-*` pairs joined raw with `&`.
    pub fn authorization(&self, secret_id: &str) -> String {
        self.q_pairs(secret_id)
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
impl fmt::Debug for RequestSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSignature")
            .field("key_time", &self.key_time)
            .field("sign_key", &"<redacted>")
            .field("header_list", &self.header_list)
            .field("url_param_list", &self.url_param_list)
            .field("http_string", &self.http_string)
            .field("signature", &self.signature)
            .finish()
    }
}

#[cfg(test)]
/// `name;name;…` and `name=value&…` of a header or parameter set, as the HttpString needs them.
struct CanonicalSet {
    list: String,
    pairs: String,
}

#[cfg(test)]
/// Names are UrlEncoded then lowercased (as the SDKs do, so `%2F` becomes `%2f`), values UrlEncoded, sorted by name.
fn canonicalize(entries: &[(&str, &str)]) -> CanonicalSet {
    let mut encoded: Vec<(String, String)> = entries
        .iter()
        .map(|(name, value)| (url_encode(name).to_lowercase(), url_encode(value)))
        .collect();
    encoded.sort();
    let list = encoded
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let pairs = encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    CanonicalSet { list, pairs }
}

#[cfg(test)]
/// Signs `request` with `secret_key` over the window `key_time` (see [`key_time`]).
pub fn sign_request(
    secret_key: &str,
    key_time: &str,
    request: &SignableRequest,
) -> RequestSignature {
    let sign_key = sign_key(secret_key, key_time);
    let params = canonicalize(request.params);
    let headers = canonicalize(request.headers);
    let http_string = format!(
        "{}\n{}\n{}\n{}\n",
        request.method.to_lowercase(),
        request.path,
        params.pairs,
        headers.pairs
    );
    let sha1_http_string = sha1_hex(http_string.as_bytes());
    let string_to_sign = format!("sha1\n{key_time}\n{sha1_http_string}\n");
    let signature = hmac_sha1_hex(sign_key.as_bytes(), string_to_sign.as_bytes());
    RequestSignature {
        key_time: key_time.to_owned(),
        sign_key,
        header_list: headers.list,
        url_param_list: params.list,
        http_parameters: params.pairs,
        http_headers: headers.pairs,
        http_string,
        sha1_http_string,
        string_to_sign,
        signature,
    }
}

/// What a request carries of a q-sign signature (the test oracle's `RequestSignature` adds the intermediates).
pub(crate) struct UrlSignature {
    /// `q-header-list`.
    pub header_list: String,
    /// `q-url-param-list`.
    pub url_param_list: String,
    /// `q-signature`.
    pub signature: String,
}

impl UrlSignature {
    /// The `Authorization` header value: the `q-*` pairs in the SDKs' order, joined raw with `&`.
    pub fn authorization(&self, secret_id: &str, key_time: &str) -> String {
        format!(
            "q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}&q-header-list={}&q-url-param-list={}&q-signature={}",
            self.header_list, self.url_param_list, self.signature
        )
    }
}

/// Lowercase hex of `bytes` into a fixed buffer.
fn hex_buf<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    hex::encode_to_slice(bytes, &mut out).unwrap_or_else(|_| unreachable!("N = 2 * len"));
    out
}

/// `hex(HMAC-SHA1(SecretKey, KeyTime))` from a state already keyed with SecretKey: the SignKey's hex text.
fn sign_key_hex(keyed_secret: &HmacSha1, key_time: &str) -> [u8; 40] {
    let mut mac = keyed_secret.clone();
    mac.update(key_time.as_bytes());
    hex_buf(&mac.finalize().into_bytes())
}

/// `hex(HMAC-SHA1(SignKey hex text, data))`: the last step of every q-sign signature.
fn signature_over(sign_key: &[u8; 40], data: &[&[u8]]) -> String {
    let mut mac = HmacSha1::new_from_slice(sign_key).unwrap_or_else(|_| unreachable!());
    for part in data {
        mac.update(part);
    }
    common::hex_string(&mac.finalize().into_bytes())
}

/// Encoded, lowercased names and encoded values, sorted: [`canonicalize`] without building its strings.
fn canonical_entries<'a>(entries: &[(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut encoded: Vec<(Cow<'a, str>, Cow<'a, str>)> = entries
        .iter()
        .map(|(name, value)| {
            let name = if common::needs_no_encoding(name, false)
                && !name.bytes().any(|b| b.is_ascii_uppercase())
            {
                Cow::Borrowed(*name)
            } else {
                let mut n = url_encode(name);
                n.make_ascii_lowercase();
                Cow::Owned(n)
            };
            let value = if common::needs_no_encoding(value, false) {
                Cow::Borrowed(*value)
            } else {
                Cow::Owned(url_encode(value))
            };
            (name, value)
        })
        .collect();
    encoded.sort_unstable();
    encoded
}

fn push_list(out: &mut String, entries: &[(Cow<'_, str>, Cow<'_, str>)]) {
    for (i, (name, _)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
}

fn push_pairs(out: &mut String, entries: &[(Cow<'_, str>, Cow<'_, str>)]) {
    for (i, (name, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// The q-sign signature (the only implementation outside tests): SecretKey's HMAC state is keyed once per store
/// and cloned, and only the values a request carries are built. The unit tests check it against every vector and
/// against the readable oracle `sign_request`.
pub(crate) fn sign_request_keyed(
    keyed_secret: &HmacSha1,
    key_time: &str,
    request: &SignableRequest,
) -> UrlSignature {
    let sign_key = sign_key_hex(keyed_secret, key_time);
    let params = canonical_entries(request.params);
    let headers = canonical_entries(request.headers);
    let mut http_string = String::with_capacity(request.path.len() + 256);
    if request.method.is_ascii() {
        http_string.push_str(request.method);
        http_string.make_ascii_lowercase();
    } else {
        http_string.push_str(&request.method.to_lowercase());
    }
    http_string.push('\n');
    http_string.push_str(request.path);
    http_string.push('\n');
    push_pairs(&mut http_string, &params);
    http_string.push('\n');
    push_pairs(&mut http_string, &headers);
    http_string.push('\n');
    let mut header_list = String::with_capacity(64);
    push_list(&mut header_list, &headers);
    let mut url_param_list = String::new();
    push_list(&mut url_param_list, &params);
    UrlSignature {
        header_list,
        url_param_list,
        // StringToSign = `sha1\n<KeyTime>\n<hex SHA-1 of HttpString>\n`, fed to the HMAC piece by piece.
        signature: signature_over(
            &sign_key,
            &[
                b"sha1\n",
                key_time.as_bytes(),
                b"\n",
                &hex_buf::<40>(&Sha1::digest(http_string.as_bytes())),
                b"\n",
            ],
        ),
    }
}

/// The COS POST-policy `q-signature` for the hot path, from a keyed SecretKey state: the StringToSign of a
/// policy is just `hex(SHA-1(policy JSON))` (see `post_policy::sign_policy`).
pub(crate) fn sign_policy_keyed(
    keyed_secret: &HmacSha1,
    key_time: &str,
    policy_text: &str,
) -> String {
    let sign_key = sign_key_hex(keyed_secret, key_time);
    signature_over(
        &sign_key,
        &[&hex_buf::<40>(&Sha1::digest(policy_text.as_bytes()))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::cos::test_vectors::{cos_vectors, RequestVector};

    fn sign_vector(v: &RequestVector) -> RequestSignature {
        let (headers, params) = v.pairs();
        let request = SignableRequest {
            method: &v.method,
            path: &v.path,
            headers: &headers,
            params: &params,
        };
        sign_request(&v.secret_key, &v.key_time, &request)
    }

    /// Names of the intermediate values of `v` that `sig` does not reproduce byte for byte.
    fn mismatches(v: &RequestVector, sig: &RequestSignature) -> Vec<&'static str> {
        let checks = [
            ("sign_key", &sig.sign_key, &v.sign_key),
            ("header_list", &sig.header_list, &v.header_list),
            ("url_param_list", &sig.url_param_list, &v.url_param_list),
            ("http_parameters", &sig.http_parameters, &v.http_parameters),
            ("http_headers", &sig.http_headers, &v.http_headers),
            ("http_string", &sig.http_string, &v.http_string),
            (
                "sha1_http_string",
                &sig.sha1_http_string,
                &v.sha1_http_string,
            ),
            ("string_to_sign", &sig.string_to_sign, &v.string_to_sign),
            ("signature", &sig.signature, &v.signature),
        ];
        let mut failed: Vec<&'static str> = checks
            .iter()
            .filter(|(_, got, want)| got != want)
            .map(|(name, _, _)| *name)
            .collect();
        if sig.authorization(&v.secret_id) != v.authorization {
            failed.push("authorization");
        }
        failed
    }

    #[test]
    fn every_request_signature_vector_reproduces_every_intermediate() {
        let vectors = cos_vectors().request_signatures;
        assert_eq!(vectors.len(), 12, "D1 D2 Q1-Q5 A1 N1-N3 S1");
        let failures: Vec<String> = vectors
            .iter()
            .filter_map(|v| {
                let bad = mismatches(v, &sign_vector(v));
                (!bad.is_empty()).then(|| format!("{}: {}", v.id, bad.join(", ")))
            })
            .collect();
        assert!(failures.is_empty(), "failing vectors: {failures:#?}");
    }

    #[test]
    fn the_keyed_signer_gives_the_same_values_on_every_vector() {
        for v in cos_vectors().request_signatures {
            let (headers, params) = v.pairs();
            let request = SignableRequest {
                method: &v.method,
                path: &v.path,
                headers: &headers,
                params: &params,
            };
            let keyed = HmacSha1::new_from_slice(v.secret_key.as_bytes()).expect("any length");
            let fast = sign_request_keyed(&keyed, &v.key_time, &request);
            let slow = sign_request(&v.secret_key, &v.key_time, &request);
            assert_eq!(
                (fast.header_list, fast.url_param_list, fast.signature),
                (slow.header_list, slow.url_param_list, slow.signature),
                "{}",
                v.id
            );
        }
    }

    #[test]
    fn a_changed_input_changes_the_signature() {
        let vectors = cos_vectors().request_signatures;
        let mut v = vectors
            .into_iter()
            .find(|v| v.id == "N1")
            .expect("N1 present");
        v.path.push('x');
        assert_eq!(
            mismatches(&v, &sign_vector(&v)),
            vec![
                "http_string",
                "sha1_http_string",
                "string_to_sign",
                "signature",
                "authorization"
            ]
        );
    }

    #[test]
    fn url_encode_keeps_only_unreserved_bytes() {
        assert_eq!(url_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(url_encode("a b+c=d/e;f"), "a%20b%2Bc%3Dd%2Fe%3Bf");
        assert_eq!(
            url_encode("!*'()\"#$&,:?@[]^`{|}<>\\%"),
            "%21%2A%27%28%29%22%23%24%26%2C%3A%3F%40%5B%5D%5E%60%7B%7C%7D%3C%3E%5C%25"
        );
        assert_eq!(url_encode("腾讯云"), "%E8%85%BE%E8%AE%AF%E4%BA%91");
    }

    #[test]
    fn names_are_lowercased_after_encoding_and_sorted() {
        let set = canonicalize(&[
            ("X-Cos-Meta-B", "2"),
            ("Host", "h"),
            ("x-cos-meta-a", "1 2"),
        ]);
        assert_eq!(set.list, "host;x-cos-meta-a;x-cos-meta-b");
        assert_eq!(set.pairs, "host=h&x-cos-meta-a=1%202&x-cos-meta-b=2");
    }

    #[test]
    fn debug_redacts_the_sign_key() {
        let request = SignableRequest {
            method: "GET",
            path: "/a",
            headers: &[],
            params: &[],
        };
        let sig = sign_request("SECRET", &key_time(1, 2), &request);
        let shown = format!("{sig:?}");
        assert!(
            !shown.contains(&sig.sign_key) && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
