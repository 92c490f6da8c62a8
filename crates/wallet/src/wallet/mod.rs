//! The wallet's operations, as a customer sees them: register, log in, log out, see the
//! balance (even with no server), send money online, list and retry the sends whose outcome is
//! unknown, read the history, and follow live events.
//!
//! Sends go through the outbox (`store/outbox.rs`): each `send` is a new payment with a new
//! idempotency key, written before the request leaves; only an explicit retry (`retry`,
//! `retry_pending`, or `send` with a key the device already has for the same terms) sends a key
//! again, so the server replays the first outcome instead of paying twice.
//!
//! The offline commands (purse load/close/status, request, pay, accept, sync) are `Wallet`
//! methods too, in `wallet/offline.rs`, built on [`crate::offline`]; the shop commands that
//! need the session (`pay-shop`, `takings`) in `wallet/shop.rs`. Every command of the
//! terminal wallet is one method here: the CLI parses, calls it, and prints.
//!
//! One store: the wallet holds one connection to `<home>/wallet.sqlite3` (an
//! [`OfflineStore`]: the [`Store`] with the device key loaded).

mod offline;
mod shop;

pub use offline::{KnownIdentity, OfflineSync, SideNote, SyncOutcome};
pub use shop::{ShopPaid, Takings};

use offpay_protocol::{Amount, Currency, Handle};

use crate::client::{Client, ClientError, ServerUrl};
use crate::error::WalletError;
use crate::events::{self, Event, WatchOptions, WatchStatus};
use crate::offline::OfflineStore;
use crate::store::{KeyedSend, OutboxEntry, PendingSend, SendTerms, Session, Settings, Store, now_ms};
use crate::wire::{self, EntryId};

/// The server used when none was given or remembered.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The wallet: its durable store (one connection, device key loaded), plus a server URL
/// override for this run.
pub struct Wallet {
    /// The one store (`crate::offline`'s operations use it too).
    pub(crate) store: OfflineStore,
    server_override: Option<ServerUrl>,
}

/// A session just started by `register` or `login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub handle: Handle,
    pub server: ServerUrl,
    pub currency: Currency,
    /// The balance, if the server told it right after logging in.
    pub balance: Option<Amount>,
}

/// How current a balance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Just read from the server.
    Live,
    /// The device's last known value; the server could not be asked.
    Stale { as_of_ms: i64, reason: String },
}

/// What `balance` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceView {
    pub handle: Handle,
    pub balance: Amount,
    /// What this device can still pay offline now (its open purses' remainder).
    pub offline: Amount,
    pub currency: Currency,
    pub frozen: bool,
    pub freshness: Freshness,
    /// Sends of this account whose outcome the device does not know yet (an attempt got no
    /// answer); `retry KEY` or `sync` finishes them without paying twice.
    pub unconfirmed_sends: Vec<OutboxEntry>,
}

/// A payment the server posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The payment's idempotency key (its name in the outbox, `pending` and `retry`).
    pub idempotency_key: String,
    pub entry_id: EntryId,
    pub to: Handle,
    pub amount: Amount,
    /// The balance after the payment; `None` when the payment was already known to be paid and
    /// the server could not be asked for the balance now.
    pub balance: Option<Amount>,
    pub currency: Currency,
    /// The payment had already been posted by an earlier attempt with the same key: this one
    /// paid nothing more.
    pub replayed: bool,
}

/// The outcome of retrying one pending send (by `sync`).
#[derive(Debug)]
pub struct RetriedSend {
    /// The send as it was before the retry.
    pub entry: OutboxEntry,
    pub outcome: Result<SendReceipt, WalletError>,
}

/// What `history` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryView {
    pub items: Vec<wire::HistoryItem>,
    pub currency: Currency,
}

/// How `logout` went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The server ended the session and the device forgot it.
    Done { handle: Handle },
    /// The device forgot the session; the server could not be told (it expires there).
    LocalOnly { handle: Handle, reason: String },
    /// There was no session.
    NotLoggedIn,
}

