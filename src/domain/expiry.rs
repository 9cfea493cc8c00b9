//! Points expiry: the owner's policy and, from a member's entries, what lapses and when.
//!
//! Points lapse at local midnight at the start of the day after their last day, in the
//! business's time zone. Under [`ExpiryRule::Earned`] each credit is a lot whose last day is
//! its local date plus N months (31 Jan + 1 month is the end of February; 29 Feb + 12 months is
//! 28 Feb); every debit (redemption, negative adjustment, reversal of an earn, earlier expiry)
//! takes from the oldest lots first. Under [`ExpiryRule::Inactive`] the whole balance lapses N
//! months after the last entry that was not itself an expiry.
//!
//! Points earned before the policy was switched on count from that moment (`since`), so turning
//! it on never takes points at once that members had no warning about.
//!
//! Nothing here remembers what was already expired: the `expire` entries in the ledger are the
//! record, and folding them in consumes the lots they took, so asking again gives nothing.

use super::DomainError;
use super::ledger::EntryKind;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use std::collections::VecDeque;
use time::OffsetDateTime;

/// Months before points lapse: 1 to 120.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Months(u8);

impl Months {
    /// The longest policy, ten years.
    pub const MAX: u8 = 120;

    /// Parses a number of months, 1 to 120.
    pub fn parse(n: i64) -> Result<Self, DomainError> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or_else(|| {
                DomainError::invalid(
                    "expiry_months",
                    format!("must be between 1 and {}", Self::MAX),
                )
            })
    }

    /// The number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Months {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        Self::parse(n).map_err(|e| e.to_string())
    }
}

impl From<Months> for i64 {
    fn from(m: Months) -> i64 {
        i64::from(m.0)
    }
}

/// Which points lapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryRule {
    /// Each credit N months after it was earned, oldest first.
    Earned,
    /// The whole balance after N months without activity.
    Inactive,
}

impl ExpiryRule {
    /// Parses `earned` or `inactive`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.trim() {
            "earned" => Ok(Self::Earned),
            "inactive" => Ok(Self::Inactive),
            _ => Err(DomainError::invalid(
                "expiry_rule",
                "must be earned, inactive or off",
            )),
        }
    }

    /// The name used in the API and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earned => "earned",
            Self::Inactive => "inactive",
        }
    }
}

/// The owner's expiry policy (absent: points never expire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExpiryPolicy {
    /// Which points lapse.
    pub rule: ExpiryRule,
    /// After how many months.
    pub months: Months,
    /// When the policy was switched on: older points count from here.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl ExpiryPolicy {
    /// The policy asked for, keeping the moment it was first switched on if it already was.
    pub fn set(
        previous: Option<&ExpiryPolicy>,
        rule: ExpiryRule,
        months: Months,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            rule,
            months,
            since: previous.map_or(now, |p| p.since),
        }
    }

    /// The policy in plain words, e.g. "Points expire 12 months after they are earned."
    pub fn describe(&self) -> String {
        let months = super::words::count(i64::from(self.months.get()), "month", "months");
        match self.rule {
            ExpiryRule::Earned => format!("Points expire {months} after they are earned."),
            ExpiryRule::Inactive => {
                format!("The whole balance expires after {months} without activity.")
            }
        }
    }
}

/// Points that lapse together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiring {
    /// How many.
    pub points: i64,
    /// The last local day they can be used.
    pub last_day: Date,
    /// The moment they lapse: local midnight at the start of the next day.
    pub at: OffsetDateTime,
}

impl Expiring {
    /// The notice shown to members and staff, e.g. "120 points expire on 31 Mar 2027".
    pub fn notice(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = usize::try_from(self.last_day.month() - 1)
            .ok()
            .and_then(|i| MONTHS.get(i))
            .unwrap_or(&"");
        let verb = if self.points == 1 {
            "expires"
        } else {
            "expire"
        };
        format!(
            "{} {verb} on {} {month} {}",
            super::words::count(self.points, "point", "points"),
            self.last_day.day(),
            self.last_day.year()
        )
    }
}

/// The last day of points that start counting at `from`: its local date plus `months`.
pub fn last_day(from: OffsetDateTime, months: Months, tz: &TimeZone) -> Date {
    let date = tz.to_datetime(to_jiff(from)).date();
    // jiff clamps to the month's end (31 Jan + 1 month = 28/29 Feb); 120 months never overflows
    // a date the ledger can hold, and the date itself is the fallback if it somehow does.
    date.checked_add(Span::new().months(i64::from(months.get())))
        .unwrap_or(date)
}

