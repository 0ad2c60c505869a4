//! `POST /v1/callbacks/{store}`: provider callbacks, verified, de-duplicated and recorded exactly once.
//! A 2xx always means "recorded (now or before)"; when the event store is down the answer is 503, so the
//! provider retries, and nothing unverified ever reaches the store.
use actix_web::{head, post, web, HttpRequest, HttpResponse};
use chrono::Utc;

use crate::callbacks::{Answer, CallbackContext, ObjectCreated, Verified};
use crate::error::ApiError;
use crate::events::{Recorded, UploadEvent};
use crate::providers::Store;
use crate::state::AppState;

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

/// Receive a provider callback (Qiniu or Aliyun OSS upload callback, MinIO/SeaweedFS webhook, Amazon SNS).
#[utoipa::path(
    params(("store" = String, Path,)),
    request_body(content = String, description = "the provider's own body, verified byte for byte"),
    responses(
        (status = 200, description = "recorded, now or before (Qiniu: {key,hash,fsize,bucket}; OSS: {key,etag,size,bucket})"),
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
    let result = match &store.callbacks {
        Some(verifier) => {
            let ctx = CallbackContext {
                store: &store.name,
                bucket: &store.bucket,
                ticket_key: &state.ticket_key,
                sns_certs: &state.sns_certs,
                sns_http: &state.sns_http,
                now: Utc::now(),
                idempotency_ttl_seconds: state.idempotency_ttl_seconds(),
            };
            match verifier.verify(&ctx, &req, &body).await {
                Ok(verified) => record_all(&state, store, verified).await,
                Err(e) => Err(e),
            }
        }
        None => Err(ApiError::NotFound(format!(
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
    crate::telemetry::count(
        "callbacks_total",
        [("provider", store.provider_name()), ("outcome", outcome)],
        1,
    );
    if let Err(e) = &result {
        tracing::warn!(store = %store.name, error = %e, "callback not accepted");
    }
    result
}

/// Records every verified upload under its object identity (plus the delivery's aliases), then answers.
async fn record_all(
    state: &AppState,
    store: &Store,
    verified: Verified,
) -> Result<HttpResponse, ApiError> {
    let mut recorded = 0;
    for (object, subject) in &verified.objects {
        let event = new_event(store, verified.source, object, subject.clone());
        let mut ids = vec![event.idempotency_id()];
        ids.extend_from_slice(&verified.aliases);
        let outcome = state.events.record(&ids, &event).await?;
        if outcome == Recorded::Duplicate {
            crate::telemetry::count(
                "callbacks_total",
                [
                    ("provider", store.provider_name()),
                    ("outcome", "duplicate"),
                ],
                1,
            );
        } else {
            recorded += 1;
        }
        tracing::info!(store = %event.store, key = %event.key, source = %event.source,
            duplicate = outcome == Recorded::Duplicate, "upload event");
    }
    Ok(match verified.answer {
        Answer::RecordedCount => {
            HttpResponse::Ok().json(serde_json::json!({ "recorded": recorded }))
        }
        Answer::Json(value) => HttpResponse::Ok().json(value),
        Answer::Empty => HttpResponse::Ok().finish(),
    })
}

fn new_event(
    store: &Store,
    source: &str,
    o: &ObjectCreated,
    subject: Option<String>,
) -> UploadEvent {
    UploadEvent {
        id: ulid::Ulid::new().to_string(),
        provider: store.provider_name().to_string(),
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
