//! Applying shipped changes after a snapshot: member records as they were, and ledger entries
//! exactly as written (same sequence, same hashes), checked against the chain at the seam.

use super::tables::*;
use super::{StoreError, aggregates, codec, members, stats};
use crate::domain::ledger::LedgerEntry;
use crate::domain::member::Member;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

/// Calls `f` with each member created or changed since `since`, and each member named by `ids`
/// (their entries moved them), one at a time.
pub fn each_changed_member(
    tx: &ReadTransaction,
    since: time::OffsetDateTime,
    ids: &std::collections::HashSet<String>,
    f: &mut dyn FnMut(&Member) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let table = tx.open_table(MEMBERS)?;
    for row in table.iter()? {
        let (k, v) = row?;
        let m: Member = codec::decode("members", v.value())?;
        if ids.contains(k.value()) || m.updated_at >= since || m.created_at >= since {
            f(&m)?;
        }
    }
    Ok(())
}

/// What [`each_entry_after`] calls with each entry and its stored record.
pub type EntryVisitor<'a> = dyn FnMut(&LedgerEntry, &[u8]) -> Result<(), StoreError> + 'a;

/// Calls `f` with each entry after sequence `after`, oldest first, and its stored record.
pub fn each_entry_after(
    tx: &ReadTransaction,
    after: u64,
    f: &mut EntryVisitor<'_>,
) -> Result<(), StoreError> {
    let table = tx.open_table(LEDGER)?;
    let mut prev = None;
    for row in table.range(after + 1..)? {
        let (k, v) = row?;
        let seq = k.value();
        let prev_hash = match prev {
            Some(h) => h,
            None => super::ledger::prev_hash(&table, seq)?,
        };
        let e = super::records::decode_entry(seq, v.value(), prev_hash)?;
        prev = Some(e.hash);
        f(&e, v.value())?;
    }
    Ok(())
}

/// Writes a member record as shipped, with its indexes.
pub fn apply_member(tx: &WriteTransaction, m: &Member) -> Result<(), StoreError> {
    let before = codec::get::<&str, Member, _>(&tx.open_table(MEMBERS)?, "members", m.id.as_str())?;
    let id = m.id.as_str();
    if let Some(b) = &before {
        tx.open_table(MEMBERS_BY_CARD)?
            .remove(b.card_number.as_str())?;
        tx.open_table(MEMBERS_BY_TOKEN)?
            .remove(b.card_token.as_str())?;
        members::index_email(tx, b.email.as_ref(), None)?;
        members::index_names(tx, b, false)?;
    } else {
        let mut totals = stats::load_for_update(tx)?;
        totals.members += 1;
        stats::save(tx, &totals)?;
        aggregates::member_created(tx, m.created_at)?;
    }
    if m.status != crate::domain::member::MemberStatus::Erased {
        tx.open_table(MEMBERS_BY_CARD)?
            .insert(m.card_number.as_str(), id)?;
        tx.open_table(MEMBERS_BY_TOKEN)?
            .insert(m.card_token.as_str(), id)?;
        members::index_email(tx, m.email.as_ref(), Some(id))?;
        members::index_names(tx, m, true)?;
    }
    members::save(tx, m)?;
    aggregates::reindex_member(tx, before.as_ref(), m)
}

/// Appends a shipped entry; it must follow the last one in sequence and in the hash chain.
pub fn apply_entry(tx: &WriteTransaction, e: &LedgerEntry) -> Result<(), StoreError> {
    let ledger = tx.open_table(LEDGER)?;
    let (last_seq, last_hash) = super::ledger::last(&ledger)?;
    let b = &e.body;
    if b.seq != last_seq + 1 || e.prev_hash != last_hash || !e.hash_is_valid() {
        return Err(StoreError::Corrupt(format!(
            "entry {} does not continue the chain after entry {last_seq}",
            b.seq
        )));
    }
    let reversed = match b.reverses {
        Some(original) => super::ledger::entry(&ledger, original)?.map(|o| o.body.kind),
        None => None,
    };
    drop(ledger);
    super::ledger::append(tx, e)?;
    let mut totals = stats::load_for_update(tx)?;
    totals.record(b.kind, b.points, reversed)?;
    stats::save(tx, &totals)?;
    aggregates::entry_counted(tx, b, reversed)
}

/// Writes a shipped idempotency record, so a retried request after a restore is still answered once.
pub fn apply_idempotency(
    tx: &WriteTransaction,
    scope: &str,
    key: &str,
    record: &[u8],
) -> Result<(), StoreError> {
    // Segments shipped before schema 5 carry the JSON record with the whole answer.
    let converted;
    let record = if record.first() == Some(&b'{') {
        let r = super::migrate_v5::legacy_idempotency(record).map_err(|e| {
            StoreError::Corrupt(format!("a shipped idempotency record cannot be read: {e}"))
        })?;
        converted = super::records::encode_idempotency(&r)?;
        converted.as_slice()
    } else {
        super::records::decode_idempotency(record)?;
        record
    };
    tx.open_table(IDEMPOTENCY)?.insert((scope, key), record)?;
    Ok(())
}

/// The last entry's sequence and hash, for decoding a shipped entry that follows it.
pub fn last_entry(
    tx: &WriteTransaction,
) -> Result<(u64, crate::domain::ledger::EntryHash), StoreError> {
    super::ledger::last(&tx.open_table(LEDGER)?)
}

/// The stored idempotency record of (scope, key), raw.
pub fn idempotency_raw(
    tx: &ReadTransaction,
    scope: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(tx
        .open_table(IDEMPOTENCY)?
        .get((scope, key))?
        .map(|v| v.value().to_vec()))
}
