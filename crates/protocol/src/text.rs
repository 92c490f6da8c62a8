//! The text form of every object, for QR codes and copy-paste: a 5-character prefix naming the
//! kind and version (`OPN1:` note, `OPR1:` request, `OPC1:` certificate, `OPX1:` close, `OPS1:` shop card,
//! `OPT2:` receipt) and
//! the canonical encoding in base45 (RFC 9285). All characters are in the QR alphanumeric set.
//! Parsing is strict: surrounding whitespace is trimmed, anything else non-canonical refused.

use crate::certificate::PurseCertificate;
use crate::close::CloseStatement;
use crate::note::PaymentNote;
use crate::receipt::Receipt;
use crate::request::PaymentRequest;
use crate::shop_card::ShopCard;
use crate::wire::{DecodeError, Kind};

/// Longest text accepted by [`from_text`] (after trimming), in characters.
pub const MAX_TEXT_LEN: usize = 600;

/// An object with a canonical binary encoding.
pub trait Encoded: Sized {
    const KIND: Kind;
    fn encode(&self) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;

    /// The text form: prefix + base45 of [`Encoded::encode`].
    fn to_text(&self) -> String {
        to_text(Self::KIND, &self.encode())
    }

    /// Parses the text form strictly (see module docs).
    fn from_text(text: &str) -> Result<Self, DecodeError> {
        Self::decode(&text_to_bytes(Self::KIND, text)?)
    }
}

/// Prefix + base45 of `bytes`.
pub fn to_text(kind: Kind, bytes: &[u8]) -> String {
    let mut out = String::from(kind.text_prefix());
    out.push_str(&base45::encode(bytes));
    out
}

/// Strips the prefix and decodes the base45, refusing non-canonical base45 (values out of
/// range, lower-case letters, characters outside the alphabet) and over-long text.
pub fn text_to_bytes(kind: Kind, text: &str) -> Result<Vec<u8>, DecodeError> {
    let text = text.trim();
    if text.len() > MAX_TEXT_LEN {
        return Err(DecodeError::TextTooLong { max: MAX_TEXT_LEN });
    }
    let body = text.strip_prefix(kind.text_prefix()).ok_or(DecodeError::TextPrefix { expected: kind.text_prefix() })?;
    let bytes = base45::decode(body).map_err(|_| DecodeError::TextEncoding)?;
    // base45 decoders differ on out-of-range final pairs; re-encoding makes the rule exact.
    if base45::encode(&bytes) != body {
        return Err(DecodeError::TextEncoding);
    }
    Ok(bytes)
}

macro_rules! impl_encoded {
    ($t:ty, $kind:expr) => {
        impl Encoded for $t {
            const KIND: Kind = $kind;
            fn encode(&self) -> Vec<u8> {
                <$t>::encode(self)
            }
            fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                <$t>::decode(bytes)
            }
        }
    };
}

impl_encoded!(PurseCertificate, Kind::Certificate);
impl_encoded!(PaymentRequest, Kind::Request);
impl_encoded!(PaymentNote, Kind::Note);
impl_encoded!(CloseStatement, Kind::Close);
impl_encoded!(ShopCard, Kind::ShopCard);
impl_encoded!(Receipt, Kind::Receipt);
