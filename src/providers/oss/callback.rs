//! The upload-callback parameter a credential carries (`x-oss-callback` header, `callback` form field): base64 of
//! a JSON object (docs/API.md, "Provider callbacks"). Pure.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::providers::common as text;

/// `callbackBodyType` of the broker's callbacks: the form body OSS fills in.
pub const FORM_BODY_TYPE: &str = "application/x-www-form-urlencoded";

/// The callback body's server-decided fields (OSS substitutes `${...}`; client variables `${x:...}` are never used).
pub const BODY_FIELDS: &str =
    "bucket=${bucket}&key=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}";

/// Base64 of `{"callbackUrl":…,"callbackBody":…,"callbackBodyType":…}` (compact, in that order: what ali-oss sends).
pub fn encode(callback_url: &str, callback_body: &str, body_type: &str) -> String {
    let mut json = String::with_capacity(64 + callback_url.len() + callback_body.len());
    json.push_str("{\"callbackUrl\":");
    text::push_json_str(&mut json, callback_url);
    json.push_str(",\"callbackBody\":");
    text::push_json_str(&mut json, callback_body);
    json.push_str(",\"callbackBodyType\":");
    text::push_json_str(&mut json, body_type);
    json.push('}');
    STANDARD.encode(json)
}

/// The broker's callback body template: [`BODY_FIELDS`] and `sub=` the subject form-urlencoded, so a subject
/// can neither inject a `${...}` variable nor another field.
pub fn body_template(subject: &str) -> String {
    let subject: String = url::form_urlencoded::byte_serialize(subject.as_bytes()).collect();
    format!("{BODY_FIELDS}&sub={subject}")
}

/// The broker's `x-oss-callback` / `callback` value: `callback_url` is
/// `{server.public_url}/v1/callbacks/{store}?t={ticket}` (built by the caller), the body the form of
/// [`body_template`].
pub fn broker_callback(callback_url: &str, subject: &str) -> String {
    encode(callback_url, &body_template(subject), FORM_BODY_TYPE)
}
