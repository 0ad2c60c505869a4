use serde_json::json;

use crate::callbacks::s3_events::*;

const MOTO_SINGLE_PUT: &str = include_str!("../../../../tests/fixtures/sns/moto/single-put.json");
const MOTO_MULTIPART_PUT: &str =
    include_str!("../../../../tests/fixtures/sns/moto/multipart-put.json");
const MOTO_MULTIPART_COMPLETE: &str =
    include_str!("../../../../tests/fixtures/sns/moto/multipart-complete.json");
const MOTO_TEST_EVENT: &str = include_str!("../../../../tests/fixtures/sns/moto/test-event.json");
const PYTHON_SNS_MESSAGES: &str =
    include_str!("../../../../tests/fixtures/sns/python/sns-messages.json");

fn record(event_name: &str, key: &str, object_extra: serde_json::Value) -> serde_json::Value {
    let mut object = json!({"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"});
    if let (Some(object), Some(extra)) = (object.as_object_mut(), object_extra.as_object()) {
        object.extend(extra.clone());
    }
    json!({
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2026-01-02T03:04:05.678Z",
        "eventName": event_name, "userIdentity": {"principalId": "minio"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config", "bucket": {"name": "media", "arn": "arn:aws:s3:::media"},
               "object": object}
    })
}

fn minio_body(records: Vec<serde_json::Value>) -> Vec<u8> {
    let event_name = records
        .first()
        .and_then(|r| r["eventName"].as_str())
        .unwrap_or_default()
        .to_owned();
    json!({"EventName": event_name, "Key": "media/whatever", "Records": records})
        .to_string()
        .into_bytes()
}

fn upload(key: &str, event_name: &str) -> ObjectCreated {
    ObjectCreated {
        bucket: "media".into(),
        key: key.into(),
        size: Some(1024),
        etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
        content_type: None,
        version_id: None,
        event_name: event_name.into(),
    }
}

