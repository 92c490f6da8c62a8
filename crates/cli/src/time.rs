//! Formatting milliseconds since the Unix epoch as UTC date-times (jiff does the calendar), for
//! the operator (`utc`) and for people (`utc_minute`, used by the wallet's wording); the days of
//! `wallet takings` (`utc_day_ms`, `utc_date_time`).

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// The UTC date and time of `ms`, or `None` outside the years jiff represents (-9999 to 9999).
fn civil(ms: i64) -> Option<(DateTime, i64)> {
    let at = Timestamp::from_millisecond(ms).ok()?;
    Some((TimeZone::UTC.to_datetime(at), ms.rem_euclid(1000)))
}

/// `2023-11-14T22:13:20.000Z` (a time outside the years 1 to 9999 is shown as milliseconds).
pub fn utc(ms: i64) -> String {
    match civil(ms) {
        Some((t, millis)) if t.year() > 0 => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        _ => format!("{ms} ms since 1970"),
    }
}

/// `YYYY-MM-DD HH:MM UTC` (a time outside the years 1 to 9999 is shown as milliseconds).
pub fn utc_minute(ms: i64) -> String {
    match civil(ms) {
        Some((t, _)) if t.year() > 0 => {
            format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month(), t.day(), t.hour(), t.minute())
        }
        _ => format!("{ms} ms since 1970"),
    }
}

/// `YYYY-MM-DD` and `HH:MM:SS` (UTC) of `ms`, for the takings' rows (`None` outside the years
/// 1 to 9999).
pub fn utc_date_time(ms: i64) -> Option<(String, String)> {
    let (t, _) = civil(ms).filter(|(t, _)| t.year() > 0)?;
    Some((
        format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
    ))
}

/// The first millisecond (UTC) of the day `date` (`YYYY-MM-DD`), and of the day after it.
pub fn utc_day_ms(date: &str) -> Result<(i64, i64), String> {
    let day: jiff::civil::Date = date.parse().map_err(|e| format!("{date:?} is not a date YYYY-MM-DD ({e})"))?;
    let start = |d: jiff::civil::Date| {
        d.to_zoned(TimeZone::UTC).map(|z| z.timestamp().as_millisecond()).map_err(|e| format!("{date}: {e}"))
    };
    let next = day.tomorrow().map_err(|e| format!("{date}: {e}"))?;
    Ok((start(day)?, start(next)?))
}

#[cfg(test)]
mod tests {
    use super::{utc, utc_date_time, utc_day_ms, utc_minute};

    #[test]
    fn days_and_rows() {
        assert_eq!(utc_day_ms("2023-11-14"), Ok((1_699_920_000_000, 1_700_006_400_000)));
        assert!(utc_day_ms("2023-02-30").is_err());
        assert!(utc_day_ms("14/11/2023").is_err());
        assert_eq!(utc_date_time(1_700_000_000_123), Some(("2023-11-14".to_string(), "22:13:20".to_string())));
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_minute(1_700_000_000_123), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn times_no_calendar_holds_are_shown_as_numbers() {
        assert_eq!(utc(i64::MAX), format!("{} ms since 1970", i64::MAX));
        assert_eq!(utc_minute(i64::MIN), format!("{} ms since 1970", i64::MIN));
    }
}
