//! The tier re-check: members whose earning has rolled out of the 12-month window (or whose
//! ladder the owner changed) move without any entry being posted.

use super::{Loyalty, Result};
use crate::storage;
use time::OffsetDateTime;

impl Loyalty {
    /// Moves every member whose tier the ladder gives otherwise at `now`, a batch of members per
    /// read and per write, so memory stays flat however many members there are; each move is
    /// recorded as a move after an entry is. Running it again moves nobody. The members moved.
    pub async fn recheck_tiers(&self, now: OffsetDateTime) -> Result<u64> {
        let tiers = self.settings().await?.tiers;
        if !tiers.enabled {
            return Ok(0);
        }
        let mut moved = 0;
        let mut after: Option<String> = None;
        loop {
            let (ladder, from) = (tiers.clone(), after.clone());
            let (due, next) = self
                .store
                .read(move |tx| storage::tiers::due_moves(tx, &ladder, now, from.as_deref()))
                .await?;
            if !due.is_empty() {
                moved += self
                    .store
                    .write(move |tx| storage::tiers::recheck(tx, &due, now))
                    .await?;
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(moved),
            }
        }
    }

    /// Asks the scheduled job for a re-check soon (the ladder changed); asks made while one is
    /// waiting or running fold into one more run.
    pub fn ask_tier_recheck(&self) {
        self.tier_recheck.notify_one();
    }

    /// Waits until a re-check is asked for.
    pub async fn tier_recheck_asked(&self) {
        self.tier_recheck.notified().await;
    }
}
