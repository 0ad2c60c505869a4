//! `GET /v1/stores`: the configured stores and their providers.
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::Caller;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct StoreInfo {
    pub name: String,
    /// `s3`, `cos`, `qiniu` or `oss`.
    pub provider: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct StoreList {
    pub stores: Vec<StoreInfo>,
}

/// The configured stores.
#[utoipa::path(
    responses((status = 200, body = StoreList), (status = 401, description = "unauthenticated")),
    security(("bearer" = [])),
    tag = "stores"
)]
#[get("/v1/stores")]
pub async fn list_stores(state: web::Data<AppState>, _caller: Caller) -> HttpResponse {
    let stores = state
        .stores
        .values()
        .map(|s| StoreInfo {
            name: s.name.clone(),
            provider: s.provider_name(),
        })
        .collect();
    HttpResponse::Ok().json(StoreList { stores })
}
