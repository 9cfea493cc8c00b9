//! The running server's own check of the ledger: when it is due, whether it walks everything or
//! only what came since the last check, and what it found.
//!
//! It runs daily at [`QUIET_HOUR`] in the business's time zone. Each run continues from the last
//! entry proved intact, so it costs only the day's entries; a full pass (every entry, every
//! balance, every table) runs weekly, and at the next quiet hour after the database needed a
//! repair at start.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// The local hour the daily check runs at.
///
/// 04:00 is after the latest closing (bars, late cafés) and before the earliest opening
/// (bakeries), and it is outside the 01:00–03:00 window in which most zones change their clocks,
/// so it happens exactly once each local day.
pub const QUIET_HOUR: i8 = 4;

/// Local days between full passes.
pub const FULL_EVERY_DAYS: i64 = 7;

/// When checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Daily at [`QUIET_HOUR`] in the business's time zone.
    Daily,
    /// Every so often, counted from the last run (tests only: `--verify-every`).
    Every(Duration),
}

/// A full pass or only the entries since the last one proved intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Every entry, balance and table.
    Full,
    /// The entries after the last one proved intact.
    Incremental,
}

/// The last entry proved intact: the next incremental check starts after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// Its sequence number (0: none yet).
    pub seq: u64,
    /// Its hash, as hex.
    pub hash: String,
}

/// One run of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    /// When it began.
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// Full or incremental.
    pub kind: CheckKind,
    /// Entries it checked.
    pub entries: u64,
    /// The entry it continued after (0 for a full pass).
    pub after_seq: u64,
    /// The last entry it reached.
    pub to_seq: u64,
    /// What is wrong, in plain words; `None` when all was intact.
    pub problem: Option<String>,
}

/// What the server keeps about its checks, so that a restart continues rather than starts over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckState {
    /// The last run.
    #[serde(default)]
    pub last_run: Option<CheckRun>,
    /// The last entry proved intact.
    #[serde(default)]
    pub verified: Option<Verified>,
    /// When the last full pass that found everything intact began.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_full: Option<OffsetDateTime>,
    /// When a start found the file not shut down cleanly and repaired it; cleared by the next
    /// full pass that finds everything intact.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub repaired_at: Option<OffsetDateTime>,
}

impl CheckState {
    /// Records a finished run: a clean run moves the verified point (and a clean full pass
    /// clears a repair it started after); a failed one leaves it where it was.
    pub fn record(&mut self, run: CheckRun, reached: Option<Verified>) {
        if run.problem.is_none() {
            if let Some(v) = reached {
                self.verified = Some(v);
            }
            if run.kind == CheckKind::Full {
                self.last_full = Some(run.started);
                if self.repaired_at.is_some_and(|at| at <= run.started) {
                    self.repaired_at = None;
                }
            }
        }
        self.last_run = Some(run);
    }

    /// What the next run must be, if it begins at `now`.
    pub fn next_kind(&self, now: OffsetDateTime, tz: &TimeZone) -> CheckKind {
        let due_full = match (&self.verified, self.last_full) {
            (None, _) | (_, None) => true,
            (Some(_), Some(full)) => {
                self.repaired_at.is_some()
                    || days_between(local_date(full, tz), local_date(now, tz)) >= FULL_EVERY_DAYS
            }
        };
        if due_full {
            CheckKind::Full
        } else {
            CheckKind::Incremental
        }
    }

    /// When the next run is due: the first quiet hour after the last run began (or after
    /// `started`, the server's start, when none has run). A time already past means now: the
    /// server was down at the quiet hour.
    pub fn next_due(
        &self,
        schedule: Schedule,
        started: OffsetDateTime,
        tz: &TimeZone,
    ) -> OffsetDateTime {
        let after = self.last_run.as_ref().map_or(started, |r| r.started);
        match schedule {
            Schedule::Every(d) => after + d,
            Schedule::Daily => quiet_hour_after(after, tz),
        }
    }
}

