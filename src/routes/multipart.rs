//! Multipart uploads, for every provider through [`crate::providers::Provider`]. The broker keeps no state: the
//! `handle` answered at create binds the upload's limits, and every call re-checks the policy's scope
//! (docs/API.md "Multipart uploads").
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authorize::{authorize, checked_key, resolve_key, Ask};
use super::fields::Fields;
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller};
use crate::handle::HandleClaims;
use crate::policy::{Action, Rule};
use crate::providers::{
    uploaded_parts, Capability, PartInfo, PartLimits, PartRequest, Store, UploadGrant,
};
use crate::state::AppState;

const MIB: u64 = 1 << 20;
/// The part size a phone can hold in memory, used unless the size needs larger parts to fit.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// Largest multipart object when the rule sets no `max_size` (S3's object limit).
pub const DEFAULT_MAX_MULTIPART_SIZE: u64 = 5 << 40;
/// Part URLs signed per call.
pub const MAX_PART_NUMBERS_PER_CALL: usize = 1_000;

/// Whole MiB, at least the provider's minimum and [`DEFAULT_PART_SIZE`], large enough for `size` to fit in the
/// provider's part count, at most its largest part.
pub fn part_size_for(limits: PartLimits, size: u64) -> u64 {
    let needed = size
        .div_ceil(u64::from(limits.max_parts))
        .max(DEFAULT_PART_SIZE)
        .max(limits.min_part_size);
    (needed.div_ceil(MIB) * MIB).min(limits.max_part_size)
}

/// `min(provider max parts, ceil(max_size / part_size))`, at least 1.
pub fn max_parts_for(limits: PartLimits, max_size: u64, part_size: u64) -> u32 {
    let parts = max_size.div_ceil(part_size.max(1)).max(1);
    parts.min(u64::from(limits.max_parts)) as u32
}

/// Parts a declared `size` needs (an empty object is one empty part).
fn declared_parts(size: u64, part_size: u64) -> u32 {
    size.div_ceil(part_size.max(1))
        .clamp(1, u64::from(u32::MAX)) as u32
}

/// The exact length of part `n` of a declared `size`: `part_size`, the remainder for the last.
fn part_length(size: u64, part_size: u64, n: u32) -> u64 {
    let before = u64::from(n - 1).saturating_mul(part_size);
    size.saturating_sub(before).min(part_size)
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

/// What every call on an existing upload establishes first: a sane id, a store that can do multipart, a
/// handle that verifies and names this store, key, upload and caller, and the policy's scope for the key.
pub struct Upload<'a> {
    store: &'a Store,
    claims: HandleClaims,
    rule_max_expires: Option<u64>,
}

/// Opens an existing upload for `caller`. `upload_id` is the id the client names, checked against the handle's;
/// `None` when the handle is the client's only name for the upload (the Companion routes' `uploadId`).
pub fn open_upload<'a>(
    state: &'a AppState,
    caller: &Caller,
    upload_id: Option<&str>,
    store: &str,
    key: &str,
    handle: Option<&str>,
) -> Result<Upload<'a>, ApiError> {
    if let Some(id) = upload_id {
        valid_upload_id(id)?;
    }
    let store_ref = state.store(store)?;
    store_ref.provider.require(Capability::Multipart)?;
    checked_key(key)?;
    let handle = handle.ok_or_else(|| {
        ApiError::InvalidRequest("handle is required (as answered by POST /v1/multipart)".into())
    })?;
    let claims = state
        .handle_key
        .open(handle)
        .map_err(|why| ApiError::PolicyDenied(format!("multipart handle: {why}")))?;
    if claims.exp <= Utc::now().timestamp() {
        return Err(ApiError::PolicyDenied(
            "multipart handle: expired; start a new upload".into(),
        ));
    }
    if claims.store != store
        || claims.key != key
        || upload_id.is_some_and(|id| id != claims.upload_id)
        || claims.sub != caller.claims.sub
    {
        return Err(ApiError::PolicyDenied(
            "multipart handle: issued for another store, key, upload or subject".into(),
        ));
    }
    // Scope and deny rules are re-checked, so revoking a permission stops an upload; the limits stay the handle's.
    let policies = state.policies.load();
    let ask = Ask {
        store,
        action: Action::Multipart,
        key,
        content_type: claims.content_type.as_deref(),
        size: None,
    };
    let rule = authorize(&policies, caller, &ask, false)?;
    Ok(Upload {
        store: store_ref,
        rule_max_expires: rule.max_expires,
        claims,
    })
}

