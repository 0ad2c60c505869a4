//! Uppy Companion's S3 routes (`/companion/{store}/s3/...`) against SeaweedFS: Companion's exact shapes, the
//! broker's authentication (bearer header, or the configured cookie from the own origin only), policy and
//! problem+json errors, and the multipart handle carried in `uploadId`.
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, token, AppOptions, TestApp};
use crate::s3::{bytes, download, form_post, MIB};

const COOKIE: &str = "broker_token";

/// `encodeURIComponent` for what the broker answers (Uppy encodes `uploadId` and `key` with it).
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn key_query(key: &str) -> String {
    format!("key={}", enc(key))
}

/// The member names of a JSON object, sorted: Companion's clients read exact shapes.
fn members(v: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    names.sort_unstable();
    names
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &[(&str, String)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.http.request(method, app.url(path));
    for (name, value) in auth {
        req = req.header(*name, value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("request")
}

fn bearer(t: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {t}"))]
}

async fn ok_json(res: reqwest::Response) -> Value {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    body
}

async fn create(app: &TestApp, auth: &[(&str, String)], body: Value) -> Value {
    ok_json(
        send(
            app,
            Method::POST,
            "/companion/media/s3/multipart",
            auth,
            Some(body),
        )
        .await,
    )
    .await
}

fn upload_path(created: &Value, rest: &str) -> String {
    format!(
        "/companion/media/s3/multipart/{}{rest}?{}",
        enc(created["uploadId"].as_str().expect("uploadId")),
        key_query(created["key"].as_str().expect("key"))
    )
}

#[tokio::test]
async fn params_answer_a_form_post_under_the_key_template_that_uploads_and_reads_back() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    // What Uppy 6 sends: filename, type and every meta field as metadata[...] (null as "null").
    let res = send(
        &app,
        Method::GET,
        "/companion/media/s3/params?filename=cat%20photo.JPG&type=image%2Fjpeg&metadata%5Bname%5D=cat%20photo.JPG&metadata%5BrelativePath%5D=null",
        &bearer(&t),
        None,
    )
    .await;
    let params = ok_json(res).await;
    assert_eq!(members(&params), ["fields", "headers", "method", "url"]);
    assert_eq!(params["method"], "POST");
    assert_eq!(params["headers"], json!({}));
    let key = params["fields"]["key"].as_str().expect("key").to_owned();
    assert!(
        key.starts_with("users/alice/") && key.ends_with(".jpg") && key.len() == 12 + 36 + 4,
        "the rule's key_template made {key}"
    );
    assert_eq!(params["fields"]["Content-Type"], "image/jpeg");
    let data = bytes(300_000, 4);
    let res = form_post(&app, &params, data.clone(), "image/jpeg").await;
    assert_eq!(res.status().as_u16(), 204, "form POST");
    assert_eq!(download(&app, &t, &key).await, (200, data));
}

#[tokio::test]
async fn a_multipart_upload_through_companion_routes_round_trips_with_the_handle_as_upload_id() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let auth = bearer(&t);
    let created = create(
        &app,
        &auth,
        json!({"filename": "holiday movie.mp4", "type": "video/mp4",
               "metadata": {"name": "holiday movie.mp4", "type": "video/mp4", "relativePath": null}}),
    )
    .await;
    assert_eq!(members(&created), ["key", "uploadId"]);
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(
        key.starts_with("users/alice/") && key.ends_with(".mp4"),
        "{key}"
    );
    let upload_id = created["uploadId"].as_str().expect("uploadId");
    assert!(upload_id.starts_with("v1."), "the handle: {upload_id}");
    assert!(
        upload_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)),
        "unreserved characters only, so encodeURIComponent leaves it as is: {upload_id}"
    );
    assert_eq!(enc(upload_id), upload_id);

    // Uppy cuts 5 MiB parts: under the 20 MiB rule, 4 parts must be signable (5 is over max_size).
    let mut urls = Vec::new();
    for n in 1..=4 {
        let part = ok_json(
            send(
                &app,
                Method::GET,
                &upload_path(&created, &format!("/{n}")),
                &auth,
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            members(&part),
            ["expires", "url"],
            "S3 needs no headers: {part}"
        );
        let expires = part["expires"].as_i64().expect("expires in seconds");
        assert!(
            (1..=900).contains(&expires),
            "capped by the rule's 15m: {expires}"
        );
        urls.push(part["url"].as_str().expect("url").to_owned());
    }
    for n in ["5", "0"] {
        let res = send(
            &app,
            Method::GET,
            &upload_path(&created, &format!("/{n}")),
            &auth,
            None,
        )
        .await;
        assert_problem(res, 400, "invalid_request").await;
    }

    let parts_data = [bytes(5 * MIB, 1), bytes(777, 2)];
    let mut etags = Vec::new();
    for (url, data) in urls.iter().zip(&parts_data) {
        let res = app
            .http
            .put(url)
            .body(data.clone())
            .send()
            .await
            .expect("PUT");
        assert_eq!(res.status().as_u16(), 200);
        etags.push(res.headers()["etag"].to_str().expect("etag").to_owned());
    }

    let listed =
        ok_json(send(&app, Method::GET, &upload_path(&created, ""), &auth, None).await).await;
    let listed = listed.as_array().expect("an array").clone();
    assert_eq!(listed.len(), 2);
    for (i, p) in listed.iter().enumerate() {
        assert_eq!(members(p), ["ETag", "PartNumber", "Size"]);
        assert_eq!(p["PartNumber"], i + 1);
        assert_eq!(p["Size"], parts_data[i].len());
        assert_eq!(p["ETag"], etags[i]);
    }

    // A list that is not exactly the uploaded parts is refused; Uppy 6 sends ETags without quotes.
    let res = send(
        &app,
        Method::POST,
        &upload_path(&created, "/complete"),
        &auth,
        Some(json!({"parts": [{"PartNumber": 1, "ETag": etags[0]}]})),
    )
    .await;
    assert_problem(res, 400, "invalid_request").await;
    let parts: Vec<Value> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"PartNumber": i + 1, "ETag": e.trim_matches('"')}))
        .collect();
    let done = ok_json(
        send(
            &app,
            Method::POST,
            &upload_path(&created, "/complete"),
            &auth,
            Some(json!({ "parts": parts })),
        )
        .await,
    )
    .await;
    assert_eq!(members(&done), ["key", "location"]);
    assert_eq!(done["key"], key.as_str());
    assert!(
        done["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("http://127.0.0.1") && l.ends_with(".mp4")),
        "{done}"
    );
    assert_eq!(download(&app, &t, &key).await, (200, parts_data.concat()));
}

