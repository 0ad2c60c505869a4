//! Every vector of tests/vectors/cos_multipart.json (MP1–MP5, MH1–MH7, MX1), every intermediate asserted,
//! plus the answer parsers and the error mapping.
use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde::Deserialize;

use super::*;
use crate::providers::common::is_header_value;
use crate::providers::cos::presign::key_path;
use crate::providers::cos::sign::{sha1_hex, sign_request, RequestSignature, SignableRequest};
use crate::providers::cos::test_vectors::RequestVector;
use crate::providers::cos::CosStoreConfig;
use crate::providers::xml::{self, PartsPage};

/// The SDK's frozen clock (`sdk.fixed_time`).
const NOW: i64 = 1_700_000_000;
/// cos-python-sdk-v5's default `Expired` of server-side calls: key time `now-60;now+10000`.
const SDK_SERVER_EXPIRED: i64 = 10_000;

#[derive(Deserialize)]
struct Vectors {
    sdk: Sdk,
    presigned_upload_part: Vec<Presigned>,
    header_signed: Vec<HeaderSigned>,
    complete_bodies: Vec<CompleteBodyVector>,
}

#[derive(Deserialize)]
struct Sdk {
    fixed_time: i64,
}

#[derive(Deserialize)]
struct Presigned {
    #[serde(flatten)]
    v: RequestVector,
    expired: i64,
}

#[derive(Deserialize)]
struct HeaderSigned {
    #[serde(flatten)]
    v: RequestVector,
    operation: String,
    request: Captured,
}

#[derive(Deserialize)]
struct Captured {
    url: String,
    headers: Vec<(String, String)>,
    body: String,
    body_sha1: String,
    body_md5_b64: String,
}

#[derive(Deserialize)]
struct CompleteBodyVector {
    id: String,
    parts: Vec<(u32, String)>,
    xml: String,
}

fn vectors() -> Vectors {
    let v: Vectors =
        serde_json::from_str(include_str!("../../../../tests/vectors/cos_multipart.json"))
            .expect("tests/vectors/cos_multipart.json parses");
    assert_eq!(v.sdk.fixed_time, NOW);
    v
}

/// The vector's bucket (every vector uses the docs' example host) with the vector's keys and token.
fn store_for(v: &RequestVector, token: Option<&str>) -> CosStore {
    assert_eq!(
        v.host,
        "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
    );
    CosStore::new(CosStoreConfig {
        bucket: "examplebucket-1250000000".to_owned(),
        region: "ap-guangzhou".to_owned(),
        secret_id: v.secret_id.clone(),
        secret_key: v.secret_key.as_str().into(),
        session_token: token.map(str::to_owned),
        endpoint: None,
    })
    .expect("valid store")
}

fn header<'a>(map: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    map.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The intermediates of `sig` that differ from the vector's, by name.
fn mismatches(v: &RequestVector, sig: &RequestSignature) -> Vec<&'static str> {
    let pairs = [
        ("key_time", &sig.key_time, &v.key_time),
        ("sign_key", &sig.sign_key, &v.sign_key),
        ("header_list", &sig.header_list, &v.header_list),
        ("url_param_list", &sig.url_param_list, &v.url_param_list),
        ("http_parameters", &sig.http_parameters, &v.http_parameters),
        ("http_headers", &sig.http_headers, &v.http_headers),
        ("http_string", &sig.http_string, &v.http_string),
        (
            "sha1_http_string",
            &sig.sha1_http_string,
            &v.sha1_http_string,
        ),
        ("string_to_sign", &sig.string_to_sign, &v.string_to_sign),
        ("signature", &sig.signature, &v.signature),
    ];
    let mut bad: Vec<&'static str> = pairs
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(name, _, _)| *name)
        .collect();
    if sig.authorization(&v.secret_id) != v.authorization {
        bad.push("authorization");
    }
    bad
}

struct PresignedInputs<'a> {
    key: &'a str,
    upload_id: &'a str,
    part_number: u32,
    pins: PartPins<'a>,
    token: Option<&'a str>,
}

fn presigned_inputs(v: &RequestVector) -> PresignedInputs<'_> {
    PresignedInputs {
        key: v.path.strip_prefix('/').expect("path starts with /"),
        upload_id: &v.params["uploadId"],
        part_number: v.params["partNumber"].parse().expect("numeric partNumber"),
        pins: PartPins {
            content_length: header(&v.headers, "content-length")
                .map(|l| l.parse().expect("numeric length")),
            content_md5: header(&v.headers, "content-md5"),
        },
        token: v.params.get("x-cos-security-token").map(String::as_str),
    }
}

