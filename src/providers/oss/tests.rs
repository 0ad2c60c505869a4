//! OSS store behaviour beyond the vectors: credential builders, request builders, answers and errors.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};

use super::sign::{Credentials, Request, Signer};
use super::{callback, client, OssStore, OssStoreConfig};
use crate::providers::types::{DownloadOptions, ProviderError, UploadGrant};
use crate::providers::xml;

const NOW: i64 = 1_700_000_000;

fn credentials(token: Option<&str>) -> Credentials {
    Credentials {
        access_key: "LTAI5tEXAMPLEAccessKeyId".into(),
        secret_key: "EXAMPLEAccessKeySecretForTests01".into(),
        session_token: token.map(str::to_owned),
    }
}

fn store(path_style: bool, token: Option<&str>) -> OssStore {
    OssStore::new(OssStoreConfig {
        endpoint: path_style.then(|| "http://127.0.0.1:9100".to_owned()),
        region: "cn-hangzhou".into(),
        bucket: "examplebucket".into(),
        path_style,
        credentials: credentials(token),
    })
    .expect("valid store")
}

fn grant<'a>(key: &'a str, content_type: Option<&'a str>, size: Option<u64>) -> UploadGrant<'a> {
    UploadGrant {
        key,
        content_type,
        content_types: &[],
        size,
        max_size: 10_485_760,
        overwrite: true,
        subject: "alice",
        now: NOW,
        expires_at: NOW + 600,
        callback_url: None,
    }
}

fn query_value<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn config_validation_names_the_setting() {
    let bad = |mutate: fn(&mut OssStoreConfig)| {
        let mut cfg = OssStoreConfig {
            endpoint: None,
            region: "cn-hangzhou".into(),
            bucket: "examplebucket".into(),
            path_style: false,
            credentials: credentials(None),
        };
        mutate(&mut cfg);
        OssStore::new(cfg).expect_err("invalid")
    };
    assert!(bad(|c| c.region = "cn hangzhou".into()).contains("region"));
    assert!(bad(|c| c.bucket = "Bad_Bucket".into()).contains("bucket"));
    assert!(bad(|c| c.credentials.access_key = "a/b".into()).contains("access key"));
    assert!(bad(|c| c.credentials.secret_key = "".into()).contains("secret"));
    assert!(bad(|c| c.endpoint = Some("ftp://x".into())).contains("endpoint"));
    assert!(bad(|c| c.endpoint = Some("http://127.0.0.1:1".into())).contains("path_style"));
    assert!(bad(|c| c.endpoint = Some("https://h/p".into())).contains("endpoint"));
    // `oss-cn-hangzhou` is accepted as the short id, as ali-oss does.
    let s = OssStore::new(OssStoreConfig {
        endpoint: None,
        region: "oss-cn-hangzhou".into(),
        bucket: "examplebucket".into(),
        path_style: false,
        credentials: credentials(None),
    })
    .expect("valid");
    assert_eq!(s.region(), "cn-hangzhou");
    assert_eq!(
        s.bucket_url(),
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/"
    );
}

#[test]
fn presigned_put_signs_type_length_overwrite_and_callback() {
    let s = store(false, None);
    let cb = callback::broker_callback("https://broker.example/v1/callbacks/ali?t=T", "alice");
    let mut g = grant("user/42/a b.jpg", Some("image/jpeg"), Some(1234));
    g.overwrite = false;
    let signed = s.presigned_put(&g, Some(&cb));
    assert_eq!(signed.method, "PUT");
    assert!(signed
        .url
        .starts_with("https://examplebucket.oss-cn-hangzhou.aliyuncs.com/user/42/a%20b.jpg?"));
    assert_eq!(
        query_value(&signed.url, "x-oss-additional-headers"),
        Some("content-length")
    );
    assert_eq!(query_value(&signed.url, "x-oss-expires"), Some("600"));
    let names: Vec<&str> = signed.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Content-Type",
            "Content-Length",
            "x-oss-forbid-overwrite",
            "x-oss-callback"
        ]
    );
    // The signature covers every returned header: recompute with one changed, it differs.
    let headers: Vec<(&str, &str)> = signed
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let sign_with = |headers: &[(&str, &str)]| {
        s.signer()
            .presign(
                &Request {
                    method: "PUT",
                    bucket: "examplebucket",
                    key: "user/42/a b.jpg",
                    query: &[],
                    headers,
                    additional_headers: &["content-length"],
                    now: NOW,
                },
                600,
            )
            .signature
    };
    let signature = query_value(&signed.url, "x-oss-signature").expect("signature");
    assert_eq!(sign_with(&headers), signature);
    for i in 0..headers.len() {
        let mut changed = headers.clone();
        changed[i].1 = "other";
        assert_ne!(
            sign_with(&changed),
            signature,
            "header {} unsigned",
            headers[i].0
        );
    }
    let presigned = s.signer().presign(
        &Request {
            method: "PUT",
            bucket: "examplebucket",
            key: "user/42/a b.jpg",
            query: &[],
            headers: &headers,
            additional_headers: &["content-length"],
            now: NOW,
        },
        600,
    );
    assert!(presigned
        .canonical_request
        .contains("\ncontent-length:1234\ncontent-type:image/jpeg\nx-oss-callback:"));
    assert!(presigned
        .canonical_request
        .ends_with("\n\ncontent-length\nUNSIGNED-PAYLOAD"));
}

