//! Tiers: levels a member reaches by points earned, each with a multiplier on earning by amount.

use super::DomainError;
use super::ledger::MAX_POINTS;
use super::settings::Colour;
use super::text::clean;
use time::OffsetDateTime;

/// The most levels a ladder may have.
pub const MAX_TIERS: usize = 5;

/// What a member's tier is measured on; owners disagree, so they choose.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TierBasis {
    /// Points earned since joining (earns less reversed earns).
    #[default]
    Lifetime,
    /// Points earned in this calendar month (UTC) and the 11 before it.
    #[serde(rename = "last_12_months")]
    Last12Months,
}

impl TierBasis {
    /// Parses `lifetime` or `last_12_months`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.trim() {
            "lifetime" => Ok(Self::Lifetime),
            "last_12_months" => Ok(Self::Last12Months),
            _ => Err(DomainError::invalid(
                "tier_basis",
                "must be lifetime or last_12_months",
            )),
        }
    }

    /// The basis as the API and forms write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lifetime => "lifetime",
            Self::Last12Months => "last_12_months",
        }
    }

    /// The basis in words, for pages.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::Lifetime => "points earned since joining",
            Self::Last12Months => "points earned in the last 12 months",
        }
    }
}

/// An earning multiplier in hundredths: 100 is ×1.00, 125 is ×1.25; 1.00 to 10.00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Multiplier(u32);

impl Multiplier {
    /// ×1.00: earning unchanged.
    pub const ONE: Self = Self(100);

    /// Parses hundredths: 100 (×1.00) to 1000 (×10.00).
    pub fn parse(hundredths: i64) -> Result<Self, DomainError> {
        u32::try_from(hundredths)
            .ok()
            .filter(|h| (100..=1000).contains(h))
            .map(Self)
            .ok_or_else(|| {
                DomainError::invalid(
                    "multiplier_hundredths",
                    "must be between 100 (×1.00) and 1000 (×10.00)",
                )
            })
    }

    /// Parses a multiplier as people write it: "1.5", "1,25", "2", an optional leading "×" or "x".
    pub fn parse_decimal(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::invalid(
                "multiplier",
                "must be a number from 1.00 to 10.00, such as 1.25",
            )
        };
        let t = raw
            .trim()
            .trim_start_matches(['×', 'x', 'X'])
            .trim()
            .replace(',', ".");
        let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
        if whole.is_empty()
            || frac.len() > 2
            || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        let hundredths = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(bad)?;
        Self::parse(hundredths).map_err(|_| bad())
    }

    /// "1.25", for forms.
    pub fn as_decimal(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// The multiplier in hundredths.
    pub fn hundredths(self) -> u32 {
        self.0
    }

    /// `points` times the multiplier, rounded down; refused past `MAX_POINTS` (the cap on one entry).
    pub fn apply(self, points: i64) -> Result<i64, DomainError> {
        let out = points
            .checked_mul(i64::from(self.0))
            .map(|p| p.div_euclid(100))
            .filter(|p| *p <= MAX_POINTS);
        out.ok_or_else(|| {
            DomainError::invalid(
                "amount_minor",
                format!(
                    "with the tier multiplier this amount earns more than {MAX_POINTS} points, the most one entry may add"
                ),
            )
        })
    }

    /// "×1.25".
    pub fn in_words(self) -> String {
        format!("×{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// One level of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tier {
    /// Shown on the card, e.g. "Gold".
    pub name: String,
    /// The tier's colour on the card.
    pub colour: Colour,
    /// Points (on the ladder's basis) from which a member is in this tier.
    pub threshold: i64,
    /// Applied to points earned by amount.
    pub multiplier: Multiplier,
}

impl Tier {
    /// Parses one level from its raw parts.
    pub fn parse(
        name: &str,
        colour: &str,
        threshold: i64,
        multiplier_hundredths: i64,
    ) -> Result<Self, DomainError> {
        let name = clean("tier_name", name, 30)?;
        let colour = Colour::parse(colour).map_err(|_| {
            DomainError::invalid("tier_colour", "must be a colour written as #rrggbb")
        })?;
        if !(0..=MAX_POINTS).contains(&threshold) {
            return Err(DomainError::invalid(
                "tier_threshold",
                format!("must be between 0 and {MAX_POINTS} points"),
            ));
        }
        Ok(Self {
            name,
            colour,
            threshold,
            multiplier: Multiplier::parse(multiplier_hundredths)?,
        })
    }
}

/// The owner's tier settings: off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierSettings {
    /// Whether tiers apply.
    pub enabled: bool,
    /// What the thresholds are measured on.
    pub basis: TierBasis,
    /// The levels, lowest first (validated by `TierSettings::parse`).
    pub tiers: Vec<Tier>,
}

/// Where a member stands on the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing<'a> {
    /// The member's tier.
    pub tier: &'a Tier,
    /// The next tier up, if any.
    pub next: Option<&'a Tier>,
    /// Points still to earn for the next tier (0 at the top).
    pub to_next: i64,
}

