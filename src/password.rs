//! Password hashing and checking, through one bounded pool.
//!
//! An argon2id hash holds ~19 MiB for ~45 ms. Anyone can ask for one (a log-in, a setup
//! link), so the number running at once is what bounds the server's memory: a few workers,
//! a short queue, and past that the caller is told to come back later. The argon2 calls are
//! private to this module, so no path can hash without going through the pool.

use crate::crypto::{self, RandomError};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex};

/// Seconds a client turned away by a full pool should wait: the queue drains in well under that.
pub const BUSY_RETRY_AFTER: u32 = 2;

/// Why the pool did not hash or check a password.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full; nothing was done.
    #[error("password checks are busy; try again shortly")]
    Busy,
    /// The worker failed (randomness, or the task died).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

impl From<RandomError> for PoolError {
    fn from(e: RandomError) -> Self {
        PoolError::Failed(e.to_string())
    }
}

/// A job for a worker, given the worker's argon2 memory; it sends its own answer.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The argon2 working memory (~19 MiB) a worker allocates once and reuses for every hash.
///
/// Letting argon2 allocate its own would leave each freed block to the allocator, which keeps
/// them in per-thread arenas: measured, a burst of 60 setup posts left over 300 MiB resident
/// with only two workers. One block per worker keeps it at workers × 19 MiB for good.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    /// The first `n` blocks; `None` past the default cost, so a stored hash asking for more
    /// memory than ours cannot make memory grow (it simply never matches).
    fn blocks(&mut self, n: usize) -> Option<&mut [Block]> {
        let most = Params::default().block_count();
        if n > most {
            return None;
        }
        if self.0.len() < most {
            self.0.resize(most, Block::default());
        }
        self.0.get_mut(..n)
    }
}

/// The one bounded pool that hashes and checks passwords.
///
/// Its own few threads do the work, not tokio's blocking pool: the allocator keeps a freed
/// argon2 block in the arena of the thread that used it, so memory follows the number of
/// threads that ever hashed, and tokio's pool would grow to hundreds under a burst.
#[derive(Clone, Debug)]
pub struct PasswordPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl PasswordPool {
    /// A pool of `workers` threads and room for `queue` more jobs waiting; beyond that a job is
    /// refused at once.
    pub fn new(workers: usize, queue: usize) -> Self {
        // A rendezvous channel (0) would refuse whenever no worker is idle at that instant.
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<Job>(queue.max(1));
        let inbox = Arc::new(Mutex::new(inbox));
        for n in 0..workers.max(1) {
            let inbox = Arc::clone(&inbox);
            let spawned = std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || work(&inbox));
            if let Err(e) = spawned {
                // Fewer workers only makes the pool slower; with none, jobs wait and fail below.
                tracing::error!(error = %e, "could not start a password worker");
            }
        }
        Self { jobs }
    }

    /// About one worker per core (at most four: memory matters more than speed here) and a
    /// queue of eight per worker: waiting costs no memory to speak of, and the last in line
    /// waits about eight hashes (~0.4 s), short enough for a person, long enough that a shop's
    /// staff logging in together are queued rather than turned away.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = cores.clamp(1, 4);
        Self::new(workers, workers * 8)
    }

    /// Hashes `password` with argon2id and a random salt.
    pub async fn hash(&self, password: &str) -> Result<String, PoolError> {
        let password = password.to_owned();
        self.run(move |mem| hash_password(mem, &password)).await?
    }

    /// Whether `password` matches the PHC string `phc`; a malformed hash never matches.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, PoolError> {
        self.run(move |mem| verify_password(mem, &password, &phc))
            .await
    }

    /// Like [`Self::verify`], but with no stored hash it checks a dummy one and answers false,
    /// so an unknown account takes as long as a wrong password.
    pub async fn verify_if_any(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, PoolError> {
        self.run(move |mem| match phc {
            Some(phc) => verify_password(mem, &password, &phc),
            None => {
                verify_password(mem, &password, DUMMY_HASH);
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |mem| {
            // The asker may have gone (a dropped connection); the work is done either way.
            let _ = answer.send(work(mem));
        });
        self.jobs.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => PoolError::Busy,
            std::sync::mpsc::TrySendError::Disconnected(_) => {
                PoolError::Failed("the password workers have stopped".into())
            }
        })?;
        answered
            .await
            .map_err(|_| PoolError::Failed("a password worker failed".into()))
    }
}

