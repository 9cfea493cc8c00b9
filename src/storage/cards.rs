//! Card numbers and tokens: new ones, printed blank cards, and customers' passwords.

use super::tables::{BLANK_BY_CARD, BLANK_CARDS, MEMBER_SECRETS, MEMBERS_BY_CARD};
use super::{StoreError, codec};
use crate::crypto;
use crate::domain::card::{BlankCard, CardNumber, CardToken};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// A card number no member and no blank card has.
pub fn free_number(tx: &WriteTransaction) -> Result<CardNumber, StoreError> {
    let members = tx.open_table(MEMBERS_BY_CARD)?;
    let blanks = tx.open_table(BLANK_BY_CARD)?;
    for _ in 0..32 {
        let n = CardNumber::from_random(crypto::random_u64()?);
        if members.get(n.as_str())?.is_none() && blanks.get(n.as_str())?.is_none() {
            return Ok(n);
        }
    }
    Err(StoreError::Db("could not find a free card number".into()))
}

/// A new random card token.
pub fn new_token() -> Result<CardToken, StoreError> {
    Ok(CardToken::from_random(crypto::random_bytes::<16>()?))
}

/// Prints `n` blank cards: numbers and tokens reserved for members who have not joined yet.
pub fn create_blanks(
    tx: &WriteTransaction,
    n: usize,
    now: OffsetDateTime,
) -> Result<Vec<BlankCard>, StoreError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let card = BlankCard {
            card_number: free_number(tx)?,
            card_token: new_token()?,
            created_at: now,
        };
        tx.open_table(BLANK_CARDS)?
            .insert(card.card_token.as_str(), codec::encode(&card)?.as_slice())?;
        tx.open_table(BLANK_BY_CARD)?
            .insert(card.card_number.as_str(), card.card_token.as_str())?;
        out.push(card);
    }
    Ok(out)
}

/// A blank card by its token.
pub fn blank(tx: &ReadTransaction, token: &CardToken) -> Result<Option<BlankCard>, StoreError> {
    codec::get(&tx.open_table(BLANK_CARDS)?, "blank_cards", token.as_str())
}

fn blank_via<I, C>(
    by_card: &I,
    cards: &C,
    number: &CardNumber,
) -> Result<Option<BlankCard>, StoreError>
where
    I: ReadableTable<&'static str, &'static str>,
    C: ReadableTable<&'static str, &'static [u8]>,
{
    match by_card.get(number.as_str())? {
        Some(t) => codec::get(cards, "blank_cards", t.value()),
        None => Ok(None),
    }
}

/// A blank card by the number printed on it.
pub fn blank_by_number(
    tx: &ReadTransaction,
    number: &CardNumber,
) -> Result<Option<BlankCard>, StoreError> {
    blank_via(
        &tx.open_table(BLANK_BY_CARD)?,
        &tx.open_table(BLANK_CARDS)?,
        number,
    )
}

/// The blank card with this number, inside a write.
pub fn blank_for_update(
    tx: &WriteTransaction,
    number: &CardNumber,
) -> Result<Option<BlankCard>, StoreError> {
    blank_via(
        &tx.open_table(BLANK_BY_CARD)?,
        &tx.open_table(BLANK_CARDS)?,
        number,
    )
}

/// Removes a blank card once a member has it.
pub fn claim(tx: &WriteTransaction, card: &BlankCard) -> Result<(), StoreError> {
    tx.open_table(BLANK_CARDS)?
        .remove(card.card_token.as_str())?;
    tx.open_table(BLANK_BY_CARD)?
        .remove(card.card_number.as_str())?;
    Ok(())
}

/// The hash of a customer's password or PIN.
pub fn secret(tx: &ReadTransaction, member_id: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .open_table(MEMBER_SECRETS)?
        .get(member_id)?
        .map(|v| v.value().to_owned()))
}

/// Sets (`Some`) or clears (`None`) a customer's password hash.
pub fn set_secret(
    tx: &WriteTransaction,
    member_id: &str,
    hash: Option<&str>,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(MEMBER_SECRETS)?;
    match hash {
        Some(h) => {
            table.insert(member_id, h)?;
        }
        None => {
            table.remove(member_id)?;
        }
    }
    Ok(())
}
