//! One middleware for every request: request id, problem+json re-rendered with it, metrics, access log.
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, ResponseError as _};

use crate::error::ApiError;

/// Paths whose problems also carry `message` ([`ApiError::render_companion`]), matched or not.
const COMPANION_PREFIX: &str = "/companion/";

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request (adopted from the client when valid, else generated).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// 1..=128 visible ASCII characters, as docs/API.md says.
fn adoptable(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let visible =
        (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    visible.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// Errors raised by actix itself (payload limits, extractors) in the API's problem shape.
fn from_framework(e: &Error) -> ApiError {
    if crate::body_timeout::is_timeout(e) {
        return crate::body_timeout::timeout_error();
    }
    let status = e.as_response_error().status_code();
    let detail = e.to_string();
    match status.as_u16() {
        413 => ApiError::PayloadTooLarge(detail),
        404 => ApiError::NotFound(detail),
        400..=499 => ApiError::InvalidRequest(detail),
        _ => ApiError::Internal(detail),
    }
}

/// The method as a metric label: one of a fixed set, never the client's own string (every distinct label
/// value is a series kept forever, so made-up methods would grow memory without bound).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

pub struct RequestContext;

impl<S, B> Transform<S, ServiceRequest> for RequestContext
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    type Response = ServiceResponse<actix_web::body::EitherBody<B>>;
    type Error = Error;
    type Transform = RequestContextService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestContextService {
            service: Rc::new(service),
        }))
    }
}

pub struct RequestContextService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for RequestContextService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    type Response = ServiceResponse<actix_web::body::EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(adoptable)
            // A v4 UUID from the thread-local RNG: `Uuid::new_v4` asks the kernel (getrandom) every time.
            .unwrap_or_else(|| {
                uuid::Builder::from_random_bytes(rand::random())
                    .into_uuid()
                    .to_string()
            });
        req.extensions_mut().insert(RequestId(request_id.clone()));
        let mut req = req;
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if has_body {
            if let Some(state) = req.app_data::<actix_web::web::Data<crate::state::AppState>>() {
                let timeout = Duration::from_secs(state.config.server.body_timeout_seconds);
                let payload = req.take_payload();
                req.set_payload(crate::body_timeout::with_deadline(payload, timeout));
            }
        }
        let service = self.service.clone();
        // One span per request: every log line inside carries the request id, and the route and subject once
        // known (recorded by the `Caller` extractor).
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            route = tracing::field::Empty,
            subject = tracing::field::Empty
        );
        Box::pin(tracing::Instrument::instrument(
            async move {
                let method = req.method().clone();
                let res = service.call(req).await?;
                let route = res
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_string());
                // Errors are rendered again so the problem body carries the request id.
                let rerendered = res.response().error().map(|e| {
                let api_error = e.as_error::<ApiError>().map_or_else(|| from_framework(e), ApiError::clone);
                if api_error.status_code().is_server_error() {
                    tracing::error!(route = %route, error = %api_error, cause = ?std::error::Error::source(&api_error), "request failed");
                }
                if res.request().path().starts_with(COMPANION_PREFIX) {
                    api_error.render_companion(Some(&request_id))
                } else {
                    api_error.render(Some(&request_id))
                }
            });
                let mut res = match rerendered {
                    Some(mut response) => {
                        // Keep the headers inner middleware added (CORS, Vary): only the body is re-rendered.
                        for (name, value) in res.headers() {
                            if !response.headers().contains_key(name) {
                                response.headers_mut().append(name.clone(), value.clone());
                            }
                        }
                        res.into_response(response).map_into_right_body()
                    }
                    None => res.map_into_left_body(),
                };
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    res.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                let status = res.status().as_u16();
                let elapsed = started.elapsed().as_secs_f64();
                crate::telemetry::record_request(&route, method_label(&method), status, elapsed);
                tracing::debug!(%method, route = %route, status, elapsed_ms = elapsed * 1e3, "request");
                Ok(res)
            },
            span,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        let made_up = actix_web::http::Method::from_bytes(&[b'X'; 1024]).expect("a token");
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&actix_web::http::Method::GET), "GET");
    }
}