/// A worker: takes jobs until every sender is gone; a job that panics loses only its answer.
fn work(inbox: &Mutex<std::sync::mpsc::Receiver<Job>>) {
    let mut memory = Memory::default();
    loop {
        let job = match inbox.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
    }
}

/// A hash checked when there is no account, so a miss costs as much as a wrong password: the
/// default cost, a fixed salt, and an output no password gives in practice.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm90IGEgcmVhbCBzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn failed(e: impl std::fmt::Display) -> PoolError {
    PoolError::Failed(e.to_string())
}

/// An argon2id PHC string for `password` with the default cost and a random salt (the same
/// string `argon2`'s own `hash_password` makes, computed in the worker's memory).
fn hash_password(mem: &mut Memory, password: &str) -> Result<String, PoolError> {
    let salt_bytes = crypto::random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(failed)?;
    let params = Params::default();
    let blocks = mem
        .blocks(params.block_count())
        .ok_or_else(|| failed("no memory for the default cost"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut out, blocks)
        .map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(failed)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` gives the PHC string `phc`; a malformed hash, or one costing more memory
/// than the default, never matches.
fn verify_password(mem: &mut Memory, password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let Some(blocks) = mem.blocks(params.block_count()) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, blocks)
        .is_ok()
        // `Output`'s equality is constant-time.
        && Output::new(&out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_themselves() -> Result<(), PoolError> {
        let pool = PasswordPool::new(1, 1);
        let h = pool.hash("correct horse battery staple").await?;
        assert!(h.starts_with("$argon2id$"));
        assert!(
            pool.verify("correct horse battery staple".into(), h.clone())
                .await?
        );
        assert!(!pool.verify("wrong horse battery staple".into(), h).await?);
        assert!(!pool.verify("x".into(), "not a hash".into()).await?);
        assert!(!pool.verify_if_any("x".into(), None).await?);
        Ok(())
    }

    #[test]
    fn hashes_are_what_argon2_makes_and_the_dummy_costs_the_same() {
        use argon2::password_hash::PasswordVerifier;
        let mut mem = Memory::default();
        let ours = hash_password(&mut mem, "pw 123456");
        let ours = ours.unwrap_or_default();
        let parsed = PasswordHash::new(&ours);
        assert!(parsed.is_ok_and(|h| Argon2::default().verify_password(b"pw 123456", &h).is_ok()));
        let theirs = argon2::password_hash::PasswordHasher::hash_password(
            &Argon2::default(),
            b"old password",
            &SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap_or_else(|_| unreachable!()),
        )
        .map(|h| h.to_string())
        .unwrap_or_default();
        assert!(verify_password(&mut mem, "old password", &theirs));
        assert!(!verify_password(&mut mem, "other", &theirs));
        let dummy = PasswordHash::new(DUMMY_HASH);
        assert!(dummy.is_ok_and(|h| {
            Params::try_from(&h).is_ok_and(|p| p.block_count() == Params::default().block_count())
        }));
        let greedy = theirs.replace("m=19456", "m=65536");
        assert!(!verify_password(&mut mem, "old password", &greedy));
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = PasswordPool::new(1, 1);
        // The one worker is held by a job, and one more waits in the queue: the next is refused.
        let (started, is_started) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let holding: Job = Box::new(move |_| {
            let _ = started.send(());
            let _ = hold.recv();
        });
        assert!(pool.jobs.try_send(holding).is_ok());
        assert!(is_started.recv().is_ok());
        assert!(pool.jobs.try_send(Box::new(|_| ())).is_ok());
        assert!(matches!(pool.hash("pw").await, Err(PoolError::Busy)));
        let _ = release.send(());
        // Once the worker has drained the queue, work is taken again.
        let mut answer = pool.hash("pw").await;
        for _ in 0..500 {
            if !matches!(answer, Err(PoolError::Busy)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            answer = pool.hash("pw").await;
        }
        assert!(answer.is_ok());
    }
}
