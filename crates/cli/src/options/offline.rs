//! The operator's offline purse options, parsed and checked before anything starts:
//!
//! - `offpay serve`: `--purse-validity`, `--purse-grace`, `--max-payment`, `--max-purse`
//!   ([`OfflineLimitArgs`], turned into the server's `OfflineConfig`);
//! - `offpay admin rotate-issuer-key`: `--purse-validity`, `--purse-grace` ([`PurseWindowArgs`]:
//!   an old issuer key must stay published until the purses it certified are past validity
//!   plus grace, so rotation needs the same two values as the servers).
//!
//! Each option has an environment variable (`OFFPAY_PURSE_VALIDITY`, `OFFPAY_PURSE_GRACE`,
//! `OFFPAY_MAX_PAYMENT`, `OFFPAY_MAX_PURSE`), so one setting serves both commands. Durations are a
//! whole number with a unit `s`, `m`, `h` or `d` (`90m`, `36h`, `3d`, `1d12h`); amounts are major
//! units as everywhere else (`200.00`). A refused value is a usage error: one line on stderr
//! naming the option and its variable, exit status 2 (as for any option clap cannot parse).

use std::process::ExitCode;

use offpay_protocol::Currency;
use offpay_server::issuer::OfflineConfig;

pub const VALIDITY_ENV: &str = "OFFPAY_PURSE_VALIDITY";
pub const GRACE_ENV: &str = "OFFPAY_PURSE_GRACE";
pub const MAX_PAYMENT_ENV: &str = "OFFPAY_MAX_PAYMENT";
pub const MAX_PURSE_ENV: &str = "OFFPAY_MAX_PURSE";
pub const LOSS_ALLOWANCE_ENV: &str = "OFFPAY_LOSS_ALLOWANCE";
pub const MAX_OPEN_PURSES_ENV: &str = "OFFPAY_MAX_OPEN_PURSES";

/// Longest purse validity and longest settlement grace accepted: money sits in a purse (and an
/// old issuer key stays published) for up to their sum, so a typo like `300d` is refused.
pub const MAX_WINDOW_SECS: u64 = 30 * 86_400;

/// Exit status of a refused option value (clap uses the same for values it cannot parse).
pub const USAGE_EXIT: u8 = 2;

const DURATION_SHAPE: &str = "a duration is a whole number with a unit s, m, h or d, like 90m, 36h or 3d";

/// How long purses last: what `serve` certifies and `rotate-issuer-key` keeps keys for.
#[derive(clap::Args, Debug, Clone)]
pub struct PurseWindowArgs {
    /// How long a purse can be spent offline after it is loaded (units s, m, h, d)
    #[arg(long, value_name = "DURATION", default_value = "3d", env = VALIDITY_ENV)]
    pub purse_validity: String,
    /// Settlement grace: after a purse's validity ends, how long payees have to upload its notes
    /// before the remainder returns to the owner (units s, m, h, d)
    #[arg(long, value_name = "DURATION", default_value = "2d", env = GRACE_ENV)]
    pub purse_grace: String,
}

/// Everything `serve` takes about offline purses.
#[derive(clap::Args, Debug, Clone)]
pub struct OfflineLimitArgs {
    #[command(flatten)]
    pub window: PurseWindowArgs,
    /// Largest single offline payment, in major units
    #[arg(long, value_name = "AMOUNT", default_value = "200.00", env = MAX_PAYMENT_ENV, allow_negative_numbers = true)]
    pub max_payment: String,
    /// Largest offline purse, in major units
    #[arg(long, value_name = "AMOUNT", default_value = "2000.00", env = MAX_PURSE_ENV, allow_negative_numbers = true)]
    pub max_purse: String,
    /// The most the operator may lose on one purse that was double-spent, in major units (0.00:
    /// never); notes beyond it are held until money is recovered from the payer
    #[arg(long, value_name = "AMOUNT", default_value = "2000.00", env = LOSS_ALLOWANCE_ENV, allow_negative_numbers = true)]
    pub loss_allowance: String,
    /// Most offline purses one account may have before their settlement deadline (validity plus
    /// grace), closed ones included
    #[arg(long, value_name = "COUNT", default_value = "2", env = MAX_OPEN_PURSES_ENV, allow_negative_numbers = true)]
    pub max_open_purses: String,
}

