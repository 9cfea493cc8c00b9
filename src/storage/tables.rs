//! Every redb table FealTY keeps, declared once, and the registry that drives creation,
//! migration, snapshots, restore and `verify` from those declarations.
//!
//! Ledger entries, idempotency records and audit rows are compact versioned records
//! (`records.rs`); the other values are JSON, so a person can read a dump and a migration can
//! add fields with defaults.

use super::StoreError;
use base64::Engine as _;
use redb::{Key, ReadTransaction, ReadableTable, TableDefinition, TableHandle, WriteTransaction};
use serde_json::Value;
use std::sync::LazyLock;

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

/// Sequence → ledger entry record (`records::encode_entry`); append-only.
pub const LEDGER: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger");
/// (member id as a 128-bit ULID, sequence) → (); a member's history (schema v5).
pub const MEMBER_ENTRIES: TableDefinition<(u128, u64), ()> = TableDefinition::new("member_entries");
/// Reversed entry's sequence → the reversal's sequence; an entry is reversed at most once.
pub const REVERSALS: TableDefinition<u64, u64> = TableDefinition::new("reversals");

/// (scope, key) → idempotency record (`records::encode_idempotency`); scope is the API key id
/// or staff account.
pub const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");

/// Reward id → `Reward` JSON.
pub const REWARDS: TableDefinition<&str, &[u8]> = TableDefinition::new("rewards");

/// `"settings"` → `Settings` JSON; `"setup_token_sha256"` → hash of the one-time setup token;
/// `"ledger_check"` → `CheckState` JSON, the server's scheduled ledger checks.
pub const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// Username → `StaffUser` JSON.
pub const STAFF: TableDefinition<&str, &[u8]> = TableDefinition::new("staff");

/// Key id → `ApiKeyRecord` JSON.
pub const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");

/// Sequence → audit row (`records::encode_audit`): a ledger reference or a JSON record.
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

/// `"last"` → the mark of the last write job committed: the writer's bookkeeping, so that after a
/// failed write the reopened file tells which jobs were kept (schema v5).
pub const WRITER_MARKS: TableDefinition<&str, u64> = TableDefinition::new("writer_marks");

/// Alert key → when it started and its words: the owner alerts active at the last look
/// (schema v5, added later: a file without it has none).
pub const ALERTS_ACTIVE: TableDefinition<&str, &[u8]> = TableDefinition::new("alerts_active");
/// Id → `Message` JSON: owner alerts queued and sent, each with its deliveries (schema v5,
/// added later).
pub const ALERT_MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("alert_messages");

/// Provider name → `Integration` JSON: whether a shop's webhooks are taken, and the signing
/// secret they are checked with (schema v5, added later: a file without it has none enabled).
pub const HOOK_SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("hook_settings");
/// (provider, delivery id) → `DeliveryRecord` JSON: every signed delivery taken, so a retried
/// one applies nothing (schema v5, added later).
pub const HOOK_DELIVERIES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("hook_deliveries");
/// (provider, when it came in Unix microseconds, delivery id) → (): each shop's deliveries by
/// time, for the newest on the page and the oldest in the sweep (schema v5, added later; the
/// sweep fills it in for deliveries taken before it existed).
pub const HOOK_DELIVERY_TIMES: TableDefinition<(&str, u64, &str), ()> =
    TableDefinition::new("hook_delivery_times");
/// (provider, order id) → `ShopOrder` JSON: what an order earned and what refunds took back,
/// so an order awards once (schema v5, added later).
pub const HOOK_ORDERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("hook_orders");
/// (provider, order id) → (): orders parked until staff attach them to a member (schema v5,
/// added later).
pub const HOOK_UNMATCHED: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("hook_unmatched");
/// `account` → `EtsyAccount` JSON (the owner's Etsy credentials and poll interval), `state` →
/// `EtsyState` JSON (the receipts cursor, written with the receipts it covers, and the last
/// poll's outcome) (schema v5, added later: a file without it has Etsy not set up).
pub const ETSY: TableDefinition<&str, &[u8]> = TableDefinition::new("etsy");
/// Endpoint id → `Endpoint` JSON: the owner's outbound event URLs with their signing secrets
/// (schema v5, added later: a file without it has none).
pub const WEBHOOK_ENDPOINTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("webhook_endpoints");
/// Id → `Delivery` JSON: outbound events queued and sent, one row per endpoint (schema v5,
/// added later).
pub const EVENT_DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("event_deliveries");
/// (endpoint id, "{next attempt in Unix ms:020}.{delivery id:020}") → (): each endpoint's
/// pending deliveries by due time (schema v5, added later).
pub const EVENT_DUE: TableDefinition<(&str, &str), ()> = TableDefinition::new("event_due");
/// Delivery id → (): the finished deliveries still kept, oldest first, so the oldest can be
/// pruned without a scan (schema v5, added later).
pub const EVENT_DONE: TableDefinition<u64, ()> = TableDefinition::new("event_done");

