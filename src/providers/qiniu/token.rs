//! Upload tokens (上传凭证) and private download URLs (docs/PROVIDERS.md, Qiniu). Pure.

use serde::Serialize;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hmac::Mac;

#[cfg(test)]
use super::signing::urlsafe_b64;
use super::signing::{encoded_sign, HmacSha1};

/// A put policy (上传策略) as Qiniu parses it (docs/PROVIDERS.md, Qiniu). Absent fields are omitted; numeric
/// fields are JSON numbers and `forceSaveKey` a JSON bool, because a number sent as a string fails
/// with `invalid put policy encoding` (java-sdk#309).
///
/// Field order is the serialization order. It reproduces the Python SDK's order for the vectors
/// (`scope`, `deadline`, then the fields in the order the vectors list them), so those tokens can be
/// pinned byte for byte; any order is equally valid to Qiniu.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct PutPolicy {
    /// `<bucket>`, `<bucket>:<key>` or, with `isPrefixalScope = 1`, `<bucket>:<keyPrefix>`.
    pub scope: String,
    /// Absolute Unix seconds; Qiniu checks it when the upload completes, not when it starts.
    pub deadline: i64,
    /// `1` makes the part of `scope` after `:` a key prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_prefixal_scope: Option<u8>,
    /// Non-zero forbids replacing an existing key (error 614).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_only: Option<u8>,
    /// Smaller uploads fail with 403.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsize_min: Option<u64>,
    /// Larger uploads fail with 413.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsize_limit: Option<u64>,
    /// `;`-separated allow-list (`image/*;video/mp4`); a leading `!` makes it a deny-list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_limit: Option<String>,
    /// `1` = detect the type from the content, so `mimeLimit` checks what was really uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect_mime: Option<i8>,
    /// Where Qiniu POSTs after a successful upload (`;`-separated fallbacks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// `Host` header of the callback request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_host: Option<String>,
    /// Callback body template (`k=$(magic)&const=value` for the form type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_body: Option<String>,
    /// `application/x-www-form-urlencoded` (default) or `application/json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_body_type: Option<String>,
    /// Key template used when the client gives no key (or always, with `forceSaveKey`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_key: Option<String>,
    /// `true` ignores the client's key and always uses `saveKey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_save_key: Option<bool>,
    /// JSON template returned to the uploader when there is no callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_body: Option<String>,
    /// Lifecycle: delete the object after this many days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_after_days: Option<u32>,
    /// Storage class: 0 standard, 1 IA, 2 archive, 3 deep archive, 4 archive direct-read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_type: Option<u8>,
    /// Identifier of the end user (the broker puts the JWT `sub` here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    /// Bit/s, 819200..=838860800.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_limit: Option<u64>,
    /// Web form uploads: 303 redirect target carrying the `returnBody`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    /// Legacy switch letting the callback answer choose the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_fetch_key: Option<u8>,
    /// Pre-processing (pfop) commands run after the upload, `;`-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_ops: Option<String>,
    /// Where the pfop result is POSTed; a different notification than the upload callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_notify_url: Option<String>,
    /// Dedicated processing queue for `persistentOps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_pipeline: Option<String>,
    /// `1` runs the pfop as an idle-time task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_type: Option<u8>,
    #[serde(
        rename = "persistentWorkflowTemplateID",
        skip_serializing_if = "Option::is_none"
    )]
    /// Workflow template; exclusive with `persistentOps`.
    pub persistent_workflow_template_id: Option<String>,
    /// Listed only by the Python SDK (up to 20 allowed keys); semantics UNVERIFIED (docs/PROVIDERS.md, Qiniu).
    #[serde(rename = "keylimit", skip_serializing_if = "Option::is_none")]
    pub key_limit: Option<Vec<String>>,
}

impl PutPolicy {
    /// A policy with only the two required fields.
    pub fn new(scope: impl Into<String>, deadline: i64) -> Self {
        PutPolicy {
            scope: scope.into(),
            deadline,
            ..PutPolicy::default()
        }
    }