/// Purse validity and settlement grace, in seconds, both checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurseWindow {
    pub validity_secs: u64,
    pub grace_secs: u64,
}

/// A refused option value; the message names the option and its environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOption(pub String);

impl std::fmt::Display for BadOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl BadOption {
    /// Prints the one error line and gives the usage exit status.
    pub fn refuse(&self) -> ExitCode {
        eprintln!("error: {self}");
        ExitCode::from(USAGE_EXIT)
    }
}

pub(crate) fn bad(option: &str, env: &str, value: &str, why: impl std::fmt::Display) -> BadOption {
    BadOption(format!("invalid --{option} {value:?} (or {env}): {why}"))
}

impl PurseWindowArgs {
    pub fn window(&self) -> Result<PurseWindow, BadOption> {
        let validity_secs = window_part("purse-validity", VALIDITY_ENV, &self.purse_validity)?;
        let grace_secs = window_part("purse-grace", GRACE_ENV, &self.purse_grace)?;
        Ok(PurseWindow { validity_secs, grace_secs })
    }
}

fn window_part(option: &str, env: &str, value: &str) -> Result<u64, BadOption> {
    let secs = parse_duration(value).map_err(|why| bad(option, env, value, why))?;
    if secs == 0 {
        return Err(bad(option, env, value, "must be more than zero"));
    }
    if secs > MAX_WINDOW_SECS {
        return Err(bad(option, env, value, format!("at most {}", format_duration(MAX_WINDOW_SECS))));
    }
    Ok(secs)
}

impl OfflineLimitArgs {
    /// The server's offline limits (no issuer yet: `serve` opens the key file after this).
    pub fn config(&self, currency: Currency) -> Result<OfflineConfig, BadOption> {
        let window = self.window.window()?;
        let amount = |option: &str, env: &str, value: &str| {
            currency
                .parse_major(value)
                .map(|a| a.minor())
                .map_err(|e| bad(option, env, value, format!("{e} ({} in major units, like 200.00)", currency.code())))
        };
        let per_payment_cap = amount("max-payment", MAX_PAYMENT_ENV, &self.max_payment)?;
        let purse_max = amount("max-purse", MAX_PURSE_ENV, &self.max_purse)?;
        let loss_allowance = currency.parse_major_allow_zero(&self.loss_allowance).map(|a| a.minor()).map_err(|e| {
            let why = format!("{e} ({} in major units, like 2000.00, or 0.00 for no loss)", currency.code());
            bad("loss-allowance", LOSS_ALLOWANCE_ENV, &self.loss_allowance, why)
        })?;
        let max_open_purses =
            self.max_open_purses.trim().parse::<u32>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
                bad("max-open-purses", MAX_OPEN_PURSES_ENV, &self.max_open_purses, "a whole number from 1 to 100")
            })?;
        if per_payment_cap > purse_max {
            let why = format!("more than --max-purse {:?}; one payment cannot be larger than a purse", self.max_purse);
            return Err(bad("max-payment", MAX_PAYMENT_ENV, &self.max_payment, why));
        }
        Ok(OfflineConfig {
            per_payment_cap,
            purse_max,
            validity_secs: window.validity_secs,
            grace_secs: window.grace_secs,
            loss_allowance,
            max_open_purses,
            issuer: None,
        })
    }
}

/// `3d`, `36h`, `90m`, `45s` or a sum of such parts (`1d12h`) -> seconds. A bare number has no
/// unit and is refused (seconds or days? the operator must say).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty; {DURATION_SHAPE}"));
    }
    if text.starts_with('-') {
        return Err("must be more than zero".to_string());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let mut chars = after.chars();
        let unit = match chars.next() {
            None if digits > 0 => return Err(format!("no unit; {DURATION_SHAPE}")),
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3_600,
            Some('d') => 86_400,
            _ => return Err(DURATION_SHAPE.to_string()),
        };
        if digits == 0 {
            return Err(DURATION_SHAPE.to_string());
        }
        let value: u64 = number.parse().map_err(|_| "too long".to_string())?;
        total =
            value.checked_mul(unit).and_then(|secs| total.checked_add(secs)).ok_or_else(|| "too long".to_string())?;
        rest = chars.as_str();
    }
    Ok(total)
}

