//! Bonus campaigns: time-boxed rules that add to what a purchase earns, and the one function
//! that works out what a purchase earns with them (used by the real earn and by the preview).
//!
//! How rules stack: the single best multiplier among the member's tier and the matching
//! campaigns applies (never their product), then every matching fixed bonus is added. A
//! multiplier is what a business budgets for ("at most double"), so stacking three of them into
//! ×7.5 by accident would cost an owner far more than they set; the preview says which one won.

use super::DomainError;
use super::ledger::{MAX_POINTS, Reason};
use super::text::clean;
use super::tiers::{Multiplier, Tier};
use jiff::civil::{Date, Weekday};

/// The most campaigns a business may keep.
pub const MAX_CAMPAIGNS: usize = 20;

/// The largest fixed bonus one campaign may give.
pub const MAX_BONUS: i64 = 100_000;

/// A product category as a shop passes it: a short slug such as `coffee-beans`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);

impl Category {
    /// Parses 1 to 40 letters, digits and hyphens, starting with a letter or digit; capitals
    /// are lowered (a till types "Coffee-Beans"), so the API documents
    /// `^[A-Za-z0-9][A-Za-z0-9-]{0,39}$`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.to_ascii_lowercase();
        let ok = (1..=40).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s))
        } else {
            Err(DomainError::invalid(
                "category",
                "must be 1 to 40 lower-case letters, digits or hyphens, such as coffee-beans",
            ))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Category {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<Category> for String {
    fn from(c: Category) -> Self {
        c.0
    }
}

/// A calendar day in the business's time zone, written `YYYY-MM-DD`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct LocalDate(Date);

impl LocalDate {
    /// The documented pattern.
    pub const PATTERN: &'static str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

    /// Parses `YYYY-MM-DD`; `field` names it in the error.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        let t = raw.trim();
        let shaped = t.len() == 10
            && t.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        match t.parse::<Date>() {
            Ok(d) if shaped => Ok(Self(d)),
            _ => Err(DomainError::invalid(
                field,
                "must be a date written YYYY-MM-DD",
            )),
        }
    }

    /// The day.
    pub fn date(self) -> Date {
        self.0
    }
}

impl From<Date> for LocalDate {
    fn from(d: Date) -> Self {
        Self(d)
    }
}

impl TryFrom<String> for LocalDate {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse("date", &s)
    }
}

impl From<LocalDate> for String {
    fn from(d: LocalDate) -> Self {
        d.0.to_string()
    }
}

impl std::fmt::Display for LocalDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The days of the week, as the API and forms write them, Monday first.
pub const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// Parses a weekday name (`tuesday`; capitals allowed).
pub fn parse_weekday(raw: &str) -> Result<Weekday, DomainError> {
    let t = raw.trim().to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .find(|(n, _)| *n == t)
        .map(|(_, d)| *d)
        .ok_or_else(|| DomainError::invalid("days", "must be weekday names such as tuesday"))
}

/// A weekday's name as the API writes it.
pub fn weekday_name(d: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(_, w)| *w == d)
        .map_or("monday", |(n, _)| n)
}

/// What a campaign does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Multiplies purchases made on the given local weekdays.
    Weekdays {
        /// The days (at least one, no repeats), Monday first.
        days: Vec<String>,
        /// The multiplier.
        multiplier: Multiplier,
    },
    /// Adds a fixed number of points to a member's first purchase.
    FirstPurchase {
        /// The points added.
        bonus: i64,
    },
    /// Multiplies purchases of one product category (passed with the earn).
    Category {
        /// The category.
        category: Category,
        /// The multiplier.
        multiplier: Multiplier,
    },
}

