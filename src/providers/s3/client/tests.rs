use super::super::test_vectors::{self, credentials, parse_target, unix, HeaderVector};
use super::super::S3StoreConfig;
use super::*;
use reqwest::header::HeaderMap;
use reqwest::header::HeaderValue;

fn store_for(v: &HeaderVector) -> S3Store {
    S3Store::new(S3StoreConfig {
        endpoint: Some(format!("http://{}", v.host)),
        region: v.region.clone(),
        bucket: "examplebucket".to_owned(),
        path_style: true,
        credentials: credentials(&v.access_key, &v.secret_key, &v.session_token),
    })
    .expect("vector store config is valid")
}

fn header<'a>(call: &'a SignedCall, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Compares a built call with a botocore vector; returns the mismatches.
fn mismatches(v: &HeaderVector, call: &SignedCall) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, got: &str, want: &str| {
        if got != want {
            out.push(format!(
                "{}: {what}\n   got: {got:?}\n  want: {want:?}",
                v.id
            ));
        }
    };
    check("method", call.method.as_str(), &v.method);
    check(
        "canonical_request",
        &call.signing.canonical_request,
        &v.canonical_request,
    );
    check(
        "string_to_sign",
        &call.signing.string_to_sign,
        &v.string_to_sign,
    );
    check("signature", &call.signing.signature, &v.signature);
    check(
        "authorization",
        &call.signing.authorization,
        &v.authorization,
    );
    check("body", &String::from_utf8_lossy(&call.body), &v.body);
    for (name, value) in v.headers.iter().filter(|(n, _)| n != "host") {
        check(name, header(call, name).unwrap_or(""), value);
    }
    let url = v.url.as_deref().unwrap_or("");
    if parse_target(&call.url) != parse_target(url) {
        out.push(format!("{}: url {} != {url}", v.id, call.url));
    }
    out
}

#[test]
fn multipart_calls_reproduce_the_botocore_vectors() {
    let vectors = test_vectors::load();
    let mut failures = Vec::new();
    let mut seen = 0;
    for v in vectors
        .header_signed
        .iter()
        .filter(|v| v.id.starts_with("botocore-"))
    {
        let store = store_for(v);
        let key = v.key.as_deref().expect("botocore vectors name a key");
        let now = unix(&v.datetime);
        let upload_id = "EXAMPLEUPLOADID";
        let call = match v.id.as_str() {
            "botocore-create-multipart-upload" => store.create_call(key, Some("video/mp4"), now),
            "botocore-list-parts" => store.list_parts_call(key, upload_id, None, now),
            "botocore-complete-multipart-upload" => {
                // Given out of order: the body lists them ascending.
                let parts = [
                    (2, "\"dfeeb844a1ca1a94c9bc0812c12b42b2\"".to_owned()),
                    (1, "\"72e3589743feb2c53065a9113bf5e53b\"".to_owned()),
                ];
                store.complete_call(key, upload_id, &parts, now)
            }
            "botocore-abort-multipart-upload" => store.abort_call(key, upload_id, now),
            other => panic!("unexpected botocore vector {other}"),
        };
        seen += 1;
        failures.extend(mismatches(v, &call));
    }
    assert_eq!(seen, 4, "expected the 4 botocore multipart vectors");
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

fn local_store(token: Option<&str>) -> S3Store {
    S3Store::new(S3StoreConfig {
        endpoint: Some("http://127.0.0.1:9000".to_owned()),
        region: "us-east-1".to_owned(),
        bucket: "b".to_owned(),
        path_style: true,
        credentials: credentials("AK", "SK", &token.map(str::to_owned)),
    })
    .expect("valid config")
}

#[test]
fn list_parts_pages_with_a_signed_marker() {
    let call = local_store(None).list_parts_call("k", "U", Some(1000), 0);
    assert!(call
        .signing
        .canonical_request
        .contains("\nmax-parts=1000&part-number-marker=1000&uploadId=U\n"));
    assert_eq!(
        call.url,
        "http://127.0.0.1:9000/b/k?max-parts=1000&part-number-marker=1000&uploadId=U"
    );
}

#[test]
fn session_token_is_a_signed_header() {
    let call = local_store(Some("tok")).head_call("dir/a b.txt", 0);
    assert_eq!(call.method, Method::HEAD);
    assert_eq!(call.url, "http://127.0.0.1:9000/b/dir/a%20b.txt");
    assert_eq!(header(&call, "x-amz-security-token"), Some("tok"));
    assert!(call
        .signing
        .authorization
        .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
}

#[test]
fn complete_body_escapes_markup_in_etags() {
    let body = complete_body(&[(1, "\"a</ETag><x>&\"".to_owned())]);
    assert!(
        body.contains("<ETag>\"a&lt;/ETag&gt;&lt;x&gt;&amp;\"</ETag>"),
        "{body}"
    );
}

#[test]
fn head_headers_become_object_info() {
    let mut headers = HeaderMap::new();
    headers.insert("content-length", HeaderValue::from_static("1234"));
    headers.insert(
        "etag",
        HeaderValue::from_static("\"9b2cf535f27731c974343645a3985328\""),
    );
    headers.insert("content-type", HeaderValue::from_static("image/png"));
    let info = object_info(&headers).expect("complete headers");
    assert_eq!(
        info,
        ObjectInfo {
            size: 1234,
            etag: "9b2cf535f27731c974343645a3985328".to_owned(),
            content_type: Some("image/png".to_owned()),
            version_id: None,
        }
    );
    headers.remove("etag");
    assert!(matches!(
        object_info(&headers),
        Err(ProviderError::Upstream(_))
    ));
}

#[tokio::test]
async fn unreachable_endpoint_is_upstream_without_url_or_secret() {
    // Port 9 on loopback (discard) is closed here; the connection is refused at once.
    let store = S3Store::new(S3StoreConfig {
        endpoint: Some("http://127.0.0.1:9".to_owned()),
        region: "us-east-1".to_owned(),
        bucket: "b".to_owned(),
        path_style: true,
        credentials: credentials("AK", "SUPERSECRET", &None),
    })
    .expect("valid config");
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client builds");
    let err = store
        .head_object(&http, "secret-key-name")
        .await
        .expect_err("nothing listens");
    // The cause is kept (for the log) without its URL.
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    let text = format!("{err} {cause:?}");
    assert!(matches!(err, ProviderError::Transport { .. }), "{text}");
    assert!(cause.is_some(), "{text}");
    assert!(
        !text.contains("127.0.0.1")
            && !text.contains("SUPERSECRET")
            && !text.contains("secret-key-name"),
        "{text}"
    );
}

#[tokio::test]
async fn non_ascii_content_type_is_refused_before_sending() {
    let http = reqwest::Client::new();
    let err = local_store(None)
        .create_multipart_upload(&http, "k", Some("text/plain; name=é"))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::BadRequest(_)));
}

