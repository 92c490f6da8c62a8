//! The router: every path of the API (docs/API.md), one module per route group, the request
//! guards, the JSON 404/405 answers and the web wallet's files at `/`.

mod account;
mod auth;
mod history;
mod meta;
pub mod offline;
mod receipts;
mod refusals;
mod transfers;
mod web;

pub(crate) use web::is_web_request;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::guard::guard;
use crate::state::AppState;

/// Every API path. The OpenAPI document must describe each one (checked by tests).
pub mod paths {
    pub const HEALTH: &str = "/v1/health";
    pub const CONFIG: &str = "/v1/config";
    pub const REGISTER: &str = "/v1/register";
    pub const LOGIN: &str = "/v1/login";
    pub const LOGOUT: &str = "/v1/logout";
    pub const LOGOUT_ALL: &str = "/v1/logout-all";
    pub const PASSWORD: &str = "/v1/password";
    pub const ME: &str = "/v1/me";
    pub const TRANSFERS: &str = "/v1/transfers";
    pub const HISTORY: &str = "/v1/history";
    pub const WS: &str = "/v1/ws";
    pub const OPENAPI: &str = "/v1/openapi.json";
    pub use super::offline::{DEVICES, ISSUER_KEYS, NOTES, PURSE_CLOSE, PURSES, REVOCATIONS};
    pub use super::receipts::RECEIPT;
    pub use super::refusals::NOTE_REFUSALS;

    /// (method, path) of every API route.
    pub const ALL: &[(&str, &str)] = &[
        ("get", HEALTH),
        ("get", CONFIG),
        ("post", REGISTER),
        ("post", LOGIN),
        ("post", LOGOUT),
        ("post", LOGOUT_ALL),
        ("post", PASSWORD),
        ("get", ME),
        ("post", TRANSFERS),
        ("get", HISTORY),
        ("get", WS),
        ("get", OPENAPI),
        ("get", ISSUER_KEYS),
        ("get", REVOCATIONS),
        ("post", DEVICES),
        ("post", PURSES),
        ("get", PURSES),
        ("post", PURSE_CLOSE),
        ("post", NOTES),
        ("post", NOTE_REFUSALS),
        ("get", RECEIPT),
    ];
}

/// Every API route with its handler. The router and the OpenAPI document both come from here:
/// each handler's `#[utoipa::path]` says its method, path, parameters and answers.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(meta::health))
        .routes(routes!(meta::config))
        .routes(routes!(meta::openapi))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(auth::change_password))
        .routes(routes!(account::me))
        .routes(routes!(transfers::create))
        .routes(routes!(history::list))
        .routes(routes!(ws::upgrade))
        .routes(routes!(receipts::receipt))
        .routes(routes!(refusals::refuse))
        .merge(offline::routes())
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
    let (api, _document) = api_routes().split_for_parts();
    let app = Router::new()
        .route("/", get(web::index))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    crate::request_id::with_request_ids(crate::headers::with_security_headers(app)).with_state(state)
}

/// Unknown paths: a file of the web wallet for a `GET` outside `/v1`, else the JSON 404.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    if web::is_web_request(&method, path) {
        return web::file_at(path.trim_start_matches('/'));
    }
    ApiError::NotFound.into_response()
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
