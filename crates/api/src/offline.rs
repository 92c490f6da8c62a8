//! The offline routes (docs/API-OFFLINE.md): issuer keys, revocations, device registration,
//! purse load, list and close, and note upload.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One public issuer key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuerKey {
    /// First 4 bytes of SHA-256 of the public key.
    #[schema(pattern = "^[0-9a-f]{8}$")]
    pub key_id: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
    /// Unix seconds: the key may issue certificates from then.
    pub not_before: u64,
    /// Unix seconds: the key issues no certificate after then.
    pub not_after: u64,
}

/// Answer of `GET /v1/issuer-keys`: every published key, including retired ones still needed to
/// verify unexpired purses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuerKeys {
    pub keys: Vec<IssuerKey>,
}

/// Answer of `GET /v1/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Revocations {
    /// Revoked purse ids.
    #[schema(schema_with = purse_ids)]
    pub purses: Vec<String>,
    /// Revoked device public keys.
    #[schema(schema_with = device_keys)]
    pub devices: Vec<String>,
}

/// A list of lowercase hex strings of `digits` digits.
fn hex_list(digits: usize, description: &str) -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let item = ObjectBuilder::new().schema_type(Type::String).pattern(Some(format!("^[0-9a-f]{{{digits}}}$")));
    ArrayBuilder::new().items(item).description(Some(description)).build()
}

fn purse_ids() -> utoipa::openapi::Array {
    hex_list(32, "Revoked purse ids")
}

fn device_keys() -> utoipa::openapi::Array {
    hex_list(64, "Revoked device public keys")
}

/// Body of `POST /v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// 64 lowercase hex digits of a canonical, non-weak Ed25519 public key.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
}

/// A registered device's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Active,
}

/// Answer of `POST /v1/devices` (201, also when this user registered the key already).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceRegistered {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
    pub status: DeviceStatus,
}

/// Body of `POST /v1/purses`.
// `A` is how the amount is held, as in `TransferRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(bound = "")]
pub struct LoadPurseRequest<A = u64> {
    /// Minor units, at most `offline.purse_max` of GET /v1/config.
    #[schema(value_type = u64, minimum = 1, maximum = 9007199254740991_u64)]
    pub amount: A,
    /// A device key registered by this user (POST /v1/devices).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub device_public_key: String,
}

/// Where a purse stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurseState {
    /// Spendable offline until `valid_until`.
    Open,
    /// The device signed a close statement; the rest was returned.
    Closed,
    /// Past `valid_until` plus the grace period; the remainder was returned.
    Expired,
    /// Caught double spending: purse and device revoked, account frozen.
    Revoked,
}

impl PurseState {
    /// The state as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PurseState::Open => "open",
            PurseState::Closed => "closed",
            PurseState::Expired => "expired",
            PurseState::Revoked => "revoked",
        }
    }
}

/// One purse of `GET /v1/purses` (minor units and Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Purse {
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub purse_id: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub device_public_key: String,
    /// Loaded.
    #[schema(minimum = 0)]
    pub amount: i64,
    /// Largest single note from this purse.
    pub per_payment_cap: u64,
    /// Paid to payees from the reserve.
    pub settled: i64,
    /// Returned to the wallet (close, expiry).
    pub returned: i64,
    /// Still held in the reserve: amount - settled - returned.
    pub held: i64,
    /// Paid to payees from the owner's balance beyond the reserve (double spending).
    pub recovered: i64,
    /// Paid to payees by the operator (double spending), at most loss_allowance.
    pub fraud_loss: i64,
    /// The most the operator may lose on this purse, fixed when it was loaded.
    #[schema(minimum = 0)]
    pub loss_allowance: i64,
    /// Still owed to payees for held notes (paid from the owner's balance when money reaches
    /// it).
    #[schema(minimum = 0)]
    pub notes_held: i64,
    pub state: PurseState,
    /// Unix seconds.
    pub valid_from: u64,
    /// Unix seconds; spendable offline until then.
    pub valid_until: u64,
}

/// Answer of `POST /v1/purses` (201 loaded, 200 replayed): the purse, its signed certificate
/// and the wallet balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoadedPurse {
    #[serde(flatten)]
    pub purse: Purse,
    /// The signed purse certificate `OPC1:…` (docs/PROTOCOL.md).
    pub certificate: String,
    /// The wallet balance now.
    pub balance: u64,
}

/// Answer of `GET /v1/purses`: the user's purses, newest first (at most 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Purses {
    pub purses: Vec<Purse>,
}

/// Body of `POST /v1/purses/{purse_id}/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The close statement's text form `OPX1:…` (docs/PROTOCOL.md).
    pub close: String,
}

/// Answer of `POST /v1/purses/{purse_id}/close` (closed, or replayed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CloseOutcome {
    /// Returned to the wallet by this close.
    pub returned: i64,
    /// Kept in the reserve for notes the close statement counts but not uploaded yet.
    pub held: i64,
    /// The wallet balance now.
    pub balance: i64,
    /// True when closing revealed double spending (nothing returned; purse and device revoked,
    /// account frozen).
    pub fraud: bool,
}

