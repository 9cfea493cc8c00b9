//! Opening the database file: an integrity check, a timed repair after a crash, a copy of the
//! file before any repair that would roll a commit back, and a clear refusal of a damaged file.

use super::{DB_FILE, StoreError};
use redb::{
    Builder, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    RepairSession,
};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What the copy of a file kept before a rolling-back repair is called, beside the database.
pub const BEFORE_REPAIR_FILE: &str = "fealty.redb.before-repair";

/// redb's page cache unless `--cache-size` says otherwise; redb's own default (1 GiB) would let
/// memory grow with the data on a 1 GB box. A process that reads the whole file holds about
/// twice this at its peak (pages freed from the cache stay with the allocator), and the nanode
/// benchmark measured 32 MiB as fast as 64 MiB for the till, with every long operation then
/// within its memory target (bench/RESULTS.md).
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The smallest cache accepted: below it every read goes to the disk.
pub const MIN_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The cache every database this process opens gets; set once at start from `--cache-size`.
static CACHE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_CACHE_BYTES);

/// Sets the page cache for every database this process opens from now on (at least
/// [`MIN_CACHE_BYTES`]).
pub fn set_cache_size(bytes: usize) {
    CACHE_BYTES.store(bytes.max(MIN_CACHE_BYTES), Ordering::Relaxed);
}

/// A redb builder with the process's cache size: the one way this program opens a file, so
/// no open (a restore's new file, a migration, a bench) falls back to redb's default.
pub fn builder() -> Builder {
    let mut b = Builder::new();
    b.set_cache_size(CACHE_BYTES.load(Ordering::Relaxed));
    b
}

/// How the file was left by whoever had it open last.
enum Last {
    /// No file yet, or an empty one.
    New,
    /// Shut down cleanly: redb trusts it, so the open checks it. Opened read-only, nothing
    /// written yet.
    Clean(ReadOnlyDatabase),
    /// Not shut down cleanly (a crash or a kill): redb repairs it.
    Crashed,
    /// redb could not even read it read-only; the open says why, or refuses.
    Unreadable,
}

/// Opens the database in `data_dir` for writing, repairing it if a crash left it so.
///
/// A file that was shut down cleanly has every page's checksum verified first, because
/// redb trusts such a file and could misbehave on damage done behind its back. A repair that
/// would drop the newest commit (it fails its checksums) happens only after a copy of the file is
/// kept in [`BEFORE_REPAIR_FILE`], and never on a file that was shut down cleanly: there the
/// newest commit was complete, so a bad checksum is damage, and the open refuses.
pub fn open_database(data_dir: &Path) -> Result<Database, StoreError> {
    open_database_with(data_dir, &mut |_| Ok(())).map(|(db, _)| db)
}

/// Like [`open_database`], handing `before_write` a read of the file first: of a file shut down
/// cleanly before anything writes to it, so that an error from it leaves the file byte for byte
/// as it was; of a file a crash left, after redb's repair (which changes no committed data).
/// Also says whether a crash had left the file needing that repair.
pub fn open_database_with(
    data_dir: &Path,
    before_write: &mut dyn FnMut(&ReadTransaction) -> Result<(), StoreError>,
) -> Result<(Database, bool), StoreError> {
    let path = data_dir.join(DB_FILE);
    let (db, repaired) = match last_state(&path, data_dir)? {
        // A new file holds nothing to read.
        Last::New => {
            let db = attempt(&path, false, Policy::Repair).map_err(|e| classify(e, data_dir))?;
            return Ok((db, false));
        }
        Last::Clean(read_only) => {
            before_write(&read_only.begin_read()?)?;
            drop(read_only);
            return Ok((open_checked(&path, data_dir)?, false));
        }
        Last::Unreadable => (open_checked(&path, data_dir)?, false),
        Last::Crashed => (open_repaired(&path, data_dir)?, true),
    };
    before_write(&db.begin_read()?)?;
    Ok((db, repaired))
}

fn damaged(data_dir: &Path, detail: String) -> StoreError {
    StoreError::Damaged {
        dir: data_dir.to_path_buf(),
        detail,
    }
}

/// Opens a file redb trusts, checking every page first; refuses one whose newest commit fails.
fn open_checked(path: &Path, data_dir: &Path) -> Result<Database, StoreError> {
    let started = Instant::now();
    match attempt(path, true, Policy::RefuseRollback) {
        Ok(db) => {
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "database integrity checked"
            );
            Ok(db)
        }
        Err(Failure::WouldRollBack) => {
            let kept = keep_copy(path, data_dir);
            Err(damaged(
                data_dir,
                format!(
                    "its newest commit fails its checksums although it was shut down cleanly; {}",
                    describe_copy(&kept)
                ),
            ))
        }
        Err(e) => Err(classify(e, data_dir)),
    }
}

