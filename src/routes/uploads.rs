//! `POST /v1/uploads` (direct-upload credentials) and `POST /v1/uploads/confirm` (signed HEAD + event).
use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authorize::{authorize, checked_key, resolve_key, Ask};
use super::fields::Fields;
use crate::error::ApiError;
use crate::events::{Recorded, UploadEvent};
use crate::extract::{ApiJson, Caller};
use crate::policy::{Action, Decision, Denial, Request};
use crate::providers::store::DEFAULT_MAX_UPLOAD_SIZE;
use crate::providers::{Capability, FormUpload, ObjectInfo, SignedUrl, UploadGrant};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum UploadMethod {
    /// An HTML-form (`multipart/form-data`) POST: what `wx.uploadFile` does.
    #[default]
    Post,
    /// A presigned URL the client PUTs the body to.
    Put,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub store: String,
    /// Object key; optional when `filename` is given and the matching rule has a `key_template`.
    pub key: Option<String>,
    /// Client file name, for rules with a `key_template` (`{ext}`, `{filename}`).
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// Declared size in bytes; a PUT URL signs it as `content-length`.
    pub size: Option<u64>,
    /// Seconds; capped (never refused) by the rule's `max_expires` and the store's maximum.
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub method: UploadMethod,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadCredential {
    pub store: String,
    /// `s3`, `cos`, `qiniu` or `oss`.
    pub provider: &'static str,
    pub key: String,
    pub method: UploadMethod,
    pub url: String,
    /// Form fields to send before the file (POST); `{}` for PUT.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub fields: Fields,
    /// Headers the client must send exactly (PUT); `{}` for POST.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub headers: Fields,
    pub expires_at: DateTime<Utc>,
    /// The largest object the credential admits, in bytes.
    pub max_size: u64,
}

/// Issue a direct-upload credential (form POST fields or a presigned PUT URL).
#[utoipa::path(
    request_body = UploadRequest,
    responses(
        (status = 200, body = UploadCredential),
        (status = 400, description = "invalid_request / invalid_key (a PUT without size under a max_size rule)"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied"),
        (status = 404, description = "unknown_store"),
        (status = 413, description = "payload_too_large"),
        (status = 415, description = "unsupported_media_type"),
        (status = 422, description = "unsupported (PUT on Qiniu)"),
    ),
    security(("bearer" = [])),
    tag = "uploads"
)]
#[post("/v1/uploads")]
pub async fn create_upload(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(issue_upload(&state, &caller, body.0)?))
}

/// The policy decision and the provider's credential for one direct upload: what `POST /v1/uploads` and the
/// Companion `s3/params` route both answer (each in its own shape).
pub fn issue_upload(
    state: &AppState,
    caller: &Caller,
    req: UploadRequest,
) -> Result<UploadCredential, ApiError> {
    let store = state.store(&req.store)?;
    let capability = match req.method {
        UploadMethod::Post => Capability::FormUpload,
        UploadMethod::Put => Capability::PresignedPut,
    };
    store.provider.require(capability)?;
    if req.expires_in == Some(0) {
        return Err(ApiError::InvalidRequest(
            "expires_in must be at least 1 second".into(),
        ));
    }
    let policies = state.policies.load();
    let key = resolve_key(
        &policies,
        caller,
        &req.store,
        Action::Upload,
        req.key.as_deref(),
        req.filename.as_deref(),
    )?;
    let ask = Ask {
        store: &req.store,
        action: Action::Upload,
        key: &key,
        content_type: req.content_type.as_deref(),
        size: req.size,
    };
    let rule = authorize(&policies, caller, &ask, true)?;
    // Without a signed content-length nothing would cap a PUT (docs/API.md "Direct upload credentials").
    if req.method == UploadMethod::Put && rule.max_size.is_some() && req.size.is_none() {
        return Err(ApiError::InvalidRequest(
            "size is required for a PUT credential when the rule sets a max_size".into(),
        ));
    }
    let now = Utc::now();
    let expires_in = store.effective_expiry(req.expires_in, rule.max_expires);
    let expires_at = now.timestamp() + expires_in as i64;
    let max_size = rule.max_size.unwrap_or(DEFAULT_MAX_UPLOAD_SIZE);
    // Accepted while the provider may still retry the callback of this credential.
    let callback_url = store.callback_url(
        &state.config.server.public_url,
        &state.ticket_key,
        &key,
        &caller.claims.sub,
        crate::ticket::valid_until(expires_at, state.config.callbacks.ticket_grace_seconds),
    );
    let grant = UploadGrant {
        key: &key,
        content_type: req.content_type.as_deref(),
        content_types: &rule.content_type_texts,
        size: req.size,
        max_size,
        overwrite: rule.overwrite,
        subject: &caller.claims.sub,
        now: now.timestamp(),
        expires_at,
        callback_url: callback_url.as_deref(),
    };
    let (url, fields, headers) = match req.method {
        UploadMethod::Post => form(store.provider.form_upload(&grant)?),
        UploadMethod::Put => put(store.provider.presigned_put(&grant)?),
    };
    let kind = if req.method == UploadMethod::Post {
        "form"
    } else {
        "put"
    };
    crate::telemetry::count(
        "credentials_issued_total",
        [("provider", store.provider_name()), ("kind", kind)],
        1,
    );
    Ok(UploadCredential {
        store: store.name.clone(),
        provider: store.provider_name(),
        key,
        method: req.method,
        url,
        fields,
        headers,
        expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or(now),
        max_size,
    })
}

