//! The member notices' queue: one table of notices waiting (bounded by
//! [`MAX_PENDING`](crate::domain::notices::MAX_PENDING), so its length is the cap's check and its
//! scan the sender's) and one of those finished, kept a while for the owner's list.
//!
//! Neither table is backed up: like the owner alerts' outbox they are this server's running
//! state. The key that signs unsubscribe links is in the settings table, which is.

use super::tables::{LEDGER, MEMBER_ENTRIES, MEMBERS, NOTICES_DONE, NOTICES_PENDING, SETTINGS};
use super::{StoreError, codec};
use crate::domain::actor::Actor;
use crate::domain::member::{Member, MemberId, MemberStatus};
use crate::domain::notices::{self, DigestStep, KEEP_DONE, MAX_PENDING, Notice, NoticeState, What};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;

/// Whether this process has a mail server; set once at start from `--smtp-host`.
static MAIL_SERVER: AtomicBool = AtomicBool::new(false);

const KEY: &str = "notice_key";

/// Records whether a mail server is configured: without one nothing is queued, so a server
/// that cannot send does not pile up welcomes to send months later.
pub fn set_mail_server(on: bool) {
    MAIL_SERVER.store(on, Ordering::Relaxed);
}

/// Whether notices can be sent at all (a mail server is configured).
pub fn mail_server() -> bool {
    MAIL_SERVER.load(Ordering::Relaxed)
}

/// Queues `what` for `member` if the owner switched its kind on, a mail server is configured
/// and the member may get notices; whether it was queued. Part of the write that made it due
/// (a join, a tier move, the daily step), so it is queued exactly when that is recorded.
pub fn queue(
    tx: &WriteTransaction,
    member: &Member,
    what: What,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    if !mail_server() || notices::eligible(member).is_err() {
        return Ok(false);
    }
    let settings = super::settings::load_for_update(tx)?;
    let kind = what.kind();
    if !settings.notices.wants(kind) {
        return Ok(false);
    }
    key_for_update(tx)?;
    let mut pending = tx.open_table(NOTICES_PENDING)?;
    if pending.len()? >= MAX_PENDING {
        tracing::warn!(
            kind = kind.as_str(),
            member = member.id.as_str(),
            limit = MAX_PENDING,
            "member notice dropped: too many notices are waiting for the mail server"
        );
        return Ok(false);
    }
    let done = tx.open_table(NOTICES_DONE)?;
    let last = |k: Option<u64>| k.unwrap_or(0);
    let id = last(pending.last()?.map(|(k, _)| k.value()))
        .max(last(done.last()?.map(|(k, _)| k.value())))
        + 1;
    let n = Notice::new(member.id.clone(), what, now);
    pending.insert(id, codec::encode(&n)?.as_slice())?;
    Ok(true)
}

/// The key that signs unsubscribe links, made on first use.
pub fn key_for_update(tx: &WriteTransaction) -> Result<Vec<u8>, StoreError> {
    let mut table = tx.open_table(SETTINGS)?;
    if let Some(v) = table.get(KEY)? {
        return Ok(v.value().to_vec());
    }
    let key = crate::crypto::random_bytes::<32>()
        .map_err(|e| StoreError::Corrupt(format!("no randomness for the notice key: {e}")))?;
    // Hex text, as the settings table's check expects of what is not JSON.
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    table.insert(KEY, hex.as_bytes())?;
    Ok(hex.into_bytes())
}

/// The key that signs unsubscribe links, if one was made (none before the first notice).
pub fn key(tx: &ReadTransaction) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(tx
        .open_table(SETTINGS)?
        .get(KEY)?
        .map(|v| v.value().to_vec()))
}

/// Up to `limit` notices due at `now`, oldest first.
pub fn due(
    tx: &ReadTransaction,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(u64, Notice)>, StoreError> {
    let table = match tx.open_table(NOTICES_PENDING) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        let n: Notice = codec::decode("notices_pending", v.value())?;
        if n.next_at.is_none_or(|t| t <= now) {
            out.push((k.value(), n));
            if out.len() == limit {
                break;
            }
        }
    }
    Ok(out)
}

/// When the next waiting notice is due, if any is.
pub fn next_due(tx: &ReadTransaction) -> Result<Option<OffsetDateTime>, StoreError> {
    let table = match tx.open_table(NOTICES_PENDING) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut next: Option<OffsetDateTime> = None;
    for row in table.iter()? {
        let (_, v) = row?;
        let n: Notice = codec::decode("notices_pending", v.value())?;
        let at = n.next_at.unwrap_or(n.created);
        next = Some(next.map_or(at, |t| t.min(at)));
    }
    Ok(next)
}

