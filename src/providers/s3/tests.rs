use super::test_vectors::{self, credentials, parse_target, unix, PresignedVector};
use super::*;
use crate::providers::types::{DownloadOptions, UploadGrant};

fn config(endpoint: Option<&str>, bucket: &str, path_style: bool) -> S3StoreConfig {
    S3StoreConfig {
        endpoint: endpoint.map(str::to_owned),
        region: "us-east-1".to_owned(),
        bucket: bucket.to_owned(),
        path_style,
        credentials: credentials(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            &None,
        ),
    }
}

fn grant<'a>(key: &'a str, content_type: Option<&'a str>, size: Option<u64>) -> UploadGrant<'a> {
    UploadGrant {
        callback_url: None,
        key,
        content_type,
        content_types: &[],
        size,
        max_size: 1 << 20,
        overwrite: true,
        subject: "alice",
        now: 1_369_353_600,
        expires_at: 1_369_353_600 + 900,
    }
}

#[test]
fn endpoint_validation() {
    for good in [
        "http://127.0.0.1:9000",
        "https://s3.example.com/",
        "http://[::1]:8333",
    ] {
        assert!(
            S3Store::new(config(Some(good), "b", true)).is_ok(),
            "{good}"
        );
    }
    for bad in [
        "ftp://h",
        "http://h/path",
        "http://h?x=1",
        "http://h#f",
        "http://u:p@h",
        "not a url",
        "http://",
    ] {
        assert!(S3Store::new(config(Some(bad), "b", true)).is_err(), "{bad}");
    }
    let default = S3Store::new(config(None, "media", false)).expect("default endpoint");
    assert_eq!(
        default.bucket_url(),
        "https://media.s3.us-east-1.amazonaws.com/"
    );
    // The default port is left out of the host, as clients send it.
    let explicit =
        S3Store::new(config(Some("https://s3.example.com:443"), "b", true)).expect("valid");
    assert_eq!(explicit.bucket_url(), "https://s3.example.com/b/");
}

#[test]
fn bucket_region_and_key_validation() {
    assert!(
        S3Store::new(config(Some("http://127.0.0.1:9000"), "my-bucket", false)).is_err(),
        "IP + virtual"
    );
    assert!(S3Store::new(config(Some("https://s3.example.com"), "Bad_Bucket", false)).is_err());
    assert!(S3Store::new(config(Some("https://s3.example.com"), "a/b", true)).is_err());
    assert!(S3Store::new(config(Some("https://s3.example.com"), "", true)).is_err());
    let mut bad_region = config(None, "b", true);
    bad_region.region = "us/east".to_owned();
    assert!(S3Store::new(bad_region).is_err());
    let mut bad_key = config(None, "b", true);
    bad_key.credentials.access_key = "AK/X".to_owned();
    assert!(S3Store::new(bad_key).is_err());
}

#[test]
fn bucket_urls_for_both_styles() {
    let path =
        S3Store::new(config(Some("http://127.0.0.1:9000"), "rig-bucket", true)).expect("valid");
    assert_eq!(path.bucket_url(), "http://127.0.0.1:9000/rig-bucket/");
    let virt =
        S3Store::new(config(Some("https://s3.example.com:8443"), "media", false)).expect("valid");
    assert_eq!(virt.bucket_url(), "https://media.s3.example.com:8443/");
    let form = virt.form_upload(&grant("a b.jpg", Some("image/jpeg"), None));
    assert_eq!(form.url, "https://media.s3.example.com:8443/");
    assert_eq!(form.fields[0], ("key", "a b.jpg".to_owned()));
    assert_eq!(form.fields[1], ("Content-Type", "image/jpeg".to_owned()));
}

/// Builds the store a botocore/AWS-doc S3 vector describes (path-style on 127.0.0.1:9000, or virtual-hosted AWS).
fn store_for(v: &PresignedVector) -> S3Store {
    let path_style = v.addressing_style.as_deref() == Some("path");
    let endpoint = if path_style {
        format!("{}://{}", v.scheme, v.host)
    } else {
        format!(
            "{}://{}",
            v.scheme,
            v.host.trim_start_matches("examplebucket.")
        )
    };
    S3Store::new(S3StoreConfig {
        endpoint: Some(endpoint),
        region: v.region.clone(),
        bucket: "examplebucket".to_owned(),
        path_style,
        credentials: credentials(&v.access_key, &v.secret_key, &v.session_token),
    })
    .expect("vector config is valid")
}

