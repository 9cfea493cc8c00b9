//! Owner alerts: the set of active alerts, and the messages queued and sent (one table serves
//! as outbox and log: a message is pending until each of its deliveries is sent or given up).
//!
//! Neither table is backed up: they describe this server's running state. A restored server
//! starts with no active alerts and raises afresh whatever is wrong where it runs, and does not
//! deliver again what the old server sent. The owner's recipients and webhook are settings,
//! which are backed up.

use super::tables::{ALERT_MESSAGES, ALERTS_ACTIVE};
use super::{StoreError, codec};
use crate::domain::alerts::{AlertKey, Change, Channel, Kind, Message};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// How many messages are kept; the oldest go first.
pub const KEEP: u64 = 300;

/// An active alert as stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Active {
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
    words: String,
    /// The channels told that it started.
    #[serde(default)]
    told: Vec<Channel>,
}

/// The alerts active at the last look, with their words (none in a file that never had any).
pub fn active(tx: &ReadTransaction) -> Result<BTreeMap<AlertKey, String>, StoreError> {
    Ok(stored(tx)?.into_iter().map(|(k, a)| (k, a.words)).collect())
}

/// The channels each active alert's "started" went to.
pub fn told(tx: &ReadTransaction) -> Result<BTreeMap<AlertKey, Vec<Channel>>, StoreError> {
    Ok(stored(tx)?.into_iter().map(|(k, a)| (k, a.told)).collect())
}

