//! The wallet's offline commands that combine the online wallet (session, server address,
//! outbox) with the offline operations: `purse load|close` with the logged-in session,
//! `request` and `accept` with my identity (cached, or asked from the server), `sync` (pending
//! sends first, then the offline notes), and the currency to show. The operations themselves
//! are `Wallet` methods too, next to their rules: `offline/payer.rs` (`pay`,
//! `preview_payment`, `offline_balance`), `offline/payee.rs` (`request`, `accept`),
//! `offline/online.rs` (`load_purse_with`, `close_purses_with`, `sync_notes_with`). Like them,
//! these take the time (`now`, Unix seconds) as an argument: the CLI reads the clock.

use offpay_protocol::{Amount, Currency, UnixTime};

use super::{RetriedSend, Wallet};
use crate::offline::online::OfflineApi;
use crate::offline::{
    Acceptance, AcceptedPayment, ClosedPurse, CounterLimits, Identity, IssuedRequest, LoadedPurse, MyCard,
    OfflineError, OfflineStore, OnlineSession, PurseRecord, SyncReport, unix_now,
};

/// Something a command could not do on the side while it succeeded: said as a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideNote {
    /// The issuer keys could not be fetched while the identity was (why).
    IssuerKeysNotFetched(String),
    /// The revocation list could not be fetched while the identity was (why).
    RevocationsNotFetched(String),
}

/// My identity, and what went wrong on the side while learning it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownIdentity {
    pub identity: Identity,
    pub notes: Vec<SideNote>,
}

/// What the offline part of `sync` did, with the offline remainder after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineSync {
    pub report: SyncReport,
    pub offline: Amount,
    /// The currency to show its amounts in.
    pub currency: Currency,
}

/// What `sync` did: the pending sends retried (each with its outcome), then the offline part,
/// which may have failed after the sends were retried.
#[derive(Debug)]
pub struct SyncOutcome {
    pub sends: Vec<RetriedSend>,
    /// The currency of the online wallet (the sends' amounts).
    pub send_currency: Currency,
    pub offline: Result<OfflineSync, OfflineError>,
}

impl Wallet {
    /// The store's offline tables and device key.
    pub fn offline_store(&self) -> &OfflineStore {
        &self.store
    }

    pub fn offline_store_mut(&mut self) -> &mut OfflineStore {
        &mut self.store
    }

    /// The logged-in session, for the offline endpoints.
    pub fn online_session(&self) -> Result<OnlineSession, OfflineError> {
        let session = self.store.settings()?.session().ok_or(OfflineError::NotLoggedIn)?;
        let server = self.server()?;
        Ok(OnlineSession { api: OfflineApi::new(server, session.token)?, handle: session.handle })
    }

    /// The currency to show amounts in: my identity's, else the online wallet's, else INR.
    pub fn display_currency(&self) -> Currency {
        if let Ok(Some(id)) = self.store.identity() {
            return id.currency;
        }
        self.store.settings().ok().and_then(|s| s.currency).unwrap_or_default()
    }

    /// This device's purses (`purse status`).
    pub fn purses(&self) -> Result<Vec<PurseRecord>, OfflineError> {
        Ok(self.store.purses()?)
    }

    /// Moves `amount_text` (major units) from the balance into a new purse for this device;
    /// also returns the offline remainder after the load.
    pub async fn load_purse(
        &mut self,
        amount_text: &str,
        now: UnixTime,
    ) -> Result<(LoadedPurse, Amount), OfflineError> {
        let session = self.online_session()?;
        let loaded = self.load_purse_with(&session, amount_text, now).await?;
        Ok((loaded, self.offline_balance(now)?))
    }

    /// Closes this device's open purses (what was not spent goes back to the balance).
    pub async fn close_purses(&mut self, now: UnixTime) -> Result<Vec<ClosedPurse>, OfflineError> {
        let session = self.online_session()?;
        self.close_purses_with(&session, now).await
    }

