//! Public, read-only routes: health, deployment config and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use offpay_api::{Config, Database, ErrorBody, Health, HealthStatus, OfflineLimits};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/health`: answers only when the database answers.
#[utoipa::path(get, path = "/v1/health", operation_id = "health", summary = "Liveness and database check",
    responses(
        (status = 200, description = "The server and its database answer", body = Health),
        (status = 500, description = "`internal`: the database does not answer", body = ErrorBody),
    ))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.latest_event_seq().await?;
    let database = match state.store.backend() {
        "sqlite" => Database::Sqlite,
        "postgres" => Database::Postgres,
        other => return Err(ApiError::internal(format!("unknown ledger backend {other}"))),
    };
    Ok(Json(Health { status: HealthStatus::Ok, database }))
}

/// `GET /v1/config`
#[utoipa::path(get, path = "/v1/config", operation_id = "config", summary = "Deployment settings clients need",
    responses((status = 200, description = "Currency of this deployment and its offline limits", body = Config)))]
pub async fn config(State(state): State<AppState>) -> Json<Config> {
    let currency = state.config.currency;
    let o = &state.config.offline;
    Json(Config {
        currency: currency.code().to_string(),
        decimals: currency.decimals(),
        offline: OfflineLimits {
            per_payment_cap: o.per_payment_cap,
            purse_max: o.purse_max,
            validity_secs: o.validity_secs,
            grace_secs: o.grace_secs,
            loss_allowance: o.loss_allowance,
            max_open_purses: o.max_open_purses,
        },
    })
}

/// `GET /v1/openapi.json`: the document generated from `offpay-api` and the route handlers
/// (`crate::openapi`).
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "openapi", summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], crate::openapi::document_json())
}
