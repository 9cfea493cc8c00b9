//! Backup and restore of 100,000 members and 1,000,000 ledger entries through the real binary.
//!
//! Ceilings measured in the same run: copying the raw database file (the least any backup can
//! cost in time) and its size (what a backup would be without compression).

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "seed.rs"]
mod seed;

use fealty::storage;
use seed::{ENTRIES, MEMBERS};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The target for the peak RSS of one backup or restore process.
const RSS_TARGET_MB: f64 = 150.0;

/// A process's peak resident set (VmHWM) in MiB, while it still runs.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// What one run of the binary cost.
struct Ran {
    took: Duration,
    peak_mb: f64,
}

/// Runs the binary, sampling its peak RSS until it exits (VmHWM only grows, so the last
/// sample misses at most the final few milliseconds).
fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0.0f64;
        while let Some(mb) = peak_rss_mb(pid) {
            peak = peak.max(mb);
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    });
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    let peak_mb = sampler.join().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("  {}", String::from_utf8_lossy(&out.stdout).trim());
    Ran { took, peak_mb }
}

fn rss(r: &Ran) -> String {
    format!(
        "peak RSS {:.0} MB (target {RSS_TARGET_MB:.0} MB: {})",
        r.peak_mb,
        if r.peak_mb <= RSS_TARGET_MB {
            "met"
        } else {
            "MISSED"
        }
    )
}

#[tokio::main]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_fealty");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (seeded, seeding) = seed::seeded(dir.path()).await;
    seed::copy_data(&seeded, &data);
    let db = data.join(storage::DB_FILE);
    let db_size = std::fs::metadata(&db).unwrap().len();

    let start = Instant::now();
    std::fs::copy(&db, dir.path().join("copy.redb")).unwrap();
    let file = std::fs::File::open(dir.path().join("copy.redb")).unwrap();
    file.sync_all().unwrap();
    let copy = start.elapsed();

    let d = data.to_str().unwrap();
    let plain = dir.path().join("plain");
    let sealed = dir.path().join("sealed");
    let (p, s) = (
        format!("file:{}", plain.display()),
        format!("file:{}", sealed.display()),
    );
    let backup = run(bin, &["backup", "--to", &p, "--data", d], &[]);
    let backup_enc = run(
        bin,
        &["backup", "--to", &s, "--data", d],
        &[("FEALTY_BACKUP_PASSPHRASE", "bench passphrase")],
    );
    let r1 = dir.path().join("r1");
    let restore = run(
        bin,
        &["restore", "--from", &p, "--data", r1.to_str().unwrap()],
        &[],
    );
    let r2 = dir.path().join("r2");
    let restore_enc = run(
        bin,
        &["restore", "--from", &s, "--data", r2.to_str().unwrap()],
        &[("FEALTY_BACKUP_PASSPHRASE", "bench passphrase")],
    );
    let (plain_size, sealed_size) = (dir_size(&plain), dir_size(&sealed));

    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "data: {MEMBERS} members, {ENTRIES} ledger entries; database file {:.0} MiB; seeded in {:.1} s",
        db_size as f64 / 1048576.0,
        secs(seeding)
    );
    println!(
        "ceiling, copy + fsync of the database file: {:.2} s",
        secs(copy)
    );
    println!(
        "backup to a directory:            {:6.1} s = {:.1} x the copy; {:.1} MiB = {:.3} x the database file; {}",
        secs(backup.took),
        secs(backup.took) / secs(copy),
        plain_size as f64 / 1048576.0,
        plain_size as f64 / db_size as f64,
        rss(&backup)
    );
    println!(
        "backup, encrypted (age):          {:6.1} s = {:.1} x the copy; {:.1} MiB; {}",
        secs(backup_enc.took),
        secs(backup_enc.took) / secs(copy),
        sealed_size as f64 / 1048576.0,
        rss(&backup_enc)
    );
    println!(
        "restore (with full verification): {:6.1} s = {:.1} x the copy; {}",
        secs(restore.took),
        secs(restore.took) / secs(copy),
        rss(&restore)
    );
    println!(
        "restore, encrypted:               {:6.1} s = {:.1} x the copy; {}",
        secs(restore_enc.took),
        secs(restore_enc.took) / secs(copy),
        rss(&restore_enc)
    );
}
