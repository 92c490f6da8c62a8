//! The online half of offline payment, as [`Wallet`] methods given a session: learn my identity, load a purse (device registration,
//! idempotent `POST /v1/purses`, certificate check, install), close purses, and sync (upload
//! pending notes in batches, download issuer keys, revocations and purse states). The HTTP
//! calls are [`Client`] methods, made with [`Patience::OFFLINE`].

use offpay_protocol::{
    AccountNumber, Amount, Currency, Encoded, Handle, Hash256, IssuerKey, IssuerKeys, PaymentNote, PurseCertificate,
    PurseId, Revocations, UnixTime,
};

use super::counter_refusals::CounterRefusal;
use super::error::OfflineError;
use super::store::{Identity, PurseRecord, PurseStatus, UploadSide, UploadStatus, random_bytes};
use super::unix_now;
use crate::client::{Client, ClientError, Patience, ServerUrl};
use crate::store::now_ms;
use crate::wallet::Wallet;
use crate::wire::{MAX_NOTES_PER_UPLOAD, OfflineLimits};

/// A logged-in session to run the online operations with.
#[derive(Debug, Clone)]
pub struct OnlineSession {
    pub api: OfflineApi,
    /// The handle the wallet is logged in as (for messages).
    pub handle: Handle,
}

/// The server of a session and its token: a [`Client`] with [`Patience::OFFLINE`]. Its
/// `Debug` shows the server, never the token.
#[derive(Clone)]
pub struct OfflineApi {
    client: Client,
    token: String,
}

impl std::fmt::Debug for OfflineApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineApi").field("client", &self.client).finish_non_exhaustive()
    }
}

impl OfflineApi {
    pub fn new(server: ServerUrl, token: String) -> Result<OfflineApi, ClientError> {
        Ok(OfflineApi { client: Client::new(server)?.with_patience(Patience::OFFLINE), token })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn server(&self) -> &ServerUrl {
        self.client.server()
    }
}

/// What a loaded purse's certificate is refused for when this device's clock is past its end.
const EXPIRED_HERE: &str =
    "it has already expired by this device's clock; check the clock, then run the same `purse load` again to finish it";

/// A purse loaded and installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPurse {
    pub record: PurseRecord,
    /// The account balance after the load, when the server said.
    pub balance: Option<Amount>,
    /// An earlier attempt's idempotency key was reused (its outcome had been unknown).
    pub resumed: bool,
    pub currency: Currency,
}

/// What closing one purse did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPurse {
    pub purse_id: PurseId,
    /// What the close statement says the device spent.
    pub spent: Amount,
    /// Back to the balance now / held for notes still to settle (server's figures), or the
    /// error that left the purse closing on this device (run `purse close` again).
    pub outcome: Result<(Amount, Amount), String>,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub uploaded: usize,
    pub settled: usize,
    pub duplicate: usize,
    pub fraud: usize,
    /// Notes the server refused, with its reason code.
    pub rejected: Vec<(Hash256, Option<String>)>,
    /// Notes the server holds (not paid in full yet), with what this upload credited.
    pub held: Vec<(Hash256, u64)>,
    /// Notes still waiting for a definite answer.
    pub pending: usize,
    pub issuer_keys: usize,
    pub revoked_purses: usize,
    pub revoked_devices: usize,
    /// Each purse of this device and its state after the sync.
    pub purses: Vec<(PurseId, PurseStatus, Amount)>,
    /// This device's key is on the revocation list.
    pub device_revoked: bool,
    pub limits: Option<OfflineLimits>,
    /// Card notes this counter refused that the server answered about in this sync (voided,
    /// given back, or refused to take back: `counter_refusals.rs`).
    pub counter_refusals: Vec<CounterRefusal>,
    /// Purses whose close was unfinished (`closing`), sent again by this sync.
    pub closed: Vec<ClosedPurse>,
}

