//! Deliveries a shop (or anyone) sent that were not stored: refused ones (a bad signature, an
//! unreadable body) and repeats of one taken before. Kept in memory only, the last few per
//! shop, because anyone can send them: the database never grows with them. A wrong secret is
//! the most common setup mistake, and this is where the owner sees it.

use crate::domain::shop::Provider;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use time::OffsetDateTime;

/// How many attempts are kept per shop.
pub const KEPT: usize = 20;

/// The longest reason kept, in bytes (an unreadable body's parser message can be long).
const MAX_REASON: usize = 200;

/// One attempt that was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When it came.
    pub at: OffsetDateTime,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// What happened, in words for the owner.
    pub outcome: String,
}

/// The last [`KEPT`] attempts per shop; cheap to clone and share.
#[derive(Debug, Clone, Default)]
pub struct Attempts(Arc<Mutex<[VecDeque<Attempt>; Provider::ALL.len()]>>);

fn slot(p: Provider) -> usize {
    Provider::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

impl Attempts {
    /// Notes an attempt, forgetting the shop's oldest beyond [`KEPT`].
    pub fn record(&self, provider: Provider, at: OffsetDateTime, status: u16, outcome: &str) {
        let mut outcome = outcome.to_owned();
        if outcome.len() > MAX_REASON {
            let mut end = MAX_REASON;
            while !outcome.is_char_boundary(end) {
                end -= 1;
            }
            outcome.truncate(end);
            outcome.push('…');
        }
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &mut all[slot(provider)];
        if list.len() == KEPT {
            list.pop_front();
        }
        list.push_back(Attempt {
            at,
            status,
            outcome,
        });
    }

    /// A shop's attempts, newest first.
    pub fn recent(&self, provider: Provider) -> Vec<Attempt> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all[slot(provider)].iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_per_shop_and_short_reasons() {
        let a = Attempts::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        for i in 0..(KEPT + 5) {
            a.record(Provider::Shopify, t, 401, &format!("n{i}"));
        }
        a.record(Provider::Stripe, t, 400, &"é".repeat(300));
        let shopify = a.recent(Provider::Shopify);
        assert_eq!(shopify.len(), KEPT);
        assert_eq!(shopify[0].outcome, format!("n{}", KEPT + 4));
        assert_eq!(shopify[KEPT - 1].outcome, "n5");
        let stripe = a.recent(Provider::Stripe);
        assert!(stripe[0].outcome.len() <= MAX_REASON + '…'.len_utf8());
        assert!(a.recent(Provider::Square).is_empty());
    }
}
