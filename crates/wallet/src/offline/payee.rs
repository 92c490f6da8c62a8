//! The payee's side, with no server, as [`Wallet`] methods: make a payment request, and accept
//! a note.
//!
//! `accept` runs the protocol's full offline check ([`offpay_protocol::accept_note`]) against
//! my identity, my request for the note's nonce, what I accepted before from the same purse,
//! and the cached issuer keys and revocations; then stores the note, the purse's new tally and
//! the paid request in the same `BEGIN IMMEDIATE` transaction, committed before it returns.
//! Only after that may the caller show success.

use offpay_protocol::{
    AcceptContext, AccountNumber, Amount, Encoded, Hash256, Nonce, PaymentNote, PaymentRequest, PurseId, RequestFields,
    UnixTime, accept_note,
};
use rusqlite::TransactionBehavior;

use super::error::OfflineError;
use super::store::{Identity, notes, random_bytes};
use crate::wallet::Wallet;

/// How long a request stays payable unless told otherwise: 15 minutes.
pub const DEFAULT_REQUEST_VALIDITY_SECS: u64 = 15 * 60;

/// A request made and stored, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRequest {
    pub request: PaymentRequest,
    /// The text form (`OPR1:…`).
    pub text: String,
}

/// A note that passed every check and is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedPayment {
    pub note_hash: Hash256,
    pub purse_id: PurseId,
    pub payer: AccountNumber,
    pub seq: u32,
    pub amount: Amount,
    pub nonce: Nonce,
    /// Sync by then to be sure the note is paid: the payer's purse ends then, and the
    /// settlement deadline follows it ([`offpay_protocol::Accepted::valid_until`]).
    pub sync_by: UnixTime,
}

impl From<&offpay_protocol::Accepted> for AcceptedPayment {
    /// What the protocol's acceptance check (of a request note or a card note) returned.
    fn from(accepted: &offpay_protocol::Accepted) -> AcceptedPayment {
        AcceptedPayment {
            note_hash: accepted.note_hash,
            purse_id: accepted.purse_id,
            payer: accepted.payer,
            seq: accepted.seq,
            amount: accepted.amount,
            nonce: accepted.nonce,
            sync_by: accepted.valid_until,
        }
    }
}

impl Wallet {
    /// My identity, or a clear error when this device never learnt it.
    pub fn require_identity(&self) -> Result<Identity, OfflineError> {
        self.store.identity()?.ok_or(OfflineError::UnknownIdentity)
    }

    /// Makes and stores a payment request for `amount`, payable for `valid_for_secs` from
    /// `now`, signed with this device's key.
    pub fn request(
        &mut self,
        amount: Amount,
        valid_for_secs: u64,
        now: UnixTime,
    ) -> Result<IssuedRequest, OfflineError> {
        let identity = self.require_identity()?;
        let expires_at = now
            .checked_add(valid_for_secs)
            .filter(|_| valid_for_secs > 0)
            .ok_or(OfflineError::BadValidity(valid_for_secs))?;
        let fields = RequestFields {
            payee: identity.account,
            payee_device_key: self.store.device_public_key(),
            currency: identity.currency.into(),
            amount,
            nonce: Nonce::from_bytes(random_bytes::<16>()?),
            expires_at,
            handle: Some(identity.handle.clone()),
        };
        let request = PaymentRequest::sign(fields, self.store.device()).map_err(|e| OfflineError::Pay(e.into()))?;
        let text = request.to_text();
        notes::insert_request(self.store.conn(), &request, &text, now)?;
        Ok(IssuedRequest { request, text })
    }

    /// Accepts a payment note (text form) for one of my requests: the full offline check,
    /// then durable storage. A refusal is [`OfflineError::Rejected`] with the failed check.
    pub fn accept(&mut self, note_text: &str, now: UnixTime) -> Result<AcceptedPayment, OfflineError> {
        let identity = self.require_identity()?;
        let note = PaymentNote::from_text(note_text).map_err(|e| OfflineError::Rejected(e.into()))?;
        let issuer_keys = self.store.issuer_keys()?;
        let revocations = self.store.revocations()?;
        let tx = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| OfflineError::Store(e.into()))?;
        let request = notes::read_request(&tx, note.fields().nonce)?;
        let open_requests: Vec<_> = request.iter().map(|r| r.to_open_request()).collect();
        let tally = notes::read_tally(&tx, note.purse_id())?;
        let ctx = AcceptContext {
            me: identity.account,
            open_requests: &open_requests,
            issuer_keys: &issuer_keys,
            revocations: &revocations,
            now,
        };
        let accepted = accept_note(&note, tally.as_ref(), &ctx).map_err(OfflineError::Rejected)?;
        // Store the canonical text, whatever whitespace came with the input.
        notes::record_acceptance(&tx, &note.to_text(), &accepted, now)?;
        tx.commit().map_err(|e| OfflineError::Store(e.into()))?;
        Ok(AcceptedPayment::from(&accepted))
    }
}