/// Stores notice `id` as changed by `f`; a finished one moves to the finished table.
pub fn update(
    tx: &WriteTransaction,
    id: u64,
    f: impl FnOnce(&mut Notice),
) -> Result<(), StoreError> {
    let mut pending = tx.open_table(NOTICES_PENDING)?;
    let Some(mut n) = codec::get::<u64, Notice, _>(&pending, "notices_pending", id)? else {
        return Ok(());
    };
    f(&mut n);
    if n.state == NoticeState::Pending {
        pending.insert(id, codec::encode(&n)?.as_slice())?;
    } else {
        pending.remove(id)?;
        tx.open_table(NOTICES_DONE)?
            .insert(id, codec::encode(&n)?.as_slice())?;
    }
    Ok(())
}

/// Forgets finished notices older than [`KEEP_DONE`]; how many. Ids grow with time, so the
/// oldest are first and the look stops at the first one still kept.
pub fn prune(tx: &WriteTransaction, now: OffsetDateTime) -> Result<u64, StoreError> {
    let mut done = tx.open_table(NOTICES_DONE)?;
    let mut gone = 0;
    loop {
        let old = match done.first()? {
            Some((k, v)) => {
                let n: Notice = codec::decode("notices_done", v.value())?;
                (now - n.done_at.unwrap_or(n.created) > KEEP_DONE).then_some(k.value())
            }
            None => None,
        };
        let Some(id) = old else { return Ok(gone) };
        done.remove(id)?;
        gone += 1;
    }
}

/// The queue at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overview {
    /// Waiting to be sent.
    pub pending: u64,
    /// Waiting and failed at least once.
    pub failing: u64,
    /// Sent since `since`.
    pub sent_since: u64,
    /// Given up (among those kept).
    pub gave_up: u64,
}

/// Counts for the settings page and the dashboard: the waiting ones (at most
/// [`MAX_PENDING`]) and the finished ones kept.
pub fn overview(tx: &ReadTransaction, since: OffsetDateTime) -> Result<Overview, StoreError> {
    let mut o = Overview::default();
    let (Ok(pending), Ok(done)) = (tx.open_table(NOTICES_PENDING), tx.open_table(NOTICES_DONE))
    else {
        return Ok(o);
    };
    for row in pending.iter()? {
        let n: Notice = codec::decode("notices_pending", row?.1.value())?;
        o.pending += 1;
        if n.attempts > 0 {
            o.failing += 1;
        }
    }
    for row in done.iter()? {
        let n: Notice = codec::decode("notices_done", row?.1.value())?;
        match n.state {
            NoticeState::Sent if n.done_at.is_some_and(|t| t >= since) => o.sent_since += 1,
            NoticeState::GaveUp => o.gave_up += 1,
            _ => {}
        }
    }
    Ok(o)
}

/// The latest `limit` notices, waiting ones first, then finished ones, newest first.
pub fn latest(tx: &ReadTransaction, limit: usize) -> Result<Vec<(u64, Notice)>, StoreError> {
    let (Ok(pending), Ok(done)) = (tx.open_table(NOTICES_PENDING), tx.open_table(NOTICES_DONE))
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for row in pending.iter()?.rev().take(limit) {
        let (k, v) = row?;
        out.push((k.value(), codec::decode("notices_pending", v.value())?));
    }
    for row in done.iter()?.rev().take(limit.saturating_sub(out.len())) {
        let (k, v) = row?;
        out.push((k.value(), codec::decode("notices_done", v.value())?));
    }
    Ok(out)
}

/// What the daily step found for one member: the digest step and the expiries within the
/// warning window (`(points, last day, words)`).
#[derive(Debug, Clone)]
pub struct Daily {
    /// The member.
    pub member: MemberId,
    /// What to do about the digest.
    pub digest: DigestStep,
    /// What expires soon.
    pub expiring: Vec<(i64, String, String)>,
}

/// The members after `after` (up to [`BATCH`](super::expiry::BATCH)) with a digest or a
/// warning to queue (or a digest count to move), and where the next batch starts.
pub fn daily_batch(
    tx: &ReadTransaction,
    now: OffsetDateTime,
    after: Option<&str>,
) -> Result<(Vec<Daily>, Option<String>), StoreError> {
    let settings = super::settings::load(tx)?;
    let sending = mail_server();
    let digests_on = sending && settings.notices.digest;
    let warn = settings
        .expiry
        .filter(|_| sending && settings.notices.expiry_warning);
    let tz = settings.time_zone.zone();
    let days = i64::from(settings.notices.warning_days.get());
    let members = tx.open_table(MEMBERS)?;
    let index = tx.open_table(MEMBER_ENTRIES)?;
    let ledger_table = tx.open_table(LEDGER)?;
    let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    let mut last = None;
    for (seen, row) in members
        .range::<&str>((lower, Bound::Unbounded))?
        .enumerate()
    {
        if seen == super::expiry::BATCH {
            return Ok((out, last));
        }
        let (k, v) = row?;
        let m: Member = codec::decode("members", v.value())?;
        last = Some(k.value().to_owned());
        if m.status == MemberStatus::Erased {
            continue;
        }
        let digest = notices::digest_step(&m.notices, m.lifetime_earned, digests_on, now);
        let mut expiring = Vec::new();
        if let Some(policy) = warn
            && m.balance > 0
            && notices::eligible(&m).is_ok()
        {
            let lots = super::expiry::lots(&index, &ledger_table, m.id.as_str(), policy, &tz)?;
            expiring = lots
                .within(now, days)
                .into_iter()
                .map(|e| (e.points, e.last_day.to_string(), e.notice()))
                .filter(|(_, day, _)| !m.notices.warned.contains(day))
                .collect();
        }
        if digest != DigestStep::Nothing || !expiring.is_empty() {
            out.push(Daily {
                member: m.id,
                digest,
                expiring,
            });
        }
    }
    Ok((out, None))
}

