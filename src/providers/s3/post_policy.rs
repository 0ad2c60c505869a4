//! S3 presigned POST (browser form upload): a policy document signed with the SigV4 signing key (pure).
//!
//! String to sign = base64(policy JSON); signature = hex HMAC-SHA256(signing key of the date, that base64 text).
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use std::fmt::Write;

use super::sigv4::{self, Signer, ALGORITHM};
use crate::providers::common;

/// What a POST policy pins.
#[derive(Debug, Clone)]
pub struct PostPolicyInput<'a> {
    /// Bucket the form posts to (`{"bucket"}` condition).
    pub bucket: &'a str,
    /// Exact object key (`{"key": ...}` condition, not `starts-with`).
    pub key: &'a str,
    /// Exact `Content-Type` the form must carry, when given.
    pub content_type: Option<&'a str>,
    /// Upper bound of `content-length-range`.
    pub max_size: u64,
    /// Unix seconds of signing (`x-amz-date` and the credential scope).
    pub now: i64,
    /// Unix seconds of the policy's `expiration`.
    pub expires_at: i64,
}

/// A signed policy and the form fields, in the order the client sends them (`file` goes last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPostPolicy {
    /// The policy document as signed.
    pub policy_json: String,
    /// Standard base64 of `policy_json`: the `policy` field and the string to sign.
    pub policy_base64: String,
    /// Hex HMAC-SHA256 of `policy_base64` (the `x-amz-signature` field).
    pub signature: String,
    /// Form fields in sending order.
    pub fields: Vec<(&'static str, String)>,
}

/// Builds and signs the policy; every `x-amz-*` form field is also a condition, as S3 requires.
pub fn sign(signer: &Signer, input: &PostPolicyInput<'_>) -> SignedPostPolicy {
    let (policy_json, fields) = sign_fields(signer, input);
    SignedPostPolicy::from_fields(policy_json, fields, "x-amz-signature")
}

impl SignedPostPolicy {
    /// Gathers a signed policy from its form fields, where the policy and its signature (`signature_field`)
    /// already are (S3 and OSS V4 build them the same way).
    pub fn from_fields(
        policy_json: String,
        fields: Vec<(&'static str, String)>,
        signature_field: &str,
    ) -> Self {
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Self {
            policy_base64: field("policy"),
            signature: field(signature_field),
            policy_json,
            fields,
        }
    }
}

/// [`sign`]'s policy JSON and form fields, each value built once, straight into the field that carries it.
pub(crate) fn sign_fields(
    signer: &Signer,
    input: &PostPolicyInput<'_>,
) -> (String, Vec<(&'static str, String)>) {
    let (mut datetime_buf, mut fallback) = ([0u8; 16], String::new());
    let datetime = sigv4::datetime(input.now, &mut datetime_buf, &mut fallback);
    let date = &datetime[..8];
    let credential = signer.cached_credential(date);
    let token = signer.credentials().session_token.as_deref();

    // Written by hand (the bytes serde_json gives for the same values, see the tests) so the key order is
    // fixed whatever serde_json features the build enables, and no JSON tree is built only to be printed.
    let mut policy_json = String::with_capacity(320 + input.key.len() + credential.len());
    policy_json.push_str("{\"expiration\":\"");
    common::push_iso8601_millis(&mut policy_json, input.expires_at);
    policy_json.push_str("\",\"conditions\":[");
    common::push_condition(&mut policy_json, "bucket", input.bucket);
    policy_json.push(',');
    common::push_condition(&mut policy_json, "key", input.key);
    policy_json.push(',');
    common::push_condition(&mut policy_json, "x-amz-algorithm", ALGORITHM);
    policy_json.push(',');
    common::push_condition(&mut policy_json, "x-amz-credential", &credential);
    policy_json.push(',');
    common::push_condition(&mut policy_json, "x-amz-date", datetime);
    policy_json.push_str(",[\"content-length-range\",0,");
    // Writing an integer to a String cannot fail.
    let _ = write!(policy_json, "{}", input.max_size);
    policy_json.push(']');
    if let Some(content_type) = input.content_type {
        policy_json.push(',');
        common::push_condition(&mut policy_json, "Content-Type", content_type);
    }
    if let Some(token) = token {
        policy_json.push(',');
        common::push_condition(&mut policy_json, "x-amz-security-token", token);
    }
    policy_json.push_str("]}");
    let policy_base64 = STANDARD.encode(policy_json.as_bytes());
    let signature = signer.sign(date, &policy_base64);

    let mut fields = Vec::with_capacity(8);
    fields.push(("key", input.key.to_owned()));
    if let Some(content_type) = input.content_type {
        fields.push(("Content-Type", content_type.to_owned()));
    }
    fields.push(("x-amz-algorithm", ALGORITHM.to_owned()));
    fields.push(("x-amz-credential", credential));
    fields.push(("x-amz-date", datetime.to_owned()));
    if let Some(token) = token {
        fields.push(("x-amz-security-token", token.to_owned()));
    }
    fields.push(("policy", policy_base64));
    fields.push(("x-amz-signature", signature));
    (policy_json, fields)
}

#[cfg(test)]
mod tests;
