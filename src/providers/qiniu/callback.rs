//! Verification of Qiniu's upload callbacks (回调鉴权, docs/PROVIDERS.md, Qiniu). Pure.
//!
//! Which prefix Qiniu sends today is UNVERIFIED (the docs show `QBox`, pfop callbacks moved to
//! `Qiniu`), so both are accepted, exactly as every official SDK's verifier now does. Nothing else is.
//!
//! Under `QBox` a body is signed only when the Content-Type is exactly form-urlencoded (the broker's
//! tokens always ask for that type); a caller must not trust a body Qiniu did not sign.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hmac::Mac;

use super::signing::{qbox_signing_data, qiniu_signing_data, HmacSha1, RequestToSign};

/// A received callback request, every part raw as it came off the wire.
#[derive(Debug, Clone, Copy)]
pub struct CallbackRequest<'a> {
    /// Request method as received (Qiniu sends `POST`).
    pub method: &'a str,
    /// Raw path, still percent-encoded.
    pub path: &'a str,
    /// Raw query, without `?`.
    pub query: Option<&'a str>,
    /// `Host` header, including the port.
    pub host: &'a str,
    /// `Content-Type` header verbatim (`None` or `""` when absent).
    pub content_type: Option<&'a str>,
    /// All received headers; names in any case (actix lower-cases them).
    pub headers: &'a [(&'a str, &'a str)],
    /// The raw body bytes, before any parsing.
    pub body: &'a [u8],
    /// `Authorization` header verbatim.
    pub authorization: Option<&'a str>,
}

/// Why a callback was rejected. Deliberately says nothing about the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// No `Authorization` header, or an empty one.
    #[error("missing Authorization header")]
    Missing,
    /// Not `QBox ` or `Qiniu ` (case-sensitive, as in every SDK).
    #[error("unsupported Authorization scheme")]
    BadScheme,
    /// The access key is not one of ours.
    #[error("unknown access key")]
    UnknownKey,
    /// Malformed credential or a signature that does not match the request.
    #[error("bad signature")]
    BadSignature,
}

#[derive(Clone, Copy)]
enum Scheme {
    QBox,
    Qiniu,
}

impl Scheme {
    /// Splits `"<Scheme> <AK>:<sign>"` on the exact, case-sensitive prefix.
    fn split(authorization: &str) -> Option<(Scheme, &str)> {
        if let Some(credential) = authorization.strip_prefix("QBox ") {
            Some((Scheme::QBox, credential))
        } else {
            authorization
                .strip_prefix("Qiniu ")
                .map(|credential| (Scheme::Qiniu, credential))
        }
    }
}

impl<'a> CallbackRequest<'a> {
    fn to_sign(self) -> RequestToSign<'a> {
        RequestToSign {
            method: self.method,
            path: self.path,
            query: self.query,
            host: self.host,
            content_type: self.content_type,
            headers: self.headers,
            body: self.body,
        }
    }
}

/// Accepts a callback signed `QBox <AK>:<sign>` or `Qiniu <AK>:<sign>` by one of `keys`
/// (`(access_key, secret_key)` pairs, so two keys can be active during a rotation). Tests' convenience form of
/// [`verify_callback_keyed`], the one implementation.
#[cfg(test)]
pub fn verify_callback(keys: &[(&str, &str)], req: &CallbackRequest) -> Result<(), CallbackError> {
    let keyed: Vec<(&str, HmacSha1)> = keys
        .iter()
        .map(|(ak, sk)| (*ak, super::signing::hmac_sha1(sk)))
        .collect();
    let refs: Vec<(&str, &HmacSha1)> = keyed.iter().map(|(ak, mac)| (*ak, mac)).collect();
    verify_callback_keyed(&refs, req)
}