impl Wallet {
    /// Opens the wallet whose home folder is `home` (created if needed; an old home's
    /// `offline.sqlite3` is moved into `wallet.sqlite3`), making the device key on first use.
    pub fn open(home: &std::path::Path) -> Result<Wallet, WalletError> {
        let store = OfflineStore::from_store(Store::open(home)?).map_err(crate::offline::OfflineError::from)?;
        Ok(Wallet { store, server_override: None })
    }

    /// Use this server for this run instead of the remembered one.
    pub fn with_server_override(mut self, server: Option<ServerUrl>) -> Wallet {
        self.server_override = server;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    pub fn settings(&self) -> Result<Settings, WalletError> {
        Ok(self.store.settings()?)
    }

    /// The server to talk to: the override, else the remembered one, else the default.
    pub fn server(&self) -> Result<ServerUrl, WalletError> {
        if let Some(server) = &self.server_override {
            return Ok(server.clone());
        }
        let remembered = self.store.settings()?.server_url;
        Ok(ServerUrl::parse(remembered.as_deref().unwrap_or(DEFAULT_SERVER))?)
    }

    /// Creates an account and logs in to it.
    pub async fn register(&mut self, handle: &str, password: &str) -> Result<AccountView, WalletError> {
        let handle = Handle::parse(handle)?;
        let client = Client::new(self.server()?)?;
        let currency = fetch_currency(&client).await?;
        let granted = client.register(handle.as_str(), password).await?;
        self.start_session(client, currency, granted).await
    }

    /// Logs in to an existing account.
    pub async fn login(&mut self, handle: &str, password: &str) -> Result<AccountView, WalletError> {
        let handle = Handle::parse(handle)?;
        let client = Client::new(self.server()?)?;
        let currency = fetch_currency(&client).await?;
        let device_token = self.store.device_token(client.server().as_str(), &handle)?;
        let granted = client.login(handle.as_str(), password, device_token.as_deref()).await?;
        self.start_session(client, currency, granted).await
    }

    async fn start_session(
        &mut self,
        client: Client,
        currency: Currency,
        granted: wire::SessionGranted,
    ) -> Result<AccountView, WalletError> {
        let handle = Handle::parse(&granted.handle)
            .map_err(|e| ClientError::BadAnswer { server: client.server().to_string(), reason: e.to_string() })?;
        let session = Session { server_url: client.server().to_string(), handle: handle.clone(), token: granted.token };
        self.store.begin_session(&session)?;
        self.store.set_device_token(&session.server_url, &handle, &granted.device_token)?;
        self.store.set_currency(currency)?;
        // The session is saved: from here on, failing to read the balance is not a failure to
        // log in (`balance` will ask again).
        let balance = match client.me(&session.token).await {
            Ok(me) => {
                let balance = Amount::from_minor(me.balance);
                if let Some(balance) = balance {
                    self.store.set_known_balance(balance, now_ms())?;
                }
                balance
            }
            Err(_) => None,
        };
        Ok(AccountView { handle, server: client.server().clone(), currency, balance })
    }

    /// Ends the session on the server (when reachable) and on this device.
    pub async fn logout(&mut self) -> Result<LogoutOutcome, WalletError> {
        let Some(session) = self.store.settings()?.session() else {
            return Ok(LogoutOutcome::NotLoggedIn);
        };
        let client = Client::new(self.server_for(&session)?)?;
        let outcome = match client.logout(&session.token).await {
            Ok(()) => LogoutOutcome::Done { handle: session.handle.clone() },
            // The token was already dead on the server: the session is over either way.
            Err(ClientError::Api(e)) if e.status == 401 => LogoutOutcome::Done { handle: session.handle.clone() },
            Err(e) => LogoutOutcome::LocalOnly { handle: session.handle.clone(), reason: e.to_string() },
        };
        self.store.end_session()?;
        Ok(outcome)
    }

    /// Ends every session of the account on the server (a lost or stolen device's too), then
    /// this device's. Needs the server: nothing is forgotten here when it cannot be reached.
    pub async fn logout_everywhere(&mut self) -> Result<String, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        client.logout_all(&session.token).await.map_err(|e| session_error(e, &session))?;
        self.store.end_session()?;
        Ok(session.handle.to_string())
    }

