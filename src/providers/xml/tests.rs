use super::*;

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

#[test]
fn initiate_answer_gives_the_upload_id() {
    let body = format!(
        r#"{DECL}
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"#
    );
    assert_eq!(
        upload_id("S3", "CreateMultipartUpload", body.as_bytes()).expect("parses"),
        "VXBsb2FkIElE"
    );
    assert!(matches!(
        upload_id("S3", "CreateMultipartUpload", b"<x/>"),
        Err(ProviderError::Upstream(_))
    ));
    assert!(matches!(
        upload_id("S3", "CreateMultipartUpload", b"\xff\xfe"),
        Err(ProviderError::Upstream(_))
    ));
}

#[test]
fn list_parts_pages_parse_with_quoted_etags() {
    let truncated = format!(
        r#"{DECL}
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId>
  <PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>
  <MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>
  <Part><PartNumber>1</PartNumber><LastModified>2026-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag><Size>5242880</Size></Part>
  <Part><PartNumber>2</PartNumber><ETag>"aaaa"</ETag><Size>10</Size></Part>
</ListPartsResult>"#
    );
    let page = parts_page("S3", truncated.as_bytes()).expect("parses");
    assert_eq!(page.next_marker, Some(2));
    assert_eq!(
        page.parts,
        vec![
            PartInfo {
                part_number: 1,
                etag: "\"7778aef83f66abc1fa1e8477f296d394\"".to_owned(),
                size: 5_242_880,
                last_modified: Some(1_767_225_600_000),
            },
            PartInfo {
                part_number: 2,
                etag: "\"aaaa\"".to_owned(),
                size: 10,
                last_modified: None,
            },
        ]
    );

    let last = br#"<ListPartsResult><IsTruncated>false</IsTruncated><NextPartNumberMarker></NextPartNumberMarker></ListPartsResult>"#;
    assert_eq!(
        parts_page("S3", last).expect("parses"),
        PartsPage {
            parts: vec![],
            next_marker: None
        }
    );

    let broken = br#"<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>"#;
    assert!(matches!(
        parts_page("S3", broken),
        Err(ProviderError::Upstream(_))
    ));
}

#[test]
fn complete_answer_gives_the_etag_and_an_error_body_is_an_error() {
    let ok = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://h/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag></CompleteMultipartUploadResult>"#;
    assert_eq!(
        completed_etag("S3", ok).expect("parses"),
        "3858f62230ac3c915f300c664312c11f-9"
    );

    // S3 keeps the connection alive with spaces, then reports the failure inside the 200 answer.
    let late_error = br#"<?xml version="1.0" encoding="UTF-8"?>
      <Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"#;
    match completed_etag("S3", late_error) {
        Err(ProviderError::Upstream(m)) => assert_eq!(
            m,
            "S3 CompleteMultipartUpload failed: HTTP 200 InternalError"
        ),
        other => panic!("expected Upstream, got {other:?}"),
    }
    let late_bad_part = b"<Error><Code>InvalidPart</Code><Message>One or more parts could not be found.</Message></Error>";
    assert!(matches!(
        completed_etag("S3", late_bad_part),
        Err(ProviderError::BadRequest(_))
    ));
}

fn error_body(code: &str) -> String {
    format!("{DECL}<Error><Code>{code}</Code><Message>msg of {code}</Message><RequestId>1</RequestId></Error>")
}

#[test]
fn s3_error_codes_map_to_provider_errors() {
    for code in ["NoSuchUpload", "NoSuchKey"] {
        assert!(
            matches!(
                error_for("S3", "Op", 404, error_body(code).as_bytes()),
                ProviderError::NotFound
            ),
            "{code}"
        );
    }
    for code in ["InvalidPart", "InvalidPartOrder", "EntityTooSmall"] {
        match error_for("S3", "Op", 400, error_body(code).as_bytes()) {
            ProviderError::BadRequest(m) => assert_eq!(m, format!("{code}: msg of {code}")),
            other => panic!("{code}: {other:?}"),
        }
    }
    assert!(matches!(
        error_for("S3", "HeadObject", 404, b""),
        ProviderError::NotFound
    ));
    match error_for(
        "S3",
        "Op",
        403,
        error_body("SignatureDoesNotMatch").as_bytes(),
    ) {
        ProviderError::Upstream(m) => assert_eq!(m, "S3 Op failed: HTTP 403 SignatureDoesNotMatch"),
        other => panic!("{other:?}"),
    }
    match error_for("S3", "Op", 404, error_body("NoSuchBucket").as_bytes()) {
        ProviderError::Upstream(m) => assert_eq!(m, "S3 Op failed: HTTP 404 NoSuchBucket"),
        other => panic!("{other:?}"),
    }
    match error_for("S3", "Op", 502, b"<html>bad gateway</html>") {
        ProviderError::Upstream(m) => assert_eq!(m, "S3 Op failed: HTTP 502"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn root_element_skips_declaration_and_whitespace() {
    assert_eq!(
        root_element(b"  \n <?xml version=\"1.0\"?>\n<Error/>").as_deref(),
        Some("Error")
    );
    assert_eq!(
        root_element(b"<s3:Error xmlns:s3=\"x\"></s3:Error>").as_deref(),
        Some("Error")
    );
    assert_eq!(root_element(b"   ").as_deref(), None);
}
