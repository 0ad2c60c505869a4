//! OSS PostObject with a V4 policy (browser forms, `wx.uploadFile`). Pure.
//!
//! `policy` = base64(policy JSON); `x-oss-signature` = hex HMAC-SHA256(signing key of the date, that base64 text):
//! the signature is over the base64 text, not the JSON (unlike COS). Every `x-oss-*` credential field is also a
//! policy condition, as OSS requires.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use std::fmt::Write;

use super::sign::{Signer, ALGORITHM};
use crate::providers::common as text;
use crate::providers::s3::sigv4;

/// What a POST policy pins.
#[derive(Debug, Clone)]
pub struct PostPolicyInput<'a> {
    /// Bucket (`{"bucket"}` condition).
    pub bucket: &'a str,
    /// Exact object key (`["eq","$key",…]`).
    pub key: &'a str,
    /// Exact `Content-Type` the form must carry (`["eq","$Content-Type",…]`), when given.
    pub content_type: Option<&'a str>,
    /// Upper bound of `content-length-range` (lower bound 0).
    pub max_size: u64,
    /// The `callback` field's value (pinned by a `{"callback"}` condition), when the store has callbacks.
    pub callback: Option<&'a str>,
    /// Adds the `x-oss-forbid-overwrite: true` field. Not a policy condition (OSS documents none for it), so a
    /// client can drop it: it protects honest clients from replacing an object, nothing more.
    pub forbid_overwrite: bool,
    /// Unix seconds of signing (`x-oss-date`, credential scope).
    pub now: i64,
    /// Unix seconds of the policy's `expiration`.
    pub expires_at: i64,
}

/// A signed policy and its form fields: `key`, `policy`, `x-oss-signature-version`, `x-oss-credential`,
/// `x-oss-date`, `x-oss-signature`, then `Content-Type`, `x-oss-security-token`, `callback`,
/// `x-oss-forbid-overwrite` when present (the file goes last, as `file`). The signature is `x-oss-signature`.
pub use crate::providers::s3::post_policy::SignedPostPolicy;

fn push_eq(out: &mut String, field: &str, value: &str) {
    out.push_str("[\"eq\",");
    text::push_json_str(out, field);
    out.push(',');
    text::push_json_str(out, value);
    out.push(']');
}

/// Signs `policy_base64` with the signing key of `date` (`yyyymmdd`).
pub fn sign_policy(signer: &Signer, date: &str, policy_base64: &str) -> String {
    signer.sign(date, policy_base64)
}

/// Builds and signs the policy (compact JSON, written by hand so the condition order is fixed).
pub fn sign(signer: &Signer, input: &PostPolicyInput<'_>) -> SignedPostPolicy {
    let (policy_json, fields) = sign_fields(signer, input);
    SignedPostPolicy::from_fields(policy_json, fields, "x-oss-signature")
}

/// [`sign`]'s policy JSON and form fields, each value built once, straight into the field that carries it.
pub(crate) fn sign_fields(
    signer: &Signer,
    input: &PostPolicyInput<'_>,
) -> (String, Vec<(&'static str, String)>) {
    let (mut datetime_buf, mut fallback) = ([0u8; 16], String::new());
    let datetime = sigv4::datetime(input.now, &mut datetime_buf, &mut fallback);
    let date = &datetime[..8];
    let credential = signer.credential(date);
    let token = signer.credentials().session_token.as_deref();

    let mut json = String::with_capacity(
        400 + input.key.len() + credential.len() + input.callback.map_or(0, str::len),
    );
    json.push_str("{\"expiration\":\"");
    text::push_iso8601_millis(&mut json, input.expires_at);
    json.push_str("\",\"conditions\":[");
    text::push_condition(&mut json, "bucket", input.bucket);
    json.push(',');
    text::push_condition(&mut json, "x-oss-signature-version", ALGORITHM);
    json.push(',');
    text::push_condition(&mut json, "x-oss-credential", &credential);
    json.push(',');
    text::push_condition(&mut json, "x-oss-date", datetime);
    if let Some(token) = token {
        json.push(',');
        text::push_condition(&mut json, "x-oss-security-token", token);
    }
    json.push(',');
    push_eq(&mut json, "$key", input.key);
    json.push_str(",[\"content-length-range\",0,");
    // Writing an integer to a String cannot fail.
    let _ = write!(json, "{}", input.max_size);
    json.push(']');
    if let Some(content_type) = input.content_type {
        json.push(',');
        push_eq(&mut json, "$Content-Type", content_type);
    }
    if let Some(callback) = input.callback {
        json.push(',');
        text::push_condition(&mut json, "callback", callback);
    }
    json.push_str("]}");
    let policy_base64 = STANDARD.encode(json.as_bytes());
    let signature = sign_policy(signer, date, &policy_base64);

    let mut fields = Vec::with_capacity(10);
    fields.push(("key", input.key.to_owned()));
    fields.push(("policy", policy_base64));
    fields.push(("x-oss-signature-version", ALGORITHM.to_owned()));
    fields.push(("x-oss-credential", credential));
    fields.push(("x-oss-date", datetime.to_owned()));
    fields.push(("x-oss-signature", signature));
    if let Some(content_type) = input.content_type {
        fields.push(("Content-Type", content_type.to_owned()));
    }
    if let Some(token) = token {
        fields.push(("x-oss-security-token", token.to_owned()));
    }
    if let Some(callback) = input.callback {
        fields.push(("callback", callback.to_owned()));
    }
    if input.forbid_overwrite {
        fields.push(("x-oss-forbid-overwrite", "true".to_owned()));
    }
    (json, fields)
}