#[test]
fn minio_put_with_content_type_and_version() {
    let extra = json!({"contentType": "image/jpeg", "versionId": "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "userMetadata": {"content-type": "image/jpeg"}});
    let body = minio_body(vec![record(
        "s3:ObjectCreated:Put",
        "users/alice/a.jpg",
        extra,
    )]);
    let want = ObjectCreated {
        content_type: Some("image/jpeg".into()),
        version_id: Some("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
        ..upload("users/alice/a.jpg", "ObjectCreated:Put")
    };
    assert_eq!(parse_s3_event_records(&body), Ok(vec![want.clone()]));
    assert_eq!(parse_webhook(&body), Ok(vec![want]));
}

#[test]
fn event_names_with_and_without_prefix() {
    let cases = [
        ("s3:ObjectCreated:Put", Some("ObjectCreated:Put")),
        ("ObjectCreated:Put", Some("ObjectCreated:Put")),
        ("s3:ObjectCreated:Post", Some("ObjectCreated:Post")),
        ("s3:ObjectCreated:Copy", Some("ObjectCreated:Copy")),
        (
            "ObjectCreated:CompleteMultipartUpload",
            Some("ObjectCreated:CompleteMultipartUpload"),
        ),
        (
            "s3:ObjectCreated:CompleteMultipartUpload",
            Some("ObjectCreated:CompleteMultipartUpload"),
        ),
        ("s3:ObjectRemoved:Delete", None),
        ("ObjectRemoved:DeleteMarkerCreated", None),
        ("s3:ObjectAccessed:Get", None),
        ("s3:TestEvent", None),
        ("s3:ObjectCreated:PutTagging", None),
        ("s3:ObjectCreated:PutRetention", None),
        ("s3:ObjectCreated:PutLegalHold", None),
        ("s3:ObjectCreated:DeleteTagging", None),
        ("s3:s3:ObjectCreated:Put", None),
        ("objectcreated:put", None),
        ("", None),
    ];
    let mut wrong = Vec::new();
    for (name, want) in cases {
        let got = parse_s3_event_records(&minio_body(vec![record(name, "k", json!({}))]));
        let want = Ok(want.map(|n| upload("k", n)).into_iter().collect::<Vec<_>>());
        if got != want {
            wrong.push(format!("{name}: {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn removed_records_without_size_or_etag_do_not_fail_the_batch() {
    let removed = json!({"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "media"}, "object": {"key": "old.txt", "sequencer": "1"}}});
    let body = json!({"Records": [removed, record("ObjectCreated:Put", "new.txt", json!({}))]})
        .to_string();
    assert_eq!(
        parse_s3_event_records(body.as_bytes()),
        Ok(vec![upload("new.txt", "ObjectCreated:Put")])
    );
}

#[test]
fn keys_are_form_decoded() {
    let cases = [
        ("dir+one/%C3%BC+file%2B1.bin", "dir one/ü file+1.bin"),
        ("dir+one%2F%C3%BC+file%2B1.bin", "dir one/ü file+1.bin"),
        ("uploads/big+file+%E2%9C%93.bin", "uploads/big file ✓.bin"),
        ("100%2541", "100%41"),
        ("a%2fb%2Bc", "a/b+c"),
        ("plain.txt", "plain.txt"),
    ];
    for (raw, want) in cases {
        let got = parse_s3_event_records(&minio_body(vec![record(
            "s3:ObjectCreated:Put",
            raw,
            json!({}),
        )]));
        assert_eq!(got, Ok(vec![upload(want, "ObjectCreated:Put")]), "{raw}");
    }
    for bad in ["%FF.bin", "%C3", "%C3%28", "a%G1", "a%4", "a%", "%%41"] {
        let got = parse_s3_event_records(&minio_body(vec![record(
            "s3:ObjectCreated:Put",
            bad,
            json!({}),
        )]));
        assert_eq!(got, Err(EventError::InvalidKey), "{bad}");
    }
}

#[test]
fn etags_are_normalized_and_checked() {
    let quoted = record(
        "ObjectCreated:Put",
        "k",
        json!({"eTag": "\"D2B66A494BA39F1EFDE33786AF08DF34-2\""}),
    );
    let got =
        parse_s3_event_records(json!({"Records": [quoted]}).to_string().as_bytes()).expect("parse");
    assert_eq!(got[0].etag, "d2b66a494ba39f1efde33786af08df34-2");
    for bad in ["", "\"\"", "not-hex!", "W/\"abc\""] {
        let body = json!({"Records": [record("ObjectCreated:Put", "k", json!({"eTag": bad}))]})
            .to_string();
        assert_eq!(
            parse_s3_event_records(body.as_bytes()),
            Err(EventError::InvalidEtag),
            "{bad:?}"
        );
    }
}

#[test]
fn normalize_etag_table() {
    let cases = [
        (
            "\"6f5902ac237024bdd0c176cb93063dc4\"",
            Some("6f5902ac237024bdd0c176cb93063dc4"),
        ),
        (
            "6F5902AC237024BDD0C176CB93063DC4",
            Some("6f5902ac237024bdd0c176cb93063dc4"),
        ),
        (
            " \"8c6f96fe400c627d9394af6161f5921d-2\" ",
            Some("8c6f96fe400c627d9394af6161f5921d-2"),
        ),
        ("\"abc", None),
        ("\"\"", None),
        ("", None),
        ("a b", None),
        ("&quot;abc&quot;", None),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_etag(raw).as_deref(), want, "{raw:?}");
    }
    assert_eq!(normalize_etag(&"a".repeat(129)), None);
    assert!(normalize_etag(&"a".repeat(128)).is_some());
}

#[test]
fn missing_fields_of_upload_records_are_errors() {
    let cases = [
        (json!({"eventName": "ObjectCreated:Put"}), "s3"),
        (
            json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}}}),
            "s3.object",
        ),
        (
            json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"eTag": "ab"}}}),
            "s3.object.key",
        ),
        (
            json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}),
            "s3.object.eTag",
        ),
        (
            json!({"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "k", "eTag": "ab"}}}),
            "s3.bucket.name",
        ),
        (
            json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ""}, "object": {"key": "k", "eTag": "ab"}}}),
            "s3.bucket.name",
        ),
    ];
    for (rec, field) in cases {
        let body = json!({"Records": [rec]}).to_string();
        assert_eq!(
            parse_s3_event_records(body.as_bytes()),
            Err(EventError::MissingField(field)),
            "{field}"
        );
    }
    let negative =
        json!({"Records": [record("ObjectCreated:Put", "k", json!({"size": -1}))]}).to_string();
    assert!(matches!(
        parse_s3_event_records(negative.as_bytes()),
        Err(EventError::Malformed(_))
    ));
}

