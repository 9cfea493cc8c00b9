//! Point-in-time safety between snapshots: the ledger entries written since the last shipment,
//! with the member records and idempotency records they touched, shipped as small objects so a
//! lost server loses at most about one shipping interval of points.

use super::BackupError;
use super::format::{self, Encryption, Header};
use super::target::{Target, TargetSpec};
use crate::domain::member::Member;
use crate::storage::{Store, StoreError, replay, schema, snapshot::Counts};
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

fn line(w: &mut dyn Write, v: &Value) -> Result<(), BackupError> {
    serde_json::to_writer(&mut *w, v).map_err(|e| BackupError::Io(e.to_string()))?;
    w.write_all(b"\n")
        .map_err(|e| BackupError::Io(e.to_string()))
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
            let entries = replay::entries_after(tx, after)?;
            let ids: HashSet<String> = entries.iter().map(|e| e.body.member_id.clone()).collect();
            let members = replay::changed_members(tx, since, &ids)?;
            let mut small = Vec::new();
            crate::storage::snapshot::write_small(tx, &mut small)?;
            let small_hash = crate::crypto::sha256_hex(&small);
            let small_changed = small_hash != old_small;
            if entries.is_empty() && members.is_empty() && !small_changed {
                return Ok(None);
            }
            let to = entries.last().map_or(after, |e| e.body.seq);
            let last_hash = entries.last().map(|e| e.hash.to_hex()).unwrap_or_default();
            let mut idem = Vec::new();
            for e in &entries {
                if let (Some(scope), Some(key)) =
                    (scope_of(&e.body.source), &e.body.idempotency_key)
                    && let Some(raw) = replay::idempotency_raw(tx, &scope, key)?
                {
                    idem.push((scope, key.clone(), raw));
                }
            }
            let header = Header {
                format_version: format::FORMAT_VERSION,
                schema_version: schema::CURRENT,
                id: name(after + 1, to, started),
                created_at: started.format(&Rfc3339).unwrap_or_default(),
                counts: Counts {
                    members: members.len() as u64,
                    entries: entries.len() as u64,
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
            format::write(&path, &header, passphrase.as_ref(), |w| {
                for m in &members {
                    line(w, &json!(["member", m]))?;
                }
                let b64 = base64::engine::general_purpose::STANDARD;
                for e in &entries {
                    let record = crate::storage::records::encode_entry(e)
                        .map_err(|e| BackupError::Io(e.to_string()))?;
                    line(w, &json!(["entry_record", e.body.seq, b64.encode(record)]))?;
                }
                for (scope, key, raw) in &idem {
                    line(w, &json!(["idempotency", [scope, key], b64.encode(raw)]))?;
                }
                if small_changed {
                    line(w, &json!(["small_tables"]))?;
                    for row in String::from_utf8_lossy(&small).lines() {
                        line(w, &json!(["row", row]))?;
                    }
                }
                Ok(())
            })
            .map_err(|e| StoreError::Db(e.to_string()))?;
            Ok(Some((header.id, to, small_hash)))
        })
        .await?;
    let Some((object, to, small_hash)) = made else {
        return Ok(mark);
    };
    Target::open(spec)?.upload(tmp.path(), &object).await?;
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
            (at > snapshot_at && at <= until && from > after).then_some((from, to, o.name))
        })
        .collect();
    segs.sort();
    let mut out = Vec::new();
    let mut next = after + 1;
    for (from, to, object) in segs {
        if from > next {
            break;
        }
        if from < next {
            continue;
        }
        let tmp = tempfile::Builder::new()
            .prefix(".segment-")
            .tempfile()
            .map_err(|e| BackupError::Io(e.to_string()))?;
        target.download(&object, tmp.path()).await?;
        out.push(tmp);
        // A segment of member changes only holds no entries: `to` is `from - 1`.
        next = next.max(to + 1);
    }
    Ok(out)
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
            && at < t
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

/// Applies one segment to a restored database; returns the last sequence it holds.
pub fn apply(
    db: &Database,
    file: &Path,
    passphrase: Option<&SecretString>,
) -> Result<u64, BackupError> {
    let (header, body) = format::open_body(file, passphrase)?;
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
        let (_, prev) = replay::last_entry(&tx)?;
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
        crate::storage::snapshot::clear_small(&tx)?;
        for row in rows {
            crate::storage::snapshot::load_line(&tx, row).map_err(bad)?;
        }
    }
    tx.commit().map_err(|e| BackupError::Db(e.to_string()))?;
    Ok(header.counts.last_seq)
}
