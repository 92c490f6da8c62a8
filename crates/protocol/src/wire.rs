//! The canonical binary layout shared by every offline object: a kind tag byte, a version byte,
//! fixed-width little-endian integers and fixed-size byte strings, then a 64-byte signature.
//! [`Writer`] builds encodings; [`Reader`] parses them strictly (no trailing bytes, no values
//! out of range), so each object has exactly one encoding.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::Amount;

/// Length of an Ed25519 signature in an encoding.
pub const SIGNATURE_LEN: usize = 64;

/// The six kinds of signed object: the four offline payment objects, and the shop card and the
/// server receipt of card payments (docs/PROTOCOL.md, section 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Certificate,
    Request,
    Note,
    Close,
    ShopCard,
    Receipt,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Certificate, Kind::Request, Kind::Note, Kind::Close, Kind::ShopCard, Kind::Receipt];

    /// First byte of the encoding.
    pub const fn tag(self) -> u8 {
        match self {
            Kind::Certificate => b'C',
            Kind::Request => b'R',
            Kind::Note => b'N',
            Kind::Close => b'X',
            Kind::ShopCard => b'S',
            Kind::Receipt => b'T',
        }
    }

    /// The version byte this crate writes for the kind, and the only one it reads: 2 for receipts
    /// (which name the shop card paid since version 2), 1 for every other kind.
    pub const fn version(self) -> u8 {
        match self {
            Kind::Receipt => 2,
            _ => 1,
        }
    }

    /// Domain-separation string prepended to the encoding (without signature) to form the bytes
    /// that are signed. NUL-terminated, so no tag is a prefix of another.
    pub const fn domain(self) -> &'static [u8] {
        match self {
            Kind::Certificate => b"offpay/purse-certificate/v1\0",
            Kind::Request => b"offpay/payment-request/v1\0",
            Kind::Note => b"offpay/payment-note/v1\0",
            Kind::Close => b"offpay/purse-close/v1\0",
            Kind::ShopCard => b"offpay/shop-card/v1\0",
            Kind::Receipt => b"offpay/receipt/v2\0",
        }
    }

    /// Prefix of the text (QR) form.
    pub const fn text_prefix(self) -> &'static str {
        match self {
            Kind::Certificate => "OPC1:",
            Kind::Request => "OPR1:",
            Kind::Note => "OPN1:",
            Kind::Close => "OPX1:",
            Kind::ShopCard => "OPS1:",
            Kind::Receipt => "OPT2:",
        }
    }

    /// Stable name, as used in the test vectors' `kind` field.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Certificate => "purse_certificate",
            Kind::Request => "payment_request",
            Kind::Note => "payment_note",
            Kind::Close => "purse_close",
            Kind::ShopCard => "shop_card",
            Kind::Receipt => "receipt",
        }
    }
}

/// A field value that no valid object may carry (zero amount, cap above the purse amount...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid field `{field}`: {rule}")]
pub struct FieldError {
    pub field: &'static str,
    pub rule: &'static str,
}

pub(crate) fn field_rule(ok: bool, field: &'static str, rule: &'static str) -> Result<(), FieldError> {
    if ok { Ok(()) } else { Err(FieldError { field, rule }) }
}

/// Why bytes or text are not the canonical encoding of an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the data ends too early")]
    Truncated,
    #[error("the data has bytes after the end of the object")]
    TrailingBytes,
    #[error("the data is not a {expected} (tag byte {found:#04x})")]
    WrongTag { expected: &'static str, found: u8 },
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    #[error("a public key is not a valid Ed25519 point encoding")]
    BadPublicKey,
    #[error("an amount is above the largest allowed amount")]
    AmountOutOfRange,
    #[error("a currency code is not three upper-case letters")]
    BadCurrency,
    #[error("the payee handle is not a canonical handle")]
    BadHandle,
    #[error("the shop name is empty, longer than 48 bytes, not UTF-8, or has a character that does not print")]
    BadName,
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("the text does not start with {expected}")]
    TextPrefix { expected: &'static str },
    #[error("the text is longer than {max} characters")]
    TextTooLong { max: usize },
    #[error("the text is not canonical base45")]
    TextEncoding,
}