#[tokio::test]
async fn abort_answers_200_with_an_empty_object_and_the_upload_is_gone() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let auth = bearer(&t);
    let created = create(
        &app,
        &auth,
        json!({"filename": "a.bin", "type": "application/octet-stream"}),
    )
    .await;
    let res = send(
        &app,
        Method::DELETE,
        &upload_path(&created, ""),
        &auth,
        None,
    )
    .await;
    assert_eq!(ok_json(res).await, json!({}));
    let res = send(&app, Method::GET, &upload_path(&created, ""), &auth, None).await;
    let problem = assert_problem(res, 404, "not_found").await;
    assert_eq!(problem["message"], problem["detail"], "{problem}");
}

#[tokio::test]
async fn a_tampered_or_foreign_upload_id_is_refused_on_every_route() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let auth = bearer(&t);
    let created = create(&app, &auth, json!({"filename": "a.bin"})).await;
    let upload_id = created["uploadId"].as_str().expect("uploadId").to_owned();
    let key = created["key"].as_str().expect("key").to_owned();
    // One character of the claims changed; the raw provider id; another key; another caller.
    let mut tampered = upload_id.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let other_key = json!({"uploadId": upload_id, "key": format!("{key}x")});
    let cases = [
        (json!({"uploadId": tampered, "key": key}), bearer(&t)),
        (
            json!({"uploadId": "0123456789abcdef", "key": key}),
            bearer(&t),
        ),
        (other_key, bearer(&t)),
        (created.clone(), bearer(&token("bob", &["user"]))),
    ];
    for (target, auth) in &cases {
        for (method, rest, body) in [
            (Method::GET, "/1", None),
            (Method::GET, "", None),
            (
                Method::POST,
                "/complete",
                Some(json!({"parts": [{"PartNumber": 1, "ETag": "x"}]})),
            ),
            (Method::DELETE, "", None),
        ] {
            let res = send(&app, method.clone(), &upload_path(target, rest), auth, body).await;
            let problem = assert_problem(res, 403, "policy_denied").await;
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("multipart handle") || d.contains("no rule")),
                "{method} {rest}: {problem}"
            );
        }
    }
    // The untouched upload still works for its owner.
    let res = send(&app, Method::GET, &upload_path(&created, ""), &auth, None).await;
    assert_eq!(ok_json(res).await, json!([]));
}

