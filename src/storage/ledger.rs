//! The ledger: appending entries with their balance change, history, reversal and verification.

use super::members::{self, Page};
use super::tables::*;
use super::{StoreError, aggregates, audit, codec, records, stats};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::ledger::{
    Account, EntryBody, EntryHash, EntryKind, GENESIS_HASH, LedgerEntry, Reason, check_reversible,
};
use crate::domain::member::{Member, MemberId, MemberStatus};
use crate::domain::money::Money;
use crate::domain::stats::Totals;
use crate::progress::Progress;
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::collections::HashMap;
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
    pub reason: Option<Reason>,
    /// Outside reference.
    pub reference: Option<String>,
    /// Reward redeemed, if any.
    pub reward_id: Option<String>,
    /// Purchase amount, if points were earned by amount.
    pub amount: Option<Money>,
    /// The reversed entry and its kind, for a reversal.
    pub reverses: Option<(u64, EntryKind)>,
    /// The product category of an earn by amount, for category campaigns (not stored).
    pub category: Option<crate::domain::campaigns::Category>,
}

/// An entry by sequence number.
pub fn entry<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    seq: u64,
) -> Result<Option<LedgerEntry>, StoreError> {
    let Some(v) = table.get(seq)? else {
        return Ok(None);
    };
    let prev = prev_hash(table, seq)?;
    records::decode_entry(seq, v.value(), prev).map(Some)
}

/// The hash entry `seq` follows: the previous entry's, or zeros for the first.
pub fn prev_hash<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    seq: u64,
) -> Result<EntryHash, StoreError> {
    if seq <= 1 {
        return Ok(GENESIS_HASH);
    }
    match table.get(seq - 1)? {
        Some(v) => records::entry_hash(seq - 1, v.value()),
        None => Err(StoreError::Corrupt(format!(
            "entry {} is missing before entry {seq}",
            seq - 1
        ))),
    }
}

/// The last sequence number and hash (0 and zeros for an empty ledger).
pub fn last<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
) -> Result<(u64, EntryHash), StoreError> {
    match table.last()? {
        Some((k, v)) => Ok((k.value(), records::entry_hash(k.value(), v.value())?)),
        None => Ok((0, GENESIS_HASH)),
    }
}

/// The key of a member's history index.
pub fn member_key(member_id: &str) -> Result<u128, StoreError> {
    records::member_bytes(member_id).map(u128::from_be_bytes)
}

