//! Storage: one redb file, one writer task, read transactions for everyone else.

pub mod aggregates;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod birthdays;
pub mod campaigns;
pub mod cards;
mod codec;
mod compact;
pub mod etsy;
pub mod events;
pub mod expiry;
pub mod hooks;
pub mod idempotency;
pub mod inspect;
pub mod ledger;
pub mod ledger_check;
pub mod members;
pub mod migrate_v5;
pub mod notices;
pub mod open;
pub mod records;
pub mod referrals;
pub mod replay;
pub mod rewards;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod snapshot;
pub mod staff;
pub mod stats;
pub mod tables;
pub mod tiers;
mod writer;

use crate::domain::DomainError;
use redb::{ReadTransaction, WriteTransaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What an open runs before a migration (the upgrade's safety copy).
pub type BeforeMigration<'a> =
    dyn Fn(&ReadTransaction, schema::Migration) -> Result<(), StoreError> + 'a;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "fealty.redb";

/// The one error type of the storage layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A domain rule refused the change; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(String),
    /// A stored row could not be read.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// Another process has the database open.
    #[error("the database in {0} is in use by another fealty process")]
    InUse(PathBuf),
    /// The file was written by a newer fealty.
    #[error(
        "the database is at schema version {found}, newer than this fealty supports ({supported}); upgrade fealty"
    )]
    TooNew {
        /// Version found in the file.
        found: u64,
        /// Newest version this build knows.
        supported: u64,
    },
    /// The writer has stopped (shutting down).
    #[error("the database writer has stopped")]
    Closed,
    /// The file cannot take writes now (a full disk, an I/O error); the writer keeps retrying.
    #[error("the database cannot take writes right now: {0}")]
    Unavailable(String),
    /// The file is damaged beyond what an open can repair.
    #[error(
        "the database in {} is damaged and cannot be repaired ({detail}); restore it from a backup: fealty restore --from <backup target> --data {} --force",
        dir.display(),
        dir.display()
    )]
    Damaged {
        /// The data directory.
        dir: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Randomness failed.
    #[error("{0}")]
    Random(String),
    /// A dry run ended as planned: its writes were thrown away ([`Store::dry_run`]).
    #[error("a dry run's writes were thrown away")]
    DryRun,
    /// The safety copy an upgrade makes before migrating could not be written; nothing changed.
    #[error(
        "cannot write the safety copy before migrating the database from schema {from} to {to} ({reason}); the database was not changed: make room or fix that, then start again"
    )]
    NoSafetyCopy {
        /// The file's schema.
        from: u64,
        /// This build's schema.
        to: u64,
        /// Why the copy failed.
        reason: String,
    },
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            // The file, not the request, failed: the writer reopens it and the client may retry.
            redb::Error::Io(e) => StoreError::Unavailable(io_reason(&e)),
            redb::Error::PreviousIo => {
                StoreError::Unavailable("an earlier write to the database file failed".into())
            }
            redb::Error::DatabaseClosed => StoreError::Closed,
            other => StoreError::Db(other.to_string()),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                redb::Error::from(e).into()
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// An I/O error in words an operator acts on.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::StorageFull => "no space left on device".into(),
        std::io::ErrorKind::QuotaExceeded => "disk quota exceeded".into(),
        _ => format!("I/O error: {e}"),
    }
}

impl From<crate::crypto::RandomError> for StoreError {
    fn from(e: crate::crypto::RandomError) -> Self {
        StoreError::Random(e.to_string())
    }
}

/// A new ULID for `now`: ids that sort by creation time.
pub fn new_ulid(now: time::OffsetDateTime) -> Result<ulid::Ulid, StoreError> {
    let ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    Ok(ulid::Ulid::from_parts(
        ms,
        u128::from_le_bytes(crate::crypto::random_bytes::<16>()?),
    ))
}

/// The open database: cheap to clone, shared by the server, the control socket and the CLI.
#[derive(Clone)]
pub struct Store {
    core: Arc<writer::Core>,
    writer: Arc<writer::Writer>,
}

