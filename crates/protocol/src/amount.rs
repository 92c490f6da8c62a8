//! Money: non-negative integer amounts in minor units (paise, cents), checked arithmetic, and
//! parsing/formatting in major units ("12.50") for one currency per deployment.

use std::fmt;

/// A non-negative amount of money in minor units. Built by [`Amount::from_minor`] or
/// [`Currency::parse_major`]; arithmetic is checked and never wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Amount(u64);

/// Why an amount could not be parsed or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount is empty")]
    Empty,
    #[error("the amount must be a number like 12.50")]
    Malformed,
    #[error("the amount has more than {0} decimal places")]
    TooManyDecimals(u8),
    #[error("the amount is too large")]
    TooLarge,
    #[error("the amount must be greater than zero")]
    Zero,
    #[error("the amount cannot be negative")]
    Negative,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);
    /// The largest amount any offpay object may carry: 2^53 - 1 minor units, so that amounts
    /// are exact in JavaScript numbers too.
    pub const MAX: Amount = Amount((1 << 53) - 1);

    /// An amount of `minor` minor units; `None` above [`Amount::MAX`].
    pub const fn from_minor(minor: u64) -> Option<Amount> {
        if minor > Self::MAX.0 { None } else { Some(Amount(minor)) }
    }

    pub const fn minor(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).and_then(Amount::from_minor)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

/// The deployment's currency: an ISO 4217 code and the number of decimal places of its minor
/// unit. Default: INR with 2 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    decimals: u8,
}

impl Default for Currency {
    fn default() -> Self {
        Currency::INR
    }
}

impl Currency {
    pub const INR: Currency = Currency { code: *b"INR", decimals: 2 };

    /// A currency from a three-letter upper-case code and 0..=4 decimals.
    pub fn new(code: &str, decimals: u8) -> Option<Currency> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) || decimals > 4 {
            return None;
        }
        Some(Currency { code: [bytes[0], bytes[1], bytes[2]], decimals })
    }

    pub fn code(&self) -> &str {
        // Invariant: `code` holds three ASCII upper-case letters (checked in `new`).
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    pub fn code_bytes(&self) -> [u8; 3] {
        self.code
    }

    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// Parses a positive amount typed in major units: "12", "12.5", "12.50", "1,000.00" is
    /// refused (no separators) to keep the rule simple and unambiguous.
    pub fn parse_major(&self, text: &str) -> Result<Amount, AmountError> {
        let amount = self.parse_major_allow_zero(text)?;
        if amount.is_zero() {
            return Err(AmountError::Zero);
        }
        Ok(amount)
    }

    /// Like [`Currency::parse_major`] but accepts zero.
    pub fn parse_major_allow_zero(&self, text: &str) -> Result<Amount, AmountError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        if text.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(AmountError::Malformed);
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        if text.contains('.') && frac.is_empty() {
            return Err(AmountError::Malformed);
        }
        if frac.len() > usize::from(self.decimals) {
            return Err(AmountError::TooManyDecimals(self.decimals));
        }
        let scale = 10u64.pow(u32::from(self.decimals));
        let whole_value: u64 = if whole.is_empty() {
            0
        } else {
            if whole.len() > 19 {
                return Err(AmountError::TooLarge);
            }
            whole.parse().map_err(|_| AmountError::TooLarge)?
        };
        let mut frac_value: u64 = 0;
        for i in 0..usize::from(self.decimals) {
            let digit = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
            frac_value = frac_value * 10 + digit;
        }
        let minor =
            whole_value.checked_mul(scale).and_then(|m| m.checked_add(frac_value)).ok_or(AmountError::TooLarge)?;
        Amount::from_minor(minor).ok_or(AmountError::TooLarge)
    }

    /// Formats an amount in major units with exactly `decimals` places: 125000 -> "1250.00".
    pub fn format(&self, amount: Amount) -> String {
        let scale = 10u64.pow(u32::from(self.decimals));
        let whole = amount.0 / scale;
        let frac = amount.0 % scale;
        if self.decimals == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{frac:0width$}", width = usize::from(self.decimals))
        }
    }

    /// Formats a signed number of minor units (a balance change): -2500 -> "-25.00".
    pub fn format_signed(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        format!("{sign}{}", self.format(Amount(minor.unsigned_abs())))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} minor units", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_units() {
        let inr = Currency::INR;
        let check = |text: &str, minor: u64| assert_eq!(inr.parse_major(text), Ok(Amount(minor)), "{text}");
        check("12.50", 1250);
        check("12.5", 1250);
        check("12", 1200);
        check("0.01", 1);
        check(".5", 50);
        check(" 1000.00 ", 100_000);
    }

    #[test]
    fn refuses_bad_amounts() {
        let inr = Currency::INR;
        assert_eq!(inr.parse_major(""), Err(AmountError::Empty));
        assert_eq!(inr.parse_major("0"), Err(AmountError::Zero));
        assert_eq!(inr.parse_major("0.00"), Err(AmountError::Zero));
        assert_eq!(inr.parse_major("-5"), Err(AmountError::Negative));
        assert_eq!(inr.parse_major("1.234"), Err(AmountError::TooManyDecimals(2)));
        assert_eq!(inr.parse_major("12a"), Err(AmountError::Malformed));
        assert_eq!(inr.parse_major("1,000"), Err(AmountError::Malformed));
        assert_eq!(inr.parse_major("1."), Err(AmountError::Malformed));
        assert_eq!(inr.parse_major("."), Err(AmountError::Malformed));
        assert_eq!(inr.parse_major("1e5"), Err(AmountError::Malformed));
        assert_eq!(inr.parse_major("99999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(inr.parse_major("90071992547409.92"), Err(AmountError::TooLarge));
    }

    #[test]
    fn formats_major_units() {
        let inr = Currency::INR;
        assert_eq!(inr.format(Amount(125_000)), "1250.00");
        assert_eq!(inr.format(Amount(5)), "0.05");
        assert_eq!(inr.format_signed(-2500), "-25.00");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Amount(5).checked_sub(Amount(6)), None);
        assert_eq!(Amount::MAX.checked_add(Amount(1)), None);
        assert_eq!(Amount(5).checked_add(Amount(6)), Some(Amount(11)));
    }
}