/// What `presigned_upload_part` signs, through the same `upload_part_signables` plus the `host` and the
/// token that `presigned_url` adds, with every intermediate.
fn presigned_signature(
    store: &CosStore,
    secret_key: &str,
    p: &PresignedInputs,
    expires_at: i64,
) -> RequestSignature {
    let PartSignables { headers, params } =
        upload_part_signables(p.upload_id, p.part_number, &p.pins);
    let mut signed_headers: Vec<(&str, &str)> = vec![("host", &store.host)];
    signed_headers.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let mut signed_params: Vec<(&str, &str)> =
        params.iter().map(|(n, v)| (*n, v.as_str())).collect();
    if let Some(token) = p.token {
        signed_params.push(("x-cos-security-token", token));
    }
    sign_request(
        secret_key,
        &CosStore::window(NOW, expires_at),
        &SignableRequest {
            method: "PUT",
            path: &key_path(p.key),
            headers: &signed_headers,
            params: &signed_params,
        },
    )
}

#[test]
fn every_presigned_upload_part_vector_is_reproduced_with_every_intermediate() {
    let vectors = vectors().presigned_upload_part;
    let ids: Vec<&str> = vectors.iter().map(|p| p.v.id.as_str()).collect();
    assert_eq!(ids, ["MP1", "MP2", "MP3", "MP4", "MP5"]);
    let mut failures = Vec::new();
    for Presigned { v, expired } in &vectors {
        let inputs = presigned_inputs(v);
        let store = store_for(v, inputs.token);
        let expires_at = NOW + expired;
        let signed = store.presigned_upload_part(
            inputs.key,
            inputs.upload_id,
            inputs.part_number,
            &inputs.pins,
            NOW,
            expires_at,
        );
        // The Python layout byte for byte: q-* pairs, then partNumber, uploadId (and the signed token).
        if Some(signed.url.as_str()) != v.url.as_deref() {
            failures.push(format!("{}: url {}", v.id, signed.url));
        }
        // The client must send exactly the pinned headers: the vector's signed headers but `host`.
        let mut want_headers: Vec<(String, String)> = v
            .headers
            .iter()
            .filter(|(n, _)| *n != "host")
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let mut got_headers = signed.headers.clone();
        want_headers.sort();
        got_headers.sort();
        if signed.method != "PUT" || got_headers != want_headers {
            failures.push(format!("{}: method/headers {:?}", v.id, signed.headers));
        }
        let bad = mismatches(
            v,
            &presigned_signature(&store, &v.secret_key, &inputs, expires_at),
        );
        if !bad.is_empty() {
            failures.push(format!("{}: {}", v.id, bad.join(", ")));
        }
    }
    assert!(failures.is_empty(), "failing vectors: {failures:#?}");
}

#[test]
fn a_part_url_is_bound_to_its_part_number_length_and_upload() {
    let vectors = vectors().presigned_upload_part;
    let mp3 = &vectors
        .iter()
        .find(|p| p.v.id == "MP3")
        .expect("MP3 present")
        .v;
    let inputs = presigned_inputs(mp3);
    let store = store_for(mp3, None);
    let base = presigned_signature(&store, &mp3.secret_key, &inputs, NOW + 3600).signature;
    let variants = [
        PresignedInputs {
            part_number: 3,
            ..presigned_inputs(mp3)
        },
        PresignedInputs {
            upload_id: "other",
            ..presigned_inputs(mp3)
        },
        PresignedInputs {
            pins: PartPins {
                content_length: Some(5_242_881),
                content_md5: None,
            },
            ..presigned_inputs(mp3)
        },
        PresignedInputs {
            pins: PartPins::default(),
            ..presigned_inputs(mp3)
        },
    ];
    for variant in &variants {
        assert_ne!(
            presigned_signature(&store, &mp3.secret_key, variant, NOW + 3600).signature,
            base
        );
    }
}

/// The captured request's headers minus the ones Python's `requests` adds on its own.
fn sent_headers(captured: &Captured) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = captured
        .headers
        .iter()
        .filter(|(n, _)| {
            !matches!(
                n.as_str(),
                "User-Agent" | "Accept-Encoding" | "Accept" | "Connection"
            )
        })
        .cloned()
        .collect();
    headers.sort();
    headers
}

