//! Shops (issue 14, docs/decisions/shop-card.md), the shop's side with no server, as [`Wallet`]
//! methods: make this home's one shop card (`OPS1:`), and accept what a customer shows at the
//! counter: a *card note* (a payment note whose nonce carries my card's prefix, checked by
//! [`offpay_protocol::accept_card_note`]) or a server *receipt* (`OPT2:`, checked by
//! [`Receipt::check`]) of an online payment made for my card.
//!
//! Like `payee.rs`, each acceptance runs its check and stores its outcome in one
//! `BEGIN IMMEDIATE` transaction, committed before it returns: a card note goes to the
//! `accepted` table (so `sync` uploads it) with its purse's tally; a receipt's entry id goes to
//! the `receipts` table. The nonces this home has seen are those of every note it accepted
//! and every request it made.

use std::collections::BTreeSet;

use offpay_protocol::{
    AccountNumber, Amount, CardAcceptContext, CardFields, Encoded, Handle, Nonce, PaymentNote, Receipt, ReceiptContext,
    RejectReason, ShopCard, ShopName, UnixTime, accept_card_note,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::counter_refusals;
use super::error::OfflineError;
use super::payee::AcceptedPayment;
use super::store::{corrupt, notes, sql_amount};
use crate::wallet::Wallet;

/// How far a card note's time may be from my clock, unless told otherwise: 10 minutes.
pub const DEFAULT_CARD_WINDOW_SECS: u64 = 10 * 60;
/// How old a receipt may be by my clock, unless told otherwise: 10 minutes.
pub const DEFAULT_RECEIPT_MAX_AGE_SECS: u64 = 10 * 60;

/// This home's shop card with its text form (`OPS1:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyCard {
    pub card: ShopCard,
    pub text: String,
}

/// A receipt that passed every check and whose entry id is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedReceipt {
    pub entry_id: u64,
    pub payer: AccountNumber,
    pub payer_handle: Option<Handle>,
    pub amount: Amount,
    pub time: UnixTime,
}

/// What the counter accepted: a card note (or a note for one of my requests), or a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    Note(AcceptedPayment),
    Receipt(AcceptedReceipt),
}

/// The freshness limits of [`Wallet::accept_at_counter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterLimits {
    /// Card notes: how far the note's time may be from my clock, in seconds.
    pub card_window: u64,
    /// Receipts: how old they may be, in seconds.
    pub receipt_max_age: u64,
}

impl Default for CounterLimits {
    fn default() -> Self {
        CounterLimits { card_window: DEFAULT_CARD_WINDOW_SECS, receipt_max_age: DEFAULT_RECEIPT_MAX_AGE_SECS }
    }
}

/// The text prefix of a receipt.
const RECEIPT_PREFIX: &str = "OPT2:";

impl Wallet {
    /// This home's shop card, if it made one.
    pub fn my_card(&self) -> Result<Option<MyCard>, OfflineError> {
        read_card(self.store.conn())
    }

