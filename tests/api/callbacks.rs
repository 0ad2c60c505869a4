//! Provider callbacks against a real Redis: verified, recorded exactly once, 503 while Redis is down.
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use hmac::{Hmac, Mac};
use presign_broker::callbacks::{string_to_sign, SnsMessage};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::helpers::{
    assert_problem, fixture, token, AppOptions, LoopbackServer, Services, TestApp,
};

const QN_AK: &str = "MY_ACCESS_KEY";
const QN_SK: &str = "MY_SECRET_KEY";
const FORM: &str = "application/x-www-form-urlencoded";

async fn redis_app(extra: &str) -> TestApp {
    TestApp::spawn_with(AppOptions {
        redis: true,
        extra: extra.into(),
        ..Default::default()
    })
    .await
}

fn hmac_sha1_b64(data: &[u8]) -> String {
    let mut m = Hmac::<Sha1>::new_from_slice(QN_SK.as_bytes()).expect("key");
    m.update(data);
    URL_SAFE.encode(m.finalize().into_bytes())
}

/// What Qiniu would send for an upload made with a broker token: the callback URL and body from the token.
struct QiniuCallback {
    path_and_query: String,
    body: String,
}

async fn qiniu_upload(app: &TestApp, sub: &str, key: &str, hash: &str) -> QiniuCallback {
    let t = token(sub, &["user"]);
    let (status, cred) = app
        .post_json("/v1/uploads", &t, &json!({"store": "qn", "key": key}))
        .await;
    assert_eq!(status, 200, "{cred}");
    let token = cred["fields"]["token"].as_str().expect("token");
    let policy: Value = serde_json::from_slice(
        &URL_SAFE
            .decode(token.rsplit(':').next().unwrap_or(""))
            .expect("b64"),
    )
    .expect("json");
    let url = url::Url::parse(policy["callbackUrl"].as_str().expect("callbackUrl")).expect("url");
    // Qiniu fills in the magic variables; the rest of the body is the broker's constant text.
    let body = policy["callbackBody"]
        .as_str()
        .expect("callbackBody")
        .replace(
            "$(key)",
            &url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>(),
        )
        .replace("$(etag)", hash)
        .replace("$(fsize)", "1234")
        .replace("$(bucket)", "my-bucket")
        .replace("$(mimeType)", "image%2Fpng");
    QiniuCallback {
        path_and_query: format!("{}?{}", url.path(), url.query().unwrap_or("")),
        body,
    }
}

enum Scheme {
    QBox,
    Qiniu,
}

/// What a tampering test changes after the request was signed.
#[derive(Default)]
struct Tamper {
    path: Option<String>,
    body: Option<String>,
    host: Option<&'static str>,
    authorization: Option<String>,
    content_type: Option<&'static str>,
}

/// Signs the callback as Qiniu would (an implementation independent of the broker's), applies `t`, sends it.
async fn deliver(
    app: &TestApp,
    cb: &QiniuCallback,
    scheme: Scheme,
    t: Tamper,
) -> reqwest::Response {
    let host = format!("127.0.0.1:{}", app.port);
    let (path, body) = (&cb.path_and_query, &cb.body);
    let authorization = match scheme {
        Scheme::QBox => format!(
            "QBox {QN_AK}:{}",
            hmac_sha1_b64(format!("{path}\n{body}").as_bytes())
        ),
        Scheme::Qiniu => {
            let data = format!("POST {path}\nHost: {host}\nContent-Type: {FORM}\n\n{body}");
            format!("Qiniu {QN_AK}:{}", hmac_sha1_b64(data.as_bytes()))
        }
    };
    let mut req = app
        .http
        .post(app.url(t.path.as_deref().unwrap_or(path)))
        .header("content-type", t.content_type.unwrap_or(FORM))
        .header("authorization", t.authorization.unwrap_or(authorization));
    if let Some(h) = t.host {
        req = req.header("host", h);
    }
    req.body(t.body.unwrap_or_else(|| body.clone()))
        .send()
        .await
        .expect("callback")
}

fn untouched() -> Tamper {
    Tamper::default()
}

