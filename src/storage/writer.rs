//! The one writer: drains queued jobs into batches, one transaction and one fsync per batch.

use super::StoreError;
use redb::{Database, WriteTransaction};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Most jobs one transaction takes, so one batch cannot hold the rest back for long.
const MAX_BATCH: usize = 512;

/// A queued write.
trait Job: Send {
    /// Runs inside the batch's transaction and returns what to answer after commit.
    fn run(self: Box<Self>, tx: &WriteTransaction) -> Box<dyn Reply>;
    /// Answers without running (the transaction could not start).
    fn fail(self: Box<Self>, err: StoreError);
}

/// A job's answer, held until its batch is durable.
trait Reply: Send {
    /// Whether the job failed in a way that leaves the transaction unusable.
    fn poisons_batch(&self) -> bool;
    /// Sends the answer, given how the commit went.
    fn send(self: Box<Self>, commit: Result<(), StoreError>);
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
    fn poisons_batch(&self) -> bool {
        matches!(&self.result, Err(e) if !matches!(e, StoreError::Domain(_)))
    }

    fn send(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (self.result, commit) {
            // A refused job wrote nothing, so its refusal stands whatever happened to the batch.
            (Err(e @ StoreError::Domain(_)), _) => Err(e),
            (result, Ok(())) => result,
            (_, Err(e)) => Err(e),
        };
        let _ = self.answer.send(answer);
    }
}

/// Handle to the writer thread.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<Box<dyn Job>>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread; it stops when every handle is dropped.
    pub(super) fn start(db: Arc<Database>) -> Result<Writer, StoreError> {
        let (queue, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        std::thread::Builder::new()
            .name("fealty-writer".into())
            .spawn(move || run(db, rx, counter))
            .map_err(|e| StoreError::Db(format!("cannot start the writer: {e}")))?;
        Ok(Writer { queue, commits })
    }

    pub(super) async fn submit<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        self.queue
            .send(Box::new(FnJob { f, answer }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

fn run(db: Arc<Database>, mut rx: mpsc::UnboundedReceiver<Box<dyn Job>>, commits: Arc<AtomicU64>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let tx = match db.begin_write() {
            Ok(tx) => tx,
            Err(e) => {
                let err = StoreError::from(e);
                tracing::error!(error = %err, "cannot begin a write transaction");
                for job in jobs {
                    job.fail(err.clone());
                }
                continue;
            }
        };
        let mut replies: Vec<Box<dyn Reply>> = Vec::with_capacity(jobs.len());
        let mut poisoned = false;
        for job in jobs {
            if poisoned {
                job.fail(StoreError::Db(
                    "the batch was abandoned after an error".into(),
                ));
                continue;
            }
            let reply = job.run(&tx);
            poisoned = reply.poisons_batch();
            replies.push(reply);
        }
        let outcome = if poisoned {
            let _ = tx.abort();
            Err(StoreError::Db(
                "the batch was rolled back after an error".into(),
            ))
        } else {
            tx.commit().map_err(StoreError::from)
        };
        match &outcome {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "a write batch failed"),
        }
        for reply in replies {
            reply.send(outcome.clone());
        }
    }
}