/// Writes an entry and its index rows (history, reversal link).
pub fn append(tx: &WriteTransaction, entry: &LedgerEntry) -> Result<(), StoreError> {
    let b = &entry.body;
    tx.open_table(LEDGER)?
        .insert(b.seq, records::encode_entry(entry)?.as_slice())?;
    tx.open_table(MEMBER_ENTRIES)?
        .insert((member_key(&b.member_id)?, b.seq), ())?;
    if let Some(original) = b.reverses {
        tx.open_table(REVERSALS)?.insert(original, b.seq)?;
    }
    Ok(())
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
    let mut posting = posting;
    let settings = super::settings::load_for_update(tx)?;
    // Only earns and reversals move a member's tier basis or campaign bonuses.
    let tiers = match posting.kind {
        EntryKind::Earn | EntryKind::Reversal => Some(&settings.tiers),
        _ => None,
    };
    // Every earn by amount comes through here, so none skips the tier or the campaigns.
    let bonus = match (posting.kind, posting.amount) {
        (EntryKind::Earn, Some(_)) => Some(super::campaigns::earn(
            &settings,
            &mut member,
            &mut posting,
            now,
        )?),
        _ => None,
    };
    let account = Account {
        balance: member.balance,
        lifetime_earned: member.lifetime_earned,
        blocked: member.status == MemberStatus::Blocked,
        // The closing expiry is posted before the status changes, so nothing passes this after.
        erased: member.status == MemberStatus::Erased,
    }
    .apply(posting.kind, posting.points, posting.reverses.map(|r| r.1))?;

    // Read before the entry is appended: a summary folded from the history must not hold it yet.
    let lots = match settings.expiry {
        Some(policy) => Some(super::expiry::lots_before_entry(
            tx,
            &member,
            policy,
            &settings.time_zone.zone(),
        )?),
        None => None,
    };

    let (last_seq, prev_hash) = last(&tx.open_table(LEDGER)?)?;
    let seq = last_seq + 1;
    let body = EntryBody {
        seq,
        member_id: member.id.as_str().to_owned(),
        kind: posting.kind,
        points: posting.points,
        balance_after: account.balance,
        reason: posting.reason.map(Reason::into_string),
        source: actor.clone(),
        reference: posting.reference,
        idempotency_key: idempotency_key.map(str::to_owned),
        reverses: posting.reverses.map(|r| r.0),
        reward_id: posting.reward_id,
        amount: posting.amount,
        created_at: now,
    };
    let entry = LedgerEntry::seal(body, prev_hash);
    append(tx, &entry)?;

    member.balance = account.balance;
    member.lifetime_earned = account.lifetime_earned;
    member.last_activity_at = Some(now);
    // Kept in the same write as the entry; nothing is kept while no policy is on, because
    // switching one on counts every earlier point from then, which the balance alone gives.
    member.lots = lots.map(|mut l| {
        l.add(entry.body.kind, entry.body.points, entry.body.created_at);
        l.kept()
    });
    if let Some(t) = tiers {
        let reversed = posting.reverses.map(|r| r.1);
        super::tiers::entry_posted(tx, t, &mut member, &entry.body, reversed, actor, now)?;
    }
    match (bonus, posting.reverses) {
        (Some(b), _) => super::campaigns::bonus_issued(tx, seq, &b, now)?,
        (None, Some((original, EntryKind::Earn))) => {
            super::campaigns::bonus_reversed(tx, original, now)?;
        }
        _ => {}
    }
    members::save(tx, &member)?;

    let mut totals = stats::load_for_update(tx)?;
    totals.record(posting.kind, posting.points, posting.reverses.map(|r| r.1))?;
    stats::save(tx, &totals)?;
    aggregates::entry_posted(
        tx,
        &entry.body,
        posting.reverses.map(|r| r.1),
        &before,
        &member,
    )?;

    // The entry already says who, what and when: the audit row only points at it.
    audit::record_entry(tx, seq)?;
    if let Some(kind) = crate::domain::events::EventType::for_entry(posting.kind) {
        let data = crate::domain::events::EventData {
            member_id: member.id.as_str().to_owned(),
            card_number: member.card_number.as_str().to_owned(),
            points: Some(entry.body.points),
            balance_after: entry.body.balance_after,
            entry: Some(seq),
            reference: entry.body.reference.clone(),
        };
        super::events::queue(tx, kind, &data, now)?;
    }
    // A purchase (an earn by amount) may complete the member's referral, in this same write.
    let member = if entry.body.kind == EntryKind::Earn && entry.body.amount.is_some() {
        super::referrals::purchase_made(tx, member, actor, now)?
    } else {
        member
    };
    Ok((entry, member))
}