impl SyncReport {
    /// Whether a note refused for `reason` is sent again at every sync, because the server
    /// judges that refusal again and may pay the note later
    /// (`offpay_api::offline::REFUSALS_JUDGED_AGAIN`; docs/OFFLINE.md).
    pub fn sent_again(reason: Option<&str>) -> bool {
        reason.is_some_and(|r| offpay_api::offline::REFUSALS_JUDGED_AGAIN.contains(&r))
    }

    /// How many of the refused notes are sent again at the next sync.
    pub fn refused_for_now(&self) -> usize {
        self.rejected.iter().filter(|(_, reason)| SyncReport::sent_again(reason.as_deref())).count()
    }
}

impl Wallet {
    /// Asks the server who I am (`/v1/me`, `/v1/config`) and remembers it.
    pub async fn refresh_identity(
        &mut self,
        session: &OnlineSession,
    ) -> Result<(Identity, Option<OfflineLimits>), OfflineError> {
        let (client, token) = (session.api.client(), session.api.token());
        let me = client.me(token).await.map_err(|e| session_error(e, session))?;
        let account = me.account;
        let config = client.config().await?;
        let currency =
            Currency::new(&config.currency, config.decimals).ok_or_else(|| bad_answer(session, "unusable currency"))?;
        let handle = Handle::parse(&me.handle).map_err(|e| bad_answer(session, &e.to_string()))?;
        let identity = Identity {
            server: session.api.server().to_string(),
            handle,
            account: offpay_protocol::AccountNumber(account),
            currency,
        };
        self.store.set_identity(&identity)?;
        Ok((identity, Some(config.offline)))
    }

    /// Downloads and caches the issuer keys; a key whose id does not match its public key is
    /// refused.
    pub async fn refresh_issuer_keys(&mut self, session: &OnlineSession) -> Result<IssuerKeys, OfflineError> {
        let listed = session.api.client().issuer_keys().await?;
        let mut keys = Vec::with_capacity(listed.len());
        for k in listed {
            let public = super::store::verifying_key_from_hex(&k.public_key)
                .ok_or_else(|| bad_answer(session, &format!("issuer key {:?} is not a public key", k.public_key)))?;
            let key = IssuerKey::new(public, k.not_before, k.not_after);
            if key.key_id.to_hex() != k.key_id {
                return Err(bad_answer(session, &format!("issuer key id {:?} does not match its key", k.key_id)));
            }
            keys.push(key);
        }
        let keys = IssuerKeys::new(keys).map_err(|e| bad_answer(session, &e.to_string()))?;
        self.store.replace_issuer_keys(&keys, now_ms())?;
        Ok(keys)
    }

    /// Downloads and caches the revocation list.
    pub async fn refresh_revocations(&mut self, session: &OnlineSession) -> Result<Revocations, OfflineError> {
        let listed = session.api.client().revocations().await?;
        let mut revocations = Revocations::default();
        for p in &listed.purses {
            revocations
                .purses
                .insert(PurseId::from_hex(p).map_err(|e| bad_answer(session, &format!("revoked purse: {e}")))?);
        }
        for d in &listed.devices {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(d, &mut bytes).map_err(|e| bad_answer(session, &format!("revoked device: {e}")))?;
            revocations.devices.insert(bytes);
        }
        self.store.replace_revocations(&revocations, now_ms())?;
        Ok(revocations)
    }

