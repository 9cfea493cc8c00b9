//! The one writer, and the database handle it shares with readers.
//!
//! Queued jobs run in batches, one shared write transaction for a batch, and one durable
//! ([`Durability::Immediate`]) commit makes the batch durable with one fsync; only then is each
//! job answered. That commit is redb's default one-phase commit: the batch's pages and the new
//! commit slot are written, then one fsync. Every page carries a checksum, so after a crash the
//! open (see [`open`]) falls back to the previous slot when the newest fails them: only a commit
//! whose fsync never returned, so never answered, can be lost. Two-phase commit (and
//! quick-repair, which implies it) would add a second fsync to every commit, to guard only
//! against someone who controls the order in which pages reach the disk.
//!
//! A job that fails or is refused cannot leave a write behind: its transaction is aborted and
//! the jobs before it run again in a new one (see [`Batch`]). Readers see the database as of
//! the last durable commit, never a job that is not yet durable.
//!
//! When the file fails (a full disk, an I/O error), the handle is closed and the file opened
//! again, so reads go on; writes are refused until a probe write succeeds. Every job records a
//! mark in the transaction it is kept in, so after a failure the reopened file tells which
//! jobs were kept.

use super::{StoreError, open};
use crate::metrics::WriteStats;
use redb::{Database, Durability, ReadTransaction, ReadableDatabase, WriteTransaction};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most jobs one batch takes, so one batch cannot hold the rest back for long.
const MAX_BATCH: usize = 512;

use super::tables::WRITER_MARKS as MARKS;
const LAST_MARK: &str = "last";

/// How long a read waits for the file to be opened again before it gives up.
const READ_WAIT: Duration = Duration::from_secs(5);
/// How long a reopen waits for running reads to finish before closing the handle under them.
const REOPEN_DRAIN: Duration = Duration::from_secs(2);
/// How long closing waits for running reads (a backup's snapshot can be one).
const CLOSE_DRAIN: Duration = Duration::from_secs(10);
/// Retries after a failure start this often and slow down to `BACKOFF_MAX`.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A probe writes this much to a scratch file first, so a disk still full costs no reopen.
const PROBE_BYTES: usize = 256 * 1024;
const PROBE_FILE: &str = ".fealty-write-probe";

/// A queued write; it can run more than once, so it keeps a copy of itself for a second run.
trait Job: Send {
    /// Runs the job in `tx` and returns its error, if it failed. With `spare`, it first keeps
    /// a copy to run again should `tx` be aborted for another job's sake.
    fn run(&mut self, tx: &WriteTransaction, spare: bool) -> Option<StoreError>;
    /// Drops the copy: the transaction the job ran in has committed.
    fn settle(&mut self);
    /// Sends the result of the job's last run, or `instead`.
    fn send(self: Box<Self>, instead: Option<StoreError>);
}