/// Appends the reversal of entry `seq`, once.
pub fn reverse(
    tx: &WriteTransaction,
    seq: u64,
    reason: Option<Reason>,
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
            category: None,
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
    let index = tx.open_table(MEMBER_ENTRIES)?;
    let ledger = tx.open_table(LEDGER)?;
    let id = member_key(member.as_str())?;
    let upper = match before {
        Some(seq) => Bound::Excluded((id, seq)),
        None => Bound::Included((id, u64::MAX)),
    };
    let mut items = Vec::new();
    let mut more = false;
    for row in index
        .range::<(u128, u64)>((Bound::Included((id, 0)), upper))?
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

/// Hands every entry to `f` in order, one at a time (for export): memory stays flat.
pub fn each<E: From<StoreError>>(
    tx: &ReadTransaction,
    mut f: impl FnMut(LedgerEntry) -> Result<(), E>,
) -> Result<(), E> {
    let table = tx.open_table(LEDGER).map_err(StoreError::from)?;
    let mut prev = GENESIS_HASH;
    for row in table.iter().map_err(StoreError::from)? {
        let (k, v) = row.map_err(StoreError::from)?;
        let e = records::decode_entry(k.value(), v.value(), prev)?;
        prev = e.hash;
        f(e)?;
    }
    Ok(())
}

/// How many entries the ledger holds.
pub fn count(tx: &ReadTransaction) -> Result<u64, StoreError> {
    Ok(tx.open_table(LEDGER)?.len()?)
}

/// The two numbers of a member record `verify` checks, read without the rest.
#[derive(serde::Deserialize)]
struct Balances {
    balance: i64,
    lifetime_earned: i64,
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

/// Walks the hash chain and checks every balance against the sum of its member's entries,
/// then reads every row of every other table; names the first thing that is damaged.
/// What the ledger walk found: entries walked, each member's sum and lifetime earned, the
/// totals, and the first problem.
type Walk = (u64, HashMap<u128, (i64, i64)>, Totals, Option<String>);

/// Entries walked between two progress updates: rare enough to cost nothing.
const PROGRESS_STRIDE: u64 = 4096;

/// Walks the hash chain and checks every balance against the sum of its member's entries.
fn walk_ledger(tx: &ReadTransaction, progress: &Progress) -> Result<Walk, StoreError> {
    let started = std::time::Instant::now();
    let ledger = tx.open_table(LEDGER)?;
    progress.set_total(ledger.len()?);
    // Sized once for every member, so the map never doubles (and briefly holds both copies).
    let members = usize::try_from(tx.open_table(MEMBERS)?.len()?).unwrap_or(0);
    let mut sums: HashMap<u128, (i64, i64)> = HashMap::with_capacity(members);
    let mut totals = Totals::default();
    let mut prev_hash = GENESIS_HASH;
    let mut entries = 0;
    let mut problem = None;
    let mut scratch = Vec::with_capacity(256);
    for (expected_seq, row) in (1u64..).zip(ledger.iter()?) {
        let (seq, e) = match row {
            Err(err) => {
                problem = Some(format!(
                    "entry {expected_seq} or after: the ledger cannot be read ({err})"
                ));
                break;
            }
            Ok((k, v)) => {
                let seq = k.value();
                match records::check_entry(seq, v.value(), prev_hash, &mut scratch) {
                    Ok(e) => (seq, e),
                    Err(err) => {
                        problem = Some(format!("entry {seq}: damaged, {err}"));
                        break;
                    }
                }
            }
        };
        entries += 1;
        if entries % PROGRESS_STRIDE == 0 {
            progress.inc(PROGRESS_STRIDE);
        }
        // Reversals are rare: look the original up rather than keep every entry's kind.
        let reversed = match e.reverses {
            Some(original) if original < seq => entry(&ledger, original)?.map(|o| o.body.kind),
            _ => None,
        };
        let (sum, earned) = sums.entry(e.member).or_default();
        let found = if seq != expected_seq {
            Some(format!(
                "entry {seq}: sequence out of order (expected {expected_seq})"
            ))
        } else if !e.hash_ok {
            Some(format!(
                "entry {seq}: hash does not match its content and the previous entry (altered)"
            ))
        } else if e.points == 0 {
            Some(format!("entry {seq}: zero points"))
        } else if e.reverses.is_some() && reversed.is_none() {
            Some(format!(
                "entry {seq}: reverses an entry that does not come before it"
            ))
        } else if let Err(msg) = add_to_member(sum, earned, &e, reversed) {
            Some(format!("entry {seq}: {msg}"))
        } else if totals.record(e.kind, e.points, reversed).is_err() {
            Some(format!(
                "entry {seq}: the ledger's running totals overflow 64 bits"
            ))
        } else {
            if *sum != e.balance_after {
                Some(format!(
                    "entry {seq}: balance_after is {} but the member's entries add up to {sum}",
                    e.balance_after
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
        prev_hash = e.hash;
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        entries,
        "verify: ledger walked"
    );
    Ok((entries, sums, totals, problem))
}

/// Adds an entry to its member's running balance and lifetime earned; a sum that leaves i64
/// is damage (no real history gets there), never something to wrap.
fn add_to_member(
    sum: &mut i64,
    earned: &mut i64,
    e: &records::Checked,
    reversed: Option<EntryKind>,
) -> Result<(), String> {
    *sum = sum
        .checked_add(e.points)
        .ok_or("the member's running balance overflows")?;
    if e.kind == EntryKind::Earn || reversed == Some(EntryKind::Earn) {
        *earned = earned
            .checked_add(e.points)
            .ok_or("the member's lifetime points overflow")?;
    }
    Ok(())
}

/// The hourly aggregates added up, or why they cannot be.
fn hourly_sum(tx: &ReadTransaction) -> Result<Result<Totals, String>, StoreError> {
    let table = tx.open_table(HOURLY)?;
    let mut sum = Totals::default();
    for row in table.iter()? {
        let (k, v) = row?;
        let hour: Totals = match codec::decode("hourly", v.value()) {
            Ok(t) => t,
            Err(e) => return Ok(Err(format!("hour {}: damaged, {e}", k.value()))),
        };
        if sum.add(&hour).is_err() {
            return Ok(Err("the hourly totals overflow when added up".into()));
        }
    }
    Ok(Ok(sum))
}

/// Every member's stored balance and lifetime points, in id order (a ULID's text sorts as its
/// number does), or the first record that cannot be read.
type MemberBalances = Result<(u64, Vec<(u128, i64, i64)>), String>;

fn member_balances(tx: &ReadTransaction) -> Result<MemberBalances, StoreError> {
    let started = std::time::Instant::now();
    let all_members = tx.open_table(MEMBERS)?;
    let count = all_members.len()?;
    // One flat 32-byte row per member, sorted by construction: no tree nodes to allocate.
    let mut by_id = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for row in all_members.iter()? {
        let (k, v) = row?;
        match codec::decode::<Balances>("members", v.value()) {
            Ok(m) => {
                by_id.push((member_key(k.value())?, m.balance, m.lifetime_earned));
            }
            Err(e) => return Ok(Err(format!("member {}: damaged, {e}", k.value()))),
        }
    }
    // Already sorted unless a key is not in canonical ULID form; then this sorts it.
    if !by_id.is_sorted_by_key(|(id, _, _)| *id) {
        by_id.sort_unstable_by_key(|(id, _, _)| *id);
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "verify: members read"
    );
    Ok(Ok((count, by_id)))
}

/// Reads every row of every other table that has values to decode; the first that cannot be read.
fn other_tables(tx: &ReadTransaction) -> Option<String> {
    let started = std::time::Instant::now();
    let problem = super::tables::REGISTRY
        .iter()
        .filter(|t| t.name != "ledger" && t.name != "members")
        .filter_map(|t| t.check)
        .find_map(|check| check(tx).err())
        .map(|e| e.to_string());
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "verify: other tables read"
    );
    problem
}

/// Walks the hash chain and checks every balance against the sum of its member's entries,
/// then reads every row of every other table; names the first thing that is damaged.
///
/// The ledger walk runs beside the rest (members, other tables) on a second thread, both in the
/// same read transaction.
///
/// What it holds beside the read: per member one entry in a hash map of ledger sums and one
/// 32-byte row of stored balances (about 70 bytes a member), nothing per entry.
pub fn verify(tx: &ReadTransaction) -> Result<Verification, StoreError> {
    verify_with(tx, &Progress::hidden())
}

/// `verify`, counting the entries walked on `progress`.
pub fn verify_with(tx: &ReadTransaction, progress: &Progress) -> Result<Verification, StoreError> {
    let (walk, rest) = std::thread::scope(|s| {
        let rest = s.spawn(|| (member_balances(tx), other_tables(tx)));
        let walk = walk_ledger(tx, progress);
        let rest = rest
            .join()
            .map_err(|_| StoreError::Db("the verify thread panicked".into()));
        (walk, rest)
    });
    let (members, others) = rest?;
    let (entries, sums, mut totals, mut problem) = walk?;
    let (member_count, by_id) = match members? {
        Ok(m) => m,
        Err(p) => {
            return Ok(Verification {
                entries,
                members: 0,
                problem: problem.or(Some(p)),
            });
        }
    };
    if problem.is_none() {
        let known = |id: &u128| by_id.binary_search_by_key(id, |(k, _, _)| *k).is_ok();
        problem = sums.keys().find(|id| !known(id)).map(|id| {
            format!(
                "the ledger has entries for unknown member {}",
                ulid::Ulid(*id)
            )
        });
    }
    if problem.is_none() {
        problem = by_id.iter().find_map(|(id, balance, lifetime)| {
            let (sum, earned) = sums.get(id).copied().unwrap_or((0, 0));
            (*balance != sum || *lifetime != earned).then(|| {
                format!(
                    "member {}: balance {balance} / lifetime {lifetime} but the ledger says {sum} / {earned}",
                    ulid::Ulid(*id)
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
        } else if let Some(why) = totals.impossibility() {
            problem = Some(format!("the ledger's totals are impossible: {why}"));
        }
    }
    if problem.is_none() {
        problem = match hourly_sum(tx)? {
            Err(why) => Some(why),
            // Members are counted by the members table, not the ledger: compared above.
            Ok(hours)
                if Totals {
                    members: totals.members,
                    ..hours
                } != totals =>
            {
                Some(format!(
                    "the hourly totals add up to {hours:?} but the ledger's are {totals:?}"
                ))
            }
            Ok(_) => None,
        };
    }
    Ok(Verification {
        entries,
        members: member_count,
        problem: problem.or(others),
    })
}

/// What a stretch of an incremental check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    /// Entries checked.
    pub entries: u64,
    /// The last entry found intact, and its hash (where it started when none was).
    pub reached: (u64, EntryHash),
    /// The first problem, if any.
    pub problem: Option<String>,
    /// Whether it stopped at the end of the ledger (rather than at `limit`).
    pub at_end: bool,
}

/// Checks up to `limit` entries after entry `after`, which an earlier check found intact with
/// hash `after_hash`: the entry is still there with that hash, and each one after it is in
/// order, chained to the one before, not zero, reverses an earlier entry, and leaves its
/// member's balance at the previous balance plus its points (not below zero); a member's last
/// entry agrees with the member's stored balance.
///
/// Costs the entries checked and a few index reads each; holds nothing per entry, so it can be
/// run in short read transactions one after another (entries are never changed once written).
pub fn verify_after(
    tx: &ReadTransaction,
    after: u64,
    after_hash: EntryHash,
    limit: u64,
) -> Result<Stretch, StoreError> {
    let ledger = tx.open_table(LEDGER)?;
    let index = tx.open_table(MEMBER_ENTRIES)?;
    let all_members = tx.open_table(MEMBERS)?;
    let mut scratch = Vec::with_capacity(256);
    let mut out = Stretch {
        entries: 0,
        reached: (after, after_hash),
        problem: None,
        at_end: false,
    };
    if after > 0 {
        let found = match ledger.get(after)? {
            None => Some(format!("entry {after}, found intact before, is missing")),
            // Its content is checked again, not only its stored hash: the chain after it
            // holds only if it is unchanged.
            Some(v) => {
                let prev = prev_hash(&ledger, after)?;
                match records::check_entry(after, v.value(), prev, &mut scratch) {
                    Ok(e) if e.hash_ok && e.hash == after_hash => None,
                    Ok(_) => Some(format!(
                        "entry {after} has changed since it was found intact (altered)"
                    )),
                    Err(e) => Some(format!("entry {after}: damaged, {e}")),
                }
            }
        };
        if found.is_some() {
            out.problem = found;
            return Ok(out);
        }
    }
    let mut prev_hash = after_hash;
    let mut rows = ledger.range(after + 1..)?;
    for expected in after + 1.. {
        if out.entries == limit {
            return Ok(out);
        }
        let Some(row) = rows.next() else {
            out.at_end = true;
            return Ok(out);
        };
        let found = match row {
            Err(err) => Some(format!(
                "entry {expected} or after: the ledger cannot be read ({err})"
            )),
            Ok((k, v)) => {
                let seq = k.value();
                match records::check_entry(seq, v.value(), prev_hash, &mut scratch) {
                    Err(err) => Some(format!("entry {seq}: damaged, {err}")),
                    Ok(e) => {
                        let problem = check_one(&ledger, &index, &all_members, seq, expected, &e)?;
                        if problem.is_none() {
                            prev_hash = e.hash;
                            out.entries += 1;
                            out.reached = (seq, e.hash);
                        }
                        problem
                    }
                }
            }
        };
        if found.is_some() {
            out.problem = found;
            return Ok(out);
        }
    }
    Ok(out)
}

/// The checks of one entry an incremental check can make without the entries before it.
fn check_one(
    ledger: &redb::ReadOnlyTable<u64, &'static [u8]>,
    index: &redb::ReadOnlyTable<(u128, u64), ()>,
    all_members: &redb::ReadOnlyTable<&'static str, &'static [u8]>,
    seq: u64,
    expected: u64,
    e: &records::Checked,
) -> Result<Option<String>, StoreError> {
    if seq != expected {
        return Ok(Some(format!(
            "entry {seq}: sequence out of order (expected {expected})"
        )));
    }
    if !e.hash_ok {
        return Ok(Some(format!(
            "entry {seq}: hash does not match its content and the previous entry (altered)"
        )));
    }
    if e.points == 0 {
        return Ok(Some(format!("entry {seq}: zero points")));
    }
    if let Some(original) = e.reverses
        && (original >= seq || ledger.get(original)?.is_none())
    {
        return Ok(Some(format!(
            "entry {seq}: reverses an entry that does not come before it"
        )));
    }
    let before = index
        .range((e.member, 0)..(e.member, seq))?
        .next_back()
        .transpose()?
        .map(|(k, _)| k.value().1);
    let previous = match before {
        None => 0,
        Some(p) => match ledger.get(p)? {
            None => return Ok(Some(format!("entry {p} is indexed but missing"))),
            Some(v) => records::balance_after(p, v.value())?,
        },
    };
    let Some(sum) = previous.checked_add(e.points) else {
        return Ok(Some(format!(
            "entry {seq}: the member's running balance overflows"
        )));
    };
    if sum != e.balance_after {
        return Ok(Some(format!(
            "entry {seq}: balance_after is {} but the member's previous balance and this entry add up to {sum}",
            e.balance_after
        )));
    }
    if sum < 0 {
        return Ok(Some(format!("entry {seq}: balance below zero")));
    }
    let is_last = index
        .range((e.member, seq + 1)..=(e.member, u64::MAX))?
        .next()
        .is_none();
    if is_last {
        let id = ulid::Ulid(e.member).to_string();
        let stored = match all_members.get(id.as_str())? {
            None => return Ok(Some(format!("entry {seq}: for unknown member {id}"))),
            Some(v) => match codec::decode::<Balances>("members", v.value()) {
                Ok(b) => b.balance,
                Err(err) => return Ok(Some(format!("member {id}: damaged, {err}"))),
            },
        };
        if stored != sum {
            return Ok(Some(format!(
                "member {id}: balance {stored} but the ledger says {sum}"
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::member::NewMember;
    use crate::storage::Store;

    /// Appends an earn as code before the caps could: no rule checked, totals added wrapping.
    fn force_earn(
        tx: &WriteTransaction,
        member: &MemberId,
        points: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut m = members::get_for_update(tx, member)?;
        let (last_seq, prev) = last(&tx.open_table(LEDGER)?)?;
        let body = EntryBody {
            seq: last_seq + 1,
            member_id: member.as_str().to_owned(),
            kind: EntryKind::Earn,
            points,
            balance_after: m.balance.wrapping_add(points),
            reason: None,
            source: Actor::System,
            reference: None,
            idempotency_key: None,
            reverses: None,
            reward_id: None,
            amount: None,
            created_at: now,
        };
        append(tx, &LedgerEntry::seal(body, prev))?;
        m.balance = m.balance.wrapping_add(points);
        m.lifetime_earned = m.lifetime_earned.wrapping_add(points);
        members::save(tx, &m)?;
        let mut t = stats::load_for_update(tx)?;
        t.earned = t.earned.wrapping_add(points);
        t.transactions += 1;
        stats::save(tx, &t)?;
        let hour = crate::domain::dashboard::bucket_of(now.unix_timestamp());
        let mut hourly = tx.open_table(HOURLY)?;
        let mut h: Totals = codec::get(&hourly, "hourly", hour)?.unwrap_or_default();
        h.earned = h.earned.wrapping_add(points);
        h.transactions += 1;
        hourly.insert(hour, codec::encode(&h)?.as_slice())?;
        Ok(())
    }

    #[tokio::test]
    async fn verify_names_totals_that_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // What two earns of amount_minor = i64::MAX at 100 points per unit used to leave.
        let points = 92_233_720_368_547_758 * 100;
        store
            .write(move |tx| {
                let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
                for _ in 0..2 {
                    let m = members::create(tx, NewMember::default(), &Actor::System, now)?;
                    force_earn(tx, &m.id, points, now)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let v = store.read(verify).await.unwrap();
        let problem = v.problem.expect("verify finds the wrapped totals");
        assert!(problem.contains("overflow"), "{problem}");
    }

    #[tokio::test]
    async fn verify_names_hourly_totals_that_disagree_with_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(move |tx| {
                let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
                let m = members::create(tx, NewMember::default(), &Actor::System, now)?;
                force_earn(tx, &m.id, 10, now)?;
                // One more hour that no entry stands behind.
                let later = crate::domain::dashboard::bucket_of(now.unix_timestamp()) + 1;
                let extra = Totals {
                    earned: 5,
                    transactions: 1,
                    ..Totals::default()
                };
                tx.open_table(HOURLY)?
                    .insert(later, codec::encode(&extra)?.as_slice())?;
                Ok(())
            })
            .await
            .unwrap();
        let v = store.read(verify).await.unwrap();
        let problem = v.problem.expect("verify finds the extra hour");
        assert!(problem.contains("hourly"), "{problem}");
    }

    fn earn(member: &MemberId, points: i64) -> Posting {
        Posting {
            member_id: member.clone(),
            kind: EntryKind::Earn,
            points,
            reason: None,
            reference: None,
            reward_id: None,
            amount: None,
            reverses: None,
            category: None,
        }
    }

    /// A store with two members and `n` earns, alternating between them.
    async fn ledger_of(n: i64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(move |tx| {
                let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
                let a = members::create(tx, NewMember::default(), &Actor::System, now)?;
                let b = members::create(tx, NewMember::default(), &Actor::System, now)?;
                for i in 0..n {
                    let who = if i % 2 == 0 { &a.id } else { &b.id };
                    post(tx, earn(who, i + 1), &Actor::System, None, now)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        (dir, store)
    }

    /// Overwrites entry `seq`'s points, keeping its stored hash.
    fn alter(tx: &WriteTransaction, seq: u64) -> Result<(), StoreError> {
        let mut table = tx.open_table(LEDGER)?;
        let mut e = entry(&table, seq)?.expect("the entry");
        e.body.points += 1000;
        table.insert(seq, records::encode_entry(&e)?.as_slice())?;
        Ok(())
    }

    #[tokio::test]
    async fn an_incremental_check_walks_in_stretches_to_the_end() {
        let (_dir, store) = ledger_of(10).await;
        let a = store
            .read(|tx| verify_after(tx, 0, GENESIS_HASH, 4))
            .await
            .unwrap();
        assert_eq!((a.entries, a.reached.0, a.at_end), (4, 4, false));
        assert_eq!(a.problem, None);
        let b = store
            .read(move |tx| verify_after(tx, a.reached.0, a.reached.1, 100))
            .await
            .unwrap();
        assert_eq!((b.entries, b.reached.0, b.at_end), (6, 10, true));
        assert_eq!(b.problem, None);
        let last = store
            .read(|tx| last(&tx.open_table(LEDGER)?))
            .await
            .unwrap();
        assert_eq!(b.reached, last);
        let none = store
            .read(move |tx| verify_after(tx, 10, last.1, 100))
            .await
            .unwrap();
        assert_eq!((none.entries, none.at_end, none.problem), (0, true, None));
    }

    #[tokio::test]
    async fn an_incremental_check_names_an_altered_entry_after_its_start_and_at_it() {
        let (_dir, store) = ledger_of(10).await;
        let at6 = store
            .read(|tx| verify_after(tx, 0, GENESIS_HASH, 6))
            .await
            .unwrap()
            .reached;
        store.write(|tx| alter(tx, 8)).await.unwrap();
        let s = store
            .read(move |tx| verify_after(tx, at6.0, at6.1, 100))
            .await
            .unwrap();
        assert_eq!(s.entries, 1, "entry 7 is intact");
        assert_eq!(s.reached.0, 7);
        let p = s.problem.expect("entry 8 is named");
        assert!(p.starts_with("entry 8: "), "{p}");

        store.write(|tx| alter(tx, 6)).await.unwrap();
        let s = store
            .read(move |tx| verify_after(tx, at6.0, at6.1, 100))
            .await
            .unwrap();
        let p = s.problem.expect("entry 6 is named");
        assert!(p.starts_with("entry 6 has changed"), "{p}");
    }

    #[tokio::test]
    async fn an_incremental_check_names_a_member_balance_that_disagrees() {
        let (_dir, store) = ledger_of(4).await;
        store
            .write(|tx| {
                let e = entry(&tx.open_table(LEDGER)?, 4)?.expect("entry 4");
                let id = MemberId::parse(&e.body.member_id).expect("an id");
                let mut m = members::get_for_update(tx, &id)?;
                m.balance += 1;
                members::save(tx, &m)
            })
            .await
            .unwrap();
        let s = store
            .read(|tx| verify_after(tx, 0, GENESIS_HASH, 100))
            .await
            .unwrap();
        let p = s.problem.expect("the balance is named");
        assert!(p.contains("but the ledger says"), "{p}");
    }
}
