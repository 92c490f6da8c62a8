//! The outbox of online sends: one row per payment *intent*. Every `offpay wallet send` is a new
//! intent with a fresh random idempotency key (or the caller's own key), written here durably
//! *before* the request goes to the server; the row is marked `done` or `failed` once the
//! server gives a definitive answer. A send that timed out or crashed stays `pending` until it
//! is retried explicitly: by its key (`offpay wallet retry KEY`, or the same key given again to
//! `send --idempotency-key`) or by `offpay wallet sync`, which retries every pending send. A
//! retry reuses the row's key, so the server replays the first outcome instead of paying twice.
//!
//! Nothing here ever folds a new send into an earlier one: two sends of the same amount to the
//! same person are two payments (docs/decisions/one-send-one-intent.md).

use offpay_protocol::{Amount, Handle};
use rand::RngCore;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{Store, StoreError};

/// Where a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Written; the server's answer is not known yet.
    Pending,
    /// The server posted it (or replayed an earlier posting).
    Done,
    /// The server refused it; no money moved.
    Failed,
}

impl OutboxState {
    fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<OutboxState> {
        match text {
            "pending" => Some(OutboxState::Pending),
            "done" => Some(OutboxState::Done),
            "failed" => Some(OutboxState::Failed),
            _ => None,
        }
    }
}

/// What a send is: the terms an idempotency key stands for. Two sends with the same key must
/// have the same terms (the server answers a key reused for other terms with a conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTerms<'a> {
    /// The server's base URL, as the wallet talks to it.
    pub server: &'a str,
    /// The paying account (the logged-in handle).
    pub account: &'a Handle,
    pub to: &'a Handle,
    pub amount: Amount,
    /// Already trimmed; `None` for no memo.
    pub memo: Option<&'a str>,
    /// The account `to` must be (a shop card's account): the server refuses the send, and
    /// nothing moves, when `to` belongs to another (`payee_mismatch`).
    pub to_account: Option<u64>,
    /// The shop card paid at a counter (its nonce prefix, 8 hex digits): the server binds the
    /// payment's receipt to it and tells only that counter (docs/API.md `card`).
    pub card: Option<&'a str>,
}

/// A send ready to go to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSend {
    pub idempotency_key: String,
    /// True when an earlier attempt with this key may have reached the server and its outcome
    /// is unknown (a retry of a pending send); false for a new send, or a refused send tried
    /// again.
    pub reused: bool,
    /// The card the send goes out with: the one written with it, so that every attempt is the
    /// same request (none for a send written before sends named the card, schema 6).
    pub card: Option<String>,
    /// The row's attempt count with this attempt counted: a refusal is written only while it is
    /// still this (another process that tried the key since may have paid it).
    pub attempt: u32,
}

/// What to do with a send whose key was given (`retry KEY`, `send --idempotency-key KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedSend {
    /// Send it (again) with this key; the row is pending and its attempt counted.
    Send(PendingSend),
    /// The server already posted this key: nothing to send, the row tells the first outcome.
    AlreadyDone(OutboxEntry),
    /// The key is this device's for other terms (another payee, amount, memo, account or
    /// server): nothing was changed and nothing may be sent.
    Conflict(OutboxEntry),
    /// A card note was paid offline under the key (`pay-shop`, after its send never reached the
    /// server, or `--offline`): it is paid, nothing may be sent, nothing is changed.
    PaidOffline,
    /// The send was refused (by another process's attempt, since it was listed as pending), and
    /// this was a retry of pending sends only (`sync`): nothing may be sent, nothing is changed.
    Refused(OutboxEntry),
}

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub idempotency_key: String,
    pub server: String,
    pub account: String,
    pub to: String,
    pub amount: Amount,
    pub memo: Option<String>,
    /// See [`SendTerms::to_account`].
    pub to_account: Option<u64>,
    /// See [`SendTerms::card`].
    pub card: Option<String>,
    pub state: OutboxState,
    pub attempts: u32,
    pub entry_id: Option<i64>,
    pub failure_code: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A fresh idempotency key: 128 random bits as 32 lower-case hex characters.
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

