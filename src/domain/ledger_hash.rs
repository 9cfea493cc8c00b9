//! The frozen byte layouts a ledger entry's hash covers (see `docs/ledger-hash.md`).
//!
//! Nothing here may change once released: an entry's hash is computed over the layout named by
//! its [`HashInput`], and a new layout is a new variant, never an edit. The types below are
//! private copies on purpose, so that no change to the domain or API types can reach a hash.

use super::actor::Actor;
use super::ledger::{EntryBody, EntryKind};
use sha2::{Digest, Sha256};

/// Which frozen layout an entry's hash was computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashInput {
    /// Entries written before schema 5: the previous hash as hex, a newline, then the body as
    /// compact JSON in a fixed field order.
    JsonV1,
    /// Entries from schema 5 on: a fixed-width binary layout.
    BinaryV2,
}

impl HashInput {
    /// The layout new entries are written with.
    pub const CURRENT: HashInput = HashInput::BinaryV2;

    /// The number stored and exported for this layout.
    pub fn number(self) -> u8 {
        match self {
            Self::JsonV1 => 1,
            Self::BinaryV2 => 2,
        }
    }

    /// The layout a stored number names.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::JsonV1),
            2 => Some(Self::BinaryV2),
            _ => None,
        }
    }

    /// The exact bytes hashed for `body` after an entry whose hash is `prev` (SHA-256 over them
    /// is the entry's hash).
    pub fn bytes(self, prev: &[u8; 32], body: &EntryBody) -> Vec<u8> {
        match self {
            Self::JsonV1 => json_v1(prev, body),
            Self::BinaryV2 => binary_v2(prev, body),
        }
    }

    /// The entry's hash.
    pub fn hash(self, prev: &[u8; 32], body: &EntryBody) -> [u8; 32] {
        Sha256::digest(self.bytes(prev, body)).into()
    }
}

/// The JSON body exactly as schema 1–4 serialised it: field order, names and formats frozen.
#[derive(serde::Serialize)]
struct BodyV1<'a> {
    seq: u64,
    member_id: &'a str,
    kind: KindV1,
    points: i64,
    balance_after: i64,
    reason: Option<&'a str>,
    source: ActorV1<'a>,
    reference: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    reverses: Option<u64>,
    reward_id: Option<&'a str>,
    amount: Option<MoneyV1<'a>>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum KindV1 {
    Earn,
    Redeem,
    Adjust,
    Expire,
    Reversal,
}

#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ActorV1<'a> {
    ApiKey { key_id: &'a str },
    Staff { username: &'a str },
    Cli,
    System,
    // Schema 1–4 never wrote it; only so every source has a shape here.
    Webhook { provider: &'a str },
}

#[derive(serde::Serialize)]
struct MoneyV1<'a> {
    amount_minor: i64,
    currency: &'a str,
}

fn json_v1(prev: &[u8; 32], b: &EntryBody) -> Vec<u8> {
    let body = BodyV1 {
        seq: b.seq,
        member_id: b.member_id.as_str(),
        kind: match b.kind {
            EntryKind::Earn => KindV1::Earn,
            EntryKind::Redeem => KindV1::Redeem,
            EntryKind::Adjust => KindV1::Adjust,
            EntryKind::Expire => KindV1::Expire,
            EntryKind::Reversal => KindV1::Reversal,
        },
        points: b.points,
        balance_after: b.balance_after,
        reason: b.reason.as_deref(),
        source: match &b.source {
            Actor::ApiKey { key_id } => ActorV1::ApiKey { key_id },
            Actor::Staff { username } => ActorV1::Staff { username },
            Actor::Cli => ActorV1::Cli,
            Actor::System => ActorV1::System,
            Actor::Webhook { provider } => ActorV1::Webhook { provider },
        },
        reference: b.reference.as_deref(),
        idempotency_key: b.idempotency_key.as_deref(),
        reverses: b.reverses,
        reward_id: b.reward_id.as_deref(),
        amount: b.amount.as_ref().map(|m| MoneyV1 {
            amount_minor: m.amount_minor,
            currency: m.currency.as_str(),
        }),
        created_at: b.created_at,
    };
    let mut out = hex::encode(prev).into_bytes();
    out.push(b'\n');
    // Serialising plain strings, integers and a UTC time cannot fail; an empty body would
    // still give a hash that no stored entry matches, so verification would say so.
    out.extend(serde_json::to_vec(&body).unwrap_or_default());
    out
}

/// The tag that opens every v2 hash input, so a v2 input can never equal a v1 one.
pub const V2_TAG: &[u8; 16] = b"fealty-ledger-v2";

fn put_text(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            // Texts are bounded far below 4 GiB by the domain rules (500 characters at most).
            out.extend((t.len() as u32).to_be_bytes());
            out.extend(t.as_bytes());
        }
    }
}