/// [`verify_callback`] with each SK's HMAC state keyed once (a store keeps its own and clones it).
pub fn verify_callback_keyed(
    keys: &[(&str, &HmacSha1)],
    req: &CallbackRequest,
) -> Result<(), CallbackError> {
    let authorization = req
        .authorization
        .filter(|a| !a.is_empty())
        .ok_or(CallbackError::Missing)?;
    let (scheme, credential) = Scheme::split(authorization).ok_or(CallbackError::BadScheme)?;
    let (ak, sign) = credential
        .split_once(':')
        .ok_or(CallbackError::BadSignature)?;
    let keyed_sk = keys
        .iter()
        .find(|(known_ak, _)| !ak.is_empty() && *known_ak == ak)
        .map(|(_, keyed)| *keyed)
        .ok_or(CallbackError::UnknownKey)?;
    // The strict padded decoder rejects trailing spaces, unpadded and non-canonical encodings, so
    // only the exact text Qiniu sends can match. A 20-byte HMAC is 28 characters; anything longer
    // cannot match and is refused before decoding.
    if sign.len() != 28 {
        return Err(CallbackError::BadSignature);
    }
    let mut signature = [0u8; 21];
    let len = URL_SAFE
        .decode_slice(sign, &mut signature)
        .map_err(|_| CallbackError::BadSignature)?;
    let request = req.to_sign();
    let data = match scheme {
        Scheme::QBox => qbox_signing_data(&request),
        Scheme::Qiniu => qiniu_signing_data(&request),
    };
    let mut mac = keyed_sk.clone();
    mac.update(&data);
    mac.verify_slice(&signature[..len])
        .map_err(|_| CallbackError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::super::signing::encoded_sign;
    use super::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../../tests/vectors/qiniu.json");

    /// One callback vector, owned, so tests can tamper with it.
    #[derive(Clone)]
    struct Case {
        id: String,
        ak: String,
        sk: String,
        method: String,
        path: String,
        query: String,
        host: String,
        content_type: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Case {
        fn from_vector(v: &Value) -> Case {
            let field = |name: &str| {
                v[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name} in {v}"))
                    .to_owned()
            };
            let headers = v["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().expect("name").to_owned(),
                        h[1].as_str().expect("value").to_owned(),
                    )
                })
                .collect();
            Case {
                id: field("id"),
                ak: field("ak"),
                sk: field("sk"),
                method: field("method"),
                path: field("path"),
                query: field("query"),
                host: field("host"),
                content_type: field("content_type"),
                headers,
                body: field("body"),
            }
        }

        fn with_change(&self, change: &Value) -> Case {
            let mut case = self.clone();
            for (name, value) in change.as_object().expect("change") {
                let value = value.as_str().expect("string change").to_owned();
                match name.as_str() {
                    "body" => case.body = value,
                    "path" => case.path = value,
                    "method" => case.method = value,
                    "host" => case.host = value,
                    other => panic!("unknown tamper field {other}"),
                }
            }
            case
        }

        /// Verifies the request as a handler would see it ("" content type = absent).
        fn verify(
            &self,
            keys: &[(&str, &str)],
            authorization: Option<&str>,
        ) -> Result<(), CallbackError> {
            let headers: Vec<(&str, &str)> = self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let req = self.request(&headers, authorization);
            verify_callback(keys, &req)
        }

        fn request<'a>(
            &'a self,
            headers: &'a [(&'a str, &'a str)],
            authorization: Option<&'a str>,
        ) -> CallbackRequest<'a> {
            CallbackRequest {
                method: &self.method,
                path: &self.path,
                query: Some(self.query.as_str()).filter(|q| !q.is_empty()),
                host: &self.host,
                content_type: Some(self.content_type.as_str()).filter(|ct| !ct.is_empty()),
                headers,
                body: self.body.as_bytes(),
                authorization,
            }
        }

        fn own_keys(&self) -> [(&str, &str); 1] {
            [(self.ak.as_str(), self.sk.as_str())]
        }
    }

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).expect("qiniu.json parses")
    }

    fn callbacks(v: &Value) -> Vec<(Case, &Value)> {
        v["callbacks"]
            .as_array()
            .expect("callbacks")
            .iter()
            .map(|c| (Case::from_vector(c), c))
            .collect()
    }

    fn report(failures: Vec<String>) {
        assert!(
            failures.is_empty(),
            "failing vectors:\n{}",
            failures.join("\n")
        );
    }

    /// Checks the signing string, the Authorization we compute from it, and that the verifier
    /// accepts the vector's Authorization, for one scheme.
    fn check_scheme(
        case: &Case,
        scheme: &str,
        want_string: Option<&str>,
        want_authorization: Option<&str>,
        failures: &mut Vec<String>,
    ) -> bool {
        let (Some(want_string), Some(want_authorization)) = (want_string, want_authorization)
        else {
            return false;
        };
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = case.request(&headers, None).to_sign();
        let data = if scheme == "QBox" {
            qbox_signing_data(&request)
        } else {
            qiniu_signing_data(&request)
        };
        if data != want_string.as_bytes() {
            failures.push(format!(
                "{} {scheme}: signing string {:?}",
                case.id,
                String::from_utf8_lossy(&data)
            ));
        }
        let authorization = format!("{scheme} {}:{}", case.ak, encoded_sign(&case.sk, &data));
        if authorization != want_authorization {
            failures.push(format!(
                "{} {scheme}: authorization {authorization}",
                case.id
            ));
        }
        if let Err(e) = case.verify(&case.own_keys(), Some(want_authorization)) {
            failures.push(format!("{} {scheme}: rejected: {e}", case.id));
        }
        true
    }

    #[test]
    fn every_callback_vector_is_reproduced_and_accepted_in_both_schemes() {
        let v = vectors();
        let mut failures = Vec::new();
        let (mut qbox, mut qiniu) = (0, 0);
        for (case, raw) in callbacks(&v) {
            let qbox_auth = raw["qbox_authorization"].as_str();
            if check_scheme(
                &case,
                "QBox",
                raw["qbox_signing_string"].as_str(),
                qbox_auth,
                &mut failures,
            ) {
                qbox += 1;
            }
            let qiniu_auth = raw["qiniu_authorization"].as_str();
            if check_scheme(
                &case,
                "Qiniu",
                raw["qiniu_signing_string"].as_str(),
                qiniu_auth,
                &mut failures,
            ) {
                qiniu += 1;
            }
        }
        report(failures);
        assert_eq!((qbox, qiniu), (13, 14));
    }

    #[test]
    fn node_double_port_value_of_c4_is_rejected() {
        let v = vectors();
        let (case, raw) = callbacks(&v)
            .into_iter()
            .find(|(c, _)| c.id == "C4")
            .expect("C4");
        let divergence = &raw["sdk_divergence"];
        let node_value = divergence["qiniu_authorization"]
            .as_str()
            .expect("node value");
        let double_port = Case {
            host: divergence["host_signed"].as_str().expect("host").to_owned(),
            ..case.clone()
        };
        assert_eq!(
            double_port.verify(&case.own_keys(), Some(node_value)),
            Ok(()),
            "the value is Node's signature of the doubled host"
        );
        assert_eq!(
            case.verify(&case.own_keys(), Some(node_value)),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn every_tamper_case_gets_its_documented_verdict() {
        let v = vectors();
        let mut failures = Vec::new();
        let mut checked = 0;
        for (case, raw) in callbacks(&v) {
            for tamper in raw["tamper"].as_array().into_iter().flatten() {
                let tampered = case.with_change(&tamper["change"]);
                for (scheme, auth_field) in [
                    ("qbox", "qbox_authorization"),
                    ("qiniu", "qiniu_authorization"),
                ] {
                    let Some(want) = tamper[scheme].as_str() else {
                        continue;
                    };
                    let authorization = raw[auth_field]
                        .as_str()
                        .expect("authorization of a tampered scheme");
                    let got = match tampered.verify(&case.own_keys(), Some(authorization)) {
                        Ok(()) => "accept",
                        Err(_) => "reject",
                    };
                    checked += 1;
                    if got != want {
                        failures.push(format!(
                            "{} {scheme} {}: {got}, want {want}",
                            case.id,
                            s(tamper, "what")
                        ));
                    }
                }
            }
        }
        report(failures);
        assert_eq!(checked, 30);
    }

    fn s<'v>(v: &'v Value, field: &str) -> &'v str {
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {v}"))
    }

    #[test]
    fn every_callback_negative_is_rejected_with_the_right_reason() {
        let v = vectors();
        let negative = &v["callback_negative"];
        let base = callbacks(&v)
            .into_iter()
            .find(|(c, _)| c.id == s(negative, "base"))
            .expect("base")
            .0;
        let cases = negative["cases"].as_array().expect("cases");
        let mut failures = Vec::new();
        for c in cases {
            assert_eq!(s(c, "expect"), "reject");
            let result = base.verify(&base.own_keys(), Some(s(c, "authorization")));
            let what = s(c, "what");
            let want = if what.starts_with("lower-case") {
                CallbackError::BadScheme
            } else if what.starts_with("unknown AK") {
                CallbackError::UnknownKey
            } else if what.starts_with("trailing space") {
                CallbackError::BadSignature
            } else {
                CallbackError::Missing
            };
            if result != Err(want) {
                failures.push(format!("{what}: {result:?}, want {want:?}"));
            }
        }
        report(failures);
        assert_eq!(cases.len(), 6);
        assert_eq!(
            base.verify(&base.own_keys(), None),
            Err(CallbackError::Missing)
        );
    }

    #[test]
    fn other_schemes_and_malformed_credentials_are_rejected() {
        let v = vectors();
        let base = callbacks(&v)
            .into_iter()
            .find(|(c, _)| c.id == "C1")
            .expect("C1")
            .0;
        let keys = base.own_keys();
        for (authorization, want) in [
            (
                "UpToken MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=",
                CallbackError::BadScheme,
            ),
            (
                "Bearer KxMF3YQzX9VrNDO6w07MycNW2IY=",
                CallbackError::BadScheme,
            ),
            (
                " QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=",
                CallbackError::BadScheme,
            ),
            (
                "QBox  MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=",
                CallbackError::UnknownKey,
            ),
            ("QBox", CallbackError::BadScheme),
            ("QBox ", CallbackError::BadSignature),
            ("QBox MY_ACCESS_KEY", CallbackError::BadSignature),
            (
                "QBox :KxMF3YQzX9VrNDO6w07MycNW2IY=",
                CallbackError::UnknownKey,
            ),
            (
                "QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY",
                CallbackError::BadSignature,
            ),
            (
                "QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY==",
                CallbackError::BadSignature,
            ),
            (
                "QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2I=",
                CallbackError::BadSignature,
            ),
            (
                "QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=:x",
                CallbackError::BadSignature,
            ),
            (
                "QBox MY_ACCESS_KEY:gRuMxpfO3KV8uTRDABIb57s0LRY=",
                CallbackError::BadSignature,
            ),
            (
                "Qiniu MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=",
                CallbackError::BadSignature,
            ),
        ] {
            assert_eq!(
                base.verify(&keys, Some(authorization)),
                Err(want),
                "{authorization:?}"
            );
        }
        let wrong_sk = [("MY_ACCESS_KEY", "MY_SECRET_KEY ")];
        assert_eq!(
            base.verify(
                &wrong_sk,
                Some("QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=")
            ),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn c5_mixed_case_and_actix_lower_case_headers_are_accepted() {
        let v = vectors();
        let c5 = callbacks(&v)
            .into_iter()
            .find(|(c, _)| c.id == "C5")
            .expect("C5")
            .0;
        let authorization = "Qiniu MY_ACCESS_KEY:-yTWOIspHVnlNsxyMsH6lIWKlmg=";
        let mut lower = c5.clone();
        lower.headers = c5
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        // actix also hands over host, content-type and authorization: they must not be signed twice.
        lower
            .headers
            .push(("host".into(), "api.example.com".into()));
        lower
            .headers
            .push(("content-type".into(), "application/json".into()));
        lower
            .headers
            .push(("authorization".into(), authorization.into()));
        assert_eq!(lower.verify(&c5.own_keys(), Some(authorization)), Ok(()));
        let mut dropped = lower.clone();
        dropped.headers.retain(|(n, _)| n != "x-qiniu-date");
        assert_eq!(
            dropped.verify(&c5.own_keys(), Some(authorization)),
            Err(CallbackError::BadSignature)
        );
        let mut changed = lower;
        changed.headers.push(("x-qiniu-extra".into(), "1".into()));
        assert_eq!(
            changed.verify(&c5.own_keys(), Some(authorization)),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn any_of_several_keys_verifies_for_rotation() {
        let v = vectors();
        let c1 = callbacks(&v)
            .into_iter()
            .find(|(c, _)| c.id == "C1")
            .expect("C1")
            .0;
        let keys = [
            ("OLD_ACCESS_KEY", "old secret"),
            ("MY_ACCESS_KEY", "MY_SECRET_KEY"),
        ];
        assert_eq!(
            c1.verify(
                &keys,
                Some("QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=")
            ),
            Ok(())
        );
        assert_eq!(
            c1.verify(
                &keys,
                Some("Qiniu MY_ACCESS_KEY:gRuMxpfO3KV8uTRDABIb57s0LRY=")
            ),
            Ok(())
        );
        assert_eq!(
            c1.verify(
                &keys,
                Some("QBox OLD_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=")
            ),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            c1.verify(&[], Some("QBox MY_ACCESS_KEY:KxMF3YQzX9VrNDO6w07MycNW2IY=")),
            Err(CallbackError::UnknownKey)
        );
    }

    #[test]
    fn non_ascii_space_and_plus_in_keys_query_and_secret_round_trip() {
        let sk = "秘 密+key";
        let case = Case {
            id: "unicode".into(),
            ak: "AK".into(),
            sk: sk.into(),
            method: "POST".into(),
            path: "/v1/callbacks/qn".into(),
            query: "t=a%2Bb+c".into(),
            host: "broker.example.com".into(),
            content_type: "application/x-www-form-urlencoded".into(),
            headers: vec![],
            body: "key=%E5%9B%BE%E7%89%87%2Fa+b%2Bc.jpg&hash=x&fsize=1&bucket=b&mimeType=image%2Fjpeg&sub=al+ice".into(),
        };
        let headers: Vec<(&str, &str)> = vec![];
        let request = case.request(&headers, None).to_sign();
        let qbox = format!("QBox AK:{}", encoded_sign(sk, &qbox_signing_data(&request)));
        let qiniu = format!(
            "Qiniu AK:{}",
            encoded_sign(sk, &qiniu_signing_data(&request))
        );
        let keys = [("AK", sk)];
        assert_eq!(case.verify(&keys, Some(&qbox)), Ok(()));
        assert_eq!(case.verify(&keys, Some(&qiniu)), Ok(()));
        let tampered = Case {
            body: case.body.replace("fsize=1", "fsize=2"),
            ..case.clone()
        };
        assert_eq!(
            tampered.verify(&keys, Some(&qbox)),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            tampered.verify(&keys, Some(&qiniu)),
            Err(CallbackError::BadSignature)
        );
    }
}
