//! 405 `method_not_allowed` with `Allow` for a known route called with another method (API.md). The routes and
//! their methods are read from the OpenAPI document, the one description of every endpoint, so this table
//! cannot drift from what is served.
use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use utoipa::OpenApi as _;

struct Route {
    def: ResourceDef,
    allow: String,
}

fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc = crate::routes::openapi::ApiDoc::openapi();
        doc.paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.head.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                Route {
                    // OpenAPI's `{name}` templates are actix's pattern syntax too.
                    def: ResourceDef::new(path.as_str()),
                    allow: methods
                        .iter()
                        .filter(|(_, served)| *served)
                        .map(|(m, _)| *m)
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })
            .collect()
    })
}

/// The `Allow` value of the known route `path` belongs to (the union when several patterns match it).
pub fn allowed(path: &str) -> Option<String> {
    let mut allow: Vec<&str> = Vec::new();
    for route in routes().iter().filter(|r| r.def.is_match(path)) {
        for m in route.allow.split(", ") {
            if !allow.contains(&m) {
                allow.push(m);
            }
        }
    }
    (!allow.is_empty()).then(|| allow.join(", "))
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn known_routes_list_their_methods() {
        assert_eq!(allowed("/v1/uploads").as_deref(), Some("POST"));
        assert_eq!(allowed("/healthz").as_deref(), Some("GET"));
        assert_eq!(
            allowed("/v1/multipart/abc/parts").as_deref(),
            Some("GET, POST")
        );
        assert_eq!(
            allowed("/v1/callbacks/media").as_deref(),
            Some("HEAD, POST")
        );
        assert_eq!(allowed("/nope"), None);
    }
}
