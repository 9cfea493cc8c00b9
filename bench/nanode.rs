//! The whole product on one Nanode: 100,000 members and 1,000,000 ledger entries, the server
//! and every shell command inside one 1 GiB memory cgroup, while 32 clients post transactions.
//!
//! 1. The till alone: 32 clients post transactions; the server's peak RSS (VmHWM).
//! 2. Each long operation alone under the same load: backup to S3 (a real moto server on
//!    loopback), JSON export, `verify` (all three through the running server), a restore into
//!    another directory, and 50 wrong log-ins at once; the peak RSS of the server and of the
//!    command's own process during each.
//! 3. All of them at once under the same load: nothing is killed, no till request fails, and
//!    the cgroup's peak beside its limit.
//!
//! `FEALTY_BENCH_SEEDED=DIR` keeps the seeded data in DIR for the next run.
//!
//! Needs root for the cgroup (v1 `memory.limit_in_bytes`, or v2 `memory.max`); without one it
//! says so and measures without the limit.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly"
)]

#[path = "proc.rs"]
mod proc;
#[path = "seed.rs"]
mod seed;

use proc::{reset_hwm, vm_hwm, vm_rss};
use seed::{ENTRIES, MEMBERS};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The Nanode's memory.
const LIMIT: u64 = 1 << 30;
/// Till clients posting transactions throughout.
const CLIENTS: usize = 32;
/// How long the till runs alone in phase 1.
const ALONE: Duration = Duration::from_secs(20);
/// Wrong log-ins sent at once.
const WRONG_LOGINS: usize = 50;
/// Targets (MiB).
const SERVER_TARGET: f64 = 100.0;
const OPERATION_TARGET: f64 = 150.0;
const BUCKET: &str = "nanode";
const MIB: f64 = 1048576.0;

/// A memory cgroup made for this run and removed afterwards.
struct Cgroup {
    dir: PathBuf,
    v2: bool,
}

impl Cgroup {
    fn create(limit: u64) -> Option<Self> {
        let name = format!("fealty-nanode-{}", std::process::id());
        let (dir, v2) = if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
            (Path::new("/sys/fs/cgroup/memory").join(&name), false)
        } else if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            (Path::new("/sys/fs/cgroup").join(&name), true)
        } else {
            return None;
        };
        std::fs::create_dir(&dir).ok()?;
        let group = Self { dir, v2 };
        let limit_file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        std::fs::write(group.dir.join(limit_file), limit.to_string()).ok()?;
        if v2 {
            // No swap to hide behind: the limit is the RAM a Nanode has.
            let _ = std::fs::write(group.dir.join("memory.swap.max"), "0");
        }
        Some(group)
    }

    /// `cmd` run inside the cgroup: a shell joins it, then execs the program.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&self.dir)
            .arg(program)
            .args(args);
        c
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// The most memory the group held at once (page cache included).
    fn peak(&self) -> u64 {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        self.read(file).trim().parse().unwrap_or(0)
    }

    /// Processes the kernel killed for memory in the group.
    fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.read(file)
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Its processes have exited; an empty group can be removed.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove the cgroup {}", self.dir.display());
    }
}

/// Runs programs inside the cgroup when there is one.
struct Nanode {
    bin: String,
    group: Option<Cgroup>,
    env: Vec<(String, String)>,
}

impl Nanode {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = match &self.group {
            Some(g) => g.command(&self.bin, args),
            None => {
                let mut c = Command::new(&self.bin);
                c.args(args);
                c
            }
        };
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }
}

/// What a command did: its exit, output and peak memory.
struct Ran {
    what: &'static str,
    ok: bool,
    took: Duration,
    peak: u64,
    out: String,
}

