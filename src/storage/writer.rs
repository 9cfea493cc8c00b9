//! The one writer, and the database handle it shares with readers.
//!
//! Each queued job runs in its own write transaction, committed without an fsync
//! ([`Durability::None`]), or aborted if the job fails: a refusal cannot leave a write behind.
//! One durable commit per batch (the last job's own, or an empty one if it failed) makes every
//! job in it durable with one fsync, and only then is each job answered. Readers see the
//! database as of the last durable commit, never a job that is not yet durable.
//!
//! When the file fails (a full disk, an I/O error), the handle is closed and the file opened
//! again, so reads go on; writes are refused until a probe write succeeds. Every job records a
//! mark in its own transaction, so after a failure the reopened file tells which jobs were kept.

use super::{StoreError, open};
use redb::{Database, Durability, ReadTransaction, ReadableDatabase, WriteTransaction};
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

/// A queued write.
trait Job: Send {
    /// Runs inside the job's own transaction; the answer waits until it is durable.
    fn run(self: Box<Self>, tx: &WriteTransaction) -> Box<dyn Reply>;
    /// Answers without running.
    fn fail(self: Box<Self>, err: StoreError);
}

/// A job's answer, held until what it wrote is durable (or known lost).
trait Reply: Send {
    /// The job's error, if it failed.
    fn error(&self) -> Option<&StoreError>;
    /// Sends the job's own result, or `instead` when what it wrote was not kept.
    fn send(self: Box<Self>, instead: Option<StoreError>);
}

struct FnJob<T, F> {
    f: F,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

struct FnReply<T> {
    result: Result<T, StoreError>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for FnJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &WriteTransaction) -> Box<dyn Reply> {
        let FnJob { f, answer } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| f(tx)))
            .unwrap_or_else(|_| Err(StoreError::Db("a write job panicked".into())));
        Box::new(FnReply { result, answer })
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.answer.send(Err(err));
    }
}

impl<T: Send + 'static> Reply for FnReply<T> {
    fn error(&self) -> Option<&StoreError> {
        self.result.as_ref().err()
    }

    fn send(self: Box<Self>, instead: Option<StoreError>) {
        let _ = self.answer.send(match instead {
            Some(e) => Err(e),
            None => self.result,
        });
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
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        {
            let queue = self.queue.lock().map_err(|_| StoreError::Closed)?;
            queue
                .as_ref()
                .ok_or(StoreError::Closed)?
                .send(Box::new(FnJob { f, answer }))
                .map_err(|_| StoreError::Closed)?;
        }
        // The writer answers every job it takes, unless redb panicked under it.
        rx.await
            .map_err(|_| StoreError::Db("the database writer failed during this write".into()))?
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

/// A job whose transaction committed, waiting for a durable commit.
struct Held {
    mark: u64,
    reply: Box<dyn Reply>,
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

/// What became of one job.
enum Fate {
    /// Its transaction committed (not yet durably).
    Committed(Held),
    /// It failed or was refused; its transaction was aborted.
    NotKept(Box<dyn Reply>),
    /// Already answered.
    Answered,
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
                        job.fail(StoreError::Unavailable(d.reason.clone()));
                    }
                }
                None => self.batch(jobs),
            }
        }
        self.finish();
    }

    /// Runs each job in its own transaction, then makes them durable with one commit.
    fn batch(&mut self, jobs: Vec<Box<dyn Job>>) {
        let Some(db) = self.core.current() else {
            self.go_down("the database is not open".into(), Vec::new());
            for job in jobs {
                job.fail(StoreError::Unavailable("the database is not open".into()));
            }
            return;
        };
        let mut committed = Vec::with_capacity(jobs.len());
        let mut not_kept = Vec::new();
        let mut failure: Option<String> = None;
        let mut durable = false;
        let last = jobs.len().saturating_sub(1);
        for (i, job) in jobs.into_iter().enumerate() {
            if let Some(reason) = &failure {
                job.fail(StoreError::Unavailable(reason.clone()));
                continue;
            }
            let mark = self.next_mark;
            // The last job's own commit can be the batch's durable one: one commit fewer.
            let durability = if i == last {
                Durability::Immediate
            } else {
                Durability::None
            };
            // A panic inside redb (not inside the job, which is caught there) ends this handle.
            let (fate, broke) =
                catch_unwind(AssertUnwindSafe(|| run_job(&db, job, mark, durability)))
                    .unwrap_or_else(|_| {
                        (
                            Fate::Answered,
                            Some("the database failed part way through a write".into()),
                        )
                    });
            match fate {
                Fate::Committed(held) => {
                    self.next_mark += 1;
                    committed.push(held);
                    durable = i == last;
                }
                Fate::NotKept(reply) => not_kept.push(reply),
                Fate::Answered => {}
            }
            failure = failure.or(broke);
        }
        if failure.is_none() && !committed.is_empty() {
            let made = if durable { Ok(()) } else { make_durable(&db) };
            match made {
                Ok(()) => {
                    self.core.commits.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = self.core.publish(db.clone()) {
                        failure = Some(reason_of(&e));
                        // Durable already: these answers stand whatever happens next.
                        for held in committed.drain(..) {
                            held.reply.send(None);
                        }
                    }
                }
                Err(e) => failure = Some(reason_of(&e)),
            }
        }
        drop(db);
        // Refused and failed jobs wrote nothing that was kept, whatever happened to the batch.
        for reply in not_kept {
            reply.send(None);
        }
        match failure {
            None => {
                for held in committed {
                    held.reply.send(None);
                }
            }
            Some(reason) => self.go_down(reason, committed),
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
                    held.reply.send(lost);
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
                held.reply.send(Some(StoreError::Unavailable(format!(
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

/// Runs one job in its own transaction; the second value says the handle broke.
fn run_job(
    db: &Database,
    job: Box<dyn Job>,
    mark: u64,
    durability: Durability,
) -> (Fate, Option<String>) {
    let mut tx = match db.begin_write() {
        Ok(tx) => tx,
        Err(e) => {
            let err = StoreError::from(e);
            let reason = reason_of(&err);
            job.fail(StoreError::Unavailable(reason.clone()));
            return (Fate::Answered, Some(reason));
        }
    };
    if let Err(e) = tx.set_durability(durability) {
        let reason = reason_of(&StoreError::from(redb::Error::from(e)));
        let _ = tx.abort();
        job.fail(StoreError::Unavailable(reason.clone()));
        return (Fate::Answered, Some(reason));
    }
    let reply = job.run(&tx);
    let failed = match reply.error() {
        Some(e) => Some(e.clone()),
        None => write_mark(&tx, mark).err(),
    };
    match failed {
        None => match tx.commit() {
            Ok(()) => (Fate::Committed(Held { mark, reply }), None),
            // The commit may or may not have taken: the reopened file will tell.
            Err(e) => {
                let reason = reason_of(&StoreError::from(e));
                (Fate::Committed(Held { mark, reply }), Some(reason))
            }
        },
        Some(err) => {
            let aborted = tx.abort();
            // A file error inside the job, or in the abort, means the handle is unusable.
            let broke = match (&err, aborted) {
                (_, Err(e)) => Some(reason_of(&StoreError::from(e))),
                (StoreError::Unavailable(r), Ok(())) => Some(r.clone()),
                _ => None,
            };
            if reply.error().is_some() {
                (Fate::NotKept(reply), broke)
            } else {
                reply.send(Some(err));
                (Fate::Answered, broke)
            }
        }
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
