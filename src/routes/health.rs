//! Liveness, readiness and metrics.
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// 200 while the process serves.
#[utoipa::path(responses((status = 200, body = Status)), tag = "health")]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// 200 when policies are loaded, the JWKS (if configured) is fetched and Redis (if configured) answers.
#[utoipa::path(responses((status = 200, body = Status), (status = 503, description = "not ready (problem+json)")), tag = "health")]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    if state.jwks.as_ref().is_some_and(|j| !j.is_loaded()) {
        return Err(ApiError::Unavailable("JWKS not loaded yet".into()));
    }
    state
        .events
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}

/// Prometheus text exposition.
#[utoipa::path(responses((status = 200, description = "Prometheus text format", content_type = "text/plain")), tag = "health")]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