impl TierSettings {
    /// Checks a ladder: 1 to 5 levels when on, thresholds strictly increasing from 0, names unique.
    pub fn parse(enabled: bool, basis: TierBasis, tiers: Vec<Tier>) -> Result<Self, DomainError> {
        if tiers.len() > MAX_TIERS {
            return Err(DomainError::invalid(
                "tiers",
                format!("at most {MAX_TIERS} tiers"),
            ));
        }
        if enabled && tiers.is_empty() {
            return Err(DomainError::invalid(
                "tiers",
                "add at least one tier to switch tiers on",
            ));
        }
        if let Some(first) = tiers.first()
            && first.threshold != 0
        {
            return Err(DomainError::invalid(
                "tier_threshold",
                "the first tier starts at 0 points, so every member is in a tier",
            ));
        }
        if tiers.windows(2).any(|w| w[1].threshold <= w[0].threshold) {
            return Err(DomainError::invalid(
                "tier_threshold",
                "each tier needs more points than the one before it",
            ));
        }
        for (i, t) in tiers.iter().enumerate() {
            let dup = tiers[..i]
                .iter()
                .any(|u| u.name.to_lowercase() == t.name.to_lowercase());
            if dup {
                return Err(DomainError::invalid(
                    "tier_name",
                    format!("two tiers are called {}", t.name),
                ));
            }
        }
        Ok(Self {
            enabled,
            basis,
            tiers,
        })
    }

    /// The member's place for a basis value; `None` when tiers are off.
    pub fn standing(&self, value: i64) -> Option<Standing<'_>> {
        if !self.enabled {
            return None;
        }
        let idx = self.tiers.iter().rposition(|t| t.threshold <= value)?;
        let next = self.tiers.get(idx + 1);
        Some(Standing {
            tier: &self.tiers[idx],
            next,
            to_next: next.map_or(0, |n| n.threshold.saturating_sub(value)),
        })
    }

    /// Points for an earn by amount after the tier multiplier of a member with `lifetime` points
    /// earned and the given recent summary, and the tier when it changed anything.
    pub fn multiplied(
        &self,
        points: i64,
        lifetime: i64,
        recent: &RecentEarnings,
        now: OffsetDateTime,
    ) -> Result<(i64, Option<&Tier>), DomainError> {
        match self.standing(self.basis_value(lifetime, recent, now)) {
            Some(s) if s.tier.multiplier != Multiplier::ONE => {
                Ok((s.tier.multiplier.apply(points)?, Some(s.tier)))
            }
            _ => Ok((points, None)),
        }
    }

    /// The basis value for a member with `lifetime` points earned and the given recent summary.
    pub fn basis_value(&self, lifetime: i64, recent: &RecentEarnings, now: OffsetDateTime) -> i64 {
        match self.basis {
            TierBasis::Lifetime => lifetime,
            TierBasis::Last12Months => recent.total(month_of(now)),
        }
    }
}

/// The entry's reason with the tier that multiplied it: "Gold tier ×1.50", after the given reason
/// when there is one (the given reason alone if both would not fit).
pub fn tier_reason(given: Option<&str>, tier: &Tier) -> String {
    let note = format!("{} tier {}", tier.name, tier.multiplier.in_words());
    match given {
        None => note,
        Some(r)
            if r.chars().count() + note.chars().count() + 3 <= super::ledger::Reason::MAX_CHARS =>
        {
            format!("{r} · {note}")
        }
        Some(r) => r.to_owned(),
    }
}

/// A month counted from year 0: `year * 12 + (month - 1)`, in UTC.
pub fn month_of(t: OffsetDateTime) -> i32 {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.year() * 12 + i32::from(u8::from(t.month())) - 1
}

