//! `CosStore` end to end: the public methods reproduce the SDK vectors they can express.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use super::sign::{sha1_hex, sign_key, sign_request};
use super::test_vectors::cos_vectors;
use super::*;

const SECRET_ID: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
const SECRET_KEY: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
const HOST: &str = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com";
/// The vectors' frozen clock: Python SDK KeyTime starts at 1699999940 = 1700000000 - 60.
const NOW: i64 = 1_700_000_000;

fn config(session_token: Option<&str>) -> CosStoreConfig {
    CosStoreConfig {
        bucket: "examplebucket-1250000000".to_owned(),
        region: "ap-guangzhou".to_owned(),
        secret_id: SECRET_ID.to_owned(),
        secret_key: SECRET_KEY.into(),
        session_token: session_token.map(str::to_owned),
        endpoint: None,
    }
}

/// The docs' dummy-key store, optionally with an STS token.
pub(super) fn store(session_token: Option<&str>) -> CosStore {
    CosStore::new(config(session_token)).expect("valid config")
}

fn vector_url(id: &str) -> String {
    cos_vectors()
        .request_signatures
        .into_iter()
        .find(|v| v.id == id)
        .and_then(|v| v.url)
        .unwrap_or_else(|| panic!("vector {id} has a url"))
}

fn grant<'a>(
    key: &'a str,
    content_type: Option<&'a str>,
    size: Option<u64>,
    expires_at: i64,
) -> UploadGrant<'a> {
    UploadGrant {
        callback_url: None,
        key,
        content_type,
        content_types: &[],
        size,
        max_size: 10_485_760,
        overwrite: true,
        subject: "alice",
        now: NOW,
        expires_at,
    }
}

fn decoded_pairs(url: &str) -> (String, Vec<(String, String)>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    (base.to_owned(), pairs)
}

#[test]
fn presigned_get_reproduces_q1_byte_for_byte() {
    let url = store(None).presigned_get(
        "exampleobject",
        &DownloadOptions::default(),
        NOW,
        NOW + 3600,
    );
    assert_eq!(
        url,
        SignedUrl {
            method: "GET",
            url: vector_url("Q1"),
            headers: vec![]
        }
    );
}

#[test]
fn presigned_put_reproduces_q2_byte_for_byte() {
    let signed = store(None).presigned_put(&grant(
        "uploads/2024/01/photo.jpg",
        Some("image/jpeg"),
        None,
        NOW + 900,
    ));
    assert_eq!(signed.url, vector_url("Q2"));
    assert_eq!(
        signed.headers,
        vec![("Content-Type".to_owned(), "image/jpeg".to_owned())]
    );
}

#[test]
fn presigned_put_with_session_token_reproduces_q4_byte_for_byte() {
    let token = "EXAMPLE_SESSION_TOKEN/with+special=chars";
    let signed =
        store(Some(token)).presigned_put(&grant("u/123/avatar.png", None, None, NOW + 600));
    assert_eq!(signed.url, vector_url("Q4"));
    assert!(signed.headers.is_empty());
}

/// Q3's SDK URL form-encodes the extra parameter (`+`); ours uses `%20`. Same path, same decoded parameters.
#[test]
fn presigned_get_with_disposition_matches_q3() {
    let opts = DownloadOptions {
        response_content_disposition: Some("attachment; filename=\"a b.png\""),
        response_content_type: None,
    };
    let signed = store(None).presigned_get("用户/测试 文件+(1).png", &opts, NOW, NOW + 600);
    let want = vector_url("Q3");
    assert_eq!(decoded_pairs(&signed.url), decoded_pairs(&want));
    assert!(signed
        .url
        .ends_with("&response-content-disposition=attachment%3B%20filename%3D%22a%20b.png%22"));
}

#[test]
fn presigned_get_signs_both_overrides() {
    let opts = DownloadOptions {
        response_content_disposition: Some("inline"),
        response_content_type: Some("image/png"),
    };
    let url = store(None).presigned_get("a.png", &opts, NOW, NOW + 60).url;
    assert!(
        url.contains("&q-url-param-list=response-content-disposition%3Bresponse-content-type&"),
        "{url}"
    );
    assert!(
        url.ends_with("&response-content-disposition=inline&response-content-type=image%2Fpng"),
        "{url}"
    );
}

