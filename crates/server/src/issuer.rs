//! The issuer keyset: the Ed25519 keys that sign purse certificates, kept in a JSON file
//! (`DATA/issuer-keys.json` by default, mode 0600; or a file given by `--issuer-keys FILE` so
//! several servers share it), and the offline limits ([`OfflineConfig`]).
//!
//! Rotation ([`rotate_file`], `offpay admin rotate-issuer-key`) adds a new key and ends the old
//! key's issuing window shortly after (servers reload the file every minute, so the overlap lets
//! each pick up the new key before the old one stops issuing). Old keys stay published for
//! verification until every purse they certified has expired and its grace period passed, then
//! they are dropped from the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use offpay_protocol::{IssuerKey, IssuerKeys, KeyId, SigningKey, UnixTime};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// How long a new key may issue certificates.
pub const KEY_ISSUING_SECS: u64 = 365 * 86_400;
/// After a rotation the old key keeps issuing this long (servers reload every minute).
pub const ROTATION_OVERLAP_SECS: u64 = 300;
/// File name inside the data directory.
pub const KEYS_FILE: &str = "issuer-keys.json";

/// Offline payment limits and the issuer keyset.
#[derive(Debug, Clone)]
pub struct OfflineConfig {
    /// Largest single offline payment (minor units).
    pub per_payment_cap: u64,
    /// Largest purse (minor units).
    pub purse_max: u64,
    /// How long a purse can be spent offline.
    pub validity_secs: u64,
    /// After `valid_until`, how long notes may still arrive before the remainder is returned.
    pub grace_secs: u64,
    /// The most the operator may lose on one purse (minor units): notes beyond the reserve,
    /// what is recovered from the payer and this allowance are held (docs/OFFLINE.md).
    pub loss_allowance: u64,
    /// Most purses one account may have before their settlement deadline.
    pub max_open_purses: u32,
    /// The issuer keyset; `None` disables the offline routes (503).
    pub issuer: Option<Arc<Issuer>>,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig {
            per_payment_cap: 20_000,
            purse_max: 200_000,
            validity_secs: 3 * 86_400,
            grace_secs: 2 * 86_400,
            loss_allowance: 200_000,
            max_open_purses: 2,
            issuer: None,
        }
    }
}

/// Why the keyset could not be read, written or used. A file error keeps the underlying io,
/// JSON, hex or keyset error as its `source()`.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("issuer key file {path}: {context}")]
    File {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("issuer key file {path} disappeared")]
    Missing { path: PathBuf },
    #[error("no issuer key may issue certificates now; run `offpay admin rotate-issuer-key`")]
    NoCurrentKey,
}

/// One stored key. `secret` is the 32-byte seed in hex.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    secret: String,
    not_before: UnixTime,
    not_after: UnixTime,
}

#[derive(Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

#[derive(Clone)]
struct Loaded {
    signing: Vec<(SigningKey, IssuerKey)>,
}

/// The keyset as loaded from its file; [`Issuer::reload`] picks up rotations.
pub struct Issuer {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("path", &self.path).finish_non_exhaustive()
    }
}

fn file_error(
    path: &Path,
    context: &'static str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> IssuerError {
    IssuerError::File { path: path.to_path_buf(), context, source: source.into() }
}

fn read_file(path: &Path) -> Result<Option<KeyFile>, IssuerError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| file_error(path, "not valid JSON", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(path, "cannot read", e)),
    }
}

