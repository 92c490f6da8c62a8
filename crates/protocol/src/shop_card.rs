//! The shop card: one long-lived QR code a shop prints at its counter (issue 14). It names the
//! account to pay, the shop device's public key (which signs the card and is the key whose
//! notes the shop's device takes), the currency, the card's issue time (its id) and the shop's
//! display name. A customer who scans it types the amount and pays online, or offline with a
//! note *without a request* whose nonce starts with the card's [`ShopCard::nonce_prefix`]
//! ([`card_nonce`]; the shop's check is [`crate::accept_card::accept_card_note`]). Layout and
//! rules in docs/PROTOCOL.md, sections 4.5 and 16.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use crate::Handle;
use crate::crypto;
use crate::ids::{AccountNumber, CurrencyCode, Nonce, UnixTime};
use crate::reject::RejectReason;
use crate::wire::{self, DecodeError, Kind, Reader, Writer};

/// A shop's display name as printed on its card and shown to the payer: UTF-8, 1 to 48 bytes,
/// no control characters (C0, DEL, C1), no line or paragraph separators, no bidirectional
/// formatting characters, no byte order mark, and no white space at either end. Built only by [`ShopName::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShopName(String);

impl ShopName {
    /// Longest name, in UTF-8 bytes.
    pub const MAX_LEN: usize = 48;

