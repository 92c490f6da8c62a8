//! Why an API request failed ([`ClientError`]), and the questions the callers ask of it: did the
//! server refuse it, was it certainly not carried out, does it close an idempotency key.
//! One error type for the online and the offline endpoints.

/// The server refused a request: its HTTP status, stable code and human sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// True when an earlier attempt of the same call (timed out, or answered 502-504) may have
    /// reached the server: this answer then proves nothing about that attempt.
    pub after_unknown_attempt: bool,
}

/// The error codes that settle a key reused after an attempt with no answer: the ledger's
/// refusals kept under the key (docs/API.md, "Idempotency"), and refusals of the body or key
/// themselves, which the earlier attempt's identical bytes got too. Not in it, on purpose:
/// `request_timeout` (the body did not arrive; the server never read the key), `offline_limit`,
/// `offline_disabled`, `unknown_device`, `device_revoked`, `purse_not_open` (the server's
/// configuration or the device's state, which may have changed since the earlier attempt),
/// `account_frozen`, `rate_limited`, `payload_too_large`, `unauthorized`, `not_found` (a proxy's
/// or a missing route's 404) and every code this wallet does not know.
pub const KEY_SETTLING_CODES: &[&str] = &[
    "idempotency_conflict",
    "insufficient_funds",
    "unknown_user",
    "same_account",
    "payee_mismatch",
    "too_many_purses",
    "invalid_request",
    "invalid_amount",
    "invalid_handle",
    "invalid_memo",
    "invalid_idempotency_key",
    "missing_idempotency_key",
    "invalid_certificate",
    "invalid_device_key",
];

/// For a purse load sent again, also these: a lasting state of the account, the device or the
/// server's configuration that refuses every load. Left pending, such a load could never be
/// finished nor dropped (the wallet refuses other loads until it is). Closing it is safe where
/// closing a send is not: a load moves money only into the user's own purse, and if the earlier
/// attempt did reserve it, it comes back to the balance at that purse's settlement deadline.
pub const LOAD_SETTLING_CODES: &[&str] = &["offline_limit", "device_revoked", "unknown_device", "account_frozen"];

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer (connection refused, timeout, connection dropped). `sent` is false when the
    /// request certainly never reached the server (the connection could not be made).
    #[error("cannot reach the server at {server} ({reason})")]
    Unreachable { server: String, reason: String, sent: bool },
    /// An answer that does not follow the API.
    #[error("the server at {server} sent an answer this wallet cannot read ({reason})")]
    BadAnswer { server: String, reason: String },
}

