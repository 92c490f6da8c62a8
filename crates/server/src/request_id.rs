//! A request id on every answer and every log line of a request: each request gets an
//! `x-request-id` (a fresh UUID, or the one a balancer or client already set when it is at most
//! [`MAX_LEN`] characters of `A-Z a-z 0-9 - _ .`: anything else is replaced, so a client cannot
//! write a 400 KB id into every log line of its requests), the answer carries
//! it back, and the request's tracing span records it, so every line logged while the request
//! runs (the trace layer's, the routes' and the ledger's) names it. An operator who is sent the id
//! from an error screen finds the request's lines with one search (docs/OPERATIONS.md, "Logs").

use axum::Router;
use axum::http::{HeaderMap, HeaderName, Request};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client or balancer (a UUID is 36).
pub const MAX_LEN: usize = 64;

/// `router` with request ids and one tracing span per request that records the id.
pub fn with_request_ids<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(PropagateRequestIdLayer::new(HEADER))
        .layer(SetRequestIdLayer::new(HEADER, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unfit_id))
}

/// Removes a request id that is too long or has other characters, so that a fresh one is made.
async fn drop_unfit_id<B>(mut request: Request<B>) -> Request<B> {
    if !fit_id(request.headers()) {
        request.headers_mut().remove(HEADER);
    }
    request
}

fn fit_id(headers: &HeaderMap) -> bool {
    let mut ids = headers.get_all(HEADER).iter();
    match (ids.next(), ids.next()) {
        (None, _) => true,
        (Some(id), None) => {
            let id = id.as_bytes();
            !id.is_empty()
                && id.len() <= MAX_LEN
                && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        // Two ids: neither is trusted.
        (Some(_), Some(_)) => false,
    }
}

fn span<B>(request: &Request<B>) -> Span {
    // An id that is not visible ASCII (a client may send anything) is logged as "-".
    let id = request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::{HEADER, with_request_ids};

    async fn id_answered_for(sent: &[&str]) -> String {
        let app: Router = with_request_ids(Router::new().route("/", get(|| async { "ok" })));
        let mut request = Request::get("/");
        for id in sent {
            request = request.header(HEADER, *id);
        }
        let answer = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        answer.headers().get(HEADER).unwrap().to_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_fit_id_is_kept_and_any_other_replaced() {
        assert_eq!(id_answered_for(&["lb-7f3a_01.2"]).await, "lb-7f3a_01.2");
        for unfit in ["a".repeat(65), "has space".into(), "semi;colon".into(), "é".into(), String::new()] {
            let answered = id_answered_for(&[&unfit]).await;
            assert_ne!(answered, unfit);
            assert_eq!(answered.len(), 36, "a fresh UUID instead of {unfit:?}");
        }
        let answered = id_answered_for(&["one", "two"]).await;
        assert_eq!(answered.len(), 36, "two ids: a fresh one, not {answered:?}");
        assert_eq!(id_answered_for(&[]).await.len(), 36);
    }
}