/// Method, path, auth headers, body, expected status and code.
type Case<'a> = (
    Method,
    &'a str,
    Vec<(&'a str, String)>,
    Option<Value>,
    u16,
    &'a str,
);

#[tokio::test]
async fn denials_and_bad_requests_are_problem_json_with_a_message_for_uppy() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let nobody = token("carol", &["nobody"]);
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/companion/media/s3/params?filename=a.jpg&type=image/jpeg",
            bearer(&nobody),
            None,
            403,
            "policy_denied",
        ),
        (
            Method::POST,
            "/companion/media/s3/multipart",
            bearer(&nobody),
            Some(json!({"filename": "a.mp4"})),
            403,
            "policy_denied",
        ),
        (
            Method::GET,
            "/companion/media/s3/params?filename=a.jpg",
            vec![],
            None,
            401,
            "unauthenticated",
        ),
        (
            Method::POST,
            "/companion/media/s3/multipart",
            vec![("authorization", "Bearer nope".into())],
            Some(json!({"filename": "a"})),
            401,
            "unauthenticated",
        ),
        (
            Method::GET,
            "/companion/nope/s3/params?filename=a.jpg",
            bearer(&t),
            None,
            404,
            "unknown_store",
        ),
        (
            Method::GET,
            "/companion/media/s3/params?type=image/jpeg",
            bearer(&t),
            None,
            400,
            "invalid_request",
        ),
        // A content type is validated as one media type (src/media_type.rs), on both routes that take one.
        (
            Method::GET,
            "/companion/media/s3/params?filename=a.jpg&type=not%20a%20type",
            bearer(&t),
            None,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/companion/media/s3/multipart",
            bearer(&t),
            Some(json!({"filename": "a.mp4", "type": "video/mp4,text/html"})),
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/companion/media/s3/params?filename=a.jpg&bucket=x",
            bearer(&t),
            None,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/companion/media/s3/multipart",
            bearer(&t),
            Some(json!({"filename": "a", "size": 1})),
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/companion/media/s3/multipart",
            bearer(&t),
            Some(json!({"type": "video/mp4"})),
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/companion/media/s3/multipart/x/abc?key=users/alice/a",
            bearer(&t),
            None,
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/companion/media/s3/multipart/x?key=users/alice/a&handle=y",
            bearer(&t),
            None,
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/companion/media/s3/multipart/x",
            bearer(&t),
            None,
            400,
            "invalid_request",
        ),
        // Companion's STS route is not served: the broker never hands out broad credentials.
        (
            Method::GET,
            "/companion/media/s3/sts",
            bearer(&t),
            None,
            404,
            "not_found",
        ),
    ];
    for (method, path, auth, body, status, code) in cases {
        let res = send(&app, method.clone(), path, &auth, body).await;
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        let problem = assert_problem(res, status, code).await;
        assert_eq!(
            problem["message"], problem["detail"],
            "{method} {path}: {problem}"
        );
    }
    // The /v1 routes keep their problems as they were (no `message`).
    let res = app
        .post(
            "/v1/uploads",
            &nobody,
            &json!({"store": "media", "key": "users/carol/a"}),
        )
        .await;
    let problem = assert_problem(res, 403, "policy_denied").await;
    assert!(problem.get("message").is_none(), "{problem}");
}

