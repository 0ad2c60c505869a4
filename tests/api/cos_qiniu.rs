//! COS and Qiniu answers through the HTTP API, checked by recomputing each signature independently.
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::helpers::{assert_problem, token, TestApp};

const COS_SECRET_ID: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
const COS_SECRET_KEY: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
const QN_AK: &str = "MY_ACCESS_KEY";
const QN_SK: &str = "MY_SECRET_KEY";

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha1>::new_from_slice(key).expect("hmac key");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn unix(rfc3339: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().expect("time"))
        .expect("rfc3339")
        .timestamp()
}

#[tokio::test]
async fn cos_form_fields_carry_a_policy_signed_over_its_raw_json() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let body = json!({"store": "wx", "key": "strict/alice/猫 cat+1.png", "content_type": "image/png", "size": 1000});
    let (status, cred) = app.post_json("/v1/uploads", &t, &body).await;
    assert_eq!(status, 200, "{cred}");
    assert_eq!(cred["provider"], "cos");
    assert_eq!(
        cred["url"],
        "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/"
    );
    let fields = cred["fields"].as_object().expect("fields");
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
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
        ],
        "wx.uploadFile formData, in order"
    );
    assert_eq!(
        fields["key"], "strict/alice/猫 cat+1.png",
        "key raw, not URL-encoded"
    );
    assert_eq!(fields["success_action_status"], "200");
    assert_eq!(fields["q-ak"], COS_SECRET_ID);

    let key_time = fields["q-key-time"].as_str().expect("key time");
    let (start, end) = key_time.split_once(';').expect("start;end");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - 62..=now - 58).contains(&start.parse::<i64>().expect("start")),
        "backdated 60 s"
    );
    assert_eq!(end.parse::<i64>().expect("end"), unix(&cred["expires_at"]));

    let policy_json = STANDARD
        .decode(fields["policy"].as_str().expect("policy"))
        .expect("base64");
    let sign_key = hex::encode(hmac_sha1(COS_SECRET_KEY.as_bytes(), key_time.as_bytes()));
    let string_to_sign = hex::encode(Sha1::digest(&policy_json));
    let signature = hex::encode(hmac_sha1(sign_key.as_bytes(), string_to_sign.as_bytes()));
    assert_eq!(fields["q-signature"], signature.as_str());

    let policy: Value = serde_json::from_slice(&policy_json).expect("policy json");
    let conditions = policy["conditions"].as_array().expect("conditions");
    for c in [
        json!({"q-sign-algorithm": "sha1"}),
        json!({"q-ak": COS_SECRET_ID}),
        json!({"q-sign-time": key_time}),
        json!({"bucket": "examplebucket-1250000000"}),
        json!({"key": "strict/alice/猫 cat+1.png"}),
        json!(["content-length-range", 0, 1 << 20]),
        json!({"Content-Type": "image/png"}),
    ] {
        assert!(conditions.contains(&c), "condition {c} in {conditions:?}");
    }
    assert!(
        policy["expiration"]
            .as_str()
            .is_some_and(|e| e.ends_with(".000Z")),
        "millisecond expiration"
    );
}

#[tokio::test]
async fn cos_put_and_get_urls_are_q_signed() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let body = json!({"store": "wx", "key": "users/alice/a b+c.jpg", "method": "PUT", "content_type": "image/jpeg", "size": 12});
    let (status, cred) = app.post_json("/v1/uploads", &t, &body).await;
    assert_eq!(status, 200, "{cred}");
    let url = url::Url::parse(cred["url"].as_str().expect("url")).expect("url");
    assert_eq!(
        url.host_str(),
        Some("examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com")
    );
    assert_eq!(url.path(), "/users/alice/a%20b%2Bc.jpg");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["q-sign-algorithm"], "sha1");
    assert_eq!(q["q-header-list"], "content-length;content-type;host");
    assert_eq!(
        cred["headers"],
        json!({"Content-Type": "image/jpeg", "Content-Length": "12"})
    );
    // Recompute the signature from the documented steps.
    let key_time = &q["q-key-time"];
    let sign_key = hex::encode(hmac_sha1(COS_SECRET_KEY.as_bytes(), key_time.as_bytes()));
    let http_string = format!(
        "put\n/users/alice/a b+c.jpg\n\ncontent-length=12&content-type=image%2Fjpeg&host={}\n",
        url.host_str().unwrap_or_default()
    );
    let sts = format!(
        "sha1\n{key_time}\n{}\n",
        hex::encode(Sha1::digest(http_string.as_bytes()))
    );
    assert_eq!(
        q["q-signature"],
        hex::encode(hmac_sha1(sign_key.as_bytes(), sts.as_bytes()))
    );

    let (status, d) = app.post_json("/v1/downloads", &t, &json!({"store": "wx", "key": "users/alice/a b+c.jpg", "response_content_disposition": "attachment"})).await;
    assert_eq!(status, 200, "{d}");
    let url = url::Url::parse(d["url"].as_str().expect("url")).expect("url");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response-content-disposition"], "attachment");
    assert!(
        q["q-url-param-list"].contains("response-content-disposition"),
        "override is signed"
    );
}