impl Rule {
    /// The kind as the API writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Weekdays { .. } => "weekdays",
            Self::FirstPurchase { .. } => "first_purchase",
            Self::Category { .. } => "category",
        }
    }

    /// Builds a rule from its raw parts, as the API and the form send them.
    pub fn parse(
        kind: &str,
        days: &[String],
        multiplier_hundredths: Option<i64>,
        bonus: Option<i64>,
        category: Option<&str>,
    ) -> Result<Self, DomainError> {
        let multiplier = || {
            multiplier_hundredths
                .map(Multiplier::parse)
                .unwrap_or_else(|| {
                    Err(DomainError::invalid(
                        "multiplier_hundredths",
                        "is needed for this kind of campaign",
                    ))
                })
        };
        match kind.trim() {
            "weekdays" => {
                let mut parsed = Vec::new();
                for d in days {
                    let w = parse_weekday(d)?;
                    if parsed.contains(&w) {
                        return Err(DomainError::invalid("days", "names a day twice"));
                    }
                    parsed.push(w);
                }
                if parsed.is_empty() {
                    return Err(DomainError::invalid("days", "choose at least one day"));
                }
                parsed.sort_by_key(|w| w.to_monday_zero_offset());
                Ok(Self::Weekdays {
                    days: parsed
                        .into_iter()
                        .map(|w| weekday_name(w).to_owned())
                        .collect(),
                    multiplier: multiplier()?,
                })
            }
            "first_purchase" => {
                let bonus = bonus
                    .filter(|b| (1..=MAX_BONUS).contains(b))
                    .ok_or_else(|| {
                        DomainError::invalid(
                            "bonus",
                            format!("must be between 1 and {MAX_BONUS} points"),
                        )
                    })?;
                Ok(Self::FirstPurchase { bonus })
            }
            "category" => {
                let category = Category::parse(category.unwrap_or("").trim())?;
                Ok(Self::Category {
                    category,
                    multiplier: multiplier()?,
                })
            }
            _ => Err(DomainError::invalid(
                "kind",
                "must be weekdays, first_purchase or category",
            )),
        }
    }

    /// The effect in words: "×2.00", "+50".
    pub fn effect(&self) -> String {
        match self {
            Self::Weekdays { multiplier, .. } | Self::Category { multiplier, .. } => {
                multiplier.in_words()
            }
            Self::FirstPurchase { bonus } => format!("+{bonus}"),
        }
    }

    /// When it applies, in words: "on Tuesdays", "on a first purchase", "for coffee-beans".
    pub fn condition(&self) -> String {
        match self {
            Self::Weekdays { days, .. } => {
                let names: Vec<String> = days
                    .iter()
                    .map(|d| {
                        let mut c = d.chars();
                        c.next().map_or(String::new(), |f| {
                            f.to_uppercase().chain(c).collect::<String>() + "s"
                        })
                    })
                    .collect();
                format!("on {}", names.join(", "))
            }
            Self::FirstPurchase { .. } => "on a member's first purchase".to_owned(),
            Self::Category { category, .. } => format!("for {}", category.as_str()),
        }
    }
}

/// One campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Campaign {
    /// Shown in the entry's reason, e.g. "Double Tuesdays"; unique.
    pub name: String,
    /// What it does.
    pub rule: Rule,
    /// The first local day it runs (inclusive), if any.
    #[serde(default)]
    pub starts: Option<LocalDate>,
    /// The last local day it runs (inclusive), if any.
    #[serde(default)]
    pub ends: Option<LocalDate>,
    /// Whether it is switched on.
    pub enabled: bool,
}

impl Campaign {
    /// Checks a campaign's name and dates.
    pub fn parse(
        name: &str,
        rule: Rule,
        starts: Option<LocalDate>,
        ends: Option<LocalDate>,
        enabled: bool,
    ) -> Result<Self, DomainError> {
        let name = clean("name", name, 40)?;
        if let (Some(s), Some(e)) = (starts, ends)
            && e < s
        {
            return Err(DomainError::invalid(
                "ends",
                "must be on or after the start date",
            ));
        }
        Ok(Self {
            name,
            rule,
            starts,
            ends,
            enabled,
        })
    }