impl Upload<'_> {
    pub fn key(&self) -> &str {
        &self.claims.key
    }

    pub fn upload_id(&self) -> &str {
        &self.claims.upload_id
    }

    /// The grant the upload was created under, for providers whose requests carry its constraints: rebuilt
    /// from the handle identically on every call (its expiry is the handle's), so a token minted from it is
    /// the same byte for byte.
    fn grant<'g>(&'g self, callback_url: Option<&'g str>, now: i64) -> UploadGrant<'g> {
        UploadGrant {
            key: &self.claims.key,
            content_type: self.claims.content_type.as_deref(),
            content_types: &self.claims.content_types,
            size: self.claims.size,
            max_size: self.claims.max_size,
            overwrite: self.claims.overwrite,
            subject: &self.claims.sub,
            now,
            expires_at: self.claims.exp,
            callback_url,
        }
    }

    /// The upload's callback (Qiniu calls back at `complete`): accepted until the handle expires, plus grace.
    fn callback_url(&self, state: &AppState) -> Option<String> {
        self.store.callback_url(
            &state.config.server.public_url,
            &state.ticket_key,
            &self.claims.key,
            &self.claims.sub,
            crate::ticket::valid_until(
                self.claims.exp,
                state.config.callbacks.ticket_grace_seconds,
            ),
        )
    }
}

/// The declared total size of an upload and its part size: every part's exact length.
#[derive(Debug, Clone, Copy)]
struct Declared {
    size: u64,
    part_size: u64,
}

/// The client's part list checked against the listed parts: the same numbers and ETags (quotes ignored),
/// strictly ascending. Returns the parts to complete with (as listed) and their total, or 413 when the total
/// is over `max_size` (checked arithmetic: an overflowing sum is over any limit). With a declared size the
/// parts must be exactly 1..=n with their exact lengths: providers whose part requests cannot pin a length
/// (Qiniu) are held to it here.
fn checked_parts(
    client: &[(u32, String)],
    listed: &[PartInfo],
    max_size: u64,
    declared: Option<Declared>,
) -> Result<(Vec<(u32, String)>, u64), ApiError> {
    let unquote = |e: &str| e.trim().trim_matches('"').to_owned();
    if client.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ApiError::InvalidRequest(
            "parts must be in strictly ascending part_number order".into(),
        ));
    }
    let total = listed
        .iter()
        .try_fold(0u64, |sum, p| sum.checked_add(p.size));
    match total {
        Some(total) if total <= max_size => {}
        _ => {
            return Err(ApiError::PayloadTooLarge(format!(
                "the uploaded parts total more than the allowed {max_size} bytes; the upload was aborted"
            )))
        }
    }
    let same = client.len() == listed.len()
        && client
            .iter()
            .zip(listed)
            .all(|((n, e), p)| *n == p.part_number && unquote(e) == unquote(&p.etag));
    if !same {
        return Err(ApiError::InvalidRequest(
            "parts must name exactly the uploaded parts (numbers and ETags, as GET .../parts lists them)"
                .into(),
        ));
    }
    if let Some(Declared { size, part_size }) = declared {
        let count = declared_parts(size, part_size);
        let wrong = listed.iter().enumerate().find(|(i, p)| {
            p.part_number as usize != i + 1 || p.size != part_length(size, part_size, p.part_number)
        });
        if let Some((_, p)) = wrong {
            return Err(ApiError::InvalidRequest(format!(
                "part {} ({} bytes) is not the declared size's part {} of {} bytes",
                p.part_number,
                p.size,
                p.part_number,
                part_length(size, part_size, p.part_number.max(1))
            )));
        }
        if listed.len() != count as usize {
            return Err(ApiError::InvalidRequest(format!(
                "the declared size needs parts 1..={count}; {} are uploaded",
                listed.len()
            )));
        }
    }
    let total = total.unwrap_or_default();
    Ok((
        listed
            .iter()
            .map(|p| (p.part_number, p.etag.clone()))
            .collect(),
        total,
    ))
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
    /// Declared total size: chooses the part size, and bounds the part numbers and each part's signed length.
    pub size: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartCreated {
    pub store: String,
    /// `s3`, `cos`, `qiniu`, `oss`.
    pub provider: &'static str,
    pub key: String,
    pub upload_id: String,
    /// Opaque; send it back on every later call of this upload.
    pub handle: String,
    /// Bytes per part (every part but the last is exactly this).
    pub part_size: u64,
    /// `min(10000, ceil(max_size / part_size))`.
    pub max_parts: u32,
    /// When the handle stops working.
    pub expires_at: DateTime<Utc>,
}

