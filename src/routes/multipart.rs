//! Multipart uploads on S3-compatible stores. The broker keeps no state: every call re-checks the policy.
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authorize::{authorize, checked_key, resolve_key, Ask};
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller};
use crate::policy::{Action, Rule};
use crate::providers::s3::S3Store;
use crate::providers::store::Store;
use crate::state::AppState;

const MIB: u64 = 1 << 20;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part number.
pub const MAX_PARTS: u64 = 10_000;
/// Largest multipart object when the rule sets no `max_size` (S3's object limit).
pub const DEFAULT_MAX_MULTIPART_SIZE: u64 = 5 << 40;
/// Part URLs signed per call.
pub const MAX_PART_NUMBERS_PER_CALL: usize = 1_000;

/// A part size of whole MiB, at least 5 MiB, so that `size` fits in 10,000 parts.
pub fn part_size_for(size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS).max(MIN_PART_SIZE);
    needed.div_ceil(MIB) * MIB
}

/// Every part but the last is at least 5 MiB, so more parts than this would exceed `max_size`.
pub fn max_parts_for(max_size: u64) -> u32 {
    (max_size / MIN_PART_SIZE + 1).min(MAX_PARTS) as u32
}

fn rule_max_size(rule: &Rule) -> u64 {
    rule.max_size.unwrap_or(DEFAULT_MAX_MULTIPART_SIZE)
}

fn valid_upload_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 1024 || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::InvalidRequest(
            "upload_id must be 1..=1024 visible ASCII characters".into(),
        ));
    }
    Ok(())
}

fn s3_store<'a>(state: &'a AppState, name: &str) -> Result<(&'a Store, &'a S3Store), ApiError> {
    let store = state.store(name)?;
    let s3 = store.s3().ok_or_else(|| {
        ApiError::Unsupported(format!(
            "store {name:?} ({}) has no multipart API here",
            store.provider()
        ))
    })?;
    Ok((store, s3))
}

/// What every call on an existing upload checks first: a sane id, an S3 store, and the policy scope for
/// the key (no size or type: those were fixed at create). The rule's limits come along.
struct UploadScope<'a> {
    store: &'a Store,
    s3: &'a S3Store,
    max_size: u64,
    max_expires: Option<u64>,
}

