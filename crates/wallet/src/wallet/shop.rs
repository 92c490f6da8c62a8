//! The shop commands that need the session (issue 14): `pay-shop` (pay a scanned shop card
//! online with a receipt to show, or offline with a card note) and `takings` (money received,
//! from the server's history). Like the other commands they take the time as an argument.
//!
//! `pay-shop` online is `send` to the card's handle (one intent in the outbox, its key written
//! before the request leaves; the same pending and retry rules), then `GET /v1/receipts/{id}`.
//! It pays offline (`offline/pay_card.rs`) only when asked to, or when the server certainly
//! never got the payment (the connection could not be made): a payment whose outcome is
//! unknown stays pending and is never paid a second way. A card note paid because the send
//! never reached the server is paid under the send's key, so `retry` of that key is refused
//! (`WalletError::PaidOffline`); `--offline` under a key whose send is pending or paid signs
//! nothing (`OfflineError::SentOnline`, `OfflineError::PaidOnline`).

use offpay_protocol::{Currency, Encoded, Receipt, ShopCard, UnixTime};

use super::{SendReceipt, Wallet, session_error};
use crate::client::{Client, ClientError};
use crate::error::WalletError;
use crate::offline::Payment;
use crate::wire::HistoryItem;
use crate::wire::ReceiptAnswer;

/// How `pay-shop` paid.
#[derive(Debug)]
pub enum ShopPaid {
    /// An online transfer, and its receipt (or why it could not be fetched; the payment stands).
    Online { sent: SendReceipt, receipt: Result<ReceiptAnswer, WalletError> },
    /// A card note from the offline purse, to hand to the shop.
    Offline(Box<Payment>),
}

/// Money received, oldest first, and the currency to show it in: payments in (`delta > 0`) and
/// payments given back after the counter refused them (`delta < 0`, [`Takings::is_returned`]).
#[derive(Debug, Clone)]
pub struct Takings {
    pub items: Vec<HistoryItem>,
    pub currency: Currency,
}

/// History entry kinds that are takings: online transfers in, settled offline notes.
const TAKINGS_KINDS: &[&str] = &["transfer", "offline_settle"];

impl Takings {
    /// Whether `item` gives back a payment this shop's counter refused (`POST
    /// /v1/notes/refusals`): an outgoing transfer with the server's refund memo. Only this account
    /// makes its own outgoing transfers, and the server refuses the memo on any transfer it did
    /// not write, so nothing else can look returned.
    pub fn is_returned(item: &HistoryItem) -> bool {
        item.delta < 0 && Takings::is_a_refund(item)
    }

    /// Whether `item` is a payment given back at a shop's counter, either way: only the server
    /// writes its memo (a transfer with it is refused, `invalid_memo`). One given back *to* this
    /// account (it was the payer at another shop) is not a sale, so not in the takings.
    fn is_a_refund(item: &HistoryItem) -> bool {
        item.kind.as_str() == "transfer" && item.memo.as_deref() == Some(crate::wire::COUNTER_REFUND_MEMO)
    }
}
/// The largest history page the server gives.
const PAGE: u32 = 200;

