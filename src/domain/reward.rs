//! The rewards catalogue.

use super::DomainError;
use super::ledger::MAX_POINTS;
use super::text::clean;
use time::OffsetDateTime;

/// A reward members can redeem points for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Reward {
    /// ULID.
    pub id: String,
    /// What the customer gets ("Free coffee").
    pub name: String,
    /// Points it costs.
    pub cost: i64,
    /// Inactive rewards are kept for history but cannot be redeemed.
    pub active: bool,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// Parses a reward's name: 1 to 100 characters.
pub fn parse_name(raw: &str) -> Result<String, DomainError> {
    clean("name", raw, 100)
}

/// Parses a reward's cost: a positive number of points.
pub fn parse_cost(cost: i64) -> Result<i64, DomainError> {
    if cost <= 0 || cost > MAX_POINTS {
        return Err(DomainError::invalid(
            "cost",
            format!("must be between 1 and {MAX_POINTS}"),
        ));
    }
    Ok(cost)
}
