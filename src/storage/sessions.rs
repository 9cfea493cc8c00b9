//! Server-side sessions, keyed by the hash of the cookie's secret.

use super::tables::SESSIONS;
use super::{StoreError, codec};
use crate::domain::session::Session;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// Stores a new session.
pub fn insert(tx: &WriteTransaction, key: &str, session: &Session) -> Result<(), StoreError> {
    tx.open_table(SESSIONS)?
        .insert(key, codec::encode(session)?.as_slice())?;
    Ok(())
}

/// A session by key, live or not.
pub fn get(tx: &ReadTransaction, key: &str) -> Result<Option<Session>, StoreError> {
    codec::get(&tx.open_table(SESSIONS)?, "sessions", key)
}

/// Ends one session.
pub fn remove(tx: &WriteTransaction, key: &str) -> Result<(), StoreError> {
    tx.open_table(SESSIONS)?.remove(key)?;
    Ok(())
}

/// Ends every session of a staff account (after it is disabled or its password reset).
pub fn remove_for_staff(tx: &WriteTransaction, username: &str) -> Result<usize, StoreError> {
    remove_where(tx, |s| s.staff_username() == Some(username))
}

/// Ends every session of a customer (after erasure or a password reset).
pub fn remove_for_member(tx: &WriteTransaction, member_id: &str) -> Result<usize, StoreError> {
    remove_where(tx, |s| s.member_id() == Some(member_id))
}

/// Ends every session of a customer but `keep` (after they change their own password).
pub fn remove_for_member_except(
    tx: &WriteTransaction,
    member_id: &str,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    remove_keyed_where(tx, |key, s| {
        s.member_id() == Some(member_id) && Some(key) != keep
    })
}

/// Forgets sessions that have expired.
pub fn purge_expired(tx: &WriteTransaction, now: OffsetDateTime) -> Result<usize, StoreError> {
    remove_where(tx, |s| !s.is_live(now))
}

fn remove_where(
    tx: &WriteTransaction,
    doomed: impl Fn(&Session) -> bool,
) -> Result<usize, StoreError> {
    remove_keyed_where(tx, |_, s| doomed(s))
}

fn remove_keyed_where(
    tx: &WriteTransaction,
    doomed: impl Fn(&str, &Session) -> bool,
) -> Result<usize, StoreError> {
    let mut table = tx.open_table(SESSIONS)?;
    let mut keys = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        // A row that cannot be read is useless as a session: drop it too.
        let gone =
            codec::decode::<Session>("sessions", v.value()).map_or(true, |s| doomed(k.value(), &s));
        if gone {
            keys.push(k.value().to_owned());
        }
    }
    for k in &keys {
        table.remove(k.as_str())?;
    }
    Ok(keys.len())
}
