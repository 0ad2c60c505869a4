use super::super::sigv4::Credentials;
use super::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_369_353_600; // 2013-05-24T00:00:00Z
const EXPIRES: i64 = NOW + 600;

fn signer(token: Option<&str>) -> Signer {
    let credentials = Credentials {
        access_key: AK.to_owned(),
        secret_key: SK.into(),
        session_token: token.map(str::to_owned),
    };
    Signer::new(credentials, "us-east-1", "s3")
}

fn input(content_type: Option<&str>) -> PostPolicyInput<'_> {
    PostPolicyInput {
        bucket: "examplebucket",
        key: "users/alice/cat pic+1.jpg",
        content_type,
        max_size: 10_485_760,
        now: NOW,
        expires_at: EXPIRES,
    }
}

/// The documented chain, written out step by step (independent of `sigv4`).
fn mac(key: &[u8], data: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data.as_bytes());
    m
}

fn expected_mac(string_to_sign: &str) -> Hmac<Sha256> {
    let k_date = mac(format!("AWS4{SK}").as_bytes(), "20130524")
        .finalize()
        .into_bytes();
    let k_region = mac(&k_date, "us-east-1").finalize().into_bytes();
    let k_service = mac(&k_region, "s3").finalize().into_bytes();
    let k_signing = mac(&k_service, "aws4_request").finalize().into_bytes();
    mac(&k_signing, string_to_sign)
}

fn field<'a>(fields: &'a [(&str, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("field {name} missing"))
}

#[test]
fn policy_pins_bucket_key_size_type_and_signature_verifies() {
    let signed = sign(&signer(None), &input(Some("image/jpeg")));
    let names: Vec<&str> = signed.fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "key",
            "Content-Type",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "policy",
            "x-amz-signature"
        ]
    );
    let decoded = STANDARD
        .decode(field(&signed.fields, "policy"))
        .expect("policy is base64");
    assert_eq!(decoded, signed.policy_json.as_bytes());
    assert!(signed
        .policy_json
        .starts_with("{\"expiration\":\"2013-05-24T00:10:00.000Z\",\"conditions\":["));

    let policy: Value = serde_json::from_slice(&decoded).expect("policy is JSON");
    let credential = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";
    assert_eq!(
        policy["conditions"],
        json!([
            {"bucket": "examplebucket"},
            {"key": "users/alice/cat pic+1.jpg"},
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": credential},
            {"x-amz-date": "20130524T000000Z"},
            ["content-length-range", 0, 10_485_760],
            {"Content-Type": "image/jpeg"}
        ])
    );
    assert_eq!(field(&signed.fields, "key"), "users/alice/cat pic+1.jpg");
    assert_eq!(field(&signed.fields, "Content-Type"), "image/jpeg");
    assert_eq!(field(&signed.fields, "x-amz-credential"), credential);
    assert_eq!(field(&signed.fields, "x-amz-date"), "20130524T000000Z");

    let signature = hex::decode(field(&signed.fields, "x-amz-signature")).expect("hex signature");
    expected_mac(field(&signed.fields, "policy"))
        .verify_slice(&signature)
        .expect("signature = HMAC(signing key, base64 policy)");
    // Signing the raw JSON instead of its base64 would be a different signature.
    assert!(expected_mac(&signed.policy_json)
        .verify_slice(&signature)
        .is_err());
}

#[test]
fn session_token_is_a_field_and_a_condition_and_content_type_is_optional() {
    let signed = sign(&signer(Some("FQoG//token+/==")), &input(None));
    let names: Vec<&str> = signed.fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "key",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "x-amz-security-token",
            "policy",
            "x-amz-signature"
        ]
    );
    assert_eq!(
        field(&signed.fields, "x-amz-security-token"),
        "FQoG//token+/=="
    );
    let policy: Value = serde_json::from_str(&signed.policy_json).expect("policy is JSON");
    let conditions = policy["conditions"].as_array().expect("conditions array");
    assert_eq!(
        conditions.last(),
        Some(&json!({"x-amz-security-token": "FQoG//token+/=="}))
    );
    assert!(!signed.policy_json.contains("Content-Type"));
    let signature = hex::decode(&signed.signature).expect("hex signature");
    expected_mac(&signed.policy_base64)
        .verify_slice(&signature)
        .expect("valid signature");
}

#[test]
fn json_special_characters_in_the_key_are_escaped() {
    let mut i = input(None);
    i.key = "a\"b\\c\u{1}é";
    let signed = sign(&signer(None), &i);
    let policy: Value = serde_json::from_str(&signed.policy_json).expect("policy stays valid JSON");
    assert_eq!(policy["conditions"][1]["key"], "a\"b\\c\u{1}é");
}

#[test]
fn expiration_has_millis_and_fails_closed() {
    assert_eq!(
        crate::providers::common::iso8601_millis(1_700_000_000),
        "2023-11-14T22:13:20.000Z"
    );
    assert_eq!(
        crate::providers::common::iso8601_millis(i64::MIN),
        "1970-01-01T00:00:00.000Z"
    );
}

/// The hand-written policy is byte for byte what serde_json gives for the same document.
#[test]
fn policy_json_equals_the_serde_json_rendering() {
    for (key, content_type, token) in [
        ("users/alice/cat pic+1.jpg", Some("image/jpeg"), None),
        ("a", None, Some("TOKEN/+=")),
        (
            "用户/\"quoted\"\\\u{1}.png",
            Some("text/plain; charset=\"utf-8\""),
            Some("t"),
        ),
    ] {
        let signer = signer(token);
        let signed = sign(
            &signer,
            &PostPolicyInput {
                key,
                content_type,
                ..input(None)
            },
        );
        let mut conditions = vec![
            json!({ "bucket": "examplebucket" }),
            json!({ "key": key }),
            json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
            json!({ "x-amz-credential": format!("{AK}/20130524/us-east-1/s3/aws4_request") }),
            json!({ "x-amz-date": "20130524T000000Z" }),
            json!(["content-length-range", 0, 10_485_760]),
        ];
        if let Some(content_type) = content_type {
            conditions.push(json!({ "Content-Type": content_type }));
        }
        if let Some(token) = token {
            conditions.push(json!({ "x-amz-security-token": token }));
        }
        let want = format!(
            "{{\"expiration\":{},\"conditions\":{}}}",
            Value::String("2013-05-24T00:10:00.000Z".into()),
            Value::Array(conditions)
        );
        assert_eq!(signed.policy_json, want);
    }
    assert_eq!(
        crate::providers::common::iso8601_millis(i64::MAX),
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(
        crate::providers::common::iso8601_millis(253_402_300_800),
        "+10000-01-01T00:00:00.000Z"
    );
}