fn form(f: FormUpload) -> (String, Fields, Fields) {
    (f.url, Fields::Static(f.fields), Fields::default())
}

fn put(s: SignedUrl) -> (String, Fields, Fields) {
    (s.url, Fields::default(), Fields::Owned(s.headers))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub store: String,
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedUpload {
    pub store: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub content_type: Option<String>,
}

/// Confirm an upload: a signed HEAD (S3, COS) or stat (Qiniu), checked against the rule, recorded as an event.
#[utoipa::path(
    request_body = ConfirmRequest,
    responses(
        (status = 200, body = ConfirmedUpload),
        (status = 404, description = "not_found: the object is absent"),
        (status = 413, description = "the object is larger than the rule allows (recorded as rejected)"),
        (status = 415, description = "the object's type is not allowed (recorded as rejected)"),
        (status = 502, description = "upstream_error"),
        (status = 503, description = "unavailable: the event store is down"),
    ),
    security(("bearer" = [])),
    tag = "uploads"
)]
#[post("/v1/uploads/confirm")]
pub async fn confirm_upload(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let store = state.store(&req.store)?;
    checked_key(&req.key)?;
    let policies = state.policies.load_full();
    // Scope first, so a caller learns nothing about objects it may not upload.
    let ask = Ask {
        store: &req.store,
        action: Action::Upload,
        key: &req.key,
        content_type: None,
        size: None,
    };
    authorize(&policies, &caller, &ask, false)?;
    let info: ObjectInfo = store.provider.stat(&state.http, &req.key).await?;
    let measured = Request {
        claims: &caller.claims,
        store: &req.store,
        action: Action::Upload,
        key: &req.key,
        content_type: info.content_type.as_deref(),
        size: Some(info.size),
    };
    let verdict = match policies.evaluate(&measured) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(Denial::TooLarge { max_size, .. }) => {
            Err(ApiError::PayloadTooLarge(format!(
                "the object is {} bytes, over the allowed {max_size}; recorded as rejected",
                info.size
            )))
        }
        Decision::Deny(Denial::ContentType { .. }) => Err(ApiError::UnsupportedMediaType(format!(
            "the object's content type {:?} is not allowed; recorded as rejected",
            info.content_type.as_deref().unwrap_or("")
        ))),
        Decision::Deny(_) => Err(ApiError::PolicyDenied(format!(
            "no rule allows upload to {}:{}",
            req.store, req.key
        ))),
    };
    if let Err(e @ ApiError::PolicyDenied(_)) = verdict {
        return Err(e);
    }
    let event = UploadEvent {
        id: ulid::Ulid::new().to_string(),
        provider: store.provider_name().to_string(),
        store: store.name.clone(),
        bucket: store.bucket.clone(),
        key: req.key.clone(),
        size: Some(info.size),
        etag: info.etag.clone(),
        content_type: info.content_type.clone(),
        subject: Some(caller.claims.sub.clone()),
        received_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source: "confirm".to_string(),
        version_id: info.version_id.clone(),
        rejected: verdict.is_err(),
    };
    let recorded = state
        .events
        .record(&[event.idempotency_id()], &event)
        .await?;
    tracing::info!(
        request_id = %caller.request_id, store = %store.name, key = %req.key,
        duplicate = recorded == Recorded::Duplicate, rejected = event.rejected, "upload confirmed"
    );
    verdict?;
    Ok(HttpResponse::Ok().json(ConfirmedUpload {
        store: store.name.clone(),
        key: req.key,
        size: info.size,
        etag: info.etag,
        content_type: info.content_type,
    }))
}
