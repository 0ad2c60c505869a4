//! Over bodies captured from SeaweedFS 4.48 (tests/fixtures/seaweedfs/README.md says which S3 call made each).

use base64::Engine as _;

use crate::callbacks::s3_events::*;

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                "../../../../tests/fixtures/seaweedfs/",
                $name,
                ".json"
            )),
        )
    };
}

const NOT_UPLOADS: [(&str, &str); 14] = [
    fixture!("dir-implicit"),
    fixture!("dir-object"),
    fixture!("multipart-uploads-dir"),
    fixture!("multipart-part"),
    fixture!("multipart-part-delete"),
    fixture!("multipart-uploads-dir-delete"),
    fixture!("tagging-update"),
    fixture!("delete"),
    fixture!("rename"),
    fixture!("filer-direct-upload"),
    fixture!("system-owner-file"),
    fixture!("versioned-versions-dir-update"),
    fixture!("versioned-noncurrent-update"),
    fixture!("versioned-delete-marker"),
];

fn cap(key: &str, size: u64, etag: &str, content_type: Option<&str>) -> ObjectCreated {
    ObjectCreated {
        bucket: "cap-bucket".into(),
        key: key.into(),
        size: Some(size),
        etag: etag.into(),
        content_type: content_type.map(str::to_owned),
        version_id: None,
        event_name: "ObjectCreated:Put".into(),
    }
}

fn uploads() -> Vec<((&'static str, &'static str), ObjectCreated)> {
    let multipart = ObjectCreated {
        event_name: "ObjectCreated:CompleteMultipartUpload".into(),
        ..cap(
            "big/multi part.bin",
            5243880,
            "8c6f96fe400c627d9394af6161f5921d-2",
            Some("video/mp4"),
        )
    };
    let versioned =
        |key: &str, size, etag: &str, content_type: Option<&str>, version: &str| ObjectCreated {
            bucket: "ver-bucket".into(),
            version_id: Some(version.into()),
            ..cap(key, size, etag, content_type)
        };
    vec![
        (
            fixture!("put-single"),
            cap(
                "single/hello.txt",
                12,
                "6f5902ac237024bdd0c176cb93063dc4",
                Some("text/plain"),
            ),
        ),
        (
            fixture!("put-no-content-type"),
            cap(
                "single/noct.bin",
                3,
                "b95f67f61ebb03619622d798f45fc2d3",
                None,
            ),
        ),
        (
            fixture!("put-empty"),
            cap(
                "single/empty.txt",
                0,
                "d41d8cd98f00b204e9800998ecf8427e",
                None,
            ),
        ),
        (
            fixture!("put-special-key"),
            cap(
                "dir one/ü file+1 ✓.bin",
                7,
                "0bd6506986ec42e732ffb866d33bb14e",
                None,
            ),
        ),
        (
            fixture!("put-percent-plus-key"),
            cap(
                "lit/100%41 a+b.txt",
                3,
                "973333fd6d3ab217522f3785d5d3e6ea",
                Some("text/plain; charset=utf-8"),
            ),
        ),
        (
            fixture!("put-9mib"),
            cap(
                "single/big9mib.bin",
                9437184,
                "8ed4fb452a0aa335af454b7fdd142ed6",
                Some("application/zip"),
            ),
        ),
        (
            fixture!("presigned-put"),
            cap(
                "pre/signed.txt",
                14,
                "b4a5461042ef29852deeeed1b097d8e9",
                Some("text/plain; charset=utf-8"),
            ),
        ),
        (
            fixture!("overwrite-update"),
            cap(
                "single/hello.txt",
                12,
                "90f4dd73d11e55a3d19b4bd8e4ad1bdb",
                Some("text/plain"),
            ),
        ),
        (
            fixture!("copy"),
            cap(
                "copy/hello-copy.txt",
                12,
                "90f4dd73d11e55a3d19b4bd8e4ad1bdb",
                Some("text/plain"),
            ),
        ),
        (fixture!("multipart-complete"), multipart),
        (
            fixture!("versioned-put"),
            versioned(
                "v/doc.txt",
                2,
                "6654c734ccab8f440ff0825eb443dc7f",
                Some("text/plain"),
                "671604f50a0bc25b732a1d8877ff6c6e",
            ),
        ),
        (
            fixture!("versioned-multipart-complete"),
            ObjectCreated {
                event_name: "ObjectCreated:CompleteMultipartUpload".into(),
                ..versioned(
                    "v/mp.bin",
                    100,
                    "e3a71a4e64bb78ef0122243cc82e9df6-1",
                    None,
                    "671604ec97e09f318bfba1ed4ac0a648",
                )
            },
        ),
    ]
}

