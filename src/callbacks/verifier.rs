//! One verifier per callback family, owning every check of a delivery (signature, ticket, bucket, webhook
//! token, SNS TopicArn) and yielding normalized events plus the answer the provider expects. The route picks
//! the verifier from the store's configuration and never looks inside the body (docs/ARCHITECTURE.md).
use actix_web::HttpRequest;
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::oss::{
    pub_key_url, verify_with_key as oss_verify_with_key, CallbackBody,
    CallbackRequest as OssCallbackRequest, OssCallbackError, PubKeyCache,
};
use super::{
    parse_s3_event_records, parse_webhook_with_source, CertCache, ObjectCreated, SnsMessage,
    SnsMessageType,
};
use crate::error::ApiError;
use crate::providers::qiniu::{CallbackRequest, QiniuStore};

/// What a verifier needs besides its own settings.
pub struct CallbackContext<'a> {
    pub store: &'a str,
    pub bucket: &'a str,
    pub ticket_key: &'a [u8],
    pub sns_certs: &'a CertCache,
    pub sns_http: &'a reqwest::Client,
    /// The time a ticket's expiry and an SNS `Timestamp` are judged against.
    pub now: chrono::DateTime<chrono::Utc>,
    /// How long an idempotency key catches a replay: nothing older may be recorded (src/replay.rs).
    pub idempotency_ttl_seconds: u64,
}

/// A verified delivery: the uploads it reports and the answer to give.
pub struct Verified {
    /// `qiniu-callback`, `minio-webhook`, `seaweedfs-webhook`, `sns`.
    pub source: &'static str,
    /// Uploads of this store's bucket, with the subject when the delivery proves it.
    pub objects: Vec<(ObjectCreated, Option<String>)>,
    /// Extra idempotency ids (an SNS MessageId, so a redelivery is a duplicate).
    pub aliases: Vec<String>,
    pub answer: Answer,
}

/// The body a provider expects back.
pub enum Answer {
    /// `{"recorded": n}` (webhooks, SNS notifications).
    RecordedCount,
    /// This JSON, as is (Qiniu relays it to the uploading client).
    Json(serde_json::Value),
    /// An empty 200 (SNS subscription handshakes).
    Empty,
}

/// A callback family's checks (futures are local: they borrow the actix request, which is not `Send`).
pub trait CallbackVerifier: Send + Sync {
    /// Whether credentials must carry a broker ticket in the provider's callback URL (Qiniu, OSS).
    fn uses_ticket(&self) -> bool {
        false
    }

    fn verify<'a>(
        &'a self,
        ctx: &'a CallbackContext<'a>,
        req: &'a HttpRequest,
        body: &'a [u8],
    ) -> LocalBoxFuture<'a, Result<Verified, ApiError>>;
}

fn rejected(why: impl Into<String>) -> ApiError {
    ApiError::SignatureInvalid(why.into())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Qiniu upload callbacks: QBox/Qiniu signature, the broker ticket binding (store, key, subject), the bucket.
pub struct QiniuVerifier {
    store: QiniuStore,
}

impl QiniuVerifier {
    pub fn new(store: QiniuStore) -> Self {
        Self { store }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Deserialize)]
struct QiniuBody {
    key: String,
    hash: String,
    fsize: u64,
    bucket: String,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
    sub: String,
}

impl CallbackVerifier for QiniuVerifier {
    fn uses_ticket(&self) -> bool {
        true
    }

    fn verify<'a>(
        &'a self,
        ctx: &'a CallbackContext<'a>,
        req: &'a HttpRequest,
        body: &'a [u8],
    ) -> LocalBoxFuture<'a, Result<Verified, ApiError>> {
        Box::pin(async move { self.check(ctx, req, body) })
    }
}

impl QiniuVerifier {
    fn check(
        &self,
        ctx: &CallbackContext<'_>,
        req: &HttpRequest,
        body: &[u8],
    ) -> Result<Verified, ApiError> {
        // Our tokens ask for a form body; under QBox any other type would leave the body unsigned.
        let content_type = header(req, "content-type");
        if content_type != Some(FORM) {
            return Err(rejected(
                "Qiniu callbacks must be application/x-www-form-urlencoded",
            ));
        }
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let host = header(req, "host")
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let signed = CallbackRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            host,
            content_type,
            headers: &headers,
            body,
            authorization: header(req, "authorization"),
        };
        self.store
            .verify_callback(&signed)
            .map_err(|e| rejected(format!("Qiniu signature: {e}")))?;
        let fields: QiniuBody = serde_urlencoded::from_bytes(body)
            .map_err(|e| rejected(format!("callback body: {e}")))?;
        check_ticket(ctx, req, &fields.key, &fields.sub)?;
        if fields.bucket != ctx.bucket {
            return Err(rejected("the callback names another bucket"));
        }
        // Qiniu relays this to the uploading client; anything else fails its upload with 579.
        let answer = serde_json::json!({
            "key": fields.key, "hash": fields.hash, "fsize": fields.fsize, "bucket": fields.bucket,
        });
        let object = ObjectCreated {
            bucket: fields.bucket,
            key: fields.key,
            size: Some(fields.fsize),
            etag: fields.hash,
            content_type: fields.mime_type.filter(|m| !m.is_empty()),
            version_id: None,
            event_name: "qiniu:callback".into(),
        };
        Ok(Verified {
            source: "qiniu-callback",
            objects: vec![(object, Some(fields.sub))],
            aliases: Vec::new(),
            answer: Answer::Json(answer),
        })
    }
}

