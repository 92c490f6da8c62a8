//! Login throttling that an attacker cannot turn against the owner, shared by every server on
//! the database (docs/OPERATIONS.md, "Login throttling"; OWASP's "Slow Down Online Guessing
//! Attacks with Device Cookies").
//!
//! - **Trusted attempts** present a device token that an earlier successful sign-in on that device
//!   received, for this account. They are judged by that token's own count only
//!   (`Store::take_device_guess`): after `DeviceTokens::max_failures` wrong passwords the token no
//!   longer counts as trusted, so a stolen token gives a few guesses. What strangers do to the
//!   account or the address never refuses them.
//! - **Untrusted attempts** (no valid token): each takes one guess from the account's budget
//!   (`GuessBudget`: at most 10 per 30 minutes from everywhere together, a sliding window taken
//!   atomically, so two servers never both grant the 11th); a right password gives its guess back.
//!   Failures also lock the (account, address) pair and the address for growing delays; those
//!   counts are forgotten after a quiet while. A successful sign-in clears only its own pair: it
//!   never resets what others spent of the account's budget.
//!
//! While a key is locked or the budget is spent, attempts get 429 `too_many_attempts` without the
//! password being checked. Unknown handles are counted exactly like known ones, so the answers
//! reveal nothing.

use std::net::IpAddr;

use offpay_ledger::{LoginGuess, LoginThrottle, User, UserId};
use offpay_protocol::Handle;

use crate::auth::{new_token, token_hash};
use crate::config::{GuessBudget, ThrottleRule};
use crate::error::ApiError;
use crate::state::AppState;

/// One login attempt, judged trusted or not, and what it took.
pub struct Attempt {
    kind: Kind,
    who: String,
}

enum Kind {
    /// A valid device token of the account, with its failures counting this attempt.
    Trusted { token_hash: [u8; 32], failures: u32 },
    Untrusted {
        /// The (account, address) key and its state at the start.
        pair: Option<(String, LoginThrottle)>,
        /// The address key and its state at the start (none for a password check).
        ip: Option<(String, LoginThrottle)>,
        /// The guess taken from the account's budget.
        guess: Option<(String, i64)>,
    },
}

impl Attempt {
    /// True when a valid device token let this attempt past the untrusted throttling.
    pub fn is_trusted(&self) -> bool {
        matches!(self.kind, Kind::Trusted { .. })
    }
}

/// Begins a sign-in: trusted when `device_token` is a live token of `user` (the handle's
/// account, if any); otherwise refused while the pair or address is locked or the account's
/// budget is spent.
pub async fn begin_login(
    state: &AppState,
    raw_handle: &str,
    handle: Option<&Handle>,
    user: Option<&User>,
    ip: IpAddr,
    device_token: Option<&str>,
) -> Result<Attempt, ApiError> {
    let mut who = format!("handle={} ip={ip}", printable(raw_handle));
    if let (Some(user), Some(text)) = (user, device_token) {
        match trusted(state, user.id, text).await? {
            Some(kind) => {
                who.push_str(" device=trusted");
                return Ok(Attempt { kind, who });
            }
            None => who.push_str(" device=invalid"),
        }
    } else if device_token.is_some() {
        who.push_str(" device=invalid");
    }
    let budget = handle.map(|h| (format!("account:{h}"), state.config.login_budget));
    untrusted(state, handle, ip, budget, who).await
}

/// Begins a check of a signed-in user's current password (a password change): never trusted,
/// judged by its own budget only, so that a stolen session gets few guesses and strangers cannot
/// block it. The address and (account, address) locks are not looked at nor counted: strangers
/// behind the owner's address (a carrier's NAT, an office, the site's reverse proxy) set them.
pub async fn begin_password_check(state: &AppState, user: &User, ip: IpAddr) -> Result<Attempt, ApiError> {
    let who = format!("handle={} ip={ip} check=current_password", user.handle);
    let key = format!("password:{}", user.handle);
    let guess = take_guess(state, key, state.config.password_budget, &who, state.now_ms()).await?;
    Ok(Attempt { kind: Kind::Untrusted { pair: None, ip: None, guess: Some(guess) }, who })
}

async fn trusted(state: &AppState, user: UserId, text: &str) -> Result<Option<Kind>, ApiError> {
    let Some(hash) = token_hash(text) else { return Ok(None) };
    let rule = state.config.device_tokens;
    let used_since = state.now_ms().saturating_sub(rule.idle_ms);
    let taken = state.store.take_device_guess(&hash, user, used_since, rule.max_failures).await?;
    Ok(taken.map(|failures| Kind::Trusted { token_hash: hash, failures }))
}