/// Builds the vector's request with this module's builders (MH2, a server-side UploadPart the broker never
/// sends, goes through the same `signed_call`).
fn build(h: &HeaderSigned, complete_parts: &[(u32, String)]) -> CosCall {
    let v = &h.v;
    let token = header(&v.headers, "x-cos-security-token");
    let store = store_for(v, token);
    let key = v.path.strip_prefix('/').expect("path starts with /");
    let end = NOW + SDK_SERVER_EXPIRED;
    let upload_id = || v.params["uploadId"].as_str();
    match h.operation.as_str() {
        "InitiateMultipartUpload" => {
            let metadata: Vec<(&str, &str)> = v
                .headers
                .iter()
                .filter(|(n, _)| n.starts_with("x-cos-meta-"))
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let opts = InitiateOptions {
                content_type: header(&v.headers, "content-type"),
                forbid_overwrite: false,
                metadata: &metadata,
            };
            store.initiate_call(key, &opts, NOW, end)
        }
        "UploadPart" => {
            let headers = vec![
                (
                    "Content-MD5".to_owned(),
                    header(&v.headers, "content-md5")
                        .unwrap_or_default()
                        .to_owned(),
                ),
                (
                    "Content-Length".to_owned(),
                    h.request.body.len().to_string(),
                ),
            ];
            let params = [
                ("partNumber", v.params["partNumber"].as_str()),
                ("uploadId", upload_id()),
            ];
            store.signed_call(
                Method::PUT,
                key,
                &params,
                headers,
                h.request.body.as_bytes().to_vec(),
                NOW,
                end,
            )
        }
        "ListParts" => store.list_parts_call(
            key,
            upload_id(),
            v.params["part-number-marker"].parse().expect("marker"),
            v.params["max-parts"].parse().expect("max-parts"),
            NOW,
            end,
        ),
        "CompleteMultipartUpload" => {
            store.complete_call(key, upload_id(), complete_parts, NOW, end)
        }
        "AbortMultipartUpload" => store.abort_call(key, upload_id(), NOW, end),
        other => panic!("unknown operation {other}"),
    }
}

/// The call's `Authorization` value.
fn authorization(call: &CosCall) -> Option<&str> {
    call.headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .map(|(_, v)| v.as_str())
}

/// One `q-*` field of the call's `Authorization`.
fn auth_field<'a>(call: &'a CosCall, name: &str) -> Option<&'a str> {
    authorization(call)?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn every_header_signed_vector_is_reproduced_request_and_intermediates() {
    let all = vectors();
    let ids: Vec<&str> = all.header_signed.iter().map(|h| h.v.id.as_str()).collect();
    assert_eq!(ids, ["MH1", "MH2", "MH3", "MH4", "MH5", "MH6", "MH7"]);
    let complete_parts = &all.complete_bodies[0].parts;
    let mut failures = Vec::new();
    for h in &all.header_signed {
        let (v, captured) = (&h.v, &h.request);
        let call = build(h, complete_parts);
        let mut got_headers = call.headers.clone();
        got_headers.sort();
        let checks = [
            ("method", call.method.as_str() == v.method),
            ("url", call.url == captured.url),
            ("headers", got_headers == sent_headers(captured)),
            ("body", call.body == captured.body.as_bytes()),
            ("body_sha1", sha1_hex(&call.body) == captured.body_sha1),
            (
                "body_md5",
                STANDARD.encode(Md5::digest(&call.body)) == captured.body_md5_b64,
            ),
            (
                "authorization header last",
                call.headers.last().map(|(n, _)| n.as_str()) == Some("Authorization"),
            ),
        ];
        let mut bad: Vec<&str> = checks
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| *name)
            .collect();
        // The intermediates through the readable oracle over the vector's inputs; the call's own header must be
        // the oracle's (and the SDK's) Authorization.
        let (headers, params) = v.pairs();
        let oracle = sign_request(
            &v.secret_key,
            &v.key_time,
            &SignableRequest {
                method: &v.method,
                path: &v.path,
                headers: &headers,
                params: &params,
            },
        );
        bad.extend(mismatches(v, &oracle));
        if authorization(&call) != Some(oracle.authorization(&v.secret_id).as_str()) {
            bad.push("call authorization");
        }
        if !bad.is_empty() {
            failures.push(format!("{}: {} ({call:?})", v.id, bad.join(", ")));
        }
    }
    assert!(failures.is_empty(), "failing vectors: {failures:#?}");
}

