//! A request id on every answer and every log line of a request: each request gets an
//! `x-request-id` (a fresh UUID, or the one a balancer or client already set), the answer carries
//! it back, and the request's tracing span records it, so every line logged while the request
//! runs (the trace layer's, the routes' and the ledger's) names it. An operator who is sent the id
//! from an error screen finds the request's lines with one search (docs/OPERATIONS.md, "Logs").

use axum::Router;
use axum::http::{HeaderName, Request};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// `router` with request ids and one tracing span per request that records the id.
pub fn with_request_ids<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(PropagateRequestIdLayer::new(HEADER))
        .layer(SetRequestIdLayer::new(HEADER, MakeRequestUuid))
}

fn span<B>(request: &Request<B>) -> Span {
    // An id that is not visible ASCII (a client may send anything) is logged as "-".
    let id = request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}