const COLUMNS: &str = "idempotency_key, server, account, to_handle, amount, memo, state, attempts, \
                       entry_id, failure_code, created_at_ms, updated_at_ms, to_account, card";

impl Store {
    /// Records a new send with a fresh random key, pending, first attempt. Durable when it
    /// returns. Never looks at earlier sends: every call is a new payment.
    pub fn outbox_new(&mut self, terms: &SendTerms<'_>, now_ms: i64) -> Result<PendingSend, StoreError> {
        let key = new_idempotency_key();
        insert_pending(self.conn(), &key, terms, now_ms)?;
        Ok(PendingSend { idempotency_key: key, reused: false, card: terms.card.map(str::to_string), attempt: 1 })
    }

    /// A send under the caller's own key: a new pending row when the key is new; when this
    /// device already has the key, a retry of that row if `terms` are the same (see
    /// [`Store::outbox_retry`]), else [`KeyedSend::Conflict`] and no change. Durable when it
    /// returns. The key's format is the caller's to check.
    pub fn outbox_with_key(&mut self, key: &str, terms: &SendTerms<'_>, now_ms: i64) -> Result<KeyedSend, StoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = match entry_in(&tx, key)? {
            // Looked at in the transaction that would write the send: a card note paid under the
            // key by another process meanwhile is seen (`pay_card` looks at the outbox the same
            // way), so one key never pays both ways.
            None if paid_by_card_note(&tx, key)? => KeyedSend::PaidOffline,
            None => {
                insert_pending(&tx, key, terms, now_ms)?;
                let card = terms.card.map(str::to_string);
                KeyedSend::Send(PendingSend { idempotency_key: key.to_string(), reused: false, card, attempt: 1 })
            }
            Some(entry) if !entry.has_terms(terms) => KeyedSend::Conflict(entry),
            Some(entry) => retry_entry(&tx, entry, now_ms, Refused::SameKey)?,
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// An explicit retry of the send with `key`: `None` when this device has no such send.
    /// A pending send is sent again with its key (`reused`: its earlier outcome is unknown); a
    /// failed one is reopened as pending under a fresh key and sent again as a new payment (the
    /// server keeps a refusal under its key, so the old key would only be refused again, and
    /// a refused key never pays); a done one is [`KeyedSend::AlreadyDone`] and is not changed.
    /// Counts the attempt. Durable when it returns.
    pub fn outbox_retry(&mut self, key: &str, now_ms: i64) -> Result<Option<KeyedSend>, StoreError> {
        self.retry_as(key, now_ms, Refused::NewKey)
    }

    /// [`Store::outbox_retry`] for a send listed as pending (`sync`): one refused since (by
    /// another process) is [`KeyedSend::Refused`] and is not tried again, nor is its key changed.
    pub fn outbox_retry_pending(&mut self, key: &str, now_ms: i64) -> Result<Option<KeyedSend>, StoreError> {
        self.retry_as(key, now_ms, Refused::Keep)
    }

    fn retry_as(&mut self, key: &str, now_ms: i64, refused: Refused) -> Result<Option<KeyedSend>, StoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = match entry_in(&tx, key)? {
            None => None,
            Some(entry) => Some(retry_entry(&tx, entry, now_ms, refused)?),
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Records that the server posted the send as journal entry `entry_id`.
    pub fn outbox_mark_done(&mut self, key: &str, entry_id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET state = 'done', entry_id = ?2, failure_code = NULL, updated_at_ms = ?3
             WHERE idempotency_key = ?1",
            params![key, entry_id, now_ms],
        )?;
        Ok(())
    }

    /// Records that the server refused attempt `attempt` of the send with error `code` (no money
    /// moved by it). Only a pending send still at that attempt fails: a done one stays done, and
    /// one that another process tried again since (its attempt may have paid) is left as it is;
    /// false then.
    pub fn outbox_mark_failed(&mut self, key: &str, code: &str, attempt: u32, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE outbox SET state = 'failed', failure_code = ?2, updated_at_ms = ?3
             WHERE idempotency_key = ?1 AND state = 'pending' AND attempts = ?4",
            params![key, code, now_ms, attempt],
        )?;
        Ok(changed == 1)
    }

