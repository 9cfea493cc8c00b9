//! Storage records: the compact, versioned bytes redb holds for ledger entries, idempotency
//! records and audit rows, decoded fallibly.
//!
//! Every value starts with a version byte, then a postcard body; a new layout is a new version
//! that the decoder keeps reading. Ids, hashes and times are fixed-width bytes and integers.

use super::StoreError;
use crate::domain::actor::Actor;
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::ledger::{EntryBody, EntryHash, LedgerEntry};
use crate::domain::ledger_hash::{HashInput, SourceRef, V2Fields, kind_from_number, kind_number};
use crate::domain::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Version byte of [`EntryV1`].
const ENTRY_V1: u8 = 1;
/// Version byte of [`IdempotencyV1`].
const IDEMPOTENCY_V1: u8 = 1;
/// Version byte of an audit row that points at a ledger entry.
const AUDIT_LEDGER_REF: u8 = 1;

/// Who made an entry, as stored.
#[derive(Serialize, Deserialize)]
enum SourceV1 {
    System,
    Cli,
    Staff(String),
    ApiKey(String),
    /// Added after the others, so older records keep their variant numbers.
    Webhook(String),
}

/// A ledger entry as stored (the sequence number is the key; the previous hash is the previous
/// entry's `hash`).
#[derive(Serialize, Deserialize)]
struct EntryV1 {
    hash_input: u8,
    member: [u8; 16],
    kind: u8,
    points: i64,
    balance_after: i64,
    created_at_ns: i64,
    source: SourceV1,
    reason: Option<String>,
    reference: Option<String>,
    idempotency_key: Option<String>,
    reverses: Option<u64>,
    reward_id: Option<String>,
    amount: Option<(i64, [u8; 3])>,
    hash: [u8; 32],
}

fn corrupt(table: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("a row in {table} cannot be read: {what}"))
}

fn postcard_encode<T: Serialize>(version: u8, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![version];
    out.extend(
        postcard::to_allocvec(value)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))?,
    );
    Ok(out)
}

/// Nanoseconds since the epoch, as stored.
pub fn time_to_ns(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Corrupt("a time beyond the year 2262 cannot be stored".into()))
}

/// The time a stored nanosecond count names.
pub fn ns_to_time(table: &str, ns: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).map_err(|e| corrupt(table, e))
}

/// The 16 bytes of a member id (a ULID).
pub fn member_bytes(id: &str) -> Result<[u8; 16], StoreError> {
    ulid::Ulid::from_string(id)
        .map(|u| u.0.to_be_bytes())
        .map_err(|_| StoreError::Corrupt(format!("{id} is not a member id")))
}

/// The member id 16 stored bytes name.
pub fn member_id(bytes: [u8; 16]) -> String {
    ulid::Ulid(u128::from_be_bytes(bytes)).to_string()
}

/// Encodes an entry for the ledger table.
pub fn encode_entry(e: &LedgerEntry) -> Result<Vec<u8>, StoreError> {
    let b = &e.body;
    let record = EntryV1 {
        hash_input: e.hash_input.number(),
        member: member_bytes(&b.member_id)?,
        kind: kind_number(b.kind),
        points: b.points,
        balance_after: b.balance_after,
        created_at_ns: time_to_ns(b.created_at)?,
        source: match &b.source {
            Actor::System => SourceV1::System,
            Actor::Cli => SourceV1::Cli,
            Actor::Staff { username } => SourceV1::Staff(username.clone()),
            Actor::ApiKey { key_id } => SourceV1::ApiKey(key_id.clone()),
            Actor::Webhook { provider } => SourceV1::Webhook(provider.clone()),
        },
        reason: b.reason.clone(),
        reference: b.reference.clone(),
        idempotency_key: b.idempotency_key.clone(),
        reverses: b.reverses,
        reward_id: b.reward_id.clone(),
        amount: match &b.amount {
            Some(m) => {
                let code: [u8; 3] =
                    m.currency.as_str().as_bytes().try_into().map_err(|_| {
                        StoreError::Corrupt("a currency code is not 3 letters".into())
                    })?;
                Some((m.amount_minor, code))
            }
            None => None,
        },
        hash: e.hash.0,
    };
    postcard_encode(ENTRY_V1, &record)
}

