//! Outbound events: the owner's endpoints, and the outbox of deliveries to them.
//!
//! An event is queued by [`queue`] inside the write transaction of the member or ledger entry
//! it describes, so an acknowledged change always has its event and a rolled-back one never
//! does. The outbox keeps every pending delivery (at most [`MAX_PENDING`]) and the last
//! [`KEEP`] finished ones for the admin page; a due-time index lets the sender find the next
//! due delivery, and a finished index the oldest to prune, without a scan. Endpoints are backed up (the owner set them); the outbox is
//! not: a restored server does not send again what the old one sent.

use super::tables::{EVENT_DELIVERIES, EVENT_DONE, EVENT_DUE, WEBHOOK_ENDPOINTS};
use super::{StoreError, audit, codec};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::events::{
    self, Delivery, DeliveryState, EndpointUrl, EventData, EventType, MAX_ENDPOINTS,
};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use time::OffsetDateTime;

/// How many finished deliveries are kept for the admin page; the oldest go first.
pub const KEEP: u64 = 300;
/// How many deliveries may wait at once; beyond it the one due soonest is given up, so a dead
/// endpoint under a busy till cannot fill the disk.
pub const MAX_PENDING: u64 = 20_000;

/// An endpoint the owner registered, with its signing secret.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: EndpointUrl,
    /// The HMAC key (`whsec_...`), shown to the owner once.
    pub secret: String,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A delivery's key in an endpoint's part of the due index: the due time in Unix
/// milliseconds, then the id, as fixed-width digits so text order is time order.
fn due_key(at: OffsetDateTime, id: u64) -> String {
    let ms = u128::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    format!("{ms:020}.{id:020}")
}

/// The id in a due key.
fn id_of(key: &str) -> Option<u64> {
    key.split_once('.').and_then(|(_, id)| id.parse().ok())
}

/// The due time in a due key, in Unix milliseconds.
fn ms_of(key: &str) -> Option<u128> {
    key.split_once('.').and_then(|(ms, _)| ms.parse().ok())
}

/// The endpoints, oldest first (none in a file that never had any).
pub fn endpoints(tx: &ReadTransaction) -> Result<Vec<Endpoint>, StoreError> {
    let table = match tx.open_table(WEBHOOK_ENDPOINTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out: Vec<Endpoint> = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(codec::decode("webhook_endpoints", v.value())?);
    }
    out.sort_by_key(|e| e.created_at);
    Ok(out)
}

