//! `POST /v1/callbacks/{store}`: provider callbacks, verified, de-duplicated and recorded exactly once.
//! A 2xx always means "recorded (now or before)"; when the event store is down the answer is 503, so the
//! provider retries, and nothing unverified ever reaches the store.
use actix_web::{head, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use crate::callbacks::{
    parse_s3_event_records, parse_webhook, ObjectCreated, SnsMessage, SnsMessageType,
};
use crate::error::ApiError;
use crate::providers::qiniu::CallbackRequest;
use crate::providers::store::{S3Callbacks, Store};
use crate::providers::Backend;
use crate::state::AppState;
use crate::store::{Recorded, UploadEvent};

const FORM: &str = "application/x-www-form-urlencoded";

/// MinIO probes its webhook target with a HEAD before delivering.
#[utoipa::path(params(("store" = String, Path,)), responses((status = 200, description = "the endpoint is alive")), tag = "callbacks")]
#[head("/v1/callbacks/{store}")]
pub async fn liveness(
    state: web::Data<AppState>,
    store: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.store(&store)?;
    Ok(HttpResponse::Ok().finish())
}

/// Receive a provider callback (Qiniu upload callback, MinIO/SeaweedFS webhook, Amazon SNS).
#[utoipa::path(
    params(("store" = String, Path,)),
    request_body(content = String, description = "the provider's own body, verified byte for byte"),
    responses(
        (status = 200, description = "recorded, now or before (Qiniu: {key,hash,fsize,bucket})"),
        (status = 401, description = "signature_invalid: nothing recorded"),
        (status = 404, description = "unknown_store, or the store takes no callbacks"),
        (status = 503, description = "unavailable: the event store is down; retry"),
    ),
    tag = "callbacks"
)]
#[post("/v1/callbacks/{store}")]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    store: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let store = state.store(&store)?;
    let result = match &store.backend {
        Backend::Qiniu { callback: true, .. } => qiniu(&state, store, &req, &body).await,
        Backend::S3 {
            callback: Some(cb), ..
        } => s3_family(&state, store, cb, &req, &body).await,
        _ => Err(ApiError::NotFound(format!(
            "store {:?} takes no callbacks",
            store.name
        ))),
    };
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(ApiError::SignatureInvalid(_)) => "rejected",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "error",
    };
    metrics::counter!("callbacks_total", "provider" => store.provider(), "outcome" => outcome)
        .increment(1);
    if let Err(e) = &result {
        tracing::warn!(store = %store.name, error = %e, "callback not accepted");
    }
    result
}

fn rejected(why: impl Into<String>) -> ApiError {
    ApiError::SignatureInvalid(why.into())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn new_event(
    store: &Store,
    source: &str,
    o: &ObjectCreated,
    subject: Option<String>,
) -> UploadEvent {
    UploadEvent {
        id: ulid::Ulid::new().to_string(),
        provider: store.provider().to_string(),
        store: store.name.clone(),
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        size: o.size,
        etag: o.etag.clone(),
        content_type: o.content_type.clone(),
        subject,
        received_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source: source.to_string(),
        version_id: o.version_id.clone(),
        rejected: false,
    }
}

/// Records one event under its object identity (plus any aliases); logs and counts duplicates.
async fn record(
    state: &AppState,
    event: &UploadEvent,
    aliases: &[String],
) -> Result<Recorded, ApiError> {
    let mut ids = vec![event.idempotency_id()];
    ids.extend_from_slice(aliases);
    let recorded = state.events.record(&ids, event).await?;
    if recorded == Recorded::Duplicate {
        metrics::counter!("callbacks_total", "provider" => event.provider.clone(), "outcome" => "duplicate").increment(1);
    }
    tracing::info!(store = %event.store, key = %event.key, source = %event.source,
        duplicate = recorded == Recorded::Duplicate, "upload event");
    Ok(recorded)
}

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

#[derive(serde::Serialize)]
struct QiniuAnswer<'a> {
    key: &'a str,
    hash: &'a str,
    fsize: u64,
    bucket: &'a str,
}

