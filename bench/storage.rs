//! Storage v5 at scale: 100,000 members and 1,000,000 ledger entries.
//!
//! Prints, each beside its target and a ceiling measured in the same run:
//! - database bytes per ledger entry, everything included (target: at most 300);
//! - `fealty verify` through the binary, entries per second (target: at least 1,000,000),
//!   beside reading the whole file once;
//! - the in-place migration of the same data written in the schema-4 layout, after its safety
//!   copy (a backup file of the schema-4 data): time and peak memory (VmHWM) of the process
//!   doing it, beside the file's size and the peak of `verify` alone.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "proc.rs"]
mod proc;
#[path = "seed.rs"]
mod seed;

use fealty::domain::ledger::GENESIS_HASH;
use fealty::domain::ledger_hash::HashInput;
use fealty::storage::records::{self, AuditRow};
use fealty::storage::tables::{AUDIT, LEDGER, MEMBER_ENTRIES, MEMBER_LEDGER_V4, META};
use fealty::storage::{self, audit};
use redb::{ReadableDatabase, ReadableTable};
use seed::{ENTRIES, MEMBERS};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary, sampling its peak resident memory (VmHWM) until it exits.
fn run_measured(bin: &str, args: &[&str]) -> (Duration, u64, String) {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .env("FEALTY_LOG", "fealty=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, peak) = proc::wait_sampling_peak(&mut child, Duration::from_millis(10));
    let took = start.elapsed();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{args:?}: {out}{err}");
    // What the process said about its phases: open, migration, compaction, the verify walk.
    for line in err.lines().filter(|l| {
        [
            "integrity",
            "safety copy",
            "migrated",
            "compact",
            "verify:",
            "repair",
        ]
        .iter()
        .any(|w| l.contains(w))
    }) {
        println!("    | {line}");
    }
    (took, peak, out.trim().to_owned())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Rewrites a schema-5 file the way schema 4 stored the same data: JSON ledger rows sealed with
/// hash input 1, the text-keyed history index, audit rows as JSON, version 4.
fn downgrade_to_v4(path: &Path) {
    let db = redb::Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let ledger = tx.open_table(LEDGER).unwrap();
        let mut table = tx.open_table(AUDIT).unwrap();
        let mut rewrite = Vec::new();
        for row in table.iter().unwrap() {
            let (k, v) = row.unwrap();
            if let AuditRow::Ledger(seq) = records::decode_audit(v.value()).unwrap() {
                let e = storage::ledger::entry(&ledger, seq).unwrap().unwrap();
                let rec = audit::entry_record(k.value(), &e);
                rewrite.push((
                    k.value(),
                    serde_json::to_vec(&serde_json::json!({
                        "seq": rec.seq,
                        "at": rec.at.format(&time::format_description::well_known::Rfc3339).unwrap(),
                        "actor": rec.actor,
                        "action": rec.action,
                        "target": rec.target,
                        "detail": rec.detail,
                    }))
                    .unwrap(),
                ));
            }
        }
        for (k, v) in rewrite {
            table.insert(k, v.as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
    let mut from = 1u64;
    let mut prev = GENESIS_HASH;
    loop {
        let tx = db.begin_write().unwrap();
        let mut rows = Vec::new();
        {
            let ledger = tx.open_table(LEDGER).unwrap();
            let mut stored_prev = prev;
            for row in ledger.range(from..).unwrap().take(50_000) {
                let (k, v) = row.unwrap();
                let e = records::decode_entry(k.value(), v.value(), stored_prev).unwrap();
                stored_prev = e.hash;
                rows.push(e);
            }
        }
        if rows.is_empty() {
            break;
        }
        let mut ledger = tx.open_table(LEDGER).unwrap();
        let mut index = tx.open_table(MEMBER_LEDGER_V4).unwrap();
        for mut e in rows {
            e.prev_hash = prev;
            e.hash_input = HashInput::JsonV1;
            e.hash = fealty::domain::ledger::EntryHash(HashInput::JsonV1.hash(&prev.0, &e.body));
            prev = e.hash;
            let input = HashInput::JsonV1.bytes(&e.prev_hash.0, &e.body);
            let body = &input[65..];
            let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
            v["prev_hash"] = e.prev_hash.to_hex().into();
            v["hash"] = e.hash.to_hex().into();
            ledger
                .insert(e.body.seq, serde_json::to_vec(&v).unwrap().as_slice())
                .unwrap();
            index
                .insert((e.body.member_id.as_str(), e.body.seq), ())
                .unwrap();
            from = e.body.seq + 1;
        }
        drop((ledger, index));
        tx.commit().unwrap();
    }
    let tx = db.begin_write().unwrap();
    tx.delete_table(MEMBER_ENTRIES).unwrap();
    tx.open_table(META)
        .unwrap()
        .insert("schema_version", 4)
        .unwrap();
    tx.commit().unwrap();
    drop(db);
    let mut db = redb::Database::open(path).unwrap();
    db.compact().unwrap();
}

/// Pages and bytes per table, largest first, and the file's allocated and free pages.
fn breakdown(path: &Path) {
    use redb::{ReadableTableMetadata, TableHandle};
    let db = redb::Database::open(path).unwrap();
    let tx = db.begin_read().unwrap();
    let mut rows = Vec::new();
    for handle in tx.list_tables().unwrap() {
        let name = handle.name().to_owned();
        let table = tx.open_untyped_table(handle).unwrap();
        let st = table.stats().unwrap();
        rows.push((
            st.leaf_pages() + st.branch_pages(),
            name,
            table.len().unwrap(),
            st.stored_bytes(),
            st.fragmented_bytes(),
        ));
    }
    drop(tx);
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    println!("  table                 rows       pages  MiB     stored MiB  per entry");
    for (pages, name, len, stored, _frag) in rows {
        println!(
            "  {name:<20} {len:>9} {pages:>9} {:>7.1} {:>9.1} {:>8.0} B",
            mib(pages * 4096),
            mib(stored),
            (pages * 4096) as f64 / ENTRIES as f64
        );
    }
    let wtx = db.begin_write().unwrap();
    let st = wtx.stats().unwrap();
    println!(
        "  in all: {} allocated pages ({:.1} MiB), {:.1} MiB fragmented",
        st.allocated_pages(),
        mib(st.allocated_pages() * st.page_size() as u64),
        mib(st.fragmented_bytes())
    );
    wtx.abort().unwrap();
}

fn read_file(path: &Path) -> Duration {
    let start = Instant::now();
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
    start.elapsed()
}

#[tokio::main]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_fealty");
    let dir = tempfile::tempdir().unwrap();
    // FEALTY_BENCH_SEEDED=DIR keeps the seeded data directory there and reuses it next time.
    let (seeded, seeding) = seed::seeded(dir.path()).await;
    let data = dir.path().join("data");
    seed::copy_data(&seeded, &data);
    let db = data.join(storage::DB_FILE);
    let size = std::fs::metadata(&db).unwrap().len();
    let per_entry = size as f64 / ENTRIES as f64;
    println!(
        "seeded {MEMBERS} members and {ENTRIES} entries through the storage code in {:.1} s",
        seeding.as_secs_f64()
    );
    println!(
        "database file as written: {:.1} MiB = {per_entry:.0} bytes per ledger entry",
        mib(size)
    );
    {
        let rx = redb::Database::open(&db).unwrap();
        let tx = rx.begin_read().unwrap();
        let t = tx.open_table(LEDGER).unwrap();
        let stored: u64 = t
            .iter()
            .unwrap()
            .map(|r| r.unwrap().1.value().len() as u64)
            .sum();
        println!(
            "  of which ledger records: {:.0} bytes per entry on average",
            stored as f64 / ENTRIES as f64
        );
    }

    breakdown(&db);
    // The next open gives back free space when most of the file is free (src/storage/compact.rs).
    let start = Instant::now();
    fealty::storage::Store::open(&data)
        .unwrap()
        .close()
        .unwrap();
    let reopened = std::fs::metadata(&db).unwrap().len();
    println!(
        "after the next open ({:.1} s): {:.1} MiB = {:.0} bytes per ledger entry, everything included \
         (target at most 300: {:.2}x of it)",
        start.elapsed().as_secs_f64(),
        mib(reopened),
        reopened as f64 / ENTRIES as f64,
        reopened as f64 / ENTRIES as f64 / 300.0
    );

    let d = data.to_str().unwrap();
    let ceiling = read_file(&db);
    let (took, verify_peak, out) = run_measured(bin, &["verify", "--data", d]);
    let rate = ENTRIES as f64 / took.as_secs_f64();
    println!("fealty verify: {out}");
    println!(
        "  {:.2} s = {rate:.0} entries/s (target at least 1,000,000: {:.2}x); \
         reading the file once takes {:.2} s ({:.2}x of verify); peak memory {:.0} MiB",
        took.as_secs_f64(),
        rate / 1_000_000.0,
        ceiling.as_secs_f64(),
        took.as_secs_f64() / ceiling.as_secs_f64().max(1e-9),
        mib(verify_peak)
    );

    let old = dir.path().join("v4");
    std::fs::create_dir_all(&old).unwrap();
    let v4 = old.join(storage::DB_FILE);
    std::fs::copy(&db, &v4).unwrap();
    let start = Instant::now();
    downgrade_to_v4(&v4);
    let v4_size = std::fs::metadata(&v4).unwrap().len();
    println!(
        "schema-4 copy written in {:.1} s: {:.1} MiB = {:.0} bytes per entry",
        start.elapsed().as_secs_f64(),
        mib(v4_size),
        v4_size as f64 / ENTRIES as f64
    );
    let (took, peak, out) = run_measured(bin, &["verify", "--data", old.to_str().unwrap()]);
    let after = std::fs::metadata(&v4).unwrap().len();
    println!("migration v4 -> v5 then verify: {out}");
    println!(
        "  {:.1} s in all, peak memory {:.0} MiB = {:.2}x of verify alone (the file: {:.0} MiB before, {:.0} MiB after = {:.0} bytes per entry)",
        took.as_secs_f64(),
        mib(peak),
        peak as f64 / verify_peak as f64,
        mib(v4_size),
        mib(after),
        after as f64 / ENTRIES as f64
    );
    let copies: Vec<(String, u64)> = std::fs::read_dir(old.join("safety"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    for (name, bytes) in copies {
        println!(
            "  safety copy {name}: {:.1} MiB = {:.2}x of the schema-4 file",
            mib(bytes),
            bytes as f64 / v4_size as f64
        );
    }
}
