//! 405 `method_not_allowed` with `Allow` for a known route called with another method (API.md). The routes and
//! their methods are read from the OpenAPI document, the one description of every endpoint, so this table
//! cannot drift from what is served.
use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use utoipa::OpenApi as _;

struct Route {
    def: ResourceDef,
    /// `{name}` segments in the pattern: fewer is more specific.
    dynamic_segments: usize,
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
                    dynamic_segments: path.matches('{').count(),
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

/// The `Allow` value of the known route `path` belongs to. When several patterns match it, the most literal
/// ones win (the union of those): `/companion/{store}/s3/multipart/{upload_id}/complete` is that POST route,
/// not the part-number GET route whose `{part_number}` the word `complete` also fills.
pub fn allowed(path: &str) -> Option<String> {
    let matching: Vec<&Route> = routes().iter().filter(|r| r.def.is_match(path)).collect();
    let fewest = matching.iter().map(|r| r.dynamic_segments).min()?;
    let mut allow: Vec<&str> = Vec::new();
    for route in matching.iter().filter(|r| r.dynamic_segments == fewest) {
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
        // `complete` also fills `{part_number}`; the literal route is the one meant.
        assert_eq!(
            allowed("/companion/media/s3/multipart/abc/complete").as_deref(),
            Some("POST")
        );
        assert_eq!(
            allowed("/companion/media/s3/multipart/abc/3").as_deref(),
            Some("GET")
        );
        assert_eq!(
            allowed("/companion/media/s3/multipart/abc").as_deref(),
            Some("GET, DELETE")
        );
    }
}
