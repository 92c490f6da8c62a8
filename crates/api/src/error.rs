//! The error body every refused request gets (`{"error": {"code", "message"}}`) and
//! [`ErrorCode`], every stable code the server sends (docs/API.md, docs/API-OFFLINE.md). Clients
//! branch on the code; the message is a sentence for people.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {"code", "message"}}`: the answer of every refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code, message: message.into() } }
    }
}

/// What went wrong: the stable code and a human sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// Every stable error code, with the HTTP status the server sends it with (docs/API.md has
/// the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed body or query, unknown field, memo too long, bad note count.
    InvalidRequest,
    /// 400: zero, negative, malformed or too large amount.
    InvalidAmount,
    /// 400: a username that breaks the rules.
    InvalidHandle,
    /// 400: control or text-direction characters in a memo.
    InvalidMemo,
    /// 400: a password shorter than 8 characters.
    WeakPassword,
    /// 400: no `Idempotency-Key` header.
    MissingIdempotencyKey,
    /// 400: a malformed `Idempotency-Key` header.
    InvalidIdempotencyKey,
    /// 401: no, unknown or expired session token.
    Unauthorized,
    /// 401: wrong username or password.
    InvalidCredentials,
    /// 403: the account is frozen.
    AccountFrozen,
    /// 403: the current password is wrong.
    WrongPassword,
    /// 404: no user has that username.
    UnknownUser,
    /// 404: no such route.
    NotFound,
    /// 405: the route does not accept that method.
    MethodNotAllowed,
    /// 409: the username is taken.
    HandleTaken,
    /// 409: the idempotency key was used for a different request.
    IdempotencyConflict,
    /// 409: a transfer to oneself.
    SameAccount,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 408: the body did not arrive in time.
    RequestTimeout,
    /// 422: the balance is too low.
    InsufficientFunds,
    /// 429: login throttled.
    TooManyAttempts,
    /// 429: too many requests.
    RateLimited,
    /// 429: too many WebSockets open for the account.
    TooManyWebsockets,
    /// 400: a purse certificate the server cannot accept.
    InvalidCertificate,
    /// 400: a device key that fails the device-key check.
    InvalidDeviceKey,
    /// 400: a malformed close statement, or one for another purse.
    InvalidClose,
    /// 400: a purse over the deployment's `purse_max`.
    OfflineLimit,
    /// 403: the device key is not registered to this user.
    UnknownDevice,
    /// 403: the device key is revoked.
    DeviceRevoked,
    /// 404: no such purse of this user.
    UnknownPurse,
    /// 409: another user registered this device key.
    DeviceTaken,
    /// 409: the purse is not open.
    PurseNotOpen,
    /// 409: the account has the most purses it may have.
    TooManyPurses,
    /// 410: the payment is older than every issuer key the server keeps: no receipt can be signed.
    ReceiptUnavailable,
    /// 503: offline payments are not configured on this server.
    OfflineDisabled,
    /// 503: too much work waiting; try again (`Retry-After`).
    Busy,
    /// 503: the database is out of space; nothing was changed (`Retry-After`).
    StorageFull,
    /// 500: anything else (details only in the server log).
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the enum.
    pub const ALL: [ErrorCode; 38] = {
        use ErrorCode::*;
        [
            InvalidRequest,
            InvalidAmount,
            InvalidHandle,
            InvalidMemo,
            WeakPassword,
            MissingIdempotencyKey,
            InvalidIdempotencyKey,
            Unauthorized,
            InvalidCredentials,
            AccountFrozen,
            WrongPassword,
            UnknownUser,
            NotFound,
            MethodNotAllowed,
            HandleTaken,
            IdempotencyConflict,
            SameAccount,
            PayloadTooLarge,
            RequestTimeout,
            InsufficientFunds,
            TooManyAttempts,
            RateLimited,
            TooManyWebsockets,
            InvalidCertificate,
            InvalidDeviceKey,
            InvalidClose,
            OfflineLimit,
            UnknownDevice,
            DeviceRevoked,
            UnknownPurse,
            DeviceTaken,
            PurseNotOpen,
            TooManyPurses,
            ReceiptUnavailable,
            OfflineDisabled,
            Busy,
            StorageFull,
            Internal,
        ]
    };

    /// The code as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidAmount => "invalid_amount",
            InvalidHandle => "invalid_handle",
            InvalidMemo => "invalid_memo",
            WeakPassword => "weak_password",
            MissingIdempotencyKey => "missing_idempotency_key",
            InvalidIdempotencyKey => "invalid_idempotency_key",
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            AccountFrozen => "account_frozen",
            WrongPassword => "wrong_password",
            UnknownUser => "unknown_user",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            HandleTaken => "handle_taken",
            IdempotencyConflict => "idempotency_conflict",
            SameAccount => "same_account",
            PayloadTooLarge => "payload_too_large",
            RequestTimeout => "request_timeout",
            InsufficientFunds => "insufficient_funds",
            TooManyAttempts => "too_many_attempts",
            RateLimited => "rate_limited",
            TooManyWebsockets => "too_many_websockets",
            InvalidCertificate => "invalid_certificate",
            InvalidDeviceKey => "invalid_device_key",
            InvalidClose => "invalid_close",
            OfflineLimit => "offline_limit",
            UnknownDevice => "unknown_device",
            DeviceRevoked => "device_revoked",
            UnknownPurse => "unknown_purse",
            DeviceTaken => "device_taken",
            PurseNotOpen => "purse_not_open",
            TooManyPurses => "too_many_purses",
            ReceiptUnavailable => "receipt_unavailable",
            OfflineDisabled => "offline_disabled",
            Busy => "busy",
            StorageFull => "storage_full",
            Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The codes of the hand-written document this crate replaced, exactly as clients match
    /// on them.
    const CODES: [&str; 38] = [
        "invalid_request",
        "invalid_amount",
        "invalid_handle",
        "invalid_memo",
        "weak_password",
        "missing_idempotency_key",
        "invalid_idempotency_key",
        "unauthorized",
        "invalid_credentials",
        "account_frozen",
        "wrong_password",
        "unknown_user",
        "not_found",
        "method_not_allowed",
        "handle_taken",
        "idempotency_conflict",
        "same_account",
        "payload_too_large",
        "request_timeout",
        "insufficient_funds",
        "too_many_attempts",
        "rate_limited",
        "too_many_websockets",
        "invalid_certificate",
        "invalid_device_key",
        "invalid_close",
        "offline_limit",
        "unknown_device",
        "device_revoked",
        "unknown_purse",
        "device_taken",
        "purse_not_open",
        "too_many_purses",
        "receipt_unavailable",
        "offline_disabled",
        "busy",
        "storage_full",
        "internal",
    ];

    #[test]
    fn codes_are_the_strings_clients_match_on() {
        for (code, text) in ErrorCode::ALL.iter().zip(CODES) {
            assert_eq!(code.as_str(), text);
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(text));
            assert_eq!(serde_json::from_value::<ErrorCode>(serde_json::json!(text)).unwrap(), *code);
        }
    }

    #[test]
    fn the_body_is_nested_under_error() {
        let body = ErrorBody::new(ErrorCode::SameAccount, "you cannot send money to yourself");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"same_account","message":"you cannot send money to yourself"}}"#
        );
    }
}
