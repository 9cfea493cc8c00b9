//! The server's scheduled ledger check: one run, full or continuing from the last entry found
//! intact, its result kept in the database.

use super::{Loyalty, Result};
use crate::domain::ledger::EntryHash;
use crate::domain::ledger_check::{CheckKind, CheckRun, CheckState, Verified};
use crate::storage::{self, ledger, tables::LEDGER};
use time::OffsetDateTime;

/// Entries an incremental check reads in one read transaction before it lets other work run.
const STRETCH: u64 = 8192;

impl Loyalty {
    /// What the scheduled checks have found so far.
    pub async fn ledger_check_state(&self) -> Result<CheckState> {
        Ok(self.store.read(storage::ledger_check::load).await?)
    }

    /// Runs one check of the given kind, begun at `started`, and records its result.
    ///
    /// A full pass is `fealty verify` (every entry, balance and table, in one read); an
    /// incremental one walks the entries after the last one found intact, a stretch per read.
    pub async fn check_ledger(&self, kind: CheckKind, started: OffsetDateTime) -> Result<CheckRun> {
        let state = self.ledger_check_state().await?;
        let from = state
            .verified
            .as_ref()
            .and_then(|v| EntryHash::parse_hex(&v.hash).map(|h| (v.seq, h)));
        let (run, reached) = match (kind, from) {
            (CheckKind::Incremental, Some((seq, hash))) => {
                self.check_after(seq, hash, started).await?
            }
            // Nothing found intact yet (or a point that cannot be read): everything is checked.
            _ => self.check_all(started).await?,
        };
        let recorded = run.clone();
        self.store
            .write(move |tx| {
                storage::ledger_check::update(tx, |s| s.record(recorded.clone(), reached.clone()))
            })
            .await?;
        Ok(run)
    }

    async fn check_all(&self, started: OffsetDateTime) -> Result<(CheckRun, Option<Verified>)> {
        let (v, (seq, hash)) = self
            .store
            .read(|tx| Ok((ledger::verify(tx)?, ledger::last(&tx.open_table(LEDGER)?)?)))
            .await?;
        let run = CheckRun {
            started,
            kind: CheckKind::Full,
            entries: v.entries,
            after_seq: 0,
            to_seq: seq,
            problem: v.problem,
        };
        Ok((run, Some(verified(seq, hash))))
    }

    async fn check_after(
        &self,
        after: u64,
        after_hash: EntryHash,
        started: OffsetDateTime,
    ) -> Result<(CheckRun, Option<Verified>)> {
        let mut at = (after, after_hash);
        let mut entries = 0;
        let problem = loop {
            let (seq, hash) = at;
            let s = self
                .store
                .read(move |tx| ledger::verify_after(tx, seq, hash, STRETCH))
                .await?;
            entries += s.entries;
            at = s.reached;
            if s.problem.is_some() || s.at_end {
                break s.problem;
            }
            // The till and the writer come first; the check takes what is left.
            tokio::task::yield_now().await;
        };
        let run = CheckRun {
            started,
            kind: CheckKind::Incremental,
            entries,
            after_seq: after,
            to_seq: at.0,
            problem,
        };
        Ok((run, Some(verified(at.0, at.1))))
    }
}

fn verified(seq: u64, hash: EntryHash) -> Verified {
    Verified {
        seq,
        hash: hash.to_hex(),
    }
}