#[test]
fn presigned_put_without_size_or_type_signs_no_extra_header() {
    let signed = store(false, None).presigned_put(&grant("k.bin", None, None), None);
    assert!(signed.headers.is_empty());
    assert_eq!(query_value(&signed.url, "x-oss-additional-headers"), None);
}

#[test]
fn presigned_get_and_part_urls() {
    let s = store(true, Some("tok+/="));
    let get = s.presigned_get(
        "a/b.txt",
        &DownloadOptions {
            response_content_disposition: Some("attachment; filename=\"b.txt\""),
            response_content_type: None,
        },
        NOW,
        NOW + 60,
    );
    assert!(get
        .url
        .starts_with("http://127.0.0.1:9100/examplebucket/a/b.txt?response-content-disposition=attachment%3B%20filename%3D%22b.txt%22&"));
    assert_eq!(
        query_value(&get.url, "x-oss-security-token"),
        Some("tok%2B%2F%3D")
    );
    let part = s.presigned_upload_part("a/b.bin", "UP ID", 7, Some(102_400), NOW, NOW + 60);
    assert!(part
        .url
        .starts_with("http://127.0.0.1:9100/examplebucket/a/b.bin?partNumber=7&uploadId=UP%20ID&"));
    assert_eq!(
        part.headers,
        [("Content-Length".to_owned(), "102400".to_owned())]
    );
    assert_eq!(
        query_value(&part.url, "x-oss-additional-headers"),
        Some("content-length")
    );
    let batch = s.presigned_upload_parts("a/b.bin", "UP ID", &[7, 8], NOW, NOW + 60);
    assert_eq!(
        batch[0],
        s.presigned_upload_part("a/b.bin", "UP ID", 7, None, NOW, NOW + 60)
            .url
    );
    assert!(batch[1].contains("?partNumber=8&"));
    // Expiry is clamped to OSS's 7 days.
    let long = s.presigned_get("k", &DownloadOptions::default(), NOW, NOW + 10 * 86_400);
    assert_eq!(query_value(&long.url, "x-oss-expires"), Some("604800"));
}

#[test]
fn form_upload_policy_pins_key_size_type_callback_and_token() {
    let s = store(false, Some("STS"));
    let cb = callback::broker_callback("https://b.example/v1/callbacks/ali?t=T", "bob");
    let form = s.form_upload(&grant("u/1.png", Some("image/png"), None), Some(&cb));
    assert_eq!(
        form.url,
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/"
    );
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let names: Vec<&str> = form.fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "key",
            "policy",
            "x-oss-signature-version",
            "x-oss-credential",
            "x-oss-date",
            "x-oss-signature",
            "Content-Type",
            "x-oss-security-token",
            "callback"
        ]
    );
    let policy = String::from_utf8(STANDARD.decode(field("policy")).expect("b64")).expect("utf8");
    let parsed: serde_json::Value = serde_json::from_str(&policy).expect("policy JSON");
    assert_eq!(parsed["expiration"], "2023-11-14T22:23:20.000Z");
    let conditions = parsed["conditions"].as_array().expect("conditions");
    let expected = serde_json::json!([
        {"bucket": "examplebucket"},
        {"x-oss-signature-version": "OSS4-HMAC-SHA256"},
        {"x-oss-credential": "LTAI5tEXAMPLEAccessKeyId/20231114/cn-hangzhou/oss/aliyun_v4_request"},
        {"x-oss-date": "20231114T221320Z"},
        {"x-oss-security-token": "STS"},
        ["eq", "$key", "u/1.png"],
        ["content-length-range", 0, 10485760],
        ["eq", "$Content-Type", "image/png"],
        {"callback": cb},
    ]);
    assert_eq!(serde_json::Value::Array(conditions.clone()), expected);
    assert_eq!(
        field("x-oss-signature"),
        s.signer().sign("20231114", &field("policy"))
    );
    let mut no_overwrite = grant("u/1.png", None, None);
    no_overwrite.overwrite = false;
    let form = s.form_upload(&no_overwrite, None);
    assert_eq!(
        form.fields.last(),
        Some(&("x-oss-forbid-overwrite", "true".to_owned()))
    );
}