    /// Moves `amount_text` (major units) from the balance into a new purse for this device.
    /// The idempotency key is stored before the request leaves; a load whose outcome was
    /// unknown is finished by running the same load again (never loaded twice).
    pub async fn load_purse_with(
        &mut self,
        session: &OnlineSession,
        amount_text: &str,
        now: UnixTime,
    ) -> Result<LoadedPurse, OfflineError> {
        let (identity, _limits) = self.refresh_identity(session).await?;
        let amount = identity.currency.parse_major(amount_text)?;
        let keys = self.refresh_issuer_keys(session).await?;
        let (client, token) = (session.api.client(), session.api.token());
        client.register_device(token, &self.store.device_public_hex()).await.map_err(|e| session_error(e, session))?;
        let server = session.api.server().to_string();
        let load = match self.store.purse_load_prepare(&server, session.handle.as_str(), amount, now_ms())? {
            Ok(load) => load,
            Err(other) => return Err(OfflineError::LoadPending { amount: other.amount.minor() }),
        };
        let answer = match client
            .load_purse(token, &load.idempotency_key, amount.minor(), &self.store.device_public_hex())
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                if e.settles_the_load_key(load.reused) {
                    let code = e.code().unwrap_or("unreachable").to_string();
                    self.store.purse_load_failed(&load.idempotency_key, &code, now_ms())?;
                    return Err(session_error(e, session));
                }
                if e.is_definitely_not_done() {
                    return Err(session_error(e, session));
                }
                return Err(OfflineError::LoadUncertain { reason: e.to_string() });
            }
        };
        let certificate = match self.check_loaded(&answer.certificate, &identity, amount, &keys, now) {
            Ok(c) => c,
            // The server has reserved the money. A purse that looks expired here, the server
            // having just made it, means this device's clock runs ahead: the load stays pending,
            // and the same `purse load` once the clock is right installs it (the server answers
            // with the same purse); marked failed, the purse would never be installed and its
            // money would wait for its expiry.
            Err(OfflineError::BadCertificate(why))
                if why == EXPIRED_HERE && answer.purse.state == offpay_api::PurseState::Open =>
            {
                return Err(OfflineError::LoadClockAhead);
            }
            Err(e) => {
                self.store.purse_load_failed(&load.idempotency_key, "bad_certificate", now_ms())?;
                return Err(e);
            }
        };
        let record = self.store.purse_load_done(&load.idempotency_key, &certificate, now_ms())?;
        Ok(LoadedPurse {
            record,
            balance: Amount::from_minor(answer.balance),
            resumed: load.reused,
            currency: identity.currency,
        })
    }

    fn check_loaded(
        &self,
        text: &str,
        identity: &Identity,
        amount: Amount,
        keys: &IssuerKeys,
        now: UnixTime,
    ) -> Result<PurseCertificate, OfflineError> {
        let bad = |why: String| OfflineError::BadCertificate(why);
        let certificate = PurseCertificate::from_text(text).map_err(|e| bad(e.to_string()))?;
        let f = certificate.fields();
        if f.device_key != self.store.device_public_key() {
            return Err(bad("it names another device's key".into()));
        }
        if f.account != identity.account {
            return Err(bad(format!("it names account {}, not yours ({})", f.account, identity.account)));
        }
        if f.amount != amount {
            return Err(bad(format!("it is for {} minor units, not the {} asked for", f.amount, amount)));
        }
        certificate.verify_issuer(keys).map_err(|r| bad(r.to_string()))?;
        // The window is checked when paying; a device clock a little behind the server's must
        // not make a freshly loaded purse look unusable here.
        if now > f.valid_until {
            return Err(bad(EXPIRED_HERE.into()));
        }
        Ok(certificate)
    }

    /// Closes every purse of this device that is open (or whose close is unfinished): signs a
    /// close statement, stores it (the purse pays nothing more from here on), then sends it.
    pub async fn close_purses_with(
        &mut self,
        session: &OnlineSession,
        now: UnixTime,
    ) -> Result<Vec<ClosedPurse>, OfflineError> {
        let identity = self.refresh_identity(session).await?.0;
        let ids: Vec<PurseId> = self.store.purses()?.iter().map(PurseRecord::purse_id).collect();
        self.send_closes(session, identity.account, ids, now).await
    }

    /// Sends the close statement of each purse of `ids` that is `account`'s and open (signed
    /// now) or closing (the statement stored by an earlier close whose answer never came).
    async fn send_closes(
        &mut self,
        session: &OnlineSession,
        account: AccountNumber,
        ids: Vec<PurseId>,
        now: UnixTime,
    ) -> Result<Vec<ClosedPurse>, OfflineError> {
        let (client, token) = (session.api.client(), session.api.token());
        let mut out = Vec::new();
        for id in ids {
            let Some((purse, close_text, key)) = self.close_statement(id, account, now)? else {
                continue;
            };
            let outcome = match client.close_purse(token, &key, &purse.purse_id().to_hex(), &close_text).await {
                Ok(answer) => {
                    let returned =
                        minor(answer.returned).ok_or_else(|| bad_answer(session, "returned out of range"))?;
                    let held = minor(answer.held).ok_or_else(|| bad_answer(session, "held out of range"))?;
                    self.store.update_purse_status(purse.purse_id(), PurseStatus::Closed, purse.settled, returned)?;
                    Ok((returned, held))
                }
                Err(e) if e.is_session_ended() => return Err(session_error(e, session)),
                Err(e) => Err(e.to_string()),
            };
            out.push(ClosedPurse { purse_id: purse.purse_id(), spent: purse.state.spent, outcome });
        }
        Ok(out)
    }

    /// The close statement of purse `id` (of `account`) to send, and its key: the stored one of a
    /// close begun earlier, or one signed now from the purse's state read just before, and stored
    /// only if the purse is still at that state. Another process on this home may have paid from
    /// it while earlier purses' closes waited on the network; a statement that left out that
    /// note would make it a fraud beyond the close (the account frozen), so the purse is read and
    /// signed again. (Each turn means one more note paid: at most a purse's notes.) `None` for a
    /// purse that is not this account's, or not open or closing.
    fn close_statement(
        &mut self,
        id: PurseId,
        account: AccountNumber,
        now: UnixTime,
    ) -> Result<Option<(PurseRecord, String, String)>, OfflineError> {
        loop {
            let Some(purse) = self.store.purse(id)? else { return Ok(None) };
            if purse.certificate.fields().account != account {
                return Ok(None);
            }
            match (purse.status, &purse.close_text, &purse.close_key) {
                (PurseStatus::Open, _, _) => {
                    let text = purse.state.close(&purse.certificate, self.store.device(), now)?.to_text();
                    let key = hex::encode(random_bytes::<16>()?);
                    if self.store.begin_close(&purse.state, &text, &key)? {
                        return Ok(Some((purse, text, key)));
                    }
                }
                (PurseStatus::Closing, Some(text), Some(key)) => {
                    let (text, key) = (text.clone(), key.clone());
                    return Ok(Some((purse, text, key)));
                }
                _ => return Ok(None),
            }
        }
    }

    /// Uploads every note of this account not yet settled (accepted and paid, in batches of at
    /// most [`MAX_NOTES_PER_UPLOAD`]; [`uploads_it`]), then refreshes issuer keys, revocations
    /// and purse states.
    pub async fn sync_notes_with(&mut self, session: &OnlineSession) -> Result<SyncReport, OfflineError> {
        let (identity, limits) = self.refresh_identity(session).await?;
        let mut report = SyncReport { limits, ..SyncReport::default() };
        let (client, token) = (session.api.client(), session.api.token());

        // Refusals first: a note the shop took with the nonce of one it refused is paid once that
        // one is given back (the server pays one note per payee and nonce, less what refusals
        // gave back), not refused for good as `request_already_paid` by an upload before it.
        report.counter_refusals = self.give_back_refused_with(session, identity.account).await?;
        let pending: Vec<_> = self
            .store
            .pending_uploads()?
            .into_iter()
            .filter(|(side, _, text)| uploads_it(*side, text, identity.account))
            .collect();
        for batch in pending.chunks(MAX_NOTES_PER_UPLOAD) {
            let texts: Vec<&str> = batch.iter().map(|(_, _, text)| text.as_str()).collect();
            let results = client.upload_notes(token, &texts).await.map_err(|e| session_error(e, session))?;
            report.uploaded += batch.len();
            for result in results {
                let Ok(hash) = Hash256::from_hex(&result.note) else { continue };
                if !batch.iter().any(|(_, h, _)| *h == hash) {
                    continue;
                }
                let Some(status) = UploadStatus::from_server(result.status.as_str()) else { continue };
                self.store.record_upload(hash, status, result.reason.as_deref())?;
                match status {
                    UploadStatus::Settled => report.settled += 1,
                    UploadStatus::Duplicate => report.duplicate += 1,
                    UploadStatus::Fraud => report.fraud += 1,
                    UploadStatus::Rejected => report.rejected.push((hash, result.reason.clone())),
                    UploadStatus::Held => report.held.push((hash, result.amount)),
                    UploadStatus::Pending => {}
                }
            }
        }
        report.pending = self.store.upload_counts()?.0;
        // A close whose answer never came (the purse pays nothing more here) is finished now,
        // with the statement and key stored then: the server closes a purse once per key.
        let closing: Vec<PurseId> = self
            .store
            .purses()?
            .iter()
            .filter(|p| p.status == PurseStatus::Closing)
            .map(PurseRecord::purse_id)
            .collect();
        report.closed = self.send_closes(session, identity.account, closing, unix_now()).await?;

        report.issuer_keys = self.refresh_issuer_keys(session).await?.iter().count();
        let revocations = self.refresh_revocations(session).await?;
        report.revoked_purses = revocations.purses.len();
        report.revoked_devices = revocations.devices.len();
        report.device_revoked = revocations.devices.contains(self.store.device_public_key().as_bytes());

        let states = client.purses(token).await.map_err(|e| session_error(e, session))?;
        for info in states {
            let (Ok(id), Some(status)) = (PurseId::from_hex(&info.purse_id), PurseStatus::parse(info.state.as_str()))
            else {
                continue;
            };
            let settled = minor(info.settled).unwrap_or(Amount::ZERO);
            let returned = minor(info.returned).unwrap_or(Amount::ZERO);
            self.store.update_purse_status(id, status, settled, returned)?;
        }
        for purse in self.store.purses()? {
            if revocations.is_revoked(purse.purse_id(), &self.store.device_public_key())
                && purse.status != PurseStatus::Revoked
            {
                self.store.update_purse_status(
                    purse.purse_id(),
                    PurseStatus::Revoked,
                    purse.settled,
                    purse.returned,
                )?;
            }
        }
        report.purses = self.store.purses()?.into_iter().map(|p| (p.purse_id(), p.status, p.remaining())).collect();
        Ok(report)
    }
}

