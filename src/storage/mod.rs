//! Storage: one redb file, one writer task, read transactions for everyone else.

pub mod aggregates;
pub mod api_keys;
pub mod audit;
pub mod cards;
mod compact;
mod codec;
pub mod idempotency;
pub mod ledger;
pub mod members;
pub mod migrate_v5;
pub mod records;
pub mod replay;
pub mod rewards;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod snapshot;
pub mod staff;
pub mod stats;
pub mod tables;
mod writer;

use crate::domain::DomainError;
use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Randomness failed.
    #[error("{0}")]
    Random(String),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
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
    db: Arc<Database>,
    writer: writer::Writer,
    data_dir: PathBuf,
}

impl Store {
    /// Opens (or creates) the database in `data_dir`, runs migrations and starts the writer.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse(data_dir.to_path_buf()));
            }
            Err(e) => return Err(StoreError::Db(e.to_string())),
        };
        schema::migrate(&db)?;
        let db = Arc::new(db);
        let writer = writer::Writer::start(db.clone())?;
        Ok(Store {
            db,
            writer,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Runs `f` in a read transaction on a blocking thread; never waits for the writer.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_read()?;
            f(&tx)
        })
        .await
        .map_err(|e| StoreError::Db(format!("read task failed: {e}")))?
    }

    /// Runs `f` in the writer's next batch and answers once that batch is durable.
    ///
    /// `f` must check everything before it writes: a domain error from `f` must leave nothing behind.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.submit(f).await
    }

    /// The data directory the database lives in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// How many batches the writer has committed; group commit makes this lower than the writes.
    pub fn commits(&self) -> u64 {
        self.writer.commits()
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
