//! A server under test, started from a command and killed when dropped, shared by the
//! benchmarks that talk HTTP to a running `fealty serve` (or to the SQLite baseline).

#![allow(dead_code, reason = "each benchmark uses the part it needs")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server: its process, base URL and API key.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub key: String,
}

impl Server {
    /// Starts `cmd` and waits for its `listening on URL` line.
    pub fn start(mut cmd: Command, key: String) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        // The server writes to stdout after this too: drained, its pipe never breaks or fills.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, base, key }
    }

    /// `bin serve` on loopback over the data in `data`, with a new API key of every scope.
    pub fn fealty(bin: &str, data: &Path) -> Server {
        let key = Command::new(bin)
            .args(["apikey", "create", "--name", "bench", "--data"])
            .arg(data)
            .output()
            .unwrap();
        assert!(key.status.success(), "fealty apikey create failed");
        let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("FEALTY_LOG", "warn");
        Server::start(cmd, key)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `workers` tasks, each calling `step(worker, round)` one round after another until it
/// has made `per_worker` rounds or `run` has passed; the rounds made per second, all together.
pub async fn rate<F, Fut>(
    workers: usize,
    run: std::time::Duration,
    per_worker: usize,
    step: F,
) -> f64
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let step = std::sync::Arc::new(step);
    let start = std::time::Instant::now();
    let deadline = start + run;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while n < per_worker && std::time::Instant::now() < deadline {
                    step(w, n).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}