/// Who made an entry, borrowed, as hash input 2 covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRef<'a> {
    /// FealTY itself.
    System,
    /// The operator's shell.
    Cli,
    /// A staff account, by username.
    Staff(&'a str),
    /// An API key, by key id.
    ApiKey(&'a str),
    /// A shop's webhook, by provider.
    Webhook(&'a str),
}

/// The fields hash input 2 covers, borrowed: from an entry, or straight from a stored record
/// (so `verify` hashes without building owned entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Fields<'a> {
    /// Sequence number.
    pub seq: u64,
    /// The member id's 128 bits.
    pub member: u128,
    /// Kind number (`kind_number`).
    pub kind: u8,
    /// Signed points.
    pub points: i64,
    /// Balance after the entry.
    pub balance_after: i64,
    /// Nanoseconds since the Unix epoch.
    pub created_at_ns: i64,
    /// Who.
    pub source: SourceRef<'a>,
    /// Why.
    pub reason: Option<&'a str>,
    /// Outside reference.
    pub reference: Option<&'a str>,
    /// Idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// The reversed entry.
    pub reverses: Option<u64>,
    /// The redeemed reward.
    pub reward_id: Option<&'a str>,
    /// Minor units and currency code.
    pub amount: Option<(i64, [u8; 3])>,
}

impl<'a> V2Fields<'a> {
    /// The fields of an entry's body.
    pub fn of(b: &'a EntryBody) -> Self {
        let mut currency = [0u8; 3];
        if let Some(m) = &b.amount {
            currency.copy_from_slice(&m.currency.as_str().as_bytes()[..3]);
        }
        Self {
            seq: b.seq,
            member: ulid::Ulid::from_string(&b.member_id).map_or(0u128, |u| u.0),
            kind: kind_number(b.kind),
            points: b.points,
            balance_after: b.balance_after,
            // Nanoseconds since the Unix epoch; i64 holds them until 2262.
            created_at_ns: i64::try_from(b.created_at.unix_timestamp_nanos()).unwrap_or(i64::MIN),
            source: match &b.source {
                Actor::System => SourceRef::System,
                Actor::Cli => SourceRef::Cli,
                Actor::Staff { username } => SourceRef::Staff(username),
                Actor::ApiKey { key_id } => SourceRef::ApiKey(key_id),
                Actor::Webhook { provider } => SourceRef::Webhook(provider),
            },
            reason: b.reason.as_deref(),
            reference: b.reference.as_deref(),
            idempotency_key: b.idempotency_key.as_deref(),
            reverses: b.reverses,
            reward_id: b.reward_id.as_deref(),
            amount: b.amount.as_ref().map(|m| (m.amount_minor, currency)),
        }
    }

    /// Appends the hash input after `prev` to `out`.
    pub fn write(&self, prev: &[u8; 32], out: &mut Vec<u8>) {
        out.extend(V2_TAG);
        out.extend(prev);
        out.extend(self.seq.to_be_bytes());
        out.extend(self.member.to_be_bytes());
        out.push(self.kind);
        out.extend(self.points.to_be_bytes());
        out.extend(self.balance_after.to_be_bytes());
        out.extend(self.created_at_ns.to_be_bytes());
        match self.source {
            SourceRef::System => out.push(0),
            SourceRef::Cli => out.push(1),
            SourceRef::Staff(username) => {
                out.push(2);
                put_text(out, Some(username));
            }
            SourceRef::ApiKey(key_id) => {
                out.push(3);
                put_text(out, Some(key_id));
            }
            SourceRef::Webhook(provider) => {
                out.push(4);
                put_text(out, Some(provider));
            }
        }
        put_text(out, self.reason);
        put_text(out, self.reference);
        put_text(out, self.idempotency_key);
        match self.reverses {
            None => out.push(0),
            Some(seq) => {
                out.push(1);
                out.extend(seq.to_be_bytes());
            }
        }
        put_text(out, self.reward_id);
        match self.amount {
            None => out.push(0),
            Some((minor, code)) => {
                out.push(1);
                out.extend(minor.to_be_bytes());
                out.extend(code);
            }
        }
    }

    /// The hash after `prev`, building the input in `scratch` (reused between calls).
    pub fn hash(&self, prev: &[u8; 32], scratch: &mut Vec<u8>) -> [u8; 32] {
        scratch.clear();
        self.write(prev, scratch);
        Sha256::digest(scratch.as_slice()).into()
    }
}

fn binary_v2(prev: &[u8; 32], b: &EntryBody) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    V2Fields::of(b).write(prev, &mut out);
    out
}