    /// Changes the password (the current one is checked by the server); every other session of
    /// the account ends, this device's stays.
    pub async fn change_password(&mut self, current: &str, new: &str) -> Result<String, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        client.change_password(&session.token, current, new).await.map_err(|e| session_error(e, &session))?;
        Ok(session.handle.to_string())
    }

    /// The balance: from the server when it answers, else the last one this device saw; and
    /// what this device can still pay offline.
    pub async fn balance(&mut self) -> Result<BalanceView, WalletError> {
        let mut view = self.online_balance().await?;
        view.offline = self.offline_balance(crate::offline::unix_now())?;
        Ok(view)
    }

    async fn online_balance(&mut self) -> Result<BalanceView, WalletError> {
        let settings = self.store.settings()?;
        let session = settings.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        let unconfirmed_sends = self.unconfirmed_sends(&session)?;
        match client.me(&session.token).await {
            Ok(me) => {
                let currency = self.currency(&client).await?;
                let balance = Amount::from_minor(me.balance).ok_or_else(|| ClientError::BadAnswer {
                    server: client.server().to_string(),
                    reason: format!("balance {} is out of range", me.balance),
                })?;
                self.store.set_known_balance(balance, now_ms())?;
                Ok(BalanceView {
                    handle: session.handle,
                    balance,
                    offline: Amount::ZERO,
                    currency,
                    frozen: me.frozen,
                    freshness: Freshness::Live,
                    unconfirmed_sends,
                })
            }
            Err(e) if !e.is_refusal() => {
                let (Some(known), Some(currency)) = (settings.balance, settings.currency) else {
                    return Err(e.into());
                };
                Ok(BalanceView {
                    handle: session.handle,
                    balance: known.amount,
                    offline: Amount::ZERO,
                    currency,
                    frozen: false,
                    freshness: Freshness::Stale { as_of_ms: known.as_of_ms, reason: e.to_string() },
                    unconfirmed_sends,
                })
            }
            Err(e) => Err(session_error(e, &session)),
        }
    }

    /// Sends `amount_text` (major units, e.g. "250.00") to `to`: a new payment, written to the
    /// outbox with a new idempotency key before the request leaves. With `key` (a script's own
    /// idempotency key), a key this device does not have yet is used for the new payment; a key
    /// it already has is a retry of that payment when the terms are the same (see
    /// [`Wallet::retry`]) and [`WalletError::KeyConflict`] (nothing sent) when they differ.
    ///
    /// A send whose outcome is unknown stays pending and fails with
    /// [`WalletError::SendUncertain`]; a refused one is marked failed
    /// ([`WalletError::SendRefused`], [`WalletError::SendNotSent`]).
    pub async fn send(
        &mut self,
        to: &str,
        amount_text: &str,
        memo: Option<&str>,
        key: Option<&str>,
    ) -> Result<SendReceipt, WalletError> {
        self.send_to_account(to, amount_text, memo, key, None, None).await
    }

    /// [`Wallet::send`] to `to` only if `to` is account `to_account` (a shop card's account):
    /// the server refuses it otherwise and nothing moves (`payee_mismatch`). The outbox keeps
    /// the account, so every retry is checked the same way. With `card` (a shop card paid at a
    /// counter, its nonce prefix), the server binds the receipt to that card and tells only that
    /// counter; the outbox keeps it too.
    pub async fn send_to_account(
        &mut self,
        to: &str,
        amount_text: &str,
        memo: Option<&str>,
        key: Option<&str>,
        to_account: Option<u64>,
        card: Option<[u8; 4]>,
    ) -> Result<SendReceipt, WalletError> {
        if let Some(key) = key.filter(|k| !is_valid_idempotency_key(k)) {
            return Err(WalletError::BadIdempotencyKey(key.to_string()));
        }
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let to = Handle::parse(to)?;
        let memo = memo.map(str::trim).filter(|m| !m.is_empty());
        let client = Client::new(self.server_for(&session)?)?;
        let currency = self.currency(&client).await?;
        let amount = currency.parse_major(amount_text)?;

        let server = client.server().to_string();
        let card = card.map(hex::encode);
        let terms = SendTerms {
            server: &server,
            account: &session.handle,
            to: &to,
            amount,
            memo,
            to_account,
            card: card.as_deref(),
        };
        let pending = match key {
            None => self.store.outbox_new(&terms, now_ms())?,
            Some(key) => match self.store.outbox_with_key(key, &terms, now_ms())? {
                KeyedSend::Send(pending) => pending,
                KeyedSend::AlreadyDone(entry) => return self.already_done(&client, &session, currency, &entry).await,
                KeyedSend::PaidOffline => return Err(WalletError::PaidOffline(key.to_string())),
                KeyedSend::Conflict(entry) => {
                    return Err(WalletError::KeyConflict {
                        key: key.to_string(),
                        earlier: describe(&currency, &entry),
                    });
                }
                // `outbox_with_key` sends a refused key again (the server answers it as it did).
                KeyedSend::Refused(entry) => return Err(refused_earlier(key, entry)),
            },
        };
        // Sent with the card written with it: a send from before sends named the card goes out
        // as it was first sent, so the server sees the same request again.
        let sent = SendTerms { card: pending.card.as_deref(), ..terms };
        self.deliver(&client, &session, currency, &pending, &sent).await
    }

    /// Sends again the payment with idempotency key `key`, with that key: the server replays the
    /// first outcome if an earlier attempt got through, and posts it otherwise. A payment this
    /// device knows was paid is not sent again (the receipt says `replayed`); one that was
    /// refused is tried again (the server kept nothing of the refusal).
    pub async fn retry(&mut self, key: &str) -> Result<SendReceipt, WalletError> {
        self.retry_as(key, false).await
    }

    /// [`Wallet::retry`], or with `pending_only` a retry of a send listed as pending that
    /// another process saw refused since: reported refused, not tried again under a new key.
    async fn retry_as(&mut self, key: &str, pending_only: bool) -> Result<SendReceipt, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        let entry = self.store.outbox_entry(key)?.ok_or_else(|| WalletError::UnknownSend(key.to_string()))?;
        if entry.account != session.handle.as_str() || entry.server != client.server().as_str() {
            return Err(WalletError::SendOfOtherAccount {
                key: key.to_string(),
                account: entry.account,
                server: entry.server,
            });
        }
        let currency = self.currency(&client).await?;
        let to = Handle::parse(&entry.to)?;
        let retried = if pending_only {
            self.store.outbox_retry_pending(key, now_ms())?
        } else {
            self.store.outbox_retry(key, now_ms())?
        };
        match retried {
            None => Err(WalletError::UnknownSend(key.to_string())),
            Some(KeyedSend::Refused(entry)) => Err(refused_earlier(key, entry)),
            Some(KeyedSend::Send(pending)) => {
                let sent = SendTerms {
                    server: &entry.server,
                    account: &session.handle,
                    to: &to,
                    amount: entry.amount,
                    memo: entry.memo.as_deref(),
                    to_account: entry.to_account,
                    card: pending.card.as_deref(),
                };
                self.deliver(&client, &session, currency, &pending, &sent).await
            }
            Some(KeyedSend::AlreadyDone(done)) => self.already_done(&client, &session, currency, &done).await,
            Some(KeyedSend::PaidOffline) => Err(WalletError::PaidOffline(key.to_string())),
            // `outbox_retry` compares no terms, so it never answers a conflict.
            Some(KeyedSend::Conflict(_)) => Err(WalletError::UnknownSend(key.to_string())),
        }
    }

    /// Retries every pending send of the session's account on its server, oldest first (what
    /// `sync` does before the offline part). Each outcome is reported; none stops the others.
    pub async fn retry_pending(&mut self) -> Result<Vec<RetriedSend>, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let mut retried = Vec::new();
        for entry in self.unconfirmed_sends(&session)? {
            let outcome = self.retry_as(&entry.idempotency_key, true).await;
            retried.push(RetriedSend { entry, outcome });
        }
        Ok(retried)
    }

    /// The sends whose outcome is unknown, oldest first: the session's account's on its server,
    /// or every account's when no one is logged in (a retry needs that account's session).
    pub fn pending_sends(&self) -> Result<Vec<OutboxEntry>, WalletError> {
        match self.store.settings()?.session() {
            Some(session) => self.unconfirmed_sends(&session),
            None => Ok(self.store.outbox_pending()?),
        }
    }

    /// One attempt of a send the outbox holds as pending, and its outcome written back.
    async fn deliver(
        &mut self,
        client: &Client,
        session: &Session,
        currency: Currency,
        pending: &PendingSend,
        terms: &SendTerms<'_>,
    ) -> Result<SendReceipt, WalletError> {
        let key = pending.idempotency_key.clone();
        let (to, amount) = (terms.to, terms.amount);
        let request = wire::TransferRequest {
            to: to.as_str().to_string(),
            amount: amount.minor(),
            memo: terms.memo.map(str::to_string),
            to_account: terms.to_account,
            card: terms.card.map(str::to_string),
        };
        match client.transfer(&session.token, &key, &request).await {
            Ok(answer) => {
                // The payment is made: what follows is bookkeeping, and its failure must not turn
                // a paid send into an error (a script would pay again). A row left pending is
                // finished by the next `retry`/`sync`, which the server answers with this payment.
                let _ = self.store.outbox_mark_done(&key, answer.transfer.entry_id.0, now_ms());
                let balance = Amount::from_minor(answer.balance);
                if let Some(balance) = balance {
                    let _ = self.store.set_known_balance(balance, now_ms());
                }
                Ok(SendReceipt {
                    idempotency_key: key,
                    entry_id: answer.transfer.entry_id,
                    to: to.clone(),
                    amount,
                    balance,
                    currency,
                    replayed: answer.transfer.replayed,
                })
            }
            Err(e) if e.settles_the_key(pending.reused) => {
                let code = e.code().unwrap_or("unreachable").to_string();
                if !self.store.outbox_mark_failed(&key, &code, pending.attempt, now_ms())? {
                    // Another process sent this key again meanwhile (a `sync` or `retry`): this
                    // refusal says nothing of that attempt, which may have paid.
                    return Err(WalletError::SendUncertain {
                        key,
                        reason: format!("{e}; another attempt of this payment was started meanwhile"),
                    });
                }
                match e {
                    e if e.is_session_ended() => Err(session_error(e, session)),
                    ClientError::Api(api) => {
                        Err(WalletError::SendRefused { key, code: api.code, message: api.message })
                    }
                    e => Err(WalletError::SendNotSent { key, cause: e }),
                }
            }
            // The outcome is unknown, or a retried key's earlier outcome still is: it stays
            // pending until `retry` or `sync`.
            Err(e) => Err(WalletError::SendUncertain { key, reason: session_error(e, session).to_string() }),
        }
    }

    /// The receipt of a payment the outbox knows was posted: nothing is sent; the balance is
    /// asked for, if the server answers.
    async fn already_done(
        &mut self,
        client: &Client,
        session: &Session,
        currency: Currency,
        entry: &OutboxEntry,
    ) -> Result<SendReceipt, WalletError> {
        let balance = match client.me(&session.token).await {
            Ok(me) => Amount::from_minor(me.balance),
            Err(_) => None,
        };
        if let Some(balance) = balance {
            self.store.set_known_balance(balance, now_ms())?;
        }
        Ok(SendReceipt {
            idempotency_key: entry.idempotency_key.clone(),
            entry_id: EntryId(entry.entry_id.unwrap_or_default()),
            to: Handle::parse(&entry.to)?,
            amount: entry.amount,
            balance,
            currency,
            replayed: true,
        })
    }

    /// The most recent history entries, newest first.
    pub async fn history(&mut self, limit: Option<u32>) -> Result<HistoryView, WalletError> {
        let session = self.store.settings()?.session().ok_or(WalletError::NotLoggedIn)?;
        let client = Client::new(self.server_for(&session)?)?;
        let currency = self.currency(&client).await?;
        let page = client.history(&session.token, None, limit).await.map_err(|e| session_error(e, &session))?;
        Ok(HistoryView { items: page.items, currency })
    }

    /// Follows live events until the session ends or the caller drops the future. Each event
    /// advances the stored cursor (and the known balance) before `on_event` sees it.
    pub async fn watch(
        &mut self,
        options: &WatchOptions,
        mut on_event: impl FnMut(&Event),
        on_status: impl FnMut(&WatchStatus),
    ) -> Result<(), WalletError> {
        let settings = self.store.settings()?;
        let session = settings.session().ok_or(WalletError::NotLoggedIn)?;
        let server = self.server_for(&session)?;
        let store = &mut self.store;
        let result = events::watch(
            &server,
            &session.token,
            settings.last_event_seq,
            options,
            |event| {
                store.advance_event_seq(event.seq).map_err(|e| error_chain(&e))?;
                if let Some(balance) = event.balance_after().and_then(Amount::from_minor) {
                    store.set_known_balance(balance, now_ms()).map_err(|e| error_chain(&e))?;
                }
                on_event(event);
                Ok(())
            },
            on_status,
        )
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(events::WatchError::SessionEnded) => {
                Err(WalletError::SessionEnded { handle: session.handle.to_string() })
            }
            Err(e) => Err(WalletError::Watch(e)),
        }
    }

    /// The pending outbox entries of the session's account on its server, oldest first.
    fn unconfirmed_sends(&self, session: &Session) -> Result<Vec<OutboxEntry>, WalletError> {
        let server = self.server_for(session)?;
        Ok(self.store.outbox_pending_for(server.as_str(), &session.handle)?)
    }

    /// The currency, from the store, or from the server (then remembered).
    async fn currency(&mut self, client: &Client) -> Result<Currency, WalletError> {
        if let Some(currency) = self.store.settings()?.currency {
            return Ok(currency);
        }
        let currency = fetch_currency(client).await?;
        self.store.set_currency(currency)?;
        Ok(currency)
    }

    fn server_for(&self, session: &Session) -> Result<ServerUrl, WalletError> {
        match &self.server_override {
            Some(server) => Ok(server.clone()),
            None => Ok(ServerUrl::parse(&session.server_url)?),
        }
    }
}