impl Wallet {
    /// Pays `amount_text` (major units) to `card` (already checked): online unless `offline` or
    /// the server cannot be reached, else from the purse.
    pub async fn pay_shop(
        &mut self,
        card: &ShopCard,
        amount_text: &str,
        offline: bool,
        key: Option<&str>,
        now: UnixTime,
    ) -> Result<ShopPaid, WalletError> {
        let amount = self.card_amount(card, amount_text)?;
        if let Some(key) = key.filter(|k| !super::is_valid_idempotency_key(k)) {
            return Err(WalletError::BadIdempotencyKey(key.to_string()));
        }
        // A key already paid offline is that payment (never also paid online).
        let paid_offline = match key {
            Some(key) => self.card_key_paid(key)?,
            None => false,
        };
        // The key a card note is paid under: the caller's, or the online send's when that send
        // never reached the server, so that the send is never also paid later (`retry`).
        let mut card_key = key.map(str::to_string);
        let handle = card.fields().handle.clone();
        if let (false, false, Some(handle)) = (offline, paid_offline, handle) {
            let memo = card.fields().name.as_str().to_string();
            // Paid only if the handle is the card's account: a card whose handle names someone
            // else is refused by the server before any money moves (`payee_mismatch`).
            let account = Some(card.fields().payee.0);
            match self
                .send_to_account(handle.as_str(), amount_text, Some(&memo), key, account, Some(card.nonce_prefix()))
                .await
            {
                Ok(sent) => {
                    let receipt = self.fetch_receipt(card, sent.entry_id).await;
                    return Ok(ShopPaid::Online { sent, receipt });
                }
                Err(WalletError::SendNotSent { key: sent, cause }) if never_reached_cause(&cause) => {
                    card_key = Some(sent);
                }
                Err(e) if never_reached(&e) => {}
                Err(e) => return Err(e),
            }
        }
        // Under a key this device sent online, paid or perhaps paid, nothing is signed.
        Ok(ShopPaid::Offline(Box::new(self.pay_card(card, amount, card_key.as_deref(), now)?)))
    }

    /// The server's receipt of transfer `entry_id` naming `card` (so that only the counter
    /// whose card it is takes it), checked to pay the card's account.
    async fn fetch_receipt(
        &mut self,
        card: &ShopCard,
        entry_id: crate::wire::EntryId,
    ) -> Result<ReceiptAnswer, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        let answer = client
            .receipt(&session.token, entry_id, Some(card.nonce_prefix()))
            .await
            .map_err(|e| session_error(e, &session))?;
        let receipt = Receipt::from_text(&answer.receipt).map_err(|e| WalletError::BadReceipt(e.to_string()))?;
        if receipt.fields().card != Some(card.nonce_prefix()) {
            return Err(WalletError::BadReceipt("it does not name the card paid".into()));
        }
        if receipt.fields().payee != card.fields().payee {
            return Err(WalletError::BadReceipt(format!(
                "it names account {} but the card pays account {}",
                receipt.fields().payee,
                card.fields().payee
            )));
        }
        Ok(answer)
    }

    /// Money received (online transfers in and settled offline notes) and payments given back
    /// after the counter refused them ([`Takings::is_returned`]), with `from_ms <= created_at_ms < to_ms`,
    /// oldest first, from `GET /v1/history` page by page.
    pub async fn takings(&mut self, from_ms: Option<i64>, to_ms: Option<i64>) -> Result<Takings, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        let currency = self.currency(&client).await?;
        let mut items = Vec::new();
        let mut before = None;
        loop {
            let page =
                client.history(&session.token, before, Some(PAGE)).await.map_err(|e| session_error(e, &session))?;
            let oldest = page.items.iter().map(|i| i.created_at_ms).min();
            items.extend(page.items.into_iter().filter(|i| {
                (i.delta > 0 && TAKINGS_KINDS.contains(&i.kind.as_str()) && !Takings::is_a_refund(i)
                    || Takings::is_returned(i))
                    && from_ms.is_none_or(|f| i.created_at_ms >= f)
                    && to_ms.is_none_or(|t| i.created_at_ms < t)
            }));
            let past_start = matches!((oldest, from_ms), (Some(o), Some(f)) if o < f);
            match page.next_before {
                Some(next) if !past_start && before != Some(next) => before = Some(next),
                _ => break,
            }
        }
        items.reverse();
        Ok(Takings { items, currency })
    }
}

/// True when a send certainly never reached the server: it may be paid another way.
fn never_reached(error: &WalletError) -> bool {
    match error {
        WalletError::SendNotSent { cause, .. } | WalletError::Client(cause) => never_reached_cause(cause),
        _ => false,
    }
}

fn never_reached_cause(cause: &ClientError) -> bool {
    matches!(cause, ClientError::Unreachable { sent: false, .. })
}
