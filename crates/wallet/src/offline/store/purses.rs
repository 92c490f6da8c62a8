//! Purses in the offline store: certificates with their chain state, the idempotency keys of
//! purse loads (written before the request leaves, reused on retry), and close statements
//! (written, and the purse frozen on this device, before the request leaves). A certificate is
//! installed only after checking that it names this device's key and a cached issuer key signed
//! it.

use offpay_protocol::{Amount, Encoded, Hash256, PurseCertificate, PurseId, PurseState, UnixTime};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{OfflineStore, OfflineStoreError, amount_from_sql, corrupt, sql_amount};
use crate::offline::OfflineError;

/// Where a purse stands, as this device knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurseStatus {
    /// Can pay (inside its window).
    Open,
    /// A close statement was signed; the device pays nothing more from it.
    Closing,
    /// The server confirmed the close.
    Closed,
    /// The server says its window is over.
    Expired,
    /// The server revoked it (double spending was detected).
    Revoked,
}

impl PurseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PurseStatus::Open => "open",
            PurseStatus::Closing => "closing",
            PurseStatus::Closed => "closed",
            PurseStatus::Expired => "expired",
            PurseStatus::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<PurseStatus> {
        Some(match text {
            "open" => PurseStatus::Open,
            "closing" => PurseStatus::Closing,
            "closed" => PurseStatus::Closed,
            "expired" => PurseStatus::Expired,
            "revoked" => PurseStatus::Revoked,
            _ => return None,
        })
    }
}

/// A purse held by this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurseRecord {
    pub certificate: PurseCertificate,
    pub state: PurseState,
    pub status: PurseStatus,
    /// What the server reported as settled / returned at the last sync.
    pub settled: Amount,
    pub returned: Amount,
    pub close_text: Option<String>,
    pub close_key: Option<String>,
}

impl PurseRecord {
    pub fn purse_id(&self) -> PurseId {
        self.state.purse_id
    }

    /// What the purse can still pay.
    pub fn remaining(&self) -> Amount {
        self.state.remaining(&self.certificate)
    }

    /// Open on this device and inside its validity window at `now`.
    pub fn usable_at(&self, now: UnixTime) -> bool {
        self.status == PurseStatus::Open && self.certificate.check_window(now).is_ok()
    }
}

/// The idempotency key of a purse load, and whether an earlier attempt already used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurseLoad {
    pub idempotency_key: String,
    pub amount: Amount,
    pub reused: bool,
}

const PURSE_COLUMNS: &str = "certificate, last_seq, last_hash, spent, state, settled, returned, close_text, close_key";

fn purse_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawPurse> {
    Ok(RawPurse {
        certificate: row.get(0)?,
        last_seq: row.get(1)?,
        last_hash: row.get(2)?,
        spent: row.get(3)?,
        state: row.get(4)?,
        settled: row.get(5)?,
        returned: row.get(6)?,
        close_text: row.get(7)?,
        close_key: row.get(8)?,
    })
}

struct RawPurse {
    certificate: String,
    last_seq: i64,
    last_hash: String,
    spent: i64,
    state: String,
    settled: i64,
    returned: i64,
    close_text: Option<String>,
    close_key: Option<String>,
}

impl RawPurse {
    fn into_record(self) -> Result<PurseRecord, OfflineStoreError> {
        let certificate =
            PurseCertificate::from_text(&self.certificate).map_err(|e| corrupt("purse certificate", e))?;
        let state = PurseState {
            purse_id: certificate.purse_id(),
            last_seq: u32::try_from(self.last_seq).map_err(|e| corrupt("purse sequence number", e))?,
            last_hash: Hash256::from_hex(&self.last_hash).map_err(|e| corrupt("purse last hash", e))?,
            spent: amount_from_sql(self.spent, "purse spent")?,
        };
        Ok(PurseRecord {
            certificate,
            state,
            status: PurseStatus::parse(&self.state).ok_or_else(|| corrupt("purse state", &self.state))?,
            settled: amount_from_sql(self.settled, "purse settled")?,
            returned: amount_from_sql(self.returned, "purse returned")?,
            close_text: self.close_text,
            close_key: self.close_key,
        })
    }
}