#[test]
fn captured_uploads_are_normalized() {
    let mut wrong = Vec::new();
    for ((name, body), want) in uploads() {
        for (parser, got) in [
            (
                "parse_seaweedfs_event",
                parse_seaweedfs_event(body.as_bytes()),
            ),
            ("parse_webhook", parse_webhook(body.as_bytes())),
        ] {
            if got.as_ref() != Ok(&vec![want.clone()]) {
                wrong.push(format!("{name} ({parser}): {got:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn captured_non_uploads_give_no_record() {
    let wrong: Vec<_> = NOT_UPLOADS
        .iter()
        .map(|(name, body)| (name, parse_webhook(body.as_bytes())))
        .filter(|(_, got)| got != &Ok(vec![]))
        .map(|(name, got)| format!("{name}: {got:?}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn etag_attribute_is_base64_of_the_hex_etag() {
    // Seaweed-X-Amz-ETag of put-single, decoded by hand: the ASCII hex digest, not the 16 raw MD5 bytes.
    let (_, body) = fixture!("put-single");
    assert!(body.contains(r#""Seaweed-X-Amz-ETag":"NmY1OTAyYWMyMzcwMjRiZGQwYzE3NmNiOTMwNjNkYzQ=""#));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode("NmY1OTAyYWMyMzcwMjRiZGQwYzE3NmNiOTMwNjNkYzQ=")
        .expect("base64");
    assert_eq!(decoded, b"6f5902ac237024bdd0c176cb93063dc4");
}

/// A captured body with `edit` applied to its JSON.
fn edited(body: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_str(body).expect("json");
    edit(&mut value);
    value.to_string().into_bytes()
}

#[test]
fn hostile_or_broken_variants() {
    let (_, put) = fixture!("put-single");
    let ext = |v: &mut serde_json::Value, attr: &str, b64: &str| {
        v["message"]["new_entry"]["extended"][attr] = b64.into();
    };
    let staging_in_bucket = edited(put, |v| {
        v["key"] = "/buckets/cap-bucket/.uploads/x/hello.txt".into()
    });
    assert_eq!(parse_seaweedfs_event(&staging_in_bucket), Ok(vec![]));
    let nested_uploads_dir = edited(put, |v| {
        v["key"] = "/buckets/cap-bucket/a/.uploads/hello.txt".into()
    });
    assert_eq!(
        parse_seaweedfs_event(&nested_uploads_dir).map(|u| u[0].key.clone()),
        Ok("a/.uploads/hello.txt".into())
    );
    for outside in [
        "/elsewhere/cap-bucket/hello.txt",
        "/buckets/hello.txt",
        "/buckets//hello.txt",
        "buckets/b/hello.txt",
    ] {
        assert_eq!(
            parse_seaweedfs_event(&edited(put, |v| v["key"] = outside.into())),
            Ok(vec![]),
            "{outside}"
        );
    }
    let name_mismatch = edited(put, |v| {
        v["key"] = "/buckets/cap-bucket/single/other.txt".into()
    });
    assert!(matches!(
        parse_seaweedfs_event(&name_mismatch),
        Err(EventError::Malformed(_))
    ));
    let bad_base64 = edited(put, |v| ext(v, "Seaweed-X-Amz-ETag", "not base64!"));
    assert!(matches!(
        parse_seaweedfs_event(&bad_base64),
        Err(EventError::Malformed(_))
    ));
    let bad_etag = edited(put, |v| ext(v, "Seaweed-X-Amz-ETag", "bm90IGhleA==")); // "not hex"
    assert_eq!(
        parse_seaweedfs_event(&bad_etag),
        Err(EventError::InvalidEtag)
    );
    let no_message = edited(put, |v| v["message"] = serde_json::Value::Null);
    assert_eq!(parse_seaweedfs_event(&no_message), Ok(vec![]));
    let unknown_type = edited(put, |v| v["event_type"] = "mkdir".into());
    assert_eq!(parse_seaweedfs_event(&unknown_type), Ok(vec![]));
    assert!(matches!(
        parse_seaweedfs_event(br#"{"key":"/buckets/b/k"}"#),
        Err(EventError::Malformed(_))
    ));
}

#[test]
fn updates_count_only_when_content_changes() {
    let (_, overwrite) = fixture!("overwrite-update");
    let same_etag = edited(overwrite, |v| {
        let new_etag = v["message"]["new_entry"]["extended"]["Seaweed-X-Amz-ETag"].clone();
        v["message"]["old_entry"]["extended"]["Seaweed-X-Amz-ETag"] = new_etag;
    });
    assert_eq!(parse_seaweedfs_event(&same_etag), Ok(vec![]));
    let same_etag_other_size = edited(overwrite, |v| {
        let new_etag = v["message"]["new_entry"]["extended"]["Seaweed-X-Amz-ETag"].clone();
        v["message"]["old_entry"]["extended"]["Seaweed-X-Amz-ETag"] = new_etag;
        v["message"]["old_entry"]["attributes"]["file_size"] = 99.into();
    });
    assert_eq!(
        parse_seaweedfs_event(&same_etag_other_size).map(|u| u.len()),
        Ok(1)
    );
}