#[test]
fn presigned_put_pins_content_length_when_size_is_known() {
    let signed = store(None).presigned_put(&grant(
        "a b+c=d/测试.bin",
        Some("application/octet-stream"),
        Some(5),
        NOW + 900,
    ));
    assert_eq!(
        signed.headers,
        vec![
            (
                "Content-Type".to_owned(),
                "application/octet-stream".to_owned()
            ),
            ("Content-Length".to_owned(), "5".to_owned()),
        ]
    );
    let prefix = format!("https://{HOST}/a%20b%2Bc%3Dd/%E6%B5%8B%E8%AF%95.bin?q-sign-algorithm=sha1&q-ak={SECRET_ID}&");
    assert!(signed.url.starts_with(&prefix), "{}", signed.url);
    assert!(
        signed
            .url
            .contains("&q-header-list=content-length%3Bcontent-type%3Bhost&"),
        "{}",
        signed.url
    );
    // Same request signed by hand over the raw path.
    let request = SignableRequest {
        method: "put",
        path: "/a b+c=d/测试.bin",
        headers: &[
            ("Content-Length", "5"),
            ("Content-Type", "application/octet-stream"),
            ("Host", HOST),
        ],
        params: &[],
    };
    let expected = sign_request(SECRET_KEY, "1699999940;1700000900", &request);
    assert!(
        signed
            .url
            .ends_with(&format!("&q-signature={}", expected.signature)),
        "{}",
        signed.url
    );
}

fn field<'a>(form: &'a FormUpload, name: &str) -> &'a str {
    form.fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("field {name} present"))
}

fn decoded_policy(form: &FormUpload) -> Value {
    let bytes = STANDARD
        .decode(field(form, "policy"))
        .expect("standard base64");
    serde_json::from_slice(&bytes).expect("policy is JSON")
}

#[test]
fn form_upload_fields_come_in_order_with_raw_key() {
    let form = store(None).form_upload(&grant(
        "users/a b+c=d/测试.png",
        Some("image/png"),
        Some(3),
        NOW + 900,
    ));
    assert_eq!(form.url, format!("https://{HOST}/"));
    let names: Vec<&str> = form.fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "key",
            "success_action_status",
            "Content-Type",
            "policy",
            "q-sign-algorithm",
            "q-ak",
            "q-key-time",
            "q-signature"
        ]
    );
    assert_eq!(field(&form, "key"), "users/a b+c=d/测试.png");
    assert_eq!(field(&form, "success_action_status"), "200");
    assert_eq!(field(&form, "Content-Type"), "image/png");
    assert_eq!(field(&form, "q-sign-algorithm"), "sha1");
    assert_eq!(field(&form, "q-ak"), SECRET_ID);
    assert_eq!(field(&form, "q-key-time"), "1699999940;1700000900");
}

#[test]
fn form_upload_policy_pins_key_size_type_and_window() {
    let form = store(None).form_upload(&grant(
        "users/a b+c=d/测试.png",
        Some("image/png"),
        None,
        NOW + 900,
    ));
    let policy = decoded_policy(&form);
    assert_eq!(policy["expiration"], "2023-11-14T22:28:20.000Z");
    assert_eq!(
        policy["conditions"],
        json!([
            { "q-sign-algorithm": "sha1" },
            { "q-ak": SECRET_ID },
            { "q-sign-time": "1699999940;1700000900" },
            { "bucket": "examplebucket-1250000000" },
            { "key": "users/a b+c=d/测试.png" },
            ["content-length-range", 0, 10_485_760],
            { "Content-Type": "image/png" },
        ])
    );
}

