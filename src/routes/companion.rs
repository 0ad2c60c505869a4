//! Uppy Companion's S3 routes under `/companion/{store}/s3/...` (docs/API.md "Uppy Companion-compatible routes"),
//! so `@uppy/aws-s3` 5.x (`endpoint`) and 6.x (`companionEndpoint`) upload through the broker unchanged.
//!
//! A thin translation: every route calls the same code as its `/v1` twin ([`uploads::issue_upload`],
//! [`multipart::start_upload`], [`multipart::open_upload`] and the multipart calls), in Companion's shapes.
//! Companion's protocol carries only `uploadId` and `key` between calls, so the `uploadId` Uppy sees IS the
//! multipart `handle` (`v1.<base64url>.<base64url>`: unreserved characters, unchanged by `encodeURIComponent`
//! and `URLSearchParams`); the handle names the provider's upload id, store, key and subject, and any change to
//! it fails its MAC (403). Not served: `s3/sts` (the broker never hands out broad credentials).
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::fields::Fields;
use super::multipart::{self, CreateMultipart, PartSizing};
use super::uploads::{self, UploadMethod, UploadRequest};
use crate::error::ApiError;
use crate::extract::{ApiJson, CompanionCaller};
use crate::state::AppState;

/// Uppy (5.x and 6.x alike) never cuts a part smaller than S3's minimum, whatever the provider.
const UPPY_MIN_PART_SIZE: u64 = 5 << 20;

/// Documents the query of `s3/params`; it is parsed by [`params_query`], which also takes `metadata[...]`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ParamsQuery {
    /// The file's name; the rule's `key_template` makes the key from it.
    filename: String,
    /// The file's media type (pinned into the credential as its `Content-Type`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    content_type: Option<String>,
}

/// Companion's `s3/params` answer: always an HTML-form POST (Uppy 6 reads only `url` and `fields`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanionParams {
    /// Always `POST`.
    pub method: &'static str,
    pub url: String,
    /// Form fields to send before the file.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub fields: Fields,
    /// `{}` for a form POST.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub headers: Fields,
}

/// `filename` and `type`, once each; `metadata[...]` accepted and not stored (a credential pins key, type and
/// size only); anything else refused like an unknown JSON field.
fn params_query(pairs: Vec<(String, String)>) -> Result<(String, Option<String>), ApiError> {
    let (mut filename, mut content_type) = (None, None);
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "filename" => &mut filename,
            "type" => &mut content_type,
            n if n.starts_with("metadata[") && n.ends_with(']') => continue,
            other => {
                return Err(ApiError::InvalidRequest(format!(
                    "unknown query parameter {other:?} (expected filename, type, metadata[...])"
                )))
            }
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::InvalidRequest(format!(
                "query parameter {name:?} given twice"
            )));
        }
    }
    let filename =
        filename.ok_or_else(|| ApiError::InvalidRequest("filename is required".into()))?;
    Ok((filename, content_type.filter(|t| !t.is_empty())))
}