/// When points whose last day is `day` lapse: local midnight starting the next day.
pub fn lapse_at(day: Date, tz: &TimeZone) -> OffsetDateTime {
    let next = day.tomorrow().unwrap_or(day);
    // A midnight a clock change skips becomes the moment after the gap.
    next.to_zoned(tz.clone())
        .map(|z| from_jiff(z.timestamp()))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn to_jiff(t: OffsetDateTime) -> Timestamp {
    let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn from_jiff(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millisecond()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A member's points by when they lapse, folded from their entries oldest first.
///
/// Credits with the same last day share one lot, so it holds at most one lot per day of the
/// policy's window (plus any days the job has not yet caught up on), however many entries the
/// member has.
#[derive(Debug, Clone)]
pub struct Lots {
    policy: ExpiryPolicy,
    tz: TimeZone,
    lots: VecDeque<Expiring>,
    balance: i64,
    last_activity: Option<OffsetDateTime>,
}

impl Lots {
    /// An empty account under `policy` in the zone `tz`.
    pub fn new(policy: ExpiryPolicy, tz: TimeZone) -> Self {
        Self {
            policy,
            tz,
            lots: VecDeque::new(),
            balance: 0,
            last_activity: None,
        }
    }

    /// Folds in the member's next entry.
    pub fn add(&mut self, kind: EntryKind, points: i64, created_at: OffsetDateTime) {
        self.balance = self.balance.saturating_add(points);
        if kind != EntryKind::Expire {
            self.last_activity = Some(created_at);
        }
        if points > 0 {
            let from = created_at.max(self.policy.since);
            let day = last_day(from, self.policy.months, &self.tz);
            self.credit(day, points);
        } else {
            self.debit(points.saturating_neg());
        }
    }

    fn credit(&mut self, day: Date, points: i64) {
        // Entries come in order, so this is nearly always the back; a stepped clock may not be.
        let at = self.lots.partition_point(|l| l.last_day <= day);
        match at.checked_sub(1).and_then(|i| self.lots.get_mut(i)) {
            Some(lot) if lot.last_day == day => lot.points = lot.points.saturating_add(points),
            _ => self.lots.insert(
                at,
                Expiring {
                    points,
                    last_day: day,
                    at: lapse_at(day, &self.tz),
                },
            ),
        }
    }

    fn debit(&mut self, mut points: i64) {
        while points > 0 {
            let Some(front) = self.lots.front_mut() else {
                return;
            };
            let take = front.points.min(points);
            front.points -= take;
            points -= take;
            if front.points == 0 {
                self.lots.pop_front();
            }
        }
    }

    /// The balance the entries add up to.
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// What lapses, soonest first, with the points each time (never more than the balance).
    pub fn schedule(&self) -> Vec<Expiring> {
        if self.balance <= 0 {
            return Vec::new();
        }
        match self.policy.rule {
            ExpiryRule::Earned => self.lots.iter().copied().collect(),
            ExpiryRule::Inactive => {
                let Some(last) = self.last_activity else {
                    return Vec::new();
                };
                let from = last.max(self.policy.since);
                let day = last_day(from, self.policy.months, &self.tz);
                vec![Expiring {
                    points: self.balance,
                    last_day: day,
                    at: lapse_at(day, &self.tz),
                }]
            }
        }
    }

    /// The points that have lapsed by `now` and are still in the balance: what an `expire`
    /// entry must take now (0 when nothing is due).
    pub fn due(&self, now: OffsetDateTime) -> i64 {
        let due: i64 = self
            .schedule()
            .iter()
            .take_while(|e| e.at <= now)
            .map(|e| e.points)
            .sum();
        due.min(self.balance.max(0))
    }

    /// The next points to lapse after `now`, for the card and member pages.
    pub fn next(&self, now: OffsetDateTime) -> Option<Expiring> {
        self.schedule().into_iter().find(|e| e.at > now)
    }

    /// Everything that lapses after `now` and within `days` days: what a warning would name.
    pub fn within(&self, now: OffsetDateTime, days: i64) -> Vec<Expiring> {
        let until = now + time::Duration::days(days);
        self.schedule()
            .into_iter()
            .filter(|e| e.at > now && e.at <= until)
            .collect()
    }

    /// The lots of a member whose entries all came before the policy was switched on: their
    /// whole balance counts from `since` (what folding those entries gives, without reading them).
    pub fn opening(policy: ExpiryPolicy, tz: TimeZone, balance: i64) -> Self {
        let mut lots = Self::new(policy, tz);
        if balance != 0 {
            lots.add(EntryKind::Adjust, balance, policy.since);
        }
        lots
    }

    /// The summary to keep on the member's record.
    pub fn kept(&self) -> KeptLots {
        KeptLots {
            since: self.policy.since,
            months: self.policy.months,
            zone: self.tz.iana_name().unwrap_or_default().to_owned(),
            lots: self
                .lots
                .iter()
                .map(|l| (day_number(l.last_day), l.points))
                .collect(),
            balance: self.balance,
            last_activity: self.last_activity,
        }
    }

    /// The lots a summary holds, if it was kept under this policy's start and months and in
    /// this zone (the rule may differ: both rules read the same lots); `None` when it must be
    /// folded again.
    pub fn resume(policy: ExpiryPolicy, tz: TimeZone, kept: &KeptLots) -> Option<Self> {
        if kept.since != policy.since
            || kept.months != policy.months
            || tz.iana_name().unwrap_or_default() != kept.zone
        {
            return None;
        }
        let mut lots = VecDeque::with_capacity(kept.lots.len());
        for (day, points) in &kept.lots {
            let last_day = from_day_number(*day)?;
            lots.push_back(Expiring {
                points: *points,
                last_day,
                at: lapse_at(last_day, &tz),
            });
        }
        Some(Self {
            policy,
            tz,
            lots,
            balance: kept.balance,
            last_activity: kept.last_activity,
        })
    }
}

/// A member's lots as kept on their record, updated in the same write as each entry, so the
/// card page, the member page and the expiry job read a summary whose size is bounded by the
/// policy's window (one lot per day at most) instead of the member's whole history. It holds for
/// the policy start, months and zone it was folded under; after a change of any of them it is
/// folded again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptLots {
    /// The policy's `since` when kept.
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
    /// The policy's months when kept.
    months: Months,
    /// The business's zone when kept.
    zone: String,
    /// Open lots, soonest first: (last day as `yyyymmdd`, points).
    lots: Vec<(i32, i64)>,
    /// The balance the entries add up to.
    balance: i64,
    /// The last entry that was not an expiry.
    #[serde(default, with = "time::serde::rfc3339::option")]
    last_activity: Option<OffsetDateTime>,
}

impl KeptLots {
    /// How many lots are kept.
    pub fn len(&self) -> usize {
        self.lots.len()
    }

    /// Whether no lot is kept.
    pub fn is_empty(&self) -> bool {
        self.lots.is_empty()
    }
}

/// A date as `yyyymmdd`, compact in the stored JSON.
fn day_number(d: Date) -> i32 {
    i32::from(d.year()) * 10_000 + i32::from(d.month()) * 100 + i32::from(d.day())
}

fn from_day_number(n: i32) -> Option<Date> {
    let year = i16::try_from(n / 10_000).ok()?;
    let month = i8::try_from(n / 100 % 100).ok()?;
    let day = i8::try_from(n % 100).ok()?;
    Date::new(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use jiff::civil::date;
    use time::macros::datetime;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("a known zone")
    }

    fn months(n: i64) -> Months {
        Months::parse(n).expect("in range")
    }

    fn policy(rule: ExpiryRule, n: i64) -> ExpiryPolicy {
        ExpiryPolicy {
            rule,
            months: months(n),
            since: datetime!(2000-01-01 00:00 UTC),
        }
    }

    fn fold(
        rule: ExpiryRule,
        n: i64,
        tz: &str,
        entries: &[(EntryKind, i64, OffsetDateTime)],
    ) -> Lots {
        let mut lots = Lots::new(policy(rule, n), zone(tz));
        for (kind, points, at) in entries {
            lots.add(*kind, *points, *at);
        }
        lots
    }

    use EntryKind::{Adjust, Earn, Expire, Redeem};

    #[test]
    fn months_are_1_to_120() {
        assert!(Months::parse(0).is_err());
        assert!(Months::parse(121).is_err());
        assert!(Months::parse(-1).is_err());
        assert_eq!(Months::parse(120).map(Months::get), Ok(120));
        assert_eq!(Months::parse(1).map(Months::get), Ok(1));
    }

    #[test]
    fn month_ends_and_leap_days() {
        let utc = zone("UTC");
        for (earned, n, last) in [
            (datetime!(2027-01-31 12:00 UTC), 1, date(2027, 2, 28)),
            (datetime!(2028-01-31 12:00 UTC), 1, date(2028, 2, 29)),
            (datetime!(2028-02-29 12:00 UTC), 12, date(2029, 2, 28)),
            (datetime!(2028-02-29 12:00 UTC), 48, date(2032, 2, 29)),
            (datetime!(2026-03-31 12:00 UTC), 6, date(2026, 9, 30)),
            (datetime!(2026-12-15 12:00 UTC), 3, date(2027, 3, 15)),
            (datetime!(2026-01-01 00:00 UTC), 120, date(2036, 1, 1)),
        ] {
            assert_eq!(last_day(earned, months(n), &utc), last, "{earned} + {n}");
        }
        assert_eq!(
            lapse_at(date(2027, 2, 28), &utc),
            datetime!(2027-03-01 00:00 UTC)
        );
    }

    #[test]
    fn days_are_the_business_s_days() {
        // 11:30 UTC on 31 Jan is already 1 Feb in Auckland (UTC+13 in summer).
        let earned = datetime!(2027-01-31 11:30 UTC);
        assert_eq!(last_day(earned, months(1), &zone("UTC")), date(2027, 2, 28));
        assert_eq!(
            last_day(earned, months(1), &zone("Pacific/Auckland")),
            date(2027, 3, 1)
        );
        // Auckland's midnight starting 2 Mar 2027 is 11:00 UTC on 1 Mar (daylight time, +13).
        assert_eq!(
            lapse_at(date(2027, 3, 1), &zone("Pacific/Auckland")),
            datetime!(2027-03-01 11:00 UTC)
        );
        // In winter (+12) the lapse moves by the hour.
        assert_eq!(
            lapse_at(date(2027, 7, 1), &zone("Pacific/Auckland")),
            datetime!(2027-07-01 12:00 UTC)
        );
        let lots = fold(
            ExpiryRule::Earned,
            1,
            "Pacific/Auckland",
            &[(Earn, 10, earned)],
        );
        assert_eq!(lots.due(datetime!(2027-03-01 10:59:59 UTC)), 0);
        assert_eq!(lots.due(datetime!(2027-03-01 11:00 UTC)), 10);
    }

    /// Entries, when asked, points due, and the next lapse as (points, last day).
    type Case = (
        Vec<(EntryKind, i64, OffsetDateTime)>,
        OffsetDateTime,
        i64,
        Option<(i64, Date)>,
    );

    #[test]
    fn debits_take_the_oldest_lots_first() {
        let jan = datetime!(2026-01-10 12:00 UTC);
        let feb = datetime!(2026-02-10 12:00 UTC);
        let mar = datetime!(2026-03-10 12:00 UTC);
        let cases: Vec<Case> = vec![
            (
                vec![(Earn, 100, jan), (Earn, 50, feb), (Redeem, -30, mar)],
                datetime!(2026-04-11 00:00 UTC),
                70,
                Some((50, date(2026, 5, 10))),
            ),
            (
                vec![(Earn, 100, jan), (Earn, 50, feb), (Redeem, -120, mar)],
                datetime!(2026-04-11 00:00 UTC),
                0,
                Some((30, date(2026, 5, 10))),
            ),
            (
                vec![(Earn, 100, jan), (Adjust, -100, feb), (Earn, 5, mar)],
                datetime!(2026-05-11 00:00 UTC),
                0,
                Some((5, date(2026, 6, 10))),
            ),
            (
                vec![(Earn, 100, jan), (Adjust, 20, feb)],
                datetime!(2026-04-10 12:00 UTC),
                0,
                Some((100, date(2026, 4, 10))),
            ),
            // Two credits on one day share a lot.
            (
                vec![(Earn, 10, jan), (Earn, 15, jan + time::Duration::hours(2))],
                datetime!(2026-01-11 00:00 UTC),
                0,
                Some((25, date(2026, 4, 10))),
            ),
        ];
        for (i, (entries, now, due, next)) in cases.into_iter().enumerate() {
            let lots = fold(ExpiryRule::Earned, 3, "UTC", &entries);
            assert_eq!(lots.due(now), due, "case {i}");
            assert_eq!(
                lots.next(now).map(|e| (e.points, e.last_day)),
                next,
                "case {i}"
            );
        }
    }

    #[test]
    fn expiring_what_is_due_leaves_nothing_due() {
        let jan = datetime!(2026-01-10 12:00 UTC);
        let feb = datetime!(2026-02-10 12:00 UTC);
        let now = datetime!(2026-05-01 04:00 UTC);
        for rule in [ExpiryRule::Earned, ExpiryRule::Inactive] {
            let mut lots = fold(rule, 2, "UTC", &[(Earn, 100, jan), (Earn, 40, feb)]);
            let due = lots.due(now);
            assert!(due > 0, "{rule:?}");
            lots.add(Expire, -due, now);
            assert_eq!(lots.due(now), 0, "{rule:?}");
            assert_eq!(lots.due(now + time::Duration::days(3)), 0, "{rule:?}");
            assert!(lots.balance() >= 0);
        }
    }

    #[test]
    fn never_more_than_the_balance() {
        let jan = datetime!(2026-01-10 12:00 UTC);
        let mut lots = fold(ExpiryRule::Earned, 1, "UTC", &[(Earn, 10, jan)]);
        // A debit larger than the lots (which the ledger forbids) still never drives it below.
        lots.add(Redeem, -25, jan);
        assert_eq!(lots.due(datetime!(2027-01-01 00:00 UTC)), 0);
        assert!(lots.schedule().is_empty());
    }

    #[test]
    fn inactivity_lapses_the_whole_balance() {
        let jan = datetime!(2026-01-10 12:00 UTC);
        let mar = datetime!(2026-03-31 09:00 UTC);
        let lots = fold(
            ExpiryRule::Inactive,
            2,
            "UTC",
            &[(Earn, 100, jan), (Redeem, -30, mar)],
        );
        // The redemption on 31 Mar is activity: two months later is 31 May.
        assert_eq!(
            lots.next(mar).map(|e| (e.points, e.last_day)),
            Some((70, date(2026, 5, 31)))
        );
        assert_eq!(lots.due(datetime!(2026-05-31 23:59 UTC)), 0);
        assert_eq!(lots.due(datetime!(2026-06-01 00:00 UTC)), 70);
        // An expiry is not activity.
        let mut after = lots.clone();
        after.add(Expire, -70, datetime!(2026-06-01 04:00 UTC));
        assert_eq!(after.schedule(), vec![]);
    }

    #[test]
    fn points_before_the_policy_count_from_when_it_was_switched_on() {
        let mut lots = Lots::new(
            ExpiryPolicy {
                rule: ExpiryRule::Earned,
                months: months(6),
                since: datetime!(2026-06-15 10:00 UTC),
            },
            zone("UTC"),
        );
        lots.add(Earn, 80, datetime!(2024-01-01 10:00 UTC));
        assert_eq!(lots.due(datetime!(2026-06-16 04:00 UTC)), 0);
        assert_eq!(
            lots.next(datetime!(2026-06-16 04:00 UTC))
                .map(|e| e.last_day),
            Some(date(2026, 12, 15))
        );
    }

    #[test]
    fn warnings_name_what_lapses_soon() {
        let jan = datetime!(2026-01-10 12:00 UTC);
        let feb = datetime!(2026-02-10 12:00 UTC);
        let lots = fold(
            ExpiryRule::Earned,
            1,
            "UTC",
            &[(Earn, 5, jan), (Earn, 7, feb)],
        );
        let soon = lots.within(datetime!(2026-02-01 00:00 UTC), 14);
        assert_eq!(soon.iter().map(|e| e.points).collect::<Vec<_>>(), vec![5]);
        assert!(lots.within(datetime!(2026-01-11 00:00 UTC), 14).is_empty());
    }

    #[test]
    fn kept_lots_give_the_same_answers_as_the_fold() {
        let jan = datetime!(2026-01-31 22:30 UTC);
        let feb = datetime!(2026-02-10 12:00 UTC);
        let mar = datetime!(2026-03-10 12:00 UTC);
        let entries = [
            (Earn, 100, jan),
            (Earn, 50, feb),
            (Redeem, -30, mar),
            (Earn, 7, mar),
        ];
        for (rule, tz) in [
            (ExpiryRule::Earned, "UTC"),
            (ExpiryRule::Earned, "Pacific/Auckland"),
            (ExpiryRule::Inactive, "America/New_York"),
        ] {
            let whole = fold(rule, 3, tz, &entries);
            let (head, tail) = entries.split_at(2);
            // Kept after two entries, resumed, then the rest folded in: as if never stored.
            let kept = fold(rule, 3, tz, head).kept();
            let json = serde_json::to_string(&kept).expect("encodes");
            let kept: KeptLots = serde_json::from_str(&json).expect("decodes");
            let mut resumed = Lots::resume(policy(rule, 3), zone(tz), &kept).expect("same policy");
            for (kind, points, at) in tail {
                resumed.add(*kind, *points, *at);
            }
            assert_eq!(resumed.schedule(), whole.schedule(), "{rule:?} {tz}");
            assert_eq!(resumed.balance(), whole.balance());
            for now in [
                mar,
                datetime!(2026-05-01 00:00 UTC),
                datetime!(2026-07-01 00:00 UTC),
            ] {
                assert_eq!(resumed.due(now), whole.due(now), "{rule:?} {tz} {now}");
                assert_eq!(resumed.next(now), whole.next(now), "{rule:?} {tz} {now}");
            }
            // A change of rule reads the same lots.
            let other = match rule {
                ExpiryRule::Earned => ExpiryRule::Inactive,
                ExpiryRule::Inactive => ExpiryRule::Earned,
            };
            assert!(Lots::resume(policy(other, 3), zone(tz), &kept).is_some());
        }
        // Kept under other months, another start or another zone: folded again.
        let kept = fold(ExpiryRule::Earned, 3, "UTC", &entries).kept();
        assert!(Lots::resume(policy(ExpiryRule::Earned, 4), zone("UTC"), &kept).is_none());
        assert!(Lots::resume(policy(ExpiryRule::Earned, 3), zone("Europe/Paris"), &kept).is_none());
        let later = ExpiryPolicy {
            since: datetime!(2026-04-01 00:00 UTC),
            ..policy(ExpiryRule::Earned, 3)
        };
        assert!(Lots::resume(later, zone("UTC"), &kept).is_none());
    }

    #[test]
    fn an_opening_balance_is_what_folding_older_entries_gives() {
        let since = datetime!(2026-06-15 10:00 UTC);
        for rule in [ExpiryRule::Earned, ExpiryRule::Inactive] {
            let p = ExpiryPolicy {
                rule,
                months: months(6),
                since,
            };
            let mut folded = Lots::new(p, zone("Europe/Berlin"));
            for (kind, points, at) in [
                (Earn, 80, datetime!(2024-01-01 10:00 UTC)),
                (Redeem, -30, datetime!(2025-03-01 10:00 UTC)),
                (Earn, 12, datetime!(2026-06-15 09:00 UTC)),
            ] {
                folded.add(kind, points, at);
            }
            let opening = Lots::opening(p, zone("Europe/Berlin"), 62);
            assert_eq!(opening.schedule(), folded.schedule(), "{rule:?}");
            let soon = datetime!(2026-07-01 00:00 UTC);
            assert_eq!(opening.next(soon), folded.next(soon), "{rule:?}");
        }
    }

    #[test]
    fn kept_lots_are_bounded_by_the_window_not_the_history() {
        // Ten years of daily earning and monthly redemptions under a 12-month policy, expired
        // as the job would: the summary never holds more than a window's days.
        let p = policy(ExpiryRule::Earned, 12);
        let mut lots = Lots::new(p, zone("UTC"));
        let start = datetime!(2016-01-01 12:00 UTC);
        let mut most = 0;
        for day in 0..3650 {
            let now = start + time::Duration::days(day);
            let due = lots.due(now);
            if due > 0 {
                lots.add(Expire, -due, now);
            }
            lots.add(Earn, 5, now);
            if day % 30 == 29 {
                lots.add(Redeem, -40, now);
            }
            most = most.max(lots.kept().len());
        }
        assert!(most <= 366, "{most} lots kept");
        let json = serde_json::to_vec(&lots.kept()).expect("encodes");
        assert!(json.len() < 366 * 20 + 200, "{} bytes", json.len());
    }

    #[test]
    fn notices_read_as_a_sentence() {
        let e = Expiring {
            points: 120,
            last_day: date(2027, 3, 31),
            at: datetime!(2027-04-01 00:00 UTC),
        };
        assert_eq!(e.notice(), "120 points expire on 31 Mar 2027");
        let one = Expiring { points: 1, ..e };
        assert_eq!(one.notice(), "1 point expires on 31 Mar 2027");
    }

    #[test]
    fn a_policy_keeps_when_it_was_first_switched_on() {
        let first = ExpiryPolicy::set(
            None,
            ExpiryRule::Earned,
            months(12),
            datetime!(2026-01-01 00:00 UTC),
        );
        let changed = ExpiryPolicy::set(
            Some(&first),
            ExpiryRule::Inactive,
            months(6),
            datetime!(2026-05-01 00:00 UTC),
        );
        assert_eq!(changed.since, first.since);
        assert_eq!(
            changed.describe(),
            "The whole balance expires after 6 months without activity."
        );
    }
}