#[test]
fn the_complete_body_vector_is_reproduced_byte_for_byte_in_any_input_order() {
    let bodies = vectors().complete_bodies;
    assert_eq!(bodies.len(), 1);
    let mx1 = &bodies[0];
    assert_eq!(mx1.id, "MX1");
    assert_eq!(complete_body(&mx1.parts), mx1.xml);
    let mut reversed = mx1.parts.clone();
    reversed.reverse();
    assert_eq!(complete_body(&reversed), mx1.xml);
}

#[test]
fn complete_body_escapes_markup_in_etags() {
    let body = complete_body(&[(1, "\"a</ETag><Part>&".to_owned())]);
    assert!(
        body.contains("<ETag>&quot;a&lt;/ETag&gt;&lt;Part&gt;&amp;</ETag>"),
        "{body}"
    );
}

#[test]
fn forbid_overwrite_and_the_session_token_are_signed_headers() {
    let vectors = vectors().header_signed;
    let v = &vectors[0].v;
    let store = store_for(v, Some("TOKEN"));
    let opts = InitiateOptions {
        forbid_overwrite: true,
        ..InitiateOptions::default()
    };
    let call = store.initiate_call("a.bin", &opts, NOW, NOW + 600);
    assert_eq!(
        auth_field(&call, "q-header-list"),
        Some("content-length;host;x-cos-forbid-overwrite;x-cos-security-token")
    );
    assert!(call
        .headers
        .contains(&("x-cos-forbid-overwrite".to_owned(), "true".to_owned())));
    assert!(call
        .headers
        .contains(&("x-cos-security-token".to_owned(), "TOKEN".to_owned())));
    assert_eq!(
        call.url,
        "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/a.bin?uploads="
    );
    assert_eq!(
        auth_field(&call, "q-key-time"),
        Some("1699999940;1700000600")
    );
    assert!(!format!("{call:?}").contains("TOKEN"));
}

#[test]
fn object_url_is_the_plain_encoded_path() {
    let vectors = vectors().header_signed;
    let store = store_for(&vectors[0].v, None);
    assert_eq!(
        store.object_url("用户/a b+c.png"),
        "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/%E7%94%A8%E6%88%B7/a%20b%2Bc.png"
    );
}

#[test]
fn initiate_answer_gives_the_upload_id() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult><Bucket>examplebucket-1250000000</Bucket><Key>exampleobject</Key><UploadId>1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361</UploadId></InitiateMultipartUploadResult>"#;
    assert_eq!(
        xml::upload_id("COS", "InitiateMultipartUpload", body).expect("parses"),
        "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
    );
    assert!(matches!(
        xml::upload_id(
            "COS",
            "InitiateMultipartUpload",
            b"<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>"
        ),
        Err(ProviderError::Upstream(_))
    ));
    assert!(matches!(
        xml::upload_id("COS", "InitiateMultipartUpload", b"not xml"),
        Err(ProviderError::Upstream(_))
    ));
}

/// The doc example's shape: Initiator/Owner blocks, quoted ETags escaped as `&quot;`.
const LIST_PAGE: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult>
  <Bucket>examplebucket-1250000000</Bucket><Encoding-type>url</Encoding-type><Key>exampleobject</Key>
  <UploadId>1585130821cbb7</UploadId>
  <Initiator><ID>qcs::cam::uin/100000000001:uin/100000000001</ID><DisplayName>100000000001</DisplayName></Initiator>
  <Owner><ID>qcs::cam::uin/100000000001:uin/100000000001</ID><DisplayName>100000000001</DisplayName></Owner>
  <PartNumberMarker>0</PartNumberMarker>
  <Part><PartNumber>1</PartNumber><LastModified>2020-03-25T10:07:25.000Z</LastModified><ETag>&quot;e1e5b4965bc7d30880ed6d226f78a539&quot;</ETag><Size>1048576</Size></Part>
  <Part><PartNumber>2</PartNumber><LastModified>2020-03-25T10:07:26.000Z</LastModified><ETag>&quot;fc392a65890e447ff4e2d256489a9773&quot;</ETag><Size>1048576</Size></Part>
  <NextPartNumberMarker>2</NextPartNumberMarker>
  <StorageClass>STANDARD</StorageClass><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>