/// Runs `cmd` to the end, sampling its VmHWM (the shell execs it, so the pid is the program's).
fn run_measured(what: &'static str, mut cmd: Command) -> Ran {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // Drained on their own threads: an export writes far more than a pipe holds.
    let out_reader = std::thread::spawn(move || {
        let mut first = String::new();
        let mut bytes = 0u64;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            bytes += line.len() as u64 + 1;
            if first.is_empty() {
                first = line;
            }
        }
        (first, bytes)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let (status, peak) = proc::wait_sampling_peak(&mut child, Duration::from_millis(10));
    let (first, bytes) = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    let out = if bytes > 4096 {
        format!("{bytes} bytes written")
    } else {
        first
    };
    Ran {
        what,
        ok: status.success(),
        took: start.elapsed(),
        peak,
        out: if status.success() {
            out
        } else {
            format!("{status}: {}", err.trim())
        },
    }
}

/// The till: `CLIENTS` tasks posting one-point transactions until told to stop.
struct Till {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<u32>>>,
}

impl Till {
    /// Starts the clients; `run` keeps each run's idempotency keys apart.
    fn start(base: &str, key: &str, members: &[String], run: usize) -> Self {
        let tag = format!("run{run}");
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let tasks = (0..CLIENTS)
            .map(|c| {
                let (stop, ok, failed, client) =
                    (stop.clone(), ok.clone(), failed.clone(), client.clone());
                let (base, key, tag) = (base.to_owned(), key.to_owned(), tag.clone());
                let members: Vec<String> = members.to_vec();
                tokio::spawn(async move {
                    let mut latencies_us = Vec::new();
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let m = &members[(c * 7919 + i * 104_729) % members.len()];
                        let sent = Instant::now();
                        let res = client
                            .post(format!("{base}/api/v1/members/{m}/transactions"))
                            .bearer_auth(&key)
                            .header("Idempotency-Key", format!("{tag}-c{c}-{i}"))
                            .json(&serde_json::json!({ "kind": "earn", "points": 1 }))
                            .send()
                            .await;
                        match res {
                            Ok(r) if r.status() == 201 => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                latencies_us.push(sent.elapsed().as_micros() as u32);
                            }
                            Ok(r) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                eprintln!("till: {}", r.status());
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                eprintln!("till: {e}");
                            }
                        }
                        i += 1;
                    }
                    latencies_us
                })
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    /// Stops the clients; (answered, failed, p99 in ms).
    async fn stop(self) -> (u64, u64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in self.tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        let p99 = all
            .get(all.len().saturating_sub(1) * 99 / 100)
            .map_or(0.0, |us| f64::from(*us) / 1000.0);
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            p99,
        )
    }
}

/// moto's S3 server on loopback, killed on drop.
struct Moto(Child, u16);

impl Moto {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; scripts/test.sh does)");
        let moto = Self(child, port);
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http
                .put(format!("{}/{BUCKET}", moto.endpoint()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.1)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `WRONG_LOGINS` wrong log-ins at once; (answered, peak of the server during them).
async fn wrong_logins(base: &str) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..WRONG_LOGINS {
        let req = client.post(format!("{base}/admin/login")).form(&[
            ("username", format!("staff{}", i % 10)),
            ("password", format!("wrong guess {i}")),
        ]);
        set.spawn(async move { req.send().await.map_or(0, |r| r.status().as_u16()) });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses.sort_unstable();
    statuses
}

fn mib(b: u64) -> f64 {
    b as f64 / MIB
}

fn verdict(peak: u64, target: f64) -> &'static str {
    if mib(peak) <= target { "ok" } else { "OVER" }
}

