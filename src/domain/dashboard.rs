//! Folding hourly running totals into the owner's days, weeks and busiest hours.
//!
//! Storage keeps one `Totals` per UTC hour, updated in each write; the business's time zone
//! is applied only here, so changing it re-buckets history without touching stored data.
//! (Zones with half-hour offsets are placed by the start of each UTC hour.)

use super::DomainError;
use super::stats::Totals;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Seconds in the storage bucket.
pub const BUCKET_SECONDS: i64 = 3600;

/// The storage bucket (hours since the Unix epoch) of a moment.
pub fn bucket_of(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds.div_euclid(BUCKET_SECONDS)).unwrap_or(0)
}

/// Totals for one local day or week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The first local day of the period.
    pub start: Date,
    /// What happened in it.
    pub totals: Totals,
}

fn local(bucket: u64, tz: &TimeZone) -> Option<jiff::civil::DateTime> {
    let secs = i64::try_from(bucket).ok()?.checked_mul(BUCKET_SECONDS)?;
    Some(tz.to_datetime(Timestamp::from_second(secs).ok()?))
}

fn days_before(d: Date, n: i64) -> Date {
    d.checked_sub(jiff::Span::new().days(n)).unwrap_or(d)
}

/// The Monday that starts `d`'s week.
pub fn week_start(d: Date) -> Date {
    days_before(d, i64::from(d.weekday().to_monday_zero_offset()))
}

/// One row per local day, oldest first, for the `days` days ending `today`.
pub fn daily(
    buckets: &[(u64, Totals)],
    tz: &TimeZone,
    today: Date,
    days: i64,
) -> Result<Vec<Period>, DomainError> {
    let first = days_before(today, days - 1);
    let mut rows: Vec<Period> = (0..days)
        .map(|i| Period {
            start: days_before(today, days - 1 - i),
            totals: Totals::default(),
        })
        .collect();
    for (bucket, totals) in buckets {
        let Some(at) = local(*bucket, tz) else {
            continue;
        };
        let Ok(span) = first.until(at.date()) else {
            continue;
        };
        let idx = span.get_days();
        if let Some(row) = usize::try_from(idx).ok().and_then(|i| rows.get_mut(i)) {
            row.totals.add(totals)?;
        }
    }
    Ok(rows)
}

/// One row per week (Monday to Sunday), oldest first, for the `weeks` weeks ending with `today`'s.
pub fn weekly(
    buckets: &[(u64, Totals)],
    tz: &TimeZone,
    today: Date,
    weeks: i64,
) -> Result<Vec<Period>, DomainError> {
    let this_week = week_start(today);
    let mut rows: Vec<Period> = (0..weeks)
        .map(|i| Period {
            start: days_before(this_week, 7 * (weeks - 1 - i)),
            totals: Totals::default(),
        })
        .collect();
    let first = rows.first().map_or(this_week, |r| r.start);
    for (bucket, totals) in buckets {
        let Some(at) = local(*bucket, tz) else {
            continue;
        };
        let Ok(span) = first.until(week_start(at.date())) else {
            continue;
        };
        let idx = span.get_days().div_euclid(7);
        if let Some(row) = usize::try_from(idx).ok().and_then(|i| rows.get_mut(i)) {
            row.totals.add(totals)?;
        }
    }
    Ok(rows)
}

/// Transactions per local hour of the day (0–23) over the given buckets.
pub fn busiest_hours(buckets: &[(u64, Totals)], tz: &TimeZone) -> Result<[i64; 24], DomainError> {
    let mut hours = [0i64; 24];
    for (bucket, totals) in buckets {
        if let Some(at) = local(*bucket, tz)
            && let Some(slot) = usize::try_from(at.hour())
                .ok()
                .and_then(|h| hours.get_mut(h))
        {
            *slot = slot
                .checked_add(totals.transactions)
                .ok_or(DomainError::Overflow)?;
        }
    }
    Ok(hours)
}

/// The fewest days the daily chart spans, so a new scheme's first day is not one wide bar.
pub const MIN_DAYS: i64 = 7;
/// The fewest weeks the weekly chart spans.
pub const MIN_WEEKS: i64 = 4;

/// The local day of the oldest stored hour, if anything was ever recorded.
pub fn first_day(oldest_bucket: Option<u64>, tz: &TimeZone) -> Option<Date> {
    oldest_bucket.and_then(|b| local(b, tz)).map(|at| at.date())
}

/// How many days the daily chart spans: as many as the data is old (so six days of history fill
/// the width instead of huddling at the right of a month), between `MIN_DAYS` and `max`.
pub fn days_to_show(first: Option<Date>, today: Date, max: i64) -> i64 {
    let age = first
        .and_then(|f| f.until(today).ok())
        .map_or(0, |s| i64::from(s.get_days()).saturating_add(1));
    age.clamp(MIN_DAYS.min(max), max)
}

/// How many weeks the weekly chart spans: the weeks the data touches, between `MIN_WEEKS` and `max`.
pub fn weeks_to_show(first: Option<Date>, today: Date, max: i64) -> i64 {
    let age = first
        .and_then(|f| week_start(f).until(week_start(today)).ok())
        .map_or(0, |s| {
            i64::from(s.get_days()).div_euclid(7).saturating_add(1)
        });
    age.clamp(MIN_WEEKS.min(max), max)
}

