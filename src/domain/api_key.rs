//! API keys: scopes, the presented key's shape, and the stored record.

use super::DomainError;

/// What an API key may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    /// Read members, their history and the stats.
    #[serde(rename = "members:read")]
    MembersRead,
    /// Create and change members.
    #[serde(rename = "members:write")]
    MembersWrite,
    /// Add, redeem, adjust and reverse points.
    #[serde(rename = "points:write")]
    PointsWrite,
    /// Change the rewards catalogue.
    #[serde(rename = "rewards:write")]
    RewardsWrite,
    /// Change the business settings.
    #[serde(rename = "settings:write")]
    SettingsWrite,
    /// See members' card tokens and card URLs, which open their card pages (for a till that prints or links cards).
    #[serde(rename = "cards:read")]
    CardsRead,
    /// Set up shop webhooks and attach parked orders to members.
    #[serde(rename = "integrations:write")]
    IntegrationsWrite,
    /// List, register and remove the endpoints outbound events are posted to, and read their deliveries.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 8] = [
        Scope::MembersRead,
        Scope::MembersWrite,
        Scope::PointsWrite,
        Scope::RewardsWrite,
        Scope::SettingsWrite,
        Scope::CardsRead,
        Scope::IntegrationsWrite,
        Scope::WebhooksWrite,
    ];

    /// The scope's name, as in requests and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::MembersRead => "members:read",
            Scope::MembersWrite => "members:write",
            Scope::PointsWrite => "points:write",
            Scope::RewardsWrite => "rewards:write",
            Scope::SettingsWrite => "settings:write",
            Scope::CardsRead => "cards:read",
            Scope::IntegrationsWrite => "integrations:write",
            Scope::WebhooksWrite => "webhooks:write",
        }
    }

    /// What the scope allows, for people choosing scopes.
    pub fn description(&self) -> &'static str {
        match self {
            Scope::MembersRead => "read members, their history and the stats",
            Scope::MembersWrite => "create and change members",
            Scope::PointsWrite => "add, redeem, adjust and reverse points",
            Scope::RewardsWrite => "change the rewards catalogue",
            Scope::SettingsWrite => "change the business settings",
            Scope::CardsRead => {
                "see members' card tokens and card URLs, which open their card pages"
            }
            Scope::IntegrationsWrite => "set up shop webhooks and attach parked orders to members",
            Scope::WebhooksWrite => {
                "list, register and remove outbound event endpoints and read their deliveries"
            }
        }
    }

    /// Parses a scope name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(Scope::as_str).collect();
                DomainError::invalid("scope", format!("must be one of {}", names.join(", ")))
            })
    }
}

/// Prefix of every presented key, so a leaked key is recognisable.
pub const KEY_PREFIX: &str = "fty_";

/// Builds the key a client presents from its public id and its secret.
pub fn presented_key(id: &str, secret: &str) -> String {
    format!("{KEY_PREFIX}{id}_{secret}")
}

/// Splits a presented key into its public id and secret, if it has the right shape.
pub fn split_presented(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && (32..=64).contains(&secret.len());
    ok.then_some((id, secret))
}

/// A stored API key; the secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyRecord {
    /// Public id (12 hex digits), part of the presented key.
    pub id: String,
    /// A name for people ("Shopify shop").
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<time::OffsetDateTime>,
}

impl ApiKeyRecord {
    /// Whether the key grants `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_keys_round_trip() {
        let secret = "a".repeat(43);
        let key = presented_key("0123456789ab", &secret);
        assert_eq!(
            split_presented(&key),
            Some(("0123456789ab", secret.as_str()))
        );
        assert_eq!(split_presented("fty_short_x"), None);
        assert_eq!(split_presented("Bearer"), None);
    }

    #[test]
    fn scopes_parse_by_name() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Ok(s));
        }
        assert!(Scope::parse("members:delete").is_err());
    }
}
