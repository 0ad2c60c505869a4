//! The put policy the broker bakes into a form-upload token (docs/API.md "Direct upload credentials" and
//! "Provider callbacks", docs/PROVIDERS.md Qiniu). Pure.

use std::fmt::Write;

use crate::providers::common;
use crate::providers::types::UploadGrant;

use super::signing::FORM_CONTENT_TYPE;
#[cfg(test)]
use super::token::PutPolicy;
use super::CallbackSpec;

/// Magic variables Qiniu fills in; server-decided values are appended as constants and
/// client-chosen `$(x:...)` variables are never used (docs/PROVIDERS.md, Qiniu).
const CALLBACK_BODY_FIELDS: &str =
    "key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)";
/// Without a callback Qiniu answers the uploader with this, the same fields the callback answer has.
const RETURN_BODY: &str = r#"{"key":$(key),"hash":$(etag),"fsize":$(fsize),"bucket":$(bucket)}"#;

/// The broker's put policy as compact JSON, written by hand: byte for byte what serde_json gives for the typed
/// [`broker_put_policy`] (the tests compare), in [`super::PutPolicy`]'s field order, without building it.
/// `scope = bucket:key`, `deadline = expires_at`, `insertOnly` unless overwriting is allowed,
/// `fsizeLimit = max_size`, `mimeLimit` with content detection, `endUser = sub`, and either the
/// signed form callback or a `returnBody`.
pub fn broker_put_policy_json(
    bucket: &str,
    g: &UploadGrant,
    callback: Option<&CallbackSpec>,
) -> String {
    let mut out = String::with_capacity(
        320 + bucket.len()
            + g.key.len()
            + 2 * g.subject.len()
            + callback.map_or(0, |c| c.url.len()),
    );
    out.push_str("{\"scope\":\"");
    common::push_json_inner(&mut out, bucket);
    out.push(':');
    common::push_json_inner(&mut out, g.key);
    // Writing integers to a String cannot fail.
    let _ = write!(out, "\",\"deadline\":{}", g.expires_at);
    if !g.overwrite {
        out.push_str(",\"insertOnly\":1");
    }
    let _ = write!(out, ",\"fsizeLimit\":{}", g.max_size);
    // Detect from the content whenever a limit is set: with the default (0) Qiniu checks the
    // client's own claim, which the client can set to anything.
    if !g.content_types.is_empty() {
        out.push_str(",\"mimeLimit\":\"");
        for (i, content_type) in g.content_types.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            common::push_json_inner(&mut out, content_type);
        }
        out.push_str("\",\"detectMime\":1");
    } else if let Some(essence) = declared_mime_limit(g) {
        out.push_str(",\"mimeLimit\":");
        common::push_json_str(&mut out, essence);
        out.push_str(",\"detectMime\":1");
    }
    match callback {
        Some(spec) => {
            out.push_str(",\"callbackUrl\":");
            common::push_json_str(&mut out, spec.url);
            // Form, never JSON: under `QBox` a JSON body is not signed (docs/PROVIDERS.md, Qiniu). The
            // form-urlencoded subject needs no JSON escaping.
            out.push_str(",\"callbackBody\":\"");
            out.push_str(CALLBACK_BODY_FIELDS);
            out.push_str("&sub=");
            out.extend(url::form_urlencoded::byte_serialize(g.subject.as_bytes()));
            out.push_str("\",\"callbackBodyType\":");
            common::push_json_str(&mut out, FORM_CONTENT_TYPE);
        }
        None => {
            out.push_str(",\"returnBody\":");
            common::push_json_str(&mut out, RETURN_BODY);
        }
    }
    out.push_str(",\"endUser\":");
    common::push_json_str(&mut out, g.subject);
    out.push('}');
    out
}

/// The typed put policy [`broker_put_policy_json`] writes: the reference its bytes are tested against.
#[cfg(test)]
pub fn broker_put_policy(
    bucket: &str,
    g: &UploadGrant,
    callback: Option<&CallbackSpec>,
) -> PutPolicy {
    let mime_limit = mime_limit(g);
    let mut policy = PutPolicy {
        insert_only: (!g.overwrite).then_some(1),
        fsize_limit: Some(g.max_size),
        detect_mime: mime_limit.as_ref().map(|_| 1),
        mime_limit,
        end_user: Some(g.subject.to_owned()),
        ..PutPolicy::new(format!("{bucket}:{}", g.key), g.expires_at)
    };
    match callback {
        Some(spec) => {
            policy.callback_url = Some(spec.url.to_owned());
            policy.callback_body_type = Some(FORM_CONTENT_TYPE.to_owned());
            policy.callback_body = Some(callback_body(g.subject));
        }
        None => policy.return_body = Some(RETURN_BODY.to_owned()),
    }
    policy
}

/// The rule's allowed types, or else the declared type (see [`declared_mime_limit`]).
#[cfg(test)]
fn mime_limit(g: &UploadGrant) -> Option<String> {
    if !g.content_types.is_empty() {
        return Some(g.content_types.join(";"));
    }
    declared_mime_limit(g).map(str::to_owned)
}

/// Without a rule list, the declared type's essence (without parameters, which the server-detected type never
/// carries). A declared value that would read as a `!` deny-list is not pinned: with no rule list every type is
/// allowed anyway.
fn declared_mime_limit<'a>(g: &UploadGrant<'a>) -> Option<&'a str> {
    let declared = g.content_type?;
    let essence = declared.split(';').next().unwrap_or_default().trim();
    (!essence.is_empty() && !essence.starts_with('!')).then_some(essence)
}