    /// Whether `day` lies in the campaign's dates (both ends inclusive).
    pub fn runs_on(&self, day: Date) -> bool {
        self.starts.is_none_or(|s| s.date() <= day) && self.ends.is_none_or(|e| day <= e.date())
    }
}

/// Checks a list of campaigns: at most `MAX_CAMPAIGNS`, names unique.
pub fn parse_list(list: Vec<Campaign>) -> Result<Vec<Campaign>, DomainError> {
    if list.len() > MAX_CAMPAIGNS {
        return Err(DomainError::invalid(
            "campaigns",
            format!("at most {MAX_CAMPAIGNS} campaigns"),
        ));
    }
    for (i, c) in list.iter().enumerate() {
        if list[..i]
            .iter()
            .any(|o| o.name.to_lowercase() == c.name.to_lowercase())
        {
            return Err(DomainError::invalid(
                "name",
                format!("two campaigns are called {}", c.name),
            ));
        }
    }
    Ok(list)
}

/// A purchase as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase<'a> {
    /// Points under the plain earning rule.
    pub base: i64,
    /// The local day of the earn, in the business's time zone.
    pub day: Date,
    /// Whether this is the member's first purchase.
    pub first: bool,
    /// The product category passed with the earn, if any.
    pub category: Option<&'a Category>,
    /// The member's tier, if tiers are on.
    pub tier: Option<&'a Tier>,
}

/// Why a campaign did or did not count, for the preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its multiplier or bonus is in the total.
    Applied,
    /// It matched, but a higher multiplier won.
    Outdone,
    /// Switched off.
    Off,
    /// The day is outside its dates.
    OutOfDates,
    /// The purchase does not meet its condition.
    NoMatch,
}

impl Verdict {
    /// The verdict in words.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::Applied => "applies",
            Self::Outdone => "matches, but a higher multiplier applies instead",
            Self::Off => "switched off",
            Self::OutOfDates => "not running on this day",
            Self::NoMatch => "does not match this purchase",
        }
    }
}

/// One campaign's line in the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The campaign's name.
    pub name: String,
    /// "×2.00" or "+50".
    pub effect: String,
    /// Whether and why it counted.
    pub verdict: Verdict,
    /// Points it added beyond the tier (0 unless applied).
    pub bonus: i64,
}

/// What a purchase earns with the tier and the campaigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Points under the plain earning rule.
    pub base: i64,
    /// Points with the tier alone (what the purchase would earn with no campaign).
    pub with_tier: i64,
    /// The points the entry gets.
    pub points: i64,
    /// Points the campaigns added: `points - with_tier`.
    pub bonus: i64,
    /// The multiplier that applied and whose it is (`None`: none above ×1.00).
    pub multiplier: Option<(String, Multiplier)>,
    /// Each campaign, in the order given.
    pub lines: Vec<Line>,
    /// What the entry's reason notes: "Gold tier ×1.50", "Double Tuesdays ×2.00 · First purchase +50".
    pub notes: Vec<String>,
}

fn too_many() -> DomainError {
    DomainError::invalid(
        "amount_minor",
        format!(
            "with the tier and campaign bonuses this amount earns more than {MAX_POINTS} points, the most one entry may add"
        ),
    )
}

