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
    /// Since when shipping changes has failed with no shipment or snapshot since.
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipping_failing_since: Option<OffsetDateTime>,
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

    /// Records a backup made outside the schedule (`fealty backup` through the server), so
    /// the status shows it even when no backups are scheduled.
    pub fn record_manual(
        &self,
        target: &TargetSpec,
        made: &Result<super::Made, super::BackupError>,
    ) {
        let Ok(mut s) = self.0.lock() else {
            return;
        };
        let st = s.get_or_insert_with(|| Status {
            target: target.describe(),
            last_success: None,
            last_id: None,
            last_error: None,
            safe_seq: None,
            shipping_failing_since: None,
        });
        match made {
            Ok(m) => {
                st.target = target.describe();
                st.last_success = Some(crate::clock::now());
                st.last_id = Some(m.id.clone());
                st.last_error = None;
                st.safe_seq = Some(st.safe_seq.unwrap_or(0).max(m.counts.last_seq));
                st.shipping_failing_since = None;
            }
            Err(e) if st.target == target.describe() => st.last_error = Some(e.to_string()),
            // A failed backup to another place says nothing about the scheduled ones.
            Err(_) => {}
        }
    }
}

/// Parses the interval given to `flag`, such as `90s`, `30m`, `1h` or `24h` (at least 10
/// seconds); errors name the flag.
pub fn parse_every(flag: &str, raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let secs = crate::domain::interval::parse_seconds(raw, 'h')
        .ok_or_else(|| format!("{flag} {raw:?} is not an interval like 90s, 30m or 1h"))?;
    if secs < 10 {
        return Err(format!("{flag} must be at least 10s (got {raw})"));
    }
    Ok(Duration::from_secs(secs))
}

/// How long the last shipment at stop may take: the service's stop timeout leaves room for it
/// after the requests in flight have drained.
pub const FINAL_SHIP: Duration = Duration::from_secs(60);

/// Starts the backup timer: one backup now, then one every `every`, with the changes in between
/// shipped every `ship_every`; failures retry sooner. Once `stop` resolves (after the last
/// request has been answered), a backup in progress is abandoned and the changes since the
/// last safe point are shipped one last time, so a stopped server has everything it
/// acknowledged in the target.
pub fn start(
    store: Store,
    spec: TargetSpec,
    every: Duration,
    ship_every: Duration,
    passphrase: Option<SecretString>,
    status: StatusCell,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    if let Ok(mut s) = status.0.lock() {
        *s = Some(Status {
            target: spec.describe(),
            last_success: None,
            last_id: None,
            last_error: None,
            safe_seq: None,
            shipping_failing_since: None,
        });
    }
    tokio::spawn(async move {
        let mut stop = std::pin::pin!(stop);
        let mut backoff = Duration::from_secs(5);
        // Where shipping continues from: the last snapshot this task made, then each shipment.
        let mut mark: Option<super::segments::Watermark> = None;
        let hidden = crate::progress::Progress::hidden();
        loop {
            let started = crate::clock::now();
            let made = tokio::select! {
                made = super::run(
                    &store,
                    &spec,
                    passphrase.clone(),
                    &hidden,
                ) => made,
                () = &mut stop => break,
            };
            match made {
                Ok(made) => {
                    tracing::info!(id = %made.id, bytes = made.bytes, target = %spec.describe(), "backup made");
                    status.update(|s| {
                        s.last_success = Some(crate::clock::now());
                        s.last_id = Some(made.id.clone());
                        s.last_error = None;
                        s.safe_seq = Some(made.counts.last_seq);
                        s.shipping_failing_since = None;
                    });
                    if let Err(e) = super::prune(&spec, Retention::default()).await {
                        tracing::warn!(error = %e, "pruning old backups failed");
                    }
                    backoff = Duration::from_secs(5);
                    let shipping = mark.insert(super::segments::Watermark {
                        seq: made.counts.last_seq,
                        since: started,
                        small_hash: String::new(),
                    });
                    let due = tokio::time::Instant::now() + every;
                    let until = ShipUntil { due, ship_every };
                    let stopped = ship_until_next(
                        &store,
                        &spec,
                        &passphrase,
                        &status,
                        shipping,
                        until,
                        &mut stop,
                    )
                    .await;
                    if stopped {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, target = %spec.describe(), retry_in = ?backoff, "BACKUP FAILED");
                    status.update(|s| s.last_error = Some(e.to_string()));
                    tokio::select! {
                        () = tokio::time::sleep(backoff.min(every)) => {}
                        () = &mut stop => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(15 * 60));
                }
            }
        }
        match mark {
            Some(mark) => ship_at_stop(&store, &spec, &passphrase, &status, mark).await,
            None => tracing::warn!(
                target = %spec.describe(),
                "stopping before any backup was made: nothing to ship changes after"
            ),
        }
    })
}

