//! Public, read-only routes: health, deployment config and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI 3.1 description of the API, maintained by hand beside the routes.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// `GET /v1/health`: answers only when the database answers.
pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.latest_event_seq().await?;
    Ok(Json(json!({"status": "ok", "database": state.store.backend()})))
}

/// `GET /v1/config`
pub async fn config(State(state): State<AppState>) -> Json<Value> {
    let currency = state.config.currency;
    let o = &state.config.offline;
    Json(json!({
        "currency": currency.code(),
        "decimals": currency.decimals(),
        "offline": {
            "per_payment_cap": o.per_payment_cap,
            "purse_max": o.purse_max,
            "validity_secs": o.validity_secs,
            "grace_secs": o.grace_secs,
            "loss_allowance": o.loss_allowance,
            "max_open_purses": o.max_open_purses,
        },
    }))
}

/// `GET /v1/openapi.json`
pub async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
