//! `/healthz` (the process answers) and `/readyz` (the database takes writes).

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The writer commits: an empty transaction goes through the same path as every write.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.loyalty.store().write(|_| Ok(())).await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready", "database": "writable" })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "database": "not writable" })),
            )
        }
    }
}