#[tokio::test]
async fn qiniu_callbacks_in_both_schemes_are_recorded_exactly_once() {
    let app = redis_app("").await;
    let redis = Services::redis_url();
    for (i, scheme) in [Scheme::QBox, Scheme::Qiniu].into_iter().enumerate() {
        let key = format!("users/alice/cb-{i}-ü a+b.png");
        let hash = format!("FhashAAA{i}");
        let cb = qiniu_upload(&app, "alice", &key, &hash).await;
        let scheme_again = || if i == 0 { Scheme::QBox } else { Scheme::Qiniu };
        for attempt in 0..2 {
            let res = deliver(&app, &cb, scheme_again(), untouched()).await;
            assert_eq!(res.status().as_u16(), 200, "attempt {attempt}");
            assert!(res.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with("application/json"));
            let answer: Value = res.json().await.expect("json");
            assert_eq!(
                answer,
                json!({"key": key, "hash": hash, "fsize": 1234, "bucket": "my-bucket"}),
                "same answer for a duplicate"
            );
        }
        let _ = scheme;
    }
    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 2, "one event per object: {events:?}");
    let e = &events[0];
    assert_eq!(e["provider"], "qiniu");
    assert_eq!(e["store"], "qn");
    assert_eq!(e["bucket"], "my-bucket");
    assert_eq!(e["key"], "users/alice/cb-0-ü a+b.png");
    assert_eq!(e["size"], 1234);
    assert_eq!(e["etag"], "FhashAAA0");
    assert_eq!(e["content_type"], "image/png");
    assert_eq!(e["subject"], "alice");
    assert!(e["id"].is_string() && e["received_at"].is_string());
}

#[tokio::test]
async fn expired_qiniu_tickets_are_refused_and_nothing_is_recorded() {
    let app = redis_app("").await;
    let key = "users/alice/replayed.png";
    let mut cb = qiniu_upload(&app, "alice", key, "FhashOld").await;
    // The broker's ticket is `{valid_until}.{mac}`, valid until the credential's expiry + the grace (1 day).
    let issued = cb
        .path_and_query
        .split("t=")
        .nth(1)
        .and_then(|t| t.split_once('.'))
        .and_then(|(until, _)| until.parse::<i64>().ok())
        .expect("a ticket with its expiry");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 86_400..=now + 86_400 + 3_700).contains(&issued),
        "valid until expiry + 86400 s, got {}",
        issued - now
    );
    // A captured callback replayed after its ticket expired: same signatures, but too late.
    let ticket = |until: i64| {
        presign_broker::ticket::issue(b"integration-test-ticket-secret", "qn", key, "alice", until)
    };
    cb.path_and_query = format!("/v1/callbacks/qn?t={}", ticket(now - 1));
    let res = deliver(&app, &cb, Scheme::QBox, untouched()).await;
    assert_problem(res, 401, "signature_invalid").await;
    assert!(app.recorded_events(&Services::redis_url()).await.is_empty());
    // Control: the same callback with an unexpired ticket is recorded.
    cb.path_and_query = format!("/v1/callbacks/qn?t={}", ticket(now + 60));
    let res = deliver(&app, &cb, Scheme::QBox, untouched()).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(app.recorded_events(&Services::redis_url()).await.len(), 1);
}

