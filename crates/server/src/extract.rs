//! Request extractors that answer in the API's error format: [`ApiJson`] (JSON body within the
//! size limit, arrived within `body_read_timeout`) and [`ClientIp`] (the peer address, for per-client limits).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body. Over the body limit: 413 `payload_too_large`; not all there within
/// `body_read_timeout`: 408 `request_timeout`; not JSON of the expected shape: 400
/// `invalid_request`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<ApiJson<T>, ApiError> {
        // The route's own limit (the one its `DefaultBodyLimit` enforces), not always the default.
        let limit = crate::guard::body_limit(req.uri().path(), &state.config);
        let timeout = state.config.body_read_timeout;
        let reading = tokio::time::timeout(timeout, Bytes::from_request(req, state));
        let read = reading.await.map_err(|_| ApiError::RequestTimeout(timeout.as_secs().max(1)))?;
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::InvalidRequest("the request body could not be read".into())
            }
        })?;
        // Only an object: serde would otherwise also read a struct from a JSON array.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::InvalidRequest("the body must be a JSON object".into()));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::InvalidRequest(format!("the body is not valid JSON for this request: {e}")))
    }
}

/// The client's address as every per-address limit counts it ([`client_network`] of the TCP
/// peer; offpay does not trust forwarding headers).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    pub fn of(extensions: &axum::http::Extensions) -> ClientIp {
        ClientIp(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| client_network(addr.ip()))
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        )
    }
}

/// The network a client address stands for in per-address limits: an IPv4 address itself
/// (also when it comes IPv4-mapped in IPv6); for IPv6, its /64, since one subscriber is given a
/// whole /64 and could otherwise take a fresh address for every request.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// The site an IPv6 client network belongs to, its /48 (what one organisation, or a tunnel
/// broker's free allocation, holds: 65,536 /64s), counted as a whole by a looser limit
/// ([`crate::ratelimit::AddressLimiter`]); `None` for IPv4, where one address is already scarce.
pub fn client_site(ip: IpAddr) -> Option<IpAddr> {
    match ip.to_canonical() {
        IpAddr::V6(v6) => Some(IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 80) - 1)))),
        IpAddr::V4(_) => None,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientIp, ApiError> {
        Ok(ClientIp::of(&parts.extensions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_as_its_64_and_ipv4_as_itself() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(client_network(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_network(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), ip("2001:db8:1:2::"));
        assert_ne!(client_network(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_network(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_site(ip("2001:db8:1:2:aaaa::1")), Some(ip("2001:db8:1::")));
        assert_eq!(client_site(ip("2001:db8:1:ffff::")), Some(ip("2001:db8:1::")));
        assert_ne!(client_site(ip("2001:db8:2::1")), Some(ip("2001:db8:1::")));
        assert_eq!(client_site(ip("203.0.113.7")), None);
        assert_eq!(client_site(ip("::ffff:203.0.113.7")), None);
        assert_eq!(client_network(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}
