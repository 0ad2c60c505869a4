//! Extractors: the authenticated caller, and JSON bodies with precise, safe errors.
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::policy::Claims;
use crate::state::AppState;

/// Request bodies over this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller, authenticated by its bearer token.
pub struct Caller {
    pub claims: Claims,
    pub request_id: String,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let span = tracing::Span::current();
        if let Some(route) = req.match_pattern() {
            span.record("route", route.as_str());
        }
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let claims = state
                .auth
                .authenticate(header.as_deref())
                .await
                .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
            span.record("subject", claims.sub.as_str());
            if let Some(limiter) = &state.limiter {
                limiter
                    .check(&claims.sub)
                    .await
                    .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
            }
            Ok(Caller { claims, request_id })
        })
    }
}

/// A JSON body: size-capped, unknown fields refused, errors naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_too_large = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if declared_too_large {
                return Err(too_large());
            }
            let bytes =
                body.await
                    .map_err(|e| match e.as_error::<actix_web::error::PayloadError>() {
                        Some(actix_web::error::PayloadError::Overflow) => too_large(),
                        _ => ApiError::InvalidRequest("could not read the request body".into()),
                    })?;
            parse_json(&bytes).map(ApiJson)
        })
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!("request body over {MAX_BODY_BYTES} bytes"))
}

/// Parses JSON, naming the offending field (`size: invalid type: string "x", expected u64`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::InvalidRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    // The plain parse first; only a body it refuses is parsed again to name the field (same parser, same verdict).
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ApiError::InvalidRequest(format!("invalid JSON body: {detail}"))
    })
}