    /// Makes and stores a new shop card named `name` for my account, handle and currency,
    /// signed with this device's key and issued at `now`. It replaces the card this home had:
    /// notes for the old card are refused from now on (`wrong_card`), and kept to be given back
    /// (the old card is kept in `retired_cards`).
    pub fn make_card(&mut self, name: &str, now: UnixTime) -> Result<MyCard, OfflineError> {
        let identity = self.require_identity()?;
        let name = ShopName::parse(name).map_err(OfflineError::BadShopName)?;
        let fields = CardFields {
            payee: identity.account,
            shop_device_key: self.store.device_public_key(),
            currency: identity.currency.into(),
            issued_at: now,
            handle: Some(identity.handle.clone()),
            name,
        };
        let card = ShopCard::sign(fields, self.store.device());
        let text = card.to_text();
        let at = i64::try_from(now).unwrap_or(i64::MAX);
        let tx = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| OfflineError::Store(e.into()))?;
        // The card replaced is kept: a note made for it is refused and kept to give back
        // (`counter_refusals::fit_to_keep`), since the server still pays it.
        if let Some(old) = read_card(&tx)? {
            tx.execute(
                "INSERT INTO retired_cards (nonce_prefix, text, retired_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (nonce_prefix) DO NOTHING",
                params![hex::encode(old.card.nonce_prefix()), old.text, at],
            )
            .map_err(|e| OfflineError::Store(e.into()))?;
        }
        tx.execute(
            "INSERT INTO shop_card (id, text, created_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET text = excluded.text, created_at = excluded.created_at",
            params![text, at],
        )
        .map_err(|e| OfflineError::Store(e.into()))?;
        tx.commit().map_err(|e| OfflineError::Store(e.into()))?;
        Ok(MyCard { card, text })
    }

    /// Accepts what a customer shows at the counter: a receipt (`OPT2:…`), a note paying my
    /// shop card, or a note paying one of my payment requests (as [`Wallet::accept`]).
    pub fn accept_at_counter(
        &mut self,
        text: &str,
        limits: CounterLimits,
        now: UnixTime,
    ) -> Result<Acceptance, OfflineError> {
        let text = text.trim();
        if text.starts_with(RECEIPT_PREFIX) {
            return self.accept_receipt(text, limits.receipt_max_age, now).map(Acceptance::Receipt);
        }
        let note = PaymentNote::from_text(text).map_err(|e| OfflineError::Rejected(e.into()))?;
        // A note answering none of my requests can only be for my card (the card check then
        // refuses a note for another card, or my retired one, as `wrong_card`).
        if let Some(card) = self.my_card()?
            && notes::read_request(self.store.conn(), note.fields().nonce)?.is_none()
        {
            let me = self.require_identity()?.account;
            let pays = card.card.fields().payee;
            if pays != me {
                return Err(OfflineError::CardOfAnotherAccount { card: pays.0, me: me.0 });
            }
            return self.accept_card_payment(&note, &card.card, limits.card_window, now).map(Acceptance::Note);
        }
        self.accept(text, now).map(Acceptance::Note)
    }

    /// Accepts a note paying `card` (my card): the protocol's card check against the nonces
    /// this home has seen, then durable storage like an accepted request note.
    fn accept_card_payment(
        &mut self,
        note: &PaymentNote,
        card: &ShopCard,
        window: u64,
        now: UnixTime,
    ) -> Result<AcceptedPayment, OfflineError> {
        let issuer_keys = self.store.issuer_keys()?;
        let revocations = self.store.revocations()?;
        let tx = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| OfflineError::Store(e.into()))?;
        if let Some(earlier) = counter_refusals::refused_here(&tx, note.hash())? {
            return Err(earlier.refused_again());
        }
        let seen_nonces = seen_nonces(&tx)?;
        let tally = counter_refusals::tally_with_kept(
            &tx,
            note.purse_id(),
            notes::read_tally(&tx, note.purse_id())?,
            &issuer_keys,
        )?;
        let ctx = CardAcceptContext {
            card,
            seen_nonces: &seen_nonces,
            window,
            issuer_keys: &issuer_keys,
            revocations: &revocations,
            now,
        };
        let accepted = match accept_card_note(note, tally.as_ref(), &ctx) {
            Ok(accepted) => accepted,
            Err(reason) => {
                // A note the server would still pay, refused here only for this device's clock,
                // its retired card, an issuer key it does not know yet or a revocation, is kept
                // (before the refusal shows) and given back at sync.
                // Not kept, the error is the refusal to show (nothing was written).
                let kept = counter_refusals::fit_to_keep(&tx, note, tally.as_ref(), &ctx, &reason)?;
                let reason = kept.reason;
                counter_refusals::keep(&tx, note, &reason, now)?;
                // It joins the purse's tally, so that a fork of it is refused here like a fork
                // of a note taken (the payer forked; the refused branch may be given back);
                // unless its certificate could not be checked.
                if let Some(checked) = kept.checked {
                    notes::write_tally(&tx, &checked)?;
                }
                tx.commit().map_err(|e| OfflineError::Store(e.into()))?;
                let payer = note.certificate().fields().account.0;
                if reason == RejectReason::NonceReplayed {
                    return Err(OfflineError::RepeatsARefusedCode { payer });
                }
                return Err(OfflineError::KeptToGiveBack { reason, payer, window_min: window / 60 });
            }
        };
        notes::record_card_acceptance(&tx, &note.to_text(), &accepted, now)?;
        tx.commit().map_err(|e| OfflineError::Store(e.into()))?;
        Ok(AcceptedPayment::from(&accepted))
    }

    /// Accepts a server receipt of an online payment to me: the protocol's receipt check with
    /// my account, currency and card (a receipt names the card paid, so another counter of my
    /// shop refuses it), the cached issuer keys, the entry ids accepted before and `max_age`;
    /// then stores the entry id. A home with no shop card takes no receipt.
    pub fn accept_receipt(&mut self, text: &str, max_age: u64, now: UnixTime) -> Result<AcceptedReceipt, OfflineError> {
        let identity = self.require_identity()?;
        let card = self.my_card()?.ok_or(OfflineError::NoShopCard)?;
        let receipt = Receipt::from_text(text.trim()).map_err(|e| OfflineError::ReceiptRejected(e.into()))?;
        let issuer_keys = self.store.issuer_keys()?;
        let tx = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| OfflineError::Store(e.into()))?;
        let seen_entries = seen_entries(&tx)?;
        let ctx = ReceiptContext {
            me: identity.account,
            currency: identity.currency.into(),
            card_prefix: card.card.nonce_prefix(),
            issuer_keys: &issuer_keys,
            seen_entries: &seen_entries,
            now,
            max_age,
        };
        receipt.check(&ctx).map_err(OfflineError::ReceiptRejected)?;
        let f = receipt.fields();
        tx.execute(
            "INSERT INTO receipts (entry_id, text, payer, amount, accepted_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                i64::try_from(f.entry_id).unwrap_or(i64::MAX),
                receipt.to_text(),
                i64::try_from(f.payer.0).unwrap_or(i64::MAX),
                sql_amount(f.amount),
                i64::try_from(now).unwrap_or(i64::MAX)
            ],
        )
        .map_err(|e| OfflineError::Store(e.into()))?;
        tx.commit().map_err(|e| OfflineError::Store(e.into()))?;
        Ok(AcceptedReceipt {
            entry_id: f.entry_id,
            payer: f.payer,
            payer_handle: f.payer_handle.clone(),
            amount: f.amount,
            time: f.time,
        })
    }
}

