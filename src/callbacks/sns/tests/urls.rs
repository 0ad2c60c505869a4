use regex::Regex;

use super::super::{allowed_cert_url, allowed_subscribe_url, cert_url_allowed};

/// docs/API.md's default `sns_cert_url_pattern`.
const DEFAULT_PATTERN: &str = r"^https://sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?/.*\.pem$";
/// docs/API.md's example test pattern.
const LOOPBACK_PATTERN: &str = r"^http://127\.0\.0\.1:[0-9]+/";

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("pattern")
}

#[test]
fn default_pattern_allow_deny_table() {
    let pattern = regex(DEFAULT_PATTERN);
    let table: &[(&str, bool)] = &[
        // gen_sns_test_vectors.py's table.
        (
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-TESTONLY.pem",
            true,
        ),
        ("http://sns.us-east-1.amazonaws.com/x.pem", false),
        (
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            false,
        ),
        ("https://examplebucket.s3.amazonaws.com/x.pem", false),
        ("https://sns.cn-north-1.amazonaws.com.cn/x.pem", true),
        ("https://sns.us-east-1.amazonaws.com/x.txt", false),
        // Userinfo: the request would go to `evil`.
        ("https://sns.us-east-1.amazonaws.com@evil/x.pem", false),
        (
            "https://sns.us-east-1.amazonaws.com:443@evil.example/x.pem",
            false,
        ),
        ("https://user:pw@sns.us-east-1.amazonaws.com/x.pem", false),
        // Raw-string regex matches, but the fetched path is not a .pem (query / fragment).
        ("https://sns.us-east-1.amazonaws.com/x?.pem", false),
        ("https://sns.us-east-1.amazonaws.com/x.pem?a=b.pem", false),
        ("https://sns.us-east-1.amazonaws.com/x#.pem", false),
        ("https://sns.us-east-1.amazonaws.com/x.pem#", false),
        // Other hosts and ports.
        ("https://sns.us-east-1.amazonaws.com:8443/x.pem", false),
        ("https://sns.us-east-1.amazonaws.com./x.pem", false),
        (
            "https://sns.us-east-1.amazonaws.com%2Eevil.example/x.pem",
            false,
        ),
        (
            "https://sns.us-east-1.amazonaws.com\u{3002}evil.example/x.pem",
            false,
        ),
        (
            "https://evil.example/https://sns.us-east-1.amazonaws.com/x.pem",
            false,
        ),
        (
            "https://evil.example/x.pem\nhttps://sns.us-east-1.amazonaws.com/x.pem",
            false,
        ),
        ("https://sns.a.amazonaws.com/x.pem", false),
        ("https://sns..amazonaws.com/x.pem", false),
        // Not absolute http(s).
        ("//sns.us-east-1.amazonaws.com/x.pem", false),
        ("ftp://sns.us-east-1.amazonaws.com/x.pem", false),
        ("file:///sns.us-east-1.amazonaws.com/x.pem", false),
        ("", false),
        ("not a url", false),
        // Spellings that normalize to the real host: allowed, and fetched in normalized form.
        ("HTTPS://SNS.US-EAST-1.AMAZONAWS.COM/x.pem", true),
        ("https://sns.us-east-1.amazonaws.com:443/x.pem", true),
        ("https://sns.us-east-1.amazonaws.com/a/../x.pem", true),
        ("https:sns.us-east-1.amazonaws.com/x.pem", true),
        (
            "https://sns.us-east-1.amazonaws.com\\@evil.example/x.pem",
            true,
        ),
        (" https://sns.us-east-1.amazonaws.com/x.pem\n", true),
    ];
    let wrong: Vec<_> = table
        .iter()
        .filter(|(url, want)| cert_url_allowed(url, &pattern) != *want)
        .map(|(url, want)| {
            format!(
                "{url:?} should be {}",
                if *want { "allowed" } else { "denied" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn allowed_urls_are_fetched_in_normalized_form() {
    let pattern = regex(DEFAULT_PATTERN);
    for raw in [
        "HTTPS://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.example/x.pem",
        "https:sns.us-east-1.amazonaws.com/x.pem",
    ] {
        let url = allowed_cert_url(raw, &pattern).expect(raw);
        assert_eq!(url.host_str(), Some("sns.us-east-1.amazonaws.com"), "{raw}");
        assert_eq!(url.port_or_known_default(), Some(443), "{raw}");
    }
}

#[test]
fn loose_patterns_cannot_be_satisfied_outside_the_authority() {
    // A host-prefix pattern without a trailing `/`, and one without `^`: both would pass attack URLs as raw regexes.
    let host_prefix = regex(r"^https://sns\.[a-z0-9-]+\.amazonaws\.com");
    assert!(cert_url_allowed(
        "https://sns.us-east-1.amazonaws.com/x.pem",
        &host_prefix
    ));
    assert!(!cert_url_allowed(
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        &host_prefix
    ));
    assert!(!cert_url_allowed(
        "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
        &host_prefix
    ));
    assert!(!cert_url_allowed(
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        &host_prefix
    ));

    let unanchored = regex(r"sns\.us-east-1\.amazonaws\.com/.*\.pem$");
    // The match must start at the scheme, so an unanchored pattern rejects even the real host (fail closed).
    assert!(!cert_url_allowed(
        "https://sns.us-east-1.amazonaws.com/x.pem",
        &unanchored
    ));
    assert!(!cert_url_allowed(
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        &unanchored
    ));
}

#[test]
fn loopback_test_pattern() {
    let pattern = regex(LOOPBACK_PATTERN);
    assert!(cert_url_allowed("http://127.0.0.1:8080/cert.pem", &pattern));
    assert!(
        cert_url_allowed("http://0x7f.0.0.1:8080/cert.pem", &pattern),
        "normalizes to 127.0.0.1"
    );
    assert!(!cert_url_allowed(
        "http://127.0.0.1:8080@evil.example/cert.pem",
        &pattern
    ));
    assert!(!cert_url_allowed(
        "http://127.0.0.1.evil.example:8080/cert.pem",
        &pattern
    ));
    assert!(!cert_url_allowed("http://127.0.0.1/cert.pem", &pattern));
    assert!(!cert_url_allowed(
        "https://127.0.0.1:8080/cert.pem",
        &pattern
    ));
}

#[test]
fn subscribe_urls_match_the_pattern_or_the_certificate_origin() {
    let default = regex(DEFAULT_PATTERN);
    let cert = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem";
    let subscribe = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:t&Token=abc";
    assert!(allowed_subscribe_url(subscribe, cert, &default).is_some());
    let denied = [
        (
            "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
            cert,
        ),
        ("https://evil.example/?Action=ConfirmSubscription", cert),
        (
            "https://sns.us-east-1.amazonaws.com@evil.example/?Action=ConfirmSubscription",
            cert,
        ),
        (
            "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            cert,
        ),
        (
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription#x",
            cert,
        ),
        (
            subscribe,
            "https://evil.example/SimpleNotificationService-abc.pem",
        ),
        (subscribe, "https://sns.us-east-1.amazonaws.com/x.txt"),
    ];
    for (subscribe_url, cert_url) in denied {
        assert!(
            allowed_subscribe_url(subscribe_url, cert_url, &default).is_none(),
            "{subscribe_url} / {cert_url}"
        );
    }
    let loopback = regex(LOOPBACK_PATTERN);
    let local = allowed_subscribe_url(
        "http://127.0.0.1:9/confirm?Token=t",
        "https://elsewhere.example/x.pem",
        &loopback,
    );
    assert_eq!(
        local.map(String::from).as_deref(),
        Some("http://127.0.0.1:9/confirm?Token=t")
    );
}
