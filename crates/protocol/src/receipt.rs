//! The receipt of an online card payment: the server's statement, signed with an issuer key,
//! that journal entry `entry_id` moved `amount` from the payer's account to the payee's at
//! `time`, for the shop card whose nonce prefix is `card`. The customer shows it as a QR code;
//! the shop's device, even with no connection, checks it with [`Receipt::check`] and knows the
//! money has settled. Naming the card binds the receipt to one counter: another device of the
//! same shop (its own card) refuses it, so one payment cannot be shown at two counters. Layout
//! and checks in docs/PROTOCOL.md, sections 4.6 and 16.

use std::collections::BTreeSet;

use ed25519_dalek::{Signature, SigningKey};

use crate::crypto;
use crate::ids::{AccountNumber, CurrencyCode, KeyId, UnixTime};
use crate::keys::IssuerKeys;
use crate::reject::RejectReason;
use crate::wire::{self, DecodeError, FieldError, Kind, Reader, Writer, field_rule};
use crate::{Amount, Handle};

/// What a receipt says (everything but the issuer key id and the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptFields {
    /// The server's journal entry id of the payment: unique per payment.
    pub entry_id: u64,
    pub payer: AccountNumber,
    /// The payer's handle, for display ("received from asha"); `None` when it has none.
    pub payer_handle: Option<Handle>,
    pub payee: AccountNumber,
    pub currency: CurrencyCode,
    /// `> 0`.
    pub amount: Amount,
    /// The server's clock when it booked the payment (trusted: the server signs it).
    pub time: UnixTime,
    /// The nonce prefix of the shop card the payment was for ([`crate::ShopCard::nonce_prefix`]);
    /// the server binds each payment to at most one card. `None`: no card named, and no shop
    /// counter accepts the receipt.
    pub card: Option<[u8; 4]>,
}

impl ReceiptFields {
    pub fn check(&self) -> Result<(), FieldError> {
        field_rule(!self.amount.is_zero(), "amount", "must be greater than zero")
    }
}

/// A signed receipt. Built only by [`Receipt::issue`] or by decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    fields: ReceiptFields,
    issuer_key_id: KeyId,
    signature: Signature,
}

/// tag, version, key id, entry id, payer, payee, currency, amount, time, card flag, card,
/// handle length.
const FIXED_LEN: usize = 2 + 4 + 8 + 8 + 8 + 3 + 8 + 8 + 1 + 4 + 1;
const HANDLE_LEN_OFFSET: usize = FIXED_LEN - 1;

/// The shop's side of [`Receipt::check`].
#[derive(Debug, Clone, Copy)]
pub struct ReceiptContext<'a> {
    /// My account: the receipt must pay it.
    pub me: AccountNumber,
    /// My currency.
    pub currency: CurrencyCode,
    /// My shop card's nonce prefix: the receipt must name it.
    pub card_prefix: [u8; 4],
    pub issuer_keys: &'a IssuerKeys,
    /// Entry ids of the receipts this device already accepted.
    pub seen_entries: &'a BTreeSet<u64>,
    /// My clock.
    pub now: UnixTime,
    /// How old (by the server's `time` against my clock) a receipt may be, in seconds.
    pub max_age: u64,
}

impl Receipt {
    /// Shortest encoding (no payer handle): 119 bytes.
    pub const MIN_LEN: usize = FIXED_LEN + wire::SIGNATURE_LEN;
    /// Longest encoding (a 32-character handle).
    pub const MAX_LEN: usize = Self::MIN_LEN + Handle::MAX_LEN;

    /// Signs `fields` with the issuer key; the key id is derived from the key.
    pub fn issue(fields: ReceiptFields, issuer: &SigningKey) -> Result<Receipt, FieldError> {
        fields.check()?;
        let issuer_key_id = crypto::key_id(&issuer.verifying_key());
        let signed = wire::signed_bytes(Kind::Receipt, &unsigned_encoding(&fields, issuer_key_id));
        Ok(Receipt { signature: crypto::sign(issuer, &signed), fields, issuer_key_id })
    }

    pub fn fields(&self) -> &ReceiptFields {
        &self.fields
    }