/// [`SourceV1`] read without copying its text.
#[derive(Deserialize)]
enum SourceView<'a> {
    System,
    Cli,
    Staff(&'a str),
    ApiKey(&'a str),
    Webhook(&'a str),
}

/// [`EntryV1`] read without copying: what `verify` walks a million of.
#[derive(Deserialize)]
struct EntryView<'a> {
    hash_input: u8,
    member: [u8; 16],
    kind: u8,
    points: i64,
    balance_after: i64,
    created_at_ns: i64,
    #[serde(borrow)]
    source: SourceView<'a>,
    #[serde(borrow)]
    reason: Option<&'a str>,
    #[serde(borrow)]
    reference: Option<&'a str>,
    #[serde(borrow)]
    idempotency_key: Option<&'a str>,
    reverses: Option<u64>,
    #[serde(borrow)]
    reward_id: Option<&'a str>,
    amount: Option<(i64, [u8; 3])>,
    hash: [u8; 32],
}

/// What `verify` needs of an entry, and whether its hash holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The member's id as 128 bits.
    pub member: u128,
    /// The kind.
    pub kind: crate::domain::ledger::EntryKind,
    /// Signed points.
    pub points: i64,
    /// Balance after.
    pub balance_after: i64,
    /// The reversed entry.
    pub reverses: Option<u64>,
    /// The stored hash.
    pub hash: EntryHash,
    /// Whether the stored hash is the hash of the entry's input after `prev`.
    pub hash_ok: bool,
}

/// Reads entry `seq` and checks its hash after `prev`, without building an owned entry when
/// its hash input allows; `scratch` is reused between calls.
pub fn check_entry(
    seq: u64,
    bytes: &[u8],
    prev: EntryHash,
    scratch: &mut Vec<u8>,
) -> Result<Checked, StoreError> {
    let bad = |what: &dyn std::fmt::Display| corrupt("ledger", format!("entry {seq}: {what}"));
    let (version, rest) = bytes.split_first().ok_or_else(|| bad(&"empty"))?;
    if *version != ENTRY_V1 {
        return Err(bad(&format!("unknown record version {version}")));
    }
    let v: EntryView<'_> = postcard::from_bytes(rest).map_err(|e| bad(&e))?;
    let kind = kind_from_number(v.kind).ok_or_else(|| bad(&"unknown kind"))?;
    let hash_ok = match HashInput::from_number(v.hash_input) {
        Some(HashInput::BinaryV2) => {
            let fields = V2Fields {
                seq,
                member: u128::from_be_bytes(v.member),
                kind: v.kind,
                points: v.points,
                balance_after: v.balance_after,
                created_at_ns: v.created_at_ns,
                source: match v.source {
                    SourceView::System => SourceRef::System,
                    SourceView::Cli => SourceRef::Cli,
                    SourceView::Staff(u) => SourceRef::Staff(u),
                    SourceView::ApiKey(k) => SourceRef::ApiKey(k),
                    SourceView::Webhook(p) => SourceRef::Webhook(p),
                },
                reason: v.reason,
                reference: v.reference,
                idempotency_key: v.idempotency_key,
                reverses: v.reverses,
                reward_id: v.reward_id,
                amount: v.amount,
            };
            fields.hash(&prev.0, scratch) == v.hash
        }
        // Entries from before schema 5 hash their JSON: build the entry (rare, and bounded).
        Some(HashInput::JsonV1) => decode_entry(seq, bytes, prev)?.hash_is_valid(),
        None => return Err(bad(&"unknown hash input")),
    };
    Ok(Checked {
        member: u128::from_be_bytes(v.member),
        kind,
        points: v.points,
        balance_after: v.balance_after,
        reverses: v.reverses,
        hash: EntryHash(v.hash),
        hash_ok,
    })
}

/// Entry `seq`'s balance after it, read without hashing or copying anything.
pub fn balance_after(seq: u64, bytes: &[u8]) -> Result<i64, StoreError> {
    let bad = |what: &dyn std::fmt::Display| corrupt("ledger", format!("entry {seq}: {what}"));
    match bytes.split_first() {
        Some((&ENTRY_V1, rest)) => postcard::from_bytes::<EntryView<'_>>(rest)
            .map(|v| v.balance_after)
            .map_err(|e| bad(&e)),
        Some((version, _)) => Err(bad(&format!("unknown record version {version}"))),
        None => Err(bad(&"empty")),
    }
}