#[tokio::test]
async fn tampered_or_misaddressed_qiniu_callbacks_are_refused_and_nothing_is_recorded() {
    let app = redis_app("").await;
    let redis = Services::redis_url();
    let cb = qiniu_upload(&app, "alice", "users/alice/t.png", "Fhash1").await;
    let other = qiniu_upload(&app, "alice", "users/alice/other.png", "Fhash2").await;
    let (path, body) = (cb.path_and_query.clone(), cb.body.clone());
    let cases: Vec<(&str, Scheme, Tamper)> = vec![
        (
            "body",
            Scheme::QBox,
            Tamper {
                body: Some(body.replace("fsize=1234", "fsize=1")),
                ..untouched()
            },
        ),
        (
            "body",
            Scheme::Qiniu,
            Tamper {
                body: Some(body.replace("sub=alice", "sub=bob")),
                ..untouched()
            },
        ),
        (
            "path",
            Scheme::QBox,
            Tamper {
                path: Some(path.replace("/v1/callbacks/qn", "/v1/callbacks/q%6E")),
                ..untouched()
            },
        ),
        (
            "path",
            Scheme::Qiniu,
            Tamper {
                path: Some(path.replace("/v1/callbacks/qn", "/v1/callbacks/%71n")),
                ..untouched()
            },
        ),
        (
            "query",
            Scheme::Qiniu,
            Tamper {
                path: Some(format!("{path}&x=1")),
                ..untouched()
            },
        ),
        (
            "query",
            Scheme::QBox,
            Tamper {
                path: Some(format!("{path}&x=1")),
                ..untouched()
            },
        ),
        (
            "host",
            Scheme::Qiniu,
            Tamper {
                host: Some("evil.example:1"),
                ..untouched()
            },
        ),
        (
            "signature",
            Scheme::QBox,
            Tamper {
                authorization: Some(format!("QBox {QN_AK}:AAAA")),
                ..untouched()
            },
        ),
        (
            "scheme",
            Scheme::QBox,
            Tamper {
                authorization: Some(format!("qbox {QN_AK}:AAAA")),
                ..untouched()
            },
        ),
        (
            "unknown key",
            Scheme::QBox,
            Tamper {
                authorization: Some("QBox OTHER_KEY:AAAA".into()),
                ..untouched()
            },
        ),
        (
            "content type",
            Scheme::QBox,
            Tamper {
                content_type: Some("application/json"),
                ..untouched()
            },
        ),
    ];
    for (case, scheme, tamper) in cases {
        let res = deliver(&app, &cb, scheme, tamper).await;
        assert_eq!(res.status().as_u16(), 401, "tampered {case}");
        assert_problem(res, 401, "signature_invalid").await;
    }
    // A genuine signature over another object's ticket: the ticket binds store, key and subject.
    let swapped = QiniuCallback {
        path_and_query: other.path_and_query.clone(),
        body: cb.body.clone(),
    };
    assert_problem(
        deliver(&app, &swapped, Scheme::QBox, untouched()).await,
        401,
        "signature_invalid",
    )
    .await;
    let no_auth = app
        .http
        .post(app.url(&cb.path_and_query))
        .header("content-type", FORM)
        .body(cb.body.clone())
        .send()
        .await
        .expect("req");
    assert_problem(no_auth, 401, "signature_invalid").await;
    assert!(
        app.recorded_events(&redis).await.is_empty(),
        "nothing recorded"
    );
    // The untouched one still goes through.
    assert_eq!(
        deliver(&app, &cb, Scheme::Qiniu, untouched())
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(app.recorded_events(&redis).await.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_deliveries_record_one_event() {
    let app = redis_app("").await;
    let cb = qiniu_upload(&app, "alice", "users/alice/concurrent.png", "Fconc").await;
    let deliveries = (0..50).map(|_| deliver(&app, &cb, Scheme::QBox, untouched()));
    for res in futures_util::future::join_all(deliveries).await {
        assert_eq!(res.status().as_u16(), 200);
    }
    assert_eq!(app.recorded_events(&Services::redis_url()).await.len(), 1);
}

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:upload-events";

fn sns_store(bucket: &str) -> String {
    format!(
        "[stores.events]\nprovider = \"s3\"\nendpoint = \"http://127.0.0.1:8333\"\nregion = \"us-east-1\"\nbucket = \"{bucket}\"\n\
         path_style = true\naccess_key = \"AK\"\nsecret_key = \"SK\"\n\
         [stores.events.callback]\nsns_topic_arns = [\"{TOPIC}\"]\nsns_cert_url_pattern = '^http://127\\.0\\.0\\.1:[0-9]+/'\n"
    )
}

fn signed_sns(mut msg: SnsMessage) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(
        &std::fs::read_to_string(fixture("sns/sns-test-key.pem")).expect("key"),
    )
    .expect("pem");
    let sts = string_to_sign(&msg).expect("string to sign");
    let sig = if msg.signature_version == "1" {
        key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(sts.as_bytes()))
    } else {
        key.sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(sts.as_bytes()),
        )
    };
    msg.signature = STANDARD.encode(sig.expect("sign"));
    serde_json::to_string(&msg).expect("json")
}

