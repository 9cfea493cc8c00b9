//! The API's view of ledger entries: what clients, exports and a customer's data download see.
//!
//! This is a contract with clients, versioned with the API; it is neither what the database
//! stores nor what the hash covers, so it can grow fields without touching either.

use crate::domain::actor::Actor;
use crate::domain::ledger::{EntryKind, LedgerEntry};
use crate::domain::money::Money;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A ledger entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LedgerEntry)]
pub struct EntryJson {
    /// Global sequence number, from 1, without gaps.
    pub seq: u64,
    /// The member whose points moved.
    pub member_id: String,
    /// The kind of change.
    pub kind: EntryKind,
    /// Points added (positive) or taken (negative); never zero.
    pub points: i64,
    /// The member's balance after this entry.
    pub balance_after: i64,
    /// Why (required for adjustments).
    pub reason: Option<String>,
    /// Who made the change.
    pub source: Actor,
    /// An outside reference such as an order id.
    pub reference: Option<String>,
    /// The idempotency key the change was made with.
    pub idempotency_key: Option<String>,
    /// For a reversal: the entry it reverses.
    pub reverses: Option<u64>,
    /// For a redemption of a catalogue reward: the reward.
    pub reward_id: Option<String>,
    /// For earning by purchase: the amount.
    #[schema(value_type = Option<Object>)]
    pub amount: Option<Money>,
    /// When the entry was made (UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The previous entry's hash (hex), or zeros for the first.
    pub prev_hash: String,
    /// SHA-256 over the hash input (hex); see docs/ledger-hash.md.
    pub hash: String,
    /// Which frozen layout `hash` covers: 1 (JSON, entries before schema 5) or 2 (binary).
    pub hash_input: u8,
}

impl From<&LedgerEntry> for EntryJson {
    fn from(e: &LedgerEntry) -> Self {
        let b = &e.body;
        Self {
            seq: b.seq,
            member_id: b.member_id.clone(),
            kind: b.kind,
            points: b.points,
            balance_after: b.balance_after,
            reason: b.reason.clone(),
            source: b.source.clone(),
            reference: b.reference.clone(),
            idempotency_key: b.idempotency_key.clone(),
            reverses: b.reverses,
            reward_id: b.reward_id.clone(),
            amount: b.amount,
            created_at: b.created_at,
            prev_hash: e.prev_hash.to_hex(),
            hash: e.hash.to_hex(),
            hash_input: e.hash_input.number(),
        }
    }
}

/// The answer to a point change: the new entry and the balance after it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PointsOutcome)]
pub struct OutcomeJson {
    /// The appended entry.
    pub entry: EntryJson,
    /// The member's balance after it.
    pub balance: i64,
}

impl From<&crate::service::PointsOutcome> for OutcomeJson {
    fn from(o: &crate::service::PointsOutcome) -> Self {
        Self {
            entry: EntryJson::from(&o.entry),
            balance: o.balance,
        }
    }
}

/// Entries as the API shows them.
pub fn entries_json(entries: &[LedgerEntry]) -> Vec<EntryJson> {
    entries.iter().map(EntryJson::from).collect()
}
