//! The QR code and barcode of a card page, drawn once and kept in a cache bounded in bytes:
//! drawing them was most of the page's cost, and they change only with the card's link (base URL
//! and token) and number. Both are the cache key, so a new card can never show an old code.

use super::codes::{barcode_svg, qr_svg};
use crate::domain::card::CardNumber;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// What the cache may hold, keys included: a card's codes take about 10 KB, so some hundreds of
/// cards, the ones in use at the counter now, whatever the number of members.
pub const BUDGET_BYTES: usize = 2 << 20;

/// A card's codes as the card page shows them.
#[derive(Debug)]
pub struct DrawnCodes {
    /// The QR code of the card's link.
    pub qr: String,
    /// The Code 128 barcode of the card number.
    pub barcode: String,
}

impl DrawnCodes {
    fn draw(card_url: &str, number: &CardNumber) -> Self {
        Self {
            qr: qr_svg(card_url, Some("card-qr"), "qr", "QR code of your card").into_string(),
            barcode: barcode_svg(number, Some("card-barcode"), "barcode").into_string(),
        }
    }

    fn bytes(&self) -> usize {
        self.qr.len() + self.barcode.len()
    }
}

/// Cards' drawn codes by link and number, oldest dropped first when the budget is spent.
#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Arc<str>, Arc<DrawnCodes>>,
    oldest_first: VecDeque<Arc<str>>,
    bytes: usize,
}

/// The shared cache of drawn card codes (cheap to clone: one cache behind all clones).
#[derive(Debug, Clone)]
pub struct CardCodes {
    entries: Arc<Mutex<Entries>>,
    budget: usize,
}

impl Default for CardCodes {
    fn default() -> Self {
        Self::with_budget(BUDGET_BYTES)
    }
}

impl CardCodes {
    /// An empty cache that holds at most `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            entries: Arc::default(),
            budget,
        }
    }

    /// The codes of the card at `card_url` with `number`, drawn now unless cached.
    pub fn get(&self, card_url: &str, number: &CardNumber) -> Arc<DrawnCodes> {
        // A newline is in neither a URL nor a card number: the key cannot be ambiguous.
        let key = format!("{card_url}\n{}", number.as_str());
        if let Some(found) = self.lock().by_key.get(key.as_str()) {
            return found.clone();
        }
        // Drawn outside the lock: other cards' pages need not wait for this one.
        let drawn = Arc::new(DrawnCodes::draw(card_url, number));
        let size = key.len() + drawn.bytes();
        if size > self.budget {
            return drawn;
        }
        let mut entries = self.lock();
        if let Some(found) = entries.by_key.get(key.as_str()) {
            return found.clone();
        }
        while entries.bytes + size > self.budget {
            let Some(old) = entries.oldest_first.pop_front() else {
                break;
            };
            if let Some(gone) = entries.by_key.remove(&old) {
                entries.bytes -= old.len() + gone.bytes();
            }
        }
        let key: Arc<str> = key.into();
        entries.by_key.insert(key.clone(), drawn.clone());
        entries.oldest_first.push_back(key);
        entries.bytes += size;
        drawn
    }

    /// Bytes held now, keys included.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent after every statement that holds the lock: a panic elsewhere
        // cannot leave it half changed.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: u64) -> CardNumber {
        CardNumber::from_random(n)
    }

    const URL: &str = "https://rewards.example.com/c/AAAAAAAAAAAAAAAAAAAAAA";
    const OTHER_URL: &str = "https://rewards.example.com/c/BBBBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn codes_are_drawn_as_the_page_drew_them_and_then_reused() {
        let cache = CardCodes::default();
        let n = number(1_234_567_890);
        let first = cache.get(URL, &n);
        assert_eq!(
            first.qr,
            qr_svg(URL, Some("card-qr"), "qr", "QR code of your card").into_string()
        );
        assert_eq!(
            first.barcode,
            barcode_svg(&n, Some("card-barcode"), "barcode").into_string()
        );
        assert!(Arc::ptr_eq(&first, &cache.get(URL, &n)), "drawn again");
    }

    #[test]
    fn a_new_link_or_number_gets_its_own_codes() {
        let cache = CardCodes::default();
        let (n, m) = (number(1_234_567_890), number(1_234_567_891));
        let old = cache.get(URL, &n);
        let new_link = cache.get(OTHER_URL, &n);
        assert_ne!(old.qr, new_link.qr);
        assert_eq!(old.barcode, new_link.barcode);
        let new_number = cache.get(URL, &m);
        assert_eq!(old.qr, new_number.qr);
        assert_ne!(old.barcode, new_number.barcode);
        assert_eq!(
            new_number.barcode,
            barcode_svg(&m, Some("card-barcode"), "barcode").into_string()
        );
    }

    #[test]
    fn the_cache_stays_within_its_budget_and_drops_the_oldest() {
        let one = {
            let probe = CardCodes::default();
            probe.get(URL, &number(1));
            probe.bytes()
        };
        let cache = CardCodes::with_budget(one * 3);
        let first = cache.get(URL, &number(1));
        for i in 2..50 {
            cache.get(URL, &number(i));
            assert!(cache.bytes() <= one * 3, "{} bytes held", cache.bytes());
        }
        assert!(cache.bytes() >= one * 2, "keeps what fits");
        assert!(!Arc::ptr_eq(&first, &cache.get(URL, &number(1))), "kept");
    }

    #[test]
    fn codes_larger_than_the_budget_are_drawn_but_not_kept() {
        let cache = CardCodes::with_budget(100);
        let n = number(7);
        assert!(cache.get(URL, &n).qr.contains("card-qr"));
        assert_eq!(cache.bytes(), 0);
    }
}
