//! Liveness, readiness and metrics.
use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{get, web, HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::events::EventStore;
use crate::middleware::RequestId;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// `/readyz`: overall status and each dependency it waits for (`ok`, or what is wrong: `unreachable`,
/// `cannot_record`, `not_loaded`, `shutting_down`), never an address or a secret.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: &'static str,
    /// Dependency name (`redis`, `jwks`, `server`) → state.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub checks: BTreeMap<&'static str, &'static str>,
}

/// 200 while the process serves.
#[utoipa::path(responses((status = 200, body = Status)), tag = "health")]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// 200 when policies are loaded, the JWKS (if configured) is fetched and Redis (if configured) can record
/// events; else 503 problem+json whose `checks` name the dependency it waits for.
#[utoipa::path(responses((status = 200, body = Readiness), (status = 503, description = "not ready (problem+json with `checks`)", content_type = "application/problem+json")), tag = "health")]
#[get("/readyz")]
pub async fn readyz(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    if state.is_shutting_down() {
        checks.insert("server", "shutting_down");
    }
    if let Some(jwks) = &state.jwks {
        checks.insert("jwks", if jwks.is_loaded() { "ok" } else { "not_loaded" });
    }
    if let EventStore::Redis(redis) = &state.events {
        let word = match redis.probe().await {
            Ok(()) => "ok",
            Err((word, detail)) => {
                tracing::warn!(error = %detail, "readiness: redis cannot record events");
                word
            }
        };
        checks.insert("redis", word);
    }
    let waiting: Vec<&str> = checks
        .iter()
        .filter(|(_, v)| **v != "ok")
        .map(|(k, v)| if *k == "server" { *v } else { *k })
        .collect();
    if waiting.is_empty() {
        return HttpResponse::Ok().json(Readiness {
            status: "ready",
            checks,
        });
    }
    // problem+json (API.md) plus `checks`; built here because the shared renderer has no extension members.
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "code": "unavailable",
        "detail": format!("not ready: waiting for {}", waiting.join(", ")),
        "checks": checks,
        "request_id": request_id,
    });
    HttpResponse::ServiceUnavailable()
        .insert_header((header::CONTENT_TYPE, "application/problem+json"))
        .insert_header((header::RETRY_AFTER, "5"))
        .body(serde_json::to_vec(&body).unwrap_or_default())
}

/// Prometheus text exposition.
#[utoipa::path(responses((status = 200, description = "Prometheus text format", content_type = "text/plain")), tag = "health")]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // The writer keeps its own counter; it is copied into the registry when scraped.
    ::metrics::counter!("log_lines_dropped_total").absolute(crate::telemetry::dropped_log_lines());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