async fn fetch_currency(client: &Client) -> Result<Currency, WalletError> {
    let config = client.config().await?;
    Currency::new(&config.currency, config.decimals).ok_or(WalletError::BadCurrency(config.currency, config.decimals))
}

/// The server's rule for an `Idempotency-Key` (docs/API.md): 8 to 128 characters of
/// `A-Z a-z 0-9 - _`.
pub fn is_valid_idempotency_key(key: &str) -> bool {
    (8..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// "25.00 INR to bob (memo "rent") from alice on http://…", for a conflict's sentence.
fn describe(currency: &Currency, entry: &OutboxEntry) -> String {
    let memo = entry.memo.as_deref().map(|m| format!(" (memo {m:?})")).unwrap_or_default();
    format!(
        "{} {} to {}{memo} from {} on {}",
        currency.format(entry.amount),
        currency.code(),
        entry.to,
        entry.account,
        entry.server
    )
}

/// A 401 on an authenticated request means the session is over; other errors pass through.
fn session_error(error: ClientError, session: &Session) -> WalletError {
    if error.is_session_ended() {
        return WalletError::SessionEnded { handle: session.handle.to_string() };
    }
    WalletError::Client(error)
}

/// An error and its causes on one line: "a: b: c".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        current = cause.source();
    }
    text
}

/// A send refused in an earlier attempt (another process's, seen in the outbox), reported as
/// the refusal it was.
fn refused_earlier(key: &str, entry: OutboxEntry) -> WalletError {
    WalletError::SendRefused {
        key: key.to_string(),
        code: entry.failure_code.unwrap_or_default(),
        message: "the server refused it in an earlier attempt".into(),
    }
}