async fn untrusted(
    state: &AppState,
    handle: Option<&Handle>,
    ip: IpAddr,
    budget: Option<(String, GuessBudget)>,
    who: String,
) -> Result<Attempt, ApiError> {
    let now = state.now_ms();
    let ip_key = format!("ip:{ip}");
    let ip_state = state.store.login_throttle(&ip_key).await?;
    let pair = match handle {
        Some(h) => {
            let key = format!("pair:{h} {ip}");
            let current = state.store.login_throttle(&key).await?;
            Some((key, current))
        }
        None => None,
    };
    let locked_until = pair.as_ref().map_or(0, |(_, t)| t.locked_until_ms).max(ip_state.locked_until_ms);
    if locked_until > now {
        state.security.record_sampled("login_throttled", &who, &who).await;
        return Err(ApiError::TooManyAttempts { retry_after_s: seconds_until(locked_until, now) });
    }
    let guess = match budget {
        Some((key, rule)) => Some(take_guess(state, key, rule, &who, now).await?),
        None => None,
    };
    Ok(Attempt { kind: Kind::Untrusted { pair, ip: Some((ip_key, ip_state)), guess }, who })
}

/// Takes one guess from the budget `key` (429 `too_many_attempts` when it is spent).
async fn take_guess(
    state: &AppState,
    key: String,
    rule: GuessBudget,
    who: &str,
    now: i64,
) -> Result<(String, i64), ApiError> {
    match state.store.take_login_guess(&key, now, rule.window_ms, rule.guesses).await? {
        LoginGuess::Granted { id } => Ok((key, id)),
        LoginGuess::Refused { retry_at_ms } => {
            let detail = format!("{who} budget={key}");
            state.security.record_sampled("login_throttled", &detail, &detail).await;
            Err(ApiError::TooManyAttempts { retry_after_s: seconds_until(retry_at_ms, now) })
        }
    }
}

/// Counts a failed attempt: against its device token when trusted, else against the pair and
/// the address (the budget's guess stays spent).
pub async fn failed(state: &AppState, attempt: Attempt) -> Result<(), ApiError> {
    let now = state.now_ms();
    match &attempt.kind {
        Kind::Trusted { failures, .. } => {
            state.security.record_capped("login_failed", &format!("{} token_failures={failures}", attempt.who)).await;
            if *failures >= state.config.device_tokens.max_failures {
                state.security.record_capped("device_token_locked", &attempt.who).await;
            }
        }
        Kind::Untrusted { pair, ip, .. } => {
            let mut locked = false;
            let mut failures = 0;
            if let Some((key, before)) = pair {
                let (f, l) = count(state, key, before, &state.config.throttle_pair, now).await?;
                failures = f;
                locked |= l;
            }
            if let Some((key, before)) = ip {
                let (_, ip_locked) = count(state, key, before, &state.config.throttle_ip, now).await?;
                locked |= ip_locked;
            }
            state.security.record_capped("login_failed", &format!("{} failures={failures}", attempt.who)).await;
            if locked {
                state.security.record_capped("login_locked", &attempt.who).await;
            }
        }
    }
    Ok(())
}

/// After a right password: a trusted token's failures go back to 0; an untrusted attempt gives its
/// guess back to the budget and clears its own pair (never the address, nor others' guesses).
pub async fn succeeded(state: &AppState, attempt: &Attempt) -> Result<(), ApiError> {
    match &attempt.kind {
        Kind::Trusted { token_hash, .. } => state.store.device_login_succeeded(token_hash, state.now_ms()).await?,
        Kind::Untrusted { pair, guess, .. } => {
            if let Some((key, id)) = guess {
                state.store.return_login_guess(key, *id).await?;
            }
            if let Some((key, before)) = pair
                && before.failures > 0
            {
                state.store.clear_login_failures(key).await?;
            }
        }
    }
    Ok(())
}

/// A new device token for `user` (given to the client once; the store keeps its SHA-256).
pub async fn new_device_token(state: &AppState, user: UserId) -> Result<String, ApiError> {
    let (text, hash) = new_token();
    let keep = state.config.device_tokens.per_account;
    state.store.create_login_device(&hash, user, state.now_ms(), keep).await?;
    Ok(text)
}

async fn count(
    state: &AppState,
    key: &str,
    before: &LoginThrottle,
    rule: &ThrottleRule,
    now: i64,
) -> Result<(u32, bool), ApiError> {
    let forget_before = now.saturating_sub(rule.forget_after_ms);
    let previous = if before.last_failure_ms < forget_before { 0 } else { before.failures };
    let failures = previous.saturating_add(1);
    let lock_ms = rule.lock_ms(failures);
    let after = state.store.record_login_failure(key, now, rule.forget_after_ms, lock_ms).await?;
    Ok((after.failures, failures >= rule.lockout_failures))
}

fn seconds_until(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((until_ms.saturating_sub(now_ms)).saturating_add(999) / 1000).unwrap_or(1).max(1)
}

/// A handle as typed, made safe for a log line (bounded, no control characters).
fn printable(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_control()).take(40).collect()
}
