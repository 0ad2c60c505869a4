//! `POST /v1/downloads`: a presigned GET (S3, COS) or a private download URL (Qiniu).
use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authorize::{authorize, checked_key, Ask};
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller};
use crate::policy::Action;
use crate::providers::{Capability, DownloadOptions};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadRequest {
    pub store: String,
    pub key: String,
    pub expires_in: Option<u64>,
    /// e.g. `attachment; filename="report.pdf"` (S3, COS).
    pub response_content_disposition: Option<String>,
    /// Content-Type the provider answers with (S3, COS).
    pub response_content_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrl {
    pub store: String,
    pub key: String,
    /// Always `GET`.
    pub method: &'static str,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Issue a download URL.
#[utoipa::path(
    request_body = DownloadRequest,
    responses(
        (status = 200, body = DownloadUrl),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied"),
        (status = 404, description = "unknown_store"),
        (status = 422, description = "unsupported (response overrides on Qiniu; no download_domain)"),
    ),
    security(("bearer" = [])),
    tag = "downloads"
)]
#[post("/v1/downloads")]
pub async fn create_download(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<DownloadRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let store = state.store(&req.store)?;
    checked_key(&req.key)?;
    if req.expires_in == Some(0) {
        return Err(ApiError::InvalidRequest(
            "expires_in must be at least 1 second".into(),
        ));
    }
    if let Some(ct) = &req.response_content_type {
        crate::media_type::validate("response_content_type", ct)?;
    }
    for (name, value) in [
        (
            "response_content_disposition",
            &req.response_content_disposition,
        ),
        ("response_content_type", &req.response_content_type),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.is_empty() || v.len() > 1024 || v.chars().any(|c| c.is_control()))
        {
            return Err(ApiError::InvalidRequest(format!(
                "{name} must be 1..=1024 characters without control characters"
            )));
        }
    }
    let policies = state.policies.load();
    let ask = Ask {
        store: &req.store,
        action: Action::Download,
        key: &req.key,
        content_type: None,
        size: None,
    };
    let rule = authorize(&policies, &caller, &ask, false)?;
    let now = Utc::now().timestamp();
    let expires_at = now + store.effective_expiry(req.expires_in, rule.max_expires) as i64;
    let opts = DownloadOptions {
        response_content_disposition: req.response_content_disposition.as_deref(),
        response_content_type: req.response_content_type.as_deref(),
    };
    store.provider.require(Capability::PresignedGet)?;
    let signed = store
        .provider
        .presigned_get(&req.key, &opts, now, expires_at)?;
    crate::telemetry::count(
        "credentials_issued_total",
        [("provider", store.provider_name()), ("kind", "download")],
        1,
    );
    Ok(HttpResponse::Ok().json(DownloadUrl {
        store: store.name.clone(),
        key: req.key,
        method: "GET",
        url: signed.url,
        expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
    }))
}