/// All purses, oldest expiry first (the order `pay` tries them in).
pub(crate) fn read_purses(conn: &Connection) -> Result<Vec<PurseRecord>, OfflineStoreError> {
    let mut stmt =
        conn.prepare(&format!("SELECT {PURSE_COLUMNS} FROM purses ORDER BY valid_until, installed_at_ms, purse_id"))?;
    let raws = stmt.query_map([], purse_from_row)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawPurse::into_record).collect()
}

pub(crate) fn read_purse(conn: &Connection, purse_id: PurseId) -> Result<Option<PurseRecord>, OfflineStoreError> {
    let raw = conn
        .query_row(
            &format!("SELECT {PURSE_COLUMNS} FROM purses WHERE purse_id = ?1"),
            [purse_id.to_hex()],
            purse_from_row,
        )
        .optional()?;
    raw.map(RawPurse::into_record).transpose()
}

/// Moves a purse's chain state from `before` to `after`; fails unless the stored state is
/// still `before` (so a state is never advanced from a stale read).
pub(crate) fn advance_purse(
    conn: &Connection,
    before: &PurseState,
    after: &PurseState,
) -> Result<(), OfflineStoreError> {
    let changed = conn.execute(
        "UPDATE purses SET last_seq = ?1, last_hash = ?2, spent = ?3
         WHERE purse_id = ?4 AND last_seq = ?5 AND last_hash = ?6 AND state = 'open'",
        params![
            i64::from(after.last_seq),
            after.last_hash.to_hex(),
            sql_amount(after.spent),
            before.purse_id.to_hex(),
            i64::from(before.last_seq),
            before.last_hash.to_hex()
        ],
    )?;
    if changed != 1 {
        return Err(corrupt("purse state", "the purse changed while a payment was being made"));
    }
    Ok(())
}

fn insert_purse_in(
    conn: &Connection,
    certificate: &PurseCertificate,
    now_ms: i64,
) -> Result<PurseRecord, OfflineStoreError> {
    let state = PurseState::new(certificate);
    let f = certificate.fields();
    conn.execute(
        "INSERT INTO purses (purse_id, certificate, amount, valid_until, last_seq, last_hash, spent, state, installed_at_ms)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, 0, 'open', ?6)
         ON CONFLICT (purse_id) DO NOTHING",
        params![
            state.purse_id.to_hex(),
            certificate.to_text(),
            sql_amount(f.amount),
            i64::try_from(f.valid_until).unwrap_or(i64::MAX),
            state.last_hash.to_hex(),
            now_ms
        ],
    )?;
    let record = read_purse(conn, state.purse_id)?.ok_or_else(|| corrupt("purse", "vanished after insert"))?;
    if record.certificate != *certificate {
        return Err(corrupt("purse", "a different certificate with the same purse id is stored"));
    }
    Ok(record)
}

impl OfflineStore {
    /// Installs a purse certificate after checking that it names this device's key and carries
    /// a valid signature of a cached issuer key. Installing the same certificate twice is a
    /// no-op. `purse load` calls this; tests use it to install a testkit certificate.
    pub fn install_purse(&mut self, certificate: &PurseCertificate, now_ms: i64) -> Result<PurseRecord, OfflineError> {
        self.check_certificate(certificate)?;
        Ok(self.insert_purse(certificate, now_ms)?)
    }

    pub(crate) fn check_certificate(&self, certificate: &PurseCertificate) -> Result<(), OfflineError> {
        if certificate.fields().device_key != self.device_public_key() {
            return Err(OfflineError::BadCertificate("it names another device's key".into()));
        }
        certificate.verify_issuer(&self.issuer_keys()?).map_err(|r| OfflineError::BadCertificate(r.to_string()))
    }

    /// All purses on this device.
    pub fn purses(&self) -> Result<Vec<PurseRecord>, OfflineStoreError> {
        read_purses(self.conn())
    }

    pub fn purse(&self, purse_id: PurseId) -> Result<Option<PurseRecord>, OfflineStoreError> {
        read_purse(self.conn(), purse_id)
    }

