//! Etsy polling as stored: the owner's credentials, and the cursor written in the same
//! transaction as the receipts it covers, so a crash never counts a receipt twice or skips one.

use super::tables::ETSY;
use super::{StoreError, codec, hooks};
use crate::domain::etsy::{Cursor, EtsyKey, OAuthToken, PollEvery, ShopId};
use crate::domain::shop::Provider;
use crate::hooks::etsy::{Receipt, deliveries};
use redb::{ReadTransaction, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const ACCOUNT: &str = "account";
const STATE: &str = "state";

/// The owner's Etsy app and shop, and how often to poll. Whether polling is on and whether
/// unknown emails make members live in the shop's `Integration`, as for the webhook shops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtsyAccount {
    /// `keystring:shared_secret`.
    pub api_key: Option<EtsyKey>,
    /// The shop polled.
    pub shop_id: Option<ShopId>,
    /// The OAuth access token (an hour's life); replaced on refresh.
    pub access_token: Option<OAuthToken>,
    /// The OAuth refresh token; replaced on refresh.
    pub refresh_token: Option<OAuthToken>,
    /// How often to poll.
    #[serde(default)]
    pub poll_every: PollEvery,
}

impl EtsyAccount {
    /// Whether everything polling needs is set.
    pub fn complete(&self) -> bool {
        self.api_key.is_some()
            && self.shop_id.is_some()
            && self.access_token.is_some()
            && self.refresh_token.is_some()
    }
}

/// Where polling has got to and how the last poll went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtsyState {
    /// The receipts applied so far.
    pub cursor: Cursor,
    /// When the last poll ended.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_poll: Option<OffsetDateTime>,
    /// Why the last poll failed, in words; none if it worked.
    pub last_error: Option<String>,
    /// Failed polls in a row.
    pub failures: u32,
    /// When the next poll is due.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_poll: Option<OffsetDateTime>,
}

fn read<T: DeserializeOwned + Default>(tx: &ReadTransaction, key: &str) -> Result<T, StoreError> {
    let table = match tx.open_table(ETSY) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(T::default()),
        Err(e) => return Err(e.into()),
    };
    Ok(codec::get(&table, "etsy", key)?.unwrap_or_default())
}

fn read_for_update<T: DeserializeOwned + Default>(
    tx: &WriteTransaction,
    key: &str,
) -> Result<T, StoreError> {
    let table = tx.open_table(ETSY)?;
    Ok(codec::get(&table, "etsy", key)?.unwrap_or_default())
}

fn write<T: Serialize>(tx: &WriteTransaction, key: &str, value: &T) -> Result<(), StoreError> {
    tx.open_table(ETSY)?
        .insert(key, codec::encode(value)?.as_slice())?;
    Ok(())
}

/// The account (empty if never set).
pub fn account(tx: &ReadTransaction) -> Result<EtsyAccount, StoreError> {
    read(tx, ACCOUNT)
}

/// The account inside a write.
pub fn account_for_update(tx: &WriteTransaction) -> Result<EtsyAccount, StoreError> {
    read_for_update(tx, ACCOUNT)
}

/// Saves the account (the caller audits, without the secrets).
pub fn save_account(tx: &WriteTransaction, value: &EtsyAccount) -> Result<(), StoreError> {
    write(tx, ACCOUNT, value)
}

/// The polling state.
pub fn state(tx: &ReadTransaction) -> Result<EtsyState, StoreError> {
    read(tx, STATE)
}

/// The polling state inside a write.
pub fn state_for_update(tx: &WriteTransaction) -> Result<EtsyState, StoreError> {
    read_for_update(tx, STATE)
}

/// Saves the polling state.
pub fn save_state(tx: &WriteTransaction, value: &EtsyState) -> Result<(), StoreError> {
    write(tx, STATE, value)
}

/// Applies the receipts the cursor has not passed, through the webhook shops' one path, and
/// moves the cursor past them in the same write; returns how many were new.
pub fn apply_receipts(
    tx: &WriteTransaction,
    receipts: &[Receipt],
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    let mut state = state_for_update(tx)?;
    let mut new = 0;
    for r in receipts {
        if !state.cursor.is_new(r.updated_timestamp, r.receipt_id) {
            continue;
        }
        for d in deliveries(r) {
            hooks::apply(tx, Provider::Etsy, d, now)?;
        }
        state.cursor.advance(r.updated_timestamp, r.receipt_id);
        new += 1;
    }
    save_state(tx, &state)?;
    Ok(new)
}