/// Decodes entry `seq` from its stored bytes, given the previous entry's hash.
pub fn decode_entry(
    seq: u64,
    bytes: &[u8],
    prev_hash: EntryHash,
) -> Result<LedgerEntry, StoreError> {
    let bad = |what: &dyn std::fmt::Display| corrupt("ledger", format!("entry {seq}: {what}"));
    let (version, rest) = bytes.split_first().ok_or_else(|| bad(&"empty"))?;
    if *version != ENTRY_V1 {
        return Err(bad(&format!("unknown record version {version}")));
    }
    let r: EntryV1 = postcard::from_bytes(rest).map_err(|e| bad(&e))?;
    let hash_input =
        HashInput::from_number(r.hash_input).ok_or_else(|| bad(&"unknown hash input"))?;
    let kind = kind_from_number(r.kind).ok_or_else(|| bad(&"unknown kind"))?;
    let amount = match r.amount {
        Some((minor, code)) => Some(Money {
            amount_minor: minor,
            currency: Currency::parse(std::str::from_utf8(&code).map_err(|e| bad(&e))?)
                .map_err(|e| bad(&e))?,
        }),
        None => None,
    };
    Ok(LedgerEntry {
        body: EntryBody {
            seq,
            member_id: member_id(r.member),
            kind,
            points: r.points,
            balance_after: r.balance_after,
            reason: r.reason,
            source: match r.source {
                SourceV1::System => Actor::System,
                SourceV1::Cli => Actor::Cli,
                SourceV1::Staff(username) => Actor::Staff { username },
                SourceV1::ApiKey(key_id) => Actor::ApiKey { key_id },
                SourceV1::Webhook(provider) => Actor::Webhook { provider },
            },
            reference: r.reference,
            idempotency_key: r.idempotency_key,
            reverses: r.reverses,
            reward_id: r.reward_id,
            amount,
            created_at: ns_to_time("ledger", r.created_at_ns)?,
        },
        prev_hash,
        hash: EntryHash(r.hash),
        hash_input,
    })
}

/// Only the stored hash of an entry, without decoding the rest (the chain's next link).
pub fn entry_hash(seq: u64, bytes: &[u8]) -> Result<EntryHash, StoreError> {
    // The hash is the last field and fixed-width, so it is the record's last 32 bytes.
    match bytes.split_first() {
        Some((&ENTRY_V1, rest)) if rest.len() >= 32 => {
            let mut h = [0u8; 32];
            h.copy_from_slice(&rest[rest.len() - 32..]);
            Ok(EntryHash(h))
        }
        _ => Err(corrupt("ledger", format!("entry {seq}: unreadable record"))),
    }
}

/// An idempotency record as stored: the request's fingerprint, the status answered and the
/// ledger entry the answer is rebuilt from.
#[derive(Serialize, Deserialize)]
struct IdempotencyV1 {
    fingerprint: [u8; 32],
    status: u16,
    seq: u64,
    created_at_s: i64,
}

/// Encodes an idempotency record.
pub fn encode_idempotency(r: &IdempotencyRecord) -> Result<Vec<u8>, StoreError> {
    let mut fingerprint = [0u8; 32];
    hex::decode_to_slice(&r.fingerprint, &mut fingerprint)
        .map_err(|_| StoreError::Corrupt("a request fingerprint is not a SHA-256".into()))?;
    postcard_encode(
        IDEMPOTENCY_V1,
        &IdempotencyV1 {
            fingerprint,
            status: r.status,
            seq: r.seq,
            created_at_s: r.created_at.unix_timestamp(),
        },
    )
}

/// Decodes an idempotency record.
pub fn decode_idempotency(bytes: &[u8]) -> Result<IdempotencyRecord, StoreError> {
    let bad = |what: &dyn std::fmt::Display| corrupt("idempotency", what);
    match bytes.split_first() {
        Some((&IDEMPOTENCY_V1, rest)) => {
            let r: IdempotencyV1 = postcard::from_bytes(rest).map_err(|e| bad(&e))?;
            Ok(IdempotencyRecord {
                fingerprint: hex::encode(r.fingerprint),
                status: r.status,
                seq: r.seq,
                created_at: OffsetDateTime::from_unix_timestamp(r.created_at_s)
                    .map_err(|e| bad(&e))?,
            })
        }
        _ => Err(bad(&"unknown record version")),
    }
}

/// An audit row as stored: a ledger reference, or (for other changes) the record as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditRow {
    /// A point change: everything about it is in ledger entry `seq`.
    Ledger(u64),
    /// Any other change, as JSON (it opens with `{`).
    Json(Vec<u8>),
}

/// Encodes an audit row.
pub fn encode_audit(row: &AuditRow) -> Result<Vec<u8>, StoreError> {
    match row {
        AuditRow::Ledger(seq) => postcard_encode(AUDIT_LEDGER_REF, seq),
        AuditRow::Json(bytes) => Ok(bytes.clone()),
    }
}

/// Decodes an audit row.
pub fn decode_audit(bytes: &[u8]) -> Result<AuditRow, StoreError> {
    match bytes.split_first() {
        Some((&AUDIT_LEDGER_REF, rest)) => postcard::from_bytes(rest)
            .map(AuditRow::Ledger)
            .map_err(|e| corrupt("audit", e)),
        Some((b'{', _)) => Ok(AuditRow::Json(bytes.to_vec())),
        _ => Err(corrupt("audit", "unknown record version")),
    }
}

