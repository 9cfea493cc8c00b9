//! Point-in-time safety between snapshots: the ledger entries written since the last shipment,
//! with the member records and idempotency records they touched, shipped as small objects so a
//! lost server loses at most about one shipping interval of points.

use super::BackupError;
use super::format::{self, Encryption, Header};
use super::target::{Target, TargetSpec};
use crate::domain::member::Member;
use crate::storage::snapshot::{self, Counts, Section};
use crate::storage::tables::Cell;
use crate::storage::{Store, StoreError, replay, schema};
use age::secrecy::SecretString;
use base64::Engine as _;
use redb::Database;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PREFIX: &str = "fealty-seg-";
const SUFFIX: &str = ".fseg";

/// Where shipping has got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// The last sequence shipped (or in the snapshot).
    pub seq: u64,
    /// Members changed from this time on are shipped again (with a little overlap).
    pub since: OffsetDateTime,
    /// Hash of the small tables as last shipped (empty: not shipped since the snapshot).
    pub small_hash: String,
}

fn name(from: u64, to: u64, at: OffsetDateTime) -> String {
    format!(
        "{PREFIX}{from:012}-{to:012}-{}{SUFFIX}",
        at.unix_timestamp()
    )
}

fn parse_name(n: &str) -> Option<(u64, u64, OffsetDateTime)> {
    let rest = n.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut parts = rest.splitn(3, '-');
    let from = parts.next()?.parse().ok()?;
    let to = parts.next()?.parse().ok()?;
    let at = OffsetDateTime::from_unix_timestamp(parts.next()?.parse().ok()?).ok()?;
    Some((from, to, at))
}

/// `t` to the whole second. Segment names carry their time to the second, so other times are
/// compared at that grain: otherwise a segment shipped in the same second as its snapshot (a
/// stop right after start-up) would look older than the snapshot and be skipped or pruned.
fn to_second(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The idempotency record an entry was made under, if it is still kept: (scope, key, record).
fn idempotency_of(
    tx: &redb::ReadTransaction,
    e: &crate::domain::ledger::LedgerEntry,
) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
    let (Some(scope), Some(key)) = (scope_of(&e.body.source), &e.body.idempotency_key) else {
        return Ok(None);
    };
    Ok(replay::idempotency_raw(tx, &scope, key)?.map(|raw| (scope, key.clone(), raw)))
}

fn scope_of(source: &crate::domain::actor::Actor) -> Option<String> {
    match source {
        crate::domain::actor::Actor::ApiKey { key_id } => Some(format!("api:{key_id}")),
        crate::domain::actor::Actor::Staff { username } => Some(format!("staff:{username}")),
        _ => None,
    }
}