/// What happened on the local day `today`, from midnight to midnight in the business's zone.
pub fn on_day(
    buckets: &[(u64, Totals)],
    tz: &TimeZone,
    today: Date,
) -> Result<Totals, DomainError> {
    Ok(daily(buckets, tz, today, 1)?
        .pop()
        .map(|p| p.totals)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use jiff::civil::date;

    fn at(y: i16, m: i8, d: i8, h: i8) -> u64 {
        let ts = date(y, m, d)
            .at(h, 0, 0, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap();
        bucket_of(ts.timestamp().as_second())
    }

    fn earned(n: i64) -> Totals {
        Totals {
            earned: n,
            transactions: 1,
            ..Totals::default()
        }
    }

    #[test]
    fn hours_fall_on_the_local_day() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 23:00 UTC on the 1st is already the 2nd in Berlin (UTC+1 in January).
        let buckets = vec![
            (at(2026, 1, 1, 23), earned(5)),
            (at(2026, 1, 1, 10), earned(7)),
        ];
        let days = daily(&buckets, &berlin, date(2026, 1, 2), 2).unwrap();
        assert_eq!(days[0].start, date(2026, 1, 1));
        assert_eq!((days[0].totals.earned, days[1].totals.earned), (7, 5));
        let utc = daily(&buckets, &TimeZone::UTC, date(2026, 1, 2), 2).unwrap();
        assert_eq!((utc[0].totals.earned, utc[1].totals.earned), (12, 0));
    }

    #[test]
    fn weeks_start_on_monday_and_old_data_is_left_out() {
        // 2026-01-05 is a Monday.
        let buckets = vec![
            (at(2026, 1, 4, 12), earned(1)),
            (at(2026, 1, 5, 0), earned(2)),
            (at(2026, 1, 11, 23), earned(4)),
            (at(2025, 6, 1, 12), earned(100)),
        ];
        let weeks = weekly(&buckets, &TimeZone::UTC, date(2026, 1, 7), 2).unwrap();
        assert_eq!(weeks[0].start, date(2025, 12, 29));
        assert_eq!(weeks[1].start, date(2026, 1, 5));
        assert_eq!((weeks[0].totals.earned, weeks[1].totals.earned), (1, 6));
    }

    #[test]
    fn busiest_hours_use_local_time() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let buckets = vec![
            (at(2026, 7, 1, 16), earned(1)),
            (at(2026, 7, 2, 16), earned(1)),
        ];
        let hours = busiest_hours(&buckets, &ny).unwrap();
        assert_eq!(hours[12], 2, "16:00 UTC is noon in New York in summer");
        assert_eq!(hours.iter().sum::<i64>(), 2);
    }
    #[test]
    fn six_days_of_history_span_the_chart_and_old_data_is_capped() {
        let today = date(2026, 12, 2);
        assert_eq!(days_to_show(Some(date(2026, 11, 21)), today, 30), 12);
        assert_eq!(
            days_to_show(Some(date(2026, 11, 27)), today, 30),
            7,
            "a week at least"
        );
        assert_eq!(days_to_show(Some(date(2025, 1, 1)), today, 30), 30);
        assert_eq!(days_to_show(None, today, 30), 7);
        // A clock set back behind the data must not make a negative span.
        assert_eq!(days_to_show(Some(date(2026, 12, 9)), today, 30), 7);
        // 2026-11-30 is a Monday: data from the Sunday before touches two weeks.
        assert_eq!(weeks_to_show(Some(date(2026, 11, 29)), today, 12), 4);
        assert_eq!(weeks_to_show(Some(date(2026, 10, 15)), today, 12), 8);
        assert_eq!(weeks_to_show(Some(date(2020, 1, 1)), today, 12), 12);
    }

    #[test]
    fn the_first_day_is_local() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            first_day(Some(at(2026, 1, 1, 23)), &berlin),
            Some(date(2026, 1, 2))
        );
        assert_eq!(
            first_day(Some(at(2026, 1, 1, 23)), &TimeZone::UTC),
            Some(date(2026, 1, 1))
        );
        assert_eq!(first_day(None, &berlin), None);
    }

    #[test]
    fn today_runs_from_local_midnight_to_midnight() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // New York is UTC-5 in December: its 2 December runs 05:00 UTC on the 2nd to 05:00 on the 3rd.
        let buckets = vec![
            (at(2026, 12, 2, 4), earned(1)),
            (at(2026, 12, 2, 5), earned(2)),
            (at(2026, 12, 3, 4), earned(4)),
            (at(2026, 12, 3, 5), earned(8)),
        ];
        assert_eq!(on_day(&buckets, &ny, date(2026, 12, 2)).unwrap().earned, 6);
        assert_eq!(
            on_day(&buckets, &TimeZone::UTC, date(2026, 12, 2))
                .unwrap()
                .earned,
            3
        );
        assert_eq!(
            on_day(&[], &ny, date(2026, 12, 2)).unwrap(),
            Totals::default()
        );
    }
}
