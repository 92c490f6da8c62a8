//! The customer's side of a shop card with no server (issue 14, docs/decisions/shop-card.md):
//! pay a scanned card (`OPS1:…`) from the offline purse with a *card note*, a payment note whose
//! nonce is the card's prefix and 12 bytes drawn here ([`offpay_protocol::prepare_card_payment`]).
//!
//! Durability is `pay`'s (`payer.rs`): the purse's next state and the note are written in one
//! `BEGIN IMMEDIATE` transaction, committed before the note is returned, so a sequence number
//! is never signed twice. A card names no amount and no nonce of the shop's, so every call is a
//! new payment (like `send`): running it twice pays twice.

use offpay_protocol::{Amount, Encoded, PayError, RejectReason, ShopCard, UnixTime, prepare_card_payment};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::error::OfflineError;
use super::payer::{Payment, choose_purse_and_sign, repeated_payment, store_err};
use super::store::{corrupt, notes, purses, random_bytes, sql_amount};
use crate::store::OutboxState;
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
    /// purse's new state and the note (with `key`, when given) durably before returning it. A
    /// `key` this device already paid this card and amount under returns that note again.
    pub fn pay_card(
        &mut self,
        card: &ShopCard,
        amount: Amount,
        key: Option<&str>,
        now: UnixTime,
    ) -> Result<Payment, OfflineError> {
        let revocations = self.store.revocations()?;
        let device = self.store.device().clone();
        let random = random_bytes::<12>()?;
        let tx = self.store.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate).map_err(store_err)?;
        if let Some(key) = key
            && let Some(earlier) = earlier_card_payment(&tx, key, card, amount)?
        {
            return Ok(earlier);
        }
        if let Some(key) = key {
            refuse_a_key_sent_online(&tx, key)?;
        }
        let purses = purses::read_purses(&tx)?;
        let (record, next, note) = choose_purse_and_sign(&purses, &device, &revocations, now, |purse| {
            prepare_card_payment(&purse.certificate, &purse.state, &device, card, amount, random, now)
        })?;
        let text = note.to_text();
        purses::advance_purse(&tx, &record.state, &next)?;
        notes::insert_paid(&tx, &note, &text, now)?;
        if let Some(key) = key {
            tx.execute(
                "INSERT INTO card_payments (idempotency_key, card_hash, amount, note_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, card.hash().to_hex(), sql_amount(amount), note.hash().to_hex(), sql_time(now)],
            )
            .map_err(store_err)?;
        }
        tx.commit().map_err(store_err)?;
        Ok(Payment::of_note(note, text, card.fields().handle.clone(), next.remaining(&record.certificate), false))
    }

    /// True when this device already paid a card note under `key`.
    pub fn card_key_paid(&self, key: &str) -> Result<bool, OfflineError> {
        let found: Option<String> = self
            .store
            .conn()
            .query_row("SELECT note_hash FROM card_payments WHERE idempotency_key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(store_err)?;
        Ok(found.is_some())
    }
}

fn sql_time(now: UnixTime) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// Refuses `key` when this device sent a payment online under it that is paid, or may be
/// (pending): one intent, one payment, whichever way it goes. A send the server refused, or
/// that never reached it, may be paid offline under its key (what `pay-shop` does when the
/// server cannot be reached); the outbox then treats the key as paid ([`Wallet::retry`]).
fn refuse_a_key_sent_online(conn: &Connection, key: &str) -> Result<(), OfflineError> {
    let key = key.to_string();
    match crate::store::outbox::entry_in(conn, &key)?.map(|entry| (entry.state, entry.entry_id)) {
        Some((OutboxState::Pending, _)) => Err(OfflineError::SentOnline { key }),
        Some((OutboxState::Done, entry_id)) => Err(OfflineError::PaidOnline { key, entry_id: entry_id.unwrap_or(0) }),
        Some((OutboxState::Failed, _)) | None => Ok(()),
    }
}

/// The note paid earlier under `key`, when it paid this card and amount; a refusal when it paid
/// another; `None` for a new key.
fn earlier_card_payment(
    conn: &Connection,
    key: &str,
    card: &ShopCard,
    amount: Amount,
) -> Result<Option<Payment>, OfflineError> {
    let row: Option<(String, i64, String)> = conn
        .query_row("SELECT card_hash, amount, note_hash FROM card_payments WHERE idempotency_key = ?1", [key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .map_err(store_err)?;
    let Some((card_hash, earlier_amount, note_hash)) = row else {
        return Ok(None);
    };
    if card_hash != card.hash().to_hex() || earlier_amount != sql_amount(amount) {
        return Err(OfflineError::CardKeyReused { key: key.to_string() });
    }
    let text: String =
        conn.query_row("SELECT text FROM paid WHERE note_hash = ?1", [&note_hash], |r| r.get(0)).map_err(store_err)?;
    let note = offpay_protocol::PaymentNote::from_text(&text).map_err(|e| corrupt("paid note", e))?;
    repeated_payment(conn, note, text, card.fields().handle.clone()).map(Some)
}