fn notification(id: &str, version: &str, cert_url: &str, key: &str, etag: &str) -> SnsMessage {
    let event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "examplebucket"}, "object": {"key": key, "size": 42, "eTag": etag}}}]});
    SnsMessage {
        message_type: "Notification".into(),
        message_id: id.into(),
        topic_arn: TOPIC.into(),
        subject: Some("Amazon S3 Notification".into()),
        message: event.to_string(),
        timestamp: sns_now(),
        signature_version: version.into(),
        signature: String::new(),
        signing_cert_url: cert_url.into(),
        subscribe_url: None,
        token: None,
        unsubscribe_url: None,
    }
}

/// SNS's `Timestamp` format, now.
fn sns_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn post_sns(app: &TestApp, body: String) -> reqwest::Response {
    app.http
        .post(app.url("/v1/callbacks/events"))
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", "Notification")
        .body(body)
        .send()
        .await
        .expect("sns delivery")
}

#[tokio::test]
async fn sns_notifications_verify_against_a_loopback_certificate_and_deduplicate() {
    let cert = std::fs::read_to_string(fixture("sns/sns-test-cert.pem")).expect("cert");
    let server = LoopbackServer::start(&cert).await;
    let cert_url = format!("{}/SimpleNotificationService-test.pem", server.base);
    let app = redis_app(&sns_store("examplebucket")).await;
    let redis = Services::redis_url();

    for (i, version) in ["1", "2"].into_iter().enumerate() {
        let msg = notification(
            &format!("msg-{i}"),
            version,
            &cert_url,
            &format!("uploads/big+file+%E2%9C%93-{i}.bin"),
            "\"d2b66a494ba39f1efde33786af08df34-2\"",
        );
        let body = signed_sns(msg);
        assert_eq!(
            post_sns(&app, body.clone()).await.status().as_u16(),
            200,
            "SignatureVersion {version}"
        );
        assert_eq!(
            post_sns(&app, body).await.status().as_u16(),
            200,
            "redelivery"
        );
    }
    let events = app.recorded_events(&redis).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0]["key"], "uploads/big file ✓-0.bin",
        "keys are form-decoded"
    );
    assert_eq!(
        events[0]["etag"], "d2b66a494ba39f1efde33786af08df34-2",
        "quotes stripped"
    );
    assert_eq!(events[0]["source"], "sns");
    assert_eq!(
        server.hits().len(),
        1,
        "the certificate is fetched once and cached"
    );

    // The same object under a new MessageId (e.g. moto's double events) is still one event.
    let again = notification(
        "msg-new",
        "2",
        &cert_url,
        "uploads/big+file+%E2%9C%93-0.bin",
        "d2b66a494ba39f1efde33786af08df34-2",
    );
    assert_eq!(
        post_sns(&app, signed_sns(again)).await.status().as_u16(),
        200
    );
    assert_eq!(app.recorded_events(&redis).await.len(), 2);

    // Tampered, wrong topic, disallowed certificate host: refused, nothing recorded, no fetch.
    let mut tampered: Value = serde_json::from_str(&signed_sns(notification(
        "msg-t", "2", &cert_url, "x.bin", "abc",
    )))
    .expect("json");
    tampered["Message"] = json!(tampered["Message"]
        .as_str()
        .unwrap_or("")
        .replace("x.bin", "y.bin"));
    assert_problem(
        post_sns(&app, tampered.to_string()).await,
        401,
        "signature_invalid",
    )
    .await;
    let mut wrong_topic = notification("msg-w", "2", &cert_url, "w.bin", "abc");
    wrong_topic.topic_arn = "arn:aws:sns:us-east-1:123456789012:other".into();
    assert_problem(
        post_sns(&app, signed_sns(wrong_topic)).await,
        401,
        "signature_invalid",
    )
    .await;
    let hits_before = server.hits().len();
    let elsewhere = cert_url.replace("127.0.0.1", "localhost");
    assert_problem(
        post_sns(
            &app,
            signed_sns(notification("msg-e", "2", &elsewhere, "e.bin", "abc")),
        )
        .await,
        401,
        "signature_invalid",
    )
    .await;
    assert_eq!(
        server.hits().len(),
        hits_before,
        "no fetch from a disallowed host"
    );
    assert_eq!(app.recorded_events(&redis).await.len(), 2);
}

