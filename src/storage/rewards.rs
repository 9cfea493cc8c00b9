//! The rewards catalogue.

use super::tables::REWARDS;
use super::{StoreError, audit, codec};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::reward::Reward;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// Every reward, oldest first.
pub fn list(tx: &ReadTransaction) -> Result<Vec<Reward>, StoreError> {
    let table = tx.open_table(REWARDS)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(codec::decode("rewards", v.value())?);
    }
    Ok(out)
}

/// A reward by id inside a write.
pub fn get_for_update(tx: &WriteTransaction, id: &str) -> Result<Reward, StoreError> {
    codec::get(&tx.open_table(REWARDS)?, "rewards", id)?
        .ok_or(DomainError::NotFound("reward").into())
}

/// Saves a reward and records who did it.
pub fn save(
    tx: &WriteTransaction,
    reward: &Reward,
    action: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.open_table(REWARDS)?
        .insert(reward.id.as_str(), codec::encode(reward)?.as_slice())?;
    audit::record(
        tx,
        actor,
        action,
        &reward.id,
        serde_json::json!({ "name": reward.name, "cost": reward.cost, "active": reward.active }),
        now,
    )
}