struct FnJob<T, F> {
    /// What runs next; `None` once run without a copy kept.
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for FnJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Clone + Send + 'static,
{
    fn run(&mut self, tx: &WriteTransaction, spare: bool) -> Option<StoreError> {
        let copy = &mut self.f;
        let result = match copy.take() {
            Some(f) => catch_unwind(AssertUnwindSafe(|| {
                if spare {
                    *copy = Some(f.clone());
                }
                f(tx)
            }))
            .unwrap_or_else(|_| Err(StoreError::Db("a write job panicked".into()))),
            // The writer keeps a copy whenever a second run can be needed; this is a bug there.
            None => Err(StoreError::Db(
                "a write job had to run again with no copy of it kept".into(),
            )),
        };
        let err = result.as_ref().err().cloned();
        self.result = Some(result);
        err
    }

    fn settle(&mut self) {
        self.f = None;
    }

    fn send(self: Box<Self>, instead: Option<StoreError>) {
        let answer = match (instead, self.result) {
            (Some(e), _) => Err(e),
            (None, Some(result)) => result,
            (None, None) => Err(StoreError::Db(
                "a write job was answered before it ran".into(),
            )),
        };
        let _ = self.answer.send(answer);
    }
}

/// A read view of the database as of one durable commit.
pub(super) struct Snapshot {
    // Declared first so it ends before the handle it reads through.
    tx: ReadTransaction,
    _db: Arc<Database>,
}

impl Snapshot {
    /// The read transaction.
    pub(super) fn tx(&self) -> &ReadTransaction {
        &self.tx
    }
}

enum Slot {
    Open {
        db: Arc<Database>,
        snapshot: Arc<Snapshot>,
    },
    /// The file failed and is being (or could not be) opened again.
    Down(String),
    Closed,
}

/// What readers and the writer thread share: the current handle.
pub(super) struct Core {
    data_dir: PathBuf,
    slot: Mutex<Slot>,
    changed: Condvar,
    commits: AtomicU64,
    stats: WriteStats,
}

impl Core {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        // The slot is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest durable snapshot; waits a little while the file is being opened again.
    pub(super) fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let deadline = Instant::now() + READ_WAIT;
        let mut slot = self.slot();
        loop {
            match &*slot {
                Slot::Open { snapshot, .. } => return Ok(snapshot.clone()),
                Slot::Closed => return Err(StoreError::Closed),
                Slot::Down(reason) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(StoreError::Unavailable(reason.clone()));
                    }
                    slot = self
                        .changed
                        .wait_timeout(slot, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// The newest durable snapshot if the file is open now; `None` while it is being opened
    /// again, for a caller that must not wait here.
    pub(super) fn snapshot_now(&self) -> Result<Option<Arc<Snapshot>>, StoreError> {
        match &*self.slot() {
            Slot::Open { snapshot, .. } => Ok(Some(snapshot.clone())),
            Slot::Closed => Err(StoreError::Closed),
            Slot::Down(_) => Ok(None),
        }
    }

    fn current(&self) -> Option<Arc<Database>> {
        match &*self.slot() {
            Slot::Open { db, .. } => Some(db.clone()),
            _ => None,
        }
    }

    /// Makes what `db` holds durably the view every new read gets.
    fn publish(&self, db: Arc<Database>) -> Result<(), StoreError> {
        let tx = db.begin_read()?;
        let snapshot = Arc::new(Snapshot {
            tx,
            _db: db.clone(),
        });
        let old = std::mem::replace(&mut *self.slot(), Slot::Open { db, snapshot });
        self.changed.notify_all();
        drop(old);
        Ok(())
    }

    /// Takes the handle out, leaving `next` for readers to find.
    fn take(&self, next: Slot) -> Option<Arc<Database>> {
        let old = std::mem::replace(&mut *self.slot(), next);
        self.changed.notify_all();
        match old {
            Slot::Open { db, snapshot } => {
                drop(snapshot);
                Some(db)
            }
            _ => None,
        }
    }

    /// Durable commits so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The data directory.
    pub(super) fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Write latency, batch sizes and queue depth so far.
    pub(super) fn stats(&self) -> &WriteStats {
        &self.stats
    }
}

/// Closes `db` once running reads let go of it (waiting at most `wait`).
fn close_handle(db: Arc<Database>, wait: Duration) -> Result<(), StoreError> {
    let deadline = Instant::now() + wait;
    let mut db = db;
    loop {
        match Arc::try_unwrap(db) {
            Ok(db) => {
                return db
                    .close()
                    .map_err(|e| StoreError::from(redb::Error::from(e)));
            }
            Err(shared) if Instant::now() < deadline => {
                db = shared;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => {
                tracing::warn!("a read was still running; the database closes when it ends");
                return Err(StoreError::Db(
                    "a read was still running when the database was closed".into(),
                ));
            }
        }
    }
}

/// Handle to the writer thread; dropping the last one stops it and closes the database.
pub(super) struct Writer {
    core: Arc<Core>,
    queue: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl Writer {
    /// Shares `db` with readers and starts the writer thread.
    pub(super) fn start(
        data_dir: PathBuf,
        db: Database,
    ) -> Result<(Arc<Core>, Writer), StoreError> {
        let db = Arc::new(db);
        let last = read_mark(&db)?;
        let core = Arc::new(Core {
            data_dir,
            slot: Mutex::new(Slot::Closed),
            changed: Condvar::new(),
            commits: AtomicU64::new(0),
            stats: WriteStats::default(),
        });
        core.publish(db)?;
        let (queue, rx) = mpsc::channel();
        let mut run = Run {
            core: core.clone(),
            rx,
            next_mark: last + 1,
            down: None,
        };
        let thread = std::thread::Builder::new()
            .name("fealty-writer".into())
            .spawn(move || run.run())
            .map_err(|e| StoreError::Db(format!("cannot start the writer: {e}")))?;
        let writer = Writer {
            core: core.clone(),
            thread_id: thread.thread().id(),
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        };
        Ok((core, writer))
    }

    pub(super) async fn submit<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Clone + Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let submitted = Instant::now();
        {
            let queue = self.queue.lock().map_err(|_| StoreError::Closed)?;
            let queue = queue.as_ref().ok_or(StoreError::Closed)?;
            // Counted before it is sent, so the writer never takes more than was counted.
            self.core.stats.queued(1);
            let sent = queue.send(Box::new(FnJob {
                f: Some(f),
                result: None,
                answer,
            }));
            if sent.is_err() {
                self.core.stats.taken(1);
                return Err(StoreError::Closed);
            }
        }
        // The writer answers every job it takes, unless redb panicked under it.
        let answered = rx
            .await
            .map_err(|_| StoreError::Db("the database writer failed during this write".into()))?;
        if answered.is_ok() {
            self.core.stats.answered(submitted.elapsed());
        }
        answered
    }

    /// Stops taking jobs, lets the writer finish the queued ones, and closes the database.
    pub(super) fn close(&self) -> Result<(), StoreError> {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        // A job that drops the last store handle runs on the writer thread, which cannot wait
        // for itself; it ends once the queue is empty.
        if std::thread::current().id() != self.thread_id {
            let thread = self.thread.lock().ok().and_then(|mut t| t.take());
            if let Some(thread) = thread
                && thread.join().is_err()
            {
                tracing::error!("the database writer panicked");
            }
        }
        match self.core.take(Slot::Closed) {
            Some(db) => close_handle(db, CLOSE_DRAIN),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the database");
        }
    }
}

/// A job that ran and wrote its mark; once its transaction commits, it waits for a durable one.
struct Held {
    mark: u64,
    job: Box<dyn Job>,
}

/// Why writes are refused, and what to try next.
struct Down {
    reason: String,
    /// Committed jobs whose fate the reopened file will tell.
    uncertain: Vec<Held>,
    /// Whether the handle in the slot was opened since the failure (so a probe may use it).
    fresh: bool,
    retry_at: Instant,
    backoff: Duration,
}

struct Run {
    core: Arc<Core>,
    rx: Receiver<Box<dyn Job>>,
    next_mark: u64,
    down: Option<Down>,
}

impl Run {
    fn run(&mut self) {
        loop {
            let first = match self.down.as_ref().map(|d| d.retry_at) {
                None => match self.rx.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
                Some(at) => {
                    match self
                        .rx
                        .recv_timeout(at.saturating_duration_since(Instant::now()))
                    {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => {
                            self.recover();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.core.stats.taken(jobs.len());
            if self
                .down
                .as_ref()
                .is_some_and(|d| Instant::now() >= d.retry_at)
            {
                self.recover();
            }
            match &self.down {
                Some(d) => {
                    for job in jobs {
                        job.send(Some(StoreError::Unavailable(d.reason.clone())));
                    }
                }
                None => self.batch(jobs),
            }
        }
        self.finish();
    }

    /// Runs the jobs in shared transactions (see [`Batch`]), then answers them once durable.
    fn batch(&mut self, jobs: Vec<Box<dyn Job>>) {
        let Some(db) = self.core.current() else {
            self.go_down("the database is not open".into(), Vec::new());
            for job in jobs {
                job.send(Some(StoreError::Unavailable(
                    "the database is not open".into(),
                )));
            }
            return;
        };
        let mut batch = Batch::new(jobs);
        // A panic inside redb (not inside a job, which is caught there) ends this handle.
        let mut failure = catch_unwind(AssertUnwindSafe(|| batch.run(&db, &mut self.next_mark)))
            .unwrap_or_else(|_| Err("the database failed part way through a write".into()))
            .err();
        if failure.is_none() && !batch.committed.is_empty() {
            let made = if batch.durable {
                Ok(())
            } else {
                make_durable(&db)
            };
            match made {
                Ok(()) => {
                    self.core.commits.fetch_add(1, Ordering::Relaxed);
                    self.core.stats.committed(batch.committed.len());
                    if let Err(e) = self.core.publish(db.clone()) {
                        failure = Some(reason_of(&e));
                        // Durable already: these answers stand whatever happens next.
                        for held in batch.committed.drain(..) {
                            held.job.send(None);
                        }
                    }
                }
                Err(e) => failure = Some(reason_of(&e)),
            }
        }
        let Batch {
            todo,
            tx,
            open,
            committed,
            not_kept,
            ..
        } = batch;
        if let Some(tx) = tx {
            // Only a failure leaves one; the handle is about to be opened again anyway.
            let _ = catch_unwind(AssertUnwindSafe(|| tx.abort()));
        }
        drop(db);
        // Refused and failed jobs wrote nothing that was kept, whatever happened to the batch.
        for (job, instead) in not_kept {
            job.send(instead);
        }
        match failure {
            None => {
                for held in committed {
                    held.job.send(None);
                }
            }
            Some(reason) => {
                // Never committed: whatever they wrote is gone with their transaction.
                let lost = open
                    .into_iter()
                    .map(|held| held.job)
                    .chain(todo.into_iter().map(|entry| entry.job));
                for job in lost {
                    job.send(Some(StoreError::Unavailable(reason.clone())));
                }
                self.go_down(reason, committed);
            }
        }
    }

    fn go_down(&mut self, reason: String, uncertain: Vec<Held>) {
        tracing::error!(%reason, "the database cannot take writes; opening it again");
        match &mut self.down {
            Some(d) => {
                d.reason = reason;
                d.uncertain.extend(uncertain);
                d.fresh = false;
            }
            None => {
                self.down = Some(Down {
                    reason,
                    uncertain,
                    fresh: false,
                    retry_at: Instant::now(),
                    backoff: BACKOFF_MIN,
                });
            }
        }
        self.recover();
    }

    /// One step back towards writable: open the file again, or probe a fresh handle.
    fn recover(&mut self) {
        let Some(mut down) = self.down.take() else {
            return;
        };
        if down.fresh {
            match self.probe() {
                Ok(()) => {
                    tracing::info!("the database takes writes again");
                    return;
                }
                Err(ProbeError::Scratch(reason)) => {
                    down.reason = reason;
                    self.retry_later(down);
                    return;
                }
                Err(ProbeError::Db(reason)) => {
                    down.reason = reason;
                    down.fresh = false;
                }
            }
        }
        if let Some(old) = self.core.take(Slot::Down(down.reason.clone())) {
            // An error here is the failure already being handled; a handle a read still holds
            // closes when that read ends, and the open below then waits for the next retry.
            let _ = close_handle(old, REOPEN_DRAIN);
        }
        match open::reopen_after_failed_write(&self.core.data_dir).and_then(|db| {
            let db = Arc::new(db);
            Ok((read_mark(&db)?, db))
        }) {
            Ok((durable, db)) => {
                for held in down.uncertain.drain(..) {
                    let lost = (held.mark > durable).then(|| {
                        StoreError::Unavailable(format!("{}; this write was not kept", down.reason))
                    });
                    held.job.send(lost);
                }
                self.next_mark = self.next_mark.max(durable + 1);
                match self.core.publish(db) {
                    Ok(()) => {
                        tracing::info!(
                            "database opened again; reads go on, writes wait for a probe"
                        );
                        down.fresh = true;
                    }
                    Err(e) => down.reason = reason_of(&e),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot open the database again");
                // A read still holding the old handle keeps the file locked; the failure
                // that started this is still the reason to give.
                if !matches!(e, StoreError::InUse(_)) {
                    down.reason = reason_of(&e);
                }
                *self.core.slot() = Slot::Down(down.reason.clone());
            }
        }
        self.retry_later(down);
    }

    fn retry_later(&mut self, mut down: Down) {
        down.retry_at = Instant::now() + down.backoff;
        down.backoff = (down.backoff * 2).min(BACKOFF_MAX);
        self.down = Some(down);
    }

    /// Tries a real durable write on the fresh handle, after a cheap scratch-file write.
    fn probe(&mut self) -> Result<(), ProbeError> {
        let scratch = self.core.data_dir.join(PROBE_FILE);
        let written = std::fs::File::create(&scratch).and_then(|mut f| {
            std::io::Write::write_all(&mut f, &[0u8; PROBE_BYTES])?;
            f.sync_all()
        });
        let _ = std::fs::remove_file(&scratch);
        written.map_err(|e| ProbeError::Scratch(super::io_reason(&e)))?;
        let db = self
            .core
            .current()
            .ok_or_else(|| ProbeError::Db("the database is not open".into()))?;
        let mark = self.next_mark;
        let wrote = catch_unwind(AssertUnwindSafe(|| -> Result<(), StoreError> {
            let tx = db.begin_write()?;
            write_mark(&tx, mark)?;
            tx.commit()?;
            Ok(())
        }))
        .unwrap_or_else(|_| Err(StoreError::Db("the probe write panicked".into())));
        wrote.map_err(|e| ProbeError::Db(reason_of(&e)))?;
        self.next_mark += 1;
        self.core.commits.fetch_add(1, Ordering::Relaxed);
        self.core
            .publish(db)
            .map_err(|e| ProbeError::Db(reason_of(&e)))
    }

    /// At shutdown: one last try to learn the fate of writes a failure left uncertain.
    fn finish(&mut self) {
        if self.down.as_ref().is_some_and(|d| !d.uncertain.is_empty()) {
            if let Some(d) = self.down.as_mut() {
                d.fresh = false;
            }
            self.recover();
        }
        if let Some(down) = self.down.take() {
            for held in down.uncertain {
                held.job.send(Some(StoreError::Unavailable(format!(
                    "{}; whether this write was kept is unknown until the database opens again",
                    down.reason
                ))));
            }
        }
    }
}

enum ProbeError {
    /// The disk refused even a scratch file: the handle is untouched.
    Scratch(String),
    /// The database write failed: the handle has to be opened again.
    Db(String),
}

/// A job waiting to run, with its mark if it ran before (a replay writes the same mark).
struct Entry {
    job: Box<dyn Job>,
    mark: Option<u64>,
}

/// One batch's jobs on their way through shared write transactions.
///
/// Jobs run one after another in one transaction, each followed by its mark. A job that fails
/// (a refusal, an error, a panic) may have written before failing, and a transaction cannot
/// undo part of itself, so the transaction is aborted and a new one re-runs, from the copies
/// they kept, the jobs that had succeeded in it; then the jobs after the failed one carry on.
/// The re-run jobs are committed at once (not durably), so a job is re-run at most once per
/// batch however many refusals follow it: the extra work is at most the batch's size. (Only a
/// job that fails on its re-run, having succeeded on the same state before, costs the jobs
/// re-run before it a third run.) The batch's last commit is the durable one.
struct Batch {
    /// Jobs still to run, in order; the first `replays` of them re-run an aborted transaction.
    todo: VecDeque<Entry>,
    replays: usize,
    /// The transaction being filled, and the jobs that succeeded in it.
    tx: Option<WriteTransaction>,
    open: Vec<Held>,
    /// Jobs whose transaction committed, waiting for a durable commit.
    committed: Vec<Held>,
    /// Refused and failed jobs, with the error to answer instead of their own, if any.
    not_kept: Vec<(Box<dyn Job>, Option<StoreError>)>,
    /// Whether the last commit was durable, so no empty one is needed.
    durable: bool,
}

impl Batch {
    fn new(jobs: Vec<Box<dyn Job>>) -> Batch {
        Batch {
            todo: jobs
                .into_iter()
                .map(|job| Entry { job, mark: None })
                .collect(),
            replays: 0,
            tx: None,
            open: Vec::new(),
            committed: Vec::new(),
            not_kept: Vec::new(),
            durable: false,
        }
    }

    /// Runs every job; an error is why the handle broke, with the jobs left where they were.
    fn run(&mut self, db: &Database, next_mark: &mut u64) -> Result<(), String> {
        while let Some(entry) = self.todo.pop_front() {
            let replay = self.replays > 0;
            self.replays = self.replays.saturating_sub(1);
            // A copy is needed only while a later job could still abort this transaction.
            let spare = if replay {
                self.replays > 0
            } else {
                !self.todo.is_empty()
            };
            let tx = match self.tx.take() {
                Some(tx) => tx,
                None => match db.begin_write() {
                    Ok(tx) => tx,
                    Err(e) => {
                        self.todo.push_front(entry);
                        return Err(reason_of(&StoreError::from(e)));
                    }
                },
            };
            let Entry { mut job, mark } = entry;
            let mark = mark.unwrap_or(*next_mark);
            let own = job.run(&tx, spare);
            let failed = match &own {
                Some(e) => Some(e.clone()),
                None => write_mark(&tx, mark).err(),
            };
            let Some(err) = failed else {
                *next_mark = (*next_mark).max(mark + 1);
                self.tx = Some(tx);
                self.open.push(Held { mark, job });
                if replay && self.replays == 0 {
                    // Nothing left to run makes this commit the batch's durable one.
                    self.commit(self.todo.is_empty())?;
                }
                continue;
            };
            let aborted = tx.abort();
            self.not_kept.push((
                job,
                if own.is_some() {
                    None
                } else {
                    Some(err.clone())
                },
            ));
            // A file error inside the job, or in the abort, means the handle is unusable.
            match (&err, aborted) {
                (_, Err(e)) => return Err(reason_of(&StoreError::from(e))),
                (StoreError::Unavailable(reason), Ok(())) => return Err(reason.clone()),
                _ => {}
            }
            // The jobs the aborted transaction held run again first, in their order.
            self.replays += self.open.len();
            for held in self.open.drain(..).rev() {
                self.todo.push_front(Entry {
                    job: held.job,
                    mark: Some(held.mark),
                });
            }
        }
        if self.tx.is_some() {
            self.commit(true)?;
        }
        Ok(())
    }

    /// Commits the open transaction, durably or not.
    fn commit(&mut self, durable: bool) -> Result<(), String> {
        let Some(mut tx) = self.tx.take() else {
            return Ok(());
        };
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        if let Err(e) = tx.set_durability(durability) {
            // The open jobs stay where they are: never committed, so not kept.
            let _ = tx.abort();
            return Err(reason_of(&StoreError::from(redb::Error::from(e))));
        }
        let open = std::mem::take(&mut self.open);
        let committed = tx.commit();
        for mut held in open {
            held.job.settle();
            self.committed.push(held);
        }
        // A failed commit may or may not have taken: the reopened file will tell.
        committed.map_err(|e| reason_of(&StoreError::from(e)))?;
        self.durable = durable;
        Ok(())
    }
}

/// The empty durable commit that makes every commit before it durable, with one fsync.
fn make_durable(db: &Database) -> Result<(), StoreError> {
    let tx = db.begin_write()?;
    tx.commit()?;
    Ok(())
}

fn write_mark(tx: &WriteTransaction, mark: u64) -> Result<(), StoreError> {
    tx.open_table(MARKS)?.insert(LAST_MARK, mark)?;
    Ok(())
}

/// The mark of the last job the file holds durably (0 for a file no job wrote to).
fn read_mark(db: &Database) -> Result<u64, StoreError> {
    let tx = db.begin_read()?;
    match tx.open_table(MARKS) {
        Ok(t) => Ok(t.get(LAST_MARK)?.map(|v| v.value()).unwrap_or(0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn reason_of(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(reason) => reason.clone(),
        other => other.to_string(),
    }
}
