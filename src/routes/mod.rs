//! HTTP routes: parse, ask the policy, call a signer or a provider client, shape the answer.
pub mod authorize;
pub mod callbacks;
pub mod companion;
pub mod downloads;
pub mod fields;
pub mod health;
pub mod multipart;
pub mod openapi;
pub mod stores;
pub mod uploads;

use actix_web::web;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Extractor errors become problem+json like every other error.
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::InvalidRequest(format!("invalid query: {e}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::InvalidRequest(format!("invalid path: {e}")).into()),
    );
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(openapi::openapi_json)
        .service(stores::list_stores)
        .service(uploads::create_upload)
        .service(uploads::confirm_upload)
        .service(downloads::create_download)
        .service(multipart::create)
        .service(multipart::sign_parts)
        .service(multipart::list_parts)
        .service(multipart::complete)
        .service(multipart::abort)
        .service(companion::params)
        .service(companion::create)
        .service(companion::complete)
        .service(companion::sign_part)
        .service(companion::list_parts)
        .service(companion::abort)
        .service(callbacks::liveness)
        .service(callbacks::receive)
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}
