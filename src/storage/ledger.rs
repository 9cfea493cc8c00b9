//! The ledger: appending entries with their balance change, history, reversal and verification.

use super::members::{self, Page};
use super::tables::*;
use super::{StoreError, aggregates, audit, codec, stats};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::ledger::{
    Account, EntryBody, EntryKind, GENESIS_HASH, LedgerEntry, check_reversible,
};
use crate::domain::member::{Member, MemberId, MemberStatus};
use crate::domain::money::Money;
use crate::domain::stats::Totals;
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use time::OffsetDateTime;

/// A change to append, before it has a sequence number or a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// Whose points.
    pub member_id: MemberId,
    /// Kind of entry.
    pub kind: EntryKind,
    /// Signed points.
    pub points: i64,
    /// Why.
    pub reason: Option<String>,
    /// Outside reference.
    pub reference: Option<String>,
    /// Reward redeemed, if any.
    pub reward_id: Option<String>,
    /// Purchase amount, if points were earned by amount.
    pub amount: Option<Money>,
    /// The reversed entry and its kind, for a reversal.
    pub reverses: Option<(u64, EntryKind)>,
}

/// An entry by sequence number.
pub fn entry<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    seq: u64,
) -> Result<Option<LedgerEntry>, StoreError> {
    codec::get(table, "ledger", seq)
}

/// Appends one entry: checks the balance rule, then writes the entry, the member, the totals and an audit record together.
pub fn post(
    tx: &WriteTransaction,
    posting: Posting,
    actor: &Actor,
    idempotency_key: Option<&str>,
    now: OffsetDateTime,
) -> Result<(LedgerEntry, Member), StoreError> {
    let before = members::get_for_update(tx, &posting.member_id)?;
    let mut member = before.clone();
    let account = Account {
        balance: member.balance,
        lifetime_earned: member.lifetime_earned,
        // Erased accounts take no new points either; only their closing expiry.
        blocked: member.status != MemberStatus::Active,
    }
    .apply(posting.kind, posting.points, posting.reverses.map(|r| r.1))?;

    let mut ledger = tx.open_table(LEDGER)?;
    let (seq, prev_hash) = match ledger.last()? {
        Some((k, v)) => {
            let last: LedgerEntry = codec::decode("ledger", v.value())?;
            (k.value() + 1, last.hash)
        }
        None => (1, GENESIS_HASH.to_owned()),
    };
    let body = EntryBody {
        seq,
        member_id: member.id.as_str().to_owned(),
        kind: posting.kind,
        points: posting.points,
        balance_after: account.balance,
        reason: posting.reason,
        source: actor.clone(),
        reference: posting.reference,
        idempotency_key: idempotency_key.map(str::to_owned),
        reverses: posting.reverses.map(|r| r.0),
        reward_id: posting.reward_id,
        amount: posting.amount,
        created_at: now,
    };
    let entry = LedgerEntry::seal(body, &prev_hash);
    ledger.insert(seq, codec::encode(&entry)?.as_slice())?;
    drop(ledger);
    tx.open_table(MEMBER_LEDGER)?
        .insert((member.id.as_str(), seq), ())?;
    if let Some((original, _)) = posting.reverses {
        tx.open_table(REVERSALS)?.insert(original, seq)?;
    }

    member.balance = account.balance;
    member.lifetime_earned = account.lifetime_earned;
    member.last_activity_at = Some(now);
    members::save(tx, &member)?;

    let mut totals = stats::load_for_update(tx)?;
    totals.record(posting.kind, posting.points, posting.reverses.map(|r| r.1));
    stats::save(tx, &totals)?;
    aggregates::entry_posted(
        tx,
        &entry.body,
        posting.reverses.map(|r| r.1),
        &before,
        &member,
    )?;

    let action = match posting.kind {
        EntryKind::Earn => "points.earn",
        EntryKind::Redeem => "points.redeem",
        EntryKind::Adjust => "points.adjust",
        EntryKind::Expire => "points.expire",
        EntryKind::Reversal => "points.reverse",
    };
    audit::record(
        tx,
        actor,
        action,
        member.id.as_str(),
        serde_json::json!({ "seq": seq, "points": posting.points }),
        now,
    )?;
    Ok((entry, member))
}

/// Appends the reversal of entry `seq`, once.
pub fn reverse(
    tx: &WriteTransaction,
    seq: u64,
    reason: Option<String>,
    actor: &Actor,
    idempotency_key: Option<&str>,
    now: OffsetDateTime,
) -> Result<(LedgerEntry, Member), StoreError> {
    let original = entry(&tx.open_table(LEDGER)?, seq)?.ok_or(DomainError::NotFound("entry"))?;
    let already = tx.open_table(REVERSALS)?.get(seq)?.is_some();
    check_reversible(&original.body, already)?;
    let member_id = MemberId::parse(&original.body.member_id)
        .map_err(|_| StoreError::Corrupt(format!("entry {seq} names a bad member id")))?;
    post(
        tx,
        Posting {
            member_id,
            kind: EntryKind::Reversal,
            points: -original.body.points,
            reason,
            reference: original.body.reference.clone(),
            // Kept so reward tallies can count the undone redemption.
            reward_id: original.body.reward_id.clone(),
            amount: None,
            reverses: Some((seq, original.body.kind)),
        },
        actor,
        idempotency_key,
        now,
    )
}