/// Form-upload credentials for one file (`POST /v1/uploads` with `filename`).
#[utoipa::path(
    operation_id = "companion_params",
    params(("store" = String, Path,), ParamsQuery),
    responses(
        (status = 200, body = CompanionParams),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied (also: a cookie-authenticated request from another origin)"),
        (status = 404, description = "unknown_store"),
        (status = 415, description = "unsupported_media_type"),
        (status = 422, description = "unsupported: the store has no form upload"),
        (status = 429, description = "rate_limited"),
    ),
    security(("bearer" = [])),
    tag = "companion"
)]
#[get("/companion/{store}/s3/params")]
pub async fn params(
    state: web::Data<AppState>,
    caller: CompanionCaller,
    store: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let (filename, content_type) = params_query(query.into_inner())?;
    let credential = uploads::issue_upload(
        &state,
        &caller.0,
        UploadRequest {
            store: store.into_inner(),
            key: None,
            filename: Some(filename),
            content_type,
            size: None,
            expires_in: None,
            method: UploadMethod::Post,
        },
    )?;
    Ok(HttpResponse::Ok().json(CompanionParams {
        method: "POST",
        url: credential.url,
        fields: credential.fields,
        headers: credential.headers,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanionCreate {
    /// The file's name; the rule's `key_template` makes the key from it.
    pub filename: String,
    /// The file's media type.
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    /// Accepted and not stored.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanionCreated {
    pub key: String,
    /// Opaque (the multipart handle); send it back as is.
    #[serde(rename = "uploadId")]
    pub upload_id: String,
}

/// Start a multipart upload (`POST /v1/multipart` with `filename`).
#[utoipa::path(
    operation_id = "companion_create",
    params(("store" = String, Path,)),
    request_body = CompanionCreate,
    responses(
        (status = 200, body = CompanionCreated),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied (also: the uploadId does not verify or names another key or caller; a cookie-authenticated request from another origin)"),
        (status = 404, description = "unknown_store / not_found (no such upload)"),
        (status = 429, description = "rate_limited"),
        (status = 502, description = "upstream_error"),
        (status = 413, description = "payload_too_large: request body over 64 KiB"),
        (status = 415, description = "unsupported_media_type"),
        (status = 422, description = "unsupported: the store has no multipart upload"),
    ),
    security(("bearer" = [])),
    tag = "companion"
)]
#[post("/companion/{store}/s3/multipart")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CompanionCaller,
    store: web::Path<String>,
    body: ApiJson<CompanionCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let created = multipart::start_upload(
        &state,
        &caller.0,
        CreateMultipart {
            store: store.into_inner(),
            key: None,
            filename: Some(body.filename),
            content_type: body.content_type.filter(|t| !t.is_empty()),
            size: None,
        },
        PartSizing::ClientAtLeast(UPPY_MIN_PART_SIZE),
    )
    .await?;
    Ok(HttpResponse::Ok().json(CompanionCreated {
        key: created.key,
        upload_id: created.handle,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// As answered at create.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanionPartUrl {
    pub url: String,
    /// Seconds until the URL expires.
    pub expires: i64,
    /// Headers to send exactly, only when the provider needs them (Qiniu's `Authorization`).
    #[serde(skip_serializing_if = "Fields::is_empty")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub headers: Fields,
}

/// Presign one part (`POST /v1/multipart/{upload_id}/parts` with one number).
#[utoipa::path(
    operation_id = "companion_sign_part",
    params(("store" = String, Path,), ("upload_id" = String, Path, description = "as answered at create"), ("part_number" = u32, Path, minimum = 1, maximum = 10000, description = "in decimal digits; no fraction or exponent"), KeyQuery),
    responses(
        (status = 200, body = CompanionPartUrl),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied (also: the uploadId does not verify or names another key or caller; a cookie-authenticated request from another origin)"),
        (status = 404, description = "unknown_store / not_found (no such upload)"),
        (status = 429, description = "rate_limited"),
        (status = 502, description = "upstream_error"),
    ),
    security(("bearer" = [])),
    tag = "companion"
)]
#[get("/companion/{store}/s3/multipart/{upload_id}/{part_number}")]
pub async fn sign_part(
    state: web::Data<AppState>,
    caller: CompanionCaller,
    path: web::Path<(String, String, u32)>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (store, upload_id, part_number) = path.into_inner();
    let upload = open(&state, &caller, &store, &query.key, &upload_id)?;
    let signed = multipart::sign_part_urls(&state, &upload, &[part_number], None)?;
    let part = signed
        .parts
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("no part signed".into()))?;
    Ok(HttpResponse::Ok().json(CompanionPartUrl {
        url: part.url,
        expires: (signed.expires_at.timestamp() - Utc::now().timestamp()).max(1),
        headers: part.headers,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanionPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "Size")]
    pub size: u64,
    /// As the provider returns it, with quotes.
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// List the uploaded parts (`GET /v1/multipart/{upload_id}/parts`), so Uppy can resume.
#[utoipa::path(
    operation_id = "companion_list_parts",
    params(("store" = String, Path,), ("upload_id" = String, Path, description = "as answered at create"), KeyQuery),
    responses(
        (status = 200, body = [CompanionPart]),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied (also: the uploadId does not verify or names another key or caller; a cookie-authenticated request from another origin)"),
        (status = 404, description = "unknown_store / not_found (no such upload)"),
        (status = 429, description = "rate_limited"),
        (status = 502, description = "upstream_error"),
    ),
    security(("bearer" = [])),
    tag = "companion"
)]
#[get("/companion/{store}/s3/multipart/{upload_id}")]
pub async fn list_parts(
    state: web::Data<AppState>,
    caller: CompanionCaller,
    path: web::Path<(String, String)>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (store, upload_id) = path.into_inner();
    let upload = open(&state, &caller, &store, &query.key, &upload_id)?;
    let parts: Vec<CompanionPart> = multipart::listed_parts(&state, &upload)
        .await?
        .into_iter()
        .map(|p| CompanionPart {
            part_number: p.part_number,
            size: p.size,
            etag: p.etag,
        })
        .collect();
    Ok(HttpResponse::Ok().json(parts))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanionCompletedPart {
    #[serde(rename = "PartNumber")]
    #[schema(minimum = 1, maximum = 10000)]
    pub part_number: u32,
    /// Quotes are ignored.
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanionComplete {
    /// Exactly the uploaded parts, ascending.
    pub parts: Vec<CompanionCompletedPart>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanionCompleted {
    /// The object's plain, unsigned URL (`null` when the store has none).
    pub location: Option<String>,
    pub key: String,
}

/// Complete the upload (`POST /v1/multipart/{upload_id}/complete`).
#[utoipa::path(
    operation_id = "companion_complete",
    params(("store" = String, Path,), ("upload_id" = String, Path, description = "as answered at create"), KeyQuery),
    request_body = CompanionComplete,
    responses(
        (status = 200, body = CompanionCompleted),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied (also: the uploadId does not verify or names another key or caller; a cookie-authenticated request from another origin)"),
        (status = 404, description = "unknown_store / not_found (no such upload)"),
        (status = 429, description = "rate_limited"),
        (status = 502, description = "upstream_error"),
        (status = 413, description = "parts exceed max_size (upload aborted); request body over 64 KiB"),
    ),
    security(("bearer" = [])),
    tag = "companion"
)]
#[post("/companion/{store}/s3/multipart/{upload_id}/complete")]
pub async fn complete(
    state: web::Data<AppState>,
    caller: CompanionCaller,
    path: web::Path<(String, String)>,
    query: web::Query<KeyQuery>,
    body: ApiJson<CompanionComplete>,
) -> Result<HttpResponse, ApiError> {
    let (store, upload_id) = path.into_inner();
    let upload = open(&state, &caller, &store, &query.key, &upload_id)?;
    let parts = body
        .0
        .parts
        .into_iter()
        .map(|p| (p.part_number, p.etag))
        .collect();
    let done = multipart::complete_upload(&state, &upload, parts).await?;
    Ok(HttpResponse::Ok().json(CompanionCompleted {
        location: done.location,
        key: done.key,
    }))
}

/// Abort the upload (`DELETE /v1/multipart/{upload_id}`); `200 {}` as Companion answers.
#[utoipa::path(
    operation_id = "companion_abort",
    params(("store" = String, Path,), ("upload_id" = String, Path, description = "as answered at create"), KeyQuery),
    responses(
        (status = 200, description = "aborted: `{}`"),
        (status = 400, description = "invalid_request / invalid_key"),
        (status = 401, description = "unauthenticated"),
        (status = 403, description = "policy_denied (also: the uploadId does not verify or names another key or caller; a cookie-authenticated request from another origin)"),
        (status = 404, description = "unknown_store / not_found (no such upload)"),
        (status = 429, description = "rate_limited"),
        (status = 502, description = "upstream_error"),
    ),
    security(("bearer" = [])),
    tag = "companion"
)]
#[delete("/companion/{store}/s3/multipart/{upload_id}")]
pub async fn abort(
    state: web::Data<AppState>,
    caller: CompanionCaller,
    path: web::Path<(String, String)>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (store, upload_id) = path.into_inner();
    let upload = open(&state, &caller, &store, &query.key, &upload_id)?;
    multipart::abort_upload(&state, &upload).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// An existing upload as Uppy names it: the `uploadId` it carries is the multipart handle itself.
fn open<'a>(
    state: &'a AppState,
    caller: &CompanionCaller,
    store: &str,
    key: &str,
    upload_id: &str,
) -> Result<multipart::Upload<'a>, ApiError> {
    multipart::open_upload(state, &caller.0, None, store, key, Some(upload_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn params_take_filename_and_type_and_skip_metadata() {
        let q = pairs(&[
            ("filename", "a b.jpg"),
            ("type", "image/jpeg"),
            ("metadata[name]", "a b.jpg"),
            ("metadata[relativePath]", "null"),
        ]);
        assert_eq!(
            params_query(q).expect("valid"),
            ("a b.jpg".to_owned(), Some("image/jpeg".to_owned()))
        );
        assert_eq!(
            params_query(pairs(&[("filename", "x"), ("type", "")])).expect("valid"),
            ("x".to_owned(), None)
        );
        for bad in [
            pairs(&[("type", "image/jpeg")]),
            pairs(&[("filename", "a"), ("filename", "b")]),
            pairs(&[("filename", "a"), ("key", "users/x")]),
            pairs(&[("filename", "a"), ("metadata", "x")]),
        ] {
            let e = params_query(bad.clone()).expect_err("refused");
            assert_eq!(e.code(), "invalid_request", "{bad:?}");
        }
    }
}