/// What COS does on receipt: SHA1 of the decoded policy bytes, HMAC under the SignKey of `q-key-time`.
#[test]
fn form_upload_signature_verifies_like_cos_does() {
    let form = store(None).form_upload(&grant("a.png", None, None, NOW + 900));
    let policy_bytes = STANDARD
        .decode(field(&form, "policy"))
        .expect("standard base64");
    let key = sign_key(SECRET_KEY, field(&form, "q-key-time"));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(sha1_hex(&policy_bytes).as_bytes());
    let signature = hex::decode(field(&form, "q-signature")).expect("hex signature");
    assert!(mac.clone().verify_slice(&signature).is_ok());
    let mut tampered = signature;
    tampered[0] ^= 1;
    assert!(mac.verify_slice(&tampered).is_err());
}

#[test]
fn form_upload_with_session_token_sends_and_pins_it() {
    let form = store(Some("TOKEN+/=")).form_upload(&grant("a.png", None, None, NOW + 900));
    let names: Vec<&str> = form.fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        &names[..4],
        [
            "key",
            "success_action_status",
            "x-cos-security-token",
            "policy"
        ]
    );
    assert_eq!(field(&form, "x-cos-security-token"), "TOKEN+/=");
    let conditions = decoded_policy(&form)["conditions"].clone();
    assert_eq!(
        conditions.as_array().and_then(|c| c.last()),
        Some(&json!({ "x-cos-security-token": "TOKEN+/=" }))
    );
}

#[test]
fn endpoint_override_replaces_the_host_everywhere() {
    let mut cfg = config(None);
    cfg.endpoint = Some("https://examplebucket-1250000000.cos.accelerate.myqcloud.com".to_owned());
    let store = CosStore::new(cfg).expect("valid endpoint");
    assert_eq!(
        store.form_upload(&grant("a", None, None, NOW + 1)).url,
        "https://examplebucket-1250000000.cos.accelerate.myqcloud.com/"
    );
    let get = store
        .presigned_get("a", &DownloadOptions::default(), NOW, NOW + 1)
        .url;
    assert!(
        get.starts_with("https://examplebucket-1250000000.cos.accelerate.myqcloud.com/a?"),
        "{get}"
    );

    let mut local = config(None);
    local.endpoint = Some("http://127.0.0.1:9000/".to_owned());
    let local = CosStore::new(local).expect("loopback endpoint with port");
    assert_eq!(local.host, "127.0.0.1:9000");
    assert!(local
        .head_request("k", NOW)
        .url
        .starts_with("http://127.0.0.1:9000/k"));
}

#[test]
fn invalid_configs_are_rejected_without_leaking_secrets() {
    type Mutation = fn(&mut CosStoreConfig);
    let cases: [(&str, Mutation); 9] = [
        ("bucket without APPID", |c| {
            c.bucket = "examplebucket".to_owned()
        }),
        ("bucket with uppercase", |c| {
            c.bucket = "Example-1250000000".to_owned()
        }),
        ("APPID not numeric", |c| c.bucket = "example-12a".to_owned()),
        ("empty region", |c| c.region = String::new()),
        ("empty secret key", |c| c.secret_key = "".into()),
        ("secret id with space", |c| c.secret_id = "AK ID".to_owned()),
        ("empty token", |c| c.session_token = Some(String::new())),
        ("endpoint with path", |c| {
            c.endpoint = Some("https://cos.ap-guangzhou.myqcloud.com/bucket".to_owned())
        }),
        ("endpoint not http", |c| {
            c.endpoint = Some("ftp://example.com".to_owned())
        }),
    ];
    for (what, mutate) in cases {
        let mut cfg = config(None);
        mutate(&mut cfg);
        match CosStore::new(cfg) {
            Ok(_) => panic!("{what}: accepted"),
            Err(message) => assert!(!message.contains(SECRET_KEY), "{what}: {message}"),
        }
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let cfg = config(Some("SESSION-TOKEN-VALUE"));
    let shown = format!("{cfg:?} {:?}", CosStore::new(cfg.clone()).expect("valid"));
    assert!(
        !shown.contains(SECRET_KEY) && !shown.contains("SESSION-TOKEN-VALUE"),
        "{shown}"
    );
    assert!(shown.contains(SECRET_ID), "{shown}");
}