/// A 401 means the session is over; other errors pass through.
pub(crate) fn session_error(error: ClientError, session: &OnlineSession) -> OfflineError {
    if error.is_session_ended() {
        return OfflineError::SessionEnded { handle: session.handle.to_string() };
    }
    OfflineError::Api(error)
}

/// The server's answer could not be used.
fn bad_answer(session: &OnlineSession, reason: &str) -> OfflineError {
    OfflineError::Api(ClientError::BadAnswer { server: session.api.server().to_string(), reason: reason.to_string() })
}

/// An amount the server sends as a signed integer of minor units; `None` when negative or too
/// large.
fn minor(value: i64) -> Option<Amount> {
    u64::try_from(value).ok().and_then(Amount::from_minor)
}

/// Whether the session of `account` uploads a note of this home: an accepted note only when it
/// pays `account`, a paid note only when its purse is `account`'s. Another account's notes in a
/// shared home wait for that account's session: uploaded by anyone else, a note of a revoked
/// purse is refused `payee_must_upload` for good, and the payee's note would never be sent
/// again. A note that does not decode is sent (the server answers `malformed`).
fn uploads_it(side: UploadSide, text: &str, account: AccountNumber) -> bool {
    let Ok(note) = PaymentNote::from_text(text) else { return true };
    match side {
        UploadSide::Accepted => note.fields().payee == account,
        UploadSide::Paid => note.certificate().fields().account == account,
    }
}
