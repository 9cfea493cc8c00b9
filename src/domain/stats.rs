//! Running totals kept alongside the ledger so stats never scan it.

use super::ledger::EntryKind;

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
    pub fn record(&mut self, kind: EntryKind, points: i64, reversed: Option<EntryKind>) {
        self.transactions += 1;
        let counted = if kind == EntryKind::Reversal {
            reversed
        } else {
            Some(kind)
        };
        match counted {
            Some(EntryKind::Earn) => self.earned += points,
            Some(EntryKind::Redeem) => self.redeemed -= points,
            Some(EntryKind::Adjust) => self.adjusted += points,
            Some(EntryKind::Expire) => self.expired -= points,
            Some(EntryKind::Reversal) | None => {}
        }
    }

    /// Points held by members: what the business owes.
    pub fn outstanding(&self) -> i64 {
        self.earned - self.redeemed + self.adjusted - self.expired
    }

    /// Adds another set of totals to these.
    pub fn add(&mut self, other: &Totals) {
        self.members += other.members;
        self.earned += other.earned;
        self.redeemed += other.redeemed;
        self.adjusted += other.adjusted;
        self.expired += other.expired;
        self.transactions += other.transactions;
    }
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
    pub fn record(&mut self, kind: EntryKind, points: i64) {
        match kind {
            EntryKind::Redeem => {
                self.count += 1;
                self.points -= points;
            }
            EntryKind::Reversal => {
                self.count -= 1;
                self.points -= points;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversals_count_against_their_original_kind() {
        let mut t = Totals::default();
        t.record(EntryKind::Earn, 100, None);
        t.record(EntryKind::Redeem, -30, None);
        t.record(EntryKind::Adjust, -5, None);
        t.record(EntryKind::Reversal, 30, Some(EntryKind::Redeem));
        t.record(EntryKind::Reversal, -10, Some(EntryKind::Earn));
        assert_eq!((t.earned, t.redeemed, t.adjusted), (90, 0, -5));
        assert_eq!(t.outstanding(), 100 - 30 - 5 + 30 - 10);
    }
}