#[tokio::main]
async fn main() {
    let bin = std::env::var("FEALTY_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fealty").to_owned());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (seeded, seeding) = seed::seeded(dir.path()).await;
    seed::copy_data(&seeded, &data);
    let db_size = std::fs::metadata(data.join(fealty::storage::DB_FILE))
        .unwrap()
        .len();
    println!(
        "data: {MEMBERS} members, {ENTRIES} ledger entries; database file {:.0} MiB; seeded in {:.0} s",
        mib(db_size),
        seeding.as_secs_f64()
    );

    let moto = Moto::start().await;
    let group = Cgroup::create(LIMIT);
    match &group {
        Some(g) => println!(
            "memory cgroup {} with a limit of {:.0} MiB: the server and every command run in it",
            g.dir.display(),
            mib(LIMIT)
        ),
        None => println!("no memory cgroup (needs root): measuring without the 1 GiB limit"),
    }
    let node = Nanode {
        bin,
        group,
        env: vec![
            ("FEALTY_LOG".into(), "warn".into()),
            ("AWS_ACCESS_KEY_ID".into(), "bench".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
            ("FEALTY_S3_ENDPOINT".into(), moto.endpoint()),
            ("FEALTY_BACKUP_PASSPHRASE".into(), "nanode bench".into()),
        ],
    };
    let d = data.to_str().unwrap().to_owned();

    let key = node
        .command(&["apikey", "create", "--name", "bench", "--data", &d])
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    for i in 0..10 {
        let mut add = node
            .command(&[
                "user",
                "add",
                "--username",
                &format!("staff{i}"),
                "--role",
                "staff",
                "--password-stdin",
                "--data",
                &d,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        add.stdin
            .take()
            .unwrap()
            .write_all(b"a long bench password\n")
            .unwrap();
        assert!(add.wait().unwrap().success());
    }

    let mut server = node
        .command(&["serve", "--listen", "127.0.0.1:0", "--data", &d])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server_pid = server.id();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    // Keep draining the server's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let client = reqwest::Client::new();
    let page: serde_json::Value = client
        .get(format!("{base}/api/v1/members?limit=100"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let members: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let idle = vm_hwm(server_pid);

    // 1. The till alone.
    reset_hwm(server_pid);
    let till = Till::start(&base, &key, &members, 0);
    tokio::time::sleep(ALONE).await;
    let (answered, failed, p99) = till.stop().await;
    let till_peak = vm_hwm(server_pid);
    println!(
        "\n1. the till alone: {CLIENTS} clients, {answered} transactions in {} s ({:.0}/s), {failed} failed, p99 {p99:.1} ms",
        ALONE.as_secs(),
        answered as f64 / ALONE.as_secs_f64()
    );
    println!(
        "   server peak RSS: {:6.1} MiB (idle after start {:.1} MiB; target <= {SERVER_TARGET:.0} MiB) {}",
        mib(till_peak),
        mib(idle),
        verdict(till_peak, SERVER_TARGET)
    );

    // 2. Each operation alone, under the till's load.
    let s3 = format!("s3://{BUCKET}/fealty");
    let restored = dir.path().join("restored");
    println!(
        "\n2. each operation alone, {CLIENTS} clients posting meanwhile (peak RSS of the command, or what the server's rose by when it did the work; target <= {OPERATION_TARGET:.0} MiB each)"
    );
    let mut failures = 0;
    let ops: Vec<(&'static str, Vec<String>)> = vec![
        (
            "backup to S3",
            vec![
                "backup".into(),
                "--to".into(),
                s3.clone(),
                "--data".into(),
                d.clone(),
            ],
        ),
        (
            "export (json)",
            vec![
                "export".into(),
                "--format".into(),
                "json".into(),
                "--data".into(),
                d.clone(),
            ],
        ),
        ("verify", vec!["verify".into(), "--data".into(), d.clone()]),
        (
            "restore from S3",
            vec![
                "restore".into(),
                "--from".into(),
                s3.clone(),
                "--data".into(),
                restored.to_str().unwrap().to_owned(),
            ],
        ),
    ];
    for (run, &(what, ref args)) in (1..).zip(&ops) {
        let _ = std::fs::remove_dir_all(&restored);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        reset_hwm(server_pid);
        let before = vm_rss(server_pid);
        let till = Till::start(&base, &key, &members, run);
        let ran = tokio::task::spawn_blocking({
            let cmd = node.command(&args);
            move || run_measured(what, cmd)
        })
        .await
        .unwrap();
        let (answered, failed, p99) = till.stop().await;
        failures += failed;
        let server_peak = vm_hwm(server_pid);
        // Through the server, the operation's memory is what the server's peak rose by.
        let through_server = what != "restore from S3";
        let peak = if through_server {
            server_peak.saturating_sub(before)
        } else {
            ran.peak
        };
        println!(
            "   {:<16} {:6.1} s  {} {:6.1} MiB {}  (command process {:.1} MiB; server {:.1} -> {:.1} MiB; till {answered} ok, {failed} failed, p99 {p99:.1} ms)  {}",
            ran.what,
            ran.took.as_secs_f64(),
            if through_server {
                "server +"
            } else {
                "itself  "
            },
            mib(peak),
            verdict(peak, OPERATION_TARGET),
            mib(ran.peak),
            mib(before),
            mib(server_peak),
            if ran.ok {
                ran.out.clone()
            } else {
                format!("FAILED {}", ran.out)
            }
        );
        assert!(ran.ok, "{what} failed: {}", ran.out);
    }
    {
        reset_hwm(server_pid);
        let before = vm_rss(server_pid);
        let till = Till::start(&base, &key, &members, 10);
        let statuses = wrong_logins(&base).await;
        let (_, failed, _) = till.stop().await;
        failures += failed;
        let peak = vm_hwm(server_pid).saturating_sub(before);
        let refused = statuses.iter().filter(|s| **s == 401).count();
        let limited = statuses.iter().filter(|s| [429, 503].contains(*s)).count();
        println!(
            "   {WRONG_LOGINS} wrong log-ins          server + {:6.1} MiB {}  ({refused} checked and refused, {limited} turned away early)",
            mib(peak),
            verdict(peak, OPERATION_TARGET)
        );
    }

    // 3. Everything at once.
    let _ = std::fs::remove_dir_all(&restored);
    reset_hwm(server_pid);
    let till = Till::start(&base, &key, &members, 11);
    let started = Instant::now();
    let handles: Vec<_> = ops
        .iter()
        .map(|(what, args)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let cmd = node.command(&args);
            let what = *what;
            tokio::task::spawn_blocking(move || run_measured(what, cmd))
        })
        .collect();
    let statuses = wrong_logins(&base).await;
    let mut together = Vec::new();
    for h in handles {
        together.push(h.await.unwrap());
    }
    let took = started.elapsed();
    let (answered, failed, p99) = till.stop().await;
    failures += failed;
    let server_peak = vm_hwm(server_pid);
    let alive = server.try_wait().unwrap().is_none();
    println!(
        "\n3. everything at once: backup, export, verify, restore and {WRONG_LOGINS} wrong log-ins in {:.1} s, while {CLIENTS} clients posted {answered} transactions ({failed} failed, p99 {p99:.1} ms)",
        took.as_secs_f64()
    );
    for r in &together {
        println!(
            "   {:<16} {} (its process {:.1} MiB)",
            r.what,
            if r.ok { "ok" } else { "FAILED" },
            mib(r.peak)
        );
    }
    println!(
        "   server peak RSS {:.1} MiB; wrong log-ins answered {:?}",
        mib(server_peak),
        {
            let mut counts = std::collections::BTreeMap::new();
            for s in &statuses {
                *counts.entry(*s).or_insert(0) += 1;
            }
            counts
        }
    );
    if let Some(g) = &node.group {
        println!(
            "   cgroup peak {:.1} MiB of {:.0} MiB (page cache included); killed for memory: {}",
            mib(g.peak()),
            mib(LIMIT),
            g.oom_kills()
        );
    }
    let killed = node.group.as_ref().map_or(0, Cgroup::oom_kills);
    println!(
        "\nverdict: {} process killed, {failures} till requests failed, server {}",
        killed,
        if alive { "running" } else { "DEAD" }
    );

    let _ = Command::new("kill")
        .args(["-TERM", &server_pid.to_string()])
        .status();
    let _ = server.wait();
    drop(node);
    assert!(alive, "the server died");
    assert_eq!(killed, 0, "a process was killed for memory");
    assert_eq!(failures, 0, "till requests failed");
    assert!(together.iter().all(|r| r.ok), "an operation failed");
}
