//! One error type for the HTTP API, rendered as RFC 9457 problem details with the stable codes of docs/API.md.
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::providers::ProviderError;

/// The underlying error of an [`ApiError`], shared so the error stays `Clone`.
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PolicyDenied(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidKey(String),
    #[error("store {0:?} is not configured")]
    UnknownStore(String),
    #[error("{0}")]
    NotFound(String),
    /// A known route called with another method; `allow` lists the methods it serves.
    #[error("method not allowed here; allowed: {allow}")]
    MethodNotAllowed { allow: String },
    /// The request body was not fully received within the server's body timeout.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    SignatureInvalid(String),
    /// The detail (and its cause, e.g. the transport error) is logged, the client gets a generic sentence.
    #[error("storage provider error: {0}")]
    Upstream(String, #[source] Option<Cause>),
    /// The detail is logged, the client gets a generic sentence.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// The detail is logged, the client gets a generic sentence.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    code: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    /// The detail again, on the Companion routes: the member Uppy's Companion client shows its user.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl ApiError {
    /// The stable machine-readable code of docs/API.md.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::PolicyDenied(_) => "policy_denied",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidKey(_) => "invalid_key",
            Self::UnknownStore(_) => "unknown_store",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RequestTimeout(_) => "request_timeout",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unsupported(_) => "unsupported",
            Self::RateLimited { .. } => "rate_limited",
            Self::SignatureInvalid(_) => "signature_invalid",
            Self::Upstream(..) => "upstream_error",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// What the client may read; 5xx details stay in the log.
    fn public_detail(&self) -> String {
        match self {
            Self::Upstream(..) => {
                "the storage provider answered with an error or could not be reached".into()
            }
            Self::Unavailable(_) => {
                "a dependency needed for this request is unavailable; retry later".into()
            }
            Self::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// The problem+json response, carrying the request id when known.
    pub fn render(&self, request_id: Option<&str>) -> HttpResponse {
        self.render_problem(request_id, false)
    }

    /// [`ApiError::render`] with `message` (= `detail`) added, for the Companion routes: Uppy 5 shows a 4xx
    /// answer's `message` to its user (docs/API.md "Uppy Companion-compatible routes").
    pub fn render_companion(&self, request_id: Option<&str>) -> HttpResponse {
        self.render_problem(request_id, true)
    }

    fn render_problem(&self, request_id: Option<&str>, with_message: bool) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            Self::Unauthenticated(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#));
            }
            Self::RateLimited { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, allow.as_str()));
            }
            Self::RequestTimeout(_) => {
                // The rest of a trickled body is not worth reading: close the connection.
                res.force_close();
            }
            _ => {}
        }
        let detail = self.public_detail();
        let body = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code: self.code(),
            message: with_message.then(|| detail.clone()),
            detail,
            request_id,
        };
        res.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) | Self::SignatureInvalid(_) => StatusCode::UNAUTHORIZED,
            Self::PolicyDenied(_) => StatusCode::FORBIDDEN,
            Self::InvalidRequest(_) | Self::InvalidKey(_) => StatusCode::BAD_REQUEST,
            Self::UnknownStore(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream(..) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Rendered without a request id here; the request-id middleware re-renders it with one.
    fn error_response(&self) -> HttpResponse {
        self.render(None)
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::NotFound => Self::NotFound("the object or upload does not exist".into()),
            ProviderError::BadRequest(m) => Self::InvalidRequest(m),
            ProviderError::Upstream(m) => Self::Upstream(m, None),
            ProviderError::Transport { what, source } => {
                Self::Upstream(what, Some(std::sync::Arc::new(source)))
            }
            ProviderError::Unsupported(m) => Self::Unsupported(m),
        }
    }
}

impl From<crate::events::StoreUnavailable> for ApiError {
    fn from(e: crate::events::StoreUnavailable) -> Self {
        Self::Unavailable(e.to_string())
    }
}