</ListPartsResult>"#;

#[test]
fn list_pages_give_parts_with_quoted_etags_and_the_next_marker() {
    let page = xml::parts_page("COS", LIST_PAGE).expect("parses");
    assert_eq!(
        page,
        PartsPage {
            parts: vec![
                PartInfo {
                    part_number: 1,
                    etag: "\"e1e5b4965bc7d30880ed6d226f78a539\"".to_owned(),
                    size: 1_048_576,
                    last_modified: Some(1_585_130_845_000),
                },
                PartInfo {
                    part_number: 2,
                    etag: "\"fc392a65890e447ff4e2d256489a9773\"".to_owned(),
                    size: 1_048_576,
                    last_modified: Some(1_585_130_846_000),
                },
            ],
            next_marker: Some(2),
        }
    );
    let last = std::str::from_utf8(LIST_PAGE)
        .expect("utf-8")
        .replace("<IsTruncated>true", "<IsTruncated>false");
    assert_eq!(
        xml::parts_page("COS", last.as_bytes())
            .expect("parses")
            .next_marker,
        None
    );
    let no_marker = std::str::from_utf8(LIST_PAGE)
        .expect("utf-8")
        .replace("<NextPartNumberMarker>2</NextPartNumberMarker>", "");
    assert!(matches!(
        xml::parts_page("COS", no_marker.as_bytes()),
        Err(ProviderError::Upstream(_))
    ));
    let empty = xml::parts_page(
        "COS",
        b"<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>",
    )
    .expect("parses");
    assert!(empty.parts.is_empty() && empty.next_marker.is_none());
}

