//! `/healthz` (the process answers) and `/readyz` (the database takes writes).

use super::AppState;
use crate::storage::StoreError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The writer commits: an empty transaction goes through the same path as every write.
/// When it cannot, the answer says why (e.g. no space left on device).
/// With scheduled backups, the last outcome and its age are included (they do not change readiness).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.loyalty.store().write(|_| Ok(())).await {
        Ok(()) => {
            let mut body = serde_json::json!({ "status": "ready", "database": "writable" });
            if let Some(b) = state.backup_status.get() {
                let age = b
                    .last_success
                    .map(|t| (crate::clock::now() - t).whole_seconds());
                body["backup"] = serde_json::json!({
                    "target": b.target,
                    "last_success": b.last_success.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
                    "last_id": b.last_id,
                    "last_error": b.last_error,
                    "safe_seq": b.safe_seq,
                    "age_seconds": age,
                });
            }
            (StatusCode::OK, Json(body))
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            let reason = match e {
                StoreError::Unavailable(reason) => reason,
                other => other.to_string(),
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({
                    "status": "unavailable",
                    "database": "not writable",
                    "reason": reason,
                })),
            )
        }
    }
}
