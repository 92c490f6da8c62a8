//! What a wallet caches from the server for offline checks: the issuer's public keys with their
//! validity windows, and the revocation list (purses and device keys caught double spending).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;

use crate::crypto;
use crate::ids::{KeyId, PurseId, UnixTime};

/// One issuer public key and the window in which it may issue certificates (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerKey {
    pub key_id: KeyId,
    pub public_key: VerifyingKey,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

impl IssuerKey {
    /// The key id is derived from the key, so it can never disagree with it.
    pub fn new(public_key: VerifyingKey, not_before: UnixTime, not_after: UnixTime) -> IssuerKey {
        IssuerKey { key_id: crypto::key_id(&public_key), public_key, not_before, not_after }
    }

    /// True when `t` lies in `[not_before, not_after]`.
    pub fn valid_at(&self, t: UnixTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }
}

/// Why a key set could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("two issuer keys share the key id {0}")]
    DuplicateKeyId(KeyId),
    #[error("issuer key {0}: not_before is after not_after")]
    BadWindow(KeyId),
}

/// The issuer keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerKeys {
    keys: BTreeMap<KeyId, IssuerKey>,
}

impl IssuerKeys {
    pub fn new(keys: impl IntoIterator<Item = IssuerKey>) -> Result<IssuerKeys, KeySetError> {
        let mut map = BTreeMap::new();
        for key in keys {
            if key.not_before > key.not_after {
                return Err(KeySetError::BadWindow(key.key_id));
            }
            let id = key.key_id;
            if map.insert(id, key).is_some() {
                return Err(KeySetError::DuplicateKeyId(id));
            }
        }
        Ok(IssuerKeys { keys: map })
    }

    pub fn get(&self, key_id: KeyId) -> Option<&IssuerKey> {
        self.keys.get(&key_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &IssuerKey> {
        self.keys.values()
    }
}

/// Purses and device keys that must no longer be accepted offline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations {
    pub purses: BTreeSet<PurseId>,
    /// Device public keys, as their 32 encoded bytes.
    pub devices: BTreeSet<[u8; 32]>,
}

impl Revocations {
    pub fn is_revoked(&self, purse: PurseId, device: &VerifyingKey) -> bool {
        self.purses.contains(&purse) || self.devices.contains(device.as_bytes())
    }
}