/// The broker ticket of the callback URL (`?t=`) must bind this store, the reported key and subject.
fn check_ticket(
    ctx: &CallbackContext<'_>,
    req: &HttpRequest,
    key: &str,
    subject: &str,
) -> Result<(), ApiError> {
    let ticket = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if crate::ticket::verify(
        ctx.ticket_key,
        ctx.store,
        key,
        subject,
        &ticket,
        ctx.now.timestamp(),
    ) {
        Ok(())
    } else {
        Err(rejected(
            "the callback ticket does not match this store, key and subject, or has expired",
        ))
    }
}

const TOKEN_COMPARE_KEY: &[u8] = b"presign-broker webhook token comparison";

/// S3-family notifications: MinIO/SeaweedFS webhooks (a bearer token) and Amazon SNS (signature, TopicArn,
/// certificate URL allow-list). A request with `Authorization` is a webhook delivery, one without is SNS.
pub struct S3Verifier {
    webhook_token: Option<Vec<u8>>,
    sns_topic_arns: Vec<String>,
    sns_cert_url_pattern: regex::Regex,
}

impl S3Verifier {
    pub fn new(c: &crate::config::S3CallbackConfig) -> Result<Self, String> {
        Ok(Self {
            webhook_token: c
                .webhook_token
                .as_ref()
                .map(|t| token_digest(t.expose().as_bytes())),
            sns_topic_arns: c.sns_topic_arns.clone(),
            sns_cert_url_pattern: regex::Regex::new(&c.sns_cert_url_pattern)
                .map_err(|e| format!("callback.sns_cert_url_pattern: {e}"))?,
        })
    }

    /// Constant-time comparison of a presented bearer token with the configured one.
    fn webhook_token_matches(&self, presented: &[u8]) -> bool {
        let Some(expected) = &self.webhook_token else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_COMPARE_KEY)
            .unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(presented);
        mac.verify_slice(expected).is_ok()
    }

    fn in_bucket(
        ctx: &CallbackContext<'_>,
        objects: Vec<ObjectCreated>,
    ) -> Vec<(ObjectCreated, Option<String>)> {
        objects
            .into_iter()
            .filter(|o| o.bucket == ctx.bucket)
            .map(|o| (o, None))
            .collect()
    }

    fn webhook(
        &self,
        ctx: &CallbackContext<'_>,
        auth: &str,
        body: &[u8],
    ) -> Result<Verified, ApiError> {
        let token = auth
            .strip_prefix("Bearer ")
            .ok_or_else(|| rejected("expected a Bearer webhook token"))?;
        if !self.webhook_token_matches(token.as_bytes()) {
            return Err(rejected("webhook token mismatch"));
        }
        let (source, objects) = parse_webhook_with_source(body)
            .map_err(|e| ApiError::InvalidRequest(format!("webhook body: {e}")))?;
        Ok(Verified {
            source,
            objects: Self::in_bucket(ctx, objects),
            aliases: Vec::new(),
            answer: Answer::RecordedCount,
        })
    }

    async fn sns(&self, ctx: &CallbackContext<'_>, body: &[u8]) -> Result<Verified, ApiError> {
        let msg = SnsMessage::parse(body).map_err(|e| rejected(format!("SNS message: {e}")))?;
        if !self.sns_topic_arns.contains(&msg.topic_arn) {
            return Err(rejected("SNS TopicArn is not accepted for this store"));
        }
        let key = ctx
            .sns_certs
            .get(
                ctx.sns_http,
                &msg.signing_cert_url,
                &self.sns_cert_url_pattern,
            )
            .await
            .map_err(|e| match e {
                super::SnsError::CertFetch(m) => {
                    ApiError::Unavailable(format!("SNS certificate: {m}"))
                }
                other => rejected(format!("SNS certificate: {other}")),
            })?;
        super::verify_with_key(&msg, &key).map_err(|e| rejected(format!("SNS signature: {e}")))?;
        crate::replay::sns_message_fresh(&msg.timestamp, ctx.now, ctx.idempotency_ttl_seconds)
            .map_err(rejected)?;
        let handshake = |answer| Verified {
            source: "sns",
            objects: Vec::new(),
            aliases: Vec::new(),
            answer,
        };
        match msg.kind().map_err(|e| rejected(e.to_string()))? {
            SnsMessageType::SubscriptionConfirmation => {
                super::confirm_subscription(ctx.sns_http, &msg, &self.sns_cert_url_pattern)
                    .await
                    .map_err(|e| match e {
                        // A disallowed SubscribeURL is a forged or misdirected message, never fetched.
                        super::SnsError::SubscribeUrlNotAllowed => rejected(e.to_string()),
                        e => {
                            ApiError::Upstream(format!("SNS subscription confirmation: {e}"), None)
                        }
                    })?;
                tracing::info!(store = %ctx.store, topic = %msg.topic_arn, "SNS subscription confirmed");
                Ok(handshake(Answer::Empty))
            }
            SnsMessageType::UnsubscribeConfirmation => Ok(handshake(Answer::Empty)),
            SnsMessageType::Notification => {
                let objects = parse_s3_event_records(msg.message.as_bytes())
                    .map_err(|e| ApiError::InvalidRequest(format!("SNS message body: {e}")))?;
                Ok(Verified {
                    source: "sns",
                    objects: Self::in_bucket(ctx, objects),
                    // A redelivered SNS message is a duplicate even when its object was never seen.
                    aliases: vec![format!("sns:{}", msg.message_id)],
                    answer: Answer::RecordedCount,
                })
            }
        }
    }
}

