//! The scheduled points expiry, birthday points, tier re-check and member notices in `fealty serve`: once at start (catching up
//! on whatever lapsed while the server was down) and then daily at the quiet hour in the
//! business's time zone, and a re-check whenever the owner changes the tier ladder. What is due
//! comes from the ledger and the members' records, so a run that finds nothing writes nothing.

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
                due = if daily(&loyalty, now).await {
                    match schedule {
                        Schedule::Every(d) => now + d,
                        Schedule::Daily => match loyalty.settings().await {
                            Ok(s) => quiet_hour_after(now, &s.time_zone.zone()),
                            Err(_) => now + RETRY,
                        },
                    }
                } else {
                    now + match schedule {
                        Schedule::Every(d) => d.min(RETRY),
                        Schedule::Daily => RETRY,
                    }
                };
            }
            let wait = Duration::try_from(due - crate::clock::now()).unwrap_or(Duration::ZERO);
            tokio::select! {
                () = tokio::time::sleep(wait.clamp(Duration::from_millis(1), LOOK_AGAIN)) => {}
                // The owner changed the ladder: members move now, not at the next quiet hour. A
                // run that fails here is caught up by the daily one.
                () = loyalty.tier_recheck_asked() => {
                    recheck_tiers(&loyalty, crate::clock::now()).await;
                }
            }
        }
    })
}

/// The day's run: members' lots summaries folded where they do not hold, birthday points,
/// points expiry, then the tier re-check (months roll out of the window whether or not anything
/// lapsed). Whether all finished; each is idempotent, so all run again on a retry.
async fn daily(loyalty: &Loyalty, now: time::OffsetDateTime) -> bool {
    // At start this is the backfill of a database from before members' lots were kept.
    let kept = match loyalty.keep_expiry_lots().await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(members = n, "expiry lots kept from the ledger");
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "expiry lots could not be kept; trying again later");
            false
        }
    };
    let birthdays = match loyalty.give_birthday_points(now).await {
        Ok(run) => {
            tracing::info!(
                members = run.members,
                points = run.points,
                "birthday points ran"
            );
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "birthday points could not be given; trying again later");
            false
        }
    };
    let expired = match loyalty.expire_points(now).await {
        Ok(run) => {
            // One line a day, also when nothing lapsed: the run is seen to happen.
            tracing::info!(
                members = run.members,
                points = run.points,
                "points expiry ran"
            );
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "points could not be expired; trying again later");
            false
        }
    };
    let rechecked = recheck_tiers(loyalty, now).await;
    // Last, so a warning never names points that just lapsed and a digest counts the day's
    // birthday points; a failure waits for the next run.
    daily_notices(loyalty, now).await;
    rechecked && expired && kept && birthdays
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

/// Re-checks every member's tier, logging the outcome: whether it finished.
async fn recheck_tiers(loyalty: &Loyalty, now: time::OffsetDateTime) -> bool {
    match loyalty.recheck_tiers(now).await {
        Ok(moved) => {
            tracing::info!(moved, "tier re-check ran");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "tiers could not be re-checked; trying again later");
            false
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