/// Referral code → member id: a join link's referrer in one read (schema v5, added later: a
/// file without it has no codes yet; members get theirs when first needed).
pub const MEMBERS_BY_REFERRAL: TableDefinition<&str, &str> =
    TableDefinition::new("members_by_referral");
/// ("MM-DD" of a birthday, member id) → (): the day's birthdays without reading every member
/// (schema v5, added later).
pub const MEMBER_BIRTHDAYS: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("member_birthdays");
/// Entry sequence → `EntryBonus` JSON: the points campaigns added to that earn, so its
/// reversal takes them back out of the bonus totals (schema v5, added later: a file without it
/// has issued none).
pub const ENTRY_BONUS: TableDefinition<u64, &[u8]> = TableDefinition::new("entry_bonus");
/// UTC hour (hours since the Unix epoch) → bonus points issued in it, net of reversals, as JSON
/// (schema v5, added later).
pub const BONUS_HOURLY: TableDefinition<u64, &[u8]> = TableDefinition::new("bonus_hourly");
/// Id → `Notice` JSON: member email notices waiting to be sent (schema v5, added later).
pub const NOTICES_PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("notices_pending");
/// Id → `Notice` JSON: member email notices sent, skipped or given up, kept for a while
/// (schema v5, added later).
pub const NOTICES_DONE: TableDefinition<u64, &[u8]> = TableDefinition::new("notices_done");

/// Retired in schema v5: (member id text, sequence) → (); replaced by `MEMBER_ENTRIES`. Kept
/// so that snapshots of schema 1–4 still load, before their migration removes it.
pub const MEMBER_LEDGER_V4: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("member_ledger");

/// A stored value as `dump` hands it over: JSON already, or the stored bytes.
pub enum Cell<'a> {
    /// A typed value (text, number, nothing) as JSON.
    Json(Value),
    /// A byte value exactly as stored (JSON text, a record, or other bytes).
    Bytes(&'a [u8]),
}

/// Where `dump` sends each row: the key as JSON and the value.
pub type RowSink<'a> = dyn FnMut(Value, Cell<'_>) -> Result<(), StoreError> + 'a;

/// Reads every row of a table and decodes its value; returns how many rows.
pub type CheckRows = fn(&ReadTransaction) -> Result<u64, StoreError>;

/// One table: its name, what it holds, since when, whether backups carry it, and how its rows
/// become snapshot lines and back.
pub struct Table {
    /// The table's name in the file and in snapshot lines.
    pub name: String,
    /// What it holds (the constant's doc line).
    pub doc: &'static str,
    /// The schema version that introduced it.
    pub since: u64,
    /// Whether snapshots carry it (all but sessions: a restored server must not accept cookies
    /// issued by the old one).
    pub backed_up: bool,
    /// Creates the table if missing.
    pub create: fn(&WriteTransaction) -> Result<(), StoreError>,
    /// How many rows it holds (0 when the file does not have it).
    pub rows: fn(&ReadTransaction) -> Result<u64, StoreError>,
    /// Calls `emit(key, value)` for every row.
    pub dump: fn(&ReadTransaction, &mut RowSink<'_>) -> Result<(), StoreError>,
    /// Inserts one row of a format-1 snapshot (byte values in base64).
    pub load: fn(&WriteTransaction, &Value, &Value) -> Result<(), StoreError>,
    /// Inserts one row given its key as JSON and its value as stored bytes (byte columns) or
    /// JSON text (the others).
    pub load_raw: fn(&WriteTransaction, &Value, &[u8]) -> Result<(), StoreError>,
    /// Removes every row.
    pub clear: fn(&WriteTransaction) -> Result<(), StoreError>,
    /// Reads every row and decodes its value; names the first that cannot be read.
    /// (None for tables with nothing to decode: the page checksums verified at open cover them.)
    pub check: Option<CheckRows>,
}

/// A key or value type, as it appears in snapshot lines.
pub trait Column: redb::Value + 'static {
    /// The JSON form of a stored value.
    fn to_json(v: Self::SelfType<'_>) -> Value;
    /// The value as a snapshot carries it.
    fn to_cell<'a>(v: Self::SelfType<'a>) -> Cell<'a> {
        Cell::Json(Self::to_json(v))
    }
    /// Calls `f` with the stored form of a value given as JSON text (or, for byte columns, as
    /// the stored bytes themselves).
    fn with_raw<R>(
        raw: &[u8],
        f: impl for<'a> FnOnce(Self::SelfType<'a>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let v: Value = serde_json::from_slice(raw).map_err(|e| bad(&e.to_string()))?;
        Self::with_json(&v, f)
    }
    /// Calls `f` with the stored form of a JSON value.
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce(Self::SelfType<'a>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError>;
}

fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot line unreadable: {what}"))
}

fn text(v: &Value) -> Result<&str, StoreError> {
    v.as_str().ok_or_else(|| bad("expected text"))
}

fn pair(v: &Value) -> Result<(&Value, &Value), StoreError> {
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((a, b)),
        _ => Err(bad("expected a pair")),
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Column for &'static str {
    fn to_json(v: &str) -> Value {
        Value::from(v)
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce(&'a str) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(text(v)?)
    }
}

impl Column for &'static [u8] {
    fn to_json(v: &[u8]) -> Value {
        Value::from(B64.encode(v))
    }
    fn to_cell<'a>(v: Self::SelfType<'a>) -> Cell<'a> {
        Cell::Bytes(v)
    }
    fn with_raw<R>(
        raw: &[u8],
        f: impl for<'a> FnOnce(&'a [u8]) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(raw)
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce(&'a [u8]) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(&B64.decode(text(v)?).map_err(|_| bad("bad base64"))?)
    }
}

impl Column for u64 {
    fn to_json(v: u64) -> Value {
        Value::from(v)
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce(u64) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(v.as_u64().ok_or_else(|| bad("expected a number"))?)
    }
}

impl Column for () {
    fn to_json(_: ()) -> Value {
        Value::Null
    }
    fn with_json<R>(
        _: &Value,
        f: impl for<'a> FnOnce(()) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(())
    }
}

impl Column for (&'static str, &'static str) {
    fn to_json(v: (&str, &str)) -> Value {
        serde_json::json!([v.0, v.1])
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce((&'a str, &'a str)) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let (a, b) = pair(v)?;
        f((text(a)?, text(b)?))
    }
}