/// A readable JSON view of a stored record, shown in backups beside its bytes; `key` is the
/// row's key (the sequence of a ledger entry). Bytes it cannot read show as text, or null.
pub fn readable(table: &str, key: &serde_json::Value, bytes: &[u8]) -> serde_json::Value {
    use serde_json::json;
    let view = match table {
        "ledger" => key.as_u64().and_then(|seq| {
            // The view names no previous hash: it is the previous line's `hash`.
            let e = decode_entry(seq, bytes, EntryHash([0; 32])).ok()?;
            let b = e.body;
            Some(json!({
                "seq": b.seq,
                "member_id": b.member_id,
                "kind": b.kind,
                "points": b.points,
                "balance_after": b.balance_after,
                "reason": b.reason,
                "source": b.source,
                "reference": b.reference,
                "idempotency_key": b.idempotency_key,
                "reverses": b.reverses,
                "reward_id": b.reward_id,
                "amount": b.amount,
                "created_at": b.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
                "hash": e.hash.to_hex(),
                "hash_input": e.hash_input.number(),
            }))
        }),
        "idempotency" => decode_idempotency(bytes).ok().map(|r| {
            json!({
                "fingerprint": r.fingerprint,
                "status": r.status,
                "seq": r.seq,
                "created_at": r.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
            })
        }),
        "audit" => match decode_audit(bytes) {
            Ok(AuditRow::Ledger(seq)) => Some(json!({ "ledger_seq": seq })),
            _ => None,
        },
        _ => None,
    };
    view.unwrap_or_else(|| {
        std::str::from_utf8(bytes).map_or(serde_json::Value::Null, serde_json::Value::from)
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::ledger::EntryKind;

    fn entry() -> LedgerEntry {
        let body = EntryBody {
            seq: 7,
            member_id: "01JD2Z3Q8M6V4T0X9K1N5R7B2C".into(),
            kind: EntryKind::Earn,
            points: 25,
            balance_after: 40,
            reason: None,
            source: Actor::ApiKey {
                key_id: "a1b2c3d4e5f6".into(),
            },
            reference: Some("order-1001".into()),
            idempotency_key: Some("0b6f4a4e-3c1d-4f7e-9a55-1f2e3d4c5b6a".into()),
            reverses: None,
            reward_id: None,
            amount: Some(Money {
                amount_minor: 2599,
                currency: Currency::EUR,
            }),
            created_at: time::macros::datetime!(2026-11-25 20:32:07.123456789 UTC),
        };
        LedgerEntry::seal(body, EntryHash([3; 32]))
    }

    #[test]
    fn entries_round_trip_compactly() {
        let e = entry();
        let bytes = encode_entry(&e).unwrap();
        assert!(bytes.len() < 140, "{} bytes", bytes.len());
        let back = decode_entry(7, &bytes, EntryHash([3; 32])).unwrap();
        assert_eq!(back, e);
        assert!(back.hash_is_valid());
        assert_eq!(entry_hash(7, &bytes).unwrap(), e.hash);
        let mut scratch = Vec::new();
        let checked = check_entry(7, &bytes, EntryHash([3; 32]), &mut scratch).unwrap();
        assert!(checked.hash_ok);
        assert_eq!((checked.points, checked.balance_after), (25, 40));
        let moved = check_entry(7, &bytes, EntryHash([4; 32]), &mut scratch).unwrap();
        assert!(
            !moved.hash_ok,
            "the same entry after another hash does not verify"
        );
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let bytes = encode_entry(&entry()).unwrap();
        for cut in 0..bytes.len() {
            let _ = decode_entry(7, &bytes[..cut], EntryHash([3; 32]));
        }
        assert!(decode_entry(7, &[9, 1, 2], EntryHash([0; 32])).is_err());
        assert!(decode_idempotency(b"{}").is_err());
        assert!(decode_audit(&[]).is_err());
    }

    #[test]
    fn idempotency_and_audit_rows_round_trip() {
        let r = IdempotencyRecord {
            fingerprint: "ab".repeat(32),
            status: 201,
            seq: 42,
            created_at: time::macros::datetime!(2026-11-25 20:32:07 UTC),
        };
        let bytes = encode_idempotency(&r).unwrap();
        assert!(bytes.len() < 50, "{} bytes", bytes.len());
        assert_eq!(decode_idempotency(&bytes).unwrap(), r);
        for row in [AuditRow::Ledger(99), AuditRow::Json(b"{\"a\":1}".to_vec())] {
            assert_eq!(decode_audit(&encode_audit(&row).unwrap()).unwrap(), row);
        }
    }
}