impl DecodeError {
    /// Stable snake_case code (used in test vectors as `decode_error`).
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::TrailingBytes => "trailing_bytes",
            DecodeError::WrongTag { .. } => "wrong_tag",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::BadPublicKey => "bad_public_key",
            DecodeError::AmountOutOfRange => "amount_out_of_range",
            DecodeError::BadCurrency => "bad_currency",
            DecodeError::BadHandle => "bad_handle",
            DecodeError::BadName => "bad_name",
            DecodeError::Field(_) => "invalid_field",
            DecodeError::TextPrefix { .. } => "text_prefix",
            DecodeError::TextTooLong { .. } => "text_too_long",
            DecodeError::TextEncoding => "text_encoding",
        }
    }
}

/// Appends fields in the canonical layout.
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(kind: Kind, capacity: usize) -> Writer {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(kind.tag());
        buf.push(kind.version());
        Writer { buf }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn amount(&mut self, v: Amount) -> &mut Self {
        self.u64(v.minor())
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields in the canonical layout; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Checks the tag byte and the version byte, in that order.
    pub(crate) fn new(kind: Kind, bytes: &'a [u8]) -> Result<Reader<'a>, DecodeError> {
        match bytes.first() {
            None => return Err(DecodeError::Truncated),
            Some(&tag) if tag != kind.tag() => {
                return Err(DecodeError::WrongTag { expected: kind.name(), found: tag });
            }
            Some(_) => {}
        }
        match bytes.get(1) {
            None => Err(DecodeError::Truncated),
            Some(&v) if v == kind.version() => Ok(Reader { rest: &bytes[2..] }),
            Some(&v) => Err(DecodeError::UnsupportedVersion(v)),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(*head)
    }

    pub(crate) fn slice(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn amount(&mut self) -> Result<Amount, DecodeError> {
        Amount::from_minor(self.u64()?).ok_or(DecodeError::AmountOutOfRange)
    }

    /// A point encoding that decompresses and is canonical (y < p, so that re-compressing the
    /// point gives the same bytes): implementations that refuse non-canonical points (WebCrypto,
    /// noble with `zip215: false`) then agree with this one.
    pub(crate) fn public_key(&mut self) -> Result<VerifyingKey, DecodeError> {
        let bytes = self.array()?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| DecodeError::BadPublicKey)?;
        if key.to_edwards().compress().to_bytes() != bytes {
            return Err(DecodeError::BadPublicKey);
        }
        Ok(key)
    }

    pub(crate) fn currency(&mut self) -> Result<crate::CurrencyCode, DecodeError> {
        crate::CurrencyCode::from_bytes(self.array()?).ok_or(DecodeError::BadCurrency)
    }

    /// Reads the final signature and requires the input to end exactly there.
    pub(crate) fn signature_and_end(mut self) -> Result<Signature, DecodeError> {
        let sig = Signature::from_bytes(&self.array::<SIGNATURE_LEN>()?);
        if self.rest.is_empty() { Ok(sig) } else { Err(DecodeError::TrailingBytes) }
    }
}

/// `domain || unsigned encoding`: exactly the bytes an object's signature covers.
pub(crate) fn signed_bytes(kind: Kind, unsigned: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(kind.domain().len() + unsigned.len());
    out.extend_from_slice(kind.domain());
    out.extend_from_slice(unsigned);
    out
}

/// The length byte of a variable-length field (a handle, a shop name) at `offset`, once the
/// encoding is known to hold at least `min_len` bytes (else `Truncated`); above `max` it is
/// refused with `too_long`.
pub(crate) fn length_byte(
    bytes: &[u8],
    min_len: usize,
    offset: usize,
    max: usize,
    too_long: DecodeError,
) -> Result<usize, DecodeError> {
    if bytes.len() < min_len {
        return Err(DecodeError::Truncated);
    }
    let len = usize::from(*bytes.get(offset).ok_or(DecodeError::Truncated)?);
    if len > max {
        return Err(too_long);
    }
    Ok(len)
}

/// Length rule of fixed-size objects, checked right after the tag and version bytes.
pub(crate) fn check_len(actual: usize, expected: usize) -> Result<(), DecodeError> {
    match actual.cmp(&expected) {
        std::cmp::Ordering::Less => Err(DecodeError::Truncated),
        std::cmp::Ordering::Greater => Err(DecodeError::TrailingBytes),
        std::cmp::Ordering::Equal => Ok(()),
    }
}