#[tokio::test]
async fn the_configured_cookie_authenticates_only_requests_from_the_own_origin() {
    let app = TestApp::spawn_with(AppOptions {
        extra: format!("[companion]\ntoken_cookie = \"{COOKIE}\"\n"),
        ..Default::default()
    })
    .await;
    let t = token("alice", &["user"]);
    let cookie = |extra: &[(&'static str, &str)]| {
        let mut h = vec![("cookie", format!("theme=dark; {COOKIE}={t}; x=1"))];
        h.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        h
    };
    let own_origin = app.address.clone();
    let same_site = [("sec-fetch-site", "same-origin")];
    let params = "/companion/media/s3/params?filename=a.jpg&type=image/jpeg";

    // Same-origin Uppy 6: fetch() with the cookie and Sec-Fetch-Site (https, loopback).
    let res = send(&app, Method::GET, params, &cookie(&same_site), None).await;
    assert_eq!(
        members(&ok_json(res).await),
        ["fields", "headers", "method", "url"]
    );
    // A same-origin GET over plain http carries neither header.
    let res = send(&app, Method::GET, params, &cookie(&[]), None).await;
    ok_json(res).await;
    // POST with Origin = the host the request went to; DELETE with Sec-Fetch-Site.
    let created = create(
        &app,
        &cookie(&[("origin", own_origin.as_str())]),
        json!({"filename": "a.bin"}),
    )
    .await;
    let res = send(
        &app,
        Method::DELETE,
        &upload_path(&created, ""),
        &cookie(&same_site),
        None,
    )
    .await;
    assert_eq!(ok_json(res).await, json!({}));

    // CSRF: a state-changing request from another origin, or with no origin evidence, is refused.
    for extra in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![],
    ] {
        let res = send(
            &app,
            Method::POST,
            "/companion/media/s3/multipart",
            &cookie(&extra),
            Some(json!({"filename": "a.bin"})),
        )
        .await;
        let problem = assert_problem(res, 403, "policy_denied").await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("cookie authentication refused")),
            "{extra:?}: {problem}"
        );
    }
    let res = send(
        &app,
        Method::GET,
        params,
        &cookie(&[("sec-fetch-site", "cross-site")]),
        None,
    )
    .await;
    assert_problem(res, 403, "policy_denied").await;

    // The header wins over the cookie; a bad cookie token is 401; /v1 never reads the cookie.
    let res = send(
        &app,
        Method::GET,
        params,
        &[
            ("authorization", "Bearer nope".into()),
            ("cookie", format!("{COOKIE}={t}")),
        ],
        None,
    )
    .await;
    assert_problem(res, 401, "unauthenticated").await;
    let res = send(
        &app,
        Method::GET,
        params,
        &[("cookie", format!("{COOKIE}=nope"))],
        None,
    )
    .await;
    assert_problem(res, 401, "unauthenticated").await;
    let res = send(
        &app,
        Method::POST,
        "/v1/uploads",
        &cookie(&same_site),
        Some(json!({"store": "media", "key": "users/alice/a"})),
    )
    .await;
    assert_problem(res, 401, "unauthenticated").await;

    // Without [companion] token_cookie no cookie is read.
    let plain = TestApp::spawn().await;
    let res = send(&plain, Method::GET, params, &cookie(&same_site), None).await;
    assert_problem(res, 401, "unauthenticated").await;
}

