use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::*;

mod cache;
mod urls;

const TEST_KEY_PEM: &str = include_str!("../../../tests/fixtures/sns/sns-test-key.pem");
pub(super) const TEST_CERT_PEM: &str =
    include_str!("../../../tests/fixtures/sns/sns-test-cert.pem");
const WEAK_CERT_PEM: &str = include_str!("../../../tests/fixtures/sns/sns-weak-1024-cert.pem");
const PYTHON_MESSAGES: &str = include_str!("../../../tests/fixtures/sns/python/sns-messages.json");
const PYTHON_STRINGS_TO_SIGN: &str =
    include_str!("../../../tests/fixtures/sns/python/strings-to-sign.json");
const PYTHON_CERT_PEM: &str = include_str!("../../../tests/fixtures/sns/python/sns-test-cert.pem");
const MOTO: [(&str, &str, &str); 4] = [
    (
        "test-event",
        include_str!("../../../tests/fixtures/sns/moto/test-event.json"),
        include_str!("../../../tests/fixtures/sns/moto/test-event.cert.pem"),
    ),
    (
        "multipart-put",
        include_str!("../../../tests/fixtures/sns/moto/multipart-put.json"),
        include_str!("../../../tests/fixtures/sns/moto/multipart-put.cert.pem"),
    ),
    (
        "multipart-complete",
        include_str!("../../../tests/fixtures/sns/moto/multipart-complete.json"),
        include_str!("../../../tests/fixtures/sns/moto/multipart-complete.cert.pem"),
    ),
    (
        "single-put",
        include_str!("../../../tests/fixtures/sns/moto/single-put.json"),
        include_str!("../../../tests/fixtures/sns/moto/single-put.cert.pem"),
    ),
];
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:upload-events";
const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-TESTONLY.pem";

/// Signs `msg` with the committed test key the way SNS does (what an integration test does too).
pub(super) fn sign(mut msg: SnsMessage, version: &str) -> SnsMessage {
    let key = RsaPrivateKey::from_pkcs8_pem(TEST_KEY_PEM).expect("test key");
    msg.signature_version = version.to_owned();
    let to_sign = string_to_sign(&msg).expect("string to sign");
    let signature = match version {
        "1" => key.sign(
            Pkcs1v15Sign::new::<Sha1>(),
            &Sha1::digest(to_sign.as_bytes()),
        ),
        _ => key.sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(to_sign.as_bytes()),
        ),
    }
    .expect("sign");
    msg.signature = base64::engine::general_purpose::STANDARD.encode(signature);
    msg
}

pub(super) fn notification(subject: Option<&str>) -> SnsMessage {
    SnsMessage {
        message_type: "Notification".into(),
        message_id: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324".into(),
        topic_arn: TOPIC.into(),
        subject: subject.map(str::to_owned),
        message: r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b.txt","size":1,"eTag":"c4ca4238a0b923820dcc509a6f75849b"}}}]}"#.into(),
        timestamp: "2026-01-02T03:04:06.123Z".into(),
        signature_version: "2".into(),
        signature: String::new(),
        signing_cert_url: CERT_URL.into(),
        subscribe_url: None,
        token: None,
        unsubscribe_url: Some("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x".into()),
    }
}

