//! The scheduled points expiry in `fealty serve`: once at start (catching up on whatever lapsed
//! while the server was down) and then daily at the quiet hour in the business's time zone.
//! What is due comes from the ledger itself, so a run that finds nothing due writes nothing.
//! The day's member notices (points digests, expiry warnings) are queued right after.

use crate::domain::ledger_check::{Schedule, quiet_hour_after};
use crate::service::Loyalty;
use std::time::Duration;

/// The longest the task sleeps before looking at the clock and the settings again.
const LOOK_AGAIN: Duration = Duration::from_secs(15 * 60);

/// How long to wait after a run that could not finish (the database was unavailable).
const RETRY: Duration = Duration::from_secs(10 * 60);

/// Parses `--clock-offset` (tests only): how far ahead of the system clock the server lives,
/// like `400d`.
pub fn parse_offset(raw: &str) -> Result<time::Duration, String> {
    crate::domain::interval::parse_seconds(raw.trim(), 's')
        .and_then(|s| i64::try_from(s).ok())
        .map(time::Duration::seconds)
        .ok_or_else(|| format!("--clock-offset {raw:?} is not a duration like 400d"))
}

/// Starts the task.
pub fn start(loyalty: Loyalty, schedule: Schedule) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut due = crate::clock::now();
        loop {
            let now = crate::clock::now();
            if now >= due {
                due = match loyalty.expire_points(now).await {
                    Ok(run) => {
                        // One line a day, also when nothing lapsed: the run is seen to happen.
                        tracing::info!(
                            members = run.members,
                            points = run.points,
                            "points expiry ran"
                        );
                        // After expiry, so a warning never names points that just lapsed.
                        daily_notices(&loyalty, now).await;
                        match schedule {
                            Schedule::Every(d) => now + d,
                            Schedule::Daily => match loyalty.settings().await {
                                Ok(s) => quiet_hour_after(now, &s.time_zone.zone()),
                                Err(_) => now + RETRY,
                            },
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "points could not be expired; trying again later");
                        now + match schedule {
                            Schedule::Every(d) => d.min(RETRY),
                            Schedule::Daily => RETRY,
                        }
                    }
                };
            }
            let wait = Duration::try_from(due - crate::clock::now()).unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait.clamp(Duration::from_millis(1), LOOK_AGAIN)).await;
        }
    })
}

/// The day's member notices (digests, expiry warnings); a failure waits for the next run.
async fn daily_notices(loyalty: &Loyalty, now: time::OffsetDateTime) {
    match loyalty.queue_daily_notices(now).await {
        Ok(run) => tracing::info!(
            digests = run.digests,
            warnings = run.warnings,
            "member notices step ran"
        ),
        Err(e) => {
            tracing::error!(error = %e, "member notices could not be queued; trying at the next run")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_knobs_take_durations() {
        assert_eq!(parse_offset("400d"), Ok(time::Duration::days(400)));
        assert!(parse_offset("soon").is_err());
    }
}
