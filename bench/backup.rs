//! Backup and restore of 100,000 members and 1,000,000 ledger entries through the real binary.
//!
//! Ceilings measured in the same run: copying the raw database file (the least any backup can
//! cost in time) and its size (what a backup would be without compression).

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "seed.rs"]
mod seed;

use fealty::storage;
use seed::{ENTRIES, MEMBERS, seed};
use std::process::Command;
use std::time::{Duration, Instant};

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Duration {
    let start = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("  {}", String::from_utf8_lossy(&out.stdout).trim());
    took
}

#[tokio::main]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_fealty");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let seeding = seed(&data).await;
    // Let the seeding store's writer thread release the file.
    std::thread::sleep(Duration::from_millis(500));
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
        "backup to a directory:            {:6.1} s = {:.1} x the copy; {:.1} MiB = {:.3} x the database file",
        secs(backup),
        secs(backup) / secs(copy),
        plain_size as f64 / 1048576.0,
        plain_size as f64 / db_size as f64
    );
    println!(
        "backup, encrypted (age):          {:6.1} s = {:.1} x the copy; {:.1} MiB",
        secs(backup_enc),
        secs(backup_enc) / secs(copy),
        sealed_size as f64 / 1048576.0
    );
    println!(
        "restore (with full verification): {:6.1} s = {:.1} x the copy",
        secs(restore),
        secs(restore) / secs(copy)
    );
    println!(
        "restore, encrypted:               {:6.1} s = {:.1} x the copy",
        secs(restore_enc),
        secs(restore_enc) / secs(copy)
    );
}