    /// Compact UTF-8 JSON (raw UTF-8, not `\u` escapes: both are valid, docs/PROVIDERS.md, Qiniu).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .expect("a struct of strings, integers and bools always serializes")
    }
}

/// `AK:urlsafe_b64(HMAC-SHA1(SK, encodedPolicy)):encodedPolicy`, encodedPolicy = urlsafe_b64(policy
/// JSON) with `=` kept; the HMAC covers the base64 TEXT, not the JSON (docs/PROVIDERS.md, Qiniu). The exact bytes
/// of `policy_json` are signed, so a pinned JSON string gives a pinned token. Tests' convenience form of
/// [`upload_token_keyed`], the one implementation (stores key the SK once).
#[cfg(test)]
pub fn upload_token(ak: &str, sk: &str, policy_json: &str) -> String {
    upload_token_keyed(ak, &super::signing::hmac_sha1(sk), policy_json)
}

/// [`upload_token`] with the SK's HMAC state keyed once per store (cloned, never re-keyed per token). Written
/// into one buffer: the encoded policy goes to its place first, the HMAC over it then fills the gap left for
/// the sign before it.
pub fn upload_token_keyed(ak: &str, keyed_sk: &HmacSha1, policy_json: &str) -> String {
    const SIGN_LEN: usize = 28; // urlsafe base64 of 20 bytes, padded
    let mut token =
        String::with_capacity(ak.len() + SIGN_LEN + 2 + policy_json.len().div_ceil(3) * 4);
    token.push_str(ak);
    token.push(':');
    let sign_at = token.len();
    token.extend(std::iter::repeat_n('=', SIGN_LEN));
    token.push(':');
    let policy_at = token.len();
    URL_SAFE.encode_string(policy_json.as_bytes(), &mut token);
    let mut mac = keyed_sk.clone();
    mac.update(&token.as_bytes()[policy_at..]);
    let mut sign = [0u8; SIGN_LEN];
    let written = URL_SAFE
        .encode_slice(mac.finalize().into_bytes(), &mut sign)
        .unwrap_or_else(|_| unreachable!("20 bytes are 28 characters"));
    let sign = std::str::from_utf8(&sign[..written]).unwrap_or_else(|_| unreachable!("base64"));
    token.replace_range(sign_at..sign_at + SIGN_LEN, sign);
    token
}

/// `<url>?e=<deadline>&token=AK:urlsafe_b64(HMAC-SHA1(SK, "<url>?e=<deadline>"))`, with `&e=` when the
/// URL already has a query. `base_url` must already be percent-encoded: it is signed as given.
pub fn private_download_url(ak: &str, sk: &str, base_url: &str, deadline: i64) -> String {
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let signed = format!("{base_url}{separator}e={deadline}");
    let sign = encoded_sign(sk, signed.as_bytes());
    format!("{signed}&token={ak}:{sign}")
}