/// Opens a file a crash left, letting redb repair it (after a copy, if it rolls a commit back).
fn open_repaired(path: &Path, data_dir: &Path) -> Result<Database, StoreError> {
    tracing::warn!(file = %path.display(), "the database was not shut down cleanly; repairing it");
    let started = Instant::now();
    let mut rolled_back = None;
    let db = match attempt(path, false, Policy::RefuseRollback) {
        Ok(db) => db,
        Err(Failure::WouldRollBack) => {
            // A crash during a commit leaves a torn newest commit that was never
            // acknowledged; redb falls back to the one before it, after a copy is kept.
            let kept = keep_copy(path, data_dir).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "it needs a repair that rolls its last, interrupted commit back, and a copy of the file could not be kept first ({e}); free some space and start again"
                    ))
                })?;
            rolled_back = Some(kept.clone());
            attempt(path, false, Policy::Repair).map_err(|e| match e {
                Failure::Db(DatabaseError::Storage(redb::StorageError::Corrupted(d))) => damaged(
                    data_dir,
                    format!("{d}; the file as it was is kept in {}", kept.display()),
                ),
                other => classify(other, data_dir),
            })?
        }
        Err(e) => return Err(classify(e, data_dir)),
    };
    let ms = started.elapsed().as_millis() as u64;
    match rolled_back {
        None => tracing::warn!(ms, "database repaired"),
        Some(kept) => tracing::warn!(
            ms,
            copy = %kept.display(),
            "database repaired by rolling back its last, interrupted commit; the file as it was is kept"
        ),
    }
    Ok(db)
}

/// Whether the repair callback may let redb roll the newest commit back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Repair,
    RefuseRollback,
}

enum Failure {
    WouldRollBack,
    Db(DatabaseError),
    Panicked(String),
}

/// Opens the file again after a write on it failed in this process (a full disk, an I/O error).
///
/// The failed commit may be torn; it was never acknowledged, so the repair may roll it back
/// without a copy, which a full disk could not hold anyway.
pub fn reopen_after_failed_write(data_dir: &Path) -> Result<Database, StoreError> {
    let path = data_dir.join(DB_FILE);
    let started = Instant::now();
    let rollback = Rc::new(Cell::new(false));
    let db = attempt_with(&path, false, Policy::Repair, rollback.clone())
        .map_err(|e| classify(e, data_dir))?;
    tracing::warn!(
        ms = started.elapsed().as_millis() as u64,
        rolled_back = rollback.get(),
        "database opened again after a failed write"
    );
    Ok(db)
}

fn attempt(path: &Path, check: bool, policy: Policy) -> Result<Database, Failure> {
    attempt_with(path, check, policy, Rc::new(Cell::new(false)))
}

/// Opens `path`; `rollback` records whether redb found the newest commit failing its checksums.
fn attempt_with(
    path: &Path,
    check: bool,
    policy: Policy,
    rollback: Rc<Cell<bool>>,
) -> Result<Database, Failure> {
    let seen = rollback.clone();
    let mut builder = builder();
    builder
        .set_check_integrity_on_open(check)
        .set_repair_callback(move |session: &mut RepairSession| {
            // redb reports 0.3 just before it falls back from a newest commit that fails its
            // checksums to the one before it, the only step of a repair that drops data.
            let p = session.progress();
            if p > 0.2 && p < 0.45 {
                seen.set(true);
                if policy == Policy::RefuseRollback {
                    session.abort();
                }
            }
        });
    match quietly(|| builder.create(path)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::RepairAborted)) if rollback.get() => Err(Failure::WouldRollBack),
        Ok(Err(e)) => Err(Failure::Db(e)),
        Err(why) => Err(Failure::Panicked(why)),
    }
}

fn last_state(path: &Path, data_dir: &Path) -> Result<Last, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => {}
        Ok(_) => return Ok(Last::New),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Last::New),
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "cannot read {}: {}",
                path.display(),
                super::io_reason(&e)
            )));
        }
    }
    let builder = builder();
    // A read-only open writes nothing and refuses a file that needs a repair.
    match quietly(|| builder.open_read_only(path)) {
        Ok(Ok(db)) => Ok(Last::Clean(db)),
        Ok(Err(DatabaseError::RepairAborted)) => Ok(Last::Crashed),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => {
            Err(StoreError::InUse(data_dir.to_path_buf()))
        }
        Ok(Err(_)) | Err(_) => Ok(Last::Unreadable),
    }
}

