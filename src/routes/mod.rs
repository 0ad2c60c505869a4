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
    .app_data(web::PathConfig::default().error_handler(|e, req| {
        // A path that only fits this route by a parameter that does not parse (GET .../{upload_id}/complete
        // read as a part number) belongs to a more literal route: 405 with that route's `Allow`, as for
        // any unmatched method.
        match crate::allowed_methods::allowed(req.path()) {
            Some(allow) if !allow.split(", ").any(|m| m == req.method().as_str()) => {
                ApiError::MethodNotAllowed { allow }.into()
            }
            _ => ApiError::InvalidRequest(format!("invalid path: {e}")).into(),
        }
    }));
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

/// Unmatched: a known route called with another method is 405 (with `Allow`), anything else 404.
async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    match crate::allowed_methods::allowed(req.path()) {
        Some(allow) => Err(ApiError::MethodNotAllowed { allow }),
        None => Err(ApiError::NotFound("no such endpoint".into())),
    }
}