    /// Checks `text` as it is (no trimming, no normalisation: the bytes are signed as given).
    pub fn parse(text: &str) -> Result<ShopName, DecodeError> {
        let ends_ok = !text.starts_with(char::is_whitespace) && !text.ends_with(char::is_whitespace);
        if text.is_empty() || text.len() > Self::MAX_LEN || !ends_ok || text.chars().any(refused_char) {
            return Err(DecodeError::BadName);
        }
        Ok(ShopName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShopName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters a shop name may not contain: controls (which do not print and can break a
/// receipt line), line and paragraph separators, the bidirectional formatting characters
/// (which can make a name display as another name) and the byte order mark (invisible, and
/// dropped by some UTF-8 decoders).
fn refused_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What a shop card says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFields {
    /// The account the customer pays.
    pub payee: AccountNumber,
    /// The shop device's public key: it signs the card, and a card note's nonce starts with
    /// the card's [`ShopCard::nonce_prefix`], which the shop's device checks.
    pub shop_device_key: VerifyingKey,
    pub currency: CurrencyCode,
    /// When the shop's device made the card; with the key, the card's identity. Cards do not
    /// expire (docs/decisions/shop-card.md).
    pub issued_at: UnixTime,
    /// The payee's handle, for display (money follows `payee`).
    pub handle: Option<Handle>,
    /// The shop's name, for display and receipts.
    pub name: ShopName,
}

/// A signed shop card. Built only by [`ShopCard::sign`] or by decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopCard {
    fields: CardFields,
    signature: Signature,
}

/// tag, version, payee, key, currency, issued_at, handle length, name length.
const FIXED_LEN: usize = 2 + 8 + 32 + 3 + 8 + 1 + 1;
const HANDLE_LEN_OFFSET: usize = 2 + 8 + 32 + 3 + 8;

impl ShopCard {
    /// Shortest encoding the length rules let through to field decoding (no handle, no name
    /// byte; a valid card has a name of at least one byte, so 120 bytes).
    pub const MIN_LEN: usize = FIXED_LEN + wire::SIGNATURE_LEN;
    /// Longest encoding: a 32-byte handle and a 48-byte name (199 bytes).
    pub const MAX_LEN: usize = Self::MIN_LEN + Handle::MAX_LEN + ShopName::MAX_LEN;

    /// Signs the card with `device` (the key whose public half is `fields.shop_device_key`).
    pub fn sign(fields: CardFields, device: &SigningKey) -> ShopCard {
        let signature = crypto::sign(device, &wire::signed_bytes(Kind::ShopCard, &unsigned_encoding(&fields)));
        ShopCard { fields, signature }
    }

    pub fn fields(&self) -> &CardFields {
        &self.fields
    }

    signed_accessors!(hash, Kind::ShopCard, |this| unsigned_encoding(&this.fields));

    /// The first 4 bytes of the card hash: every note paying this card carries them as the
    /// first 4 bytes of its nonce, so a note made for one card (one shop device) is refused by
    /// every other (`wrong_card`).
    pub fn nonce_prefix(&self) -> [u8; 4] {
        let mut out = [0u8; 4];
        out.copy_from_slice(&self.hash().as_bytes()[..4]);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ShopCard, DecodeError> {
        let mut r = Reader::new(Kind::ShopCard, bytes)?;
        let handle_len =
            wire::length_byte(bytes, Self::MIN_LEN, HANDLE_LEN_OFFSET, Handle::MAX_LEN, DecodeError::BadHandle)?;
        let name_len_at = HANDLE_LEN_OFFSET + 1 + handle_len;
        let name_len = wire::length_byte(bytes, 0, name_len_at, ShopName::MAX_LEN, DecodeError::BadName)?;
        wire::check_len(bytes.len(), Self::MIN_LEN + handle_len + name_len)?;
        let payee = AccountNumber(r.u64()?);
        let shop_device_key = r.public_key()?;
        let currency = r.currency()?;
        let issued_at = r.u64()?;
        let handle = match usize::from(r.u8()?) {
            0 => None,
            len => Some(crate::request::canonical_handle(r.slice(len)?)?),
        };
        let len = usize::from(r.u8()?);
        let name = std::str::from_utf8(r.slice(len)?).map_err(|_| DecodeError::BadName)?;
        let name = ShopName::parse(name)?;
        let signature = r.signature_and_end()?;
        Ok(ShopCard { fields: CardFields { payee, shop_device_key, currency, issued_at, handle, name }, signature })
    }

    /// The customer's check of a scanned card: `shop_device_key` passes the device-key check
    /// and its strict signature verifies (`bad_card_signature`). Cards do not expire, so no
    /// clock is involved. Like a payment request, this proves the card was not altered, not
    /// that the key belongs to the payee account (docs/PROTOCOL.md, section 16).
    pub fn verify(&self) -> Result<(), RejectReason> {
        let key = &self.fields.shop_device_key;
        if crypto::check_device_key(key.as_bytes()).is_err()
            || !crypto::verify_strict(key, &self.signed_bytes(), &self.signature)
        {
            return Err(RejectReason::BadCardSignature);
        }
        Ok(())
    }
}

/// The nonce of a note paying `card`: the card's 4-byte [`ShopCard::nonce_prefix`], then 12
/// bytes the payer's device draws fresh for each payment.
pub fn card_nonce(card: &ShopCard, random: [u8; 12]) -> Nonce {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&card.nonce_prefix());
    bytes[4..].copy_from_slice(&random);
    Nonce::from_bytes(bytes)
}

fn unsigned_encoding(f: &CardFields) -> Vec<u8> {
    let handle = f.handle.as_ref().map_or("", Handle::as_str).as_bytes();
    let name = f.name.as_str().as_bytes();
    let mut w = Writer::new(Kind::ShopCard, ShopCard::MAX_LEN);
    w.u64(f.payee.0)
        .bytes(f.shop_device_key.as_bytes())
        .bytes(&f.currency.to_bytes())
        .u64(f.issued_at)
        // Invariant: a Handle is at most 32 bytes and a ShopName at most 48, so both fit a byte.
        .u8(u8::try_from(handle.len()).unwrap_or(0))
        .bytes(handle)
        .u8(u8::try_from(name.len()).unwrap_or(0))
        .bytes(name);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::ShopName;

    #[test]
    fn names_that_print_pass_and_others_do_not() {
        for ok in ["Chai Point", "चाय की दुकान", "Café 24/7", "a"] {
            assert_eq!(ShopName::parse(ok).map(|n| n.to_string()).as_deref(), Ok(ok));
        }
        let long = "x".repeat(49);
        for bad in [
            "",
            " Chai",
            "Chai ",
            "Chai\nPoint",
            "Chai\u{7f}",
            "Chai\u{85}",
            "Chai\u{202E}tniop",
            "a\u{2028}b",
            "\u{FEFF}Chai",
            &long,
        ] {
            assert!(ShopName::parse(bad).is_err(), "{bad:?}");
        }
        // 16 Devanagari letters are 48 bytes: the longest name in that script.
        assert!(ShopName::parse(&"क".repeat(16)).is_ok());
        assert!(ShopName::parse(&"क".repeat(17)).is_err());
    }
}
