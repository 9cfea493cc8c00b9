//! The earning rule: points for a purchase amount.

use super::DomainError;
use super::ledger::{EntryKind, MAX_POINTS, PointsChange};
use super::money::Money;

/// Points per whole currency unit, applied with integer arithmetic, rounding down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EarningRule {
    /// Points per whole unit of the business's currency (0 turns earning by amount off).
    pub points_per_unit: u32,
}

impl Default for EarningRule {
    fn default() -> Self {
        Self { points_per_unit: 1 }
    }
}

impl EarningRule {
    /// Points for `amount`: whole units (rounded down) times points per unit.
    ///
    /// So with 1 point per euro, 19.99 EUR earns 19 points and 0.99 EUR earns none.
    pub fn points_for(&self, amount: Money) -> Result<i64, DomainError> {
        amount
            .whole_units()
            .checked_mul(i64::from(self.points_per_unit))
            .ok_or(DomainError::Overflow)
    }

    /// The rule in words, as members read it: "1 point per 1.00 EUR"; `None` when points are not
    /// earned by amount.
    pub fn in_words(&self, currency: &super::money::Currency) -> Option<String> {
        let n = self.points_per_unit;
        let noun = if n == 1 { "point" } else { "points" };
        let decimals = usize::try_from(currency.exponent()).unwrap_or(0);
        let unit = if decimals == 0 {
            "1".to_owned()
        } else {
            format!("1.{}", "0".repeat(decimals))
        };
        (n > 0).then(|| format!("{n} {noun} per {unit} {}", currency.as_str()))
    }

    /// The earn entry for a purchase: at least one point and at most `MAX_POINTS`.
    ///
    /// The one rule the API, the till and webhooks share for earning by amount.
    pub fn earn(&self, amount: Money) -> Result<PointsChange, DomainError> {
        let too_many = || {
            DomainError::invalid(
                "amount_minor",
                format!(
                    "this amount earns more than {MAX_POINTS} points, the most one entry may add"
                ),
            )
        };
        match self.points_for(amount) {
            Ok(0) => Err(DomainError::invalid(
                "amount_minor",
                "this amount earns no points under the earning rule",
            )),
            Ok(p) if p > MAX_POINTS => Err(too_many()),
            Ok(p) => PointsChange::parse(EntryKind::Earn, p),
            Err(_) => Err(too_many()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_in_words() {
        use crate::domain::money::Currency;
        let eur = Currency::EUR;
        assert_eq!(
            EarningRule { points_per_unit: 1 }.in_words(&eur).as_deref(),
            Some("1 point per 1.00 EUR")
        );
        let jpy = Currency::parse("JPY").unwrap_or(eur);
        assert_eq!(
            EarningRule {
                points_per_unit: 10
            }
            .in_words(&jpy)
            .as_deref(),
            Some("10 points per 1 JPY")
        );
        assert_eq!(EarningRule { points_per_unit: 0 }.in_words(&eur), None);
    }
    use crate::domain::money::Currency;

    #[test]
    fn rounds_down_to_whole_units() -> Result<(), DomainError> {
        let eur = Currency::parse("EUR")?;
        let rule = EarningRule { points_per_unit: 1 };
        assert_eq!(rule.points_for(Money::purchase(1999, eur)?)?, 19);
        assert_eq!(rule.points_for(Money::purchase(99, eur)?)?, 0);
        let ten = EarningRule {
            points_per_unit: 10,
        };
        assert_eq!(ten.points_for(Money::purchase(2050, eur)?)?, 200);
        let off = EarningRule { points_per_unit: 0 };
        assert_eq!(off.points_for(Money::purchase(10_000, eur)?)?, 0);
        Ok(())
    }

    #[test]
    fn earning_is_capped_at_max_points() -> Result<(), DomainError> {
        let jpy = Currency::parse("JPY")?;
        let most = Money::purchase(crate::domain::ledger::MAX_AMOUNT_MINOR, jpy)?;
        let one = EarningRule { points_per_unit: 1 };
        assert_eq!(one.earn(most)?.signed(), MAX_POINTS);
        let hundred = EarningRule {
            points_per_unit: 100,
        };
        assert!(matches!(
            hundred.earn(most),
            Err(DomainError::Invalid {
                field: "amount_minor",
                ..
            })
        ));
        let huge = EarningRule {
            points_per_unit: u32::MAX,
        };
        assert!(huge.earn(most).is_err(), "overflow is refused, not wrapped");
        let eur = Currency::parse("EUR")?;
        assert!(one.earn(Money::purchase(99, eur)?).is_err(), "no points");
        assert_eq!(one.earn(Money::purchase(1999, eur)?)?.signed(), 19);
        Ok(())
    }
}