fn upload_scope<'a>(
    state: &'a AppState,
    caller: &Caller,
    upload_id: &str,
    store: &str,
    key: &str,
) -> Result<UploadScope<'a>, ApiError> {
    valid_upload_id(upload_id)?;
    let (store_ref, s3) = s3_store(state, store)?;
    checked_key(key)?;
    let policies = state.policies.load();
    let ask = Ask {
        store,
        action: Action::Multipart,
        key,
        content_type: None,
        size: None,
    };
    let rule = authorize(&policies, caller, &ask, false)?;
    Ok(UploadScope {
        store: store_ref,
        s3,
        max_size: rule_max_size(rule),
        max_expires: rule.max_expires,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMultipart {
    pub store: String,
    /// Object key; optional when `filename` is given and the matching rule has a `key_template`.
    pub key: Option<String>,
    /// Client file name, for rules with a `key_template`.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// Declared total size; chooses the part size.
    pub size: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartCreated {
    pub store: String,
    pub key: String,
    pub upload_id: String,
    /// Bytes per part (all but the last).
    pub part_size: u64,
    /// Highest part number the rule's `max_size` allows.
    pub max_parts: u32,
}

/// Start a multipart upload (server-side CreateMultipartUpload).
#[utoipa::path(request_body = CreateMultipart, responses((status = 200, body = MultipartCreated)), security(("bearer" = [])), tag = "multipart")]
#[post("/v1/multipart")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CreateMultipart>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let (store, s3) = s3_store(&state, &req.store)?;
    let policies = state.policies.load();
    let key = resolve_key(
        &policies,
        &caller,
        &req.store,
        Action::Multipart,
        req.key.as_deref(),
        req.filename.as_deref(),
    )?;
    let ask = Ask {
        store: &req.store,
        action: Action::Multipart,
        key: &key,
        content_type: req.content_type.as_deref(),
        size: req.size,
    };
    let max_size = rule_max_size(authorize(&policies, &caller, &ask, true)?);
    let upload_id = s3
        .create_multipart_upload(&state.http, &key, req.content_type.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(MultipartCreated {
        store: store.name.clone(),
        key,
        upload_id,
        part_size: part_size_for(req.size.unwrap_or(max_size).min(max_size)),
        max_parts: max_parts_for(max_size),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignParts {
    pub store: String,
    pub key: String,
    /// 1..=1000 part numbers, each 1..=max_parts.
    pub part_numbers: Vec<u32>,
    pub expires_in: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrl {
    pub part_number: u32,
    /// Always `PUT`.
    pub method: &'static str,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrls {
    pub parts: Vec<PartUrl>,
    pub expires_at: DateTime<Utc>,
}

/// Presign UploadPart URLs for a batch of part numbers.
#[utoipa::path(request_body = SignParts, params(("upload_id" = String, Path,)), responses((status = 200, body = PartUrls)), security(("bearer" = [])), tag = "multipart")]
#[post("/v1/multipart/{upload_id}/parts")]
pub async fn sign_parts(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    body: ApiJson<SignParts>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let scope = upload_scope(&state, &caller, &upload_id, &req.store, &req.key)?;
    let max_parts = max_parts_for(scope.max_size);
    if req.part_numbers.is_empty() || req.part_numbers.len() > MAX_PART_NUMBERS_PER_CALL {
        return Err(ApiError::InvalidRequest(format!(
            "part_numbers must hold 1..={MAX_PART_NUMBERS_PER_CALL} numbers"
        )));
    }
    if let Some(n) = req
        .part_numbers
        .iter()
        .find(|n| !(1..=max_parts).contains(*n))
    {
        return Err(ApiError::InvalidRequest(format!(
            "part number {n} is outside 1..={max_parts}"
        )));
    }
    if req.expires_in == Some(0) {
        return Err(ApiError::InvalidRequest(
            "expires_in must be at least 1 second".into(),
        ));
    }
    let now = Utc::now().timestamp();
    let expires_at = now
        + scope
            .store
            .effective_expiry(req.expires_in, scope.max_expires) as i64;
    // One batch: the URLs share everything but `partNumber`, so the shared work is done once.
    let urls =
        scope
            .s3
            .presigned_upload_parts(&req.key, &upload_id, &req.part_numbers, now, expires_at);
    let parts = req
        .part_numbers
        .iter()
        .zip(urls)
        .map(|(&n, url)| PartUrl {
            part_number: n,
            method: "PUT",
            url,
        })
        .collect();
    metrics::counter!("credentials_issued_total", "provider" => "s3", "kind" => "part")
        .increment(req.part_numbers.len() as u64);
    Ok(HttpResponse::Ok().json(PartUrls {
        parts,
        expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StoreKey {
    pub store: String,
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListedPart {
    pub part_number: u32,
    /// As S3 returns it, with quotes.
    pub etag: String,
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListedParts {
    pub parts: Vec<ListedPart>,
}

/// List the uploaded parts (every page of ListParts), so a client can resume.
#[utoipa::path(params(("upload_id" = String, Path,), StoreKey), responses((status = 200, body = ListedParts)), security(("bearer" = [])), tag = "multipart")]
#[get("/v1/multipart/{upload_id}/parts")]
pub async fn list_parts(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    query: web::Query<StoreKey>,
) -> Result<HttpResponse, ApiError> {
    let scope = upload_scope(&state, &caller, &upload_id, &query.store, &query.key)?;
    let parts = scope
        .s3
        .list_parts(&state.http, &query.key, &upload_id)
        .await?
        .into_iter()
        .map(|p| ListedPart {
            part_number: p.part_number,
            etag: p.etag,
            size: p.size,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListedParts { parts }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteMultipart {
    pub store: String,
    pub key: String,
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartCompleted {
    pub store: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// Complete the upload; over the rule's `max_size` it is aborted instead (413).
#[utoipa::path(request_body = CompleteMultipart, params(("upload_id" = String, Path,)), responses((status = 200, body = MultipartCompleted), (status = 413, description = "parts exceed max_size; upload aborted")), security(("bearer" = [])), tag = "multipart")]
#[post("/v1/multipart/{upload_id}/complete")]
pub async fn complete(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    body: ApiJson<CompleteMultipart>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let UploadScope {
        store,
        s3,
        max_size,
        ..
    } = upload_scope(&state, &caller, &upload_id, &req.store, &req.key)?;
    if req.parts.is_empty() || req.parts.len() > MAX_PARTS as usize {
        return Err(ApiError::InvalidRequest(format!(
            "parts must hold 1..={MAX_PARTS} entries"
        )));
    }
    let listed = s3.list_parts(&state.http, &req.key, &upload_id).await?;
    let total: u64 = listed.iter().map(|p| p.size).sum();
    if total > max_size {
        s3.abort_multipart_upload(&state.http, &req.key, &upload_id)
            .await?;
        return Err(ApiError::PayloadTooLarge(format!(
            "the uploaded parts total {total} bytes, over the allowed {max_size}; the upload was aborted"
        )));
    }
    let parts: Vec<(u32, String)> = req
        .parts
        .into_iter()
        .map(|p| (p.part_number, p.etag))
        .collect();
    let size = parts
        .iter()
        .filter_map(|(n, _)| listed.iter().find(|p| p.part_number == *n).map(|p| p.size))
        .sum();
    let done = s3
        .complete_multipart_upload(&state.http, &req.key, &upload_id, &parts)
        .await?;
    Ok(HttpResponse::Ok().json(MultipartCompleted {
        store: store.name.clone(),
        key: req.key,
        etag: done.etag,
        size,
    }))
}

/// Abort the upload (AbortMultipartUpload); 204.
#[utoipa::path(params(("upload_id" = String, Path,), StoreKey), responses((status = 204, description = "aborted")), security(("bearer" = [])), tag = "multipart")]
#[delete("/v1/multipart/{upload_id}")]
pub async fn abort(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    query: web::Query<StoreKey>,
) -> Result<HttpResponse, ApiError> {
    let scope = upload_scope(&state, &caller, &upload_id, &query.store, &query.key)?;
    scope
        .s3
        .abort_multipart_upload(&state.http, &query.key, &upload_id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_fit_ten_thousand_parts() {
        assert_eq!(part_size_for(0), MIN_PART_SIZE);
        assert_eq!(part_size_for(10 * MIB), MIN_PART_SIZE);
        let big = 100 << 30; // 100 GiB
        let ps = part_size_for(big);
        assert!(ps >= MIN_PART_SIZE && ps.is_multiple_of(MIB));
        assert!(big.div_ceil(ps) <= MAX_PARTS);
        assert!(
            big.div_ceil(ps - MIB) > MAX_PARTS,
            "part size is the smallest whole MiB that fits"
        );
    }

    #[test]
    fn max_parts_follow_max_size() {
        assert_eq!(max_parts_for(MIN_PART_SIZE - 1), 1);
        assert_eq!(max_parts_for(20 * MIB), 5);
        assert_eq!(max_parts_for(DEFAULT_MAX_MULTIPART_SIZE), 10_000);
    }
}
