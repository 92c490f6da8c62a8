//! Login throttling, shared by every server on the database: failures are counted per handle
//! and per client address (`Store::record_login_failure`); past a few free failures each one
//! locks the key for a growing delay, then for a long lockout (rules in `config.rs`). While a
//! key is locked, attempts get 429 `too_many_attempts` without the password being checked.
//! Unknown handles are counted exactly like known ones, so the answers reveal nothing.

use std::net::IpAddr;

use offpay_ledger::LoginThrottle;
use offpay_protocol::Handle;

use crate::config::ThrottleRule;
use crate::error::ApiError;
use crate::state::AppState;

/// The throttle keys of one login attempt and their state when it started.
pub struct Attempt {
    handle: Option<(String, LoginThrottle)>,
    ip: (String, LoginThrottle),
    who: String,
}

/// Refuses the attempt while its handle or address is locked.
pub async fn begin(state: &AppState, handle: Option<&Handle>, raw_handle: &str, ip: IpAddr) -> Result<Attempt, ApiError> {
    let now = state.now_ms();
    let ip_key = format!("ip:{ip}");
    let ip_state = state.store.login_throttle(&ip_key).await?;
    let handle_state = match handle {
        Some(h) => {
            let key = format!("handle:{h}");
            let current = state.store.login_throttle(&key).await?;
            Some((key, current))
        }
        None => None,
    };
    let who = format!("handle={} ip={ip}", printable(raw_handle));
    let locked_until = handle_state.as_ref().map_or(0, |(_, t)| t.locked_until_ms).max(ip_state.locked_until_ms);
    if locked_until > now {
        let retry_after_s = u64::try_from((locked_until - now + 999) / 1000).unwrap_or(1).max(1);
        state.security.record_sampled("login_throttled", &who, &who).await;
        return Err(ApiError::TooManyAttempts { retry_after_s });
    }
    Ok(Attempt { handle: handle_state, ip: (ip_key, ip_state), who })
}

/// Counts a failed attempt against the handle and the address.
pub async fn failed(state: &AppState, attempt: Attempt) -> Result<(), ApiError> {
    let now = state.now_ms();
    let mut locked = false;
    let mut failures = 0;
    if let Some((key, before)) = &attempt.handle {
        let (f, l) = count(state, key, before, &state.config.throttle_handle, now).await?;
        failures = f;
        locked |= l;
    }
    let (_, ip_locked) = count(state, &attempt.ip.0, &attempt.ip.1, &state.config.throttle_ip, now).await?;
    locked |= ip_locked;
    state.security.record("login_failed", &format!("{} failures={failures}", attempt.who)).await;
    if locked {
        state.security.record("login_locked", &attempt.who).await;
    }
    Ok(())
}

/// Clears the handle's failures after a successful login (the address keeps its count, so an
/// attacker cannot reset it by signing in to an account of their own).
pub async fn succeeded(state: &AppState, attempt: &Attempt) -> Result<(), ApiError> {
    if let Some((key, before)) = &attempt.handle
        && before.failures > 0
    {
        state.store.clear_login_failures(key).await?;
    }
    Ok(())
}

async fn count(
    state: &AppState,
    key: &str,
    before: &LoginThrottle,
    rule: &ThrottleRule,
    now: i64,
) -> Result<(u32, bool), ApiError> {
    let failures = before.failures.saturating_add(1);
    let lock_ms = rule.lock_ms(failures);
    let after = state.store.record_login_failure(key, now, lock_ms).await?;
    Ok((after.failures, failures >= rule.lockout_failures))
}

/// A handle as typed, made safe for a log line (bounded, no control characters).
fn printable(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_control()).take(40).collect()
}
