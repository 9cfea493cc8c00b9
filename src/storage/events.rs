//! Outbound events: the owner's endpoints, and the outbox of deliveries to them.
//!
//! An event is queued by [`queue`] inside the write transaction of the member or ledger entry
//! it describes, so an acknowledged change always has its event and a rolled-back one never
//! does. The outbox keeps every pending delivery (at most [`MAX_PENDING`]) and the last
//! [`KEEP`] finished ones for the admin page; a due-time index lets the sender find the next
//! due delivery without a scan. Endpoints are backed up (the owner set them); the outbox is
//! not: a restored server does not send again what the old one sent.

use super::tables::{EVENT_DELIVERIES, EVENT_DUE, WEBHOOK_ENDPOINTS};
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

/// A time as the due index's key: Unix milliseconds (none are before 1970 here).
fn ms(t: OffsetDateTime) -> u128 {
    u128::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
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
        make_room(tx)?;
        let mut table = tx.open_table(EVENT_DELIVERIES)?;
        let id = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
        table.insert(id, codec::encode(&d)?.as_slice())?;
        tx.open_table(EVENT_DUE)?.insert((ms(now), id), ())?;
    }
    Ok(())
}

/// Gives up the delivery due soonest while [`MAX_PENDING`] wait.
fn make_room(tx: &WriteTransaction) -> Result<(), StoreError> {
    let first = {
        let due = tx.open_table(EVENT_DUE)?;
        if due.len()? < MAX_PENDING {
            return Ok(());
        }
        due.first()?.map(|(k, _)| k.value().1)
    };
    if let Some(id) = first {
        update(tx, id, |d| d.give_up("the outbox was full"))?;
    }
    Ok(())
}

/// Up to `limit` deliveries due at `now`, soonest first.
pub fn due(
    tx: &ReadTransaction,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(u64, Delivery)>, StoreError> {
    let (index, table) = match (tx.open_table(EVENT_DUE), tx.open_table(EVENT_DELIVERIES)) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(redb::TableError::TableDoesNotExist(_)), _)
        | (_, Err(redb::TableError::TableDoesNotExist(_))) => return Ok(Vec::new()),
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in index.range(..(ms(now), u64::MAX))?.take(limit) {
        let id = row?.0.value().1;
        if let Some(d) = codec::get::<u64, Delivery, _>(&table, "event_deliveries", id)? {
            out.push((id, d));
        }
    }
    Ok(out)
}

/// When the next pending delivery is due, in Unix milliseconds.
pub fn next_due_ms(tx: &ReadTransaction) -> Result<Option<u128>, StoreError> {
    match tx.open_table(EVENT_DUE) {
        Ok(t) => Ok(t.first()?.map(|(k, _)| k.value().0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
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
    if let Some(at) = d.next_at {
        due.remove((ms(at), id))?;
    }
    f(&mut d);
    if let (DeliveryState::Pending, Some(at)) = (d.state, d.next_at) {
        due.insert((ms(at), id), ())?;
    }
    table.insert(id, codec::encode(&d)?.as_slice())?;
    // Prune the oldest finished deliveries beyond KEEP; pending ones stay.
    let mut extra = table.len()?.saturating_sub(due.len()?).saturating_sub(KEEP);
    if extra > 0 {
        let mut drop = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            let old: Delivery = codec::decode("event_deliveries", v.value())?;
            if old.state != DeliveryState::Pending {
                drop.push(k.value());
                extra -= 1;
                if extra == 0 {
                    break;
                }
            }
        }
        for k in drop {
            table.remove(k)?;
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
