//! `fealty status` and `fealty --version` against the real binary: through a running server's
//! control socket, and on the file when no server runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, Tmpfs, cli, fealty_env, ok, stderr, stdout};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// How long a scheduled backup may take to be made, or to fail, on a busy machine.
const BACKUP_WAIT: Duration = Duration::from_secs(60);

fn write_members(dir: &Path) -> String {
    let path = dir.join("members.csv");
    std::fs::write(
        &path,
        "name,email,phone,card_number,balance\n\
         Grace Hopper,grace@example.com,,,120\n\
         Ada Lovelace,ada@example.com,,,\n",
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// The value on the line of `out` that starts with `label` (`"backups:"`).
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in {out:?}"))
}

/// Runs `fealty status` until `done` holds for its output, or panics after `BACKUP_WAIT`.
fn status_until(data: &Path, what: &str, done: impl Fn(&Output) -> bool) -> Output {
    let deadline = Instant::now() + BACKUP_WAIT;
    loop {
        let out = cli(data, &["status"]);
        if done(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {BACKUP_WAIT:?}; last status: {:?} {:?}",
            stdout(&out),
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn version_names_the_storage_schema_and_backup_format_it_reads_and_writes() {
    let out = ok(&fealty_env(&["--version"], &[]));
    assert_eq!(
        out.trim(),
        format!(
            "fealty {} (storage schema 5, reads 1-5; backup format 2, reads 1-2)",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn status_through_a_server_with_a_healthy_backup_target_exits_0() {
    let files = tempfile::tempdir().unwrap();
    // On a filesystem of its own when it can be, so a full disk on the machine running the
    // test is not what the status reports.
    let _disk = common::is_root().then(|| Tmpfs::mount(&files.path().join("disk"), "64m"));
    let data = tempfile::tempdir_in(if common::is_root() {
        files.path().join("disk")
    } else {
        std::env::temp_dir()
    })
    .unwrap();
    let target = format!("file:{}", files.path().join("backups").display());
    ok(&cli(data.path(), &["import", &write_members(files.path())]));
    let server = TestServer::start_with(
        data.path(),
        &["--backup-to", &target, "--backup-every", "1h"],
        &[],
    );

    let out = status_until(data.path(), "the first backup", |o| {
        !field(&stdout(o), "backups:").ends_with("none made yet")
    });
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "fealty {} (storage schema",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(
        field(&text, "server:").starts_with("running since "),
        "{text}"
    );
    let db = field(&text, "database:");
    assert!(
        db.starts_with("schema 5, ") && db.ends_with(", 2 members, 1 entry"),
        "{text}"
    );
    let backups = field(&text, "backups:");
    assert!(
        backups.starts_with(&format!("to {target} every 1h; last ")) && backups.ends_with(" ago)"),
        "{text}"
    );
    assert_eq!(
        field(&text, "segment lag:"),
        "0 entries (ledger at 1, safe in the backup up to 1)"
    );
    assert_eq!(field(&text, "certificate:"), "off (plain HTTP)");
    assert_eq!(
        field(&text, "listeners:"),
        format!("http://{}", server.addr())
    );
    assert_eq!(
        field(&text, "alerts:"),
        "none configured (Settings → Alerts)"
    );
    assert!(text.trim_end().ends_with("all well"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn status_says_why_and_exits_1_when_the_backup_target_is_dead() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    // A file where the target's directory should be: no one, not even root, can write there.
    let blocker = files.path().join("blocker");
    std::fs::write(&blocker, "not a directory").unwrap();
    let target = format!("file:{}", blocker.join("backups").display());
    let _server = TestServer::start_with(
        data.path(),
        &["--backup-to", &target, "--backup-every", "1h"],
        &[],
    );

    let out = status_until(data.path(), "the failed backup", |o| {
        stdout(o).contains("backups are failing")
    });
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        field(&text, "backups:").ends_with("none made yet"),
        "{text}"
    );
    let attention = text
        .split_once("\nneeds attention:\n")
        .unwrap_or_else(|| panic!("no attention list in {text:?}"))
        .1;
    let failing = attention
        .lines()
        .find(|l| l.contains("backups are failing: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        failing.len() > "  - backups are failing: ".len() + 5,
        "the reason is given: {failing:?}"
    );
    assert!(attention.contains("no backup has been made yet"), "{text}");
}

#[test]
fn status_without_a_server_reads_the_file_unchanged_and_exits_1() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    ok(&cli(data.path(), &["import", &write_members(files.path())]));
    let db = data.path().join("fealty.redb");
    let before = std::fs::read(&db).unwrap();

    let out = cli(data.path(), &["status"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a stopped server needs attention"
    );
    let text = stdout(&out);
    assert!(
        field(&text, "server:").starts_with("no server running on "),
        "{text}"
    );
    let line = field(&text, "database:");
    assert!(
        line.starts_with("schema 5, ") && line.ends_with(", 2 members, 1 entry"),
        "{text}"
    );
    assert_eq!(field(&text, "backups:"), "unknown (no server running)");
    assert_eq!(field(&text, "listeners:"), "none (no server running)");
    assert!(
        text.contains("\nneeds attention:\n  - no server is running"),
        "{text}"
    );
    assert!(
        std::fs::read(&db).unwrap() == before,
        "status changed the file"
    );

    let usage = cli(data.path(), &["status", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2), "usage errors stay distinct");
}

#[test]
fn status_reports_a_database_left_by_a_crash_without_repairing_it() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path());
    ok(&server.cli(&["import", &write_members(files.path())]));
    server.kill9();
    let db = data.path().join("fealty.redb");
    let before = std::fs::read(&db).unwrap();

    let out = cli(data.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        field(&text, "database:").ends_with("not shut down cleanly: the next start repairs it"),
        "{text}"
    );
    assert!(
        text.contains("  - the database was not shut down cleanly"),
        "{text}"
    );
    assert!(
        std::fs::read(&db).unwrap() == before,
        "status repaired the file"
    );
}

/// The lines under "needs attention:" in a status screen (none when all is well).
fn attention(text: &str) -> Vec<&str> {
    text.split_once("\nneeds attention:\n")
        .map(|(_, rest)| rest.lines().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_filling_disk_is_named_under_15_then_under_5_percent_and_clears_when_freed() {
    if !common::is_root() {
        eprintln!("skipped: mounting a size-limited filesystem needs root (CI runs as root)");
        return;
    }
    use common::pages::{Browser, add_user, by_id};
    let files = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&files.path().join("disk"), "32m");
    let data = files.path().join("disk").join("data");
    let target = format!("file:{}", files.path().join("backups").display());
    // Declared after the mount, so it stops before the mount goes.
    let server = TestServer::start_with(
        &data,
        &["--backup-to", &target, "--backup-every", "1h"],
        &[],
    );
    add_user(&server, "olive", "owner");
    let mut browser = Browser::new(&server);
    // Logged in while there is room for the session.
    browser.login_ok("olive", common::pages::PASSWORD).await;
    let mut dashboard_disk = async || {
        let html = browser.page("/admin").await;
        by_id(&html, "disk-status")
            .unwrap_or_else(|| panic!("no #disk-status on the dashboard"))
            .text()
    };

    let out = status_until(&data, "the first backup", |o| {
        !field(&stdout(o), "backups:").ends_with("none made yet")
    });
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let line = field(&text, "disk:");
    assert!(line.contains(" free of 32.0 MiB ("), "{text}");
    let said = dashboard_disk().await;
    assert!(
        said.starts_with("Disk: ") && said.contains(" free of 32.0 MiB"),
        "{said}"
    );

    disk.fill_to("filler", 10);
    let out = cli(&data, &["status"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(attention(&text).len(), 1, "{text}");
    assert!(
        attention(&text)[0].starts_with("  - the disk holding the data has ")
            && attention(&text)[0].contains(" free of 32.0 MiB (")
            && attention(&text)[0].contains("%, under 15%)"),
        "{text}"
    );
    let said = dashboard_disk().await;
    assert!(
        said.contains("The disk holding the data is getting full: "),
        "{said}"
    );

    disk.fill_to("filler", 3);
    let out = cli(&data, &["status"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        attention(&text).len(),
        1,
        "the more serious level is named alone: {text}"
    );
    assert!(
        attention(&text)[0].starts_with("  - the disk holding the data is almost full: ")
            && attention(&text)[0].contains("%, under 5%)"),
        "{text}"
    );
    let said = dashboard_disk().await;
    assert!(
        said.contains("The disk holding the data is almost full: "),
        "{said}"
    );

    std::fs::remove_file(files.path().join("disk").join("filler")).unwrap();
    let out = cli(&data, &["status"]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "freeing space clears it: {text}"
    );
    assert!(dashboard_disk().await.starts_with("Disk: "));
}