#[tokio::test]
async fn sns_messages_older_than_the_idempotency_ttl_are_refused() {
    let cert = std::fs::read_to_string(fixture("sns/sns-test-cert.pem")).expect("cert");
    let server = LoopbackServer::start(&cert).await;
    let cert_url = format!("{}/SimpleNotificationService-test.pem", server.base);
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_settings: "idempotency_ttl_seconds = 3600".into(),
        extra: sns_store("examplebucket"),
        ..Default::default()
    })
    .await;
    let at = |age: chrono::Duration, id: &str| {
        let mut msg = notification(id, "2", &cert_url, &format!("old/{id}.bin"), "abc");
        msg.timestamp = (chrono::Utc::now() - age)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        signed_sns(msg)
    };
    for (case, body) in [
        ("2019", {
            let mut msg = notification("m2019", "2", &cert_url, "old/2019.bin", "abc");
            msg.timestamp = "2019-06-01T00:00:00.000Z".into();
            signed_sns(msg)
        }),
        (
            "two hours old, TTL one hour",
            at(chrono::Duration::hours(2), "m2h"),
        ),
    ] {
        let res = post_sns(&app, body).await;
        let problem = assert_problem(res, 401, "signature_invalid").await;
        assert!(
            problem["detail"].as_str().unwrap_or("").contains("old"),
            "{case}: {problem}"
        );
    }
    assert!(app.recorded_events(&Services::redis_url()).await.is_empty());
    let res = post_sns(&app, at(chrono::Duration::minutes(10), "m10m")).await;
    assert_eq!(
        res.status().as_u16(),
        200,
        "ten minutes old is within the TTL"
    );
}

#[tokio::test]
async fn sns_subscription_confirmations_are_confirmed_on_the_allowed_host_only() {
    let cert = std::fs::read_to_string(fixture("sns/sns-test-cert.pem")).expect("cert");
    let server = LoopbackServer::start(&cert).await;
    let cert_url = format!("{}/SimpleNotificationService-test.pem", server.base);
    let app = redis_app(&sns_store("examplebucket")).await;
    let confirmation = |subscribe_url: String| SnsMessage {
        message_type: "SubscriptionConfirmation".into(),
        message_id: "sub-1".into(),
        topic_arn: TOPIC.into(),
        subject: None,
        message: "You have chosen to subscribe to the topic.".into(),
        timestamp: sns_now(),
        signature_version: "2".into(),
        signature: String::new(),
        signing_cert_url: cert_url.clone(),
        subscribe_url: Some(subscribe_url),
        token: Some(
            "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3"
                .into(),
        ),
        unsubscribe_url: None,
    };
    let ok = confirmation(format!(
        "{}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37",
        server.base
    ));
    assert_eq!(post_sns(&app, signed_sns(ok)).await.status().as_u16(), 200);
    assert!(
        server
            .hits()
            .iter()
            .any(|h| h.starts_with("GET /?Action=ConfirmSubscription")),
        "{:?}",
        server.hits()
    );
    let elsewhere = confirmation("http://127.0.0.2:9/?Action=ConfirmSubscription".into());
    let hits_before = server.hits().len();
    let res = post_sns(&app, signed_sns(elsewhere)).await;
    // A disallowed SubscribeURL is refused as a bad signature, never fetched and never a 5xx.
    assert_problem(res, 401, "signature_invalid").await;
    assert_eq!(server.hits().len(), hits_before, "nothing fetched");
    assert!(app.recorded_events(&Services::redis_url()).await.is_empty());
}

