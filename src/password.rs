//! Password hashing and checking, through one bounded pool.
//!
//! An argon2id hash holds ~19 MiB for ~45 ms. Anyone can ask for one (a log-in, a setup
//! link), so the number running at once is what bounds the server's memory: a few workers,
//! a short queue, and past that the caller is told to come back later. The argon2 calls are
//! private to this module, so no path can hash without going through the pool.

use crate::crypto::{self, RandomError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::Arc;
use tokio::sync::Semaphore;

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

/// The one bounded pool that hashes and checks passwords.
#[derive(Clone, Debug)]
pub struct PasswordPool {
    /// Workers plus queue: a request that gets no permit here is refused at once.
    admitted: Arc<Semaphore>,
    /// One permit per worker: at most this many hashes hold memory at once.
    running: Arc<Semaphore>,
}

impl PasswordPool {
    /// A pool of `workers` running at once and `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
        }
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
        self.run(move || hash_password(&password)).await?
    }

    /// Whether `password` matches the PHC string `phc`; a malformed hash never matches.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, PoolError> {
        self.run(move || verify_password(&password, &phc)).await
    }

    /// Like [`Self::verify`], but with no stored hash it checks a dummy one and answers false,
    /// so an unknown account takes as long as a wrong password.
    pub async fn verify_if_any(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, PoolError> {
        self.run(move || match phc {
            Some(phc) => verify_password(&password, &phc),
            None => {
                verify_password(&password, &DUMMY_HASH);
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PoolError::Busy)?;
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| PoolError::Failed(e.to_string()))?;
        // The permit moves into the blocking task, so it is held exactly as long as the memory is,
        // even if the request that asked is dropped meanwhile.
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(running);
            out
        })
        .await
        .map_err(|e| PoolError::Failed(e.to_string()))
    }
}

/// A hash checked when there is no account, so a miss costs as much as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("not a real password").unwrap_or_default());

fn hash_password(password: &str) -> Result<String, PoolError> {
    let salt = SaltString::encode_b64(&crypto::random_bytes::<16>()?)
        .map_err(|e| PoolError::Failed(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PoolError::Failed(e.to_string()))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
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
        Ok(())
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = PasswordPool::new(1, 0);
        let held = Arc::clone(&pool.admitted).try_acquire_owned();
        assert!(held.is_ok());
        assert!(matches!(pool.hash("pw").await, Err(PoolError::Busy)));
        drop(held);
        assert!(pool.hash("pw").await.is_ok());
    }
}