/// The last shipment, at stop, bounded by [`FINAL_SHIP`].
async fn ship_at_stop(
    store: &Store,
    spec: &TargetSpec,
    passphrase: &Option<SecretString>,
    status: &StatusCell,
    mark: super::segments::Watermark,
) {
    let shipped = tokio::time::timeout(
        FINAL_SHIP,
        super::segments::ship(store, spec, passphrase.clone(), mark),
    )
    .await;
    match shipped {
        Ok(Ok(next)) => {
            tracing::info!(to = next.seq, target = %spec.describe(), "last changes shipped at stop");
            status.update(|s| s.safe_seq = Some(next.seq));
        }
        Ok(Err(e)) => tracing::error!(error = %e, "SHIPPING THE LAST CHANGES AT STOP FAILED"),
        Err(_) => tracing::error!(
            within = ?FINAL_SHIP,
            "SHIPPING THE LAST CHANGES AT STOP TIMED OUT"
        ),
    }
}

/// When shipping gives way to the next snapshot, and how often it ships until then.
#[derive(Debug, Clone, Copy)]
struct ShipUntil {
    due: tokio::time::Instant,
    ship_every: Duration,
}

/// Ships changes every `ship_every` until the next snapshot is due, moving `mark` along;
/// true when `stop` came first.
async fn ship_until_next<F: std::future::Future<Output = ()>>(
    store: &Store,
    spec: &TargetSpec,
    passphrase: &Option<SecretString>,
    status: &StatusCell,
    mark: &mut super::segments::Watermark,
    until: ShipUntil,
    stop: &mut std::pin::Pin<&mut F>,
) -> bool {
    loop {
        let left = until
            .due
            .saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(until.ship_every.min(left)) => {}
            () = &mut *stop => return true,
        }
        match super::segments::ship(store, spec, passphrase.clone(), mark.clone()).await {
            Ok(next) => {
                if next.seq != mark.seq {
                    tracing::info!(to = next.seq, "ledger changes shipped");
                }
                let missing = snapshot_missing(spec, status).await;
                if let Some(m) = &missing {
                    tracing::error!(error = %m, "NO RESTORABLE SNAPSHOT");
                }
                status.update(|s| {
                    s.safe_seq = Some(next.seq);
                    s.last_error = missing;
                    s.shipping_failing_since = None;
                });
                *mark = next;
            }
            Err(e) => {
                tracing::error!(error = %e, "SHIPPING CHANGES FAILED; retrying");
                status.update(|s| {
                    s.last_error = Some(e.to_string());
                    s.shipping_failing_since
                        .get_or_insert_with(crate::clock::now);
                });
            }
        }
    }
}

/// Why the target cannot be restored from, if the snapshot the shipped changes continue is gone
/// (removed by hand, or by a lifecycle rule): segments alone restore nothing.
async fn snapshot_missing(spec: &TargetSpec, status: &StatusCell) -> Option<String> {
    let id = status.get()?.last_id?;
    let target = super::target::Target::open(spec).ok()?;
    match target.exists(&super::object_name(&id)).await {
        Ok(false) => Some(format!(
            "no restorable snapshot in {}: the snapshot {id} is gone and shipped changes alone \
             restore nothing; run `fealty backup --to {}` now",
            spec.describe(),
            spec.describe()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        let every = |raw| parse_every("--backup-every", raw);
        assert_eq!(every("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(every("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(every("24h"), Ok(Duration::from_secs(86_400)));
        assert!(every("soon").is_err());
        let short = parse_every("--ship-every", "5s");
        assert!(
            short
                .as_ref()
                .is_err_and(|e| e.starts_with("--ship-every ")),
            "{short:?}"
        );
    }
}