#[tokio::test]
async fn minio_webhooks_need_the_bearer_token() {
    let app = redis_app("").await;
    assert_eq!(
        app.http
            .head(app.url("/v1/callbacks/media"))
            .send()
            .await
            .expect("head")
            .status()
            .as_u16(),
        200
    );
    let event = json!({"EventName": "s3:ObjectCreated:Put", "Key": "pb-test/minio/a+b.txt", "Records": [{
        "eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": Services::s3_bucket()},
        "object": {"key": "minio/a+b.txt", "size": 5, "eTag": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "contentType": "text/plain"}}}]});
    let send = |auth: &'static str| {
        let mut r = app.http.post(app.url("/v1/callbacks/media")).json(&event);
        if !auth.is_empty() {
            r = r.header("authorization", auth);
        }
        r.send()
    };
    assert_problem(
        send("Bearer wrong-token").await.expect("req"),
        401,
        "signature_invalid",
    )
    .await;
    assert_problem(send("").await.expect("req"), 401, "signature_invalid").await;
    let good = format!("Bearer {}", Services::webhook_token());
    let good: &'static str = Box::leak(good.into_boxed_str());
    assert_eq!(send(good).await.expect("req").status().as_u16(), 200);
    assert_eq!(send(good).await.expect("req").status().as_u16(), 200);
    let events = app.recorded_events(&Services::redis_url()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["key"], "minio/a b.txt");
    assert_eq!(events[0]["content_type"], "text/plain");
    assert_eq!(events[0]["source"], "minio-webhook");
    // Stores without callbacks do not take any.
    let res = app
        .http
        .post(app.url("/v1/callbacks/wx"))
        .body("{}")
        .send()
        .await
        .expect("req");
    assert_problem(res, 404, "not_found").await;
}

