//! `POST /v1/register`, `POST /v1/login`, `POST /v1/logout`, `POST /v1/logout-all` (every
//! session of the account ends) and `POST /v1/password` (a new password; every other session
//! ends), so that a stolen token can be cut off at once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use offpay_api::{Credentials, ErrorBody, Login, PasswordChange, SessionGranted};
use offpay_ledger::LedgerError;
use offpay_protocol::Handle;

use crate::auth::{AuthUser, check_new_password, start_session};
use crate::error::ApiError;
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::throttle;

/// Register and login each cost a password hash: a tighter per-address limit applies.
async fn check_auth_rate(state: &AppState, ClientIp(ip): ClientIp) -> Result<(), ApiError> {
    if let Err(retry_after_s) = state.auth_per_ip.check(&ip) {
        let detail = format!("ip={ip} limit=auth_per_ip");
        state.security.record_sampled("rate_limited", &format!("auth-ip:{ip}"), &detail).await;
        return Err(ApiError::RateLimited { retry_after_s });
    }
    Ok(())
}

fn session_body(handle: &Handle, token: String, expires_at_ms: i64, device_token: String) -> Json<SessionGranted> {
    Json(SessionGranted { handle: handle.as_str().to_string(), token, expires_at_ms, device_token })
}

/// `POST /v1/register`
#[utoipa::path(post, path = "/v1/register", operation_id = "register", summary = "Create an account and sign in",
    request_body = Credentials,
    responses(
        (status = 201, description = "Registered and signed in", body = SessionGranted),
        (status = 400, description = "`invalid_request`, `invalid_handle` or `weak_password`", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 409, description = "`handle_taken`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`busy`: too many password checks are waiting, or this server opened its share of new accounts for now (`--rate-register`); has `Retry-After`", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<SessionGranted>), ApiError> {
    check_auth_rate(&state, ip).await?;
    let handle = Handle::parse(&body.handle).map_err(|e| ApiError::InvalidHandle(e.to_string()))?;
    check_new_password(&body.password)?;
    // A taken handle is refused before the server's share of new accounts is touched: requests
    // for taken handles must not use it up and stop everyone's sign-ups. (The answer says no
    // more than `create_user`'s refusal would; a handle taken meanwhile is refused there.)
    if state.store.user_by_handle(&handle).await?.is_some() {
        return Err(LedgerError::HandleTaken.into());
    }
    // The hash's place first: a busy server must not use up the share of new accounts.
    let place = state.passwords.reserve()?;
    if let Err(retry_after_s) = state.registrations.check() {
        state.security.record_sampled("rate_limited", "register", "limit=register").await;
        return Err(ApiError::RegistrationsBusy { retry_after_s });
    }
    let hash = state.passwords.hash_in(place, body.password).await?;
    let user = state.store.create_user(&handle, &hash, state.now_ms()).await?;
    tracing::info!(handle = %user.handle, "registered");
    let (token, expires_at_ms) = start_session(&state, user.id, None).await?;
    let device_token = throttle::new_device_token(&state, user.id).await?;
    Ok((StatusCode::CREATED, session_body(&user.handle, token, expires_at_ms, device_token)))
}

/// `POST /v1/login`
#[utoipa::path(post, path = "/v1/login", operation_id = "login", summary = "Sign in",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in", body = SessionGranted),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials` (the same answer for an unknown user)", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts` (login throttled) or `rate_limited`; has `Retry-After`", body = ErrorBody),
        (status = 503, description = "`busy`: too many password checks are waiting; has `Retry-After`", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<SessionGranted>, ApiError> {
    check_auth_rate(&state, ip).await?;
    let handle = Handle::parse(&body.handle).ok();
    let user = match &handle {
        Some(h) => state.store.user_by_handle(h).await?,
        None => None,
    };
    let device_token = body.device_token.as_deref();
    // The check's place before the attempt is counted: a 503 `busy` spends no guess and no
    // device token failure (a flood of other people's logins must not lock the owner out).
    let place = state.passwords.reserve()?;
    let attempt =
        throttle::begin_login(&state, &body.handle, handle.as_ref(), user.as_ref(), ip.0, device_token).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    // Same work whether or not the user exists: unknown users are checked against a dummy hash.
    let matched = state.passwords.verify_in(place, body.password, stored).await?;
    match user {
        Some(user) if matched => {
            throttle::succeeded(&state, &attempt).await?;
            let (token, expires_at_ms) = start_session(&state, user.id, Some(&user.password_hash)).await?;
            // A trusted device keeps its token; any other gets one for next time.
            let device_token = match (attempt.is_trusted(), body.device_token) {
                (true, Some(kept)) => kept.trim().to_string(),
                _ => throttle::new_device_token(&state, user.id).await?,
            };
            Ok(session_body(&user.handle, token, expires_at_ms, device_token))
        }
        _ => {
            throttle::failed(&state, attempt).await?;
            Err(ApiError::InvalidCredentials)
        }
    }
}

/// `POST /v1/logout`
#[utoipa::path(post, path = "/v1/logout", operation_id = "logout", summary = "End this session",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out; the token no longer works and the session's open WebSockets close with 4401 (reason \"session ended\")"),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    state.store.delete_session(&auth.token_hash).await?;
    // This server's sockets of the session close now; other servers' at their next check.
    state.session_ends.announce(auth.token_hash);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/logout-all`: every session of the account ends, this one included; their live
/// sockets on this server close now, on other servers at their next session check.
#[utoipa::path(post, path = "/v1/logout-all", operation_id = "logoutAll",
    summary = "End every session of this account (log out everywhere)",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session of the account ended, this one included; their open WebSockets close with 4401 (\"session ended\"), on other servers at their next session check"),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
pub async fn logout_all(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    let ended = state.store.end_sessions(auth.user.id, None, None).await?;
    for token_hash in &ended {
        state.session_ends.announce(*token_hash);
    }
    tracing::info!(handle = %auth.user.handle, sessions = ended.len(), "logged out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/password`: the current password (checked, and throttled like a login, so that a
/// stolen token cannot be used to guess it) and a new one; the new hash is stored and every other
/// session of the account ends in one transaction. This session stays.
#[utoipa::path(post, path = "/v1/password", operation_id = "changePassword",
    summary = "Change the password; every other session of the account ends",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "The new password is stored; every other session ended (their WebSockets close); this session stays"),
        (status = 400, description = "`invalid_request` or `weak_password`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 403, description = "`wrong_password`: the current password is wrong (counted like a failed login)", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts` or `rate_limited` (has `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`busy`: too many password checks are waiting; has `Retry-After`", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: AuthUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    check_auth_rate(&state, ip).await?;
    check_new_password(&body.new_password)?;
    let handle = auth.user.handle.clone();
    let place = state.passwords.reserve()?;
    let attempt = throttle::begin_password_check(&state, &auth.user, ip.0).await?;
    let matched =
        state.passwords.verify_in(place, body.current_password, Some(auth.user.password_hash.clone())).await?;
    if !matched {
        throttle::failed(&state, attempt).await?;
        return Err(ApiError::WrongPassword);
    }
    throttle::succeeded(&state, &attempt).await?;
    let hash = state.passwords.hash(body.new_password).await?;
    let ended = state.store.end_sessions(auth.user.id, Some(auth.token_hash), Some(hash)).await?;
    for token_hash in &ended {
        state.session_ends.announce(*token_hash);
    }
    state.security.record("password_changed", &format!("user={} other_sessions_ended={}", handle, ended.len())).await;
    Ok(StatusCode::NO_CONTENT)
}
