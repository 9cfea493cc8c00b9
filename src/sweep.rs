//! The daily sweep in `fealty serve`: forgets idempotency records older than the window (the
//! admin forms' one-time tokens among them) and expired sessions, in small batches so the
//! writer is never held for long.

use crate::service::Loyalty;
use std::time::Duration;

/// How often the sweep runs.
const EVERY: Duration = Duration::from_secs(24 * 3600);

/// Parses a window such as `30d`, `12h`, `90m` or `45s` (at least one second).
pub fn parse_window(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let secs = crate::domain::interval::parse_seconds(raw, 'd')
        .ok_or_else(|| format!("{raw:?} is not a window like 30d, 12h or 90m"))?;
    if secs == 0 {
        return Err("the idempotency window must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Starts the sweep: once now (a server may have been down for days), then daily.
pub fn start(loyalty: Loyalty, keep_idempotency: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match loyalty.sweep(keep_idempotency).await {
                Ok(r) => tracing::info!(
                    idempotency_records = r.idempotency,
                    sessions = r.sessions,
                    hook_deliveries = r.deliveries,
                    "swept"
                ),
                Err(e) => tracing::error!(error = %e, "the sweep failed; it runs again tomorrow"),
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_days_as_the_default_unit() {
        assert_eq!(parse_window("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_window("30"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_window("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_window("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_window("0s").is_err());
        assert!(parse_window("soon").is_err());
        assert!(parse_window("5w").is_err());
    }
}
