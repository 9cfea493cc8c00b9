//! Staff accounts.

use super::tables::STAFF;
use super::{StoreError, audit, codec};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::staff::{Role, StaffUser};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

/// Adds an account; usernames are unique.
pub fn add(tx: &WriteTransaction, user: &StaffUser, actor: &Actor) -> Result<(), StoreError> {
    let mut table = tx.open_table(STAFF)?;
    if table.get(user.username.as_str())?.is_some() {
        return Err(DomainError::Taken { what: "username" }.into());
    }
    table.insert(user.username.as_str(), codec::encode(user)?.as_slice())?;
    drop(table);
    audit::record(
        tx,
        actor,
        "staff.add",
        user.username.as_str(),
        serde_json::json!({ "role": user.role }),
        user.created_at,
    )
}

/// Every account.
pub fn list(tx: &ReadTransaction) -> Result<Vec<StaffUser>, StoreError> {
    let table = tx.open_table(STAFF)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(codec::decode("staff", v.value())?);
    }
    Ok(out)
}

/// Whether an enabled owner exists, inside a write.
pub fn has_owner(tx: &WriteTransaction) -> Result<bool, StoreError> {
    let table = tx.open_table(STAFF)?;
    for row in table.iter()? {
        let (_, v) = row?;
        let u: StaffUser = codec::decode("staff", v.value())?;
        if u.role == Role::Owner && !u.disabled {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One account, inside a read.
pub fn get(tx: &ReadTransaction, username: &str) -> Result<Option<StaffUser>, StoreError> {
    codec::get(&tx.open_table(STAFF)?, "staff", username)
}

/// Changes one account: `f` edits it; the change is audited as `action`.
///
/// Refused (before anything is written) if it would leave no enabled owner.
pub fn update(
    tx: &WriteTransaction,
    username: &str,
    action: &str,
    actor: &Actor,
    now: time::OffsetDateTime,
    f: impl FnOnce(&mut StaffUser) -> Result<(), DomainError>,
) -> Result<StaffUser, StoreError> {
    let mut table = tx.open_table(STAFF)?;
    let mut user: StaffUser =
        codec::get(&table, "staff", username)?.ok_or(DomainError::NotFound("staff account"))?;
    f(&mut user)?;
    if user.role != Role::Owner || user.disabled {
        let mut other_owner = false;
        for row in table.iter()? {
            let (k, v) = row?;
            let u: StaffUser = codec::decode("staff", v.value())?;
            other_owner |= k.value() != username && u.role == Role::Owner && !u.disabled;
        }
        if !other_owner {
            return Err(DomainError::invalid(
                "username",
                "this is the last owner; add another owner first",
            )
            .into());
        }
    }
    table.insert(username, codec::encode(&user)?.as_slice())?;
    drop(table);
    audit::record(tx, actor, action, username, serde_json::json!({}), now)?;
    Ok(user)
}