    /// One outbox entry by key.
    pub fn outbox_entry(&self, key: &str) -> Result<Option<OutboxEntry>, StoreError> {
        entry_in(self.conn(), key)
    }

    /// Every send still waiting for a definitive answer, of every account and server, oldest
    /// first.
    pub fn outbox_pending(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY id");
        collect(self.conn(), &sql, params![])
    }

    /// The sends of `account` on `server` still waiting for a definitive answer, oldest first
    /// (what `pending` lists and `sync` retries).
    pub fn outbox_pending_for(&self, server: &str, account: &Handle) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND server = ?1 AND account = ?2 ORDER BY id"
        );
        collect(self.conn(), &sql, params![server, account.as_str()])
    }
}

fn insert_pending(
    conn: &rusqlite::Connection,
    key: &str,
    terms: &SendTerms<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO outbox (idempotency_key, server, account, to_handle, amount, memo, state,
                             attempts, created_at_ms, updated_at_ms, to_account, card)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7, ?7, ?8, ?9)",
        params![
            key,
            terms.server,
            terms.account.as_str(),
            terms.to.as_str(),
            amount_to_sql(terms.amount)?,
            terms.memo,
            now_ms,
            terms.to_account.map(i64::try_from).transpose().map_err(|_| StoreError::BadValue {
                key: "to_account".into(),
                value: format!("{:?}", terms.to_account)
            })?,
            terms.card
        ],
    )?;
    Ok(())
}

/// What a retry does with a refused send's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// A person's `retry KEY`: a new payment under a fresh key.
    NewKey,
    /// A script's own key sent again: that key, which the server answers as it did.
    SameKey,
    /// `sync`'s retry of what it listed as pending: a refused send stays refused.
    Keep,
}

/// The retry of an existing row, inside the caller's transaction.
fn retry_entry(
    conn: &rusqlite::Connection,
    entry: OutboxEntry,
    now_ms: i64,
    refused: Refused,
) -> Result<KeyedSend, StoreError> {
    let (reused, key) = match (entry.state, refused) {
        (OutboxState::Done, _) => return Ok(KeyedSend::AlreadyDone(entry)),
        (OutboxState::Failed, _) if paid_by_card_note(conn, &entry.idempotency_key)? => {
            return Ok(KeyedSend::PaidOffline);
        }
        (OutboxState::Pending, _) => (true, entry.idempotency_key.clone()),
        (OutboxState::Failed, Refused::Keep) => return Ok(KeyedSend::Refused(entry)),
        (OutboxState::Failed, Refused::SameKey) => (false, entry.idempotency_key.clone()),
        (OutboxState::Failed, Refused::NewKey) => (false, new_idempotency_key()),
    };
    conn.execute(
        "UPDATE outbox SET idempotency_key = ?3, state = 'pending', failure_code = NULL, attempts = attempts + 1,
                updated_at_ms = ?2
         WHERE idempotency_key = ?1",
        params![entry.idempotency_key, now_ms, key],
    )?;
    let attempt = entry.attempts.saturating_add(1);
    Ok(KeyedSend::Send(PendingSend { idempotency_key: key, reused, card: entry.card, attempt }))
}

/// True when a card note was paid under `key` (`offline/pay_card.rs`, same file).
fn paid_by_card_note(conn: &rusqlite::Connection, key: &str) -> Result<bool, StoreError> {
    let found =
        conn.query_row("SELECT 1 FROM card_payments WHERE idempotency_key = ?1", [key], |_| Ok(())).optional()?;
    Ok(found.is_some())
}

/// The outbox row of `key`, read on `conn` (also inside another module's transaction).
pub(crate) fn entry_in(conn: &rusqlite::Connection, key: &str) -> Result<Option<OutboxEntry>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE idempotency_key = ?1");
    let raw = conn.query_row(&sql, [key], RawEntry::from_row).optional()?;
    raw.map(RawEntry::into_entry).transpose()
}

