//! Running totals kept alongside the ledger so stats never scan it.

use super::DomainError;
use super::ledger::EntryKind;

/// Adds without wrapping: a total that leaves i64 is an error, never a silently wrong number.
fn plus(a: i64, b: i64) -> Result<i64, DomainError> {
    a.checked_add(b).ok_or(DomainError::Overflow)
}

/// Subtracts without wrapping.
fn minus(a: i64, b: i64) -> Result<i64, DomainError> {
    a.checked_sub(b).ok_or(DomainError::Overflow)
}

/// Totals over the whole ledger; a reversal counts against the kind it reverses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Members ever created.
    pub members: i64,
    /// Net points earned.
    pub earned: i64,
    /// Net points redeemed (positive).
    pub redeemed: i64,
    /// Net points adjusted (either sign).
    pub adjusted: i64,
    /// Net points expired (positive).
    pub expired: i64,
    /// Ledger entries of any kind: how busy the till was (schema v3).
    #[serde(default)]
    pub transactions: i64,
}

impl Totals {
    /// Counts an entry; `reversed` is the original's kind when `kind` is a reversal.
    ///
    /// A total that would leave i64 is refused and leaves `self` unchanged.
    pub fn record(
        &mut self,
        kind: EntryKind,
        points: i64,
        reversed: Option<EntryKind>,
    ) -> Result<(), DomainError> {
        let mut next = *self;
        next.transactions = plus(next.transactions, 1)?;
        let counted = if kind == EntryKind::Reversal {
            reversed
        } else {
            Some(kind)
        };
        match counted {
            Some(EntryKind::Earn) => next.earned = plus(next.earned, points)?,
            Some(EntryKind::Redeem) => next.redeemed = minus(next.redeemed, points)?,
            Some(EntryKind::Adjust) => next.adjusted = plus(next.adjusted, points)?,
            Some(EntryKind::Expire) => next.expired = minus(next.expired, points)?,
            Some(EntryKind::Reversal) | None => {}
        }
        *self = next;
        Ok(())
    }

    /// Points held by members: what the business owes.
    pub fn outstanding(&self) -> Result<i64, DomainError> {
        plus(minus(self.earned, self.redeemed)?, self.adjusted).and_then(|s| minus(s, self.expired))
    }

    /// Why these totals over the whole ledger cannot be true, if they cannot: members hold
    /// what was earned, adjusted, redeemed and expired, and none of those can be negative
    /// except adjustments.
    pub fn impossibility(&self) -> Option<String> {
        let negative = [
            ("members", self.members),
            ("earned", self.earned),
            ("redeemed", self.redeemed),
            ("expired", self.expired),
            ("transactions", self.transactions),
        ]
        .into_iter()
        .find(|(_, v)| *v < 0);
        if let Some((name, v)) = negative {
            return Some(format!("the total {name} is negative ({v})"));
        }
        match self.outstanding() {
            Err(_) => Some("the points outstanding do not fit in 64 bits".into()),
            Ok(o) if o < 0 => Some(format!("the points outstanding are negative ({o})")),
            Ok(_) => None,
        }
    }

    /// Adds another set of totals to these; refused (and `self` unchanged) if a sum leaves i64.
    pub fn add(&mut self, other: &Totals) -> Result<(), DomainError> {
        *self = Totals {
            members: plus(self.members, other.members)?,
            earned: plus(self.earned, other.earned)?,
            redeemed: plus(self.redeemed, other.redeemed)?,
            adjusted: plus(self.adjusted, other.adjusted)?,
            expired: plus(self.expired, other.expired)?,
            transactions: plus(self.transactions, other.transactions)?,
        };
        Ok(())
    }
}

/// What the referral and birthday rules gave, counted when they gave it (a later reversal of
/// such an entry shows in the ledger's totals, not here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleTotals {
    /// Members who joined through a referral link.
    #[serde(default)]
    pub referrals_joined: i64,
    /// Referrals rewarded.
    #[serde(default)]
    pub referrals_rewarded: i64,
    /// Referrals refused by a guard.
    #[serde(default)]
    pub referrals_refused: i64,
    /// Points referrals gave, to both members.
    #[serde(default)]
    pub referral_points: i64,
    /// Birthday rewards given.
    #[serde(default)]
    pub birthdays: i64,
    /// Points birthdays gave.
    #[serde(default)]
    pub birthday_points: i64,
}

/// Redemptions of one reward, net of reversals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RewardTally {
    /// Times redeemed.
    pub count: i64,
    /// Points spent on it (positive).
    pub points: i64,
}

impl RewardTally {
    /// Counts a redemption (`points` negative) or the reversal of one (`points` positive).
    pub fn record(&mut self, kind: EntryKind, points: i64) -> Result<(), DomainError> {
        let count = match kind {
            EntryKind::Redeem => plus(self.count, 1)?,
            EntryKind::Reversal => minus(self.count, 1)?,
            _ => return Ok(()),
        };
        *self = RewardTally {
            count,
            points: minus(self.points, points)?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversals_count_against_their_original_kind() -> Result<(), DomainError> {
        let mut t = Totals::default();
        t.record(EntryKind::Earn, 100, None)?;
        t.record(EntryKind::Redeem, -30, None)?;
        t.record(EntryKind::Adjust, -5, None)?;
        t.record(EntryKind::Reversal, 30, Some(EntryKind::Redeem))?;
        t.record(EntryKind::Reversal, -10, Some(EntryKind::Earn))?;
        assert_eq!((t.earned, t.redeemed, t.adjusted), (90, 0, -5));
        assert_eq!(t.outstanding(), Ok(100 - 30 - 5 + 30 - 10));
        assert_eq!(t.impossibility(), None);
        Ok(())
    }

    #[test]
    fn totals_refuse_to_wrap() -> Result<(), DomainError> {
        let mut t = Totals::default();
        let big = i64::MAX - 7;
        t.record(EntryKind::Earn, big, None)?;
        let before = t;
        assert_eq!(
            t.record(EntryKind::Earn, big, None),
            Err(DomainError::Overflow)
        );
        assert_eq!(t, before, "a refused entry leaves the totals alone");
        let mut sum = t;
        assert_eq!(sum.add(&before), Err(DomainError::Overflow));
        assert_eq!(sum, before);
        let mut tally = RewardTally {
            count: 1,
            points: i64::MAX,
        };
        assert_eq!(
            tally.record(EntryKind::Redeem, -1),
            Err(DomainError::Overflow)
        );
        Ok(())
    }

    #[test]
    fn impossible_totals_are_named() {
        let wrapped = Totals {
            earned: -16,
            ..Totals::default()
        };
        assert!(
            wrapped
                .impossibility()
                .is_some_and(|m| m.contains("earned"))
        );
        let overdrawn = Totals {
            earned: 5,
            redeemed: 10,
            ..Totals::default()
        };
        assert!(
            overdrawn
                .impossibility()
                .is_some_and(|m| m.contains("outstanding"))
        );
        let huge = Totals {
            earned: i64::MAX,
            adjusted: 1,
            ..Totals::default()
        };
        assert!(huge.impossibility().is_some());
    }
}
