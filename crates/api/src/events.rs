//! `GET /v1/ws`: the live events the server sends (one JSON text message each) and the first
//! message a browser sends to authenticate. Payloads: docs/API.md ("WebSocket") and
//! docs/API-OFFLINE.md ("Live events").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// WebSocket close code for a refused or ended session (an application code, like HTTP 401).
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// WebSocket close code when the user already has all the sockets a user may open (like 429).
pub const CLOSE_TOO_MANY: u16 = 4429;
/// WebSocket close code for a socket that sent nothing for the idle timeout (like HTTP 408).
pub const CLOSE_IDLE: u16 = 4408;
/// WebSocket close code after a connection's first catch-up sent its most
/// ([`CATCH_UP_MAX`] events) with more left: connect again, `after` the last one received.
pub const CLOSE_FAR_BEHIND: u16 = 4409;
/// Most stored events one connection sends before its live ones (see [`CLOSE_FAR_BEHIND`]).
pub const CATCH_UP_MAX: u32 = 2_000;

/// Query of `GET /v1/ws` (the header form of authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// The last event `seq` the client has seen (0 or absent: only new events).
    pub after: Option<i64>,
}

/// One live event: `{"seq", "kind", "payload", "created_at_ms"}`, where `payload`'s shape
/// follows `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Event)]
pub struct LiveEvent {
    /// Increasing over the whole server; resume with `after` = the last one seen.
    pub seq: i64,
    #[serde(flatten)]
    pub body: EventBody,
    pub created_at_ms: i64,
}

/// An event's kind and its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum EventBody {
    /// Money from another user (a transfer).
    MoneyIn(MoneyPayload),
    /// Money to another user (a transfer).
    MoneyOut(MoneyPayload),
    /// An operator deposit.
    Deposit(MoneyPayload),
    /// Offline notes paid to this user by one upload.
    OfflineIn(OfflinePayload),
    /// This user's offline notes paid to their payees by one upload.
    OfflineOut(OfflinePayload),
    /// A purse's remainder returned to the wallet (close or expiry).
    PurseReturned(PurseReturnedPayload),
    /// The account was frozen (offline double spending).
    AccountFrozen(AccountFrozenPayload),
}

impl EventBody {
    /// Every `kind`, as on the wire.
    pub const KINDS: [&'static str; 7] =
        ["money_in", "money_out", "deposit", "offline_in", "offline_out", "purse_returned", "account_frozen"];

    /// The `kind` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::MoneyIn(_) => "money_in",
            EventBody::MoneyOut(_) => "money_out",
            EventBody::Deposit(_) => "deposit",
            EventBody::OfflineIn(_) => "offline_in",
            EventBody::OfflineOut(_) => "offline_out",
            EventBody::PurseReturned(_) => "purse_returned",
            EventBody::AccountFrozen(_) => "account_frozen",
        }
    }

    /// The user's balance after the event, when the event carries it.
    pub fn balance(&self) -> Option<i64> {
        match self {
            EventBody::MoneyIn(p) | EventBody::MoneyOut(p) | EventBody::Deposit(p) => Some(p.balance),
            EventBody::OfflineIn(p) | EventBody::OfflineOut(p) => Some(p.balance),
            EventBody::PurseReturned(p) => Some(p.balance),
            EventBody::AccountFrozen(_) => None,
        }
    }
}

/// Payload of `money_in`, `money_out` and `deposit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MoneyPayload {
    pub entry_id: crate::money::EntryId,
    /// Minor units.
    #[schema(minimum = 1)]
    pub amount: i64,
    /// The payer; null for a deposit.
    #[schema(required = true, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub from: Option<String>,
    #[schema(pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub to: String,
    #[schema(required = true)]
    pub memo: Option<String>,
    /// The user's balance after the entry.
    pub balance: i64,
    /// `money_in` of a payment made at a shop's counter: the card paid (its nonce prefix, 8 hex
    /// digits; docs/API.md `card`). Only that counter announces the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{8}$")]
    pub card: Option<String>,
}

/// Payload of `offline_in` (the user is `to`) and `offline_out` (the user is `from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfflinePayload {
    /// The sum of the notes (minor units).
    pub amount: i64,
    /// How many notes.
    pub count: u64,
    /// The user's balance after the whole upload.
    pub balance: i64,
    /// `offline_out` only: the user's own handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub from: Option<String>,
    /// `offline_in` only: the user's own handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub to: Option<String>,
    pub notes: Vec<OfflineEventNote>,
}

/// A note as an offline event lists it: `from` in `offline_in`, `to` in `offline_out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfflineEventNote {
    /// The note hash.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub note: String,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub to: Option<String>,
}

/// Payload of `purse_returned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PurseReturnedPayload {
    pub entry_id: crate::money::EntryId,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub purse_id: String,
    pub amount: i64,
    pub balance: i64,
}

/// Payload of `account_frozen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountFrozenPayload {
    /// Why, in words.
    pub reason: String,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub purse_id: String,
}

/// The first text message of a browser's socket (browsers cannot set headers):
/// `{"token", "after"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WsHello {
    pub token: String,
    /// The last `seq` seen (0 or absent: only new events).
    #[serde(default)]
    pub after: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_event_is_flat_with_kind_and_payload() {
        let text = r#"{"seq":42,"kind":"money_in","payload":{"entry_id":7,"amount":25000,"from":"alice","to":"bob","memo":null,"balance":25000},"created_at_ms":1764100000000}"#;
        let event: LiveEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.body.kind(), "money_in");
        assert_eq!(event.body.balance(), Some(25000));
        let back: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(text).unwrap());
        for kind in EventBody::KINDS {
            let wrong = text.replace("money_in", kind);
            let parsed = serde_json::from_str::<LiveEvent>(&wrong);
            assert_eq!(parsed.is_ok(), matches!(kind, "money_in" | "money_out" | "deposit"), "{kind}");
        }
        assert!(serde_json::from_str::<LiveEvent>(&text.replace("money_in", "no_such_kind")).is_err());
    }
}