/// Writes the file atomically (temporary file + rename), readable by the owner only.
fn write_file(path: &Path, file: &KeyFile) -> Result<(), IssuerError> {
    let json = serde_json::to_vec_pretty(file).map_err(|e| file_error(path, "cannot encode", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| file_error(path, "cannot create its directory", e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(&tmp).map_err(|e| file_error(&tmp, "cannot create", e))?;
        f.write_all(&json).map_err(|e| file_error(&tmp, "cannot write", e))?;
        f.sync_all().map_err(|e| file_error(&tmp, "cannot sync", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, "cannot replace", e))
}

fn new_key(now: UnixTime) -> StoredKey {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    StoredKey { secret: hex::encode(seed), not_before: now, not_after: now + KEY_ISSUING_SECS }
}

fn parse(path: &Path, file: &KeyFile) -> Result<Loaded, IssuerError> {
    let mut signing = Vec::new();
    for k in &file.keys {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&k.secret, &mut seed).map_err(|e| file_error(path, "bad secret", e))?;
        let key = SigningKey::from_bytes(&seed);
        let public = IssuerKey::new(key.verifying_key(), k.not_before, k.not_after);
        signing.push((key, public));
    }
    IssuerKeys::new(signing.iter().map(|(_, k)| k.clone())).map_err(|e| file_error(path, "invalid keyset", e))?;
    Ok(Loaded { signing })
}

/// Adds a new key valid from `now`, ends the issuing window of the keys issuing now at
/// `now + ROTATION_OVERLAP_SECS`, and drops keys whose certificates have all expired
/// (`not_after + validity + grace < now`). Creates the file when missing. Returns the new key id.
pub fn rotate_file(path: &Path, now: UnixTime, validity_secs: u64, grace_secs: u64) -> Result<KeyId, IssuerError> {
    let mut file = read_file(path)?.unwrap_or_default();
    for k in &mut file.keys {
        k.not_after = k.not_after.min(now + ROTATION_OVERLAP_SECS);
    }
    file.keys.retain(|k| k.not_after.saturating_add(validity_secs).saturating_add(grace_secs) >= now);
    let key = new_key(now);
    file.keys.push(key);
    let loaded = parse(path, &file)?;
    write_file(path, &file)?;
    loaded.signing.last().map(|(_, k)| k.key_id).ok_or(IssuerError::NoCurrentKey)
}

impl Issuer {
    /// Opens the keyset at `path`, creating it with one fresh key when it does not exist.
    pub fn open(path: &Path, now: UnixTime) -> Result<Issuer, IssuerError> {
        let file = match read_file(path)? {
            Some(file) => file,
            None => {
                let file = KeyFile { keys: vec![new_key(now)] };
                write_file(path, &file)?;
                file
            }
        };
        let loaded = parse(path, &file)?;
        Ok(Issuer { path: path.to_path_buf(), loaded: RwLock::new(loaded) })
    }

    /// The default file of a data directory.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join(KEYS_FILE)
    }

    /// Re-reads the file (after a rotation by another process).
    pub fn reload(&self) -> Result<(), IssuerError> {
        let file = read_file(&self.path)?.ok_or_else(|| IssuerError::Missing { path: self.path.clone() })?;
        let loaded = parse(&self.path, &file)?;
        if let Ok(mut slot) = self.loaded.write() {
            *slot = loaded;
        }
        Ok(())
    }

    /// The published keys (all kept keys, for verification).
    pub fn public_keys(&self) -> Vec<IssuerKey> {
        self.loaded.read().map(|l| l.signing.iter().map(|(_, k)| k.clone()).collect()).unwrap_or_default()
    }

    /// The key to sign with at `now`: the newest key whose window contains `now`.
    pub fn current(&self, now: UnixTime) -> Result<SigningKey, IssuerError> {
        let loaded = self.loaded.read().map_err(|_| IssuerError::NoCurrentKey)?;
        loaded
            .signing
            .iter()
            .filter(|(_, k)| k.valid_at(now))
            .max_by_key(|(_, k)| k.not_before)
            .map(|(s, _)| s.clone())
            .ok_or(IssuerError::NoCurrentKey)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use offpay_protocol::crypto::key_id;

    #[test]
    fn rotation_keeps_old_keys_until_their_purses_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEYS_FILE);
        let issuer = Issuer::open(&path, 1_000).unwrap();
        let first = issuer.current(1_000).unwrap();
        assert_eq!(issuer.public_keys().len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let new_id = rotate_file(&path, 2_000, 100, 50).unwrap();
        issuer.reload().unwrap();
        assert_eq!(issuer.public_keys().len(), 2);
        assert_eq!(key_id(&issuer.current(2_000).unwrap().verifying_key()), new_id);
        let old = issuer.public_keys().into_iter().find(|k| k.key_id == key_id(&first.verifying_key())).unwrap();
        assert_eq!(old.not_after, 2_000 + ROTATION_OVERLAP_SECS);
        // Long after the old key's purses expired, the next rotation drops it.
        rotate_file(&path, 2_000 + ROTATION_OVERLAP_SECS + 151, 100, 50).unwrap();
        issuer.reload().unwrap();
        let ids: Vec<KeyId> = issuer.public_keys().iter().map(|k| k.key_id).collect();
        assert!(!ids.contains(&key_id(&first.verifying_key())));
        assert!(ids.contains(&new_id));
        // A broken file is an error, not a panic, and keeps the JSON error as its source.
        std::fs::write(&path, b"{not json").unwrap();
        let error = issuer.reload().unwrap_err();
        assert!(matches!(error, IssuerError::File { context: "not valid JSON", .. }), "{error:?}");
        assert!(std::error::Error::source(&error).unwrap().is::<serde_json::Error>(), "{error:?}");
    }
}
