//! Extractors: the authenticated caller, and JSON bodies with precise, safe errors.
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
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
    pub claims: std::sync::Arc<Claims>,
    pub request_id: String,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        Box::pin(Caller::authenticate(req, header))
    }
}

impl Caller {
    /// Verifies `credential` (an `Authorization` header value: `Bearer <JWT>`), then applies the rate limit.
    fn authenticate(
        req: &HttpRequest,
        credential: Option<Vec<u8>>,
    ) -> impl Future<Output = Result<Caller, ApiError>> + 'static {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let span = tracing::Span::current();
        if let Some(route) = req.match_pattern() {
            span.record("route", route.as_str());
        }
        async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let claims = state
                .auth
                .authenticate(credential.as_deref())
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
        }
    }
}

/// The caller of a Companion route (docs/API.md "Uppy Companion-compatible routes"): the bearer header as
/// everywhere, else the JWT in the `[companion] token_cookie` cookie (same-origin Uppy 6 sends no custom header).
/// A cookie rides along on any request a browser makes, so a cookie-authenticated request is taken only when it
/// comes from the broker's own origin ([`cookie_request_from_own_origin`]): the CSRF defence.
pub struct CompanionCaller(pub Caller);

impl FromRequest for CompanionCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let credential = match header {
            Some(h) => Some(h),
            None => match companion_cookie(req) {
                Some(token) => {
                    let state = req.app_data::<web::Data<AppState>>();
                    let public_url = state.map_or("", |s| s.config.server.public_url.as_str());
                    let conn = req.connection_info();
                    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
                    if let Err(why) = cookie_request_from_own_origin(
                        req.method(),
                        header_str(SEC_FETCH_SITE),
                        header_str(header::ORIGIN),
                        conn.host(),
                        public_url,
                    ) {
                        let e = ApiError::PolicyDenied(format!(
                            "cookie authentication refused: {why}; send the token in the Authorization header instead"
                        ));
                        return Box::pin(async move { Err(e) });
                    }
                    Some(format!("Bearer {token}").into_bytes())
                }
                None => None,
            },
        };
        let caller = Caller::authenticate(req, credential);
        Box::pin(async move { caller.await.map(CompanionCaller) })
    }
}

const SEC_FETCH_SITE: header::HeaderName = header::HeaderName::from_static("sec-fetch-site");

/// The value of the configured token cookie, when configured and sent.
fn companion_cookie(req: &HttpRequest) -> Option<String> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let name = state.config.companion.token_cookie.as_deref()?;
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a cookie-authenticated request came from the broker's own origin. Browsers send `Sec-Fetch-Site` on
/// requests to https and loopback origins: it must be `same-origin`. Without it, an `Origin` (sent on every
/// cross-origin request and on same-origin POST/DELETE) must name the host the request was sent to (`host`, as a
/// reverse proxy reports it) or `[server] public_url`'s origin. A POST or DELETE with neither header is refused:
/// every browser sends one of them there, so only a forged or non-browser request lacks both (those can use the
/// header). A GET with neither is a same-origin one from a browser without `Sec-Fetch-Site` (plain http).
pub fn cookie_request_from_own_origin(
    method: &Method,
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    host: &str,
    public_url: &str,
) -> Result<(), &'static str> {
    if let Some(site) = sec_fetch_site {
        return if site.eq_ignore_ascii_case("same-origin") {
            Ok(())
        } else {
            Err("the request did not come from the broker's own origin (Sec-Fetch-Site)")
        };
    }
    if let Some(origin) = origin {
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let public_origin = public_url
            .find("://")
            .map(|i| {
                let rest = &public_url[i + 3..];
                &public_url[..i + 3 + rest.find('/').unwrap_or(rest.len())]
            })
            .unwrap_or("");
        let same = authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host))
            || (!public_origin.is_empty() && origin.eq_ignore_ascii_case(public_origin));
        return if same {
            Ok(())
        } else {
            Err("the request did not come from the broker's own origin (Origin)")
        };
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        Ok(())
    } else {
        Err("a cookie-authenticated POST or DELETE must carry Origin or Sec-Fetch-Site")
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
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if declared_too_large {
                return Err(too_large());
            }
            let bytes = body.await.map_err(|e| {
                if crate::body_timeout::is_timeout(&e) {
                    return crate::body_timeout::timeout_error();
                }
                match e.as_error::<actix_web::error::PayloadError>() {
                    Some(actix_web::error::PayloadError::Overflow) => too_large(),
                    _ => ApiError::InvalidRequest("could not read the request body".into()),
                }
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
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ApiError::InvalidRequest(format!("invalid JSON body: {detail}"))
    })?;
    // The value parsed but the plain parse refused the body: data follows the object (`{…}{…}`, `{…} junk`).
    de.end().map_err(|e| {
        ApiError::InvalidRequest(format!(
            "invalid JSON body: the body must be exactly one JSON object: {e}"
        ))
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "https://broker.example.com/base";

    fn check(method: Method, site: Option<&str>, origin: Option<&str>) -> bool {
        cookie_request_from_own_origin(&method, site, origin, "app.example.com", PUBLIC).is_ok()
    }

    #[test]
    fn cookie_requests_are_taken_only_from_the_own_origin() {
        // Sec-Fetch-Site decides when present, whatever Origin says.
        assert!(check(Method::POST, Some("same-origin"), None));
        assert!(check(
            Method::DELETE,
            Some("same-origin"),
            Some("https://evil.example")
        ));
        for site in ["same-site", "cross-site", "none"] {
            assert!(!check(Method::GET, Some(site), None), "{site}");
            assert!(
                !check(Method::POST, Some(site), Some("https://app.example.com")),
                "{site}"
            );
        }
        // Without it, Origin must be the host the request went to, or the public URL's origin.
        assert!(check(Method::POST, None, Some("https://app.example.com")));
        assert!(check(Method::POST, None, Some("http://APP.example.com")));
        assert!(check(
            Method::DELETE,
            None,
            Some("https://broker.example.com")
        ));
        assert!(!check(
            Method::POST,
            None,
            Some("https://app.example.com.evil.example")
        ));
        assert!(!check(Method::POST, None, Some("https://evil.example")));
        assert!(!check(Method::POST, None, Some("null")));
        assert!(!check(Method::GET, None, Some("https://evil.example")));
        // Neither header: a same-origin GET over plain http; never a POST or DELETE.
        assert!(check(Method::GET, None, None));
        assert!(!check(Method::POST, None, None));
        assert!(!check(Method::DELETE, None, None));
    }

    /// Every request builds, moves and boxes this future: kept small by boxing the rare slow paths inside it
    /// (a JWKS refetch, the Redis rate limit), which inline made it 22 KB, copied on every request.
    #[test]
    fn the_authentication_future_stays_small() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let size = std::mem::size_of_val(&Caller::authenticate(&req, None));
        assert!(
            size <= 4096,
            "Caller::authenticate's future is {size} bytes"
        );
    }
}
