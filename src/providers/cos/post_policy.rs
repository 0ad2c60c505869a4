//! COS POST Object policy (doc 436/14690, "Signature protection"): what `wx.uploadFile` form uploads carry. Pure.

#[cfg(test)]
use std::fmt;

#[cfg(test)]
use base64::engine::general_purpose::STANDARD;
#[cfg(test)]
use base64::Engine;
#[cfg(test)]
use serde::Serialize;
#[cfg(test)]
use serde_json::{json, Value};

#[cfg(test)]
use super::sign::{hmac_sha1_hex, sha1_hex, sign_key};
use crate::providers::common;

/// Everything one upload policy pins.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConditions<'a> {
    /// Unix seconds; becomes `expiration`.
    pub expires_at: i64,
    /// `start;end`, pinned as `q-sign-time` and sent as the `q-key-time` field.
    pub key_time: &'a str,
    /// Pinned as `q-ak`.
    pub secret_id: &'a str,
    /// Full bucket name with APPID.
    pub bucket: &'a str,
    /// Exact object key, raw UTF-8.
    pub key: &'a str,
    /// Upper bound of `content-length-range` (the lower bound is 0).
    pub max_size: u64,
    /// Pinned exactly when present.
    pub content_type: Option<&'a str>,
    /// STS session token, pinned so the form must carry this very token.
    pub security_token: Option<&'a str>,
}

/// Field order matters for byte-exact output: `expiration` first, as in every official example.
#[cfg(test)]
#[derive(Serialize)]
struct PolicyDocument {
    expiration: String,
    conditions: Vec<Value>,
}

/// The compact policy JSON; its exact bytes are what gets hashed and base64-encoded. Written by hand: byte
/// for byte what serde_json gives for [`PolicyDocument`] (the tests compare), without a JSON tree.
pub fn policy_json(c: &PolicyConditions) -> String {
    let mut out = String::with_capacity(256 + c.key.len());
    out.push_str("{\"expiration\":");
    common::push_json_str(&mut out, &common::iso8601_millis(c.expires_at));
    // Same order as cos-js-sdk-v5 server/sts.js, then the broker's constraints.
    out.push_str(",\"conditions\":[{\"q-sign-algorithm\":\"sha1\"},");
    common::push_condition(&mut out, "q-ak", c.secret_id);
    out.push(',');
    common::push_condition(&mut out, "q-sign-time", c.key_time);
    out.push(',');
    common::push_condition(&mut out, "bucket", c.bucket);
    out.push(',');
    common::push_condition(&mut out, "key", c.key);
    out.push_str(",[\"content-length-range\",0,");
    out.push_str(&c.max_size.to_string());
    out.push(']');
    if let Some(content_type) = c.content_type {
        out.push(',');
        common::push_condition(&mut out, "Content-Type", content_type);
    }
    if let Some(token) = c.security_token {
        out.push(',');
        common::push_condition(&mut out, "x-cos-security-token", token);
    }
    out.push_str("]}");
    out
}

/// The compact policy JSON as serde_json renders it (the reference [`policy_json`] is tested against).
#[cfg(test)]
fn policy_json_serde(c: &PolicyConditions) -> String {
    let mut conditions = vec![
        json!({ "q-sign-algorithm": "sha1" }),
        json!({ "q-ak": c.secret_id }),
        json!({ "q-sign-time": c.key_time }),
        json!({ "bucket": c.bucket }),
        json!({ "key": c.key }),
        json!(["content-length-range", 0, c.max_size]),
    ];
    if let Some(content_type) = c.content_type {
        conditions.push(json!({ "Content-Type": content_type }));
    }
    if let Some(token) = c.security_token {
        conditions.push(json!({ "x-cos-security-token": token }));
    }
    let document = PolicyDocument {
        expiration: common::iso8601_millis(c.expires_at),
        conditions,
    };
    serde_json::to_string(&document).expect("a struct of strings and JSON values always serializes")
}

#[cfg(test)]
/// The values a signed policy puts in the form (plus the intermediates, for tests).
#[derive(Clone, PartialEq, Eq)]
pub struct PolicySignature {
    /// Derived secret valid for the whole `key_time`; never logged.
    pub sign_key: String,
    /// hex(SHA1(policy JSON bytes)).
    pub string_to_sign: String,
    /// The `q-signature` field.
    pub signature: String,
    /// The `policy` field: standard base64 with padding.
    pub policy_base64: String,
}

#[cfg(test)]
impl fmt::Debug for PolicySignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySignature")
            .field("sign_key", &"<redacted>")
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &self.signature)
            .field("policy_base64", &self.policy_base64)
            .finish()
    }
}

