use super::super::test_vectors::{self, credentials, parse_target, unix};
use super::*;

fn check(failures: &mut Vec<String>, id: &str, what: &str, got: &str, want: &str) {
    if got != want {
        failures.push(format!("{id}: {what}\n   got: {got:?}\n  want: {want:?}"));
    }
}

#[test]
fn every_presigned_vector_reproduces() {
    let vectors = test_vectors::load();
    assert_eq!(vectors.presigned.len(), 14, "vector count changed");
    let mut failures = Vec::new();
    for v in &vectors.presigned {
        let signer = Signer::new(
            credentials(&v.access_key, &v.secret_key, &v.session_token),
            &v.region,
            &v.service,
        );
        // The vectors sign `host` only; the signer always adds it from `host`.
        assert_eq!(
            v.signed_headers,
            vec![("host".to_owned(), v.host.clone())],
            "{}",
            v.id
        );
        let query: Vec<(&str, &str)> = v
            .query
            .iter()
            .map(|(k, val)| (k.as_str(), val.as_str()))
            .collect();
        let got = signer.presign(&QueryRequest {
            method: &v.method,
            scheme: &v.scheme,
            host: &v.host,
            path: &v.path,
            query: &query,
            headers: &[],
            payload_hash: &v.payload_hash,
            now: unix(&v.datetime),
            expires: v.expires,
        });
        check(
            &mut failures,
            &v.id,
            "canonical_request",
            &got.canonical_request,
            &v.canonical_request,
        );
        check(
            &mut failures,
            &v.id,
            "string_to_sign",
            &got.string_to_sign,
            &v.string_to_sign,
        );
        check(
            &mut failures,
            &v.id,
            "signature",
            &got.signature,
            &v.signature,
        );
        let ours = parse_target(&got.url);
        match (&v.url, &v.request_target) {
            (Some(url), _) => {
                if ours != parse_target(url) {
                    failures.push(format!("{}: url {} != {url}", v.id, got.url));
                }
            }
            (None, Some(target)) => {
                let want = parse_target(target);
                let same = ours.path == want.path && ours.params == want.params;
                if !same || ours.host.as_deref() != Some(v.host.as_str()) {
                    failures.push(format!("{}: url {} != target {target}", v.id, got.url));
                }
            }
            (None, None) => failures.push(format!(
                "{}: vector has neither url nor request_target",
                v.id
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "failing presigned vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn aws_doc_presigned_url_is_byte_identical() {
    let vectors = test_vectors::load();
    let v = vectors
        .presigned
        .iter()
        .find(|v| v.id == "aws-doc-presigned-get")
        .expect("doc vector present");
    let signer = Signer::new(
        credentials(&v.access_key, &v.secret_key, &None),
        &v.region,
        "s3",
    );
    let got = signer.presign(&QueryRequest {
        method: "GET",
        scheme: &v.scheme,
        host: &v.host,
        path: &v.path,
        query: &[],
        headers: &[],
        payload_hash: UNSIGNED_PAYLOAD,
        now: unix(&v.datetime),
        expires: v.expires,
    });
    assert_eq!(Some(got.url), v.url);
}

#[test]
fn every_header_signed_vector_reproduces() {
    let vectors = test_vectors::load();
    assert_eq!(vectors.header_signed.len(), 15, "vector count changed");
    let mut failures = Vec::new();
    for v in &vectors.header_signed {
        let signer = Signer::new(
            credentials(&v.access_key, &v.secret_key, &v.session_token),
            &v.region,
            &v.service,
        );
        check(
            &mut failures,
            &v.id,
            "payload_hash",
            &hex_sha256(v.body.as_bytes()),
            &v.payload_hash,
        );
        let query: Vec<(&str, &str)> = v
            .query
            .iter()
            .map(|(k, val)| (k.as_str(), val.as_str()))
            .collect();
        let headers: Vec<(&str, &str)> = v
            .headers
            .iter()
            .map(|(k, val)| (k.as_str(), val.as_str()))
            .collect();
        let got = signer.sign_headers(&HeaderRequest {
            method: &v.method,
            path: &v.path,
            query: &query,
            headers: &headers,
            payload_hash: &v.payload_hash,
            now: unix(&v.datetime),
        });
        check(
            &mut failures,
            &v.id,
            "canonical_request",
            &got.canonical_request,
            &v.canonical_request,
        );
        check(
            &mut failures,
            &v.id,
            "string_to_sign",
            &got.string_to_sign,
            &v.string_to_sign,
        );
        check(
            &mut failures,
            &v.id,
            "signature",
            &got.signature,
            &v.signature,
        );
        // The AWS doc joins the parts with "," and botocore / aws-c-auth with ", "; servers accept both.
        let want_auth = v.authorization.replace(", ", ",");
        check(
            &mut failures,
            &v.id,
            "authorization",
            &got.authorization.replace(", ", ","),
            &want_auth,
        );
    }
    assert!(
        failures.is_empty(),
        "failing header vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn uri_encode_follows_s3_rules() {
    assert_eq!(
        uri_encode("a b+c=d/é~-._", false),
        "a%20b%2Bc%3Dd/%C3%A9~-._"
    );
    assert_eq!(
        uri_encode("a b+c=d/é~-._", true),
        "a%20b%2Bc%3Dd%2F%C3%A9~-._"
    );
    assert_eq!(uri_encode("a//b", false), "a//b");
    assert_eq!(uri_encode("./../x", false), "./../x");
    assert_eq!(uri_encode("%41", false), "%2541");
    assert_eq!(uri_encode("!'()*", true), "%21%27%28%29%2A");
    let all: String = (0u8..=0x7f).map(char::from).collect();
    let encoded = uri_encode(&all, true);
    let kept: String = encoded
        .split('%')
        .map(|chunk| chunk.get(2..).unwrap_or(""))
        .collect();
    assert_eq!(
        kept,
        "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
    );
}

#[test]
fn signing_key_matches_aws_doc_chain_and_cache_follows_the_date() {
    // AWS "Examples of how to derive a signing key" (IAM SigV4 docs), service iam, 20120215, us-east-1.
    let key = derive_signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20120215",
        "us-east-1",
        "iam",
    );
    assert_eq!(
        hex::encode(key),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );

    let signer = Signer::new(credentials("AK", "secret", &None), "us-east-1", "s3");
    let day1 = signer.sign("20240101", "x");
    let day2 = signer.sign("20240102", "x");
    assert_ne!(day1, day2);
    let direct = hex::encode(hmac(
        &derive_signing_key("secret", "20240101", "us-east-1", "s3"),
        b"x",
    ));
    assert_eq!(signer.sign("20240101", "x"), direct);
}

#[test]
fn presign_clamps_expiry_and_signs_the_session_token() {
    let signer = Signer::new(
        credentials("AK", "SK", &Some("tok/+=".to_owned())),
        "r",
        "s3",
    );
    let request = |expires| QueryRequest {
        method: "GET",
        scheme: "http",
        host: "h:1",
        path: "/b/k",
        query: &[],
        headers: &[("content-type", " a   b ")],
        payload_hash: UNSIGNED_PAYLOAD,
        now: 0,
        expires,
    };
    let long = signer.presign(&request(10_000_000));
    assert!(long.url.contains("X-Amz-Expires=604800&"), "{}", long.url);
    let short = signer.presign(&request(-5));
    assert!(short.url.contains("X-Amz-Expires=1&"), "{}", short.url);
    assert!(short
        .canonical_request
        .contains("X-Amz-Security-Token=tok%2F%2B%3D&X-Amz-SignedHeaders=content-type%3Bhost"));
    assert!(short
        .canonical_request
        .contains("\ncontent-type:a b\nhost:h:1\n\ncontent-type;host\n"));
}

#[test]
fn debug_output_redacts_secrets() {
    let creds = credentials(
        "AKIDVISIBLE",
        "TOPSECRETKEY",
        &Some("SESSIONTOKENVALUE".to_owned()),
    );
    let shown = format!("{:?}", Signer::new(creds.clone(), "r", "s3"));
    assert!(shown.contains("AKIDVISIBLE"));
    for secret in ["TOPSECRETKEY", "SESSIONTOKENVALUE"] {
        assert!(
            !shown.contains(secret) && !format!("{creds:?}").contains(secret),
            "{shown}"
        );
    }
}

#[test]
fn signing_time_formats_and_fails_closed() {
    let t = SigningTime::from_unix(1_369_353_600);
    assert_eq!(
        (t.date.as_str(), t.datetime.as_str()),
        ("20130524", "20130524T000000Z")
    );
    assert_eq!(
        SigningTime::from_unix(i64::MAX).datetime,
        "19700101T000000Z"
    );
}

#[test]
fn whitespace_collapses_like_split_and_join() {
    for value in [
        "",
        " ",
        "  ",
        "a",
        "a b",
        "a  b",
        " a",
        "a ",
        "\ta",
        "a\tb",
        "a \t b",
        "text/plain; charset=utf-8",
        "x\ny",
        "\u{a0}a",
        "a\u{c}b",
    ] {
        let want = value.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(collapse_whitespace(value), want, "{value:?}");
    }
}

#[test]
fn batched_urls_match_single_presigns() {
    let signer = Signer::new(credentials("AK", "SK", &None), "r", "s3");
    for (query, varying) in [
        (
            &[("partNumber", "1"), ("uploadId", "u/1")][..],
            "partNumber",
        ),
        // The varying name sorts between others and needs encoding; its values too.
        (&[("z", "1"), ("a b", "0"), ("a", "")][..], "a b"),
    ] {
        let req = QueryRequest {
            method: "PUT",
            scheme: "https",
            host: "h",
            path: "/b/k 1",
            query,
            headers: &[("Content-Type", "x  y")],
            payload_hash: UNSIGNED_PAYLOAD,
            now: 1_700_000_000,
            expires: 60,
        };
        let values = ["1", "22", "a b/"];
        let batched = signer.presign_urls_varying(&req, varying, values.iter().copied());
        for (value, url) in values.iter().zip(&batched) {
            let single: Vec<(&str, &str)> = query
                .iter()
                .map(|&(k, v)| if k == varying { (k, *value) } else { (k, v) })
                .collect();
            let expected = signer.presign(&QueryRequest {
                query: &single,
                ..req.clone()
            });
            assert_eq!(url, &expected.url);
        }
    }
}
