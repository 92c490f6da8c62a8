//! Passwords, session tokens and the authenticated-user extractor.
//!
//! - Passwords: Argon2id PHC strings, computed on a fixed pool of as many threads as hashes may
//!   run at once (`Config::hash_concurrency`, rayon), behind a semaphore of the same size (each
//!   hash takes ~19 MiB and ~30 ms with production parameters). A fixed pool, not tokio's
//!   blocking threads: each thread that ever hashed keeps its own allocator arena holding about
//!   one hash's memory, so hundreds of blocking threads kept hundreds of megabytes after a login
//!   flood (docs/PERFORMANCE.md, "Login flood"). At most `Config::hash_queue` requests wait for
//!   a thread; further ones get 503 `busy` at once instead of queueing without bound. A route
//!   that counts an attempt (a login's guess, a device token's failure, a sign-up) takes its
//!   place first ([`Passwords::reserve`]), so a 503 costs the person nothing. Unknown
//!   users are checked against a dummy hash so their answer takes as long as a wrong password.
//! - Tokens: 256 random bits from the OS-seeded CSPRNG, sent as 64 hex characters; the store
//!   keeps only their SHA-256, so a database leak reveals no usable token.
//! - [`AuthUser`]: resolves `Authorization: Bearer <token>` to the live session's user (touching
//!   the session, which extends its idle timeout) and applies the per-account rate limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use offpay_ledger::{Session, User, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::config::ArgonParams;
use crate::error::ApiError;
use crate::state::AppState;

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest accepted password, in bytes (bounds hashing work).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Hashes and checks passwords off the async threads, a bounded number at once.
pub struct Passwords {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// The threads that hash: as many as `permits`.
    pool: Arc<rayon::ThreadPool>,
    /// A hash of a random password, checked for unknown users (equal timing, never matches).
    dummy: String,
    /// Hash requests running or waiting now.
    in_flight: Arc<AtomicUsize>,
    /// Most hash requests running or waiting at once (threads + queue).
    max_in_flight: usize,
}

/// A place among the hash requests running or waiting; given back when dropped.
pub struct HashPlace(Arc<AtomicUsize>);

impl Drop for HashPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// `concurrency` threads hash at once; `queue` more requests may wait for them.
    pub async fn new(params: ArgonParams, concurrency: usize, queue: usize) -> Result<Passwords, ApiError> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| ApiError::internal(format!("bad Argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let threads = concurrency.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("offpay-argon2-{i}"))
            .build()
            .map_err(|e| ApiError::internal(format!("cannot start the password threads: {e}")))?;
        let mut passwords = Passwords {
            argon,
            permits: Arc::new(Semaphore::new(threads)),
            pool: Arc::new(pool),
            dummy: String::new(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: threads.saturating_add(queue),
        };
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        passwords.dummy = passwords.hash(hex::encode(random)).await?;
        Ok(passwords)
    }

    /// The Argon2id PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let place = self.reserve()?;
        self.hash_in(place, password).await
    }

    /// [`Passwords::hash`] in a place taken before.
    pub async fn hash_in(&self, _place: HashPlace, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let argon = self.argon.clone();
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        self.run(move || {
            let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
            argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(ApiError::internal)
        })
        .await
    }

    /// A place among the hash requests running or waiting, or 503 `busy` when all are taken.
    /// Taken before anything is counted against the person, so that a busy server refuses an
    /// attempt without spending its guess.
    pub fn reserve(&self) -> Result<HashPlace, ApiError> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let place = HashPlace(self.in_flight.clone());
        if before >= self.max_in_flight {
            return Err(ApiError::Busy { retry_after_s: 1 });
        }
        Ok(place)
    }

    /// Runs `work` on the password threads and waits for it (the caller holds a permit, so at most
    /// one job per thread is ever queued).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            // The receiver is gone only when the request was dropped: nobody to tell.
            let _ = done.send(work());
        });
        answer.await.map_err(ApiError::internal)?
    }

    /// True when `password` matches `stored`; with `None` (unknown user) checks the dummy hash
    /// and answers false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let place = self.reserve()?;
        self.verify_in(place, password, stored).await
    }

    /// [`Passwords::verify`] in a place taken before.
    pub async fn verify_in(
        &self,
        _place: HashPlace,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.clone());
        let argon = self.argon.clone();
        let matched = self
            .run(move || {
                let parsed = PasswordHash::new(&phc).map_err(ApiError::internal)?;
                match argon.verify_password(password.as_bytes(), &parsed) {
                    Ok(()) => Ok(true),
                    Err(argon2::password_hash::Error::Password) => Ok(false),
                    Err(other) => Err(ApiError::internal(other)),
                }
            })
            .await?;
        Ok(known && matched)
    }
}

/// Checks the password rules for a new account.
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(ApiError::WeakPassword);
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::InvalidRequest(format!("the password is longer than {PASSWORD_MAX_BYTES} bytes")));
    }
    Ok(())
}

