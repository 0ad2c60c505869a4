//! S3 presigned POST (browser form upload): a policy document signed with the SigV4 signing key (pure).
//!
//! String to sign = base64(policy JSON); signature = hex HMAC-SHA256(signing key of the date, that base64 text).
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::sigv4::{Signer, SigningTime, ALGORITHM};

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
    pub fields: Vec<(String, String)>,
}

/// `2026-11-21T10:10:00.000Z`: ISO 8601 with milliseconds, as the POST policy grammar shows it.
/// An unrepresentable timestamp becomes 1970, an expired policy (fails closed).
fn expiration(expires_at: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp(expires_at, 0).unwrap_or(DateTime::UNIX_EPOCH);
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Builds and signs the policy; every `x-amz-*` form field is also a condition, as S3 requires.
pub fn sign(signer: &Signer, input: &PostPolicyInput<'_>) -> SignedPostPolicy {
    let time = SigningTime::from_unix(input.now);
    let credential = signer.credential(&time.date);
    let token = signer.credentials().session_token.as_deref();

    let mut conditions = vec![
        json!({ "bucket": input.bucket }),
        json!({ "key": input.key }),
        json!({ "x-amz-algorithm": ALGORITHM }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": time.datetime }),
        json!(["content-length-range", 0, input.max_size]),
    ];
    if let Some(content_type) = input.content_type {
        conditions.push(json!({ "Content-Type": content_type }));
    }
    if let Some(token) = token {
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    // Written by hand so the key order is fixed whatever serde_json features the build enables.
    let policy_json = format!(
        "{{\"expiration\":{},\"conditions\":{}}}",
        Value::String(expiration(input.expires_at)),
        Value::Array(conditions)
    );
    let policy_base64 = STANDARD.encode(policy_json.as_bytes());
    let signature = signer.sign(&time.date, &policy_base64);

    let mut fields = vec![("key".to_owned(), input.key.to_owned())];
    if let Some(content_type) = input.content_type {
        fields.push(("Content-Type".to_owned(), content_type.to_owned()));
    }
    fields.push(("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()));
    fields.push(("x-amz-credential".to_owned(), credential));
    fields.push(("x-amz-date".to_owned(), time.datetime));
    if let Some(token) = token {
        fields.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    fields.push(("policy".to_owned(), policy_base64.clone()));
    fields.push(("x-amz-signature".to_owned(), signature.clone()));

    SignedPostPolicy {
        policy_json,
        policy_base64,
        signature,
        fields,
    }
}

#[cfg(test)]
#[path = "post_policy_tests.rs"]
mod tests;