/// The number of an entry kind in v2 hash inputs and storage records.
pub fn kind_number(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Earn => 1,
        EntryKind::Redeem => 2,
        EntryKind::Adjust => 3,
        EntryKind::Expire => 4,
        EntryKind::Reversal => 5,
    }
}

/// The entry kind a number names.
pub fn kind_from_number(n: u8) -> Option<EntryKind> {
    Some(match n {
        1 => EntryKind::Earn,
        2 => EntryKind::Redeem,
        3 => EntryKind::Adjust,
        4 => EntryKind::Expire,
        5 => EntryKind::Reversal,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::{Currency, Money};

    /// The golden body of `docs/ledger-hash.md`.
    fn golden() -> EntryBody {
        EntryBody {
            seq: 2,
            member_id: "01JD2Z3Q8M6V4T0X9K1N5R7B2C".into(),
            kind: EntryKind::Earn,
            points: 12,
            balance_after: 62,
            reason: Some("café \"latte\"".into()),
            source: Actor::ApiKey {
                key_id: "a1b2c3d4e5f6".into(),
            },
            reference: Some("order-1001".into()),
            idempotency_key: Some("k-1".into()),
            reverses: None,
            reward_id: None,
            amount: Some(Money {
                amount_minor: 1250,
                currency: Currency::EUR,
            }),
            created_at: time::macros::datetime!(2026-11-25 20:32:07.123456789 UTC),
        }
    }

    const PREV: [u8; 32] = [0xab; 32];

    #[test]
    fn json_v1_bytes_are_todays_layout() {
        let bytes = HashInput::JsonV1.bytes(&PREV, &golden());
        let text = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(
            text,
            format!(
                "{}\n{}",
                "ab".repeat(32),
                r#"{"seq":2,"member_id":"01JD2Z3Q8M6V4T0X9K1N5R7B2C","kind":"earn","points":12,"balance_after":62,"reason":"café \"latte\"","source":{"type":"api_key","key_id":"a1b2c3d4e5f6"},"reference":"order-1001","idempotency_key":"k-1","reverses":null,"reward_id":null,"amount":{"amount_minor":1250,"currency":"EUR"},"created_at":"2026-11-25T20:32:07.123456789Z"}"#
            )
        );
    }

    #[test]
    fn golden_vectors_hold() {
        // These values are in docs/ledger-hash.md; if this test fails, the frozen layout changed.
        assert_eq!(
            hex::encode(HashInput::JsonV1.hash(&PREV, &golden())),
            GOLDEN_V1
        );
        assert_eq!(
            hex::encode(HashInput::BinaryV2.hash(&PREV, &golden())),
            GOLDEN_V2
        );
        let v2 = HashInput::BinaryV2.bytes(&PREV, &golden());
        assert_eq!(hex::encode(&v2), GOLDEN_V2_INPUT);
    }

    const GOLDEN_V1: &str = "15e2b2b2189907aad01e2517ac3ab9b4e04737075a07c0cdc3865bf90e13bd71";
    const GOLDEN_V2: &str = "c579037994aef6bf1213539d6e0811f946ca580b8b5ac9bf5340cca74531a232";
    const GOLDEN_V2_INPUT: &str = concat!(
        "6665616c74792d6c65646765722d7632",
        "abababababababababababababababababababababababababababababababab",
        "0000000000000002019345f1dd1436c9a075330d4b83ac4c01000000000000000c",
        "000000000000003e18eb63e89b20d31503010000000c613162326333643465356636",
        "010000000d636166c3a920226c6174746522010000000a6f726465722d31303031",
        "01000000036b2d3100000100000000000004e2455552"
    );
}
