//! Every redb table FealTY keeps, in one place.
//!
//! Values are JSON so that a person can read a dump and a migration can add fields with defaults.

use redb::TableDefinition;

/// `"schema_version"` → the version this file is at.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Member id (ULID) → `Member` JSON.
pub const MEMBERS: TableDefinition<&str, &[u8]> = TableDefinition::new("members");
/// Card number → member id.
pub const MEMBERS_BY_CARD: TableDefinition<&str, &str> = TableDefinition::new("members_by_card");
/// Card token → member id.
pub const MEMBERS_BY_TOKEN: TableDefinition<&str, &str> = TableDefinition::new("members_by_token");
/// Normalised email → member id.
pub const MEMBERS_BY_EMAIL: TableDefinition<&str, &str> = TableDefinition::new("members_by_email");
/// (lower-case word of a name, member id) → (); prefix search on names.
pub const MEMBER_NAME_WORDS: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("member_name_words");

/// Sequence → `LedgerEntry` JSON; append-only.
pub const LEDGER: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger");
/// (member id, sequence) → (); a member's history.
pub const MEMBER_LEDGER: TableDefinition<(&str, u64), ()> = TableDefinition::new("member_ledger");
/// Reversed entry's sequence → the reversal's sequence; an entry is reversed at most once.
pub const REVERSALS: TableDefinition<u64, u64> = TableDefinition::new("reversals");

/// (scope, key) → `IdempotencyRecord` JSON; scope is the API key id or staff session.
pub const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");

/// Reward id → `Reward` JSON.
pub const REWARDS: TableDefinition<&str, &[u8]> = TableDefinition::new("rewards");

/// `"settings"` → `Settings` JSON; `"setup_token_sha256"` → hash of the one-time setup token.
pub const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// Username → `StaffUser` JSON.
pub const STAFF: TableDefinition<&str, &[u8]> = TableDefinition::new("staff");

/// Key id → `ApiKeyRecord` JSON.
pub const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");

/// Sequence → `AuditRecord` JSON; append-only.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// `"totals"` → `Totals` JSON, kept up to date by every ledger write (schema v2).
pub const STATS: TableDefinition<&str, &[u8]> = TableDefinition::new("stats");

/// Hash of the session cookie's secret → `Session` JSON (schema v3).
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// UTC hour (hours since the Unix epoch) → `Totals` JSON for that hour (schema v3).
pub const HOURLY: TableDefinition<u64, &[u8]> = TableDefinition::new("hourly");
/// Reward id → `RewardTally` JSON: redemptions net of reversals (schema v3).
pub const REWARD_TALLY: TableDefinition<&str, &[u8]> = TableDefinition::new("reward_tally");
/// (lifetime points earned, member id) → (); top members without a scan (schema v3).
pub const MEMBERS_BY_LIFETIME: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("members_by_lifetime");
/// (last activity in Unix ms, member id) → (); active members without a scan (schema v3).
pub const MEMBERS_BY_ACTIVITY: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("members_by_activity");

/// Member id → argon2id hash of the password or PIN the customer set (schema v4).
pub const MEMBER_SECRETS: TableDefinition<&str, &str> = TableDefinition::new("member_secrets");
/// Card token → `BlankCard` JSON: printed cards no one has yet (schema v4).
pub const BLANK_CARDS: TableDefinition<&str, &[u8]> = TableDefinition::new("blank_cards");
/// Card number → token of a blank card (schema v4).
pub const BLANK_BY_CARD: TableDefinition<&str, &str> = TableDefinition::new("blank_by_card");