/// Ships what changed after `mark`, if anything; returns the new watermark.
pub async fn ship(
    store: &Store,
    spec: &TargetSpec,
    passphrase: Option<SecretString>,
    mark: Watermark,
) -> Result<Watermark, BackupError> {
    let started = crate::clock::now();
    let tmp = tempfile::Builder::new()
        .prefix(".segment-")
        .tempfile_in(store.data_dir())
        .map_err(|e| BackupError::Io(format!("cannot make a temporary file: {e}")))?;
    let path = tmp.path().to_path_buf();
    let since = mark.since;
    let after = mark.seq;
    let old_small = mark.small_hash.clone();
    let made = store
        .read(move |tx| {
            // First pass: what the segment holds, so each section line can say its row count.
            let mut ids = HashSet::new();
            let (mut entries, mut idem, mut to, mut last_hash) = (0u64, 0u64, after, String::new());
            replay::each_entry_after(tx, after, &mut |e, _| {
                ids.insert(e.body.member_id.clone());
                entries += 1;
                to = e.body.seq;
                last_hash = e.hash.to_hex();
                if idempotency_of(tx, e)?.is_some() {
                    idem += 1;
                }
                Ok(())
            })?;
            let mut members = 0u64;
            replay::each_changed_member(tx, since, &ids, &mut |_| {
                members += 1;
                Ok(())
            })?;
            let mut small = Vec::new();
            snapshot::write_small(tx, &mut small)?;
            let small_hash = crate::crypto::sha256_hex(&small);
            let small_changed = small_hash != old_small;
            if entries == 0 && members == 0 && !small_changed {
                return Ok(None);
            }
            let header = Header {
                format_version: format::FORMAT_VERSION,
                schema_version: schema::CURRENT,
                id: name(after + 1, to, started),
                created_at: started.format(&Rfc3339).unwrap_or_default(),
                counts: Counts {
                    members,
                    entries,
                    last_seq: to,
                    last_hash,
                },
                encryption: if passphrase.is_some() {
                    Encryption::AgePassphrase
                } else {
                    Encryption::None
                },
                segment_from: Some(after + 1),
            };
            // Second pass: the rows, written as they are read.
            format::write(&path, &header, passphrase.as_ref(), |w| {
                let mut w = std::io::BufWriter::new(w);
                let w = &mut w;
                let mut body = || -> Result<(), StoreError> {
                    snapshot::section(w, "members", members)?;
                    replay::each_changed_member(tx, since, &ids, &mut |m| {
                        let json =
                            serde_json::to_vec(m).map_err(|e| StoreError::Db(e.to_string()))?;
                        snapshot::row(w, "members", &json!(m.id), Cell::Bytes(&json))
                    })?;
                    snapshot::section(w, "ledger", entries)?;
                    replay::each_entry_after(tx, after, &mut |e, raw| {
                        snapshot::row(w, "ledger", &json!(e.body.seq), Cell::Bytes(raw))
                    })?;
                    snapshot::section(w, "idempotency", idem)?;
                    replay::each_entry_after(
                        tx,
                        after,
                        &mut |e, _| match idempotency_of(tx, e)? {
                            Some((scope, key, raw)) => snapshot::row(
                                w,
                                "idempotency",
                                &json!([scope, key]),
                                Cell::Bytes(&raw),
                            ),
                            None => Ok(()),
                        },
                    )?;
                    if small_changed {
                        w.write_all(&small)
                            .map_err(|e| StoreError::Db(e.to_string()))?;
                    }
                    w.flush().map_err(|e| StoreError::Db(e.to_string()))
                };
                body().map_err(|e| BackupError::Io(e.to_string()))
            })
            .map_err(|e| StoreError::Db(e.to_string()))?;
            Ok(Some((header.id, to, small_hash)))
        })
        .await?;
    let Some((object, to, small_hash)) = made else {
        return Ok(mark);
    };
    Target::open(spec)?
        .upload(tmp.path(), &object, &crate::progress::Progress::hidden())
        .await?;
    // Re-ship members changed in the last few seconds: a change racing the read is not lost.
    Ok(Watermark {
        seq: to,
        since: started - time::Duration::seconds(5),
        small_hash,
    })
}

/// Downloaded segments, deleted when dropped.
pub type Fetched = Vec<tempfile::NamedTempFile>;