#[test]
fn broker_callback_decodes_to_the_contract_body() {
    let value = callback::broker_callback("https://b.example/v1/callbacks/ali?t=T", "a b&sub=${x}");
    let json: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(value).expect("b64")).expect("json");
    assert_eq!(
        json["callbackUrl"],
        "https://b.example/v1/callbacks/ali?t=T"
    );
    assert_eq!(
        json["callbackBody"],
        "bucket=${bucket}&key=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&sub=a+b%26sub%3D%24%7Bx%7D"
    );
    assert_eq!(
        json["callbackBodyType"],
        "application/x-www-form-urlencoded"
    );
}

#[test]
fn server_side_calls_are_built_as_signed() {
    let s = store(true, Some("STS"));
    let initiate = s.initiate_call("k 1", Some("video/mp4"), true, NOW);
    assert_eq!(
        initiate.url,
        "http://127.0.0.1:9100/examplebucket/k%201?uploads"
    );
    assert!(initiate
        .signing
        .canonical_request
        .starts_with("POST\n/examplebucket/k%201\nuploads\ncontent-type:video/mp4\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20231114T221320Z\nx-oss-forbid-overwrite:true\nx-oss-security-token:STS\n"));
    let names: Vec<&str> = initiate.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Content-Type",
            "x-oss-forbid-overwrite",
            "x-oss-date",
            "x-oss-content-sha256",
            "x-oss-security-token"
        ]
    );
    let list = s.list_parts_call("k", "U1", Some(1000), NOW);
    assert_eq!(
        list.url,
        "http://127.0.0.1:9100/examplebucket/k?uploadId=U1&max-parts=1000&part-number-marker=1000"
    );
    assert!(list
        .signing
        .canonical_request
        .contains("\nmax-parts=1000&part-number-marker=1000&uploadId=U1\n"));
    let complete = s.complete_call(
        "k",
        "U1",
        &[(2, "\"B\"".into()), (1, "\"A<\"".into())],
        Some("CB"),
        false,
        NOW,
    );
    assert_eq!(
        String::from_utf8(complete.body).expect("utf8"),
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"A&lt;\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"B\"</ETag></Part></CompleteMultipartUpload>"
    );
    assert!(complete
        .signing
        .canonical_request
        .contains("\nx-oss-callback:CB\n"));
    let abort = s.abort_call("k", "U1", NOW);
    assert_eq!(abort.method, reqwest::Method::DELETE);
    assert_eq!(
        abort.url,
        "http://127.0.0.1:9100/examplebucket/k?uploadId=U1"
    );
    let head = s.head_call("k", NOW);
    assert_eq!(head.url, "http://127.0.0.1:9100/examplebucket/k");
    assert!(head.signing.authorization.starts_with(
        "OSS4-HMAC-SHA256 Credential=LTAI5tEXAMPLEAccessKeyId/20231114/cn-hangzhou/oss/aliyun_v4_request,Signature="
    ));
}

#[test]
fn xml_answers_parse() {
    assert_eq!(
        xml::upload_id("OSS", "InitiateMultipartUpload", b"<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>0004B98</UploadId></InitiateMultipartUploadResult>").ok(),
        Some("0004B98".to_owned())
    );
    assert!(xml::upload_id(
        "OSS",
        "InitiateMultipartUpload",
        b"<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>"
    )
    .is_err());
    let page = xml::parts_page("OSS", b"<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>\"E1\"</ETag><Size>102400</Size></Part><Part><PartNumber>2</PartNumber><ETag>\"E2\"</ETag><Size>5</Size></Part></ListPartsResult>").expect("page");
    assert_eq!(page.next_marker, Some(2));
    assert_eq!(page.parts.len(), 2);
    assert_eq!(page.parts[0].etag, "\"E1\"");
    assert!(xml::parts_page(
        "OSS",
        b"<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>"
    )
    .is_err());
    let last = xml::parts_page(
        "OSS",
        b"<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>",
    )
    .expect("page");
    assert_eq!(last.next_marker, None);
    assert_eq!(
        xml::completed_etag(
            "OSS",
            b"<CompleteMultipartUploadResult><ETag>\"X-2\"</ETag></CompleteMultipartUploadResult>"
        )
        .ok(),
        Some("X-2".to_owned())
    );
}

