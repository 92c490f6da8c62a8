//! Security headers on every answer, web wallet files and API alike (docs/OPERATIONS.md,
//! "Security headers"), set with tower-http's `SetResponseHeaderLayer` unless a route set its own:
//!
//! - `Content-Security-Policy`: scripts, styles, images, workers and connections from this origin
//!   only (no inline script, no `eval`; `data:`/`blob:` images for QR codes and the camera
//!   canvas), `frame-ancestors 'none'` (the wallet cannot be framed for clickjacking), no plugins,
//!   `base-uri 'none'`, forms submit only here.
//! - `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.
//! - `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.
//! - `Permissions-Policy`: the camera for this origin (scanning QR codes), nothing else.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy the web wallet runs under (`web/public` has no inline script or style attribute).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The camera for this origin only (the QR scanner); every other powerful feature off.
pub const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), \
     serial=(), bluetooth=(), interest-cohort=()";

/// Every answer of `router` carries the headers above.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let headers: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    })
}