#[test]
fn complete_needs_an_etag_in_the_200_body() {
    let ok = b"      <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Location>examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/exampleobject</Location><Bucket>examplebucket-1250000000</Bucket><Key>exampleobject</Key><ETag>&quot;aa259a62513358f69e98e72e59856d88-2&quot;</ETag></CompleteMultipartUploadResult>";
    assert_eq!(
        xml::completed_etag("COS", ok).expect("parses"),
        "aa259a62513358f69e98e72e59856d88-2"
    );
    let merge_failed = b"   <CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key></CompleteMultipartUploadResult>";
    match xml::completed_etag("COS", merge_failed) {
        Err(ProviderError::Upstream(message)) => assert!(message.contains("ETag"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        xml::completed_etag("COS", b"     "),
        Err(ProviderError::Upstream(_))
    ));
    let late_error = b"   <?xml version=\"1.0\"?><Error><Code>InvalidPart</Code><Message>part 2 missing</Message></Error>";
    match xml::completed_etag("COS", late_error) {
        Err(ProviderError::BadRequest(message)) => {
            assert_eq!(message, "InvalidPart: part 2 missing")
        }
        other => panic!("{other:?}"),
    }
}

fn cos_error(code: &str) -> Vec<u8> {
    format!("<?xml version='1.0' encoding='utf-8' ?><Error><Code>{code}</Code><Message>why &amp; how</Message><Resource>examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/exampleobject</Resource><RequestId>NjA</RequestId><TraceId>OGVm</TraceId></Error>").into_bytes()
}

#[test]
fn cos_error_codes_are_mapped() {
    assert!(matches!(
        xml::error_for("COS", Op::Complete.name(), 404, &cos_error("NoSuchUpload")),
        ProviderError::NotFound
    ));
    assert!(matches!(
        xml::error_for("COS", Op::Abort.name(), 404, &cos_error("NoSuchUpload")),
        ProviderError::NotFound
    ));
    for code in ["InvalidPart", "InvalidPartOrder", "EntityTooSmall"] {
        match xml::error_for("COS", Op::Complete.name(), 400, &cos_error(code)) {
            ProviderError::BadRequest(message) => assert_eq!(message, format!("{code}: why & how")),
            other => panic!("{code}: {other:?}"),
        }
    }
    match xml::error_for("COS", Op::ListParts.name(), 404, &cos_error("NoSuchBucket")) {
        ProviderError::Upstream(message) => {
            assert_eq!(message, "COS ListParts failed: HTTP 404 NoSuchBucket")
        }
        other => panic!("{other:?}"),
    }
    match xml::error_for(
        "COS",
        Op::Initiate.name(),
        403,
        &cos_error("SignatureDoesNotMatch"),
    ) {
        ProviderError::Upstream(message) => assert_eq!(
            message,
            "COS InitiateMultipartUpload failed: HTTP 403 SignatureDoesNotMatch"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        xml::error_for("COS", Op::Abort.name(), 404, b""),
        ProviderError::NotFound
    ));
    match xml::error_for("COS", Op::Abort.name(), 503, b"<html>busy</html>") {
        ProviderError::Upstream(message) => {
            assert_eq!(message, "COS AbortMultipartUpload failed: HTTP 503")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn metadata_names_must_be_x_cos_meta() {
    assert!(is_meta_name("x-cos-meta-uid"));
    assert!(is_meta_name("x-cos-meta-a_b-1"));
    for bad in [
        "x-cos-meta-",
        "x-cos-acl",
        "x-cos-meta-a b",
        "x-cos-meta-a:b",
        "X-Cos-Meta-a",
    ] {
        assert!(!is_meta_name(bad), "{bad}");
    }
}

#[test]
fn header_values_must_be_printable_ascii() {
    assert!(is_header_value("video/mp4; codecs=\"avc1\""));
    assert!(!is_header_value("a\r\nx-evil: 1"));
    assert!(!is_header_value("视频"));
}

mod wire {
    //! The async calls against a loopback server: what goes on the wire, paging, and answers mapped.
    use super::*;
    use crate::providers::loopback::canned;

    fn store_at(origin: &str) -> CosStore {
        CosStore::new(CosStoreConfig {
            bucket: "examplebucket-1250000000".to_owned(),
            region: "ap-guangzhou".to_owned(),
            secret_id: "AKID".to_owned(),
            secret_key: "SECRET".into(),
            session_token: None,
            endpoint: Some(origin.to_owned()),
        })
        .expect("valid store")
    }

    fn page(parts: &[u32], next: Option<u32>) -> String {
        let parts: String = parts
            .iter()
            .map(|n| format!("<Part><PartNumber>{n}</PartNumber><ETag>&quot;e{n}&quot;</ETag><Size>{n}</Size></Part>"))
            .collect();
        let truncated = next.map_or("<IsTruncated>false</IsTruncated>".to_owned(), |m| {
            format!(
                "<IsTruncated>true</IsTruncated><NextPartNumberMarker>{m}</NextPartNumberMarker>"
            )
        });
        format!("<ListPartsResult>{parts}{truncated}</ListPartsResult>")
    }

    #[tokio::test]
    async fn initiate_sends_the_signed_post_and_reads_the_upload_id() {
        let (origin, server) = canned(vec![(
            200,
            "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>".to_owned(),
        )]);
        let opts = InitiateOptions {
            content_type: Some("video/mp4"),
            forbid_overwrite: true,
            metadata: &[],
        };
        let id = store_at(&origin)
            .create_multipart_upload(&reqwest::Client::new(), "a b/视频.mp4", &opts)
            .await
            .expect("initiated");
        assert_eq!(id, "U1");
        let seen = server.join().expect("server");
        assert_eq!(
            seen[0].line,
            "POST /a%20b/%E8%A7%86%E9%A2%91.mp4?uploads= HTTP/1.1"
        );
        assert_eq!(seen[0].header("content-length"), Some("0"));
        assert_eq!(seen[0].header("content-type"), Some("video/mp4"));
        assert_eq!(seen[0].header("x-cos-forbid-overwrite"), Some("true"));
        let auth = seen[0].header("authorization").unwrap_or_default();
        assert!(
            auth.contains("&q-header-list=content-length;content-type;host;x-cos-forbid-overwrite&q-url-param-list=uploads&"),
            "{auth}"
        );
    }

    #[tokio::test]
    async fn list_parts_follows_every_page_and_refuses_a_stuck_marker() {
        let (origin, server) = canned(vec![(200, page(&[1, 2], Some(2))), (200, page(&[3], None))]);
        let parts = store_at(&origin)
            .list_parts(&reqwest::Client::new(), "k", "U")
            .await
            .expect("two pages");
        let numbers: Vec<(u32, &str)> = parts
            .iter()
            .map(|p| (p.part_number, p.etag.as_str()))
            .collect();
        assert_eq!(numbers, [(1, "\"e1\""), (2, "\"e2\""), (3, "\"e3\"")]);
        let lines: Vec<String> = server
            .join()
            .expect("server")
            .into_iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(
            lines,
            [
                "GET /k?uploadId=U&part-number-marker=0&max-parts=1000&encoding-type=url HTTP/1.1",
                "GET /k?uploadId=U&part-number-marker=2&max-parts=1000&encoding-type=url HTTP/1.1",
            ]
        );

        let (origin, server) = canned(vec![(200, page(&[1], Some(5))), (200, page(&[2], Some(5)))]);
        let err = store_at(&origin)
            .list_parts(&reqwest::Client::new(), "k", "U")
            .await
            .expect_err("stuck marker");
        assert!(matches!(err, ProviderError::Upstream(_)), "{err:?}");
        assert_eq!(server.join().expect("server").len(), 2);
    }

    #[tokio::test]
    async fn complete_sends_the_xml_and_needs_an_etag() {
        let ok = "   <CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>";
        let (origin, server) = canned(vec![
            (200, ok.to_owned()),
            (
                200,
                "    <CompleteMultipartUploadResult></CompleteMultipartUploadResult>".to_owned(),
            ),
            (
                200,
                "  <Error><Code>EntityTooSmall</Code><Message>small</Message></Error>".to_owned(),
            ),
            (404, "<Error><Code>NoSuchUpload</Code></Error>".to_owned()),
        ]);
        let store = store_at(&origin);
        let http = reqwest::Client::new();
        let parts = [(2, "\"b\"".to_owned()), (1, "\"a\"".to_owned())];
        let done = store
            .complete_multipart_upload(&http, "k", "U", &parts)
            .await
            .expect("completed");
        assert_eq!(done.etag, "abc-2");
        let merge_failed = store
            .complete_multipart_upload(&http, "k", "U", &parts)
            .await;
        assert!(
            matches!(merge_failed, Err(ProviderError::Upstream(_))),
            "{merge_failed:?}"
        );
        let too_small = store
            .complete_multipart_upload(&http, "k", "U", &parts)
            .await;
        assert!(
            matches!(too_small, Err(ProviderError::BadRequest(_))),
            "{too_small:?}"
        );
        let gone = store
            .complete_multipart_upload(&http, "k", "U", &parts)
            .await;
        assert!(matches!(gone, Err(ProviderError::NotFound)), "{gone:?}");
        let seen = server.join().expect("server");
        assert_eq!(seen[0].line, "POST /k?uploadId=U HTTP/1.1");
        assert_eq!(seen[0].body, complete_body(&parts).into_bytes());
        assert_eq!(
            seen[0].header("content-length"),
            Some(seen[0].body.len().to_string().as_str())
        );
    }

    #[tokio::test]
    async fn abort_sends_a_signed_delete_and_maps_no_such_upload() {
        let (origin, server) = canned(vec![
            (204, String::new()),
            (404, "<Error><Code>NoSuchUpload</Code></Error>".to_owned()),
        ]);
        let store = store_at(&origin);
        let http = reqwest::Client::new();
        store
            .abort_multipart_upload(&http, "k", "U")
            .await
            .expect("aborted");
        let gone = store.abort_multipart_upload(&http, "k", "U").await;
        assert!(matches!(gone, Err(ProviderError::NotFound)), "{gone:?}");
        let seen = server.join().expect("server");
        assert_eq!(seen[0].line, "DELETE /k?uploadId=U HTTP/1.1");
        assert_eq!(seen[0].header("content-length"), Some("0"));
    }

    #[tokio::test]
    async fn transport_failures_carry_no_url_or_secret() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let store = store_at(&format!("http://127.0.0.1:{port}"));
        let err = store
            .abort_multipart_upload(&reqwest::Client::new(), "secret-key-name", "U")
            .await
            .expect_err("nothing listens");
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Transport { .. }));
        assert!(
            !text.contains("127.0.0.1") && !text.contains("secret") && !text.contains("SECRET"),
            "{text}"
        );
        let bad_type = InitiateOptions {
            content_type: Some("text/plain\r\nx: y"),
            ..InitiateOptions::default()
        };
        let err = store
            .create_multipart_upload(&reqwest::Client::new(), "k", &bad_type)
            .await
            .expect_err("refused before sending");
        assert!(matches!(err, ProviderError::BadRequest(_)), "{err:?}");
    }
}