/// A member's entries, newest first, before sequence `before`.
pub fn history(
    tx: &ReadTransaction,
    member: &MemberId,
    before: Option<u64>,
    limit: usize,
) -> Result<Page<LedgerEntry>, StoreError> {
    let index = tx.open_table(MEMBER_LEDGER)?;
    let ledger = tx.open_table(LEDGER)?;
    let id = member.as_str();
    let upper = match before {
        Some(seq) => Bound::Excluded((id, seq)),
        None => Bound::Included((id, u64::MAX)),
    };
    let mut items = Vec::new();
    let mut more = false;
    for row in index
        .range::<(&str, u64)>((Bound::Included((id, 0)), upper))?
        .rev()
    {
        let (k, _) = row?;
        if items.len() == limit {
            more = true;
            break;
        }
        let seq = k.value().1;
        items.push(
            entry(&ledger, seq)?.ok_or_else(|| {
                StoreError::Corrupt(format!("entry {seq} is indexed but missing"))
            })?,
        );
    }
    let next = if more {
        items.last().map(|e: &LedgerEntry| e.body.seq.to_string())
    } else {
        None
    };
    Ok(Page { items, next })
}

/// An entry and the sequence of its reversal, if reversed.
pub fn entry_with_reversal(
    tx: &ReadTransaction,
    seq: u64,
) -> Result<Option<(LedgerEntry, Option<u64>)>, StoreError> {
    let Some(e) = entry(&tx.open_table(LEDGER)?, seq)? else {
        return Ok(None);
    };
    let rev = tx.open_table(REVERSALS)?.get(seq)?.map(|v| v.value());
    Ok(Some((e, rev)))
}

/// Every entry in order (for export).
pub fn all(tx: &ReadTransaction) -> Result<Vec<LedgerEntry>, StoreError> {
    let table = tx.open_table(LEDGER)?;
    let mut out = Vec::with_capacity(table.len()? as usize);
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(codec::decode("ledger", v.value())?);
    }
    Ok(out)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries walked.
    pub entries: u64,
    /// Members checked.
    pub members: u64,
    /// The first problem, if any.
    pub problem: Option<String>,
}

/// Walks the hash chain and checks every balance against the sum of its member's entries.
pub fn verify(tx: &ReadTransaction) -> Result<Verification, StoreError> {
    let ledger = tx.open_table(LEDGER)?;
    let mut sums: HashMap<String, (i64, i64)> = HashMap::new();
    let mut kinds: HashMap<u64, EntryKind> = HashMap::new();
    let mut totals = Totals::default();
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut entries = 0;
    let mut problem = None;
    for (expected_seq, row) in (1u64..).zip(ledger.iter()?) {
        let (k, v) = row?;
        let seq = k.value();
        let e: LedgerEntry = match codec::decode("ledger", v.value()) {
            Ok(e) => e,
            Err(err) => {
                problem = Some(format!("entry {seq}: {err}"));
                break;
            }
        };
        entries += 1;
        let (sum, earned) = sums.entry(e.body.member_id.clone()).or_default();
        let reversed = e.body.reverses.and_then(|s| kinds.get(&s).copied());
        let found = if seq != expected_seq || e.body.seq != seq {
            Some(format!(
                "entry {seq}: sequence out of order (expected {expected_seq})"
            ))
        } else if e.prev_hash != prev_hash {
            Some(format!(
                "entry {seq}: previous hash does not match entry {}",
                seq - 1
            ))
        } else if !e.hash_is_valid() {
            Some(format!(
                "entry {seq}: hash does not match its content (altered)"
            ))
        } else if e.body.points == 0 {
            Some(format!("entry {seq}: zero points"))
        } else {
            *sum += e.body.points;
            if e.body.kind == EntryKind::Earn || reversed == Some(EntryKind::Earn) {
                *earned += e.body.points;
            }
            if *sum != e.body.balance_after {
                Some(format!(
                    "entry {seq}: balance_after is {} but the member's entries add up to {sum}",
                    e.body.balance_after
                ))
            } else if *sum < 0 {
                Some(format!("entry {seq}: balance below zero"))
            } else {
                None
            }
        };
        if found.is_some() {
            problem = found;
            break;
        }
        totals.record(e.body.kind, e.body.points, reversed);
        kinds.insert(seq, e.body.kind);
        prev_hash = e.hash;
    }
    let all_members = tx.open_table(MEMBERS)?;
    let member_count = all_members.len()?;
    if problem.is_none() {
        let mut by_id = BTreeMap::new();
        for row in all_members.iter()? {
            let (k, v) = row?;
            let m: Member = codec::decode("members", v.value())?;
            by_id.insert(k.value().to_owned(), m);
        }
        problem = sums
            .keys()
            .find(|id| !by_id.contains_key(*id))
            .map(|id| format!("the ledger has entries for unknown member {id}"));
        if problem.is_none() {
            problem = by_id.values().find_map(|m| {
                let (sum, earned) = sums.get(m.id.as_str()).copied().unwrap_or((0, 0));
                (m.balance != sum || m.lifetime_earned != earned).then(|| {
                    format!(
                        "member {}: balance {} / lifetime {} but the ledger says {sum} / {earned}",
                        m.id.as_str(),
                        m.balance,
                        m.lifetime_earned
                    )
                })
            });
        }
        if problem.is_none() {
            let stored = stats::load(tx)?;
            totals.members = stored.members;
            if stored != totals {
                problem = Some(format!(
                    "running totals {stored:?} differ from the ledger's {totals:?}"
                ));
            }
        }
    }
    Ok(Verification {
        entries,
        members: member_count,
        problem,
    })
}