/// The report's equivalence procedure (docs/PROVIDERS.md, Qiniu): exactly 3 parts, the AK, a constant-time HMAC
/// check over part 3, padded urlsafe base64, then the policy JSON as data.
#[cfg(test)]
pub(crate) fn decode_verified_token(
    ak: &str,
    sk: &str,
    token: &str,
) -> Result<serde_json::Value, String> {
    use base64::engine::general_purpose::URL_SAFE;
    use base64::Engine;
    use hmac::Mac;

    let parts: Vec<&str> = token.split(':').collect();
    let [token_ak, sign, encoded_policy] = parts[..] else {
        return Err(format!("{} parts, want 3", parts.len()));
    };
    if token_ak != ak {
        return Err("wrong AK".into());
    }
    let sign = URL_SAFE
        .decode(sign)
        .map_err(|e| format!("signature is not padded urlsafe base64: {e}"))?;
    let mut mac = super::signing::hmac_sha1(sk);
    mac.update(encoded_policy.as_bytes());
    mac.verify_slice(&sign)
        .map_err(|_| "HMAC mismatch".to_owned())?;
    let padded_urlsafe = encoded_policy.len() % 4 == 0
        && encoded_policy
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
    if !padded_urlsafe {
        return Err("encoded policy is not padded urlsafe base64".into());
    }
    let json = URL_SAFE
        .decode(encoded_policy)
        .map_err(|e| format!("encoded policy: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("policy JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::super::signing::hmac_sha1;
    use super::*;
    use hmac::Mac;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../../tests/vectors/qiniu.json");

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).expect("qiniu.json parses")
    }

    fn s<'v>(v: &'v Value, field: &str) -> &'v str {
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is not a string in {v}"))
    }

    fn report(failures: Vec<String>) {
        assert!(
            failures.is_empty(),
            "failing vectors:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn every_upload_token_vector_is_reproduced_byte_for_byte() {
        let v = vectors();
        let tokens = v["upload_tokens"].as_array().expect("upload_tokens");
        assert_eq!(tokens.len(), 23);
        let mut failures = Vec::new();
        for t in tokens {
            let (id, ak, sk, json) = (s(t, "id"), s(t, "ak"), s(t, "sk"), s(t, "policy_json"));
            let encoded_policy = urlsafe_b64(json.as_bytes());
            if encoded_policy != s(t, "encoded_policy") {
                failures.push(format!("{id}: encoded_policy {encoded_policy}"));
            }
            let sign = encoded_sign(sk, encoded_policy.as_bytes());
            if sign != s(t, "encoded_sign") {
                failures.push(format!("{id}: encoded_sign {sign}"));
            }
            if let Some(want_hex) = t["sign_hex"].as_str() {
                let mut mac = hmac_sha1(sk);
                mac.update(encoded_policy.as_bytes());
                let got_hex = hex::encode(mac.finalize().into_bytes());
                if got_hex != want_hex {
                    failures.push(format!("{id}: sign_hex {got_hex}"));
                }
            }
            let token = upload_token(ak, sk, json);
            if token != s(t, "token") {
                failures.push(format!("{id}: token {token}"));
            }
        }
        report(failures);
    }

    #[test]
    fn same_policy_as_vectors_decode_to_equal_policies() {
        let v = vectors();
        let tokens = v["upload_tokens"].as_array().expect("upload_tokens");
        let by_id = |id: &str| {
            tokens
                .iter()
                .find(|t| s(t, "id") == id)
                .expect("referenced vector exists")
        };
        let mut checked = 0;
        let mut failures = Vec::new();
        for t in tokens.iter().filter(|t| t.get("same_policy_as").is_some()) {
            let other = by_id(s(t, "same_policy_as"));
            let mine = decode_verified_token(s(t, "ak"), s(t, "sk"), s(t, "token"));
            let theirs = decode_verified_token(s(other, "ak"), s(other, "sk"), s(other, "token"));
            match (mine, theirs) {
                (Ok(a), Ok(b)) if a == b => checked += 1,
                (a, b) => failures.push(format!("{}: {a:?} vs {b:?}", s(t, "id"))),
            }
        }
        report(failures);
        assert_eq!(checked, 13);
    }

    /// Every vector's policy parses into the typed `PutPolicy` (unknown fields and wrong JSON types
    /// rejected) and serializes back to the same data; where our field order matches the SDK's, to
    /// the same bytes and so the same token.
    #[test]
    fn typed_put_policy_reproduces_every_vector_policy() {
        let v = vectors();
        let mut byte_exact = Vec::new();
        let mut failures = Vec::new();
        for t in v["upload_tokens"].as_array().expect("upload_tokens") {
            let id = s(t, "id");
            let json = s(t, "policy_json");
            let policy: PutPolicy = match serde_json::from_str(json) {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{id}: does not fit PutPolicy: {e}"));
                    continue;
                }
            };
            let ours = policy.to_json();
            let as_data = serde_json::from_str::<Value>(&ours).ok()
                == serde_json::from_str::<Value>(json).ok();
            if !as_data {
                failures.push(format!("{id}: re-serialized as different data: {ours}"));
            }
            if ours == json {
                if upload_token(s(t, "ak"), s(t, "sk"), &ours) != s(t, "token") {
                    failures.push(format!("{id}: token from typed policy differs"));
                }
                byte_exact.push(id.to_owned());
            }
        }
        report(failures);
        let want = [
            "P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P9", "P10", "N1", "N2", "N8",
        ];
        assert_eq!(byte_exact, want);
    }

    #[test]
    fn token_equivalence_valid_tokens_decode_to_the_expected_policy_and_invalid_ones_are_rejected()
    {
        let v = vectors();
        let e = &v["token_equivalence"];
        let (ak, sk) = (s(e, "ak"), s(e, "sk"));
        let mut failures = Vec::new();
        let valid = e["valid"].as_array().expect("valid");
        for t in valid {
            match decode_verified_token(ak, sk, s(t, "token")) {
                Ok(policy) if policy == e["expected_policy"] => {}
                other => failures.push(format!("{}: {other:?}", s(t, "label"))),
            }
            if upload_token(ak, sk, s(t, "policy_json")) != s(t, "token") {
                failures.push(format!("{}: token from policy_json differs", s(t, "label")));
            }
        }
        let invalid = e["invalid"].as_array().expect("invalid");
        for t in invalid {
            if decode_verified_token(ak, sk, s(t, "token")).is_ok() {
                failures.push(format!("{}: accepted", s(t, "label")));
            }
        }
        report(failures);
        assert_eq!((valid.len(), invalid.len()), (5, 3));
    }

    #[test]
    fn upstream_mac_vectors() {
        let v = vectors();
        let macs = v["mac"].as_array().expect("mac");
        let mut failures = Vec::new();
        for m in macs {
            let (ak, sk, data) = (s(m, "ak"), s(m, "sk"), s(m, "data"));
            let got = match s(m, "kind") {
                "sign" => format!("{ak}:{}", encoded_sign(sk, data.as_bytes())),
                "sign_with_data" => upload_token(ak, sk, data),
                other => format!("unknown kind {other}"),
            };
            if got != s(m, "expected") {
                failures.push(format!("{}: {got}", s(m, "id")));
            }
        }
        report(failures);
        assert_eq!(macs.len(), 4);
    }

    #[test]
    fn private_download_url_vectors() {
        let v = vectors();
        let urls = v["private_download_urls"]
            .as_array()
            .expect("private_download_urls");
        let mut failures = Vec::new();
        for d in urls {
            let deadline = d["deadline"].as_i64().expect("deadline");
            let got = private_download_url(s(d, "ak"), s(d, "sk"), s(d, "base_url"), deadline);
            if got != s(d, "url") {
                failures.push(format!("{}: {got}", s(d, "id")));
            }
        }
        report(failures);
        assert_eq!(urls.len(), 3);
    }

    #[test]
    fn numbers_stay_numbers_and_force_save_key_a_bool() {
        let policy = PutPolicy {
            insert_only: Some(1),
            fsize_limit: Some(10),
            detect_mime: Some(-1),
            force_save_key: Some(true),
            ..PutPolicy::new("b:图 +k", 7)
        };
        assert_eq!(
            policy.to_json(),
            r#"{"scope":"b:图 +k","deadline":7,"insertOnly":1,"fsizeLimit":10,"detectMime":-1,"forceSaveKey":true}"#
        );
    }

    #[test]
    fn secret_keys_with_non_ascii_spaces_and_plus_sign_consistently() {
        let sk = "秘密 key+/=";
        let token = upload_token("AK", sk, &PutPolicy::new("b:k", 1).to_json());
        let policy = decode_verified_token("AK", sk, &token).expect("verifies with the same SK");
        assert_eq!(policy, serde_json::json!({"scope": "b:k", "deadline": 1}));
        assert!(decode_verified_token("AK", "秘密 key+/", &token).is_err());
    }
}