#[test]
fn errors_map_to_provider_errors() {
    let err = |code: &str, status: u16| {
        xml::error_for("OSS", "Op",
            status,
            format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>msg</Message><RequestId>1</RequestId></Error>").as_bytes(),
        )
    };
    assert!(matches!(err("NoSuchUpload", 404), ProviderError::NotFound));
    assert!(matches!(err("NoSuchKey", 404), ProviderError::NotFound));
    for code in ["InvalidPart", "InvalidPartOrder", "EntityTooSmall"] {
        match err(code, 400) {
            ProviderError::BadRequest(m) => assert_eq!(m, format!("{code}: msg")),
            other => panic!("{code}: {other:?}"),
        }
    }
    assert!(matches!(
        err("FileAlreadyExists", 409),
        ProviderError::BadRequest(_)
    ));
    match err("SignatureDoesNotMatch", 403) {
        ProviderError::Upstream(m) => {
            assert_eq!(m, "OSS Op failed: HTTP 403 SignatureDoesNotMatch")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        err("NoSuchBucket", 404),
        ProviderError::Upstream(_)
    ));
    assert!(matches!(
        xml::error_for("OSS", "Op", 404, b""),
        ProviderError::NotFound
    ));
    assert!(matches!(
        xml::error_for("OSS", "Op", 500, b"<html>"),
        ProviderError::Upstream(_)
    ));
}

#[test]
fn complete_answers() {
    let mut headers = HeaderMap::new();
    headers.insert("etag", HeaderValue::from_static("\"ABC-2\""));
    let with_cb =
        client::complete_answer_for_tests(true, 200, &headers, b"{\"key\":\"k\"}").expect("ok");
    assert_eq!(with_cb.etag.as_deref(), Some("ABC-2"));
    assert_eq!(
        with_cb.callback_answer.as_deref(),
        Some(&b"{\"key\":\"k\"}"[..])
    );
    let plain = client::complete_answer_for_tests(
        false,
        200,
        &HeaderMap::new(),
        b"<CompleteMultipartUploadResult><ETag>\"D-3\"</ETag></CompleteMultipartUploadResult>",
    )
    .expect("ok");
    assert_eq!(plain.etag.as_deref(), Some("D-3"));
    // 203: object stored but the callback failed; an error, never a success.
    assert!(client::complete_answer_for_tests(
        true,
        203,
        &headers,
        b"<Error><Code>CallbackFailed</Code></Error>"
    )
    .is_err());
    assert!(matches!(
        client::complete_answer_for_tests(
            false,
            400,
            &headers,
            b"<Error><Code>InvalidPartOrder</Code></Error>"
        ),
        Err(ProviderError::BadRequest(_))
    ));
    let mut head = HeaderMap::new();
    head.insert("content-length", HeaderValue::from_static("5"));
    head.insert("etag", HeaderValue::from_static("\"E\""));
    head.insert("content-type", HeaderValue::from_static("text/plain"));
    let info = client::object_info(&head).expect("info");
    assert_eq!((info.size, info.etag.as_str()), (5, "E"));
}

#[test]
fn signing_key_cache_follows_the_day() {
    let signer = Signer::new(credentials(None), "cn-hangzhou");
    let a = signer.sign("20231114", "x");
    let b = signer.sign("20231115", "x");
    assert_ne!(a, b);
    assert_eq!(signer.sign("20231114", "x"), a);
    let key = super::sign::derive_signing_key(
        "EXAMPLEAccessKeySecretForTests01",
        "20231114",
        "cn-hangzhou",
    );
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(b"x");
    assert_eq!(a, hex::encode(mac.finalize().into_bytes()));
}

#[test]
fn additional_headers_only_name_present_non_default_headers() {
    let signer = Signer::new(credentials(None), "cn-hangzhou");
    let signed = signer.sign_headers(&Request {
        method: "PUT",
        bucket: "b",
        key: "k",
        query: &[("uploads", "")],
        headers: &[
            ("x-oss-date", "20231114T221320Z"),
            ("Content-Length", "5"),
            ("Content-Type", "a/b"),
        ],
        additional_headers: &["content-length", "content-type", "absent"],
        now: NOW,
    });
    assert_eq!(
        signed.canonical_request,
        "PUT\n/b/k\nuploads\ncontent-length:5\ncontent-type:a/b\nx-oss-date:20231114T221320Z\n\ncontent-length\nUNSIGNED-PAYLOAD"
    );
    assert!(signed
        .authorization
        .contains(",AdditionalHeaders=content-length,Signature="));
}

#[test]
fn header_values_are_signed_trimmed() {
    let signer = Signer::new(credentials(None), "cn-hangzhou");
    let sign = |value| {
        signer
            .presign(
                &Request {
                    method: "PUT",
                    bucket: "b",
                    key: "k",
                    query: &[],
                    headers: &[("Content-Type", value)],
                    additional_headers: &[],
                    now: NOW,
                },
                60,
            )
            .signature
    };
    assert_eq!(sign(" image/jpeg\t"), sign("image/jpeg"));
    assert_ne!(sign("image/png"), sign("image/jpeg"));
}
