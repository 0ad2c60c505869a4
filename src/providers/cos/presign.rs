//! URL layout of COS presigned requests. Pure.

#[cfg(test)]
use super::sign::{url_encode, RequestSignature};
use crate::providers::common;

/// The signed path of an object: `/` + the raw key (COS signs the decoded UTF-8 path).
pub fn key_path(key: &str) -> String {
    format!("/{key}")
}

/// The same path as it goes on the wire: every byte outside `A-Za-z0-9-_.~/` percent-encoded.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    push_encoded_path(&mut out, path);
    out
}

/// [`encode_path`] into `out`.
pub(crate) fn push_encoded_path(out: &mut String, path: &str) {
    common::push_percent_encoded(out, path, true);
}

#[cfg(test)]
/// Query of a presigned URL in the cos-python-sdk-v5 layout: the `q-*` pairs, then the signed parameters,
/// every name and value UrlEncoded (so `;` is `%3B` and a space `%20`, never `+`).
pub fn presigned_query(
    secret_id: &str,
    signature: &RequestSignature,
    params: &[(&str, &str)],
) -> String {
    signature
        .q_pairs(secret_id)
        .iter()
        .chain(params)
        .map(|(name, value)| format!("{}={}", url_encode(name), url_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::cos::sign::{sign_request, SignableRequest};
    use crate::providers::cos::test_vectors::{cos_vectors, RequestVector};

    /// Our URL for a vector's request: the Python layout, with the vector's params signed.
    fn our_url(v: &RequestVector) -> String {
        let (headers, params) = v.pairs();
        let request = SignableRequest {
            method: &v.method,
            path: &v.path,
            headers: &headers,
            params: &params,
        };
        let signature = sign_request(&v.secret_key, &v.key_time, &request);
        let query = presigned_query(&v.secret_id, &signature, &params);
        format!("https://{}{}?{}", v.host, encode_path(&v.path), query)
    }

    fn split(url: &str) -> (&str, Vec<(String, String)>) {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        pairs.sort();
        (base, pairs)
    }

    /// Python-layout URLs are reproduced byte for byte, except Q3 whose extra parameter the SDK form-encodes
    /// (`+` for a space): there the path is byte-exact and the decoded parameters equal. Node-layout URLs
    /// (raw `;`) compare by path and decoded parameters; N3's unsigned token is the only extra pair.
    #[test]
    fn every_url_vector_is_reproduced() {
        let vectors = cos_vectors().request_signatures;
        let with_url: Vec<&RequestVector> = vectors.iter().filter(|v| v.url.is_some()).collect();
        assert_eq!(with_url.len(), 8, "Q1-Q5 N1-N3");
        let failures: Vec<&str> = with_url
            .iter()
            .filter(|v| {
                let want = v.url.as_deref().unwrap_or_default();
                let got = our_url(v);
                let byte_exact = v.url_style.as_deref() == Some("python-sdk") && v.id != "Q3";
                if byte_exact {
                    return got != want;
                }
                let (got_base, got_pairs) = split(&got);
                let (want_base, mut want_pairs) = split(want);
                if let Some(token) = &v.security_token_unsigned {
                    let unsigned = ("x-cos-security-token".to_owned(), token.clone());
                    let before = want_pairs.len();
                    want_pairs.retain(|pair| *pair != unsigned);
                    if want_pairs.len() + 1 != before {
                        return true;
                    }
                }
                got_base != want_base || got_pairs != want_pairs
            })
            .map(|v| v.id.as_str())
            .collect();
        assert!(failures.is_empty(), "failing URL vectors: {failures:?}");
    }

    #[test]
    fn awkward_keys_are_percent_encoded_in_the_path_and_signed_raw() {
        let cases = [
            ("a b.txt", "/a%20b.txt"),
            ("a+b=c.txt", "/a%2Bb%3Dc.txt"),
            (
                "用户/测试 文件+(1).png",
                "/%E7%94%A8%E6%88%B7/%E6%B5%8B%E8%AF%95%20%E6%96%87%E4%BB%B6%2B%281%29.png",
            ),
            ("dir/%2e&?#;.bin", "/dir/%252e%26%3F%23%3B.bin"),
            ("x~y_z-1.0", "/x~y_z-1.0"),
        ];
        for (key, wire) in cases {
            assert_eq!(encode_path(&key_path(key)), wire, "{key}");
            let request = SignableRequest {
                method: "GET",
                path: &key_path(key),
                headers: &[],
                params: &[],
            };
            let signed = sign_request("sk", "1;2", &request);
            assert_eq!(signed.http_string, format!("get\n/{key}\n\n\n"), "{key}");
        }
    }

    #[test]
    fn query_values_never_use_plus_for_space() {
        let request = SignableRequest {
            method: "GET",
            path: "/a",
            headers: &[],
            params: &[],
        };
        let signature = sign_request("sk", "1;2", &request);
        let query = presigned_query(
            "AKID",
            &signature,
            &[("response-content-disposition", "a b+c")],
        );
        assert!(
            query.ends_with("&response-content-disposition=a%20b%2Bc"),
            "{query}"
        );
        assert!(
            query
                .starts_with("q-sign-algorithm=sha1&q-ak=AKID&q-sign-time=1%3B2&q-key-time=1%3B2&"),
            "{query}"
        );
    }
}
