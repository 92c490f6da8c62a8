//! Checks applied to every request before routing: a declared body over the limit is refused
//! with 413 at once (the JSON extractor catches undeclared ones, naming the same limit: see
//! [`body_limit`]), and each client address has a request-rate limit on the API (429
//! `rate_limited` with `Retry-After`).

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::state::AppState;

/// The largest body accepted on `path`, in bytes: note uploads have their own limit.
pub fn body_limit(path: &str, config: &Config) -> usize {
    if path == crate::routes::offline::NOTES { crate::routes::offline::NOTES_BODY_MAX } else { config.body_limit_bytes }
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = body_limit(request.uri().path(), &state.config);
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return ApiError::PayloadTooLarge(limit).into_response();
    }
    // The web wallet's own files are static and embedded: a first visit fetches ~50 of them, so
    // they are not counted against the per-address API limit (several phones behind one address
    // would otherwise be refused the app itself).
    if crate::routes::is_web_request(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let ClientIp(ip) = ClientIp::of(request.extensions());
    if let Err(retry_after_s) = state.per_ip.check(&ip) {
        let detail = format!("ip={ip} limit=per_ip");
        state.security.record_sampled("rate_limited", &format!("ip:{ip}"), &detail).await;
        return ApiError::RateLimited { retry_after_s }.into_response();
    }
    next.run(request).await
}