/// The most notes one `POST /v1/notes` may carry (the `maxItems` of [`NotesUpload`]).
pub const NOTES_PER_UPLOAD_MAX: usize = 500;

/// Body of `POST /v1/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotesUpload {
    /// Payment notes' text forms `OPN1:…`, at most [`NOTES_PER_UPLOAD_MAX`].
    #[schema(max_items = 500)]
    pub notes: Vec<String>,
}

/// What an uploaded note came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// The payee was credited by this upload.
    Settled,
    /// Known already (or a copy earlier in the same upload): nothing moved.
    Duplicate,
    /// Refused (`reason` says why); nothing moved.
    Rejected,
    /// Part of a fraud proof; `amount` says what this upload credited the payee.
    Fraud,
    /// Stored, not (all) paid yet: paid in upload order when money reaches the payer.
    Held,
}

impl NoteStatus {
    /// The status as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteStatus::Settled => "settled",
            NoteStatus::Duplicate => "duplicate",
            NoteStatus::Rejected => "rejected",
            NoteStatus::Fraud => "fraud",
            NoteStatus::Held => "held",
        }
    }
}

/// Reasons of a `rejected` note that a later upload of the same note may turn into a payment:
/// `settlement_deadline_passed` is paid once the payer's balance covers the note (docs/OFFLINE.md,
/// "Expiry"), `payee_balance_full` once the payee's wallet has room for it. Wallets send such
/// notes again at each sync; every other refusal is final.
pub const REFUSALS_JUDGED_AGAIN: &[&str] = &["settlement_deadline_passed", "payee_balance_full"];

/// One note's result in `POST /v1/notes`, in upload order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoteResult {
    /// SHA-256 of the note (of the trimmed text when it could not be decoded).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub note: String,
    pub status: NoteStatus,
    /// rejected: `malformed`, `unknown_purse`, `unknown_payee`, `wrong_purse`,
    /// `bad_device_signature`, `bad_chain_start`, `over_payment_cap`, `over_note_limit`,
    /// `over_purse_amount`, `settlement_deadline_passed`, `payee_balance_full` (paying it would
    /// take the payee's balance past the largest amount; judged again when uploaded again),
    /// `inconsistent_with_earlier_note`,
    /// `request_already_paid`, `payee_must_upload` (a note of a revoked purse uploaded by someone
    /// else than its payee, or by its payer while the payee holds more than 32 notes of the
    /// purse: not judged; the payee's own upload settles it);
    /// fraud: `same_sequence`, `broken_chain`, `beyond_close`; held: `loss_allowance_exhausted`;
    /// otherwise null.
    #[schema(required = true, examples("over_payment_cap"))]
    pub reason: Option<String>,
    /// Only with reason `malformed`: why the text did not decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<String>,
    /// Credited to the payee by this upload (minor units).
    pub amount: u64,
}

/// Body of `POST /v1/notes/refusals`: a note the caller's device refused at its counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRefusal {
    /// The note's text form `OPN1:…`, as the counter read it.
    #[schema(max_length = 600)]
    pub note: String,
}

/// What a refusal came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalStatus {
    /// The note was not paid: it never will be (its money goes back to the payer with the purse).
    Voided,
    /// The note was paid: `amount` went back to the payer (journal entry `entry_id`).
    Refunded,
}

/// Answer of `POST /v1/notes/refusals` (the same for every refusal of one note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalAnswer {
    /// SHA-256 of the note.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub note: String,
    pub status: RefusalStatus,
    /// Given back to the payer (minor units; 0 when voided).
    pub amount: u64,
    /// The payer's account number.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub payer: String,
    /// The `transfer` entry that gave the money back (refunded only).
    #[schema(required = true)]
    pub entry_id: Option<crate::money::EntryId>,
}

/// Answer of `POST /v1/notes`: one result per uploaded note, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotesAnswer {
    pub results: Vec<NoteResult>,
}

/// Query of `GET /v1/receipts/{entry_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptQuery {
    /// The nonce prefix (8 lowercase hex digits) of the shop card paid, so that the receipt names
    /// it and only that card's counter takes it. The first card named for a payment stays: a
    /// different one later is refused (409 `receipt_for_another_card`).
    #[param(pattern = "^[0-9a-f]{8}$")]
    pub card: Option<String>,
}

/// Answer of `GET /v1/receipts/{entry_id}`: the server's signed receipt of an online transfer
/// (docs/PROTOCOL.md 4.6), for a shop with no connection, and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptAnswer {
    /// The receipt, text form.
    #[schema(pattern = "^OPT2:")]
    pub receipt: String,
    /// The nonce prefix (8 hex digits) of the shop card the receipt names, bound to the payment
    /// by the first `card` asked for; `null` when none was ever named (no counter takes it).
    #[schema(pattern = "^[0-9a-f]{8}$")]
    pub card: Option<String>,
    #[schema(minimum = 1)]
    pub entry_id: u64,
    /// The payer's handle.
    pub from: String,
    /// The payee's handle.
    pub to: String,
    /// Minor units.
    #[schema(minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    pub amount: u64,
    /// When the server booked the payment.
    pub created_at_ms: i64,
}