#[cfg(test)]
/// Signs `policy_text` as COS verifies it: the raw JSON bytes are hashed, NOT their base64 (pitfall 6.7).
pub fn sign_policy(secret_key: &str, key_time: &str, policy_text: &str) -> PolicySignature {
    let sign_key = sign_key(secret_key, key_time);
    let string_to_sign = sha1_hex(policy_text.as_bytes());
    let signature = hmac_sha1_hex(sign_key.as_bytes(), string_to_sign.as_bytes());
    PolicySignature {
        sign_key,
        string_to_sign,
        signature,
        policy_base64: STANDARD.encode(policy_text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::cos::test_vectors::{cos_vectors, PolicyVector};

    const SECRET_ID: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
    const BUCKET: &str = "examplebucket-1250000000";

    fn mismatches(v: &PolicyVector) -> Vec<&'static str> {
        let got = sign_policy(&v.secret_key, &v.key_time, &v.policy_text);
        [
            ("sign_key", got.sign_key == v.sign_key),
            ("string_to_sign", got.string_to_sign == v.string_to_sign),
            ("signature", got.signature == v.signature),
            ("policy_base64", got.policy_base64 == v.policy_base64),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect()
    }

    #[test]
    fn every_policy_vector_reproduces_byte_for_byte() {
        let vectors = cos_vectors().post_policies;
        assert_eq!(vectors.len(), 5, "P0-P4");
        let failures: Vec<String> = vectors
            .iter()
            .filter_map(|v| {
                let bad = mismatches(v);
                (!bad.is_empty()).then(|| format!("{}: {}", v.id, bad.join(", ")))
            })
            .collect();
        assert!(failures.is_empty(), "failing vectors: {failures:#?}");
    }

    #[test]
    fn hashing_the_base64_instead_of_the_json_is_caught() {
        let mut p0 = cos_vectors().post_policies.remove(0);
        p0.policy_text = p0.policy_base64.clone();
        assert!(mismatches(&p0).contains(&"signature"));
    }

    fn conditions<'a>(key: &'a str, expires_at: i64, key_time: &'a str) -> PolicyConditions<'a> {
        PolicyConditions {
            expires_at,
            key_time,
            secret_id: SECRET_ID,
            bucket: BUCKET,
            key,
            max_size: 10_485_760,
            content_type: None,
            security_token: None,
        }
    }

    /// The official policies of P1-P3 are exactly ours minus the `content-length-range` the broker adds.
    #[test]
    fn builder_matches_the_official_layout_of_p1_to_p3() {
        for v in cos_vectors()
            .post_policies
            .iter()
            .filter(|v| ["P1", "P2", "P3"].contains(&v.id.as_str()))
        {
            let official: Value =
                serde_json::from_str(&v.policy_text).expect("vector policy is JSON");
            let key = official["conditions"][4]["key"]
                .as_str()
                .expect("P1-P3 pin the key");
            let end: i64 = v
                .key_time
                .split(';')
                .nth(1)
                .and_then(|e| e.parse().ok())
                .expect("key_time end");
            let ours = policy_json(&conditions(key, end, &v.key_time));
            let expected =
                v.policy_text
                    .replacen("}]}", "},[\"content-length-range\",0,10485760]]}", 1);
            assert_eq!(ours, expected, "{}", v.id);
        }
    }

    #[test]
    fn builder_pins_every_condition() {
        let mut c = conditions(
            "用户/a \"b\"\\+=.png",
            1_700_000_900,
            "1699999940;1700000900",
        );
        c.content_type = Some("image/png");
        c.security_token = Some("TOKEN/+=");
        let text = policy_json(&c);
        assert!(
            text.contains("用户/a"),
            "UTF-8 stays raw like JSON.stringify: {text}"
        );
        let doc: Value = serde_json::from_str(&text).expect("policy is JSON");
        assert_eq!(doc["expiration"], "2023-11-14T22:28:20.000Z");
        let expected = json!([
            { "q-sign-algorithm": "sha1" },
            { "q-ak": SECRET_ID },
            { "q-sign-time": "1699999940;1700000900" },
            { "bucket": BUCKET },
            { "key": "用户/a \"b\"\\+=.png" },
            ["content-length-range", 0, 10_485_760],
            { "Content-Type": "image/png" },
            { "x-cos-security-token": "TOKEN/+=" },
        ]);
        assert_eq!(doc["conditions"], expected);
        assert_eq!(
            doc.as_object().map(|o| o.len()),
            Some(2),
            "only expiration and conditions"
        );
    }

    #[test]
    fn optional_conditions_are_absent_when_unused() {
        let text = policy_json(&conditions("a.bin", 0, "0;0"));
        let doc: Value = serde_json::from_str(&text).expect("policy is JSON");
        assert_eq!(doc["expiration"], "1970-01-01T00:00:00.000Z");
        assert_eq!(doc["conditions"].as_array().map(Vec::len), Some(6));
        assert!(
            !text.contains("Content-Type") && !text.contains("x-cos-security-token"),
            "{text}"
        );
    }

    #[test]
    fn the_keyed_policy_signer_matches_every_vector() {
        use crate::providers::cos::sign::{sign_policy_keyed, HmacSha1};
        use hmac::Mac;
        for v in cos_vectors().post_policies {
            let keyed = HmacSha1::new_from_slice(v.secret_key.as_bytes()).expect("any length");
            assert_eq!(
                sign_policy_keyed(&keyed, &v.key_time, &v.policy_text),
                v.signature,
                "{}",
                v.id
            );
        }
    }

    #[test]
    fn hand_written_json_equals_serde_json() {
        let mut c = conditions(
            "用户/a \"b\"\\+=\u{1}.png",
            1_700_000_900,
            "1699999940;1700000900",
        );
        assert_eq!(policy_json(&c), policy_json_serde(&c));
        c.content_type = Some("image/png; x=\"y\"");
        c.security_token = Some("TOKEN/+=");
        assert_eq!(policy_json(&c), policy_json_serde(&c));
        c.expires_at = 253_402_300_800; // year 10000: chrono's rendering
        assert_eq!(policy_json(&c), policy_json_serde(&c));
    }

    #[test]
    fn out_of_range_expiration_fails_closed() {
        assert_eq!(common::iso8601_millis(i64::MAX), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn debug_redacts_the_sign_key() {
        let sig = sign_policy("SECRET", "1;2", "{}");
        let shown = format!("{sig:?}");
        assert!(!shown.contains(&sig.sign_key), "{shown}");
    }
}