/// What `p` earns with its tier and `campaigns`: the best multiplier, then fixed bonuses; the
/// total is refused past `MAX_POINTS`, the cap on one entry.
pub fn evaluate(campaigns: &[Campaign], p: &Purchase<'_>) -> Result<Outcome, DomainError> {
    let tier_mult = p
        .tier
        .map(|t| t.multiplier)
        .filter(|m| *m != Multiplier::ONE);
    let with_tier = match tier_mult {
        Some(m) => m.apply(p.base)?,
        None => p.base,
    };
    let verdicts: Vec<Verdict> = campaigns
        .iter()
        .map(|c| {
            let matches = match &c.rule {
                Rule::Weekdays { days, .. } => {
                    days.iter().any(|d| d == weekday_name(p.day.weekday()))
                }
                Rule::FirstPurchase { .. } => p.first,
                Rule::Category { category, .. } => p.category == Some(category),
            };
            if !c.enabled {
                Verdict::Off
            } else if !c.runs_on(p.day) {
                Verdict::OutOfDates
            } else if matches {
                Verdict::Applied
            } else {
                Verdict::NoMatch
            }
        })
        .collect();
    // The best campaign multiplier; the first listed wins a tie, and the tier wins a tie with it.
    let best = campaigns
        .iter()
        .zip(&verdicts)
        .enumerate()
        .filter_map(|(i, (c, v))| match (&c.rule, v) {
            (
                Rule::Weekdays { multiplier, .. } | Rule::Category { multiplier, .. },
                Verdict::Applied,
            ) => Some((i, *multiplier)),
            _ => None,
        })
        .fold(None::<(usize, Multiplier)>, |acc, (i, m)| match acc {
            Some((_, a)) if a.hundredths() >= m.hundredths() => acc,
            _ => Some((i, m)),
        })
        .filter(|(_, m)| m.hundredths() > tier_mult.map_or(100, Multiplier::hundredths));
    let multiplied = match best {
        Some((_, m)) => m.apply(p.base).map_err(|_| too_many())?,
        None => with_tier,
    };
    let mut notes = Vec::new();
    let mut multiplier = None;
    match (best, p.tier) {
        (Some((i, m)), _) => {
            notes.push(format!("{} {}", campaigns[i].name, m.in_words()));
            multiplier = Some((campaigns[i].name.clone(), m));
        }
        (None, Some(t)) if tier_mult.is_some() => {
            notes.push(format!("{} tier {}", t.name, t.multiplier.in_words()));
            multiplier = Some((format!("{} tier", t.name), t.multiplier));
        }
        _ => {}
    }
    let mut points = multiplied;
    let mut lines = Vec::with_capacity(campaigns.len());
    for (i, (c, v)) in campaigns.iter().zip(verdicts).enumerate() {
        let (verdict, bonus) = match (&c.rule, v) {
            (Rule::FirstPurchase { bonus }, Verdict::Applied) => {
                points = points
                    .checked_add(*bonus)
                    .filter(|p| *p <= MAX_POINTS)
                    .ok_or_else(too_many)?;
                notes.push(format!("{} +{bonus}", c.name));
                (Verdict::Applied, *bonus)
            }
            (_, Verdict::Applied) if best.is_some_and(|(b, _)| b == i) => {
                (Verdict::Applied, multiplied - with_tier)
            }
            (_, Verdict::Applied) => (Verdict::Outdone, 0),
            (_, other) => (other, 0),
        };
        lines.push(Line {
            name: c.name.clone(),
            effect: c.rule.effect(),
            verdict,
            bonus,
        });
    }
    Ok(Outcome {
        base: p.base,
        with_tier,
        points,
        bonus: points - with_tier,
        multiplier,
        lines,
        notes,
    })
}

/// What an earn by amount of `points` (the plain rule's) by `member` at `now` gets: the one
/// function the real earn (`ledger::post`), the till's preview and the campaigns preview share.
pub fn for_member(
    settings: &super::settings::Settings,
    member: &super::member::Member,
    points: i64,
    category: Option<&Category>,
    now: time::OffsetDateTime,
) -> Result<Outcome, DomainError> {
    let tiers = &settings.tiers;
    let standing =
        tiers.standing(tiers.basis_value(member.lifetime_earned, &member.tier.recent, now));
    let p = Purchase {
        base: points,
        day: super::ledger_check::local_date(now, &settings.time_zone.zone()),
        first: !member.purchased && member.lifetime_earned == 0,
        category,
        tier: standing.map(|s| s.tier),
    };
    evaluate(&settings.campaigns, &p)
}