/// A new session token: the text given to the client and the hash the store keeps.
pub fn new_token() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    (hex::encode(raw), Sha256::digest(raw).into())
}

/// The stored hash of a token given by a client; `None` when it is not 64 hex characters.
pub fn token_hash(text: &str) -> Option<[u8; 32]> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut raw).ok()?;
    Some(Sha256::digest(raw).into())
}

/// Starts a session for `user_id`; returns the token and its absolute expiry. With
/// `checked_hash` (a sign-in: the password hash the password was checked against), only while
/// the user's hash is still that one: a password change stored meanwhile answers
/// `invalid_credentials` and creates nothing (`Store::create_session_if_password`).
pub async fn start_session(
    state: &AppState,
    user_id: UserId,
    checked_hash: Option<&str>,
) -> Result<(String, i64), ApiError> {
    let now = state.now_ms();
    let (token, token_hash) = new_token();
    let expires_at_ms = now.saturating_add(state.config.session_absolute_ms);
    let session = Session {
        token_hash,
        user_id,
        created_at_ms: now,
        last_seen_ms: now,
        idle_timeout_ms: state.config.session_idle_ms,
        expires_at_ms,
    };
    match checked_hash {
        None => state.store.create_session(&session).await?,
        Some(hash) => {
            if !state.store.create_session_if_password(&session, hash).await? {
                return Err(ApiError::InvalidCredentials);
            }
        }
    }
    Ok((token, expires_at_ms))
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The user and live session behind a token (or `None`), touching the session.
pub async fn resolve_token(state: &AppState, token: &str) -> Result<Option<(User, Session)>, ApiError> {
    let Some(hash) = token_hash(token) else { return Ok(None) };
    Ok(state.store.session_user(&hash, state.now_ms()).await?.map(|(session, user)| (user, session)))
}

/// The signed-in user of this request. Every route that touches an account takes this and acts
/// only on `user` (object-level authorisation: no route takes another user's id).
pub struct AuthUser {
    pub user: User,
    pub token_hash: [u8; 32],
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AuthUser, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let (user, session) = resolve_token(state, token).await?.ok_or(ApiError::Unauthorized)?;
        check_account_rate(state, &user).await?;
        Ok(AuthUser { user, token_hash: session.token_hash })
    }
}

/// The per-account request limit.
pub async fn check_account_rate(state: &AppState, user: &User) -> Result<(), ApiError> {
    if let Err(retry_after_s) = state.per_account.check(&user.id) {
        let detail = format!("account={} limit=per_account", user.handle);
        state.security.record_sampled("rate_limited", &format!("account:{}", user.id), &detail).await;
        return Err(ApiError::RateLimited { retry_after_s });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_round_trip() {
        let (text, hash) = new_token();
        assert_eq!(text.len(), 64);
        assert_eq!(token_hash(&text), Some(hash));
        assert_eq!(token_hash("not-a-token"), None);
        assert_ne!(new_token().0, text);
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let passwords = Passwords::new(ArgonParams::TESTING, 2, 4).await.unwrap();
        let phc = passwords.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse".into(), Some(phc.clone())).await.unwrap());
        assert!(!passwords.verify("wrong horse".into(), Some(phc)).await.unwrap());
        assert!(!passwords.verify("correct horse".into(), None).await.unwrap());
    }

    /// A damaged stored hash is a server error whose cause (the password-hash crate's own error,
    /// kept as the source, not flattened to text) reaches the log; it is never a wrong password.
    #[tokio::test]
    async fn a_damaged_stored_hash_is_an_internal_error_with_its_cause() {
        let passwords = Passwords::new(ArgonParams::TESTING, 1, 1).await.unwrap();
        let err = passwords.verify("correct horse".into(), Some("not a hash".into())).await.unwrap_err();
        let cause = match &err {
            ApiError::Internal(cause) => cause,
            other => unreachable!("{other:?}"),
        };
        assert!(cause.downcast_ref::<argon2::password_hash::Error>().is_some(), "{cause:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[tokio::test]
    async fn hash_requests_beyond_the_queue_are_refused() {
        let passwords = Passwords::new(ArgonParams::TESTING, 1, 1).await.unwrap();
        let first = passwords.reserve().unwrap();
        let second = passwords.reserve().unwrap();
        assert!(matches!(passwords.reserve(), Err(ApiError::Busy { retry_after_s: 1 })));
        drop(first);
        let third = passwords.reserve().unwrap();
        drop((second, third));
        assert!(passwords.verify("x".repeat(8), None).await.is_ok());
    }

    #[test]
    fn password_rules() {
        assert!(matches!(check_new_password("short"), Err(ApiError::WeakPassword)));
        assert!(check_new_password("long enough").is_ok());
        assert!(matches!(check_new_password(&"x".repeat(2000)), Err(ApiError::InvalidRequest(_))));
    }
}
