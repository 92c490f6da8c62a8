//! Fixed-size identifiers and small value types used inside the offline objects: purse ids,
//! request nonces, issuer key ids, SHA-256 digests, account numbers, currency codes and times.
//! Each is built only from bytes of the right length (or by parsing lowercase hex), so a value
//! of one of these types is always well formed.

use std::fmt;
use std::str::FromStr;

/// Seconds since the Unix epoch (UTC). Always passed in by the caller: this crate reads no clock.
pub type UnixTime = u64;

/// Why a hex identifier could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} lowercase hex digits")]
pub struct IdParseError {
    pub expected: usize,
}

macro_rules! byte_id {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }

            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex, the form used in JSON and logs.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses exactly `2 * LEN` lowercase hex digits.
            pub fn from_hex(text: &str) -> Result<Self, IdParseError> {
                let err = IdParseError { expected: 2 * $len };
                if text.len() != 2 * $len || text.bytes().any(|b| b.is_ascii_uppercase()) {
                    return Err(err);
                }
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(text, &mut bytes).map_err(|_| err)?;
                Ok($name(bytes))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(text: &str) -> Result<Self, IdParseError> {
                Self::from_hex(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

byte_id!(
    /// A purse id: 16 random bytes chosen by the issuer (the caller draws them).
    PurseId,
    16
);
byte_id!(
    /// A payment request nonce: 16 random bytes chosen by the payee's device.
    Nonce,
    16
);
byte_id!(
    /// An issuer key id: the first 4 bytes of SHA-256 of the issuer's 32-byte public key.
    KeyId,
    4
);
byte_id!(
    /// A SHA-256 digest: certificate hashes, note hashes (chain links), close hashes.
    Hash256,
    32
);

/// An account number: the ledger's user id. Offline objects name accounts by number (8 bytes)
/// rather than by handle, to keep notes small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct AccountNumber(pub u64);

impl fmt::Display for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An ISO 4217 currency code as carried in certificates and requests: three ASCII upper-case
/// letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    pub const INR: CurrencyCode = CurrencyCode(*b"INR");

    /// `None` unless all three bytes are ASCII upper-case letters.
    pub fn from_bytes(bytes: [u8; 3]) -> Option<CurrencyCode> {
        bytes.iter().all(u8::is_ascii_uppercase).then_some(CurrencyCode(bytes))
    }

    pub fn parse(text: &str) -> Option<CurrencyCode> {
        let bytes: [u8; 3] = text.as_bytes().try_into().ok()?;
        Self::from_bytes(bytes)
    }

    pub const fn to_bytes(self) -> [u8; 3] {
        self.0
    }

    pub fn as_str(&self) -> &str {
        // Invariant: three ASCII upper-case letters (checked in `from_bytes`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl From<crate::Currency> for CurrencyCode {
    fn from(currency: crate::Currency) -> Self {
        CurrencyCode(currency.code_bytes())
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurrencyCode({})", self.as_str())
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let id = PurseId::from_bytes([0xab; 16]);
        assert_eq!(PurseId::from_hex(&id.to_hex()), Ok(id));
        assert!(PurseId::from_hex(&"AB".repeat(16)).is_err());
        assert!(PurseId::from_hex(&"ab".repeat(15)).is_err());
        assert!(KeyId::from_hex("0011223").is_err());
        assert_eq!(serde_json::to_string(&KeyId::from_bytes([1, 2, 3, 4])).unwrap(), "\"01020304\"");
    }

    #[test]
    fn currency_codes() {
        assert_eq!(CurrencyCode::parse("INR"), Some(CurrencyCode::INR));
        assert_eq!(CurrencyCode::parse("inr"), None);
        assert_eq!(CurrencyCode::parse("IN"), None);
        assert_eq!(CurrencyCode::from(crate::Currency::INR), CurrencyCode::INR);
    }
}