async fn qiniu(
    state: &AppState,
    store: &Store,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let Backend::Qiniu { store: qiniu, .. } = &store.backend else {
        return Err(ApiError::Internal("not a Qiniu store".into()));
    };
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
    qiniu
        .verify_callback(&signed)
        .map_err(|e| rejected(format!("Qiniu signature: {e}")))?;
    let fields: QiniuBody =
        serde_urlencoded::from_bytes(body).map_err(|e| rejected(format!("callback body: {e}")))?;
    let ticket =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("t").cloned())
            .unwrap_or_default();
    if !crate::ticket::verify(
        &state.ticket_key,
        &store.name,
        &fields.key,
        &fields.sub,
        &ticket,
        chrono::Utc::now().timestamp(),
    ) {
        return Err(rejected(
            "the callback ticket does not match this store, key and subject, or has expired",
        ));
    }
    if fields.bucket != store.bucket {
        return Err(rejected("the callback names another bucket"));
    }
    let object = ObjectCreated {
        bucket: fields.bucket.clone(),
        key: fields.key.clone(),
        size: Some(fields.fsize),
        etag: fields.hash.clone(),
        content_type: fields.mime_type.clone().filter(|m| !m.is_empty()),
        version_id: None,
        event_name: "qiniu:callback".into(),
    };
    record(
        state,
        &new_event(store, "qiniu-callback", &object, Some(fields.sub.clone())),
        &[],
    )
    .await?;
    // Qiniu relays this to the uploading client; anything else fails its upload with 579.
    Ok(HttpResponse::Ok().json(QiniuAnswer {
        key: &fields.key,
        hash: &fields.hash,
        fsize: fields.fsize,
        bucket: &fields.bucket,
    }))
}

async fn s3_family(
    state: &AppState,
    store: &Store,
    cb: &S3Callbacks,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    match header(req, "authorization") {
        Some(auth) => {
            let token = auth
                .strip_prefix("Bearer ")
                .ok_or_else(|| rejected("expected a Bearer webhook token"))?;
            if !cb.webhook_token_matches(token.as_bytes()) {
                return Err(rejected("webhook token mismatch"));
            }
            let source = if body.windows(10).any(|w| w == b"event_type") {
                "seaweedfs-webhook"
            } else {
                "minio-webhook"
            };
            let objects = parse_webhook(body)
                .map_err(|e| ApiError::InvalidRequest(format!("webhook body: {e}")))?;
            record_objects(state, store, source, &objects, &[]).await
        }
        None if !cb.sns_topic_arns.is_empty() => sns(state, store, cb, body).await,
        None => Err(rejected("missing Authorization")),
    }
}

async fn record_objects(
    state: &AppState,
    store: &Store,
    source: &str,
    objects: &[ObjectCreated],
    aliases: &[String],
) -> Result<HttpResponse, ApiError> {
    let mut recorded = 0;
    for object in objects.iter().filter(|o| o.bucket == store.bucket) {
        if record(state, &new_event(store, source, object, None), aliases).await? == Recorded::New {
            recorded += 1;
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "recorded": recorded })))
}

async fn sns(
    state: &AppState,
    store: &Store,
    cb: &S3Callbacks,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let msg = SnsMessage::parse(body).map_err(|e| rejected(format!("SNS message: {e}")))?;
    if !cb.sns_topic_arns.contains(&msg.topic_arn) {
        return Err(rejected("SNS TopicArn is not accepted for this store"));
    }
    let key = state
        .sns_certs
        .get(
            &state.sns_http,
            &msg.signing_cert_url,
            &cb.sns_cert_url_pattern,
        )
        .await
        .map_err(|e| match e {
            crate::callbacks::SnsError::CertFetch(m) => {
                ApiError::Unavailable(format!("SNS certificate: {m}"))
            }
            other => rejected(format!("SNS certificate: {other}")),
        })?;
    crate::callbacks::verify_with_key(&msg, &key)
        .map_err(|e| rejected(format!("SNS signature: {e}")))?;
    crate::replay::sns_message_fresh(
        &msg.timestamp,
        chrono::Utc::now(),
        state.idempotency_ttl_seconds(),
    )
    .map_err(rejected)?;
    match msg.kind().map_err(|e| rejected(e.to_string()))? {
        SnsMessageType::SubscriptionConfirmation => {
            crate::callbacks::confirm_subscription(&state.sns_http, &msg, &cb.sns_cert_url_pattern)
                .await
                .map_err(|e| match e {
                    // A disallowed SubscribeURL is a forged or misdirected message, never fetched.
                    crate::callbacks::SnsError::SubscribeUrlNotAllowed => rejected(e.to_string()),
                    e => ApiError::Upstream(format!("SNS subscription confirmation: {e}")),
                })?;
            tracing::info!(store = %store.name, topic = %msg.topic_arn, "SNS subscription confirmed");
            Ok(HttpResponse::Ok().finish())
        }
        SnsMessageType::UnsubscribeConfirmation => Ok(HttpResponse::Ok().finish()),
        SnsMessageType::Notification => {
            let objects = parse_s3_event_records(msg.message.as_bytes())
                .map_err(|e| ApiError::InvalidRequest(format!("SNS message body: {e}")))?;
            // A redelivered SNS message is a duplicate even when its object was never seen.
            let alias = format!("sns:{}", msg.message_id);
            record_objects(state, store, "sns", &objects, &[alias]).await
        }
    }
}