fn stored(tx: &ReadTransaction) -> Result<BTreeMap<AlertKey, Active>, StoreError> {
    let table = match tx.open_table(ALERTS_ACTIVE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = BTreeMap::new();
    for row in table.iter()? {
        let (k, v) = row?;
        // A key a newer version stored is left for that version to clear.
        if let Some(key) = AlertKey::parse(k.value()) {
            out.insert(key, codec::decode("alerts_active", v.value())?);
        }
    }
    Ok(out)
}

/// Records what started and cleared (and which channels were told of alerts that last), and
/// queues their messages, in one transaction: a change is never recorded without its message,
/// nor sent twice. `messages[i]` is `changes[i]`'s message.
pub fn apply(
    tx: &WriteTransaction,
    changes: &[Change],
    messages: &[Message],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    {
        let mut table = tx.open_table(ALERTS_ACTIVE)?;
        for (c, m) in changes.iter().zip(messages) {
            let to: Vec<Channel> = m.deliveries.iter().map(|d| d.channel).collect();
            match c.kind {
                // Told again of one that lasts (a channel added since): its start stays.
                Kind::Started => {
                    let old =
                        codec::get::<&str, Active, _>(&table, "alerts_active", c.key.as_str())?;
                    let a = match old {
                        Some(mut a) => {
                            for ch in to {
                                if !a.told.contains(&ch) {
                                    a.told.push(ch);
                                }
                            }
                            a
                        }
                        None => Active {
                            since: now,
                            words: c.words.clone(),
                            told: to,
                        },
                    };
                    table.insert(c.key.as_str(), codec::encode(&a)?.as_slice())?;
                }
                Kind::Resolved => {
                    table.remove(c.key.as_str())?;
                }
                Kind::Test | Kind::CardLink => {}
            }
        }
    }
    for m in messages {
        enqueue(tx, m)?;
    }
    Ok(())
}

/// Queues a message; returns its id. Beyond [`KEEP`] messages, the oldest one with nothing left
/// to send goes first, so a message still being delivered is dropped only when all are.
pub fn enqueue(tx: &WriteTransaction, m: &Message) -> Result<u64, StoreError> {
    let mut table = tx.open_table(ALERT_MESSAGES)?;
    let id = match table.last()? {
        Some((k, _)) => k.value() + 1,
        None => 1,
    };
    table.insert(id, codec::encode(m)?.as_slice())?;
    while table.len()? > KEEP {
        // The table holds KEEP + 1 rows here, so this look is bounded.
        let mut done = None;
        for row in table.iter()? {
            let (k, v) = row?;
            let finished = codec::decode::<Message>("alert_messages", v.value())
                .map_or(true, |m| m.finished());
            if finished {
                done = Some(k.value());
                break;
            }
        }
        let dropped = match done {
            Some(k) => table.remove(k)?.is_some(),
            None => table.pop_first()?.is_some(),
        };
        if !dropped {
            break;
        }
    }
    Ok(id)
}

/// The messages with a delivery due at `now`, oldest first.
pub fn due(tx: &ReadTransaction, now: OffsetDateTime) -> Result<Vec<(u64, Message)>, StoreError> {
    let table = match tx.open_table(ALERT_MESSAGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        let m: Message = codec::decode("alert_messages", v.value())?;
        if !m.due(now).is_empty() {
            out.push((k.value(), m));
        }
    }
    Ok(out)
}

/// When the next pending delivery is due, if any is.
pub fn next_due(tx: &ReadTransaction) -> Result<Option<OffsetDateTime>, StoreError> {
    let table = match tx.open_table(ALERT_MESSAGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut next: Option<OffsetDateTime> = None;
    for row in table.iter()? {
        let (_, v) = row?;
        let m: Message = codec::decode("alert_messages", v.value())?;
        next = match (next, m.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(next)
}

/// Changes message `id` with `f`, if it is still kept.
pub fn update(
    tx: &WriteTransaction,
    id: u64,
    f: impl FnOnce(&mut Message),
) -> Result<(), StoreError> {
    let mut table = tx.open_table(ALERT_MESSAGES)?;
    let Some(mut m) = codec::get::<u64, Message, _>(&table, "alert_messages", id)? else {
        return Ok(());
    };
    f(&mut m);
    table.insert(id, codec::encode(&m)?.as_slice())?;
    Ok(())
}

/// Up to `limit` messages older than `before` (all when `None`), newest first.
pub fn page(
    tx: &ReadTransaction,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, Message)>, StoreError> {
    let table = match tx.open_table(ALERT_MESSAGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.range(..before.unwrap_or(u64::MAX))?.rev().take(limit) {
        let (k, v) = row?;
        out.push((k.value(), codec::decode("alert_messages", v.value())?));
    }
    Ok(out)
}

/// Queues the card-link mail `m` to `member` unless one was queued in the last hour; whether it
/// was queued. Checked and queued in one transaction, so two quick presses send one mail.
pub fn enqueue_card_link(
    tx: &WriteTransaction,
    m: &Message,
    member: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let recent = {
        let table = tx.open_table(ALERT_MESSAGES)?;
        let mut queued = Vec::new();
        // Newest first: a mail older than the window ends the search.
        for row in table.iter()?.rev() {
            let (_, v) = row?;
            let m: Message = codec::decode("alert_messages", v.value())?;
            if now - m.created >= crate::domain::card_mail::ONE_PER {
                break;
            }
            queued.push(m);
        }
        crate::domain::card_mail::must_wait(&queued, member, now)
    };
    if recent {
        return Ok(false);
    }
    enqueue(tx, m)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::alerts::State;
    use crate::storage::Store;

    #[tokio::test]
    async fn a_full_outbox_drops_finished_messages_before_one_still_being_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let pending = Message::test("Café", now, &[Channel::Email]);
        let mut sent = pending.clone();
        for d in &mut sent.deliveries {
            d.state = State::Sent;
        }
        let (first, due) = store
            .write(move |tx| {
                let first = enqueue(tx, &pending)?;
                for _ in 0..KEEP + 5 {
                    enqueue(tx, &sent)?;
                }
                let table = tx.open_table(ALERT_MESSAGES)?;
                assert_eq!(table.len()?, KEEP);
                Ok((first, table.get(first)?.is_some()))
            })
            .await
            .unwrap();
        assert!(due, "message {first}, still to send, was dropped");
    }
}