/// Waits until the stream holds an event for `key`; returns every event for it.
async fn events_for(app: &TestApp, key: &str, at_least: usize) -> Vec<Value> {
    // Polls up to 10 s: deliveries are asynchronous.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<Value> = app
            .recorded_events(&Services::redis_url())
            .await
            .into_iter()
            .filter(|e| e["key"] == key)
            .collect();
        if events.len() >= at_least || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn seaweedfs_posts_real_events_which_are_recorded_once_and_shared_with_confirm() {
    // SeaweedFS (scripts/services.sh) posts filer events to this fixed port's /v1/callbacks/seaweed.
    let extra = format!(
        "[stores.seaweed]\nprovider = \"s3\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nbucket = \"{}\"\npath_style = true\n\
         access_key = \"{}\"\nsecret_key = \"{}\"\n[stores.seaweed.callback]\nwebhook_token = \"{}\"\n",
        Services::s3_endpoint(),
        Services::s3_bucket(),
        Services::s3_access_key(),
        Services::s3_secret_key(),
        Services::webhook_token()
    );
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        extra,
        port: Some(Services::webhook_port()),
        ..Default::default()
    })
    .await;
    let t = token("svc", &["service"]);
    let key = format!(
        "shared/webhook-{}/photo ü.png",
        uuid::Uuid::new_v4().simple()
    );
    let (_, cred) = app
        .post_json(
            "/v1/uploads",
            &t,
            &json!({"store": "seaweed", "key": key, "method": "PUT", "content_type": "image/png"}),
        )
        .await;
    let res = app
        .http
        .put(cred["url"].as_str().expect("url"))
        .header("content-type", "image/png")
        .body(vec![7u8; 4321])
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status().as_u16(), 200);
    let etag = res.headers()["etag"]
        .to_str()
        .expect("etag")
        .trim_matches('"')
        .to_string();

    let events = events_for(&app, &key, 1).await;
    assert_eq!(
        events.len(),
        1,
        "exactly one event for one upload: {events:?}"
    );
    assert_eq!(events[0]["source"], "seaweedfs-webhook");
    assert_eq!(events[0]["size"], 4321);
    assert_eq!(events[0]["etag"], etag.as_str());
    assert_eq!(events[0]["bucket"], Services::s3_bucket().as_str());

    // A confirm of the same object is the same event: never counted twice.
    let (status, confirmed) = app
        .post_json(
            "/v1/uploads/confirm",
            &t,
            &json!({"store": "seaweed", "key": key}),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    // SeaweedFS delivers within ~25 ms; a second of quiet shows nothing more arrives.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events_for(&app, &key, 1).await.len(), 1);

    // A multipart upload is one event too (the .uploads staging entries are not uploads).
    let mkey = format!("{key}.multi");
    let (_, created) = app
        .post_json(
            "/v1/multipart",
            &t,
            &json!({"store": "seaweed", "key": mkey}),
        )
        .await;
    let upload_id = created["upload_id"].as_str().expect("id").to_string();
    let enc = url::form_urlencoded::byte_serialize(upload_id.as_bytes()).collect::<String>();
    let (_, signed) = app
        .post_json(
            &format!("/v1/multipart/{enc}/parts"),
            &t,
            &json!({"store": "seaweed", "key": mkey, "handle": created["handle"], "part_numbers": [1, 2]}),
        )
        .await;
    let mut parts = Vec::new();
    for (i, p) in signed["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .enumerate()
    {
        let size = if i == 0 { 5 << 20 } else { 10 };
        let res = app
            .http
            .put(p["url"].as_str().expect("url"))
            .body(vec![1u8; size])
            .send()
            .await
            .expect("part");
        parts.push(
            json!({"part_number": i + 1, "etag": res.headers()["etag"].to_str().expect("etag")}),
        );
    }
    let (status, done) = app
        .post_json(
            &format!("/v1/multipart/{enc}/complete"),
            &t,
            &json!({"store": "seaweed", "key": mkey, "handle": created["handle"], "parts": parts}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let events = events_for(&app, &mkey, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events_for(&app, &mkey, 1).await.len(), 1, "{events:?}");
    assert_eq!(events[0]["etag"], done["etag"]);
}

/// A Redis of this test's own, so it can be killed and restarted (the append-only file keeps the data).
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut me = Self {
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        me.restart();
        me
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                // Each write on disk before its reply: with the default `everysec`, a killed Redis may lose
                // writes it acknowledged, and the broker's 200s with them.
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/services.sh install)");
        self.child = Some(child);
        // Accepting connections is not serving them (`-LOADING` while the append-only file is read): PONG is.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.pongs() {
            assert!(Instant::now() < deadline, "own redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pongs(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0u8; 7];
        s.set_read_timeout(Some(Duration::from_secs(1))).is_ok()
            && s.write_all(b"PING\r\n").is_ok()
            && s.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// `calls` of each command since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
    async fn command_calls(&self) -> std::collections::HashMap<String, u64> {
        let mut conn = crate::helpers::redis_conn(&self.url()).await;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .expect("INFO");
        // cmdstat_evalsha:calls=200,usec=...
        info.lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.strip_prefix("calls=")?.split(',').next()?;
                Some((name.to_string(), calls.parse().ok()?))
            })
            .collect()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_stopped_mid_run_means_503_then_recovery_without_a_restart() {
    let mut redis = OwnRedis::start();
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_url: Some(redis.url()),
        redis_settings: "timeout_ms = 500".into(),
        ..Default::default()
    })
    .await;
    let alice = token("alice", &["user"]);
    let mut acknowledged = Vec::new();
    let first = qiniu_upload(&app, "alice", "users/alice/before.png", "Fbefore").await;
    assert_eq!(
        deliver(&app, &first, Scheme::QBox, untouched())
            .await
            .status()
            .as_u16(),
        200
    );
    acknowledged.push("users/alice/before.png");

    redis.stop();
    let during = qiniu_upload(&app, "alice", "users/alice/during.png", "Fduring").await;
    for _ in 0..3 {
        let started = Instant::now();
        let res = deliver(&app, &during, Scheme::QBox, untouched()).await;
        assert!(res.headers().contains_key("retry-after"));
        assert_problem(res, 503, "unavailable").await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "503 within the timeout, took {:?}",
            started.elapsed()
        );
    }
    let (status, _) = app
        .post_json(
            "/v1/uploads",
            &alice,
            &json!({"store": "wx", "key": "users/alice/still.jpg"}),
        )
        .await;
    assert_eq!(status, 200, "credentials keep being issued");
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status()
            .as_u16(),
        503
    );

    redis.restart();
    let mut recovered = false;
    for _ in 0..40 {
        if deliver(&app, &during, Scheme::QBox, untouched())
            .await
            .status()
            .as_u16()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "callbacks succeed again once Redis is back");
    acknowledged.push("users/alice/during.png");
    assert_eq!(
        deliver(&app, &first, Scheme::QBox, untouched())
            .await
            .status()
            .as_u16(),
        200,
        "a duplicate after recovery"
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status()
            .as_u16(),
        200
    );

    let keys: Vec<String> = app
        .recorded_events(&redis.url())
        .await
        .iter()
        .map(|e| e["key"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        keys, acknowledged,
        "every acknowledged callback exactly once"
    );
}