#[tokio::test]
async fn browsers_on_allowed_origins_may_call_the_companion_routes_with_a_bearer_header() {
    let app = TestApp::spawn_with(AppOptions {
        server_settings: "cors_origins = [\"http://app.test\"]".into(),
        ..Default::default()
    })
    .await;
    // Uppy 5's DELETE with its Authorization header is preflighted.
    let preflight = app
        .http
        .request(
            Method::OPTIONS,
            app.url("/companion/media/s3/multipart/x?key=k"),
        )
        .header("origin", "http://app.test")
        .header("access-control-request-method", "DELETE")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://app.test"
    );
    let t = token("alice", &["user"]);
    let res = app
        .http
        .get(app.url("/companion/media/s3/params?filename=a.txt&type=text/plain"))
        .header("origin", "http://app.test")
        .bearer_auth(&t)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://app.test"
    );
}

#[tokio::test]
async fn part_numbers_are_decimal_integers_from_1_to_10000_as_the_openapi_document_says() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    let auth = bearer(&t);
    let created = create(
        &app,
        &auth,
        json!({"filename": "v.mp4", "type": "video/mp4"}),
    )
    .await;
    let res = send(&app, Method::GET, &upload_path(&created, "/1"), &auth, None).await;
    assert!(ok_json(res).await["url"].is_string());
    // Schemathesis sent `154789626.0`: not a part number's decimal digits, and past 10000 anyway.
    for bad in [
        "154789626.0",
        "1.0",
        "1e3",
        "-1",
        "0",
        "10001",
        "4294967296",
        "x",
    ] {
        let res = send(
            &app,
            Method::GET,
            &upload_path(&created, &format!("/{bad}")),
            &auth,
            None,
        )
        .await;
        assert_eq!(res.status().as_u16(), 400, "{bad}");
        let problem = assert_problem(res, 400, "invalid_request").await;
        assert_eq!(problem["message"], problem["detail"], "{bad}: {problem}");
    }

    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let params = &doc["paths"]["/companion/{store}/s3/multipart/{upload_id}/{part_number}"]["get"]
        ["parameters"];
    let part_number = params
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "part_number"))
        .expect("part_number documented");
    assert_eq!(part_number["in"], "path");
    assert_eq!(part_number["schema"]["type"], "integer");
    assert_eq!(part_number["schema"]["minimum"], 1);
    assert_eq!(part_number["schema"]["maximum"], 10000);
    let completed =
        &doc["components"]["schemas"]["CompanionCompletedPart"]["properties"]["PartNumber"];
    assert_eq!(completed["type"], "integer", "{completed}");
    assert_eq!(completed["minimum"], 1, "{completed}");
    assert_eq!(completed["maximum"], 10000, "{completed}");
}

#[tokio::test]
async fn companion_routes_called_with_another_method_answer_405_with_allow_and_a_message() {
    let app = TestApp::spawn().await;
    let t = token("alice", &["user"]);
    for (method, path, allow) in [
        (Method::PUT, "/companion/media/s3/params", "GET"),
        (Method::GET, "/companion/media/s3/multipart", "POST"),
        (
            Method::POST,
            "/companion/media/s3/multipart/abc?key=k",
            "GET, DELETE",
        ),
        (
            Method::DELETE,
            "/companion/media/s3/multipart/abc/3?key=k",
            "GET",
        ),
        // `complete` would also fill `{part_number}`: the literal POST route is the one meant, unmatched
        // (OPTIONS) or matched by the part route's pattern only (GET, whose part number does not parse).
        (
            Method::OPTIONS,
            "/companion/media/s3/multipart/abc/complete?key=k",
            "POST",
        ),
        (
            Method::GET,
            "/companion/media/s3/multipart/abc/complete?key=k",
            "POST",
        ),
    ] {
        let res = send(&app, method.clone(), path, &bearer(&t), None).await;
        let got_allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let problem = assert_problem(res, 405, "method_not_allowed").await;
        assert_eq!(got_allow.as_deref(), Some(allow), "{method} {path}");
        assert_eq!(
            problem["message"], problem["detail"],
            "{method} {path}: {problem}"
        );
    }
}