fn classify(failure: Failure, data_dir: &Path) -> StoreError {
    let damaged = |detail: String| StoreError::Damaged {
        dir: data_dir.to_path_buf(),
        detail,
    };
    match failure {
        Failure::Db(DatabaseError::DatabaseAlreadyOpen) => {
            StoreError::InUse(data_dir.to_path_buf())
        }
        Failure::Db(DatabaseError::Storage(redb::StorageError::Corrupted(d))) => damaged(d),
        Failure::Db(DatabaseError::UpgradeRequired(v)) => damaged(format!(
            "it is in redb file format {v}, which this fealty cannot read"
        )),
        Failure::Db(e) => StoreError::from(redb::Error::from(e)),
        Failure::Panicked(why) => damaged(format!("reading it failed: {why}")),
        Failure::WouldRollBack => damaged("its newest commit fails its checksums".into()),
    }
}

/// Copies the database file aside, replacing an older copy; the copy is synced before it counts.
fn keep_copy(path: &Path, data_dir: &Path) -> Result<PathBuf, String> {
    let copy = data_dir.join(BEFORE_REPAIR_FILE);
    let partial = data_dir.join(format!("{BEFORE_REPAIR_FILE}.partial"));
    let done = std::fs::copy(path, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, &copy));
    match done {
        Ok(()) => Ok(copy),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(super::io_reason(&e))
        }
    }
}

fn describe_copy(kept: &Result<PathBuf, String>) -> String {
    match kept {
        Ok(p) => format!("the file is left as it was, with a copy in {}", p.display()),
        Err(e) => format!("the file is left as it was (no copy: {e})"),
    }
}

thread_local! {
    /// While set, a panic on this thread is recorded here instead of printed.
    static QUIET: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into its message without printing it.
///
/// A debug build of redb panics on some damage where a release build returns an error, and a
/// refusal to start must stay one line.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = QUIET.with(|q| match q.borrow_mut().as_mut() {
                Some(slot) => {
                    *slot = Some(info.to_string());
                    true
                }
                None => false,
            });
            if !recorded {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| *q.borrow_mut() = Some(None));
    let result = catch_unwind(AssertUnwindSafe(f));
    let message = QUIET.with(|q| q.borrow_mut().take().flatten());
    result.map_err(|_| message.unwrap_or_else(|| "a panic".into()))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    /// A crash in the middle of the newest commit: redb rolls it back, and only after the file
    /// as it was has been copied aside.
    #[test]
    fn a_torn_newest_commit_is_rolled_back_after_a_copy_is_kept() {
        let live = tempfile::tempdir().unwrap();
        let older = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let db = Database::create(live.path().join(DB_FILE)).unwrap();
        let put = |key: &str| {
            let tx = db.begin_write().unwrap();
            tx.open_table(T).unwrap().insert(key, 1).unwrap();
            tx.commit().unwrap();
        };
        // Copies taken while the file is open are what a crash at that moment leaves.
        put("older");
        std::fs::copy(live.path().join(DB_FILE), older.path().join(DB_FILE)).unwrap();
        put("newest");
        std::fs::copy(live.path().join(DB_FILE), crashed.path().join(DB_FILE)).unwrap();
        drop(db);

        // Tear the newest commit: damage every page it wrote (all but the header page).
        let before = std::fs::read(older.path().join(DB_FILE)).unwrap();
        let mut torn = std::fs::read(crashed.path().join(DB_FILE)).unwrap();
        let mut changed = 0;
        for (i, page) in torn.chunks_mut(4096).enumerate().skip(1) {
            if before.get(i * 4096..i * 4096 + page.len()) != Some(&*page) {
                page.iter_mut().for_each(|b| *b ^= 0xa5);
                changed += 1;
            }
        }
        assert!(changed > 0, "the newest commit wrote no page");
        std::fs::write(crashed.path().join(DB_FILE), &torn).unwrap();

        let db = open_database(crashed.path()).unwrap();
        let kept = std::fs::read(crashed.path().join(BEFORE_REPAIR_FILE)).unwrap();
        assert!(
            kept == torn,
            "the copy is the file as it was before the repair"
        );
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(T).unwrap();
        assert!(t.get("older").unwrap().is_some());
        assert!(t.get("newest").unwrap().is_none());
    }

    /// A file no repair is asked for opens without a copy.
    #[test]
    fn a_clean_file_opens_without_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_database(dir.path()).unwrap());
        drop(open_database(dir.path()).unwrap());
        assert!(!dir.path().join(BEFORE_REPAIR_FILE).exists());
    }
}