#[test]
fn store_and_its_calls_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let store = local_store(None);
    let http = reqwest::Client::new();
    send_sync(&store);
    send(&store.list_parts(&http, "k", "u"));
    send(&store.complete_multipart_upload(&http, "k", "u", &[]));
    send(&store.head_object(&http, "k"));
}

/// Serves `answers` in order on loopback, one connection each, and returns the request lines it saw.
fn canned_server(answers: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            seen.push(line.trim_end().to_owned());
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            stream.write_all(reply.as_bytes()).expect("reply");
        }
        seen
    });
    (endpoint, handle)
}

fn page(parts: &[u32], next: Option<u32>) -> String {
    let parts: String = parts
        .iter()
        .map(|n| {
            format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>\"e{n}\"</ETag><Size>{n}</Size></Part>"
            )
        })
        .collect();
    let truncated = next.map_or("<IsTruncated>false</IsTruncated>".to_owned(), |m| {
        format!("<IsTruncated>true</IsTruncated><NextPartNumberMarker>{m}</NextPartNumberMarker>")
    });
    format!("<ListPartsResult>{truncated}{parts}</ListPartsResult>")
}

#[tokio::test]
async fn list_parts_follows_every_page() {
    let (endpoint, server) = canned_server(vec![page(&[1, 2], Some(2)), page(&[3], None)]);
    let store = S3Store::new(S3StoreConfig {
        endpoint: Some(endpoint),
        region: "us-east-1".to_owned(),
        bucket: "b".to_owned(),
        path_style: true,
        credentials: credentials("AK", "SK", &None),
    })
    .expect("valid config");
    let parts = store
        .list_parts(&reqwest::Client::new(), "k", "U")
        .await
        .expect("two pages");
    let numbers: Vec<(u32, &str)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.as_str()))
        .collect();
    assert_eq!(numbers, [(1, "\"e1\""), (2, "\"e2\""), (3, "\"e3\"")]);
    let seen = server.join().expect("server thread");
    assert_eq!(
        seen,
        [
            "GET /b/k?max-parts=1000&uploadId=U HTTP/1.1",
            "GET /b/k?max-parts=1000&part-number-marker=2&uploadId=U HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn list_parts_stops_when_the_marker_does_not_advance() {
    let (endpoint, server) = canned_server(vec![page(&[1], Some(5)), page(&[2], Some(5))]);
    let store = S3Store::new(S3StoreConfig {
        endpoint: Some(endpoint),
        region: "us-east-1".to_owned(),
        bucket: "b".to_owned(),
        path_style: true,
        credentials: credentials("AK", "SK", &None),
    })
    .expect("valid config");
    let err = store
        .list_parts(&reqwest::Client::new(), "k", "U")
        .await
        .expect_err("loop");
    assert!(matches!(err, ProviderError::Upstream(_)), "{err:?}");
    assert_eq!(server.join().expect("server thread").len(), 2);
}
