//! Backups made by `fealty serve` on a timer: retried with backoff, pruned after each success,
//! and reported on `/readyz` and the dashboard.

use super::target::TargetSpec;
use crate::domain::retention::Retention;
use crate::storage::Store;
use age::secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// The last outcome of scheduled backups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Where backups go (no secrets).
    pub target: String,
    /// When the last backup succeeded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    /// The last backup's id.
    pub last_id: Option<String>,
    /// The last failure, cleared by a success.
    pub last_error: Option<String>,
    /// The last ledger sequence safely in the target (snapshot or shipped segment).
    pub safe_seq: Option<u64>,
}

/// Shared status, readable by the pages while the task updates it.
#[derive(Debug, Clone, Default)]
pub struct StatusCell(Arc<Mutex<Option<Status>>>);

impl StatusCell {
    /// The current status, if backups are configured.
    pub fn get(&self) -> Option<Status> {
        self.0.lock().ok().and_then(|s| s.clone())
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.0.lock()
            && let Some(st) = s.as_mut()
        {
            f(st);
        }
    }
}

/// Parses an interval such as `90s`, `30m`, `1h` or `24h` (at least 10 seconds).
pub fn parse_every(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let secs = crate::domain::interval::parse_seconds(raw, 'h')
        .ok_or_else(|| format!("{raw:?} is not an interval like 90s, 30m or 1h"))?;
    if secs < 10 {
        return Err("the backup interval must be at least 10s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Starts the backup timer: one backup now, then one every `every`, with the changes in between
/// shipped every `ship_every`; failures retry sooner.
pub fn start(
    store: Store,
    spec: TargetSpec,
    every: Duration,
    ship_every: Duration,
    passphrase: Option<SecretString>,
    status: StatusCell,
) -> tokio::task::JoinHandle<()> {
    if let Ok(mut s) = status.0.lock() {
        *s = Some(Status {
            target: spec.describe(),
            last_success: None,
            last_id: None,
            last_error: None,
            safe_seq: None,
        });
    }
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(5);
        loop {
            let started = crate::clock::now();
            match super::run(&store, &spec, passphrase.clone()).await {
                Ok(made) => {
                    tracing::info!(id = %made.id, bytes = made.bytes, target = %spec.describe(), "backup made");
                    status.update(|s| {
                        s.last_success = Some(crate::clock::now());
                        s.last_id = Some(made.id.clone());
                        s.last_error = None;
                        s.safe_seq = Some(made.counts.last_seq);
                    });
                    if let Err(e) = super::prune(&spec, Retention::default()).await {
                        tracing::warn!(error = %e, "pruning old backups failed");
                    }
                    backoff = Duration::from_secs(5);
                    ship_until_next(
                        &store,
                        &spec,
                        &passphrase,
                        &status,
                        made.counts.last_seq,
                        started,
                        every,
                        ship_every,
                    )
                    .await;
                }
                Err(e) => {
                    tracing::error!(error = %e, target = %spec.describe(), retry_in = ?backoff, "BACKUP FAILED");
                    status.update(|s| s.last_error = Some(e.to_string()));
                    tokio::time::sleep(backoff.min(every)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(15 * 60));
                }
            }
        }
    })
}

/// Ships changes every `ship_every` until the next snapshot is due.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
async fn ship_until_next(
    store: &Store,
    spec: &TargetSpec,
    passphrase: &Option<SecretString>,
    status: &StatusCell,
    seq: u64,
    since: OffsetDateTime,
    every: Duration,
    ship_every: Duration,
) {
    let due = tokio::time::Instant::now() + every;
    let mut mark = super::segments::Watermark {
        seq,
        since,
        small_hash: String::new(),
    };
    loop {
        let left = due.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(ship_every.min(left)).await;
        match super::segments::ship(store, spec, passphrase.clone(), mark.clone()).await {
            Ok(next) => {
                if next.seq != mark.seq {
                    tracing::info!(to = next.seq, "ledger changes shipped");
                }
                status.update(|s| {
                    s.safe_seq = Some(next.seq);
                    s.last_error = None;
                });
                mark = next;
            }
            Err(e) => {
                tracing::error!(error = %e, "SHIPPING CHANGES FAILED; retrying");
                status.update(|s| s.last_error = Some(e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_every("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_every("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_every("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_every("5s").is_err());
        assert!(parse_every("soon").is_err());
    }
}