fn collect(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(args, RawEntry::from_row)?;
    let mut out = Vec::new();
    for raw in rows {
        out.push(raw?.into_entry()?);
    }
    Ok(out)
}

fn amount_to_sql(amount: Amount) -> Result<i64, StoreError> {
    i64::try_from(amount.minor())
        .map_err(|_| StoreError::BadValue { key: "amount".into(), value: amount.minor().to_string() })
}

/// A row as SQLite returns it, before its values are checked.
struct RawEntry {
    key: String,
    server: String,
    account: String,
    to: String,
    amount: i64,
    memo: Option<String>,
    state: String,
    attempts: i64,
    entry_id: Option<i64>,
    failure_code: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
    to_account: Option<i64>,
    card: Option<String>,
}

impl RawEntry {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            key: row.get(0)?,
            server: row.get(1)?,
            account: row.get(2)?,
            to: row.get(3)?,
            amount: row.get(4)?,
            memo: row.get(5)?,
            state: row.get(6)?,
            attempts: row.get(7)?,
            entry_id: row.get(8)?,
            failure_code: row.get(9)?,
            created_at_ms: row.get(10)?,
            updated_at_ms: row.get(11)?,
            to_account: row.get(12)?,
            card: row.get(13)?,
        })
    }

    fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        let bad = |key: &str, value: String| StoreError::BadValue { key: key.into(), value };
        let amount = u64::try_from(self.amount)
            .ok()
            .and_then(Amount::from_minor)
            .ok_or_else(|| bad("outbox.amount", self.amount.to_string()))?;
        let state = OutboxState::parse(&self.state).ok_or_else(|| bad("outbox.state", self.state.clone()))?;
        let to_account = self
            .to_account
            .map(|a| u64::try_from(a).map_err(|_| bad("outbox.to_account", a.to_string())))
            .transpose()?;
        Ok(OutboxEntry {
            idempotency_key: self.key,
            server: self.server,
            account: self.account,
            to: self.to,
            amount,
            memo: self.memo,
            to_account,
            card: self.card,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            entry_id: self.entry_id,
            failure_code: self.failure_code,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

impl OutboxEntry {
    /// The state as stored (`pending`, `done`, `failed`).
    pub fn state_str(&self) -> &'static str {
        self.state.as_str()
    }

    /// Whether this row is a send of exactly `terms`.
    pub fn has_terms(&self, terms: &SendTerms<'_>) -> bool {
        self.server == terms.server
            && self.account == terms.account.as_str()
            && self.to == terms.to.as_str()
            && self.amount == terms.amount
            && self.memo.as_deref() == terms.memo
            && self.to_account == terms.to_account
            // A send written before sends named the card (schema 6) is the same send with or
            // without one; it is sent again as it was first sent (`Wallet::send_to_account`).
            && (self.card.is_none() || self.card.as_deref() == terms.card)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    const SERVER: &str = "http://127.0.0.1:8080";

    fn h(s: &str) -> Handle {
        Handle::parse(s).unwrap()
    }

    fn amt(minor: u64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }

    /// Owned handles for [`SendTerms`], which borrows them.
    struct Terms {
        server: String,
        account: Handle,
        to: Handle,
        amount: Amount,
        memo: Option<String>,
    }

    impl Terms {
        fn new(to: &str, minor: u64, memo: Option<&str>) -> Terms {
            Terms {
                server: SERVER.into(),
                account: h("alice"),
                to: h(to),
                amount: amt(minor),
                memo: memo.map(Into::into),
            }
        }

        fn get(&self) -> SendTerms<'_> {
            SendTerms {
                server: &self.server,
                account: &self.account,
                to: &self.to,
                amount: self.amount,
                memo: self.memo.as_deref(),
                to_account: None,
                card: None,
            }
        }
    }

    fn sent(outcome: KeyedSend) -> PendingSend {
        match outcome {
            KeyedSend::Send(p) => p,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn keys_are_32_hex_and_distinct() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn every_new_send_is_a_new_intent_even_with_the_same_terms() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let terms = Terms::new("bob", 100, Some("lunch"));
        let first = store.outbox_new(&terms.get(), 1).unwrap();
        assert!(!first.reused);
        // The first is still pending (no answer yet); a second identical send is another payment.
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        let second = store.outbox_new(&terms.get(), 2).unwrap();
        assert!(!second.reused);
        assert_ne!(second.idempotency_key, first.idempotency_key);
        let pending = store.outbox_pending().unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].idempotency_key, first.idempotency_key, "oldest first");
        for entry in &pending {
            assert_eq!((entry.state, entry.attempts), (OutboxState::Pending, 1));
            assert!(entry.has_terms(&terms.get()));
        }
    }

    /// The account a send's payee must be is kept, across reopening, so that a retry after a
    /// lost answer carries the same check; the same key with another account is other terms.
    #[test]
    fn the_payees_account_is_kept_for_retries() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let terms = Terms::new("chai", 25_000, Some("Chai Point"));
        let checked = SendTerms { to_account: Some(2002), ..terms.get() };
        let pending = sent(store.outbox_with_key("card-pay-0001", &checked, 1).unwrap());
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        let entry = store.outbox_entry(&pending.idempotency_key).unwrap().unwrap();
        assert_eq!(entry.to_account, Some(2002));
        assert!(entry.has_terms(&checked));
        assert!(!entry.has_terms(&terms.get()), "no account is other terms");
        let elsewhere = SendTerms { to_account: Some(3003), ..terms.get() };
        assert!(matches!(store.outbox_with_key("card-pay-0001", &elsewhere, 2).unwrap(), KeyedSend::Conflict(_)));
        assert!(matches!(store.outbox_with_key("card-pay-0001", &checked, 3).unwrap(), KeyedSend::Send(_)));
        let plain = sent(store.outbox_with_key("plain-pay-0001", &terms.get(), 4).unwrap());
        assert_eq!(store.outbox_entry(&plain.idempotency_key).unwrap().unwrap().to_account, None);
    }

    /// The card paid at a counter is kept for retries and is part of the terms; a send written
    /// before sends named a card (its card is NULL) is the same send with a card.
    #[test]
    fn the_card_is_kept_and_an_older_send_without_one_is_the_same_send() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let terms = Terms::new("chai", 25_000, Some("Chai Point"));
        let at_counter = SendTerms { to_account: Some(2002), card: Some("1a2b3c4d"), ..terms.get() };
        sent(store.outbox_with_key("counter-pay-01", &at_counter, 1).unwrap());
        assert_eq!(store.outbox_entry("counter-pay-01").unwrap().unwrap().card.as_deref(), Some("1a2b3c4d"));
        let other_card = SendTerms { card: Some("99887766"), ..at_counter };
        assert!(matches!(store.outbox_with_key("counter-pay-01", &other_card, 2).unwrap(), KeyedSend::Conflict(_)));
        // A send from before schema 6 (card NULL) is sent again as it was.
        let older = SendTerms { card: None, ..at_counter };
        sent(store.outbox_with_key("counter-pay-02", &older, 3).unwrap());
        assert_eq!(sent(store.outbox_with_key("counter-pay-02", &at_counter, 4).unwrap()).card, None, "sent as it was");
        assert_eq!(store.outbox_entry("counter-pay-02").unwrap().unwrap().card, None);
    }

    /// A key a card note was paid under offline is never written as a send: the check and the
    /// write are one transaction, as `pay_card`'s look at the outbox is, so two processes racing
    /// one key online and offline pay it once.
    #[test]
    fn a_key_paid_by_a_card_note_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO card_payments (idempotency_key, card_hash, amount, note_hash, created_at)
                 VALUES ('order-0009', 'c', 100, 'n', 1)",
                [],
            )
            .unwrap();
        let terms = Terms::new("chai", 100, None);
        assert_eq!(store.outbox_with_key("order-0009", &terms.get(), 1).unwrap(), KeyedSend::PaidOffline);
        assert_eq!(store.outbox_entry("order-0009").unwrap(), None);
    }

    #[test]
    fn pending_for_filters_by_server_and_account() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mine = Terms::new("bob", 100, None);
        let mut other_account = Terms::new("bob", 100, None);
        other_account.account = h("dave");
        let mut other_server = Terms::new("bob", 100, None);
        other_server.server = "http://elsewhere:1".into();
        let key = store.outbox_new(&mine.get(), 1).unwrap().idempotency_key;
        store.outbox_new(&other_account.get(), 1).unwrap();
        store.outbox_new(&other_server.get(), 1).unwrap();
        let done = store.outbox_new(&mine.get(), 1).unwrap().idempotency_key;
        store.outbox_mark_done(&done, 5, 2).unwrap();
        let listed = store.outbox_pending_for(SERVER, &h("alice")).unwrap();
        assert_eq!(listed.iter().map(|e| e.idempotency_key.as_str()).collect::<Vec<_>>(), [key.as_str()]);
        assert_eq!(store.outbox_pending().unwrap().len(), 3);
    }

    #[test]
    fn retry_reuses_the_key_of_a_pending_send_and_counts_the_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store.outbox_new(&Terms::new("bob", 2_500, None).get(), 1).unwrap();
        assert_eq!(store.outbox_retry("no-such-key", 2).unwrap(), None);
        let retry = sent(store.outbox_retry(&first.idempotency_key, 3).unwrap().unwrap());
        assert_eq!(
            retry,
            PendingSend { idempotency_key: first.idempotency_key.clone(), reused: true, card: None, attempt: 2 }
        );
        let entry = store.outbox_entry(&first.idempotency_key).unwrap().unwrap();
        assert_eq!(
            (entry.state, entry.attempts, entry.updated_at_ms, entry.created_at_ms),
            (OutboxState::Pending, 2, 3, 1)
        );
    }

    #[test]
    fn retry_of_a_failed_send_reopens_it_and_of_a_done_send_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let terms = Terms::new("bob", 100, None);
        let refused = store.outbox_new(&terms.get(), 1).unwrap().idempotency_key;
        assert!(store.outbox_mark_failed(&refused, "insufficient_funds", 1, 2).unwrap());
        let entry = store.outbox_entry(&refused).unwrap().unwrap();
        assert_eq!((entry.state, entry.failure_code.as_deref()), (OutboxState::Failed, Some("insufficient_funds")));
        assert!(store.outbox_pending().unwrap().is_empty());

        // A new payment under a fresh key: the server keeps the refusal under the old one.
        let reopened = sent(store.outbox_retry(&refused, 3).unwrap().unwrap());
        assert!(!reopened.reused, "the refused key never paid");
        assert_ne!(reopened.idempotency_key, refused);
        assert_eq!(store.outbox_entry(&refused).unwrap(), None);
        let failed = reopened.idempotency_key;
        let entry = store.outbox_entry(&failed).unwrap().unwrap();
        assert_eq!((entry.state, entry.failure_code, entry.attempts), (OutboxState::Pending, None, 2));

        store.outbox_mark_done(&failed, 7, 4).unwrap();
        let done = store.outbox_entry(&failed).unwrap().unwrap();
        assert_eq!((done.state, done.entry_id), (OutboxState::Done, Some(7)));
        assert_eq!(store.outbox_retry(&failed, 5).unwrap(), Some(KeyedSend::AlreadyDone(done.clone())));
        assert_eq!(store.outbox_entry(&failed).unwrap().unwrap(), done, "unchanged");
    }

    #[test]
    fn a_given_key_is_new_then_a_retry_with_the_same_terms_and_a_conflict_with_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let key = "invoice-2025-0042";
        let terms = Terms::new("bob", 100, Some("March"));
        let first = sent(store.outbox_with_key(key, &terms.get(), 1).unwrap());
        assert_eq!(first, PendingSend { idempotency_key: key.into(), reused: false, card: None, attempt: 1 });

        let again = sent(store.outbox_with_key(key, &terms.get(), 2).unwrap());
        assert!(again.reused);
        assert_eq!(store.outbox_entry(key).unwrap().unwrap().attempts, 2);

        let mut variants = vec![
            Terms::new("bob", 101, Some("March")),
            Terms::new("carol", 100, Some("March")),
            Terms::new("bob", 100, None),
            Terms::new("bob", 100, Some("April")),
        ];
        let mut other_account = Terms::new("bob", 100, Some("March"));
        other_account.account = h("dave");
        variants.push(other_account);
        let mut other_server = Terms::new("bob", 100, Some("March"));
        other_server.server = "http://elsewhere:1".into();
        variants.push(other_server);
        for variant in &variants {
            let outcome = store.outbox_with_key(key, &variant.get(), 3).unwrap();
            assert!(matches!(&outcome, KeyedSend::Conflict(e) if e.idempotency_key == key), "{outcome:?}");
        }
        let entry = store.outbox_entry(key).unwrap().unwrap();
        assert_eq!((entry.attempts, entry.updated_at_ms), (2, 2), "a conflict changes nothing");
        assert_eq!(store.outbox_pending().unwrap().len(), 1);

        store.outbox_mark_done(key, 9, 4).unwrap();
        let outcome = store.outbox_with_key(key, &terms.get(), 5).unwrap();
        assert!(matches!(outcome, KeyedSend::AlreadyDone(ref e) if e.entry_id == Some(9)), "{outcome:?}");
    }

    #[test]
    fn a_done_send_is_never_marked_failed_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let p = store.outbox_new(&Terms::new("bob", 100, None).get(), 1).unwrap();
        store.outbox_mark_done(&p.idempotency_key, 9, 2).unwrap();
        assert!(!store.outbox_mark_failed(&p.idempotency_key, "internal", p.attempt, 3).unwrap());
        assert_eq!(store.outbox_entry(&p.idempotency_key).unwrap().unwrap().state, OutboxState::Done);
    }

    /// Two processes on one home: one's attempt is refused (a fresh key settles on a 429) while
    /// the other (`sync`) has sent the key again, which may have paid. The refusal is not
    /// written: the send stays pending, and the first process does not say "nothing was paid".
    #[test]
    fn a_refusal_is_not_written_over_a_later_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store.outbox_new(&Terms::new("bob", 100, None).get(), 1).unwrap();
        let again = sent(store.outbox_retry_pending(&first.idempotency_key, 2).unwrap().unwrap());
        assert_eq!((again.attempt, again.reused), (2, true));
        assert!(!store.outbox_mark_failed(&first.idempotency_key, "rate_limited", first.attempt, 3).unwrap());
        assert_eq!(store.outbox_entry(&first.idempotency_key).unwrap().unwrap().state, OutboxState::Pending);
        assert!(store.outbox_mark_failed(&first.idempotency_key, "insufficient_funds", again.attempt, 4).unwrap());
    }

    /// `sync` lists a send as pending; another process sees it refused before `sync` gets to it:
    /// `sync` does not reopen it under a new key (a new payment), it reports it refused.
    #[test]
    fn sync_does_not_reopen_a_send_refused_since_it_was_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store.outbox_new(&Terms::new("bob", 100, None).get(), 1).unwrap();
        assert!(store.outbox_mark_failed(&first.idempotency_key, "insufficient_funds", 1, 2).unwrap());
        let outcome = store.outbox_retry_pending(&first.idempotency_key, 3).unwrap().unwrap();
        assert!(
            matches!(outcome, KeyedSend::Refused(ref e) if e.idempotency_key == first.idempotency_key),
            "{outcome:?}"
        );
        let entry = store.outbox_entry(&first.idempotency_key).unwrap().unwrap();
        assert_eq!((entry.state, entry.attempts), (OutboxState::Failed, 1));
    }

    #[test]
    fn many_stores_on_one_home_each_get_their_own_send() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let home = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let home = home.clone();
                std::thread::spawn(move || {
                    let mut store = Store::open(&home).unwrap();
                    store.outbox_new(&Terms::new("bob", 100, None).get(), 1).unwrap().idempotency_key
                })
            })
            .collect();
        let mut keys: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 8);
        assert_eq!(Store::open(dir.path()).unwrap().outbox_pending().unwrap().len(), 8);
    }
}
