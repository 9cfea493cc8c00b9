//! Who made a change: recorded on ledger entries and audit records.

/// The source of a change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A request authenticated with an API key.
    ApiKey {
        /// The key's public id.
        key_id: String,
    },
    /// A staff member signed in to the admin pages.
    Staff {
        /// The staff member's username.
        username: String,
    },
    /// The operator's shell (`fealty ...`).
    Cli,
    /// FealTY itself (setup, migrations, expiry).
    System,
    /// A signed webhook from an online shop.
    Webhook {
        /// The shop's provider, e.g. `shopify`.
        provider: String,
    },
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey { key_id } => write!(f, "api_key:{key_id}"),
            Self::Staff { username } => write!(f, "staff:{username}"),
            Self::Cli => f.write_str("cli"),
            Self::System => f.write_str("system"),
            Self::Webhook { provider } => write!(f, "webhook:{provider}"),
        }
    }
}