/// deadpool-redis checks every connection leaving the pool with a round trip (UNWATCH + PING): a callback
/// would cost two Redis round trips. The broker's pool checks only idle connections (src/events/redis/pool.rs).
#[tokio::test]
async fn a_callback_costs_one_redis_command_and_no_connection_check() {
    let redis = OwnRedis::start();
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    let mut uploads = Vec::new();
    for i in 0..20 {
        let key = format!("users/alice/count-{i}.png");
        uploads.push(qiniu_upload(&app, "alice", &key, &format!("Fcount{i}")).await);
    }
    let mut conn = crate::helpers::redis_conn(&redis.url()).await;
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .expect("RESETSTAT");
    // 200 callbacks: each upload delivered 10 times at once (one first delivery, nine duplicates).
    for cb in &uploads {
        let deliveries = (0..10).map(|_| deliver(&app, cb, Scheme::QBox, untouched()));
        for res in futures_util::future::join_all(deliveries).await {
            assert_eq!(res.status().as_u16(), 200);
        }
    }
    let calls = redis.command_calls().await;
    eprintln!("INFO commandstats over 200 callbacks: {calls:?}");
    let count = |name: &str| calls.get(name).copied().unwrap_or(0);
    let scripts = count("evalsha") + count("eval");
    assert!(scripts >= 200, "one script run per callback: {calls:?}");
    // Before: ~200 of each. An idle connection is still checked (a slow machine may idle one past the window).
    assert!(
        count("ping") + count("unwatch") < 20,
        "connection checks per callback: {calls:?}"
    );
    assert_eq!(app.recorded_events(&redis.url()).await.len(), 20);
}

/// Delivers every callback of `batch` at once: (key, status, time taken) each.
async fn deliver_all(
    app: &TestApp,
    batch: &[(String, QiniuCallback)],
) -> Vec<(String, u16, Duration)> {
    let sent = batch.iter().map(|(key, cb)| async move {
        let started = Instant::now();
        let status = deliver(app, cb, Scheme::QBox, untouched())
            .await
            .status()
            .as_u16();
        (key.clone(), status, started.elapsed())
    });
    futures_util::future::join_all(sent).await
}

/// Redis killed and restarted under a warm pool (every pooled connection dead, yet used a moment ago, so not
/// checked): the first callbacks after it find the broken connections, and are retried on fresh ones.
#[tokio::test]
async fn a_redis_restart_costs_no_callback_and_loses_none() {
    let mut redis = OwnRedis::start();
    let app = TestApp::spawn_with(AppOptions {
        redis: true,
        redis_url: Some(redis.url()),
        redis_settings: "timeout_ms = 500".into(),
        ..Default::default()
    })
    .await;
    let mut uploads = Vec::new();
    for i in 0..32 {
        let key = format!("users/alice/restart-{i}.png");
        uploads.push((
            key.clone(),
            qiniu_upload(&app, "alice", &key, &format!("Frs{i}")).await,
        ));
    }
    let (before, after) = uploads.split_at(16);
    let mut acknowledged = Vec::new();
    for (key, status, _) in deliver_all(&app, before).await {
        assert_eq!(status, 200, "{key}");
        acknowledged.push(key);
    }

    redis.stop();
    redis.restart();
    for (key, status, took) in deliver_all(&app, after).await {
        assert!(
            took < Duration::from_secs(2),
            "{key}: {status} after {took:?}"
        );
        assert!(status == 200 || status == 503, "{key}: {status}");
        if status == 200 {
            acknowledged.push(key);
        }
    }
    assert_eq!(
        acknowledged.len(),
        32,
        "a dead pooled connection is retried once on a fresh one: no 503 for a restart"
    );
    assert_eq!(
        deliver(&app, &after[0].1, Scheme::QBox, untouched())
            .await
            .status()
            .as_u16(),
        200
    );
    let mut keys: Vec<String> = app
        .recorded_events(&redis.url())
        .await
        .iter()
        .map(|e| e["key"].as_str().unwrap_or("").to_string())
        .collect();
    keys.sort();
    acknowledged.sort();
    assert_eq!(
        keys, acknowledged,
        "every acknowledged callback exactly once"
    );
}
