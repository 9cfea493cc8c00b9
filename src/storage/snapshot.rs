//! Every table as JSON lines from one read transaction, and back: the body of a backup.
//!
//! Each line is `["table", key, value]`; byte values are base64. Sessions are left out on
//! purpose: a restored server must not accept cookies issued by the old one.

use super::StoreError;
use super::tables::*;
use base64::Engine as _;
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde_json::{Value, json};
use std::io::Write;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What a snapshot holds, for the backup's header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Members.
    pub members: u64,
    /// Ledger entries.
    pub entries: u64,
    /// The last ledger sequence (0 for none).
    pub last_seq: u64,
    /// The last entry's hash (the genesis hash for none).
    pub last_hash: String,
}

/// The counts of the snapshot `tx` would write.
pub fn counts(tx: &ReadTransaction) -> Result<Counts, StoreError> {
    let ledger = tx.open_table(LEDGER)?;
    let (last_seq, last_hash) = match ledger.last()? {
        Some((k, v)) => {
            let e: crate::domain::ledger::LedgerEntry = super::codec::decode("ledger", v.value())?;
            (k.value(), e.hash)
        }
        None => (0, crate::domain::ledger::GENESIS_HASH.to_owned()),
    };
    Ok(Counts {
        members: tx.open_table(MEMBERS)?.len()?,
        entries: ledger.len()?,
        last_seq,
        last_hash,
    })
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Db(format!("cannot write the snapshot: {e}"))
}

fn line(w: &mut impl Write, table: &str, k: Value, v: Value) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *w, &json!([table, k, v]))
        .map_err(|e| StoreError::Db(format!("cannot write the snapshot: {e}")))?;
    w.write_all(b"\n").map_err(io)
}

macro_rules! dump {
    ($tx:expr, $w:expr, $def:expr, $name:literal, |$k:ident, $v:ident| ($key:expr, $val:expr)) => {{
        let table = $tx.open_table($def)?;
        for row in table.iter()? {
            let (kg, vg) = row?;
            let $k = kg.value();
            let $v = vg.value();
            line($w, $name, $key, $val)?;
        }
    }};
}

/// The small tables that change without touching the ledger (a new reward, key, staff account
/// or setting): shipped whole between snapshots whenever they change.
pub const SMALL_TABLES: [&str; 4] = ["rewards", "api_keys", "staff", "settings"];

/// Writes the small tables as JSON lines.
pub fn write_small(tx: &ReadTransaction, w: &mut impl Write) -> Result<(), StoreError> {
    let b = |bytes: &[u8]| json!(B64.encode(bytes));
    dump!(tx, w, REWARDS, "rewards", |k, v| (json!(k), b(v)));
    dump!(tx, w, API_KEYS, "api_keys", |k, v| (json!(k), b(v)));
    dump!(tx, w, STAFF, "staff", |k, v| (json!(k), b(v)));
    dump!(tx, w, SETTINGS, "settings", |k, v| (json!(k), b(v)));
    Ok(())
}

/// Empties the small tables before shipped copies replace them.
pub fn clear_small(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(REWARDS)?.retain(|_, _| false)?;
    tx.open_table(API_KEYS)?.retain(|_, _| false)?;
    tx.open_table(STAFF)?.retain(|_, _| false)?;
    tx.open_table(SETTINGS)?.retain(|_, _| false)?;
    Ok(())
}

/// Writes every table except sessions as JSON lines.
pub fn write(tx: &ReadTransaction, w: &mut impl Write) -> Result<(), StoreError> {
    let b = |bytes: &[u8]| json!(B64.encode(bytes));
    dump!(tx, w, META, "meta", |k, v| (json!(k), json!(v)));
    dump!(tx, w, MEMBERS, "members", |k, v| (json!(k), b(v)));
    dump!(tx, w, MEMBERS_BY_CARD, "members_by_card", |k, v| (
        json!(k),
        json!(v)
    ));
    dump!(tx, w, MEMBERS_BY_TOKEN, "members_by_token", |k, v| (
        json!(k),
        json!(v)
    ));
    dump!(tx, w, MEMBERS_BY_EMAIL, "members_by_email", |k, v| (
        json!(k),
        json!(v)
    ));
    dump!(tx, w, MEMBER_NAME_WORDS, "member_name_words", |k, _v| (
        json!([k.0, k.1]),
        Value::Null
    ));
    dump!(tx, w, LEDGER, "ledger", |k, v| (json!(k), b(v)));
    dump!(tx, w, MEMBER_LEDGER, "member_ledger", |k, _v| (
        json!([k.0, k.1]),
        Value::Null
    ));
    dump!(tx, w, REVERSALS, "reversals", |k, v| (json!(k), json!(v)));
    dump!(tx, w, IDEMPOTENCY, "idempotency", |k, v| (
        json!([k.0, k.1]),
        b(v)
    ));
    dump!(tx, w, REWARDS, "rewards", |k, v| (json!(k), b(v)));
    dump!(tx, w, SETTINGS, "settings", |k, v| (json!(k), b(v)));
    dump!(tx, w, STAFF, "staff", |k, v| (json!(k), b(v)));
    dump!(tx, w, API_KEYS, "api_keys", |k, v| (json!(k), b(v)));
    dump!(tx, w, AUDIT, "audit", |k, v| (json!(k), b(v)));
    dump!(tx, w, STATS, "stats", |k, v| (json!(k), b(v)));
    dump!(tx, w, HOURLY, "hourly", |k, v| (json!(k), b(v)));
    dump!(tx, w, REWARD_TALLY, "reward_tally", |k, v| (json!(k), b(v)));
    dump!(
        tx,
        w,
        MEMBERS_BY_LIFETIME,
        "members_by_lifetime",
        |k, _v| (json!([k.0, k.1]), Value::Null)
    );
    dump!(
        tx,
        w,
        MEMBERS_BY_ACTIVITY,
        "members_by_activity",
        |k, _v| (json!([k.0, k.1]), Value::Null)
    );
    dump!(tx, w, MEMBER_SECRETS, "member_secrets", |k, v| (
        json!(k),
        json!(v)
    ));
    dump!(tx, w, BLANK_CARDS, "blank_cards", |k, v| (json!(k), b(v)));
    dump!(tx, w, BLANK_BY_CARD, "blank_by_card", |k, v| (
        json!(k),
        json!(v)
    ));
    Ok(())
}

fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot line unreadable: {what}"))
}

fn s(v: &Value) -> Result<&str, StoreError> {
    v.as_str().ok_or_else(|| bad("expected text"))
}

fn u(v: &Value) -> Result<u64, StoreError> {
    v.as_u64().ok_or_else(|| bad("expected a number"))
}

fn i(v: &Value) -> Result<i64, StoreError> {
    v.as_i64().ok_or_else(|| bad("expected a number"))
}

fn pair(v: &Value) -> Result<(&Value, &Value), StoreError> {
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((a, b)),
        _ => Err(bad("expected a pair")),
    }
}

fn bytes(v: &Value) -> Result<Vec<u8>, StoreError> {
    B64.decode(s(v)?).map_err(|_| bad("bad base64"))
}

/// Writes one snapshot line into `tx`.
pub fn load_line(tx: &WriteTransaction, text: &str) -> Result<(), StoreError> {
    let row: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let (table, k, v) = match row.as_array().map(Vec::as_slice) {
        Some([t, k, v]) => (s(t)?, k, v),
        _ => return Err(bad("expected [table, key, value]")),
    };
    match table {
        "meta" => {
            tx.open_table(META)?.insert(s(k)?, u(v)?)?;
        }
        "members" => {
            tx.open_table(MEMBERS)?
                .insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "members_by_card" => {
            tx.open_table(MEMBERS_BY_CARD)?.insert(s(k)?, s(v)?)?;
        }
        "members_by_token" => {
            tx.open_table(MEMBERS_BY_TOKEN)?.insert(s(k)?, s(v)?)?;
        }
        "members_by_email" => {
            tx.open_table(MEMBERS_BY_EMAIL)?.insert(s(k)?, s(v)?)?;
        }
        "member_name_words" => {
            let (a, b) = pair(k)?;
            tx.open_table(MEMBER_NAME_WORDS)?
                .insert((s(a)?, s(b)?), ())?;
        }
        "ledger" => {
            tx.open_table(LEDGER)?.insert(u(k)?, bytes(v)?.as_slice())?;
        }
        "member_ledger" => {
            let (a, b) = pair(k)?;
            tx.open_table(MEMBER_LEDGER)?.insert((s(a)?, u(b)?), ())?;
        }
        "reversals" => {
            tx.open_table(REVERSALS)?.insert(u(k)?, u(v)?)?;
        }
        "idempotency" => {
            let (a, b) = pair(k)?;
            tx.open_table(IDEMPOTENCY)?
                .insert((s(a)?, s(b)?), bytes(v)?.as_slice())?;
        }
        "rewards" => {
            tx.open_table(REWARDS)?
                .insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "settings" => {
            tx.open_table(SETTINGS)?
                .insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "staff" => {
            tx.open_table(STAFF)?.insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "api_keys" => {
            tx.open_table(API_KEYS)?
                .insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "audit" => {
            tx.open_table(AUDIT)?.insert(u(k)?, bytes(v)?.as_slice())?;
        }
        "stats" => {
            tx.open_table(STATS)?.insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "hourly" => {
            tx.open_table(HOURLY)?.insert(u(k)?, bytes(v)?.as_slice())?;
        }
        "reward_tally" => {
            tx.open_table(REWARD_TALLY)?
                .insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "members_by_lifetime" => {
            let (a, b) = pair(k)?;
            tx.open_table(MEMBERS_BY_LIFETIME)?
                .insert((i(a)?, s(b)?), ())?;
        }
        "members_by_activity" => {
            let (a, b) = pair(k)?;
            tx.open_table(MEMBERS_BY_ACTIVITY)?
                .insert((i(a)?, s(b)?), ())?;
        }
        "member_secrets" => {
            tx.open_table(MEMBER_SECRETS)?.insert(s(k)?, s(v)?)?;
        }
        "blank_cards" => {
            tx.open_table(BLANK_CARDS)?
                .insert(s(k)?, bytes(v)?.as_slice())?;
        }
        "blank_by_card" => {
            tx.open_table(BLANK_BY_CARD)?.insert(s(k)?, s(v)?)?;
        }
        other => return Err(bad(&format!("unknown table {other}"))),
    }
    Ok(())
}