/// The callback body template with the subject form-urlencoded: `$`, `(`, `)` and `&` are escaped,
/// so a subject can never inject a magic variable or another field.
#[cfg(test)]
fn callback_body(subject: &str) -> String {
    let subject: String = url::form_urlencoded::byte_serialize(subject.as_bytes()).collect();
    format!("{CALLBACK_BODY_FIELDS}&sub={subject}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant<'a>(key: &'a str, content_types: &'a [String]) -> UploadGrant<'a> {
        UploadGrant {
            callback_url: None,
            key,
            content_type: None,
            content_types,
            size: Some(1234),
            max_size: 10_485_760,
            overwrite: false,
            subject: "alice",
            now: 1_893_455_400,
            expires_at: 1_893_456_000,
        }
    }

    fn as_data(policy: &PutPolicy) -> serde_json::Value {
        serde_json::from_str(&policy.to_json()).expect("valid JSON")
    }

    #[test]
    fn callback_policy() {
        let types = vec!["image/*".to_owned(), "video/mp4".to_owned()];
        let spec = CallbackSpec {
            url: "https://broker.example.com/v1/callbacks/qn?t=abc.def",
        };
        let policy = broker_put_policy(
            "my-bucket",
            &grant("users/alice/cat.jpg", &types),
            Some(&spec),
        );
        assert_eq!(
            as_data(&policy),
            json!({
                "scope": "my-bucket:users/alice/cat.jpg",
                "deadline": 1_893_456_000,
                "insertOnly": 1,
                "fsizeLimit": 10_485_760,
                "mimeLimit": "image/*;video/mp4",
                "detectMime": 1,
                "endUser": "alice",
                "callbackUrl": "https://broker.example.com/v1/callbacks/qn?t=abc.def",
                "callbackBodyType": "application/x-www-form-urlencoded",
                "callbackBody": "key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)&sub=alice",
            })
        );
    }

    #[test]
    fn return_body_without_callback_and_no_mime_limit_when_anything_goes() {
        let g = UploadGrant {
            callback_url: None,
            overwrite: true,
            ..grant("a", &[])
        };
        assert_eq!(
            as_data(&broker_put_policy("b", &g, None)),
            json!({
                "scope": "b:a",
                "deadline": 1_893_456_000,
                "fsizeLimit": 10_485_760,
                "endUser": "alice",
                "returnBody": "{\"key\":$(key),\"hash\":$(etag),\"fsize\":$(fsize),\"bucket\":$(bucket)}",
            })
        );
    }

    #[test]
    fn declared_type_is_pinned_only_without_a_rule_list() {
        let types = vec!["image/*".to_owned()];
        let declared = |content_type, types| {
            let g = UploadGrant {
                callback_url: None,
                content_type: Some(content_type),
                ..grant("k", types)
            };
            let policy = broker_put_policy("b", &g, None);
            (policy.mime_limit, policy.detect_mime)
        };
        assert_eq!(
            declared("image/png", &types),
            (Some("image/*".to_owned()), Some(1))
        );
        assert_eq!(
            declared("image/png", &[]),
            (Some("image/png".to_owned()), Some(1))
        );
        assert_eq!(
            declared("text/plain; charset=utf-8", &[]),
            (Some("text/plain".to_owned()), Some(1))
        );
        assert_eq!(declared("!image/png", &[]), (None, None));
        assert_eq!(declared("", &[]), (None, None));
    }

    #[test]
    fn subject_cannot_inject_variables_or_fields() {
        let g = UploadGrant {
            callback_url: None,
            subject: "a b&sub=root$(etag)+é",
            ..grant("k", &[])
        };
        let spec = CallbackSpec {
            url: "https://x/cb?t=1",
        };
        let policy = broker_put_policy("b", &g, Some(&spec));
        assert_eq!(
            policy.callback_body.as_deref(),
            Some("key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)&sub=a+b%26sub%3Droot%24%28etag%29%2B%C3%A9")
        );
        assert_eq!(policy.end_user.as_deref(), Some("a b&sub=root$(etag)+é"));
    }

    #[test]
    fn keys_with_non_ascii_spaces_and_plus_go_into_the_scope_verbatim() {
        let policy = broker_put_policy("b", &grant("图片/a b+c.jpg", &[]), None);
        assert_eq!(policy.scope, "b:图片/a b+c.jpg");
        assert!(policy
            .to_json()
            .starts_with(r#"{"scope":"b:图片/a b+c.jpg","#));
    }

    #[test]
    fn hand_written_json_equals_serde_json() {
        let types = ["image/*".to_owned(), "vi\"deo/\\mp4\u{1}".to_owned()];
        let spec = CallbackSpec {
            url: "https://broker.example.com/v1/callbacks/qn?t=abc.def&\"q\"",
        };
        let declared = [
            None,
            Some("image/png"),
            Some("text/plain; charset=utf-8"),
            Some("!image/png"),
            Some(""),
            Some("a\"b\\c"),
        ];
        let mut checked = 0;
        for key in ["users/alice/cat.jpg", "图片/a b+\"c\"\\.jpg\n"] {
            for subject in ["alice", "a b&sub=root$(etag)+é\"\u{7f}"] {
                for content_types in [&types[..], &[]] {
                    for content_type in declared {
                        for overwrite in [false, true] {
                            for expires_at in [1_893_456_000, -5] {
                                let g = UploadGrant {
                                    subject,
                                    content_type,
                                    overwrite,
                                    expires_at,
                                    ..grant(key, content_types)
                                };
                                for callback in [None, Some(&spec)] {
                                    assert_eq!(
                                        broker_put_policy_json("my-bucket", &g, callback),
                                        broker_put_policy("my-bucket", &g, callback).to_json(),
                                        "{g:?} {callback:?}"
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 2 * 2 * 6 * 2 * 2 * 2);
    }
}