/// Months in the rolling window.
const WINDOW: usize = 12;

/// Points earned per month for the last 12 months: a fixed size per member, updated in the same
/// write as each earn and reversal, so the rolling basis never needs a ledger scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecentEarnings {
    /// The newest month held (see `month_of`).
    pub month: i32,
    /// Points earned in `month`, `month - 1`, … `month - 11`.
    pub points: [i64; WINDOW],
}

impl RecentEarnings {
    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.points.iter().all(|p| *p == 0)
    }

    /// Moves the window forward so `month` is the newest; months falling out are dropped.
    fn advance(&mut self, month: i32) {
        let Ok(gap) = usize::try_from(month.saturating_sub(self.month)) else {
            return;
        };
        if gap >= WINDOW {
            self.points = [0; WINDOW];
        } else if gap > 0 {
            self.points.rotate_right(gap);
            self.points[..gap].fill(0);
        }
        self.month = month;
    }

    /// Adds `points` (negative for a reversal) to the month `at` falls in, at `now`; a month
    /// already out of the window is not counted, and no month goes below zero.
    pub fn add(&mut self, at: OffsetDateTime, points: i64, now: OffsetDateTime) {
        self.advance(month_of(now).max(self.month));
        let Ok(age) = usize::try_from(self.month.saturating_sub(month_of(at))) else {
            return;
        };
        if let Some(slot) = self.points.get_mut(age) {
            *slot = slot.saturating_add(points).max(0);
        }
    }

    /// Points earned in `now_month` and the 11 months before it.
    pub fn total(&self, now_month: i32) -> i64 {
        let Ok(gap) = usize::try_from(now_month.saturating_sub(self.month)) else {
            // A clock set back: count what is held.
            return self.points.iter().fold(0, |a, p| a.saturating_add(*p));
        };
        self.points
            .iter()
            .take(WINDOW.saturating_sub(gap))
            .fold(0, |a, p| a.saturating_add(*p))
    }
}

/// A member's tier bookkeeping, kept on the member's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberTier {
    /// The tier last recorded for the member (by name), if tiers were on.
    #[serde(default)]
    pub current: Option<String>,
    /// The tier before the last move.
    #[serde(default)]
    pub previous: Option<String>,
    /// When the last move happened.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub moved_at: Option<OffsetDateTime>,
    /// Points earned per month, for the rolling basis.
    #[serde(default)]
    pub recent: RecentEarnings,
}

impl MemberTier {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.current.is_none() && self.moved_at.is_none() && self.recent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use time::macros::datetime;

    fn tier(name: &str, threshold: i64, mult: i64) -> Tier {
        Tier::parse(name, "#aa7700", threshold, mult).expect("test tier")
    }

    fn ladder() -> TierSettings {
        TierSettings::parse(
            true,
            TierBasis::Lifetime,
            vec![
                tier("Bronze", 0, 100),
                tier("Silver", 100, 125),
                tier("Gold", 500, 150),
            ],
        )
        .expect("valid ladder")
    }

    #[test]
    fn tier_lookup_at_thresholds() {
        let l = ladder();
        for (value, name, to_next) in [
            (0, "Bronze", 100),
            (99, "Bronze", 1),
            (100, "Silver", 400),
            (499, "Silver", 1),
            (500, "Gold", 0),
            (1_000_000, "Gold", 0),
        ] {
            let s = l.standing(value).expect("tiers on");
            assert_eq!(s.tier.name, name, "at {value}");
            assert_eq!(s.to_next, to_next, "at {value}");
        }
        assert_eq!(l.standing(-5), None, "below the first threshold: no tier");
        let off = TierSettings {
            enabled: false,
            ..ladder()
        };
        assert_eq!(off.standing(1000), None);
    }