#[test]
fn store_methods_reproduce_every_s3_presigned_vector() {
    let vectors = test_vectors::load();
    let mut failures = Vec::new();
    let mut covered = 0;
    for v in vectors.presigned.iter().filter(|v| v.service == "s3") {
        let store = store_for(v);
        let key = v.key.as_deref().expect("s3 vectors name a key");
        let now = unix(&v.datetime);
        let expires_at = now + v.expires;
        let param = |name: &str| {
            v.query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, val)| val.as_str())
        };
        let signed = match (v.method.as_str(), param("partNumber")) {
            ("PUT", Some(part)) => {
                let part: u32 = part.parse().expect("numeric part");
                let upload_id = param("uploadId").expect("upload id");
                store.presigned_upload_part(key, upload_id, part, now, expires_at)
            }
            ("PUT", None) => {
                let mut g = grant(key, None, None);
                (g.now, g.expires_at) = (now, expires_at);
                store.presigned_put(&g)
            }
            ("GET", _) => {
                let opts = DownloadOptions {
                    response_content_disposition: param("response-content-disposition"),
                    response_content_type: param("response-content-type"),
                };
                store.presigned_get(key, &opts, now, expires_at)
            }
            (other, _) => panic!("{}: unexpected method {other}", v.id),
        };
        covered += 1;
        let want = v.url.as_deref().expect("s3 vectors have a url");
        if signed.method != v.method || parse_target(&signed.url) != parse_target(want) {
            failures.push(format!(
                "{}:\n   got {} {}\n  want {}",
                v.id, signed.method, signed.url, want
            ));
        }
    }
    assert_eq!(
        covered, 7,
        "expected the AWS doc + 6 botocore presigned vectors"
    );
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn presigned_put_signs_type_and_length_and_returns_them() {
    let store = S3Store::new(config(Some("http://127.0.0.1:9000"), "b", true)).expect("valid");
    let signed = store.presigned_put(&grant("k.png", Some("image/png"), Some(42)));
    assert_eq!(signed.method, "PUT");
    assert_eq!(
        signed.headers,
        vec![
            ("Content-Type".to_owned(), "image/png".to_owned()),
            ("Content-Length".to_owned(), "42".to_owned())
        ]
    );
    assert!(
        signed
            .url
            .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&"),
        "{}",
        signed.url
    );
    assert!(!signed.url.to_ascii_lowercase().contains("checksum"));
    let bare = store.presigned_put(&grant("k.png", None, None));
    assert!(bare.headers.is_empty() && bare.url.contains("X-Amz-SignedHeaders=host&"));
}

#[test]
fn expiry_is_clamped_to_s3_limits() {
    let store = S3Store::new(config(Some("http://127.0.0.1:9000"), "b", true)).expect("valid");
    let opts = DownloadOptions::default();
    let week_plus = store.presigned_get("k", &opts, 1000, 1000 + 604_801);
    assert!(
        week_plus.url.contains("X-Amz-Expires=604800&"),
        "{}",
        week_plus.url
    );
    let past = store.presigned_get("k", &opts, 1000, 10);
    assert!(past.url.contains("X-Amz-Expires=1&"), "{}", past.url);
    let extreme = store.presigned_upload_part("k", "u", 1, i64::MIN, i64::MAX);
    assert!(
        extreme.url.contains("X-Amz-Expires=604800&"),
        "{}",
        extreme.url
    );
}

#[test]
fn download_overrides_are_signed_query_parameters() {
    let store = S3Store::new(config(Some("http://127.0.0.1:9000"), "b", true)).expect("valid");
    let opts = DownloadOptions {
        response_content_disposition: Some("attachment; filename=\"a b.pdf\""),
        response_content_type: Some("application/pdf"),
    };
    let signed = store.presigned_get("dir/a b.pdf", &opts, 0, 60);
    assert!(
        signed
            .url
            .starts_with("http://127.0.0.1:9000/b/dir/a%20b.pdf?"),
        "{}",
        signed.url
    );
    let parsed = parse_target(&signed.url);
    let names: Vec<&str> = parsed.params.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"response-content-disposition") && names.contains(&"response-content-type")
    );
}

#[test]
fn store_debug_hides_the_secret() {
    let store = S3Store::new(config(None, "b", true)).expect("valid");
    let shown = format!("{store:?}");
    assert!(
        shown.contains("AKIAIOSFODNN7EXAMPLE") && !shown.contains("bPxRfiCYEXAMPLEKEY"),
        "{shown}"
    );
}

#[test]
fn batched_part_urls_are_the_single_part_urls() {
    let numbers: Vec<u32> = (1..=12).chain([99, 1000, 10_000]).collect();
    for upload_id in ["u", "2~YjM4/MTk+0NTQ=5Z TQ1", "partNumber"] {
        for now in [0, 1_700_000_000, i64::MIN] {
            for (endpoint, path_style, token) in [
                (Some("http://127.0.0.1:9000"), true, None),
                (
                    Some("http://127.0.0.1:9000"),
                    true,
                    Some("TOKEN/+=".to_owned()),
                ),
                (None, false, None),
            ] {
                let mut cfg = config(endpoint, "bucket", path_style);
                cfg.credentials.session_token = token;
                let store = S3Store::new(cfg).expect("valid store");
                let batch = store.presigned_upload_parts(
                    "dir/a b+é.bin",
                    upload_id,
                    &numbers,
                    now,
                    now.saturating_add(600),
                );
                let one_by_one: Vec<String> = numbers
                    .iter()
                    .map(|&n| {
                        store
                            .presigned_upload_part(
                                "dir/a b+é.bin",
                                upload_id,
                                n,
                                now,
                                now.saturating_add(600),
                            )
                            .url
                    })
                    .collect();
                assert_eq!(batch, one_by_one, "{upload_id} {now}");
            }
        }
    }
}
