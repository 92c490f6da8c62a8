//! API errors: each maps to an HTTP status, a stable machine code and a human sentence
//! (`{"error": {"code", "message"}}`, docs/API.md). A 500 logs its cause and answers only
//! `internal`.
//!
//! The cause of a 500 (and of a 503 `storage_full`) is kept as an error, not a string, and its
//! one log line prints the whole `source()` chain ([`ErrorChain`]), e.g. "storage error: sqlite
//! commit failed: disk I/O error" (docs/decisions/error-source-chain.md).

use std::error::Error;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use offpay_api::{ErrorBody, ErrorCode};
use offpay_ledger::{ErrorChain, LedgerError};

/// The cause of a 500 or 503: any error, logged with its chain and never sent.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    InvalidHandle(String),
    #[error("{0}")]
    InvalidMemo(String),
    #[error("the password must be at least 8 characters long")]
    WeakPassword,
    #[error("this request needs an Idempotency-Key header")]
    MissingIdempotencyKey,
    #[error("the Idempotency-Key header must be 8 to 128 characters of A-Z, a-z, 0-9, - and _")]
    InvalidIdempotencyKey,
    #[error("sign in first: the session token is missing, unknown or expired")]
    Unauthorized,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("this account is frozen; contact the operator")]
    AccountFrozen,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no user has that username")]
    UnknownUser,
    #[error("no such route")]
    NotFound,
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    #[error("that username is already taken")]
    HandleTaken,
    #[error("this idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error("you cannot send money to yourself")]
    SameAccount,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body did not arrive within {0} seconds")]
    RequestTimeout(u64),
    #[error("the balance is too low for this payment")]
    InsufficientFunds,
    #[error("{0} is not the account the payment was meant for (account {1}): nothing was paid")]
    PayeeMismatch(String, u64),
    #[error("too many failed sign-in attempts; try again in {retry_after_s} seconds")]
    TooManyAttempts { retry_after_s: u64 },
    #[error("too many requests; try again in {retry_after_s} seconds")]
    RateLimited { retry_after_s: u64 },
    #[error("this account already has {0} live connections open; close one first")]
    TooManyWebSockets(usize),
    /// Too many password hashes are waiting already (`Config::hash_queue`).
    #[error("the server is busy; try again in {retry_after_s} seconds")]
    Busy { retry_after_s: u64 },
    /// This server opened its share of new accounts for now (`Config::rate_register`).
    #[error("too many new accounts are being opened right now; try again in {retry_after_s} seconds")]
    RegistrationsBusy { retry_after_s: u64 },
    /// The database is out of space; the cause goes to the log only.
    #[error("the server is out of storage space: nothing was changed; try again later")]
    StorageFull(#[source] Cause),
    /// Anything else; the cause goes to the log only.
    #[error("something went wrong on the server")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidRequest(_)
            | InvalidAmount(_)
            | InvalidHandle(_)
            | InvalidMemo(_)
            | WeakPassword
            | MissingIdempotencyKey
            | InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidCredentials => StatusCode::UNAUTHORIZED,
            AccountFrozen | WrongPassword => StatusCode::FORBIDDEN,
            UnknownUser | NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HandleTaken | IdempotencyConflict | SameAccount => StatusCode::CONFLICT,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            InsufficientFunds | PayeeMismatch(..) => StatusCode::UNPROCESSABLE_ENTITY,
            TooManyAttempts { .. } | RateLimited { .. } | TooManyWebSockets(_) => StatusCode::TOO_MANY_REQUESTS,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            StorageFull(_) | Busy { .. } | RegistrationsBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> ErrorCode {
        use ApiError::*;
        match self {
            InvalidRequest(_) => ErrorCode::InvalidRequest,
            InvalidAmount(_) => ErrorCode::InvalidAmount,
            InvalidHandle(_) => ErrorCode::InvalidHandle,
            InvalidMemo(_) => ErrorCode::InvalidMemo,
            WeakPassword => ErrorCode::WeakPassword,
            MissingIdempotencyKey => ErrorCode::MissingIdempotencyKey,
            InvalidIdempotencyKey => ErrorCode::InvalidIdempotencyKey,
            Unauthorized => ErrorCode::Unauthorized,
            InvalidCredentials => ErrorCode::InvalidCredentials,
            AccountFrozen => ErrorCode::AccountFrozen,
            WrongPassword => ErrorCode::WrongPassword,
            UnknownUser => ErrorCode::UnknownUser,
            NotFound => ErrorCode::NotFound,
            MethodNotAllowed => ErrorCode::MethodNotAllowed,
            HandleTaken => ErrorCode::HandleTaken,
            IdempotencyConflict => ErrorCode::IdempotencyConflict,
            SameAccount => ErrorCode::SameAccount,
            PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            RequestTimeout(_) => ErrorCode::RequestTimeout,
            InsufficientFunds => ErrorCode::InsufficientFunds,
            PayeeMismatch(..) => ErrorCode::PayeeMismatch,
            TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            RateLimited { .. } => ErrorCode::RateLimited,
            TooManyWebSockets(_) => ErrorCode::TooManyWebsockets,
            Internal(_) => ErrorCode::Internal,
            StorageFull(_) => ErrorCode::StorageFull,
            Busy { .. } | RegistrationsBusy { .. } => ErrorCode::Busy,
        }
    }

    /// A 500 whose cause (an error, kept with its sources, or a sentence) is logged, never sent.
    pub fn internal(cause: impl Into<Cause>) -> ApiError {
        ApiError::Internal(cause.into())
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> ApiError {
        match error {
            LedgerError::HandleTaken => ApiError::HandleTaken,
            LedgerError::UnknownUser => ApiError::UnknownUser,
            LedgerError::InsufficientFunds => ApiError::InsufficientFunds,
            LedgerError::SameAccount => ApiError::SameAccount,
            LedgerError::AccountFrozen => ApiError::AccountFrozen,
            LedgerError::IdempotencyConflict => ApiError::IdempotencyConflict,
            LedgerError::AmountOverflow => ApiError::InvalidAmount("the amount is too large".into()),
            LedgerError::InvalidAmount => ApiError::InvalidAmount("the amount must be greater than zero".into()),
            LedgerError::MemoTooLong => ApiError::InvalidRequest("the memo is longer than 140 characters".into()),
            LedgerError::MemoCharacters => ApiError::InvalidMemo(
                "the memo may not contain control characters (such as line breaks) or text-direction characters (such as U+202E)".into(),
            ),
            LedgerError::MemoReserved => ApiError::InvalidMemo(
                "this memo is kept for payments a shop gives back at its counter; write another one".into(),
            ),
            error @ LedgerError::Storage(_) => ApiError::Internal(Box::new(error)),
            error @ LedgerError::StorageFull(_) => ApiError::StorageFull(Box::new(error)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(cause = %ErrorChain(cause.as_ref()), "internal error");
        }
        if let ApiError::StorageFull(cause) = &self {
            tracing::error!(
                cause = %ErrorChain(cause.as_ref()),
                "the database is out of space; requests that write are refused until there is room"
            );
        }
        let status = self.status();
        let body = ErrorBody::new(self.code(), self.to_string());
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::TooManyAttempts { retry_after_s }
            | ApiError::RateLimited { retry_after_s }
            | ApiError::Busy { retry_after_s }
            | ApiError::RegistrationsBusy { retry_after_s } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            ApiError::StorageFull(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            }
            // The rest of a late body is not waited for: the connection ends after this answer.
            ApiError::RequestTimeout(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Where the test subscriber writes its log lines.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The answer to `error`, its JSON body, and what was logged while answering.
    async fn answer(error: ApiError) -> (StatusCode, serde_json::Value, String) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).without_time().finish();
        let response = tracing::subscriber::with_default(subscriber, || error.into_response());
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (status, serde_json::from_slice(&body).unwrap(), log)
    }

    fn disk_error() -> std::io::Error {
        std::io::Error::other("disk I/O error")
    }

    #[tokio::test]
    async fn an_internal_error_logs_its_whole_chain_and_answers_without_it() {
        let ledger = LedgerError::storage("sqlite commit failed", disk_error());
        let (status, body, log) = answer(ledger.into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(log.lines().count(), 1, "one log line: {log}");
        assert!(log.contains("internal error"), "{log}");
        assert!(log.contains("cause=storage error: sqlite commit failed: disk I/O error"), "{log}");
        // The client sees the code and the fixed sentence only.
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["message"], "something went wrong on the server");
        assert!(!body.to_string().contains("sqlite"), "{body}");
    }

    #[tokio::test]
    async fn a_full_database_logs_its_chain_and_answers_503() {
        let full = LedgerError::StorageFull(offpay_ledger::StorageError::caused_by("sqlite", disk_error()));
        let (status, body, log) = answer(full.into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(log.contains("cause=the database is out of space: sqlite: disk I/O error"), "{log}");
        assert_eq!(body["error"]["code"], "storage_full");
        assert!(!body.to_string().contains("disk I/O"), "{body}");
    }

    #[test]
    fn an_internal_error_keeps_its_cause_as_source() {
        let error = ApiError::internal(disk_error());
        let io = error.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.to_string(), "disk I/O error");
        let ledger = ApiError::from(LedgerError::storage("ledger task failed", disk_error()));
        let cause = ledger.source().unwrap().downcast_ref::<LedgerError>().unwrap();
        assert!(cause.source().unwrap().is::<std::io::Error>());
    }
}