    /// Stores a certificate as a fresh open purse (nothing spent). Installing the same
    /// certificate again changes nothing. The caller checks the certificate (see
    /// `OfflineStore::install_purse`).
    pub(crate) fn insert_purse(
        &mut self,
        certificate: &PurseCertificate,
        now_ms: i64,
    ) -> Result<PurseRecord, OfflineStoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let record = insert_purse_in(&tx, certificate, now_ms)?;
        tx.commit()?;
        Ok(record)
    }

    /// The idempotency key for loading `amount` on `server` for `account`: a pending load of the
    /// same amount is reused (its outcome is unknown); a pending load of another amount must be
    /// finished first, and is returned as `Err(Some(that load))`. Another account's pending
    /// load on the same home is not looked at (its key is that account's).
    pub fn purse_load_prepare(
        &mut self,
        server: &str,
        account: &str,
        amount: Amount,
        now_ms: i64,
    ) -> Result<Result<PurseLoad, PurseLoad>, OfflineStoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pending: Option<(String, i64)> = tx
            .query_row(
                "SELECT idempotency_key, amount FROM purse_loads
                 WHERE server = ?1 AND (account = ?2 OR account IS NULL) AND state = 'pending'
                 ORDER BY created_at_ms LIMIT 1",
                [server, account],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((key, pending_amount)) = pending {
            let pending_amount = amount_from_sql(pending_amount, "purse load amount")?;
            let load = PurseLoad { idempotency_key: key, amount: pending_amount, reused: true };
            return Ok(if pending_amount == amount { Ok(load) } else { Err(load) });
        }
        let key = hex::encode(super::random_bytes::<16>()?);
        tx.execute(
            "INSERT INTO purse_loads (idempotency_key, server, amount, state, created_at_ms, updated_at_ms, account)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?5)",
            params![key, server, sql_amount(amount), now_ms, account],
        )?;
        tx.commit()?;
        Ok(Ok(PurseLoad { idempotency_key: key, amount, reused: false }))
    }

    /// Installs the purse a load produced and closes the load, in one transaction.
    pub(crate) fn purse_load_done(
        &mut self,
        key: &str,
        certificate: &PurseCertificate,
        now_ms: i64,
    ) -> Result<PurseRecord, OfflineStoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let record = insert_purse_in(&tx, certificate, now_ms)?;
        tx.execute(
            "UPDATE purse_loads SET state = 'done', purse_id = ?2, updated_at_ms = ?3 WHERE idempotency_key = ?1",
            params![key, certificate.purse_id().to_hex(), now_ms],
        )?;
        tx.commit()?;
        Ok(record)
    }

    /// The server refused the load: its key is closed (a new load gets a new key).
    pub(crate) fn purse_load_failed(&mut self, key: &str, code: &str, now_ms: i64) -> Result<(), OfflineStoreError> {
        self.conn().execute(
            "UPDATE purse_loads SET state = 'failed', failure_code = ?2, updated_at_ms = ?3 WHERE idempotency_key = ?1",
            params![key, code, now_ms],
        )?;
        Ok(())
    }

    /// Marks an open purse as closing with its signed close statement and the idempotency key
    /// of the close request, if the purse is still at `signed_from`, the state the statement
    /// counts (false, nothing changed, when another process paid from it or closed it since: a
    /// statement that leaves out a note paid would make that note a fraud beyond the close).
    /// From here on the device pays nothing from it.
    pub(crate) fn begin_close(
        &mut self,
        signed_from: &PurseState,
        close_text: &str,
        key: &str,
    ) -> Result<bool, OfflineStoreError> {
        let changed = self.conn().execute(
            "UPDATE purses SET state = 'closing', close_text = ?2, close_key = ?3
             WHERE purse_id = ?1 AND state = 'open' AND last_seq = ?4 AND last_hash = ?5",
            params![
                signed_from.purse_id.to_hex(),
                close_text,
                key,
                i64::from(signed_from.last_seq),
                signed_from.last_hash.to_hex()
            ],
        )?;
        Ok(changed == 1)
    }

    /// Records what the server said about a purse. A purse this device is closing stays
    /// closing until the server says closed (or expired/revoked).
    pub(crate) fn update_purse_status(
        &mut self,
        purse_id: PurseId,
        status: PurseStatus,
        settled: Amount,
        returned: Amount,
    ) -> Result<bool, OfflineStoreError> {
        let changed = self.conn().execute(
            "UPDATE purses SET
                state = CASE WHEN ?2 = 'open' THEN state ELSE ?2 END,
                settled = ?3, returned = ?4
             WHERE purse_id = ?1",
            params![purse_id.to_hex(), status.as_str(), sql_amount(settled), sql_amount(returned)],
        )?;
        Ok(changed == 1)
    }
}