/// Seconds in the form [`parse_duration`] reads, largest units first: 129600 -> `1d12h`.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut left = secs;
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if left >= unit {
            out.push_str(&format!("{}{name}", left / unit));
            left %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limits(validity: &str, grace: &str, payment: &str, purse: &str) -> Result<OfflineConfig, BadOption> {
        OfflineLimitArgs {
            window: PurseWindowArgs { purse_validity: validity.into(), purse_grace: grace.into() },
            max_payment: payment.into(),
            max_purse: purse.into(),
            loss_allowance: "2000.00".into(),
            max_open_purses: "2".into(),
        }
        .config(Currency::INR)
    }

    #[test]
    fn durations_parse_with_units_and_refuse_the_rest() {
        for (text, secs) in
            [("45s", 45), ("90m", 5_400), ("36h", 129_600), ("3d", 259_200), ("1d12h", 129_600), (" 2s ", 2), ("0s", 0)]
        {
            assert_eq!(parse_duration(text), Ok(secs), "{text}");
        }
        for text in [
            "",
            "3",
            "d",
            "3w",
            "3 d",
            "3D",
            "30M",
            "1y",
            "-1d",
            "1.5d",
            "3dd",
            "d3",
            "99999999999999999999s",
            "213503982334602d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} must be refused");
        }
        assert!(parse_duration("3").unwrap_err().contains("no unit"));
    }

    #[test]
    fn durations_format_back_to_what_parses() {
        for secs in [0, 1, 59, 60, 61, 3_600, 86_399, 86_400, 129_600, 259_200, MAX_WINDOW_SECS] {
            assert_eq!(parse_duration(&format_duration(secs)), Ok(secs), "{secs}");
        }
        assert_eq!(format_duration(129_600), "1d12h");
        assert_eq!(format_duration(3 * 86_400), "3d");
    }

    #[test]
    fn the_defaults_are_the_servers_defaults() {
        let config = limits("3d", "2d", "200.00", "2000.00").unwrap();
        let default = OfflineConfig::default();
        assert_eq!(
            (config.per_payment_cap, config.purse_max, config.validity_secs, config.grace_secs),
            (default.per_payment_cap, default.purse_max, default.validity_secs, default.grace_secs)
        );
        assert_eq!((config.loss_allowance, config.max_open_purses), (default.loss_allowance, default.max_open_purses));
        let small = limits("2s", "1s", "0.01", "0.01").unwrap();
        assert_eq!((small.per_payment_cap, small.purse_max, small.validity_secs, small.grace_secs), (1, 1, 2, 1));
    }

    #[test]
    fn nonsense_is_refused_with_the_option_named() {
        let refused = |v: &str, g: &str, p: &str, m: &str, want: &str| {
            let message = limits(v, g, p, m).unwrap_err().0;
            assert!(message.contains(want), "{message:?} should say {want:?}");
        };
        refused(
            "0s",
            "2d",
            "200",
            "2000",
            "invalid --purse-validity \"0s\" (or OFFPAY_PURSE_VALIDITY): must be more than zero",
        );
        refused("-3d", "2d", "200", "2000", "--purse-validity \"-3d\"");
        refused("3", "2d", "200", "2000", "no unit");
        refused("31d", "2d", "200", "2000", "at most 30d");
        refused(
            "3d",
            "0m",
            "200",
            "2000",
            "invalid --purse-grace \"0m\" (or OFFPAY_PURSE_GRACE): must be more than zero",
        );
        refused("3d", "30d1s", "200", "2000", "invalid --purse-grace \"30d1s\" (or OFFPAY_PURSE_GRACE): at most 30d");
        refused(
            "3d",
            "2d",
            "0",
            "2000",
            "invalid --max-payment \"0\" (or OFFPAY_MAX_PAYMENT): the amount must be greater than zero",
        );
        refused("3d", "2d", "-5", "2000", "the amount cannot be negative");
        refused(
            "3d",
            "2d",
            "200",
            "2,000.00",
            "invalid --max-purse \"2,000.00\" (or OFFPAY_MAX_PURSE): the amount must be a number like 12.50",
        );
        refused("3d", "2d", "0.001", "2000", "more than 2 decimal places");
        refused(
            "3d",
            "2d",
            "500.00",
            "200.00",
            "invalid --max-payment \"500.00\" (or OFFPAY_MAX_PAYMENT): more than --max-purse \"200.00\"",
        );
        // Equal is fine: a purse may be spent in one payment.
        assert!(limits("30d", "30d", "200", "200").is_ok());
    }
}
