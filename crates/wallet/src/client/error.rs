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
    /// earlier attempt whose outcome is unknown, only a refusal of the request itself does (the
    /// server answers a key it already carried out with a replay); refusals that come before the
    /// server looks at the key (no session, frozen, rate limit, body too large) or no connection
    /// at all prove nothing about that earlier attempt.
    pub fn settles_the_key(&self, reused: bool) -> bool {
        let reused = reused || matches!(self, ClientError::Api(e) if e.after_unknown_attempt);
        if !reused {
            return self.is_definitely_not_done();
        }
        match self {
            ClientError::Api(e) => (400..500).contains(&e.status) && !matches!(e.status, 401 | 403 | 413 | 429),
            _ => false,
        }
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

    #[test]
    fn a_reused_key_is_settled_only_by_a_refusal_of_the_request_itself() {
        for status in [400, 404, 409, 422] {
            assert!(api(status).settles_the_key(true), "{status}");
        }
        for status in [401, 403, 413, 429, 500, 503] {
            assert!(!api(status).settles_the_key(true), "{status}");
        }
        assert!(!unreachable(false).settles_the_key(true));
        assert!(!unreachable(true).settles_the_key(true));
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
        for status in [400, 404, 409, 422] {
            assert!(after(status).settles_the_key(false), "{status}");
        }
    }
}
