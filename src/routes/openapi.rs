//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers and types.
use actix_web::{get, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{callbacks, companion, downloads, health, multipart, stores, uploads};
use crate::problem_docs::ProblemResponses;

#[derive(OpenApi)]
#[openapi(
    info(title = "presign-broker", description = "Direct-upload credentials for S3, Tencent COS, Qiniu and Aliyun OSS"),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
        stores::list_stores,
        uploads::create_upload,
        uploads::confirm_upload,
        downloads::create_download,
        multipart::create,
        multipart::sign_parts,
        multipart::list_parts,
        multipart::complete,
        multipart::abort,
        companion::params,
        companion::create,
        companion::sign_part,
        companion::list_parts,
        companion::complete,
        companion::abort,
        callbacks::liveness,
        callbacks::receive,
    ),
    modifiers(&BearerAuth, &ProblemResponses)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(responses((status = 200, description = "OpenAPI 3.1 document")), tag = "health")]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