/// The stored card, checked again (a corrupt row is an error, not a card).
fn read_card(conn: &Connection) -> Result<Option<MyCard>, OfflineError> {
    let text: Option<String> = conn
        .query_row("SELECT text FROM shop_card WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(|e| OfflineError::Store(e.into()))?;
    text.map(|text| {
        let card = ShopCard::from_text(&text).map_err(|e| corrupt("shop card", e))?;
        Ok(MyCard { card, text })
    })
    .transpose()
}

/// The shop card this home made and replaced whose nonce prefix is `prefix`, if any.
pub(super) fn retired_card(conn: &Connection, prefix: [u8; 4]) -> Result<Option<ShopCard>, OfflineError> {
    let text: Option<String> = conn
        .query_row("SELECT text FROM retired_cards WHERE nonce_prefix = ?1", [hex::encode(prefix)], |r| r.get(0))
        .optional()
        .map_err(|e| OfflineError::Store(e.into()))?;
    text.map(|text| ShopCard::from_text(&text).map_err(|e| corrupt("retired shop card", e).into())).transpose()
}

/// Every nonce this home has seen: of the notes it accepted, of the requests it made, and of
/// the card notes it refused and keeps to give back whose nonce counts
/// ([`counter_refusals::COUNTS_AS_SEEN`]: not those kept for an unknown issuer key).
fn seen_nonces(conn: &Connection) -> Result<BTreeSet<Nonce>, OfflineError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT nonce FROM accepted UNION SELECT nonce FROM requests
             UNION SELECT nonce FROM counter_refusals WHERE {}",
            counter_refusals::COUNTS_AS_SEEN
        ))
        .map_err(|e| OfflineError::Store(e.into()))?;
    let texts = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| OfflineError::Store(e.into()))?;
    texts.iter().map(|t| Nonce::from_hex(t).map_err(|e| corrupt("nonce", e).into())).collect()
}

/// The entry ids of the receipts this home accepted.
fn seen_entries(conn: &Connection) -> Result<BTreeSet<u64>, OfflineError> {
    let mut stmt = conn.prepare("SELECT entry_id FROM receipts").map_err(|e| OfflineError::Store(e.into()))?;
    let ids = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| OfflineError::Store(e.into()))?;
    ids.into_iter().map(|id| u64::try_from(id).map_err(|e| corrupt("receipt entry id", e).into())).collect()
}