impl Store {
    /// Opens (or creates) the database in `data_dir`, runs migrations and starts the writer.
    ///
    /// A file left by a crash is repaired (the time it took logged, and the repair recorded for
    /// the dashboard and `fealty status`); a damaged one is refused
    /// with [`StoreError::Damaged`]; see [`open::open_database`].
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_guarded(data_dir, &|_, _| Ok(()))
    }

    /// Like [`Store::open`], calling `before_migration` with a read of the file (nothing written
    /// to it yet when it was shut down cleanly) when a migration is about to run; its error
    /// stops the open before the migration.
    pub fn open_guarded(
        data_dir: &Path,
        before_migration: &BeforeMigration<'_>,
    ) -> Result<Store, StoreError> {
        let (mut db, repaired) =
            open::open_database_with(data_dir, &mut |tx| match schema::pending(tx)? {
                Some(m) => before_migration(tx, m),
                None => Ok(()),
            })?;
        schema::migrate(&db)?;
        if repaired {
            // Kept in the file, whoever repaired it (a server or a command run without one), so
            // the next server and `fealty status` show it until a full ledger check clears it.
            let tx = db.begin_write()?;
            ledger_check::update(&tx, |s| s.repaired_at = Some(crate::clock::now()))?;
            tx.commit()?;
        }
        // Free space is given back before anything else uses the file; a failure only costs space.
        if let Err(e) = compact::if_sparse(&mut db, &data_dir.join(DB_FILE)) {
            tracing::warn!(error = %e, "the database could not be compacted; carrying on");
        }
        let (core, writer) = writer::Writer::start(data_dir.to_path_buf(), db)?;
        Ok(Store {
            core,
            writer: Arc::new(writer),
        })
    }

    /// Runs `f` on a blocking thread, reading the database as of its last durable commit.
    ///
    /// Never waits for the writer, and never sees a write that is not yet durable.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let core = self.core.clone();
        tokio::task::spawn_blocking(move || {
            let snapshot = core.snapshot()?;
            f(snapshot.tx())
        })
        .await
        .map_err(|e| StoreError::Db(format!("read task failed: {e}")))?
    }

    /// Like [`Store::read`], but on the calling thread: for a point read in a small table that
    /// nearly every request makes first (its API key), where the hop to a blocking thread and
    /// back costs more than the read. While the file is being opened again it waits through
    /// [`Store::read`] instead, so an async thread is never held.
    pub async fn read_point<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        match self.core.snapshot_now()? {
            Some(snapshot) => f(snapshot.tx()),
            None => self.read(f).await,
        }
    }

    /// Runs `f` in the writer's next batch; answers once what it wrote is durable.
    ///
    /// Whatever `f` wrote is kept only if it returns `Ok`: an error (or a panic) discards it.
    /// The batch shares one transaction, so discarding a failed job's writes means running the
    /// jobs before it again: `f` may run twice (a clone of it, on the same state), and must have
    /// no effect outside `tx`. Only the last run's result is answered.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Clone + Send + 'static,
    {
        self.writer.submit(f).await
    }

    /// Runs `f` in the writer's next batch like [`Store::write`], then throws away everything
    /// it wrote (its transaction is aborted): what a write would do, with nothing kept. `f`'s
    /// own error is answered as it is.
    pub async fn dry_run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Clone + Send + 'static,
    {
        let slot: Arc<std::sync::Mutex<Option<T>>> = Arc::default();
        let kept = slot.clone();
        let ran = self
            .writer
            .submit(move |tx| {
                let value = f(tx)?;
                if let Ok(mut s) = kept.lock() {
                    *s = Some(value);
                }
                // An error is what makes the writer abort the transaction.
                Err::<(), _>(StoreError::DryRun)
            })
            .await;
        match ran {
            Err(StoreError::DryRun) => slot
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .ok_or_else(|| StoreError::Db("a dry run gave no answer".into())),
            Err(e) => Err(e),
            Ok(()) => Err(StoreError::Db("a dry run was kept".into())),
        }
    }

    /// Stops taking writes, finishes the queued ones and closes the file cleanly.
    ///
    /// Blocks (call it from a blocking thread). Clones of this store may live on: their reads
    /// and writes then fail with [`StoreError::Closed`]. Calling it again does nothing.
    pub fn close(&self) -> Result<(), StoreError> {
        self.writer.close()
    }

    /// The data directory the database lives in.
    pub fn data_dir(&self) -> &Path {
        self.core.data_dir()
    }

    /// How many durable commits the writer has made; group commit makes this lower than the writes.
    pub fn commits(&self) -> u64 {
        self.core.commits()
    }

    /// The writer's latency, batch sizes and queue depth, shared with the metrics.
    pub fn write_stats(&self) -> &crate::metrics::WriteStats {
        self.core.stats()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let before = store.commits();
        let writes = (0..200u64).map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.write(move |tx| {
                    tx.open_table(tables::META)?
                        .insert(format!("k{i}").as_str(), i)?;
                    Ok(i)
                })
                .await
            })
        });
        let results = futures_join(writes.collect()).await;
        assert!(results.iter().all(|r| r.is_ok()));
        let commits = store.commits() - before;
        assert!(
            commits < 200,
            "group commit should batch: {commits} commits for 200 writes"
        );
        let n = store
            .read(|tx| {
                let t = tx.open_table(tables::META)?;
                Ok((0..200u64)
                    .filter(|i| t.get(format!("k{i}").as_str()).ok().flatten().is_some())
                    .count())
            })
            .await
            .unwrap();
        assert_eq!(n, 200);
    }

    #[tokio::test]
    async fn a_dry_run_answers_and_keeps_nothing_while_its_batch_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let before = store.write(|tx| {
            tx.open_table(tables::META)?.insert("before", 1)?;
            Ok(())
        });
        let dry = store.dry_run(|tx| {
            tx.open_table(tables::META)?.insert("dry", 2)?;
            Ok(redb::ReadableTable::get(&tx.open_table(tables::META)?, "dry")?.map(|v| v.value()))
        });
        let after = store.write(|tx| {
            tx.open_table(tables::META)?.insert("after", 3)?;
            Ok(())
        });
        let (before, dry, after) = tokio::join!(before, dry, after);
        assert!(before.is_ok() && after.is_ok());
        assert_eq!(dry.unwrap(), Some(2), "the dry run sees its own writes");
        let kept = store
            .read(|tx| {
                let t = tx.open_table(tables::META)?;
                Ok(["before", "dry", "after"].map(|k| t.get(k).ok().flatten().is_some()))
            })
            .await
            .unwrap();
        assert_eq!(kept, [true, false, true]);
        let refused = store
            .dry_run(|_tx| -> Result<(), StoreError> { Err(DomainError::NotFound("x").into()) })
            .await;
        assert!(matches!(refused, Err(StoreError::Domain(_))));
    }

    #[tokio::test]
    async fn a_refused_job_leaves_nothing_and_does_not_spoil_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bad = store
            .write(|_tx| -> Result<(), StoreError> { Err(DomainError::NotFound("member").into()) });
        let good = store.write(|tx| {
            tx.open_table(tables::META)?.insert("good", 1)?;
            Ok(())
        });
        let (bad, good) = tokio::join!(bad, good);
        assert!(matches!(bad, Err(StoreError::Domain(_))));
        assert!(good.is_ok());
    }

    /// Starts a job that keeps the writer busy for 300 ms (writing `busy`), and waits until it
    /// runs, so the jobs sent next queue up behind it and run as one batch.
    async fn hold_the_writer(store: &Store) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let s = store.clone();
        let busy = tokio::spawn(async move {
            s.write(|tx| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                tx.open_table(tables::META)?.insert("busy", 1)?;
                Ok(())
            })
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        busy
    }

    /// A job that writes and then refuses shares a batch (one durable commit) with jobs that
    /// succeed; none of its write is kept, all of theirs is. The refusal is tried in the middle
    /// of the batch and as its last job (whose commit would be the durable one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refusal_after_a_write_keeps_nothing_of_it_while_its_batch_commits() {
        for refused_last in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let before = store.commits();
            let busy = hold_the_writer(&store).await;
            let put = |key: &'static str| {
                store.write(move |tx| {
                    tx.open_table(tables::META)?.insert(key, 1)?;
                    Ok(())
                })
            };
            let refuse = store.write(|tx| -> Result<(), StoreError> {
                tx.open_table(tables::META)?.insert("refused", 1)?;
                Err(DomainError::NotFound("member").into())
            });
            // join! polls in order, so the jobs queue in this order.
            let (first, refused, last) = if refused_last {
                let (a, b, c) = tokio::join!(put("first"), put("last"), refuse);
                (a, c, b)
            } else {
                tokio::join!(put("first"), refuse, put("last"))
            };
            assert!(busy.await.unwrap().is_ok());
            assert!(first.is_ok() && last.is_ok());
            assert!(matches!(
                refused,
                Err(StoreError::Domain(DomainError::NotFound(_)))
            ));
            assert_eq!(
                store.commits() - before,
                2,
                "the busy job alone, then the three queued behind it in one durable commit"
            );
            let seen = store
                .read(|tx| {
                    let t = tx.open_table(tables::META)?;
                    Ok(["busy", "first", "refused", "last"]
                        .map(|k| t.get(k).ok().flatten().is_some()))
                })
                .await
                .unwrap();
            assert_eq!(
                seen,
                [true, true, false, true],
                "refused last: {refused_last}"
            );
        }
    }

    /// Several jobs that write and then refuse (or panic) share one batch, one durable commit,
    /// with jobs that succeed: none of the refused writes is kept, all of the good ones are, and
    /// no good job runs more than twice (once, and once more after a refusal behind it). The
    /// batch ends with a good job, then with a refusal (so a re-run is its durable commit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_after_writes_in_one_batch_keep_none_of_theirs_and_all_of_the_rest() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Clone, Copy, PartialEq)]
        enum Ends {
            Good,
            Refuse,
            Panic,
        }
        use Ends::{Good, Panic, Refuse};
        for refused_last in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let before = store.commits();
            let busy = hold_the_writer(&store).await;
            let mut plan = vec![
                ("g1", Good),
                ("r1", Refuse),
                ("g2", Good),
                ("r2", Refuse),
                ("g3", Good),
                ("g4", Good),
                ("r3", Refuse),
                ("g5", Good),
                ("p1", Panic),
                ("g6", Good),
            ];
            if refused_last {
                plan.push(("r4", Refuse));
            }
            let runs: Vec<_> = plan.iter().map(|_| Arc::new(AtomicUsize::new(0))).collect();
            let jobs = plan.iter().zip(&runs).map(|(&(key, ends), runs)| {
                let runs = runs.clone();
                store.write(move |tx| -> Result<(), StoreError> {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tx.open_table(tables::META)?.insert(key, 1)?;
                    match ends {
                        Good => Ok(()),
                        Refuse => Err(DomainError::NotFound("member").into()),
                        Panic => panic!("a job panics after writing"),
                    }
                })
            });
            // join_all polls in order, so the jobs queue in plan order.
            let answers = futures_util::future::join_all(jobs).await;
            assert!(busy.await.unwrap().is_ok());
            assert_eq!(
                store.commits() - before,
                2,
                "the busy job alone, then every queued job in one durable commit"
            );
            let keys: Vec<&'static str> = plan.iter().map(|(k, _)| *k).collect();
            let seen = store
                .read(move |tx| {
                    let t = tx.open_table(tables::META)?;
                    Ok(keys
                        .iter()
                        .map(|k| t.get(*k).ok().flatten().is_some())
                        .collect::<Vec<_>>())
                })
                .await
                .unwrap();
            for (i, &(key, ends)) in plan.iter().enumerate() {
                let ran = runs[i].load(Ordering::SeqCst);
                match ends {
                    Good => {
                        assert!(answers[i].is_ok(), "{key}");
                        assert!(seen[i], "{key} was not kept");
                        assert!((1..=2).contains(&ran), "{key} ran {ran} times");
                    }
                    Refuse => {
                        assert!(matches!(answers[i], Err(StoreError::Domain(_))), "{key}");
                        assert!(!seen[i], "{key} was kept");
                        assert_eq!(ran, 1, "{key} ran again");
                    }
                    Panic => {
                        assert!(matches!(answers[i], Err(StoreError::Db(_))), "{key}");
                        assert!(!seen[i], "{key} was kept");
                        assert_eq!(ran, 1, "{key} ran again");
                    }
                }
            }
            assert_eq!(
                runs[0].load(Ordering::SeqCst),
                2,
                "g1 is re-run once r1's transaction is aborted"
            );
            let extra: usize =
                runs.iter().map(|r| r.load(Ordering::SeqCst)).sum::<usize>() - plan.len();
            assert!(
                extra <= plan.len(),
                "{extra} re-runs for {} jobs",
                plan.len()
            );
        }
    }

    /// A file error inside a job (as a full disk gives) in the middle of a shared batch: the
    /// file is opened again, and every answer agrees with what the file then holds: a job
    /// answered `Ok` was kept, any other was not. Jobs queued behind it are refused, and writes
    /// come back once a probe succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_error_in_a_shared_batch_answers_every_job_as_the_file_holds_it() {
        #[derive(Clone, Copy, PartialEq)]
        enum Ends {
            Good,
            Refuse,
            FileError,
        }
        use Ends::{FileError, Good, Refuse};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let busy = hold_the_writer(&store).await;
        let plan = [
            ("g1", Good),
            ("r1", Refuse),
            ("g2", Good),
            ("e1", FileError),
            ("g3", Good),
        ];
        let jobs = plan.iter().map(|&(key, ends)| {
            store.write(move |tx| -> Result<(), StoreError> {
                tx.open_table(tables::META)?.insert(key, 1)?;
                match ends {
                    Good => Ok(()),
                    Refuse => Err(DomainError::NotFound("member").into()),
                    FileError => Err(StoreError::Unavailable("no space left on device".into())),
                }
            })
        });
        let answers = futures_util::future::join_all(jobs).await;
        assert!(busy.await.unwrap().is_ok());
        assert!(matches!(answers[1], Err(StoreError::Domain(_))));
        for i in [2, 3, 4] {
            assert!(
                matches!(answers[i], Err(StoreError::Unavailable(_))),
                "{}: {:?}",
                plan[i].0,
                answers[i]
            );
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while store.write(|_| Ok(())).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "writes did not come back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let keys = plan.map(|(k, _)| k);
        let seen = store
            .read(move |tx| {
                let t = tx.open_table(tables::META)?;
                Ok(keys.map(|k| t.get(k).ok().flatten().is_some()))
            })
            .await
            .unwrap();
        for (i, answer) in answers.iter().enumerate() {
            assert_eq!(answer.is_ok(), seen[i], "{}: {answer:?}", plan[i].0);
        }
    }

    /// A job's writes come before its batch's durable commit; readers must not see them yet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_never_see_a_write_before_it_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let busy = tokio::spawn({
            let s = store.clone();
            async move {
                s.write(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Ok(())
                })
                .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let written = tokio::spawn({
            let s = store.clone();
            async move {
                s.write(|tx| {
                    tx.open_table(tables::META)?.insert("early", 1)?;
                    Ok(())
                })
                .await
            }
        });
        let slow = tokio::spawn({
            let s = store.clone();
            async move {
                s.write(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(400));
                    Ok(())
                })
                .await
            }
        });
        // The second batch ("early", then the slow job) is running: "early" is written, not durable.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let present = |s: Store| async move {
            s.read(|tx| Ok(tx.open_table(tables::META)?.get("early")?.is_some()))
                .await
                .unwrap()
        };
        assert!(!written.is_finished());
        assert!(
            !present(store.clone()).await,
            "a read saw a write that was not durable"
        );
        assert!(busy.await.unwrap().is_ok());
        assert!(written.await.unwrap().is_ok());
        assert!(slow.await.unwrap().is_ok());
        assert!(present(store.clone()).await);
    }

    /// Whether opening the file directly needs redb's repair, i.e. it was not closed cleanly.
    fn needs_repair(dir: &Path) -> bool {
        let called = std::rc::Rc::new(std::cell::Cell::new(false));
        let seen = called.clone();
        // Aborted as soon as it is asked for, so the file is left as it was.
        let opened = redb::Builder::new()
            .set_repair_callback(move |session| {
                seen.set(true);
                session.abort();
            })
            .open(dir.join(DB_FILE));
        assert!(matches!(
            opened,
            Ok(_) | Err(redb::DatabaseError::RepairAborted)
        ));
        called.get()
    }

    #[tokio::test]
    async fn close_leaves_a_clean_file_even_with_clones_alive() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lingering = store.clone();
        store
            .write(|tx| {
                tx.open_table(tables::META)?.insert("kept", 1)?;
                Ok(())
            })
            .await
            .unwrap();
        store.close().unwrap();
        assert!(matches!(
            lingering.write(|_| Ok(())).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(
            lingering.read(|_| Ok(())).await,
            Err(StoreError::Closed)
        ));
        assert!(!needs_repair(dir.path()));
        store.close().unwrap();
        drop(lingering);
        let again = Store::open(dir.path()).unwrap();
        let kept = again
            .read(|tx| Ok(tx.open_table(tables::META)?.get("kept")?.is_some()))
            .await
            .unwrap();
        assert!(kept);
    }

    #[test]
    fn dropping_the_last_handle_closes_cleanly_too() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        assert!(!needs_repair(dir.path()));
    }

    /// A copy taken while the file is open is what a crash leaves: the open repairs it.
    #[test]
    fn a_file_left_by_a_crash_is_repaired_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::copy(dir.path().join(DB_FILE), crashed.path().join(DB_FILE)).unwrap();
        drop(store);
        assert!(needs_repair(crashed.path()), "the copy should look crashed");
        let reopened = Store::open(crashed.path()).unwrap();
        reopened.close().unwrap();
        assert!(!needs_repair(crashed.path()));
    }

    async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[test]
    fn a_second_process_open_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        assert!(matches!(Store::open(dir.path()), Err(StoreError::InUse(_))));
    }
}