    pub fn issuer_key_id(&self) -> KeyId {
        self.issuer_key_id
    }

    signed_accessors!(hash, Kind::Receipt, |this| unsigned_encoding(&this.fields, this.issuer_key_id));

    pub fn decode(bytes: &[u8]) -> Result<Receipt, DecodeError> {
        let mut r = Reader::new(Kind::Receipt, bytes)?;
        let handle_len =
            wire::length_byte(bytes, Self::MIN_LEN, HANDLE_LEN_OFFSET, Handle::MAX_LEN, DecodeError::BadHandle)?;
        wire::check_len(bytes.len(), Self::MIN_LEN + handle_len)?;
        let issuer_key_id = KeyId::from_bytes(r.array()?);
        let entry_id = r.u64()?;
        let payer = AccountNumber(r.u64()?);
        let payee = AccountNumber(r.u64()?);
        let currency = r.currency()?;
        let amount = r.amount()?;
        let time = r.u64()?;
        let card = match (r.u8()?, r.array::<4>()?) {
            (0, [0, 0, 0, 0]) => None,
            (1, prefix) => Some(prefix),
            _ => return Err(FieldError { field: "card", rule: "flag 0 with four zero bytes, or flag 1" }.into()),
        };
        let payer_handle = match usize::from(r.u8()?) {
            0 => None,
            len => Some(crate::request::canonical_handle(r.slice(len)?)?),
        };
        let signature = r.signature_and_end()?;
        let fields = ReceiptFields { entry_id, payer, payer_handle, payee, currency, amount, time, card };
        fields.check()?;
        Ok(Receipt { fields, issuer_key_id, signature })
    }

    /// The shop's offline check, in this order (first failure wins): issuer key known
    /// (`unknown_issuer_key`); that key's window contains the receipt's `time`
    /// (`issuer_key_not_valid`); strict signature (`bad_receipt_signature`); payee is me
    /// (`receipt_for_another_payee`); currency is mine (`wrong_currency`); it names my card
    /// (`wrong_card`: another card, or none); entry id not seen before (`receipt_replayed`);
    /// `time + max_age >= now` (`stale_receipt`). On success the caller stores `entry_id` among
    /// its seen entries, durably, before showing success.
    pub fn check(&self, ctx: &ReceiptContext<'_>) -> Result<(), RejectReason> {
        let f = &self.fields;
        let key = ctx.issuer_keys.get(self.issuer_key_id).ok_or(RejectReason::UnknownIssuerKey)?;
        if !key.valid_at(f.time) {
            return Err(RejectReason::IssuerKeyNotValid);
        }
        if !crypto::verify_strict(&key.public_key, &self.signed_bytes(), &self.signature) {
            return Err(RejectReason::BadReceiptSignature);
        }
        if f.payee != ctx.me {
            return Err(RejectReason::ReceiptForAnotherPayee);
        }
        if f.currency != ctx.currency {
            return Err(RejectReason::WrongCurrency);
        }
        if f.card != Some(ctx.card_prefix) {
            return Err(RejectReason::WrongCard);
        }
        if ctx.seen_entries.contains(&f.entry_id) {
            return Err(RejectReason::ReceiptReplayed);
        }
        if f.time.saturating_add(ctx.max_age) < ctx.now {
            return Err(RejectReason::StaleReceipt);
        }
        Ok(())
    }
}

fn unsigned_encoding(f: &ReceiptFields, issuer_key_id: KeyId) -> Vec<u8> {
    let handle = f.payer_handle.as_ref().map_or("", Handle::as_str).as_bytes();
    let mut w = Writer::new(Kind::Receipt, Receipt::MAX_LEN);
    w.bytes(issuer_key_id.as_bytes())
        .u64(f.entry_id)
        .u64(f.payer.0)
        .u64(f.payee.0)
        .bytes(&f.currency.to_bytes())
        .amount(f.amount)
        .u64(f.time)
        .u8(u8::from(f.card.is_some()))
        .bytes(&f.card.unwrap_or_default())
        // Invariant: a Handle is at most 32 bytes, so the length fits in a byte.
        .u8(u8::try_from(handle.len()).unwrap_or(0))
        .bytes(handle);
    w.finish()
}