    /// My identity: the cached one when it matches the logged-in handle (no server needed),
    /// else asked from the server, which also refreshes the issuer keys and the revocation list
    /// that accepting notes needs (failures there are side notes).
    pub async fn identity(&mut self) -> Result<KnownIdentity, OfflineError> {
        let cached = self.store.identity()?;
        let session = self.store.settings()?.session();
        // The cached identity is the session's only for the same handle on the same server (an
        // account of the same name on another server, or on this one after its database was
        // reset, has another account number).
        let server = self.server().ok().map(|s| s.to_string());
        match (&cached, &session) {
            (Some(id), Some(s)) if id.handle == s.handle && server.as_deref() == Some(id.server.as_str()) => {
                return Ok(known(id.clone()));
            }
            (Some(id), None) => return Ok(known(id.clone())),
            (None, None) => return Err(OfflineError::UnknownIdentity),
            _ => {}
        }
        let online = self.online_session()?;
        match self.refresh_identity(&online).await {
            Ok((identity, _)) => {
                let mut notes = Vec::new();
                if let Err(e) = self.refresh_issuer_keys(&online).await {
                    notes.push(SideNote::IssuerKeysNotFetched(e.to_string()));
                }
                if let Err(e) = self.refresh_revocations(&online).await {
                    notes.push(SideNote::RevocationsNotFetched(e.to_string()));
                }
                Ok(KnownIdentity { identity, notes })
            }
            Err(e) => match cached {
                Some(id) => Err(OfflineError::IdentityMismatch {
                    cached: id.handle.to_string(),
                    current: online.handle.to_string(),
                }),
                None => Err(OfflineError::IdentityUnavailable(Box::new(e))),
            },
        }
    }

    /// `request`: makes a payment request for `amount_text` (major units) in my currency,
    /// payable for `valid_secs` from `now`.
    pub async fn request_payment(
        &mut self,
        amount_text: &str,
        valid_secs: u64,
        now: UnixTime,
    ) -> Result<(IssuedRequest, KnownIdentity), OfflineError> {
        let known = self.identity().await?;
        let amount = known.identity.currency.parse_major(amount_text)?;
        let issued = self.request(amount, valid_secs, now)?;
        Ok((issued, known))
    }

    /// `accept`: accepts a payment note, with no server once my identity is known. The outer
    /// error is about my identity; the inner result is the note's acceptance or refusal.
    pub async fn accept_payment(
        &mut self,
        note_text: &str,
        now: UnixTime,
    ) -> Result<(KnownIdentity, Result<AcceptedPayment, OfflineError>), OfflineError> {
        let known = self.identity().await?;
        let accepted = self.accept(note_text, now);
        Ok((known, accepted))
    }

    /// `shop card`: with a name, makes a new shop card (retiring the old one); without, the
    /// card this home already has.
    pub async fn shop_card(
        &mut self,
        name: Option<&str>,
        now: UnixTime,
    ) -> Result<(MyCard, KnownIdentity), OfflineError> {
        let known = self.identity().await?;
        let card = match name {
            Some(name) => self.make_card(name, now)?,
            None => self.my_card()?.ok_or(OfflineError::NoShopCard)?,
        };
        Ok((card, known))
    }

    /// `accept` at a counter: a note for my request or my shop card, or a server receipt; with
    /// no server once my identity is known. The outer error is about my identity; the inner
    /// result is the acceptance or refusal.
    pub async fn accept_shown(
        &mut self,
        text: &str,
        limits: CounterLimits,
        now: UnixTime,
    ) -> Result<(KnownIdentity, Result<Acceptance, OfflineError>), OfflineError> {
        let known = self.identity().await?;
        let accepted = self.accept_at_counter(text, limits, now);
        Ok((known, accepted))
    }

    /// `sync`: retries the pending online sends (each with its own key), then uploads the
    /// offline notes and refreshes issuer keys, revocations and purse states.
    pub async fn sync(&mut self) -> Result<SyncOutcome, OfflineError> {
        let session = self.online_session()?;
        let sends = self.retry_pending().await?;
        let send_currency = self.store.settings()?.currency.unwrap_or_default();
        let offline = self.sync_offline(&session).await;
        Ok(SyncOutcome { sends, send_currency, offline })
    }

    async fn sync_offline(&mut self, session: &OnlineSession) -> Result<OfflineSync, OfflineError> {
        let report = self.sync_notes_with(session).await?;
        let currency = self.display_currency();
        let offline = self.offline_balance(unix_now())?;
        Ok(OfflineSync { report, offline, currency })
    }
}

fn known(identity: Identity) -> KnownIdentity {
    KnownIdentity { identity, notes: Vec::new() }
}
