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

/// Writes [`ErrorCode`], its `ALL` list and `as_str` from one list of `Variant => "wire_text"`,
/// so the three cannot drift apart (`codes_are_the_strings_clients_match_on` checks the wire
/// texts against serde's).
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $text:literal,)*) => {
        /// Every stable error code, with the HTTP status the server sends it with (docs/API.md
        /// has the table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the enum.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it goes on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    /// 400: malformed body or query, unknown field, memo too long, bad note count.
    InvalidRequest => "invalid_request",
    /// 400: zero, negative, malformed or too large amount.
    InvalidAmount => "invalid_amount",
    /// 400: a username that breaks the rules.
    InvalidHandle => "invalid_handle",
    /// 400: control or text-direction characters in a memo.
    InvalidMemo => "invalid_memo",
    /// 400: a password shorter than 8 characters.
    WeakPassword => "weak_password",
    /// 400: no `Idempotency-Key` header.
    MissingIdempotencyKey => "missing_idempotency_key",
    /// 400: a malformed `Idempotency-Key` header.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// 401: no, unknown or expired session token.
    Unauthorized => "unauthorized",
    /// 401: wrong username or password.
    InvalidCredentials => "invalid_credentials",
    /// 403: the account is frozen.
    AccountFrozen => "account_frozen",
    /// 403: the current password is wrong.
    WrongPassword => "wrong_password",
    /// 404: no user has that username.
    UnknownUser => "unknown_user",
    /// 404: no such route.
    NotFound => "not_found",
    /// 405: the route does not accept that method.
    MethodNotAllowed => "method_not_allowed",
    /// 409: the username is taken.
    HandleTaken => "handle_taken",
    /// 409: the idempotency key was used for a different request.
    IdempotencyConflict => "idempotency_conflict",
    /// 409: a transfer to oneself.
    SameAccount => "same_account",
    /// 413: the body is over the limit.
    PayloadTooLarge => "payload_too_large",
    /// 408: the body did not arrive in time.
    RequestTimeout => "request_timeout",
    /// 422: the balance is too low.
    InsufficientFunds => "insufficient_funds",
    /// 422: the payee's username belongs to another account than `to_account`.
    PayeeMismatch => "payee_mismatch",
    /// 429: login throttled.
    TooManyAttempts => "too_many_attempts",
    /// 429: too many requests.
    RateLimited => "rate_limited",
    /// 429: too many WebSockets open for the account.
    TooManyWebsockets => "too_many_websockets",
    /// 400: a purse certificate the server cannot accept.
    InvalidCertificate => "invalid_certificate",
    /// 400: a device key that fails the device-key check.
    InvalidDeviceKey => "invalid_device_key",
    /// 400: a malformed close statement, or one for another purse.
    InvalidClose => "invalid_close",
    /// 400: a purse over the deployment's `purse_max`.
    OfflineLimit => "offline_limit",
    /// 403: the device key is not registered to this user.
    UnknownDevice => "unknown_device",
    /// 403: the device key is revoked.
    DeviceRevoked => "device_revoked",
    /// 404: no such purse of this user.
    UnknownPurse => "unknown_purse",
    /// 409: another user registered this device key.
    DeviceTaken => "device_taken",
    /// 409: the purse is not open.
    PurseNotOpen => "purse_not_open",
    /// 409: the account has the most purses it may have.
    TooManyPurses => "too_many_purses",
    /// 409: the account registered the most new device keys it may in 24 hours.
    TooManyDevices => "too_many_devices",
    /// 403: the payment note pays another account (only its payee may refuse it).
    NotPayee => "not_payee",
    /// 409: the account refused as many notes of the purse as a purse can sign.
    TooManyRefusals => "too_many_refusals",
    /// 409: the refused note is not paid in full yet; try again later.
    NoteHeld => "note_held",
    /// 409: the refused note's purse cost the operator fraud loss; not given back.
    RefundNotPossible => "refund_not_possible",
    /// 409: the payment's receipts already name another shop card.
    ReceiptForAnotherCard => "receipt_for_another_card",
    /// 410: the payment is older than every issuer key the server keeps: no receipt can be signed.
    ReceiptUnavailable => "receipt_unavailable",
    /// 503: offline payments are not configured on this server.
    OfflineDisabled => "offline_disabled",
    /// 503: too much work waiting; try again (`Retry-After`).
    Busy => "busy",
    /// 503: the database is out of space; nothing was changed (`Retry-After`).
    StorageFull => "storage_full",
    /// 500: anything else (details only in the server log).
    Internal => "internal",
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
    /// on them, and those added since (`payee_mismatch`, `receipt_for_another_card`,
    /// `too_many_devices`, `not_payee`, `too_many_refusals`, `note_held`, `refund_not_possible`).
    const CODES: [&str; 45] = [
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
        "payee_mismatch",
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
        "too_many_devices",
        "not_payee",
        "too_many_refusals",
        "note_held",
        "refund_not_possible",
        "receipt_for_another_card",
        "receipt_unavailable",
        "offline_disabled",
        "busy",
        "storage_full",
        "internal",
    ];

    #[test]
    fn codes_are_the_strings_clients_match_on() {
        assert_eq!(ErrorCode::ALL.len(), CODES.len());
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
