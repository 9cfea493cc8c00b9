//! The earning rule: points for a purchase amount.

use super::DomainError;
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
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn huge_amounts_overflow_cleanly() -> Result<(), DomainError> {
        let jpy = Currency::parse("JPY")?;
        let rule = EarningRule {
            points_per_unit: u32::MAX,
        };
        assert_eq!(
            rule.points_for(Money::purchase(i64::MAX, jpy)?),
            Err(DomainError::Overflow)
        );
        Ok(())
    }
}