impl CallbackVerifier for S3Verifier {
    fn verify<'a>(
        &'a self,
        ctx: &'a CallbackContext<'a>,
        req: &'a HttpRequest,
        body: &'a [u8],
    ) -> LocalBoxFuture<'a, Result<Verified, ApiError>> {
        Box::pin(async move {
            match header(req, "authorization") {
                Some(auth) => self.webhook(ctx, auth, body),
                None if !self.sns_topic_arns.is_empty() => self.sns(ctx, body).await,
                None => Err(rejected("missing Authorization")),
            }
        })
    }
}

/// Both sides go through the same HMAC, so the comparison time says nothing about the token.
fn token_digest(token: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_COMPARE_KEY)
        .unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(token);
    mac.finalize().into_bytes().to_vec()
}

/// Aliyun OSS upload callbacks: the RSA-MD5 signature (key fetched only from a URL matching the store's
/// `oss_pub_key_url_pattern`, without redirects, and cached), the broker ticket binding (store, key, subject),
/// the bucket.
pub struct OssVerifier {
    pub_key_url_pattern: regex::Regex,
    keys: PubKeyCache,
    /// Key fetches only: no redirects (a redirect could leave the allowed URLs), short timeouts.
    http: reqwest::Client,
}

impl OssVerifier {
    pub fn new(pub_key_url_pattern: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("callback: the HTTP client fetching OSS keys: {e}"))?;
        Ok(Self {
            pub_key_url_pattern: regex::Regex::new(pub_key_url_pattern)
                .map_err(|e| format!("oss_pub_key_url_pattern: {e}"))?,
            keys: PubKeyCache::default(),
            http,
        })
    }

    async fn check(
        &self,
        ctx: &CallbackContext<'_>,
        req: &HttpRequest,
        body: &[u8],
    ) -> Result<Verified, ApiError> {
        let oss = |e: OssCallbackError| match e {
            // OSS retries a failed callback: a key server that is down is not the sender's fault.
            OssCallbackError::KeyFetch(m) => {
                ApiError::Unavailable(format!("OSS callback key: {m}"))
            }
            other => rejected(other.to_string()),
        };
        let key_url = header(req, "x-oss-pub-key-url")
            .ok_or(OssCallbackError::MissingHeader("x-oss-pub-key-url"))
            .map_err(oss)?;
        let authorization = header(req, "authorization")
            .ok_or(OssCallbackError::MissingHeader("authorization"))
            .map_err(oss)?;
        let url = pub_key_url(key_url, &self.pub_key_url_pattern).map_err(oss)?;
        let key = self
            .keys
            .get(&self.http, &url, &self.pub_key_url_pattern)
            .await
            .map_err(oss)?;
        let signed = OssCallbackRequest {
            raw_path: req.uri().path(),
            query: req.query_string(),
            body,
            authorization,
        };
        oss_verify_with_key(&key, &signed).map_err(oss)?;
        let fields = CallbackBody::parse(body).map_err(oss)?;
        check_ticket(ctx, req, &fields.key, &fields.subject)?;
        if fields.bucket != ctx.bucket {
            return Err(rejected("the callback names another bucket"));
        }
        // OSS relays this to the uploader; anything but 200 JSON fails the upload with 203 CallbackFailed.
        let answer = fields.answer_json();
        let object = ObjectCreated {
            etag: super::normalize_etag(&fields.etag).unwrap_or(fields.etag),
            bucket: fields.bucket,
            key: fields.key,
            size: Some(fields.size),
            content_type: fields.mime_type,
            version_id: None,
            event_name: "oss:callback".into(),
        };
        Ok(Verified {
            source: "oss-callback",
            objects: vec![(object, Some(fields.subject))],
            aliases: Vec::new(),
            answer: Answer::Json(answer),
        })
    }
}

impl CallbackVerifier for OssVerifier {
    fn uses_ticket(&self) -> bool {
        true
    }

    fn verify<'a>(
        &'a self,
        ctx: &'a CallbackContext<'a>,
        req: &'a HttpRequest,
        body: &'a [u8],
    ) -> LocalBoxFuture<'a, Result<Verified, ApiError>> {
        Box::pin(self.check(ctx, req, body))
    }
}
