//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`, generated (never written by hand):
//! the schemas come from `offpay-api`'s types, the paths from the route handlers'
//! `#[utoipa::path]` attributes, collected by the same `utoipa_axum` router that serves them
//! (`routes::api_routes`). This file adds what no handler says: the title, the description and
//! the session token's security scheme.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "offpay API",
        version = "1",
        description = "The offpay server's HTTP JSON API, generated from the offpay-api crate and the route handlers. Amounts are integers in minor units of the deployment currency (GET /v1/config). Errors are {\"error\": {\"code\", \"message\"}} with the stable codes listed in docs/API.md. Request bodies are limited to 16 KiB (413 payload_too_large), except POST /v1/notes. The offline routes and their codes are described in docs/API-OFFLINE.md. Live events (GET /v1/ws) are `Event` messages; a browser authenticates with a first `WsHello` message.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/")),
    components(schemas(offpay_api::WsHello, offpay_api::ErrorCode)),
    modifiers(&SessionToken),
)]
struct ApiDoc;

/// The `bearer` scheme: the session token from register or login.
struct SessionToken;

impl Modify for SessionToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("64 hex characters (256 random bits) from register or login"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_router, paths) = crate::routes::api_routes().split_for_parts();
    let mut document = ApiDoc::openapi();
    document.merge(paths);
    document
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serializing the document's plain structs cannot fail; if it ever did, the answer says so
        // as JSON instead of the server failing.
        document().to_pretty_json().unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}).to_string())
    })
}