impl Column for (&'static str, u64) {
    fn to_json(v: (&str, u64)) -> Value {
        serde_json::json!([v.0, v.1])
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce((&'a str, u64)) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let (a, b) = pair(v)?;
        f((
            text(a)?,
            b.as_u64().ok_or_else(|| bad("expected a number"))?,
        ))
    }
}

impl Column for (i64, &'static str) {
    fn to_json(v: (i64, &str)) -> Value {
        serde_json::json!([v.0, v.1])
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce((i64, &'a str)) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let (a, b) = pair(v)?;
        f((
            a.as_i64().ok_or_else(|| bad("expected a number"))?,
            text(b)?,
        ))
    }
}

impl Column for (&'static str, u64, &'static str) {
    fn to_json(v: (&str, u64, &str)) -> Value {
        serde_json::json!([v.0, v.1, v.2])
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce((&'a str, u64, &'a str)) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match v.as_array().map(Vec::as_slice) {
            Some([a, b, c]) => f((
                text(a)?,
                b.as_u64().ok_or_else(|| bad("expected a number"))?,
                text(c)?,
            )),
            _ => Err(bad("expected a triple")),
        }
    }
}

/// Member ids appear as ULID text in snapshot lines.
impl Column for (u128, u64) {
    fn to_json(v: (u128, u64)) -> Value {
        serde_json::json!([ulid::Ulid(v.0).to_string(), v.1])
    }
    fn with_json<R>(
        v: &Value,
        f: impl for<'a> FnOnce((u128, u64)) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let (a, b) = pair(v)?;
        let id = ulid::Ulid::from_string(text(a)?).map_err(|_| bad("expected a member id"))?;
        f((id.0, b.as_u64().ok_or_else(|| bad("expected a number"))?))
    }
}

fn create<K: Key + 'static, V: redb::Value + 'static>(
    tx: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<(), StoreError> {
    tx.open_table(def)?;
    Ok(())
}

fn dump<K: Key + Column, V: Column>(
    tx: &ReadTransaction,
    def: TableDefinition<K, V>,
    emit: &mut RowSink<'_>,
) -> Result<(), StoreError> {
    let table = match tx.open_table(def) {
        Ok(t) => t,
        // A table a snapshot's schema does not have yet is simply empty.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for row in table.iter()? {
        let (k, v) = row?;
        emit(K::to_json(k.value()), V::to_cell(v.value()))?;
    }
    Ok(())
}

fn rows<K: Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    match tx.open_table(def) {
        Ok(t) => Ok(redb::ReadableTableMetadata::len(&t)?),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn load_raw<K: Key + Column, V: Column>(
    tx: &WriteTransaction,
    def: TableDefinition<K, V>,
    k: &Value,
    v: &[u8],
) -> Result<(), StoreError> {
    let mut table = tx.open_table(def)?;
    K::with_json(k, |k| {
        V::with_raw(v, |v| {
            table.insert(k, v)?;
            Ok(())
        })
    })
}

fn load<K: Key + Column, V: Column>(
    tx: &WriteTransaction,
    def: TableDefinition<K, V>,
    k: &Value,
    v: &Value,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(def)?;
    K::with_json(k, |k| {
        V::with_json(v, |v| {
            table.insert(k, v)?;
            Ok(())
        })
    })
}

fn clear<K: Key + 'static, V: redb::Value + 'static>(
    tx: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<(), StoreError> {
    tx.open_table(def)?.retain(|_, _| false)?;
    Ok(())
}

fn check<K: Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    def: TableDefinition<K, V>,
    value_ok: impl for<'a> Fn(V::SelfType<'a>) -> Result<(), String>,
) -> Result<u64, StoreError> {
    let name = def.name().to_owned();
    let table = tx.open_table(def)?;
    let mut n = 0;
    for row in table.iter()? {
        let (_, v) = row.map_err(|e| StoreError::Corrupt(format!("table {name}: {e}")))?;
        value_ok(v.value())
            .map_err(|e| StoreError::Corrupt(format!("table {name}, row {}: {e}", n + 1)))?;
        n += 1;
    }
    Ok(n)
}

fn json(v: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Settings hold JSON, and the setup token's hash as hex text.
fn json_or_hex(v: &[u8]) -> Result<(), String> {
    if !v.is_empty() && v.iter().all(u8::is_ascii_hexdigit) {
        return Ok(());
    }
    json(v)
}

fn ledger_record(v: &[u8]) -> Result<(), String> {
    super::records::entry_hash(0, v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn idempotency_record(v: &[u8]) -> Result<(), String> {
    super::records::decode_idempotency(v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn audit_row(v: &[u8]) -> Result<(), String> {
    match super::records::decode_audit(v).map_err(|e| e.to_string())? {
        super::records::AuditRow::Json(bytes) => json(&bytes),
        super::records::AuditRow::Ledger(_) => Ok(()),
    }
}

macro_rules! table {
    ($def:expr, $doc:literal, since $since:literal, backed_up $b:literal, check any) => {
        table!(@make $def, $doc, $since, $b, None)
    };
    ($def:expr, $doc:literal, since $since:literal, backed_up $b:literal, check $check:expr) => {
        table!(@make $def, $doc, $since, $b, Some(|tx| check(tx, $def, |v| $check(v))))
    };
    (@make $def:expr, $doc:literal, $since:literal, $b:literal, $check:expr) => {
        Table {
            name: redb::TableHandle::name(&$def).to_owned(),
            doc: $doc,
            since: $since,
            backed_up: $b,
            create: |tx| create(tx, $def),
            rows: |tx| rows(tx, $def),
            dump: |tx, emit| dump(tx, $def, emit),
            load: |tx, k, v| load(tx, $def, k, v),
            load_raw: |tx, k, v| load_raw(tx, $def, k, v),
            clear: |tx| clear(tx, $def),
            check: $check,
        }
    };
}

/// Every table of the current schema, in snapshot order.
pub static REGISTRY: LazyLock<Vec<Table>> = LazyLock::new(|| {
    vec![
        table!(META, "schema version", since 1, backed_up true, check any),
        table!(MEMBERS, "members", since 1, backed_up true, check json),
        table!(MEMBERS_BY_CARD, "card number → member", since 1, backed_up true, check any),
        table!(MEMBERS_BY_TOKEN, "card token → member", since 1, backed_up true, check any),
        table!(MEMBERS_BY_EMAIL, "email → member", since 1, backed_up true, check any),
        table!(MEMBER_NAME_WORDS, "name words → member", since 1, backed_up true, check any),
        table!(LEDGER, "the ledger", since 1, backed_up true, check ledger_record),
        table!(MEMBER_ENTRIES, "a member's entries", since 5, backed_up true, check any),
        table!(REVERSALS, "reversed entry → reversal", since 1, backed_up true, check any),
        table!(IDEMPOTENCY, "idempotency records", since 1, backed_up true, check idempotency_record),
        table!(REWARDS, "rewards", since 1, backed_up true, check json),
        table!(SETTINGS, "settings", since 1, backed_up true, check json_or_hex),
        table!(STAFF, "staff accounts", since 1, backed_up true, check json),
        table!(API_KEYS, "API keys", since 1, backed_up true, check json),
        table!(AUDIT, "audit trail", since 1, backed_up true, check audit_row),
        table!(STATS, "running totals", since 2, backed_up true, check json),
        table!(SESSIONS, "sessions", since 3, backed_up false, check json),
        table!(HOURLY, "totals per hour", since 3, backed_up true, check json),
        table!(REWARD_TALLY, "redemptions per reward", since 3, backed_up true, check json),
        table!(MEMBERS_BY_LIFETIME, "members by lifetime points", since 3, backed_up true, check any),
        table!(MEMBERS_BY_ACTIVITY, "members by last activity", since 3, backed_up true, check any),
        table!(MEMBER_SECRETS, "customer password hashes", since 4, backed_up true, check any),
        table!(BLANK_CARDS, "printed blank cards", since 4, backed_up true, check json),
        table!(BLANK_BY_CARD, "blank card number → token", since 4, backed_up true, check any),
        table!(WRITER_MARKS, "the writer's last job mark", since 5, backed_up true, check any),
        table!(ALERTS_ACTIVE, "owner alerts active", since 5, backed_up false, check any),
        table!(ALERT_MESSAGES, "owner alerts queued and sent", since 5, backed_up false, check any),
        table!(HOOK_SETTINGS, "shop webhook settings", since 5, backed_up true, check json),
        table!(HOOK_DELIVERIES, "shop webhook deliveries", since 5, backed_up true, check json),
        table!(HOOK_DELIVERY_TIMES, "shop webhook deliveries by time", since 5, backed_up true, check any),
        table!(HOOK_ORDERS, "shop orders awarded", since 5, backed_up true, check json),
        table!(HOOK_UNMATCHED, "shop orders parked", since 5, backed_up true, check any),
        table!(ETSY, "Etsy polling account and cursor", since 5, backed_up true, check json),
        table!(WEBHOOK_ENDPOINTS, "outbound event endpoints", since 5, backed_up true, check json),
        table!(EVENT_DELIVERIES, "outbound events queued and sent", since 5, backed_up false, check json),
        table!(EVENT_DUE, "outbound events by due time", since 5, backed_up false, check any),
        table!(EVENT_DONE, "outbound events finished", since 5, backed_up false, check any),
        table!(MEMBERS_BY_REFERRAL, "referral code → member", since 5, backed_up true, check any),
        table!(MEMBER_BIRTHDAYS, "birthdays by month and day", since 5, backed_up true, check any),
        table!(ENTRY_BONUS, "campaign bonus per entry", since 5, backed_up true, check json),
        table!(BONUS_HOURLY, "campaign bonus per hour", since 5, backed_up true, check json),
        table!(NOTICES_PENDING, "member notices queued", since 5, backed_up false, check json),
        table!(NOTICES_DONE, "member notices sent", since 5, backed_up false, check json),
    ]
});

/// Tables older schemas had and the current one does not; their snapshot lines still load (into
/// the old table, which the migration then converts and removes).
pub static RETIRED: LazyLock<Vec<Table>> = LazyLock::new(|| {
    vec![table!(
        MEMBER_LEDGER_V4,
        "a member's entries, by id text (schema 1–4)",
        since 1,
        backed_up false,
        check any
    )]
});

/// The table named `name`, current or retired.
pub fn by_name(name: &str) -> Option<&'static Table> {
    REGISTRY
        .iter()
        .chain(RETIRED.iter())
        .find(|t| t.name == name)
}

/// Creates every current table that is missing.
pub fn create_all(tx: &WriteTransaction) -> Result<(), StoreError> {
    REGISTRY.iter().try_for_each(|t| (t.create)(tx))
}

/// Creates the tables that schema `version` introduced.
pub fn create_since(tx: &WriteTransaction, version: u64) -> Result<(), StoreError> {
    REGISTRY
        .iter()
        .filter(|t| t.since == version)
        .try_for_each(|t| (t.create)(tx))
}