/// Adds an endpoint with a new secret; at most [`MAX_ENDPOINTS`], each URL once.
pub fn add_endpoint(
    tx: &WriteTransaction,
    url: EndpointUrl,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Endpoint, StoreError> {
    let mut table = tx.open_table(WEBHOOK_ENDPOINTS)?;
    let mut count = 0;
    for row in table.iter()? {
        let (_, v) = row?;
        let e: Endpoint = codec::decode("webhook_endpoints", v.value())?;
        if e.url == url {
            return Err(DomainError::invalid("url", "this address is registered already").into());
        }
        count += 1;
    }
    if count >= MAX_ENDPOINTS {
        return Err(DomainError::invalid(
            "url",
            format!("at most {MAX_ENDPOINTS} endpoints; remove one first"),
        )
        .into());
    }
    let endpoint = Endpoint {
        id: format!("we_{}", super::new_ulid(now)?),
        url,
        secret: format!("whsec_{}", crate::crypto::random_token::<24>()?),
        created_at: now,
    };
    table.insert(endpoint.id.as_str(), codec::encode(&endpoint)?.as_slice())?;
    audit::record(
        tx,
        actor,
        "webhook.create",
        &endpoint.id,
        serde_json::json!({ "url": endpoint.url.as_str() }),
        now,
    )?;
    Ok(endpoint)
}

/// Removes an endpoint; its pending deliveries are given up when they come due.
pub fn remove_endpoint(
    tx: &WriteTransaction,
    id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let removed = tx.open_table(WEBHOOK_ENDPOINTS)?.remove(id)?.is_some();
    if !removed {
        return Err(DomainError::NotFound("webhook endpoint").into());
    }
    let pending: Vec<u64> = {
        let due = tx.open_table(EVENT_DUE)?;
        let mut ids = Vec::new();
        for row in due.range((id, "")..=(id, "~"))? {
            ids.extend(id_of(row?.0.value().1));
        }
        ids
    };
    for delivery in pending {
        update(tx, delivery, |d| d.give_up("the endpoint was removed"))?;
    }
    audit::record(tx, actor, "webhook.delete", id, serde_json::json!({}), now)
}

/// Queues `kind` with `data` for every endpoint, in the transaction of the change it
/// describes. Costs one small read when no endpoint is registered.
pub fn queue(
    tx: &WriteTransaction,
    kind: EventType,
    data: &EventData,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let ids: Vec<String> = {
        let table = tx.open_table(WEBHOOK_ENDPOINTS)?;
        if table.is_empty()? {
            return Ok(());
        }
        let mut ids = Vec::new();
        for row in table.iter()? {
            ids.push(row?.0.value().to_owned());
        }
        ids
    };
    let event_id = format!("evt_{}", super::new_ulid(now)?);
    let body = events::body(&event_id, kind, now, data);
    for endpoint in ids {
        let d = Delivery::new(&endpoint, &event_id, kind, &body, now);
        make_room(tx, &endpoint)?;
        let mut table = tx.open_table(EVENT_DELIVERIES)?;
        let id = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
        table.insert(id, codec::encode(&d)?.as_slice())?;
        tx.open_table(EVENT_DUE)?
            .insert((endpoint.as_str(), due_key(now, id).as_str()), ())?;
    }
    Ok(())
}

/// While [`MAX_PENDING`] wait, gives up `endpoint`'s delivery due soonest: an endpoint that
/// is down loses its oldest events, one that keeps up has next to none waiting.
fn make_room(tx: &WriteTransaction, endpoint: &str) -> Result<(), StoreError> {
    let first = {
        let due = tx.open_table(EVENT_DUE)?;
        if due.len()? < MAX_PENDING {
            return Ok(());
        }
        let mut rows = due.range((endpoint, "")..=(endpoint, "~"))?;
        match rows.next() {
            Some(row) => id_of(row?.0.value().1),
            None => None,
        }
    };
    if let Some(id) = first {
        update(tx, id, |d| d.give_up("the outbox was full"))?;
    }
    Ok(())
}

/// Up to `limit` of `endpoint`'s deliveries due at `now`, soonest first.
pub fn due(
    tx: &ReadTransaction,
    endpoint: &str,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(u64, Delivery)>, StoreError> {
    let (index, table) = match (tx.open_table(EVENT_DUE), tx.open_table(EVENT_DELIVERIES)) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(redb::TableError::TableDoesNotExist(_)), _)
        | (_, Err(redb::TableError::TableDoesNotExist(_))) => return Ok(Vec::new()),
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let until = due_key(now, u64::MAX);
    let mut out = Vec::new();
    for row in index
        .range((endpoint, "")..=(endpoint, until.as_str()))?
        .take(limit)
    {
        let Some(id) = id_of(row?.0.value().1) else {
            continue;
        };
        if let Some(d) = codec::get::<u64, Delivery, _>(&table, "event_deliveries", id)? {
            out.push((id, d));
        }
    }
    Ok(out)
}

/// When `endpoint`'s next pending delivery is due, in Unix milliseconds.
pub fn next_due_ms(tx: &ReadTransaction, endpoint: &str) -> Result<Option<u128>, StoreError> {
    let index = match tx.open_table(EVENT_DUE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut rows = index.range((endpoint, "")..=(endpoint, "~"))?;
    match rows.next() {
        Some(row) => Ok(ms_of(row?.0.value().1)),
        None => Ok(None),
    }
}

/// Changes delivery `id` with `f` and keeps the due index and the kept history in step.
pub fn update(
    tx: &WriteTransaction,
    id: u64,
    f: impl FnOnce(&mut Delivery),
) -> Result<(), StoreError> {
    let mut table = tx.open_table(EVENT_DELIVERIES)?;
    let Some(mut d) = codec::get::<u64, Delivery, _>(&table, "event_deliveries", id)? else {
        return Ok(());
    };
    let mut due = tx.open_table(EVENT_DUE)?;
    let was_pending = d.state == DeliveryState::Pending;
    if let Some(at) = d.next_at {
        due.remove((d.endpoint.as_str(), due_key(at, id).as_str()))?;
    }
    f(&mut d);
    if let (DeliveryState::Pending, Some(at)) = (d.state, d.next_at) {
        due.insert((d.endpoint.as_str(), due_key(at, id).as_str()), ())?;
    }
    let finished = was_pending && d.state != DeliveryState::Pending;
    table.insert(id, codec::encode(&d)?.as_slice())?;
    if finished {
        let mut done = tx.open_table(EVENT_DONE)?;
        done.insert(id, ())?;
        while done.len()? > KEEP {
            let Some((old, _)) = done.pop_first()? else {
                break;
            };
            table.remove(old.value())?;
        }
    }
    Ok(())
}

/// Up to `limit` deliveries to `endpoint`, newest first.
pub fn recent(
    tx: &ReadTransaction,
    endpoint: &str,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let table = match tx.open_table(EVENT_DELIVERIES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()?.rev() {
        let (_, v) = row?;
        let d: Delivery = codec::decode("event_deliveries", v.value())?;
        if d.endpoint == endpoint {
            out.push(d);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::member::NewMember;
    use crate::storage::Store;
    use std::time::Duration;

    fn data() -> EventData {
        EventData {
            member_id: "m".into(),
            card_number: "c".into(),
            points: Some(1),
            balance_after: 1,
            entry: Some(1),
            reference: None,
        }
    }

    #[tokio::test]
    async fn the_outbox_keeps_pending_deliveries_and_the_last_finished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        // Nothing is queued while no endpoint is registered.
        store
            .write(move |tx| {
                crate::storage::members::create(tx, NewMember::default(), &Actor::System, now)?;
                Ok(())
            })
            .await
            .unwrap();
        let url = EndpointUrl::parse("http://127.0.0.1:9/x").unwrap();
        let ep = store
            .write(move |tx| add_endpoint(tx, url, &Actor::System, now).map(|e| e.id))
            .await
            .unwrap();
        let e = ep.clone();
        assert!(
            store
                .read(move |tx| due(tx, &e, now, 10))
                .await
                .unwrap()
                .is_empty()
        );
        let n = KEEP + 40;
        store
            .write(move |tx| {
                for _ in 0..n {
                    queue(tx, EventType::PointsEarned, &data(), now)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let e = ep.clone();
        let pending = store
            .read(move |tx| due(tx, &e, now, usize::MAX))
            .await
            .unwrap();
        assert_eq!(pending.len() as u64, n);
        // All but the last ten are delivered; ten fail and wait.
        let ids: Vec<u64> = pending.iter().map(|(id, _)| *id).collect();
        store
            .write(move |tx| {
                for (i, id) in ids.iter().enumerate() {
                    let err = (i as u64 >= n - 10).then(|| "500".to_owned());
                    update(tx, *id, |d| d.attempted(now, err, Duration::from_secs(30)))?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let e = ep.clone();
        let (kept, waiting, later, next) = store
            .read(move |tx| {
                let kept = tx.open_table(EVENT_DELIVERIES)?.len()?;
                let waiting = due(tx, &e, now, usize::MAX)?.len();
                let later = due(tx, &e, now + time::Duration::minutes(1), usize::MAX)?;
                Ok((kept, waiting, later, next_due_ms(tx, &e)?))
            })
            .await
            .unwrap();
        assert_eq!(
            kept,
            KEEP + 10,
            "the last {KEEP} finished and every pending one"
        );
        assert_eq!(waiting, 0, "the failed ones wait for their next attempt");
        assert_eq!(later.len(), 10);
        assert!(later.iter().all(|(_, d)| d.attempts == 1));
        let retry_ms =
            u128::try_from((now + time::Duration::seconds(30)).unix_timestamp()).unwrap() * 1000;
        assert_eq!(next, Some(retry_ms));

        // Removing the endpoint gives up what waits for it.
        let e = ep.clone();
        store
            .write(move |tx| remove_endpoint(tx, &e, &Actor::System, now))
            .await
            .unwrap();
        let e = ep.clone();
        let (next, kept) = store
            .read(move |tx| {
                Ok((
                    next_due_ms(tx, &e)?,
                    tx.open_table(EVENT_DELIVERIES)?.len()?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(next, None);
        assert_eq!(kept, KEEP, "given up, they count as finished");
    }
}