#[test]
fn test_events_and_empty_documents_give_no_uploads() {
    let aws_test_event = br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-02T03:04:05.000Z","Bucket":"media","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
    assert_eq!(parse_s3_event_records(aws_test_event), Ok(vec![]));
    assert_eq!(parse_s3_event_records(br#"{"Records":[]}"#), Ok(vec![]));
    assert_eq!(parse_s3_event_records(br#"{"Records":null}"#), Ok(vec![]));
    assert!(matches!(
        parse_s3_event_records(b"[1,2]"),
        Err(EventError::Malformed(_))
    ));
    assert!(matches!(
        parse_s3_event_records(b"{\"Records\":[],\"Records\":[]}"),
        Err(EventError::Malformed(_))
    ));
}

#[test]
fn sns_messages_from_moto_and_the_python_generator() {
    let message_of = |body: &str| -> String {
        let value: serde_json::Value = serde_json::from_str(body).expect("json");
        value["Message"].as_str().expect("Message").to_owned()
    };
    let moto_key = "dir one/ü file+1.bin";
    let moto_upload = |event_name: &str| ObjectCreated {
        bucket: "rig-events".into(),
        key: moto_key.into(),
        size: Some(10),
        etag: "cb8d7289925309a05b2db09b7709c264-1".into(),
        content_type: None,
        version_id: None,
        event_name: event_name.into(),
    };
    let cases = [
        (MOTO_TEST_EVENT, vec![]),
        (MOTO_MULTIPART_PUT, vec![moto_upload("ObjectCreated:Put")]),
        (
            MOTO_MULTIPART_COMPLETE,
            vec![moto_upload("ObjectCreated:CompleteMultipartUpload")],
        ),
        (
            MOTO_SINGLE_PUT,
            vec![ObjectCreated {
                key: "single.txt".into(),
                size: Some(1),
                etag: "c4ca4238a0b923820dcc509a6f75849b".into(),
                ..moto_upload("ObjectCreated:Put")
            }],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            parse_s3_event_records(message_of(body).as_bytes()),
            Ok(want)
        );
    }
    let python: Vec<serde_json::Value> = serde_json::from_str(PYTHON_SNS_MESSAGES).expect("json");
    let first =
        parse_s3_event_records(message_of(&python[0].to_string()).as_bytes()).expect("parse");
    assert_eq!(
        first,
        vec![ObjectCreated {
            bucket: "examplebucket".into(),
            key: "uploads/big file ✓.bin".into(),
            size: Some(5366337),
            etag: "d2b66a494ba39f1efde33786af08df34-2".into(),
            content_type: None,
            version_id: None,
            event_name: "ObjectCreated:CompleteMultipartUpload".into(),
        }]
    );
}

#[test]
fn webhook_format_detection() {
    assert_eq!(
        parse_webhook(br#"{"EventName":"s3:ObjectRemoved:Delete","Key":"media/k","Records":[]}"#),
        Ok(vec![])
    );
    assert_eq!(parse_webhook(br#"{"Records":[]}"#), Ok(vec![]));
    assert_eq!(
        parse_webhook(br#"{"event_type":"delete","key":"/buckets/b/k","message":{}}"#),
        Ok(vec![])
    );
    assert_eq!(parse_webhook(b"{}"), Err(EventError::UnknownFormat));
    assert_eq!(
        parse_webhook(br#"{"Event":"s3:TestEvent"}"#),
        Err(EventError::UnknownFormat)
    );
    assert_eq!(
        parse_webhook(br#"{"event_type":"create","Records":[]}"#),
        Err(EventError::UnknownFormat)
    );
    assert!(matches!(
        parse_webhook(b"not json"),
        Err(EventError::Malformed(_))
    ));
    assert!(matches!(
        parse_webhook(b"[]"),
        Err(EventError::Malformed(_))
    ));
}
