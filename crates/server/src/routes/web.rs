//! The web wallet: the static files of `web/public`, embedded into the binary at compile time
//! (so `offpay serve` needs nothing beside itself), served at `/`.
//!
//! Every answer carries `Cache-Control: no-cache`: the service worker (`sw.js`) does the
//! caching for offline use, and the browser must always be able to learn of a new version.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/public"]
struct WebAssets;

/// True for a request the web wallet's files answer: a `GET` or `HEAD` outside the API (`/v1`).
/// The router's fallback serves these, and the guard does not count them against the
/// per-address API limit.
pub fn is_web_request(method: &Method, path: &str) -> bool {
    let api = path == "/v1" || path.starts_with("/v1/");
    !api && (method == Method::GET || method == Method::HEAD)
}

/// `GET /`: the app's page.
pub async fn index() -> Response {
    asset("index.html")
}

/// Any other file of the app (`path` without its leading `/`); the API's JSON 404 otherwise.
pub fn file_at(path: &str) -> Response {
    asset(path)
}

fn asset(path: &str) -> Response {
    let Some(file) = WebAssets::get(path) else {
        return crate::error::ApiError::NotFound.into_response();
    };
    let mut response = (StatusCode::OK, file.data.into_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_shell_is_embedded() {
        for path in ["index.html", "sw.js", "manifest.webmanifest", "app.css", "js/main.js"] {
            assert!(WebAssets::get(path).is_some(), "{path} is missing from the embedded web wallet");
        }
    }

    #[test]
    fn only_reads_outside_the_api_are_web_requests() {
        assert!(is_web_request(&Method::GET, "/"));
        assert!(is_web_request(&Method::HEAD, "/sw.js"));
        assert!(!is_web_request(&Method::POST, "/"));
        assert!(!is_web_request(&Method::GET, "/v1"));
        assert!(!is_web_request(&Method::GET, "/v1/me"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("sw.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("manifest.webmanifest"), "application/manifest+json");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