pub(super) fn confirmation(kind: &str) -> SnsMessage {
    SnsMessage {
        message_type: kind.into(),
        message: "You have chosen to subscribe to the topic.\nTo confirm the subscription, visit the SubscribeURL.".into(),
        subscribe_url: Some(format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37")),
        token: Some("2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92".into()),
        unsubscribe_url: None,
        ..notification(None)
    }
}

fn all_signed_kinds() -> Vec<(String, SnsMessage)> {
    let mut out = Vec::new();
    for version in ["1", "2"] {
        for (name, msg) in [
            (
                "notification+subject",
                notification(Some("Amazon S3 Notification")),
            ),
            ("notification", notification(None)),
            ("notification+empty subject", notification(Some(""))),
            ("subscription", confirmation("SubscriptionConfirmation")),
            ("unsubscribe", confirmation("UnsubscribeConfirmation")),
        ] {
            out.push((format!("{name} v{version}"), sign(msg, version)));
        }
    }
    out
}

#[test]
fn signed_messages_verify_in_both_versions() {
    let key = SnsPublicKey::from_cert_pem(TEST_CERT_PEM.as_bytes()).expect("cert");
    for (name, msg) in all_signed_kinds() {
        assert_eq!(verify(&msg, TEST_CERT_PEM.as_bytes()), Ok(()), "{name}");
        assert_eq!(verify_with_key(&msg, &key), Ok(()), "{name}");
    }
}

#[test]
fn string_to_sign_follows_the_documented_order() {
    let with_subject = string_to_sign(&notification(Some("S"))).expect("sts");
    let expected_tail = "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nS\nTimestamp\n2026-01-02T03:04:06.123Z\n\
                         TopicArn\narn:aws:sns:us-east-1:123456789012:upload-events\nType\nNotification\n";
    assert!(
        with_subject.starts_with("Message\n{\"Records\""),
        "{with_subject}"
    );
    assert!(with_subject.ends_with(expected_tail), "{with_subject}");
    let without = string_to_sign(&notification(None)).expect("sts");
    assert!(!without.contains("Subject"), "{without}");

    let confirm = string_to_sign(&confirmation("SubscriptionConfirmation")).expect("sts");
    let expected = format!(
        "Message\nYou have chosen to subscribe to the topic.\nTo confirm the subscription, visit the SubscribeURL.\n\
         MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n\
         SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37\n\
         Timestamp\n2026-01-02T03:04:06.123Z\n\
         Token\n2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92\n\
         TopicArn\n{TOPIC}\nType\nSubscriptionConfirmation\n"
    );
    assert_eq!(confirm, expected);
}

#[test]
fn python_signed_messages_verify_and_strings_to_sign_match() {
    let messages: Vec<serde_json::Value> = serde_json::from_str(PYTHON_MESSAGES).expect("json");
    let expected: Vec<String> = serde_json::from_str(PYTHON_STRINGS_TO_SIGN).expect("json");
    assert_eq!(messages.len(), 6);
    assert_eq!(expected.len(), messages.len());
    let mut failures = Vec::new();
    for (i, (value, want)) in messages.iter().zip(&expected).enumerate() {
        let msg = SnsMessage::parse(value.to_string().as_bytes()).expect("parse");
        if string_to_sign(&msg).as_ref() != Ok(want) {
            failures.push(format!("#{i} string to sign"));
        }
        if verify(&msg, PYTHON_CERT_PEM.as_bytes()).is_err() {
            failures.push(format!("#{i} verify"));
        }
        let tampered = SnsMessage {
            message: format!("{} ", msg.message),
            ..msg
        };
        if verify(&tampered, PYTHON_CERT_PEM.as_bytes()) != Err(SnsError::SignatureMismatch) {
            failures.push(format!("#{i} tampered accepted"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn moto_deliveries_verify_with_their_certificates() {
    let mut failures = Vec::new();
    for (name, body, cert) in MOTO {
        let msg = SnsMessage::parse(body.as_bytes()).expect(name);
        assert_eq!(msg.kind(), Ok(SnsMessageType::Notification), "{name}");
        assert_eq!(msg.subject, None, "{name}: moto sends no Subject");
        if verify(&msg, cert.as_bytes()).is_err() {
            failures.push(format!("{name}: verify"));
        }
        if verify(&msg, TEST_CERT_PEM.as_bytes()) != Err(SnsError::SignatureMismatch) {
            failures.push(format!("{name}: verified with the wrong key"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn tampering_with_any_signed_field_is_rejected() {
    type Edit = fn(&mut SnsMessage);
    let notification_edits: [(&str, Edit); 9] = [
        ("Message", |m| m.message.push(' ')),
        ("MessageId", |m| {
            m.message_id = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf325".into()
        }),
        ("TopicArn", |m| {
            m.topic_arn = "arn:aws:sns:us-east-1:123456789012:other".into()
        }),
        ("Subject changed", |m| m.subject = Some("Other".into())),
        ("Subject removed", |m| m.subject = None),
        ("Timestamp", |m| {
            m.timestamp = "2026-01-02T03:04:06.124Z".into()
        }),
        ("Type", |m| {
            m.message_type = "UnsubscribeConfirmation".into()
        }),
        ("SignatureVersion 2->1", |m| {
            m.signature_version = "1".into()
        }),
        ("Signature byte", |m| {
            m.signature.replace_range(0..4, "AAAA")
        }),
    ];
    let confirmation_edits: [(&str, Edit); 3] = [
        ("SubscribeURL", |m| {
            m.subscribe_url = Some(
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x".into(),
            )
        }),
        ("Token", |m| {
            m.token =
                Some("2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d93".into())
        }),
        ("Type", |m| {
            m.message_type = "UnsubscribeConfirmation".into()
        }),
    ];
    let signed = sign(notification(Some("Amazon S3 Notification")), "2");
    let signed_confirmation = sign(confirmation("SubscriptionConfirmation"), "2");
    let mut accepted = Vec::new();
    for (base, edits) in [
        (&signed, &notification_edits[..]),
        (&signed_confirmation, &confirmation_edits[..]),
    ] {
        for (name, edit) in edits {
            let mut msg = base.clone();
            edit(&mut msg);
            let result = verify(&msg, TEST_CERT_PEM.as_bytes());
            if !matches!(
                result,
                Err(SnsError::SignatureMismatch | SnsError::MissingField(_))
            ) {
                accepted.push(format!("{} {name}: {result:?}", base.message_type));
            }
        }
    }
    let mut added_subject = sign(notification(None), "1");
    added_subject.subject = Some("Added".into());
    if verify(&added_subject, TEST_CERT_PEM.as_bytes()) != Err(SnsError::SignatureMismatch) {
        accepted.push("Subject added".into());
    }
    assert!(accepted.is_empty(), "{accepted:?}");
}

#[test]
fn unsigned_fields_do_not_affect_verification() {
    let mut msg = sign(notification(None), "2");
    msg.unsubscribe_url = Some("https://example.com/other".into());
    msg.signing_cert_url = "https://sns.eu-west-1.amazonaws.com/other.pem".into();
    assert_eq!(verify(&msg, TEST_CERT_PEM.as_bytes()), Ok(()));
}

#[test]
fn wrong_key_and_bad_signatures_are_rejected() {
    let msg = sign(notification(None), "2");
    assert_eq!(
        verify(&msg, PYTHON_CERT_PEM.as_bytes()),
        Err(SnsError::SignatureMismatch)
    );
    let cases = [
        ("3", SnsError::UnsupportedSignatureVersion),
        ("", SnsError::UnsupportedSignatureVersion),
        ("02", SnsError::UnsupportedSignatureVersion),
        ("2 ", SnsError::UnsupportedSignatureVersion),
    ];
    for (version, want) in cases {
        let wrong_version = SnsMessage {
            signature_version: version.into(),
            ..msg.clone()
        };
        assert_eq!(
            verify(&wrong_version, TEST_CERT_PEM.as_bytes()),
            Err(want),
            "version {version:?}"
        );
    }
    let not_base64 = SnsMessage {
        signature: "!!not base64!!".into(),
        ..msg.clone()
    };
    assert_eq!(
        verify(&not_base64, TEST_CERT_PEM.as_bytes()),
        Err(SnsError::BadSignatureEncoding)
    );
    let truncated = SnsMessage {
        signature: msg.signature[..40].to_owned() + "==",
        ..msg.clone()
    };
    assert!(verify(&truncated, TEST_CERT_PEM.as_bytes()).is_err());
    let empty = SnsMessage {
        signature: String::new(),
        ..msg
    };
    assert_eq!(
        verify(&empty, TEST_CERT_PEM.as_bytes()),
        Err(SnsError::SignatureMismatch)
    );
}

#[test]
fn missing_or_unknown_fields_and_types() {
    let full = serde_json::to_value(sign(notification(Some("S")), "2")).expect("json");
    let round_trip = SnsMessage::parse(full.to_string().as_bytes()).expect("parse");
    assert_eq!(verify(&round_trip, TEST_CERT_PEM.as_bytes()), Ok(()));
    for field in [
        "Type",
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ] {
        let mut value = full.clone();
        value.as_object_mut().expect("object").remove(field);
        assert!(
            matches!(
                SnsMessage::parse(value.to_string().as_bytes()),
                Err(SnsError::Malformed(_))
            ),
            "missing {field} accepted"
        );
    }
    let mut extra = full.clone();
    extra["SomethingNew"] = "ignored".into();
    assert!(
        SnsMessage::parse(extra.to_string().as_bytes()).is_ok(),
        "unknown fields are ignored"
    );

    let duplicated = full
        .to_string()
        .replacen('{', r#"{"MessageId":"other","#, 1);
    assert!(matches!(
        SnsMessage::parse(duplicated.as_bytes()),
        Err(SnsError::Malformed(_))
    ));
    assert!(matches!(
        SnsMessage::parse(b"not json"),
        Err(SnsError::Malformed(_))
    ));

    let no_subscribe_url = SnsMessage {
        subscribe_url: None,
        ..confirmation("SubscriptionConfirmation")
    };
    assert_eq!(
        string_to_sign(&no_subscribe_url),
        Err(SnsError::MissingField("SubscribeURL"))
    );
    let no_token = SnsMessage {
        token: None,
        ..confirmation("UnsubscribeConfirmation")
    };
    assert_eq!(
        string_to_sign(&no_token),
        Err(SnsError::MissingField("Token"))
    );
    let unknown = SnsMessage {
        message_type: "Notice".into(),
        ..notification(None)
    };
    assert_eq!(string_to_sign(&unknown), Err(SnsError::UnsupportedType));
    assert_eq!(
        verify(&unknown, TEST_CERT_PEM.as_bytes()),
        Err(SnsError::UnsupportedType)
    );
}

#[test]
fn newlines_outside_message_cannot_shift_field_boundaries() {
    // Same bytes as a signed message with Subject "S", re-read as "no Subject, MessageId = `id\nSubject\nS`".
    let original = sign(notification(Some("S")), "2");
    let shifted = SnsMessage {
        message_id: format!("{}\nSubject\nS", original.message_id),
        subject: None,
        ..original.clone()
    };
    assert!(matches!(
        string_to_sign(&shifted),
        Err(SnsError::Malformed(_))
    ));
    assert!(verify(&shifted, TEST_CERT_PEM.as_bytes()).is_err());
    for edit in [
        |m: &mut SnsMessage| m.topic_arn.push('\n'),
        |m: &mut SnsMessage| m.timestamp.push('\n'),
        |m: &mut SnsMessage| m.subject = Some("a\nb".into()),
    ] {
        let mut msg = original.clone();
        edit(&mut msg);
        assert!(matches!(string_to_sign(&msg), Err(SnsError::Malformed(_))));
    }
}

#[test]
fn certificates_must_hold_a_strong_rsa_key() {
    assert!(SnsPublicKey::from_cert_pem(TEST_CERT_PEM.as_bytes()).is_ok());
    for bad in [
        WEAK_CERT_PEM,
        TEST_KEY_PEM,
        "",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert!(matches!(
            SnsPublicKey::from_cert_pem(bad.as_bytes()),
            Err(SnsError::Certificate(_))
        ));
    }
}

#[test]
fn debug_output_redacts_the_subscription_token() {
    let msg = confirmation("SubscriptionConfirmation");
    let debug = format!("{msg:?}");
    assert!(!debug.contains("2336412f37"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}
