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
}