/// Splits `AK:sign:policy`, checks the HMAC and returns the decoded put policy.
fn decode_upload_token(token: &str) -> Value {
    let mut parts = token.splitn(3, ':');
    let (ak, sign, encoded) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    assert_eq!(ak, QN_AK);
    assert_eq!(
        sign,
        URL_SAFE.encode(hmac_sha1(QN_SK.as_bytes(), encoded.as_bytes())),
        "HMAC over the encoded policy"
    );
    serde_json::from_slice(
        &URL_SAFE
            .decode(encoded)
            .expect("urlsafe base64 with padding"),
    )
    .expect("policy json")
}

#[tokio::test]
async fn qiniu_tokens_bake_in_scope_limits_and_the_ticketed_callback() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let body = json!({"store": "qn", "key": "strict/alice/ü 1+2.png", "content_type": "image/png", "expires_in": 300});
    let (status, cred) = app.post_json("/v1/uploads", &t, &body).await;
    assert_eq!(status, 200, "{cred}");
    assert_eq!(cred["provider"], "qiniu");
    assert_eq!(cred["url"], "https://up-z2.qiniup.com");
    let names: Vec<&str> = cred["fields"]
        .as_object()
        .expect("fields")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, ["token", "key"]);
    assert_eq!(cred["fields"]["key"], "strict/alice/ü 1+2.png");
    let policy = decode_upload_token(cred["fields"]["token"].as_str().expect("token"));
    assert_eq!(policy["scope"], "my-bucket:strict/alice/ü 1+2.png");
    assert_eq!(policy["deadline"], unix(&cred["expires_at"]));
    assert_eq!(policy["fsizeLimit"], 1 << 20);
    assert_eq!(policy["insertOnly"], 1, "overwrite = false");
    assert_eq!(policy["mimeLimit"], "image/jpeg;image/png");
    assert_eq!(policy["detectMime"], 1);
    assert_eq!(policy["endUser"], "alice");
    assert_eq!(
        policy["callbackBodyType"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        policy["callbackBody"],
        "key=$(key)&hash=$(etag)&fsize=$(fsize)&bucket=$(bucket)&mimeType=$(mimeType)&sub=alice"
    );
    let callback =
        url::Url::parse(policy["callbackUrl"].as_str().expect("callbackUrl")).expect("url");
    assert_eq!(callback.path(), "/v1/callbacks/qn");
    assert_eq!(callback.port(), Some(app.port));
    let ticket = callback
        .query_pairs()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .expect("ticket");
    // Valid until the credential's expiry plus the default grace of a day, and not a second longer.
    let valid_until = unix(&cred["expires_at"]) + 86_400;
    assert!(ticket.starts_with(&format!("{valid_until}.")), "{ticket}");
    let verify = |now: i64| {
        presign_broker::ticket::verify(
            b"integration-test-ticket-secret",
            "qn",
            "strict/alice/ü 1+2.png",
            "alice",
            &ticket,
            now,
        )
    };
    assert!(verify(valid_until));
    assert!(!verify(valid_until + 1));

    // Without overwrite = false there is no insertOnly.
    let (_, cred) = app
        .post_json(
            "/v1/uploads",
            &t,
            &json!({"store": "qn", "key": "users/alice/a.bin"}),
        )
        .await;
    let policy = decode_upload_token(cred["fields"]["token"].as_str().expect("token"));
    assert!(policy.get("insertOnly").is_none(), "{policy}");
    assert_eq!(policy["fsizeLimit"], 20 << 20);
}

#[tokio::test]
async fn qiniu_private_download_urls_are_signed_over_url_and_deadline() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let (status, d) = app
        .post_json(
            "/v1/downloads",
            &t,
            &json!({"store": "qn", "key": "users/alice/ü a.jpg", "expires_in": 120}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    let url = d["url"].as_str().expect("url");
    let (base, token_part) = url.split_once("&token=").expect("token param");
    assert!(
        base.starts_with("https://cdn.example.com/users/alice/%C3%BC%20a.jpg?e="),
        "{base}"
    );
    assert_eq!(
        base.rsplit_once("?e=").map(|(_, e)| e.parse::<i64>().ok()),
        Some(Some(unix(&d["expires_at"])))
    );
    assert_eq!(
        token_part,
        format!(
            "{QN_AK}:{}",
            URL_SAFE.encode(hmac_sha1(QN_SK.as_bytes(), base.as_bytes()))
        )
    );
    let res = app.post("/v1/downloads", &t, &json!({"store": "qn", "key": "users/alice/a.jpg", "response_content_type": "text/plain"})).await;
    assert_problem(res, 422, "unsupported").await;
}