impl ClientError {
    /// True when the server answered and refused the request (a 4xx).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Api(e) if (400..500).contains(&e.status))
    }

    /// True when the server certainly did not carry out the request: it refused it, or the
    /// request never reached it. Everything else (timeout, 5xx, unreadable answer) leaves the
    /// outcome unknown.
    pub fn is_definitely_not_done(&self) -> bool {
        self.is_refusal() || matches!(self, ClientError::Unreachable { sent: false, .. })
    }

    /// True when the server ended the session (401): the caller must log in again.
    pub fn is_session_ended(&self) -> bool {
        self.status() == Some(401)
    }

    /// Whether this failure of a request carrying an idempotency key (a transfer, a purse
    /// load) proves that the key never moved money, so it may be closed as failed. For a fresh
    /// key, any refusal or a request that never left proves it. For a key reused from an
    /// earlier attempt whose outcome is unknown, only the server's refusal of the request itself
    /// does (the server answers a key it already carried out with a replay): an offpay error
    /// whose code is one of [`KEY_SETTLING_CODES`], decided by the ledger under the key or by the
    /// request's own bytes, which were the same in the earlier attempt. Anything else proves
    /// nothing about that earlier attempt: refusals that come before the server looks at the key
    /// (no session, frozen, rate limit, body too large, a body that arrived too slowly, a limit
    /// of the server's configuration), an error page from a proxy, a code this wallet does not
    /// know, or no connection at all.
    pub fn settles_the_key(&self, reused: bool) -> bool {
        let reused = reused || matches!(self, ClientError::Api(e) if e.after_unknown_attempt);
        if !reused {
            return self.is_definitely_not_done();
        }
        match self {
            ClientError::Api(e) => (400..500).contains(&e.status) && KEY_SETTLING_CODES.contains(&e.code.as_str()),
            _ => false,
        }
    }

    /// [`ClientError::settles_the_key`] for a purse load: also the lasting refusals of
    /// [`LOAD_SETTLING_CODES`].
    pub fn settles_the_load_key(&self, reused: bool) -> bool {
        self.settles_the_key(reused)
            || matches!(self, ClientError::Api(e) if (400..500).contains(&e.status) && LOAD_SETTLING_CODES.contains(&e.code.as_str()))
    }

    /// The API error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(e) => Some(e.status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> ClientError {
        ClientError::Api(ApiError { status, code: "x".into(), message: "m".into(), after_unknown_attempt: false })
    }

    fn unreachable(sent: bool) -> ClientError {
        ClientError::Unreachable { server: "s".into(), reason: "r".into(), sent }
    }

    #[test]
    fn only_4xx_or_unsent_is_definitely_not_done() {
        assert!(api(422).is_refusal() && api(422).is_definitely_not_done());
        assert!(api(409).is_definitely_not_done());
        assert!(!api(500).is_definitely_not_done());
        assert!(!api(503).is_definitely_not_done());
        let lost = unreachable(true);
        assert!(!lost.is_definitely_not_done());
        assert_eq!((lost.code(), lost.status()), (None, None));
        let refused = unreachable(false);
        assert!(refused.is_definitely_not_done() && !refused.is_refusal());
        assert_eq!((api(401).status(), api(401).code()), (Some(401), Some("x")));
        assert!(api(401).is_session_ended() && !api(403).is_session_ended() && !lost.is_session_ended());
    }

    #[test]
    fn a_fresh_key_is_settled_by_any_refusal_or_an_unsent_request() {
        for status in [400, 401, 404, 409, 422, 429] {
            assert!(api(status).settles_the_key(false), "{status}");
        }
        assert!(unreachable(false).settles_the_key(false));
        assert!(!unreachable(true).settles_the_key(false));
        assert!(!api(500).settles_the_key(false));
    }

    fn coded(status: u16, code: &str) -> ClientError {
        ClientError::Api(ApiError { status, code: code.into(), message: "m".into(), after_unknown_attempt: false })
    }

    #[test]
    fn a_reused_key_is_settled_only_by_a_refusal_of_the_request_itself() {
        for (status, code) in
            [(400, "invalid_amount"), (404, "unknown_user"), (409, "idempotency_conflict"), (422, "insufficient_funds")]
        {
            assert!(coded(status, code).settles_the_key(true), "{status} {code}");
        }
        for status in [401, 403, 413, 429, 500, 503] {
            assert!(!api(status).settles_the_key(true), "{status}");
        }
        assert!(!unreachable(false).settles_the_key(true));
        assert!(!unreachable(true).settles_the_key(true));
    }

    /// The server's 408 comes before it reads the key, a proxy's error page is not the server's
    /// verdict, and a limit of the configuration may have changed since the earlier attempt: a
    /// retried send answered so may have paid, and stays pending (it was marked refused before,
    /// and the person paid again under a new key).
    #[test]
    fn a_reused_key_is_not_settled_by_a_timeout_a_proxy_page_or_a_changed_limit() {
        for (status, code) in [
            (408, "request_timeout"),
            (400, "http_400"),
            (404, "http_404"),
            (403, "http_403"),
            (421, "http_421"),
            (404, "not_found"),
            (400, "offline_limit"),
            (409, "purse_not_open"),
            (400, "a_code_of_a_newer_server"),
        ] {
            assert!(!coded(status, code).settles_the_key(true), "{status} {code}");
            let after = ClientError::Api(ApiError {
                status,
                code: code.into(),
                message: "m".into(),
                after_unknown_attempt: true,
            });
            assert!(!after.settles_the_key(false), "{status} {code} after an unknown attempt");
        }
    }

    /// A fresh key whose first attempt timed out and whose automatic retry was refused before
    /// the server looked at the key (session ended, rate limit): the first attempt may have paid,
    /// so the key is not settled; a refusal of the request itself still settles it.
    #[test]
    fn a_fresh_key_after_an_unknown_attempt_is_judged_as_reused() {
        let after = |status| {
            ClientError::Api(ApiError { status, code: "x".into(), message: "m".into(), after_unknown_attempt: true })
        };
        for status in [401, 403, 413, 429] {
            assert!(!after(status).settles_the_key(false), "{status}");
        }
        for (status, code) in [(400, "invalid_memo"), (404, "unknown_user"), (409, "idempotency_conflict")] {
            let after = ClientError::Api(ApiError {
                status,
                code: code.into(),
                message: "m".into(),
                after_unknown_attempt: true,
            });
            assert!(after.settles_the_key(false), "{status} {code}");
        }
    }

    /// A load sent again and answered by a lasting refusal (the operator lowered the purse limit,
    /// the device was revoked, the account frozen) is closed, so the wallet can load again; a
    /// send answered so is not (it may have paid someone).
    #[test]
    fn a_reused_load_is_also_settled_by_a_lasting_refusal() {
        for (status, code) in [(400, "offline_limit"), (403, "device_revoked"), (403, "account_frozen")] {
            assert!(coded(status, code).settles_the_load_key(true), "{status} {code}");
        }
        assert!(!coded(400, "offline_limit").settles_the_key(true));
        for (status, code) in [(408, "request_timeout"), (403, "http_403"), (400, "a_code_of_a_newer_server")] {
            assert!(!coded(status, code).settles_the_load_key(true), "{status} {code}");
        }
    }
}