    #[test]
    fn multiplier_arithmetic_rounds_down() {
        for (hundredths, points, out) in [
            (100, 19, Some(19)),
            (125, 19, Some(23)), // 23.75
            (150, 1, Some(1)),   // 1.5
            (200, 7, Some(14)),
            (133, 3, Some(3)), // 3.99
            (1000, MAX_POINTS / 10, Some(MAX_POINTS / 10 * 10)),
            (1000, MAX_POINTS, None),
            (200, i64::MAX, None),
        ] {
            let m = Multiplier::parse(hundredths).expect("valid multiplier");
            assert_eq!(m.apply(points).ok(), out, "{hundredths} × {points}");
        }
        assert_eq!(
            Multiplier::parse(125).map(Multiplier::in_words),
            Ok("×1.25".into())
        );
        for (raw, out) in [
            ("1", Some(100)),
            ("1.5", Some(150)),
            ("1,25", Some(125)),
            ("×2", Some(200)),
            ("10.00", Some(1000)),
            ("10.01", None),
            ("0.5", None),
            ("1.255", None),
            ("", None),
            ("-1", None),
            ("1e2", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(
                Multiplier::parse_decimal(raw)
                    .ok()
                    .map(Multiplier::hundredths),
                out,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn ladder_validation() {
        let ok = |t: Vec<Tier>| TierSettings::parse(true, TierBasis::Lifetime, t).is_ok();
        assert!(ok(vec![tier("A", 0, 100)]));
        assert!(ok(vec![tier("A", 0, 100), tier("B", 1, 1000)]));
        assert!(!ok(vec![]), "on with no tiers");
        assert!(
            TierSettings::parse(false, TierBasis::Lifetime, vec![]).is_ok(),
            "off with no tiers"
        );
        assert!(!ok(vec![tier("A", 10, 100)]), "first not at 0");
        assert!(
            !ok(vec![tier("A", 0, 100), tier("B", 0, 100)]),
            "equal thresholds"
        );
        assert!(
            !ok(vec![
                tier("A", 0, 100),
                tier("B", 50, 100),
                tier("C", 20, 100)
            ]),
            "decreasing"
        );
        assert!(
            !ok(vec![tier("Gold", 0, 100), tier("gold", 5, 100)]),
            "same name"
        );
        let six = (0..6)
            .map(|i| tier(&format!("T{i}"), i * 10, 100))
            .collect();
        assert!(!ok(six), "six tiers");
        for bad in [0, 99, 1001, -100] {
            assert!(Multiplier::parse(bad).is_err(), "multiplier {bad}");
        }
        assert!(Tier::parse("", "#000000", 0, 100).is_err(), "no name");
        assert!(Tier::parse("A", "gold", 0, 100).is_err(), "bad colour");
        assert!(
            Tier::parse("A", "#000000", -1, 100).is_err(),
            "negative threshold"
        );
    }

    #[test]
    fn the_twelve_month_window_moves_across_month_ends() {
        let mut r = RecentEarnings::default();
        let jan31 = datetime!(2026-01-31 23:59:59 UTC);
        let feb1 = datetime!(2026-02-01 00:00:00 UTC);
        r.add(jan31, 100, jan31);
        r.add(feb1, 50, feb1);
        // (when, expected total)
        for (now, total) in [
            (feb1, 150),
            (datetime!(2026-12-31 23:59:59 UTC), 150),
            (datetime!(2027-01-01 00:00:00 UTC), 50), // January 2026 left the window
            (datetime!(2027-01-31 12:00:00 UTC), 50),
            (datetime!(2027-02-01 00:00:00 UTC), 0),
            (datetime!(2030-06-15 00:00:00 UTC), 0),
        ] {
            assert_eq!(r.total(month_of(now)), total, "at {now}");
        }
        // An offset time counts in its UTC month.
        assert_eq!(
            month_of(datetime!(2026-03-01 00:30:00 +01:00)),
            month_of(feb1),
            "00:30 at +01:00 on 1 March is still February in UTC"
        );
        // A reversal in a later month takes the points from the month they were earned in.
        let mar = datetime!(2026-03-10 10:00:00 UTC);
        r.add(jan31, -100, mar);
        assert_eq!(r.total(month_of(mar)), 50);
        // Reversing something already out of the window changes nothing, and never goes below 0.
        let later = datetime!(2027-02-10 10:00:00 UTC);
        r.add(feb1, -50, later);
        assert_eq!(r.total(month_of(later)), 0);
        r.add(later, -10, later);
        assert_eq!(r.total(month_of(later)), 0);
        // A long gap empties the window before the new month is counted.
        r.add(later, 30, later);
        assert_eq!(r.total(month_of(later)), 30);
        assert_eq!(r.points.iter().sum::<i64>(), 30);
    }
}