/// Downloads, in order, the segments that continue a snapshot taken at `snapshot_at` ending at
/// sequence `after`, made no later than `until`; a gap ends the chain.
pub async fn fetch_after(
    spec: &TargetSpec,
    after: u64,
    snapshot_at: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Fetched, BackupError> {
    let target = Target::open(spec)?;
    let mut segs: Vec<(u64, u64, String)> = target
        .list()
        .await?
        .into_iter()
        .filter_map(|o| {
            let (from, to, at) = parse_name(&o.name)?;
            // A segment may straddle the snapshot (shipping continues an older snapshot when
            // a manual one was made between): it counts if anything in it comes after.
            (at >= to_second(snapshot_at) && at <= until && to.max(from) > after)
                .then_some((from, to, o.name))
        })
        .collect();
    segs.sort();
    let mut out = Vec::new();
    let mut next = after + 1;
    for (from, to, object) in segs {
        if from > next {
            break;
        }
        // Wholly before `next` (a member-only segment at `next` has `to == next - 1`).
        if to + 1 < next {
            continue;
        }
        let tmp = tempfile::Builder::new()
            .prefix(".segment-")
            .tempfile()
            .map_err(|e| BackupError::Io(e.to_string()))?;
        target
            .download(&object, tmp.path(), &crate::progress::Progress::hidden())
            .await?;
        out.push(tmp);
        // A segment of member changes only holds no entries: `to` is `from - 1`.
        next = next.max(to + 1);
    }
    Ok(out)
}

/// A segment's object name without its prefix and suffix, and when it was made, if `name` is one.
pub fn parse_object(name: &str) -> Option<(String, OffsetDateTime)> {
    let (_, _, at) = parse_name(name)?;
    let id = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.to_owned();
    Some((id, at))
}

/// How many segments `spec` holds.
pub async fn count(spec: &TargetSpec) -> Result<usize, BackupError> {
    Ok(Target::open(spec)?
        .list()
        .await?
        .iter()
        .filter(|o| parse_name(&o.name).is_some())
        .count())
}

/// Removes segments made before `t` (the oldest snapshot kept): nothing can replay them any more.
pub async fn prune_before(
    spec: &TargetSpec,
    t: OffsetDateTime,
) -> Result<Vec<String>, BackupError> {
    let target = Target::open(spec)?;
    let mut gone = Vec::new();
    for o in target.list().await? {
        if let Some((_, _, at)) = parse_name(&o.name)
            && at < to_second(t)
        {
            target.delete(&o.name).await?;
            gone.push(o.name);
        }
    }
    Ok(gone)
}

/// An entry as a segment carries it.
enum ShippedEntry {
    /// Sequence and storage record (segments from schema 5 on).
    Record(u64, Vec<u8>),
    /// The entry as JSON (segments made before schema 5).
    Json(Vec<u8>),
}

fn bad(e: impl std::fmt::Display) -> BackupError {
    BackupError::Format(format!("a segment cannot be read: {e}"))
}

/// Applies one segment to a restored database, row by row as it is read; returns the last
/// sequence it holds.
pub fn apply(
    db: &Database,
    file: &Path,
    passphrase: Option<&SecretString>,
) -> Result<u64, BackupError> {
    let (header, body) = format::open_body(file, passphrase)?;
    if header.format_version == 1 {
        return apply_v1(db, &header, body);
    }
    let db_err = |e: redb::Error| BackupError::Db(e.to_string());
    let mut tx = db.begin_write().map_err(|e| db_err(e.into()))?;
    let mut open: Option<Section> = None;
    let (mut seen, mut in_tx) = (0u64, 0usize);
    for l in body.lines() {
        let l = l.map_err(bad)?;
        if l.starts_with('{') {
            close(open.as_ref(), seen)?;
            let s: Section = serde_json::from_str(&l).map_err(bad)?;
            match s.table.as_str() {
                "members" | "ledger" | "idempotency" => {}
                small => snapshot::clear_table(&tx, small).map_err(bad)?,
            }
            open = Some(s);
            seen = 0;
            continue;
        }
        let table = open
            .as_ref()
            .ok_or_else(|| bad("a row before any section"))?;
        let row = snapshot::split_row(&l).map_err(bad)?;
        apply_row(&tx, &table.table, &row)?;
        seen += 1;
        in_tx += 1;
        // A long outage makes a long segment: commit in batches (the file is a restore's
        // work in progress, thrown away whole if anything fails).
        if in_tx == 50_000 {
            tx.commit().map_err(|e| db_err(e.into()))?;
            tx = db.begin_write().map_err(|e| db_err(e.into()))?;
            in_tx = 0;
        }
    }
    close(open.as_ref(), seen)?;
    tx.commit().map_err(|e| db_err(e.into()))?;
    Ok(header.counts.last_seq)
}

fn close(open: Option<&Section>, seen: u64) -> Result<(), BackupError> {
    match open {
        Some(s) if s.rows != seen => Err(bad(format!(
            "section {} should hold {} rows, it has {seen}",
            s.table, s.rows
        ))),
        _ => Ok(()),
    }
}

fn apply_row(
    tx: &redb::WriteTransaction,
    table: &str,
    row: &snapshot::Row<'_>,
) -> Result<(), BackupError> {
    match table {
        "members" => {
            let m: Member = serde_json::from_slice(row.bytes()).map_err(bad)?;
            replay::apply_member(tx, &m)?;
        }
        "ledger" => {
            let seq = row.key.as_u64().ok_or_else(|| bad("a ledger key"))?;
            let (last, prev) = replay::last_entry(tx)?;
            if seq <= last {
                // A segment that straddles the snapshot: this entry is in it already (the
                // chain check after the restore proves the two agree).
                return Ok(());
            }
            let e = crate::storage::records::decode_entry(seq, row.bytes(), prev)?;
            replay::apply_entry(tx, &e).map_err(|e| BackupError::Verify(e.to_string()))?;
        }
        "idempotency" => {
            let (Some(scope), Some(key)) = (row.key[0].as_str(), row.key[1].as_str()) else {
                return Err(bad("an idempotency key"));
            };
            replay::apply_idempotency(tx, scope, key, row.bytes())?;
        }
        small => snapshot::load_row(tx, small, row).map_err(bad)?,
    }
    Ok(())
}

/// Applies a format-1 segment (lines `["member", …]`, `["entry_record", seq, base64]`, …).
fn apply_v1(db: &Database, header: &Header, body: Box<dyn BufRead>) -> Result<u64, BackupError> {
    let mut members: Vec<Member> = Vec::new();
    // Shipped entries: storage records (schema 5 on) or JSON (segments made before).
    let mut entries: Vec<ShippedEntry> = Vec::new();
    let mut idem: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut small: Option<Vec<String>> = None;
    for l in body.lines() {
        let l = l.map_err(bad)?;
        let v: Value = serde_json::from_str(&l).map_err(bad)?;
        match v.get(0).and_then(Value::as_str) {
            Some("member") => members.push(serde_json::from_value(v[1].clone()).map_err(bad)?),
            Some("entry") => {
                entries.push(ShippedEntry::Json(serde_json::to_vec(&v[1]).map_err(bad)?))
            }
            Some("entry_record") => {
                let seq = v[1].as_u64().ok_or_else(|| bad("entry_record"))?;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v[2].as_str().unwrap_or_default())
                    .map_err(bad)?;
                entries.push(ShippedEntry::Record(seq, raw));
            }
            Some("idempotency") => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v[2].as_str().unwrap_or_default())
                    .map_err(bad)?;
                let scope = v[1][0].as_str().unwrap_or_default().to_owned();
                let key = v[1][1].as_str().unwrap_or_default().to_owned();
                idem.push((scope, key, raw));
            }
            Some("small_tables") => small = Some(Vec::new()),
            Some("row") => {
                let row = v[1].as_str().ok_or_else(|| bad("row"))?.to_owned();
                small.get_or_insert_with(Vec::new).push(row);
            }
            _ => return Err(bad("unknown line")),
        }
    }
    let tx = db
        .begin_write()
        .map_err(|e| BackupError::Db(e.to_string()))?;
    for m in &members {
        replay::apply_member(&tx, m)?;
    }
    for shipped in &entries {
        let (last, prev) = replay::last_entry(&tx)?;
        if matches!(shipped, ShippedEntry::Record(seq, _) if *seq <= last) {
            continue;
        }
        let e = match shipped {
            ShippedEntry::Record(seq, raw) => {
                crate::storage::records::decode_entry(*seq, raw, prev)?
            }
            ShippedEntry::Json(json) => {
                crate::storage::migrate_v5::legacy_entry(json, prev).map_err(bad)?
            }
        };
        replay::apply_entry(&tx, &e).map_err(|e| BackupError::Verify(e.to_string()))?;
    }
    for (scope, key, raw) in &idem {
        replay::apply_idempotency(&tx, scope, key, raw)?;
    }
    if let Some(rows) = &small {
        snapshot::clear_small(&tx)?;
        for row in rows {
            snapshot::load_line(&tx, row).map_err(bad)?;
        }
    }
    tx.commit().map_err(|e| BackupError::Db(e.to_string()))?;
    Ok(header.counts.last_seq)
}