/// The entry's reason: the given reason, then the notes ("Purchase · Double Tuesdays ×2.00 ·
/// First purchase +50"); the given reason is shortened rather than the notes dropped, since
/// the notes are the record of which rules applied.
pub fn reason_with(given: Option<&str>, notes: &[String]) -> Result<Option<Reason>, DomainError> {
    if notes.is_empty() {
        return given.map(Reason::parse).transpose();
    }
    let note = notes.join(" · ");
    let text = match given {
        None => note,
        Some(r) => {
            let room = Reason::MAX_CHARS.saturating_sub(note.chars().count() + 3);
            if room == 0 {
                note
            } else {
                let mut r: String = r.chars().take(room).collect();
                r = r.trim_end().to_owned();
                format!("{r} · {note}")
            }
        }
    };
    let text: String = text.chars().take(Reason::MAX_CHARS).collect();
    Reason::parse(&text).map(Some)
}

/// The bonus one entry got from the campaigns, kept beside the entry so a reversal takes
/// exactly that back out of the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryBonus {
    /// Points above what the tier alone gives.
    pub points: i64,
    /// Each applied campaign's share, by name.
    pub campaigns: Vec<(String, i64)>,
}

impl From<&Outcome> for EntryBonus {
    fn from(o: &Outcome) -> Self {
        Self {
            points: o.bonus,
            campaigns: o
                .lines
                .iter()
                .filter(|l| l.bonus != 0)
                .map(|l| (l.name.clone(), l.bonus))
                .collect(),
        }
    }
}

/// Bonus points the campaigns issued, net of reversals, in total and per campaign name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BonusTotals {
    /// All campaigns together.
    pub total: i64,
    /// By campaign name (a renamed campaign starts a new row).
    pub by_campaign: std::collections::BTreeMap<String, i64>,
}