/// Queues the digests and warnings of `batch` and records them on each member, in one write:
/// a restart finds them recorded and queues none twice. The digest is decided again here, so
/// points earned since the read are counted now or in the next digest, never lost. Returns
/// the digests and warnings queued.
pub fn apply_daily(
    tx: &WriteTransaction,
    batch: &[Daily],
    today: &str,
    now: OffsetDateTime,
) -> Result<(u64, u64), StoreError> {
    let settings = super::settings::load_for_update(tx)?;
    let digests_on = mail_server() && settings.notices.digest;
    let (mut digests, mut warnings) = (0, 0);
    for d in batch {
        let mut m = super::members::get_for_update(tx, &d.member)?;
        let before = m.notices.clone();
        match notices::digest_step(&m.notices, m.lifetime_earned, digests_on, now) {
            DigestStep::Send(points) => {
                let what = What::Digest {
                    points,
                    balance: m.balance,
                };
                if queue(tx, &m, what, now)? {
                    digests += 1;
                }
                m.notices.digest_at = Some(now);
                m.notices.digest_base = Some(m.lifetime_earned);
            }
            DigestStep::Baseline => m.notices.digest_base = Some(m.lifetime_earned),
            DigestStep::Nothing => {}
        }
        if !d.expiring.is_empty() || m.notices.warned.iter().any(|w| w.as_str() < today) {
            let (new, keep) = notices::warnings(&d.expiring, &m.notices.warned, today);
            for (points, last_day, words) in new {
                let what = What::ExpiryWarning {
                    points,
                    last_day,
                    words,
                };
                if queue(tx, &m, what, now)? {
                    warnings += 1;
                }
            }
            m.notices.warned = keep;
        }
        if m.notices != before {
            super::members::save(tx, &m)?;
        }
    }
    Ok((digests, warnings))
}

/// Turns a member's notices off (`off`) or on again, with an audit row; whether it changed.
pub fn set_off(
    tx: &WriteTransaction,
    id: &MemberId,
    off: bool,
    actor: &Actor,
    how: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut m = super::members::get_for_update(tx, id)?;
    if m.status == MemberStatus::Erased || m.notices.off_at.is_some() == off {
        return Ok(false);
    }
    m.notices.off_at = off.then_some(now);
    m.updated_at = now;
    super::members::save(tx, &m)?;
    super::audit::record(
        tx,
        actor,
        if off {
            "member.notices_off"
        } else {
            "member.notices_on"
        },
        id.as_str(),
        serde_json::json!({ "how": how }),
        now,
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::actor::Actor;
    use crate::domain::email::Email;
    use crate::domain::member::NewMember;
    use crate::storage::Store;

    #[tokio::test]
    async fn a_notice_is_queued_only_when_on_and_finished_ones_move_and_are_pruned() {
        set_mail_server(true);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let (off, on, id) = store
            .write(move |tx| {
                let new = NewMember {
                    email: Some(Email::parse("ada@example.com")?),
                    ..NewMember::default()
                };
                let m = super::super::members::create(tx, new, &Actor::System, now)?;
                let off = queue(tx, &m, What::Welcome, now)?;
                let mut s = super::super::settings::load_for_update(tx)?;
                s.notices.welcome = true;
                super::super::settings::save(tx, &s)?;
                let on = queue(tx, &m, What::Welcome, now)?;
                let id = tx.open_table(NOTICES_PENDING)?.last()?.unwrap().0.value();
                Ok((off, on, id))
            })
            .await
            .unwrap();
        assert!(!off && on);
        let due = store.read(move |tx| due(tx, now, 10)).await.unwrap();
        assert_eq!(due.len(), 1);
        let later = now + time::Duration::days(15);
        let (o, pruned) = store
            .write(move |tx| {
                update(tx, id, |n| {
                    n.attempted(now, None, std::time::Duration::from_secs(30))
                })?;
                let pruned = prune(tx, later)?;
                Ok((tx.open_table(NOTICES_PENDING)?.len()?, pruned))
            })
            .await
            .unwrap();
        assert_eq!((o, pruned), (0, 1));
    }
}