/// Start a multipart upload (the provider's Initiate) and answer its handle.
#[utoipa::path(request_body = CreateMultipart, responses((status = 200, body = MultipartCreated), (status = 422, description = "unsupported: the store's provider has no multipart here")), security(("bearer" = [])), tag = "multipart")]
#[post("/v1/multipart")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CreateMultipart>,
) -> Result<HttpResponse, ApiError> {
    let created = start_upload(&state, &caller, body.0, PartSizing::Broker).await?;
    Ok(HttpResponse::Ok().json(created))
}

/// Who chooses the part size of a new upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartSizing {
    /// The broker ([`part_size_for`]); its clients follow the answer's `part_size`.
    Broker,
    /// The client cuts its own parts, none but the last smaller than this (Uppy: S3's 5 MiB whatever the
    /// provider): `max_parts` is counted with the smallest such part, so such a client never runs out of parts.
    ClientAtLeast(u64),
}

/// Decide, let the provider Initiate, and issue the handle: what `POST /v1/multipart` and the Companion
/// `s3/multipart` route both answer (each in its own shape).
pub async fn start_upload(
    state: &AppState,
    caller: &Caller,
    req: CreateMultipart,
    sizing: PartSizing,
) -> Result<MultipartCreated, ApiError> {
    let store = state.store(&req.store)?;
    store.provider.require(Capability::Multipart)?;
    let policies = state.policies.load();
    let key = resolve_key(
        &policies,
        caller,
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
    let rule = authorize(&policies, caller, &ask, true)?;
    let max_size = rule_max_size(rule);
    let limits = store.provider.part_limits();
    let part_size = match sizing {
        PartSizing::Broker => part_size_for(limits, req.size.unwrap_or(max_size).min(max_size)),
        PartSizing::ClientAtLeast(smallest) => {
            smallest.max(limits.min_part_size).min(limits.max_part_size)
        }
    };
    let max_parts = max_parts_for(limits, max_size, part_size);
    if req
        .size
        .is_some_and(|s| declared_parts(s, part_size) > max_parts)
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "size needs more than the provider's {max_parts} parts"
        )));
    }
    let now = Utc::now().timestamp();
    let exp = now.saturating_add(
        i64::try_from(state.config.multipart.handle_ttl_seconds).unwrap_or(i64::MAX),
    );
    // Bound to the handle's expiry (plus grace), like every later grant's callback (`Upload::callback_url`).
    let callback_url = store.callback_url(
        &state.config.server.public_url,
        &state.ticket_key,
        &key,
        &caller.claims.sub,
        crate::ticket::valid_until(exp, state.config.callbacks.ticket_grace_seconds),
    );
    let grant = UploadGrant {
        key: &key,
        content_type: req.content_type.as_deref(),
        content_types: &rule.content_type_texts,
        size: req.size,
        max_size,
        overwrite: rule.overwrite,
        subject: &caller.claims.sub,
        now,
        expires_at: exp,
        callback_url: callback_url.as_deref(),
    };
    let upload_id = store
        .provider
        .initiate_multipart(&state.http, &grant)
        .await?;
    let handle = state.handle_key.issue(&HandleClaims {
        store: store.name.clone(),
        key: key.clone(),
        upload_id: upload_id.clone(),
        sub: caller.claims.sub.clone(),
        max_size,
        content_type: req.content_type.clone(),
        content_types: rule.content_type_texts.clone(),
        part_size,
        size: req.size,
        max_parts,
        overwrite: rule.overwrite,
        exp,
    });
    Ok(MultipartCreated {
        store: store.name.clone(),
        provider: store.provider_name(),
        key,
        upload_id,
        handle,
        part_size,
        max_parts,
        expires_at: DateTime::from_timestamp(exp, 0).unwrap_or_default(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignParts {
    pub store: String,
    pub key: String,
    /// As answered by `POST /v1/multipart`.
    pub handle: Option<String>,
    /// 1..=1000 part numbers, each 1..=max_parts (1..=ceil(size / part_size) when `size` was declared).
    pub part_numbers: Vec<u32>,
    pub expires_in: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrl {
    pub part_number: u32,
    /// Always `PUT`.
    pub method: &'static str,
    pub url: String,
    /// Headers to send exactly (`Content-Length` when the part's length is signed; `Authorization` for Qiniu).
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub headers: Fields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrls {
    pub parts: Vec<PartUrl>,
    pub expires_at: DateTime<Utc>,
}

/// Presign one upload request per part number.
#[utoipa::path(request_body = SignParts, params(("upload_id" = String, Path,)), responses((status = 200, body = PartUrls)), security(("bearer" = [])), tag = "multipart")]
#[post("/v1/multipart/{upload_id}/parts")]
pub async fn sign_parts(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    body: ApiJson<SignParts>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let upload = open_upload(
        &state,
        &caller,
        Some(&upload_id),
        &req.store,
        &req.key,
        req.handle.as_deref(),
    )?;
    let signed = sign_part_urls(&state, &upload, &req.part_numbers, req.expires_in)?;
    Ok(HttpResponse::Ok().json(signed))
}

/// One presigned request per part number, within the handle's limits.
pub fn sign_part_urls(
    state: &AppState,
    upload: &Upload,
    part_numbers: &[u32],
    expires_in: Option<u64>,
) -> Result<PartUrls, ApiError> {
    let claims = &upload.claims;
    let highest = match claims.size {
        Some(size) => declared_parts(size, claims.part_size).min(claims.max_parts),
        None => claims.max_parts,
    };
    if part_numbers.is_empty() || part_numbers.len() > MAX_PART_NUMBERS_PER_CALL {
        return Err(ApiError::InvalidRequest(format!(
            "part_numbers must hold 1..={MAX_PART_NUMBERS_PER_CALL} numbers"
        )));
    }
    if let Some(n) = part_numbers.iter().find(|n| !(1..=highest).contains(*n)) {
        return Err(ApiError::InvalidRequest(format!(
            "part number {n} is outside 1..={highest}"
        )));
    }
    if expires_in == Some(0) {
        return Err(ApiError::InvalidRequest(
            "expires_in must be at least 1 second".into(),
        ));
    }
    let now = Utc::now().timestamp();
    let expires_at = (now
        + upload
            .store
            .effective_expiry(expires_in, upload.rule_max_expires) as i64)
        .min(claims.exp);
    let requests: Vec<PartRequest> = part_numbers
        .iter()
        .map(|&n| PartRequest {
            part_number: n,
            content_length: claims.size.map(|s| part_length(s, claims.part_size, n)),
        })
        .collect();
    let callback_url = upload.callback_url(state);
    let grant = upload.grant(callback_url.as_deref(), now);
    let signed =
        upload
            .store
            .provider
            .sign_parts(&grant, upload.upload_id(), &requests, expires_at)?;
    let parts: Vec<PartUrl> = part_numbers
        .iter()
        .zip(signed)
        .map(|(&n, s)| PartUrl {
            part_number: n,
            method: s.method,
            url: s.url,
            headers: Fields::Owned(s.headers),
        })
        .collect();
    crate::telemetry::count(
        "credentials_issued_total",
        [("provider", upload.store.provider_name()), ("kind", "part")],
        parts.len() as u64,
    );
    Ok(PartUrls {
        parts,
        expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    pub store: String,
    pub key: String,
    /// As answered by `POST /v1/multipart`.
    pub handle: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListedPart {
    pub part_number: u32,
    /// As the provider returns it, with quotes.
    pub etag: String,
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListedParts {
    pub parts: Vec<ListedPart>,
}

/// List the uploaded parts (every page), so a client can resume.
#[utoipa::path(params(("upload_id" = String, Path,), UploadQuery), responses((status = 200, body = ListedParts)), security(("bearer" = [])), tag = "multipart")]
#[get("/v1/multipart/{upload_id}/parts")]
pub async fn list_parts(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    query: web::Query<UploadQuery>,
) -> Result<HttpResponse, ApiError> {
    let upload = open_upload(
        &state,
        &caller,
        Some(&upload_id),
        &query.store,
        &query.key,
        query.handle.as_deref(),
    )?;
    let parts = listed_parts(&state, &upload)
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

/// The parts the provider holds for the upload (every page, one entry per part number).
pub async fn listed_parts(
    state: &AppState,
    upload: &Upload<'_>,
) -> Result<Vec<PartInfo>, ApiError> {
    let now = Utc::now().timestamp();
    let callback_url = upload.callback_url(state);
    let grant = upload.grant(callback_url.as_deref(), now);
    Ok(uploaded_parts(
        &*upload.store.provider,
        &state.http,
        &grant,
        upload.upload_id(),
    )
    .await?)
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
    /// As answered by `POST /v1/multipart`.
    pub handle: Option<String>,
    /// Exactly the uploaded parts, ascending.
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartCompleted {
    pub store: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
    /// The object's plain, unsigned URL.
    pub location: Option<String>,
}

/// Complete the upload; over the handle's `max_size` it is aborted instead (413).
#[utoipa::path(request_body = CompleteMultipart, params(("upload_id" = String, Path,)), responses((status = 200, body = MultipartCompleted), (status = 400, description = "the part list does not name exactly the uploaded parts"), (status = 413, description = "parts exceed max_size; upload aborted")), security(("bearer" = [])), tag = "multipart")]
#[post("/v1/multipart/{upload_id}/complete")]
pub async fn complete(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    body: ApiJson<CompleteMultipart>,
) -> Result<HttpResponse, ApiError> {
    let req = body.0;
    let upload = open_upload(
        &state,
        &caller,
        Some(&upload_id),
        &req.store,
        &req.key,
        req.handle.as_deref(),
    )?;
    let parts = req
        .parts
        .into_iter()
        .map(|p| (p.part_number, p.etag))
        .collect();
    let done = complete_upload(&state, &upload, parts).await?;
    Ok(HttpResponse::Ok().json(done))
}

/// Completes the upload with the client's part list (numbers and ETags), checked against the listed parts and
/// the handle's `max_size` (over it, the upload is aborted: 413).
pub async fn complete_upload(
    state: &AppState,
    upload: &Upload<'_>,
    client: Vec<(u32, String)>,
) -> Result<MultipartCompleted, ApiError> {
    let max_parts = upload.claims.max_parts as usize;
    if client.is_empty() || client.len() > max_parts {
        return Err(ApiError::InvalidRequest(format!(
            "parts must hold 1..={max_parts} entries"
        )));
    }
    let now = Utc::now().timestamp();
    let callback_url = upload.callback_url(state);
    let grant = upload.grant(callback_url.as_deref(), now);
    let provider = &upload.store.provider;
    let upload_id = upload.upload_id();
    let listed = uploaded_parts(&**provider, &state.http, &grant, upload_id).await?;
    let declared = upload.claims.size.map(|size| Declared {
        size,
        part_size: upload.claims.part_size,
    });
    let (parts, size) = match checked_parts(&client, &listed, upload.claims.max_size, declared) {
        Ok(checked) => checked,
        Err(too_large @ ApiError::PayloadTooLarge(_)) => {
            provider
                .abort_multipart(&state.http, &grant, upload_id)
                .await?;
            return Err(too_large);
        }
        Err(e) => return Err(e),
    };
    let done = provider
        .complete_multipart(&state.http, &grant, upload_id, &parts)
        .await?;
    Ok(MultipartCompleted {
        store: upload.store.name.clone(),
        location: provider.location(upload.key()),
        key: upload.key().to_owned(),
        etag: done.etag,
        size: done.size.unwrap_or(size),
    })
}

/// Abort the upload (the provider's Abort); 204.
#[utoipa::path(params(("upload_id" = String, Path,), UploadQuery), responses((status = 204, description = "aborted")), security(("bearer" = [])), tag = "multipart")]
#[delete("/v1/multipart/{upload_id}")]
pub async fn abort(
    state: web::Data<AppState>,
    caller: Caller,
    upload_id: web::Path<String>,
    query: web::Query<UploadQuery>,
) -> Result<HttpResponse, ApiError> {
    let upload = open_upload(
        &state,
        &caller,
        Some(&upload_id),
        &query.store,
        &query.key,
        query.handle.as_deref(),
    )?;
    abort_upload(&state, &upload).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The provider's Abort.
pub async fn abort_upload(state: &AppState, upload: &Upload<'_>) -> Result<(), ApiError> {
    let now = Utc::now().timestamp();
    let callback_url = upload.callback_url(state);
    let grant = upload.grant(callback_url.as_deref(), now);
    Ok(upload
        .store
        .provider
        .abort_multipart(&state.http, &grant, upload.upload_id())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S3: PartLimits = PartLimits::S3;

    #[test]
    fn part_sizes_are_8_mib_unless_the_size_needs_more() {
        assert_eq!(part_size_for(S3, 0), 8 * MIB);
        assert_eq!(part_size_for(S3, 10 * MIB), 8 * MIB);
        assert_eq!(part_size_for(PartLimits::OSS, 1), 8 * MIB);
        let big = 100 << 30; // 100 GiB
        let ps = part_size_for(S3, big);
        assert!(ps >= 8 * MIB && ps.is_multiple_of(MIB));
        assert!(big.div_ceil(ps) <= 10_000);
        assert!(
            big.div_ceil(ps - MIB) > 10_000,
            "part size is the smallest whole MiB that fits"
        );
        // Never above the provider's largest part.
        assert_eq!(part_size_for(PartLimits::QINIU, 50 << 40), 1 << 30);
    }

    #[test]
    fn max_parts_is_min_of_ten_thousand_and_ceil_max_size_over_part_size() {
        // Issue 10 #12: a 20 MiB rule with 5 MiB parts allows 4, not 5.
        assert_eq!(max_parts_for(S3, 20 * MIB, 5 * MIB), 4);
        assert_eq!(max_parts_for(S3, 20 * MIB + 1, 5 * MIB), 5);
        assert_eq!(max_parts_for(S3, 20 * MIB, 8 * MIB), 3);
        assert_eq!(max_parts_for(S3, 1, 8 * MIB), 1);
        assert_eq!(
            max_parts_for(S3, DEFAULT_MAX_MULTIPART_SIZE, 8 * MIB),
            10_000
        );
    }

    #[test]
    fn declared_sizes_fix_every_part_length() {
        assert_eq!(declared_parts(0, 8), 1);
        assert_eq!(declared_parts(17, 8), 3);
        assert_eq!(
            (1..=3).map(|n| part_length(17, 8, n)).collect::<Vec<_>>(),
            [8, 8, 1]
        );
        assert_eq!(part_length(16, 8, 2), 8);
        assert_eq!(part_length(0, 8, 1), 0);
    }

    fn listed(parts: &[(u32, &str, u64)]) -> Vec<PartInfo> {
        parts
            .iter()
            .map(|&(n, e, s)| PartInfo {
                part_number: n,
                etag: format!("\"{e}\""),
                size: s,
                last_modified: None,
            })
            .collect()
    }

    fn client(parts: &[(u32, &str)]) -> Vec<(u32, String)> {
        parts.iter().map(|&(n, e)| (n, e.to_owned())).collect()
    }

    #[test]
    fn the_client_list_must_equal_the_listed_parts() {
        let l = listed(&[(1, "a", 5), (2, "b", 3)]);
        let (parts, total) =
            checked_parts(&client(&[(1, "\"a\""), (2, "b")]), &l, 8, None).expect("equal lists");
        assert_eq!(parts, vec![(1, "\"a\"".into()), (2, "\"b\"".into())]);
        assert_eq!(total, 8);
        for bad in [
            client(&[(1, "a")]),                     // a part left out
            client(&[(1, "a"), (2, "x")]),           // another ETag
            client(&[(1, "a"), (3, "b")]),           // another number
            client(&[(1, "a"), (2, "b"), (3, "c")]), // a part never uploaded
            client(&[(2, "b"), (1, "a")]),           // descending
            client(&[(1, "a"), (1, "a")]),           // repeated
        ] {
            let e = checked_parts(&bad, &l, 8, None).expect_err("refused");
            assert_eq!(e.code(), "invalid_request", "{bad:?}");
        }
    }

    #[test]
    fn a_total_that_overflows_is_over_any_limit() {
        // Issue 10 #7: [u64::MAX, 2] wrapped to 1 with an unchecked sum.
        let l = listed(&[(1, "a", u64::MAX), (2, "b", 2)]);
        let e = checked_parts(&client(&[(1, "a"), (2, "b")]), &l, u64::MAX, None)
            .expect_err("too large");
        assert_eq!(e.code(), "payload_too_large");
        let l = listed(&[(1, "a", 5), (2, "b", 4)]);
        let e = checked_parts(&client(&[(1, "a"), (2, "b")]), &l, 8, None).expect_err("too large");
        assert_eq!(e.code(), "payload_too_large");
    }

    #[test]
    fn a_declared_size_holds_every_listed_part_to_its_length() {
        let declared = Some(Declared {
            size: 17,
            part_size: 8,
        });
        let all = client(&[(1, "a"), (2, "b"), (3, "c")]);
        let exact = listed(&[(1, "a", 8), (2, "b", 8), (3, "c", 1)]);
        let (_, total) = checked_parts(&all, &exact, 100, declared).expect("exact lengths");
        assert_eq!(total, 17);
        for (bad_client, bad) in [
            (
                all.clone(),
                listed(&[(1, "a", 8), (2, "b", 7), (3, "c", 2)]),
            ), // a short middle part
            (
                all.clone(),
                listed(&[(1, "a", 8), (2, "b", 8), (3, "c", 2)]),
            ), // a long last part
            (
                client(&[(1, "a"), (2, "b")]),
                listed(&[(1, "a", 8), (2, "b", 8)]),
            ), // one missing
            (
                client(&[(1, "a"), (3, "c")]),
                listed(&[(1, "a", 8), (3, "c", 1)]),
            ), // a gap
        ] {
            let e = checked_parts(&bad_client, &bad, 100, declared).expect_err("refused");
            assert_eq!(e.code(), "invalid_request", "{bad:?}");
        }
    }
}