fn to_jiff(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_second(t.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn from_jiff(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.as_second()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The local calendar day of `t`.
pub fn local_date(t: OffsetDateTime, tz: &TimeZone) -> Date {
    tz.to_datetime(to_jiff(t)).date()
}

fn days_between(from: Date, to: Date) -> i64 {
    from.until(to).map_or(0, |s| i64::from(s.get_days()))
}

/// The first [`QUIET_HOUR`] in `tz` strictly after `t`.
///
/// A quiet hour that a clock change skips is taken as the moment after the gap, one it
/// repeats as its first occurrence (jiff's "compatible" rule), so each local day has one.
pub fn quiet_hour_after(t: OffsetDateTime, tz: &TimeZone) -> OffsetDateTime {
    let mut day = local_date(t, tz);
    // Two days ahead always suffices; the bound only keeps a broken zone from looping.
    for _ in 0..3 {
        if let Ok(z) = day.at(QUIET_HOUR, 0, 0, 0).to_zoned(tz.clone()) {
            let at = from_jiff(z.timestamp());
            if at > t {
                return at;
            }
        }
        day = day.tomorrow().unwrap_or(day);
    }
    t + time::Duration::days(1)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use time::macros::datetime;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("a known zone")
    }

    fn run(started: OffsetDateTime, kind: CheckKind, problem: Option<&str>) -> CheckRun {
        CheckRun {
            started,
            kind,
            entries: 10,
            after_seq: 0,
            to_seq: 10,
            problem: problem.map(str::to_owned),
        }
    }

    fn verified(seq: u64) -> Option<Verified> {
        Some(Verified {
            seq,
            hash: "ab".repeat(32),
        })
    }

    #[test]
    fn the_check_runs_at_four_in_the_morning_local_time() {
        let london = zone("Europe/London");
        // 03:59 in winter (UTC+0): today's quiet hour is a minute away.
        assert_eq!(
            quiet_hour_after(datetime!(2026-01-10 03:59 UTC), &london),
            datetime!(2026-01-10 04:00 UTC)
        );
        // 04:00 exactly has run: the next is tomorrow's.
        assert_eq!(
            quiet_hour_after(datetime!(2026-01-10 04:00 UTC), &london),
            datetime!(2026-01-11 04:00 UTC)
        );
        // Summer (UTC+1): 04:00 local is 03:00 UTC.
        assert_eq!(
            quiet_hour_after(datetime!(2026-07-10 12:00 UTC), &london),
            datetime!(2026-07-11 03:00 UTC)
        );
        let auckland = zone("Pacific/Auckland");
        assert_eq!(
            quiet_hour_after(datetime!(2026-01-10 12:00 UTC), &auckland),
            datetime!(2026-01-10 15:00 UTC),
            "04:00 on the 11th in Auckland (UTC+13)"
        );
    }

    #[test]
    fn each_local_day_across_clock_changes_gets_one_check_at_four() {
        for (name, from) in [
            // Spring forward on 29 March, back on 25 October.
            ("Europe/Berlin", datetime!(2026-03-27 12:00 UTC)),
            ("Europe/Berlin", datetime!(2026-10-23 12:00 UTC)),
            // 8 March and 1 November, at 02:00 local.
            ("America/New_York", datetime!(2026-03-06 12:00 UTC)),
            ("America/New_York", datetime!(2026-10-30 12:00 UTC)),
            // The southern hemisphere: back on 5 April, forward on 27 September.
            ("Australia/Sydney", datetime!(2026-04-03 12:00 UTC)),
            ("Australia/Sydney", datetime!(2026-09-25 12:00 UTC)),
        ] {
            let tz = zone(name);
            let mut t = from;
            let mut days = Vec::new();
            for _ in 0..5 {
                t = quiet_hour_after(t, &tz);
                let local = tz.to_datetime(to_jiff(t));
                assert_eq!(
                    (local.hour(), local.minute()),
                    (4, 0),
                    "{name}: {t} is {local} local"
                );
                days.push(local.date());
            }
            for pair in days.windows(2) {
                assert_eq!(
                    pair[0].tomorrow().expect("a day"),
                    pair[1],
                    "{name}: one check a day, none skipped: {days:?}"
                );
            }
        }
    }

    #[test]
    fn on_the_night_clocks_go_forward_the_check_runs_at_four_summer_time() {
        let berlin = zone("Europe/Berlin");
        // 01:30 CET on 29 March, half an hour before 02:00 becomes 03:00.
        let before = datetime!(2026-03-29 00:30 UTC);
        assert_eq!(
            quiet_hour_after(before, &berlin),
            datetime!(2026-03-29 02:00 UTC),
            "04:00 CEST"
        );
    }

    #[test]
    fn the_next_run_is_due_after_the_last_one_or_after_the_start() {
        let utc = TimeZone::UTC;
        let started = datetime!(2026-12-02 10:00 UTC);
        let mut s = CheckState::default();
        assert_eq!(
            s.next_due(Schedule::Daily, started, &utc),
            datetime!(2026-12-03 04:00 UTC)
        );
        // A server down at the quiet hour runs the missed check as soon as it is back.
        s.record(
            run(datetime!(2026-11-28 04:00 UTC), CheckKind::Full, None),
            verified(10),
        );
        let due = s.next_due(Schedule::Daily, started, &utc);
        assert_eq!(due, datetime!(2026-11-29 04:00 UTC));
        assert!(due < started);
        let knob = Schedule::Every(Duration::from_secs(2));
        assert_eq!(
            s.next_due(knob, started, &utc),
            datetime!(2026-11-28 04:00:02 UTC)
        );
    }

    #[test]
    fn a_full_pass_comes_first_then_weekly_by_local_days() {
        let tz = zone("Europe/London");
        let mut s = CheckState::default();
        let first = datetime!(2026-03-24 04:00 UTC);
        assert_eq!(s.next_kind(first, &tz), CheckKind::Full, "nothing verified");
        s.record(run(first, CheckKind::Full, None), verified(10));
        for day in 1..7 {
            // Across the change to summer time on 29 March: local days count, not hours.
            let at = datetime!(2026-03-24 04:00 UTC) + time::Duration::days(day)
                - time::Duration::hours(if day >= 5 { 1 } else { 0 });
            assert_eq!(s.next_kind(at, &tz), CheckKind::Incremental, "day {day}");
            s.record(
                run(at, CheckKind::Incremental, None),
                verified(10 + day as u64),
            );
        }
        // Six days and 23 hours later by the clock, seven local days.
        let week = datetime!(2026-03-31 03:00 UTC);
        assert_eq!(s.next_kind(week, &tz), CheckKind::Full);
    }

    #[test]
    fn a_failed_run_keeps_the_last_good_point_and_a_failed_full_pass_is_repeated() {
        let tz = TimeZone::UTC;
        let mut s = CheckState::default();
        let t = datetime!(2026-12-01 04:00 UTC);
        s.record(
            run(t, CheckKind::Full, Some("entry 3: altered")),
            verified(10),
        );
        assert_eq!(s.verified, None);
        assert_eq!(s.last_full, None);
        assert_eq!(
            s.next_kind(t + time::Duration::days(1), &tz),
            CheckKind::Full
        );
        s.record(run(t, CheckKind::Full, None), verified(10));
        s.record(
            run(t, CheckKind::Incremental, Some("entry 12: altered")),
            verified(12),
        );
        assert_eq!(s.verified, verified(10));
    }

    #[test]
    fn a_repair_makes_the_next_run_full_and_a_clean_full_pass_after_it_clears_it() {
        let tz = TimeZone::UTC;
        let mut s = CheckState::default();
        let t = datetime!(2026-12-01 04:00 UTC);
        s.record(run(t, CheckKind::Full, None), verified(10));
        let repaired = datetime!(2026-12-01 11:00 UTC);
        s.repaired_at = Some(repaired);
        let next = datetime!(2026-12-02 04:00 UTC);
        assert_eq!(s.next_kind(next, &tz), CheckKind::Full);
        // A failed full pass leaves the repair standing.
        s.record(run(next, CheckKind::Full, Some("entry 4: altered")), None);
        assert_eq!(s.repaired_at, Some(repaired));
        s.record(run(next, CheckKind::Full, None), verified(12));
        assert_eq!(s.repaired_at, None);
        assert_eq!(
            s.next_kind(next + time::Duration::days(1), &tz),
            CheckKind::Incremental
        );
    }

    #[test]
    fn a_full_pass_that_began_before_a_repair_does_not_clear_it() {
        let mut s = CheckState::default();
        let t = datetime!(2026-12-01 04:00 UTC);
        s.repaired_at = Some(t + time::Duration::minutes(1));
        s.record(run(t, CheckKind::Full, None), verified(10));
        assert!(s.repaired_at.is_some());
    }

    #[test]
    fn the_state_reads_back_as_stored_and_from_an_empty_record() {
        let mut s = CheckState::default();
        s.record(
            run(
                datetime!(2026-12-01 04:00 UTC),
                CheckKind::Incremental,
                None,
            ),
            verified(4),
        );
        s.repaired_at = Some(datetime!(2026-11-30 09:15 UTC));
        let json = serde_json::to_string(&s).expect("encodes");
        assert_eq!(
            serde_json::from_str::<CheckState>(&json).expect("decodes"),
            s
        );
        assert_eq!(
            serde_json::from_str::<CheckState>("{}").expect("decodes"),
            CheckState::default()
        );
    }
}
