//! The OpenAPI document's error answers: every operation may answer any error status of docs/API.md as
//! RFC 9457 problem+json (`default` response, `Problem` schema), so the document matches what is served
//! (Schemathesis checks it: scripts/schemathesis.sh).
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::Modify;

/// The stable codes of docs/API.md (and `method_not_allowed`, `request_timeout`, `not_found`, `internal`).
const CODES: &[&str] = &[
    "unauthenticated",
    "policy_denied",
    "invalid_request",
    "invalid_key",
    "unknown_store",
    "not_found",
    "method_not_allowed",
    "request_timeout",
    "payload_too_large",
    "unsupported_media_type",
    "unsupported",
    "rate_limited",
    "signature_invalid",
    "upstream_error",
    "unavailable",
    "internal",
];

pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let problem = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("RFC 9457 problem details"))
            .property("type", string())
            .property("title", string())
            .property("status", ObjectBuilder::new().schema_type(Type::Integer))
            .property("code", string().enum_values(Some(CODES.iter().copied())))
            .property("detail", string())
            .property("request_id", string())
            .property(
                "message",
                string().description(Some(
                    "`/companion/...` only: the same text as `detail` (what Uppy shows its user)",
                )),
            )
            .property(
                "checks",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("`/readyz` only: each dependency's state"))
                    .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(
                        string().build().into(),
                    )))),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("code")
            .required("detail")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert("Problem".into(), RefOr::T(problem.into()));
        let response = ResponseBuilder::new()
            .description("an error: problem+json with a stable `code` (docs/API.md)")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.head,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("default".into())
                    .or_insert_with(|| RefOr::T(response.clone()));
            }
        }
    }
}
