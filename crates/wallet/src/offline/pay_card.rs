//! The customer's side of a shop card with no server (issue 14, docs/decisions/shop-card.md):
//! pay a scanned card (`OPS1:…`) from the offline purse with a *card note*, a payment note whose
//! nonce is the card's prefix and 12 bytes drawn here ([`offpay_protocol::prepare_card_payment`]).
//!
//! Durability is `pay`'s (`payer.rs`): the purse's next state and the note are written in one
//! `BEGIN IMMEDIATE` transaction, committed before the note is returned, so a sequence number
//! is never signed twice. A card names no amount and no nonce of the shop's, so every call is a
//! new payment (like `send`): running it twice pays twice.

use offpay_protocol::{Amount, Encoded, PayError, RejectReason, ShopCard, UnixTime, prepare_card_payment};
use rusqlite::TransactionBehavior;

use super::error::OfflineError;
use super::payer::{Payment, choose_purse_and_sign, store_err};
use super::store::{notes, purses, random_bytes};
use crate::wallet::Wallet;

/// Reads a shop card's text and checks its signature (cards do not expire).
pub fn parse_card(text: &str) -> Result<ShopCard, OfflineError> {
    let card = ShopCard::from_text(text.trim()).map_err(OfflineError::MalformedCard)?;
    card.verify().map_err(PayError::Request)?;
    Ok(card)
}

impl Wallet {
    /// The amount `amount_text` (major units) in the card's currency, which must be the one this
    /// wallet shows (its decimals are needed to read the amount).
    pub fn card_amount(&self, card: &ShopCard, amount_text: &str) -> Result<Amount, OfflineError> {
        let currency = self.display_currency();
        if currency.code() != card.fields().currency.as_str() {
            return Err(PayError::Request(RejectReason::WrongCurrency).into());
        }
        Ok(currency.parse_major(amount_text)?)
    }

    /// Pays `amount` to `card` from a purse of this device: signs a card note and stores the
    /// purse's new state and the note durably before returning it.
    pub fn pay_card(&mut self, card: &ShopCard, amount: Amount, now: UnixTime) -> Result<Payment, OfflineError> {
        let revocations = self.store.revocations()?;
        let device = self.store.device().clone();
        let random = random_bytes::<12>()?;
        let tx = self.store.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate).map_err(store_err)?;
        let purses = purses::read_purses(&tx)?;
        let (record, next, note) = choose_purse_and_sign(&purses, &device, &revocations, now, |purse| {
            prepare_card_payment(&purse.certificate, &purse.state, &device, card, amount, random, now)
        })?;
        let text = note.to_text();
        purses::advance_purse(&tx, &record.state, &next)?;
        notes::insert_paid(&tx, &note, &text, now)?;
        tx.commit().map_err(store_err)?;
        let f = card.fields();
        Ok(Payment {
            seq: next.last_seq,
            purse_id: next.purse_id,
            amount,
            payee: f.payee,
            payee_handle: f.handle.clone(),
            remaining: next.remaining(&record.certificate),
            note,
            text,
            repeated: false,
        })
    }
}
