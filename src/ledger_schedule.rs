//! The scheduled ledger check in `fealty serve`: daily at the quiet hour in the business's time
//! zone (see [`crate::domain::ledger_check`]), from a background task that only reads between
//! its two small writes (the result), so the till and the writer never wait for it.

use crate::domain::ledger_check::{CheckKind, Schedule};
use crate::service::Loyalty;
use std::time::Duration;
use time::OffsetDateTime;

/// The longest the task sleeps before looking at the clock and the settings again: a changed
/// time zone or a stepped clock moves the next run by at most this much.
const LOOK_AGAIN: Duration = Duration::from_secs(15 * 60);

/// How long to wait after a check that could not run (the database was unavailable).
const RETRY: Duration = Duration::from_secs(10 * 60);

/// Parses a daily job's test knob (`--verify-every`, `--expire-every`): a duration like `2s`;
/// none means daily.
pub fn parse_every(flag: &str, raw: Option<&str>) -> Result<Schedule, String> {
    let Some(raw) = raw else {
        return Ok(Schedule::Daily);
    };
    crate::domain::interval::parse_seconds(raw.trim(), 's')
        .filter(|s| *s > 0)
        .map(|s| Schedule::Every(Duration::from_secs(s)))
        .ok_or_else(|| format!("{flag} {raw:?} is not a duration like 2s or 10m"))
}

/// Starts the task. `started` is when the server started: the first check is due at the first
/// quiet hour after it, unless an earlier one was missed while the server was down.
pub fn start(
    loyalty: Loyalty,
    schedule: Schedule,
    started: OffsetDateTime,
) -> tokio::task::JoinHandle<()> {
    let retry = match schedule {
        Schedule::Daily => RETRY,
        Schedule::Every(d) => d.min(RETRY),
    };
    tokio::spawn(async move {
        loop {
            let wait = match step(&loyalty, schedule, started).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "the ledger check could not run; trying again later");
                    retry
                }
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    })
}

/// Runs the check if it is due; the time to wait before looking again.
async fn step(
    loyalty: &Loyalty,
    schedule: Schedule,
    started: OffsetDateTime,
) -> crate::service::Result<Duration> {
    let state = loyalty.ledger_check_state().await?;
    let tz = loyalty.settings().await?.time_zone.zone();
    let now = crate::clock::now();
    let due = state.next_due(schedule, started, &tz);
    if due > now {
        let until = Duration::try_from(due - now).unwrap_or(Duration::ZERO);
        return Ok(until.min(LOOK_AGAIN).max(Duration::from_millis(1)));
    }
    let kind = state.next_kind(now, &tz);
    let began = std::time::Instant::now();
    let run = loyalty.check_ledger(kind, now).await?;
    let ms = began.elapsed().as_millis() as u64;
    let kind = match kind {
        CheckKind::Full => "full",
        CheckKind::Incremental => "incremental",
    };
    match &run.problem {
        None => tracing::info!(
            kind,
            entries = run.entries,
            last_seq = run.to_seq,
            ms,
            "ledger checked: intact"
        ),
        Some(p) => tracing::error!(
            kind,
            entries = run.entries,
            problem = %p,
            ms,
            "LEDGER CHECK FAILED"
        ),
    }
    Ok(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_knob_takes_a_duration() {
        assert_eq!(
            parse_every("--verify-every", Some("2s")),
            Ok(Schedule::Every(Duration::from_secs(2)))
        );
        assert_eq!(
            parse_every("--verify-every", Some("10m")),
            Ok(Schedule::Every(Duration::from_secs(600)))
        );
        assert!(parse_every("--verify-every", Some("0s")).is_err());
        assert!(parse_every("--verify-every", Some("soon")).is_err());
        assert_eq!(parse_every("--expire-every", None), Ok(Schedule::Daily));
    }
}
