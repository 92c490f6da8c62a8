//! `POST /v1/transfers` and `GET /v1/history`: the body, the posted entry and the history page.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /v1/transfers`.
// `A` is how the amount is held: a `u64` of minor units for a client; the server reads it as
// any JSON value first, so that every bad amount gets `invalid_amount` rather than
// `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(bound = "")]
pub struct TransferRequest<A = u64> {
    /// The payee's username.
    #[schema(pattern = r"^\s*[A-Za-z][A-Za-z0-9_]{2,31}\s*$")]
    pub to: String,
    /// Minor units, at least 1.
    #[schema(value_type = u64, minimum = 1, maximum = 9007199254740991_u64)]
    pub amount: A,
    /// Free text shown in both histories: at most 140 characters, no control or text-direction
    /// characters, and not [`COUNTER_REFUND_MEMO`], which only the server writes (`invalid_memo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub memo: Option<String>,
    /// The account number the payer expects `to` to be (a shop card names both a handle and an
    /// account): when `to` belongs to another account, the transfer is refused with
    /// `payee_mismatch` and nothing moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 9007199254740991_u64)]
    pub to_account: Option<u64>,
    /// The shop card paid at a counter: its nonce prefix, 8 lowercase hex digits (docs/PROTOCOL.md
    /// section 16). The payment's receipt is bound to that card in the transfer itself, and the
    /// payee's `money_in` event names it, so that only that counter announces the payment and
    /// takes its receipt. Part of the request under its idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{8}$")]
    pub card: Option<String>,
}

/// What kind of entry a transfer answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostedKind {
    Deposit,
    Transfer,
}

// Its own type so that it cannot be taken for an amount or a time, which are integers too.
/// A journal entry's id, increasing: what a transfer's answer, a history line, a history page's
/// cursor and a live event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct EntryId(pub i64);

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A posted journal entry (deposit or transfer), as the caller first saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Posted {
    pub entry_id: EntryId,
    pub kind: PostedKind,
    /// The payer; null for a deposit.
    #[schema(required = true, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub from: Option<String>,
    #[schema(pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub to: String,
    /// Minor units.
    #[schema(minimum = 1)]
    pub amount: u64,
    pub created_at_ms: i64,
    /// True when this answer replays an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// Answer of `POST /v1/transfers` (201 posted, 200 replayed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = TransferResult)]
pub struct TransferAnswer {
    pub transfer: Posted,
    /// The sender's balance now (minor units).
    pub balance: u64,
}

/// What moved the money of a history line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Operator funding -> user wallet.
    Deposit,
    /// User wallet -> user wallet.
    Transfer,
    /// User wallet -> reserve (an offline purse was loaded).
    PurseLoad,
    /// Reserve -> user wallet (a purse's remainder, at close or expiry).
    PurseReturn,
    /// An offline note paid to its payee.
    OfflineSettle,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Deposit => "deposit",
            EntryKind::Transfer => "transfer",
            EntryKind::PurseLoad => "purse_load",
            EntryKind::PurseReturn => "purse_return",
            EntryKind::OfflineSettle => "offline_settle",
        }
    }
}

/// The memo of the `transfer` that gives back a note the payee refused at its counter and had
/// been paid (`POST /v1/notes/refusals`, docs/API-OFFLINE.md): in the payee's history an
/// outgoing transfer with it is a payment returned, which a shop's takings subtract.
pub const COUNTER_REFUND_MEMO: &str = "Returned: payment refused at the shop's counter";

/// One line of `GET /v1/history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryItem {
    pub entry_id: EntryId,
    pub kind: EntryKind,
    /// Signed change of the caller's balance (minor units).
    pub delta: i64,
    /// The other user, when there is one.
    #[schema(required = true, pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub counterparty: Option<String>,
    #[schema(required = true)]
    pub memo: Option<String>,
    pub created_at_ms: i64,
    /// offline_settle entries only: the hash of the payment note this entry pays
    /// (docs/API-OFFLINE.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[0-9a-f]{64}$")]
    pub note: Option<String>,
}

/// Answer of `GET /v1/history`: one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    /// `before` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_before: Option<EntryId>,
}

/// Query of `GET /v1/history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only entries with id < before (use next_before of the previous page).
    #[param(value_type = Option<i64>)]
    pub before: Option<EntryId>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
}
