//! The business's settings.

use super::DomainError;
use super::earning::EarningRule;
use super::money::Currency;
use super::text::clean;

/// Settings that shape what members see and how they earn.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Shown on cards and pages.
    pub business_name: String,
    /// The currency purchase amounts are in.
    pub currency: Currency,
    /// How purchase amounts become points.
    pub earning: EarningRule,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            business_name: "My Business".to_owned(),
            currency: Currency::EUR,
            earning: EarningRule::default(),
        }
    }
}

/// Parses a business name: 1 to 80 characters.
pub fn parse_business_name(raw: &str) -> Result<String, DomainError> {
    clean("business_name", raw, 80)
}

/// Parses points per currency unit: 0 to 10 000.
pub fn parse_points_per_unit(n: i64) -> Result<u32, DomainError> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= 10_000)
        .ok_or_else(|| DomainError::invalid("points_per_unit", "must be between 0 and 10000"))
}
