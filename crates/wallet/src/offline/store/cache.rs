//! What the offline store caches from the server: my identity (server, handle, account number,
//! currency), the issuer's public keys and the revocation list, each replaced as a whole by a
//! sync and stamped with the time it was fetched.

use offpay_protocol::{AccountNumber, Currency, Handle, IssuerKey, IssuerKeys, PurseId, Revocations, VerifyingKey};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{OfflineStore, OfflineStoreError, corrupt};

const ID_SERVER: &str = "identity_server";
const ID_HANDLE: &str = "identity_handle";
const ID_ACCOUNT: &str = "identity_account";
const ID_CURRENCY: &str = "identity_currency";
const ID_DECIMALS: &str = "identity_decimals";
const KEYS_FETCHED_MS: &str = "issuer_keys_fetched_ms";
const REVOCATIONS_FETCHED_MS: &str = "revocations_fetched_ms";

/// Who this wallet is on its server: what a payment request names and a note must pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub server: String,
    pub handle: Handle,
    pub account: AccountNumber,
    pub currency: Currency,
}

impl OfflineStore {
    fn meta(&self, key: &str) -> Result<Option<String>, OfflineStoreError> {
        Ok(self.conn().query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// My identity, if this device learnt it from the server.
    pub fn identity(&self) -> Result<Option<Identity>, OfflineStoreError> {
        let (Some(server), Some(handle), Some(account), Some(code), Some(decimals)) = (
            self.meta(ID_SERVER)?,
            self.meta(ID_HANDLE)?,
            self.meta(ID_ACCOUNT)?,
            self.meta(ID_CURRENCY)?,
            self.meta(ID_DECIMALS)?,
        ) else {
            return Ok(None);
        };
        let handle = Handle::parse(&handle).map_err(|e| corrupt("identity handle", e))?;
        let account = AccountNumber(account.parse().map_err(|e| corrupt("identity account", e))?);
        let decimals: u8 = decimals.parse().map_err(|e| corrupt("identity currency", e))?;
        let currency = Currency::new(&code, decimals).ok_or_else(|| corrupt("identity currency", &code))?;
        Ok(Some(Identity { server, handle, account, currency }))
    }

    /// Remembers my identity (after asking the server, or in tests).
    pub fn set_identity(&mut self, identity: &Identity) -> Result<(), OfflineStoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (key, value) in [
            (ID_SERVER, identity.server.clone()),
            (ID_HANDLE, identity.handle.to_string()),
            (ID_ACCOUNT, identity.account.0.to_string()),
            (ID_CURRENCY, identity.currency.code().to_string()),
            (ID_DECIMALS, identity.currency.decimals().to_string()),
        ] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The cached issuer keys (empty before the first sync).
    pub fn issuer_keys(&self) -> Result<IssuerKeys, OfflineStoreError> {
        let mut stmt = self.conn().prepare("SELECT public_key, not_before, not_after FROM issuer_keys")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        let mut keys = Vec::new();
        for row in rows {
            let (public, not_before, not_after) = row?;
            let key = verifying_key_from_hex(&public).ok_or_else(|| corrupt("issuer key", &public))?;
            let nb = u64::try_from(not_before).map_err(|e| corrupt("issuer key window", e))?;
            let na = u64::try_from(not_after).map_err(|e| corrupt("issuer key window", e))?;
            keys.push(IssuerKey::new(key, nb, na));
        }
        IssuerKeys::new(keys).map_err(|e| corrupt("issuer keys", e))
    }

    /// Replaces the cached issuer keys with `keys`.
    pub fn replace_issuer_keys(&mut self, keys: &IssuerKeys, fetched_ms: i64) -> Result<(), OfflineStoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM issuer_keys", [])?;
        for key in keys.iter() {
            tx.execute(
                "INSERT INTO issuer_keys (key_id, public_key, not_before, not_after) VALUES (?1, ?2, ?3, ?4)",
                params![
                    key.key_id.to_hex(),
                    hex::encode(key.public_key.as_bytes()),
                    i64::try_from(key.not_before).unwrap_or(i64::MAX),
                    i64::try_from(key.not_after).unwrap_or(i64::MAX)
                ],
            )?;
        }
        put_meta(&tx, KEYS_FETCHED_MS, &fetched_ms.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// The cached revocation list (empty before the first sync).
    pub fn revocations(&self) -> Result<Revocations, OfflineStoreError> {
        let mut revocations = Revocations::default();
        let mut stmt = self.conn().prepare("SELECT purse_id FROM revoked_purses")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let text = row?;
            revocations.purses.insert(PurseId::from_hex(&text).map_err(|e| corrupt("revoked purse", e))?);
        }
        let mut stmt = self.conn().prepare("SELECT public_key FROM revoked_devices")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let text = row?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&text, &mut bytes).map_err(|e| corrupt("revoked device", e))?;
            revocations.devices.insert(bytes);
        }
        Ok(revocations)
    }

    /// Replaces the cached revocation list with `revocations`.
    pub fn replace_revocations(&mut self, revocations: &Revocations, fetched_ms: i64) -> Result<(), OfflineStoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM revoked_purses", [])?;
        tx.execute("DELETE FROM revoked_devices", [])?;
        for purse in &revocations.purses {
            tx.execute("INSERT INTO revoked_purses (purse_id) VALUES (?1)", [purse.to_hex()])?;
        }
        for device in &revocations.devices {
            tx.execute("INSERT INTO revoked_devices (public_key) VALUES (?1)", [hex::encode(device)])?;
        }
        put_meta(&tx, REVOCATIONS_FETCHED_MS, &fetched_ms.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// When the issuer keys and the revocation list were last fetched (ms since the epoch).
    pub fn cache_ages(&self) -> Result<(Option<i64>, Option<i64>), OfflineStoreError> {
        let parse = |v: Option<String>| v.and_then(|t| t.parse().ok());
        Ok((parse(self.meta(KEYS_FETCHED_MS)?), parse(self.meta(REVOCATIONS_FETCHED_MS)?)))
    }
}

fn put_meta(conn: &rusqlite::Connection, key: &str, value: &str) -> Result<(), OfflineStoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A public key from 64 lowercase hex digits; `None` if malformed or not a valid point.
pub(crate) fn verifying_key_from_hex(text: &str) -> Option<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}