impl BonusTotals {
    /// Counts an entry's bonus (`sign` 1) or its reversal (`sign` -1); refused, and `self`
    /// unchanged, if a total leaves i64.
    pub fn record(&mut self, b: &EntryBonus, sign: i64) -> Result<(), DomainError> {
        let mut next = self.clone();
        let signed = |p: i64| p.checked_mul(sign).ok_or(DomainError::Overflow);
        next.total = next
            .total
            .checked_add(signed(b.points)?)
            .ok_or(DomainError::Overflow)?;
        for (name, p) in &b.campaigns {
            let slot = next.by_campaign.entry(name.clone()).or_default();
            *slot = slot.checked_add(signed(*p)?).ok_or(DomainError::Overflow)?;
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use jiff::civil::date;

    fn campaign(name: &str, rule: Rule) -> Campaign {
        Campaign::parse(name, rule, None, None, true).expect("campaign")
    }

    fn tuesdays(h: i64) -> Campaign {
        campaign(
            "Double Tuesdays",
            Rule::parse("weekdays", &["tuesday".into()], Some(h), None, None).expect("rule"),
        )
    }

    fn first(bonus: i64) -> Campaign {
        campaign(
            "First purchase",
            Rule::parse("first_purchase", &[], None, Some(bonus), None).expect("rule"),
        )
    }

    fn beans(h: i64) -> Campaign {
        campaign(
            "Beans",
            Rule::parse("category", &[], Some(h), None, Some("coffee-beans")).expect("rule"),
        )
    }

    /// One row: campaigns, base points, day, first purchase, category, tier multiplier →
    /// points (None: refused) and the reason's notes.
    #[derive(Clone)]
    struct Case {
        what: &'static str,
        campaigns: Vec<Campaign>,
        base: i64,
        day: Date,
        first: bool,
        category: Option<&'static str>,
        tier: Option<i64>,
        points: Option<i64>,
        notes: &'static str,
    }

    #[test]
    fn campaign_arithmetic() {
        let tue = date(2026, 12, 1);
        let wed = date(2026, 12, 2);
        let dated = |starts: Option<Date>, ends: Option<Date>| Campaign {
            starts: starts.map(LocalDate),
            ends: ends.map(LocalDate),
            ..tuesdays(200)
        };
        let off = Campaign {
            enabled: false,
            ..tuesdays(200)
        };
        let base = Case {
            what: "",
            campaigns: vec![],
            base: 19,
            day: tue,
            first: false,
            category: None,
            tier: None,
            points: Some(19),
            notes: "",
        };
        let cases = [
            Case {
                what: "no campaigns",
                ..base.clone()
            },
            Case {
                what: "×2 on a Tuesday",
                campaigns: vec![tuesdays(200)],
                points: Some(38),
                notes: "Double Tuesdays ×2.00",
                ..base.clone()
            },
            Case {
                what: "not on a Wednesday",
                campaigns: vec![tuesdays(200)],
                day: wed,
                ..base.clone()
            },
            Case {
                what: "switched off",
                campaigns: vec![off],
                ..base.clone()
            },
            Case {
                what: "×1.5 rounds down",
                campaigns: vec![tuesdays(150)],
                points: Some(28),
                notes: "Double Tuesdays ×1.50",
                ..base.clone()
            },
            Case {
                what: "first purchase +50",
                campaigns: vec![first(50)],
                first: true,
                points: Some(69),
                notes: "First purchase +50",
                ..base.clone()
            },
            Case {
                what: "not a first purchase",
                campaigns: vec![first(50)],
                ..base.clone()
            },
            Case {
                what: "category ×3",
                campaigns: vec![beans(300)],
                category: Some("coffee-beans"),
                points: Some(57),
                notes: "Beans ×3.00",
                ..base.clone()
            },
            Case {
                what: "another category",
                campaigns: vec![beans(300)],
                category: Some("tea"),
                ..base.clone()
            },
            Case {
                what: "no category given",
                campaigns: vec![beans(300)],
                ..base.clone()
            },
            Case {
                what: "best multiplier wins, bonus adds",
                campaigns: vec![tuesdays(200), beans(300), first(50)],
                category: Some("coffee-beans"),
                first: true,
                points: Some(19 * 3 + 50),
                notes: "Beans ×3.00 · First purchase +50",
                ..base.clone()
            },
            Case {
                what: "tier ×1.25 alone",
                tier: Some(125),
                points: Some(23),
                notes: "Gold tier ×1.25",
                ..base.clone()
            },
            Case {
                what: "campaign beats the tier",
                campaigns: vec![tuesdays(200)],
                tier: Some(125),
                points: Some(38),
                notes: "Double Tuesdays ×2.00",
                ..base.clone()
            },
            Case {
                what: "tier beats the campaign, bonus still adds",
                campaigns: vec![tuesdays(120), first(50)],
                tier: Some(125),
                first: true,
                points: Some(23 + 50),
                notes: "Gold tier ×1.25 · First purchase +50",
                ..base.clone()
            },
            Case {
                what: "equal multipliers: the tier keeps it",
                campaigns: vec![tuesdays(125)],
                tier: Some(125),
                points: Some(23),
                notes: "Gold tier ×1.25",
                ..base.clone()
            },
            Case {
                what: "starts on the day (inclusive)",
                campaigns: vec![dated(Some(tue), None)],
                points: Some(38),
                notes: "Double Tuesdays ×2.00",
                ..base.clone()
            },
            Case {
                what: "ends on the day (inclusive)",
                campaigns: vec![dated(None, Some(tue))],
                points: Some(38),
                notes: "Double Tuesdays ×2.00",
                ..base.clone()
            },
            Case {
                what: "ended the day before",
                campaigns: vec![dated(None, Some(date(2026, 11, 30)))],
                ..base.clone()
            },
            Case {
                what: "starts the day after",
                campaigns: vec![dated(Some(wed), None)],
                ..base.clone()
            },
            Case {
                what: "cap: the multiplier passes MAX_POINTS",
                campaigns: vec![tuesdays(1000)],
                base: MAX_POINTS / 5,
                points: None,
                ..base.clone()
            },
            Case {
                what: "cap: the bonus passes MAX_POINTS",
                campaigns: vec![first(50)],
                base: MAX_POINTS - 10,
                first: true,
                points: None,
                ..base.clone()
            },
            Case {
                what: "cap: exactly MAX_POINTS is fine",
                campaigns: vec![first(10)],
                base: MAX_POINTS - 10,
                first: true,
                points: Some(MAX_POINTS),
                notes: "First purchase +10",
                ..base.clone()
            },
        ];
        for c in cases {
            let category = c.category.map(|s| Category::parse(s).expect("category"));
            let tier = c
                .tier
                .map(|h| Tier::parse("Gold", "#aa7700", 0, h).expect("tier"));
            let p = Purchase {
                base: c.base,
                day: c.day,
                first: c.first,
                category: category.as_ref(),
                tier: tier.as_ref(),
            };
            let out = evaluate(&c.campaigns, &p);
            assert_eq!(out.as_ref().ok().map(|o| o.points), c.points, "{}", c.what);
            if let Ok(o) = out {
                assert_eq!(o.notes.join(" · "), c.notes, "{}", c.what);
                assert_eq!(o.bonus, o.points - o.with_tier, "{}", c.what);
                let by_lines: i64 = o.lines.iter().map(|l| l.bonus).sum();
                assert_eq!(by_lines, o.bonus, "{}: lines add up", c.what);
            }
        }
    }

    #[test]
    fn the_weekday_is_the_local_day_around_midnight() {
        use crate::domain::ledger_check::local_date;
        use time::macros::datetime;
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
        let auckland = jiff::tz::TimeZone::get("Pacific/Auckland").expect("zone");
        let ny = jiff::tz::TimeZone::get("America/New_York").expect("zone");
        // (instant, zone, ×2 on Tuesdays applies)
        for (at, tz, applies) in [
            // 23:30 UTC on Monday is 00:30 on Tuesday in Berlin.
            (datetime!(2026-11-30 23:30 UTC), &berlin, true),
            (datetime!(2026-11-30 22:59 UTC), &berlin, false),
            // 23:30 UTC on Tuesday is already Wednesday in Berlin.
            (datetime!(2026-12-01 23:30 UTC), &berlin, false),
            // Monday 11:00 UTC is Tuesday 00:00 in Auckland (UTC+13 in summer).
            (datetime!(2026-11-30 11:00 UTC), &auckland, true),
            // Wednesday 04:59 UTC is still Tuesday in New York (UTC-5).
            (datetime!(2026-12-02 04:59 UTC), &ny, true),
            (datetime!(2026-12-02 05:00 UTC), &ny, false),
        ] {
            let p = Purchase {
                base: 10,
                day: local_date(at, tz),
                first: false,
                category: None,
                tier: None,
            };
            let out = evaluate(&[tuesdays(200)], &p).expect("evaluates");
            assert_eq!(
                out.points == 20,
                applies,
                "{at} in {}",
                tz.iana_name().unwrap_or("?")
            );
        }
    }

    #[test]
    fn rules_and_lists_are_checked() {
        let rule = |k: &str, d: &[&str], m: Option<i64>, b: Option<i64>, c: Option<&str>| {
            let days: Vec<String> = d.iter().map(|s| (*s).to_owned()).collect();
            Rule::parse(k, &days, m, b, c).map_err(|e| match e {
                DomainError::Invalid { field, .. } => field,
                _ => "other",
            })
        };
        assert!(rule("weekdays", &["Tuesday", "monday"], Some(200), None, None).is_ok());
        assert_eq!(
            rule("weekdays", &["tuesday", "monday"], Some(200), None, None)
                .ok()
                .and_then(|r| match r {
                    Rule::Weekdays { days, .. } => Some(days),
                    _ => None,
                }),
            Some(vec!["monday".to_owned(), "tuesday".to_owned()]),
            "days sorted Monday first"
        );
        for (k, d, m, b, c, field) in [
            ("weekdays", &[][..], Some(200), None, None, "days"),
            (
                "weekdays",
                &["tuesday", "tuesday"][..],
                Some(200),
                None,
                None,
                "days",
            ),
            ("weekdays", &["funday"][..], Some(200), None, None, "days"),
            (
                "weekdays",
                &["tuesday"][..],
                None,
                None,
                None,
                "multiplier_hundredths",
            ),
            (
                "weekdays",
                &["tuesday"][..],
                Some(99),
                None,
                None,
                "multiplier_hundredths",
            ),
            ("first_purchase", &[][..], None, Some(0), None, "bonus"),
            (
                "first_purchase",
                &[][..],
                None,
                Some(MAX_BONUS + 1),
                None,
                "bonus",
            ),
            ("first_purchase", &[][..], None, None, None, "bonus"),
            (
                "category",
                &[][..],
                Some(300),
                None,
                Some("Coffee Beans"),
                "category",
            ),
            ("category", &[][..], Some(300), None, None, "category"),
            (
                "category",
                &[][..],
                Some(1001),
                None,
                Some("tea"),
                "multiplier_hundredths",
            ),
            ("cashback", &[][..], Some(200), None, None, "kind"),
        ] {
            assert_eq!(
                rule(k, d, m, b, c).err(),
                Some(field),
                "{k} {d:?} {m:?} {b:?} {c:?}"
            );
        }
        for (raw, ok) in [
            ("coffee-beans", true),
            ("Coffee-Beans", true),
            ("a", true),
            ("-beans", false),
            ("", false),
            ("beans!", false),
            (&"x".repeat(41), false),
        ] {
            assert_eq!(Category::parse(raw).is_ok(), ok, "{raw:?}");
        }
        for (raw, ok) in [
            ("2026-12-01", true),
            ("2026-02-30", false),
            ("2026-1-01", false),
            ("", false),
        ] {
            assert_eq!(LocalDate::parse("starts", raw).is_ok(), ok, "{raw:?}");
        }
        let t = |n: &str| tuesdays(200).clone_named(n);
        assert!(parse_list(vec![t("A"), t("B")]).is_ok());
        assert!(parse_list(vec![t("A"), t("a")]).is_err(), "same name");
        assert!(parse_list((0..21).map(|i| t(&format!("C{i}"))).collect()).is_err());
        assert!(
            Campaign::parse(
                "Late",
                first(5).rule,
                Some(LocalDate(date(2026, 12, 2))),
                Some(LocalDate(date(2026, 12, 1))),
                true
            )
            .is_err(),
            "ends before it starts"
        );
        assert!(Campaign::parse("", first(5).rule, None, None, true).is_err());
    }

    impl Campaign {
        fn clone_named(&self, n: &str) -> Self {
            Self {
                name: n.to_owned(),
                ..self.clone()
            }
        }
    }

    #[test]
    fn reasons_keep_the_notes() {
        let notes = vec![
            "Double Tuesdays ×2.00".to_owned(),
            "First purchase +50".to_owned(),
        ];
        assert_eq!(
            reason_with(Some("Purchase"), &notes)
                .expect("fits")
                .map(Reason::into_string),
            Some("Purchase · Double Tuesdays ×2.00 · First purchase +50".to_owned())
        );
        assert_eq!(
            reason_with(None, &notes)
                .expect("fits")
                .map(Reason::into_string),
            Some("Double Tuesdays ×2.00 · First purchase +50".to_owned())
        );
        let long = "y".repeat(Reason::MAX_CHARS);
        let r = reason_with(Some(&long), &notes)
            .expect("fits")
            .map(Reason::into_string)
            .unwrap_or_default();
        assert!(r.ends_with("First purchase +50"), "{r}");
        assert!(r.chars().count() <= Reason::MAX_CHARS);
        assert_eq!(reason_with(None, &[]).expect("none"), None);
    }
}
