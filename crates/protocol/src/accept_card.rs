//! The shop's offline acceptance check for a note *without a request*: a customer scanned the
//! shop's printed card, typed the amount, and its device signed an ordinary payment note whose
//! nonce it drew itself (the card's 4-byte prefix, then 12 random bytes: [`card_nonce`]).
//! Every rule of [`crate::accept::accept_note`] applies unchanged except the request step,
//! which becomes: the nonce was made for my card, the purse's currency is my card's, I have
//! never seen this nonce, and the note's time is close to my clock. docs/PROTOCOL.md, section
//! 16, says what this changes in the risk.
//!
//! [`card_nonce`]: crate::shop_card::card_nonce

use std::collections::BTreeSet;

use crate::accept::{Accepted, PurseTally, Shared, accept_with};
use crate::ids::{Nonce, UnixTime};
use crate::keys::{IssuerKeys, Revocations};
use crate::note::PaymentNote;
use crate::reject::RejectReason;
use crate::shop_card::ShopCard;
use crate::text::Encoded;

/// The shop device's side of [`accept_card_note`].
#[derive(Debug, Clone, Copy)]
pub struct CardAcceptContext<'a> {
    /// My card (the one printed at this device's counter). Its `payee` is my account.
    pub card: &'a ShopCard,
    /// Every nonce this device has seen: of every note it accepted (card notes and request
    /// notes, from any purse) and of every payment request it made. Kept for as long as the
    /// device takes payments.
    pub seen_nonces: &'a BTreeSet<Nonce>,
    /// How far the note's `time` (the payer's clock) may be from `now`, either way, in
    /// seconds (e.g. 600).
    pub window: u64,
    pub issuer_keys: &'a IssuerKeys,
    pub revocations: &'a Revocations,
    pub now: UnixTime,
}

/// [`accept_card_note`] on the text (QR) form; a text that does not parse gives `malformed`.
pub fn accept_card_note_text(
    text: &str,
    tally: Option<&PurseTally>,
    ctx: &CardAcceptContext<'_>,
) -> Result<(PaymentNote, Accepted), RejectReason> {
    let note = PaymentNote::from_text(text)?;
    let accepted = accept_card_note(&note, tally, ctx)?;
    Ok((note, accepted))
}

/// The acceptance check for a card payment. Checks 1 to 7 and 9 to 11 are those of
/// [`crate::accept::accept_note`] (issuer, window, device signature, revocation, chain start,
/// payee is the card's account, not already accepted; cap, purse amount, tally); check 8, "the
/// nonce names one of my open requests" (rows 11–14 of docs/PROTOCOL.md section 9), is replaced
/// by, in this order (rows 11a–11d of section 16.3):
///
/// 11a. the nonce starts with my card's [`ShopCard::nonce_prefix`]: `wrong_card`;
/// 11b. the purse's currency is my card's: `wrong_currency`;
/// 11c. the nonce is not in `seen_nonces`: `nonce_replayed`;
/// 11d. `|now - time| <= window`: `stale_note`.
///
/// On success store the note, the tally and the nonce (among the seen nonces), durably, before
/// showing success.
pub fn accept_card_note(
    note: &PaymentNote,
    tally: Option<&PurseTally>,
    ctx: &CardAcceptContext<'_>,
) -> Result<Accepted, RejectReason> {
    check_card_note(note, tally, ctx, true)
}

/// [`accept_card_note`] without the issuer checks (`unknown_issuer_key`, `issuer_key_not_valid`,
/// `bad_issuer_signature`): whether a note refused because this device does not know its
/// certificate's issuer key is otherwise fit. **Never a reason to accept a note**: only to keep
/// one refused at the counter so that it can be given back (the server, which knows every
/// issuer key, checks it in full then). Its certificate is unchecked, so its purse id may be
/// forged: the returned tally must not be stored.
pub fn card_note_fits_but_for_issuer(
    note: &PaymentNote,
    tally: Option<&PurseTally>,
    ctx: &CardAcceptContext<'_>,
) -> Result<Accepted, RejectReason> {
    check_card_note(note, tally, ctx, false)
}

fn check_card_note(
    note: &PaymentNote,
    tally: Option<&PurseTally>,
    ctx: &CardAcceptContext<'_>,
    verify_issuer: bool,
) -> Result<Accepted, RejectReason> {
    let card = ctx.card.fields();
    let shared = Shared {
        me: card.payee,
        issuer_keys: ctx.issuer_keys,
        revocations: ctx.revocations,
        now: ctx.now,
        verify_issuer,
    };
    let prefix = ctx.card.nonce_prefix();
    let currency = note.certificate().fields().currency;
    accept_with(note, tally, &shared, |f| {
        if f.nonce.as_bytes()[..4] != prefix {
            return Err(RejectReason::WrongCard);
        }
        if currency != card.currency {
            return Err(RejectReason::WrongCurrency);
        }
        if ctx.seen_nonces.contains(&f.nonce) {
            return Err(RejectReason::NonceReplayed);
        }
        if f.time.abs_diff(ctx.now) > ctx.window {
            return Err(RejectReason::StaleNote);
        }
        Ok(())
    })
}
