//! The running server's scheduled ledger check and the repair a start needed, against the real
//! binary: made due by the hidden `--verify-every` knob, seen through `fealty status` and the
//! admin dashboard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hook::{Hook, send_alerts_to};
use common::pages::{Browser, PASSWORD, add_user, by_id};
use common::{TestServer, cli, ok, stderr, stdout};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// How long a check (or a start) may take on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

/// The hidden knob: a check every second instead of daily at 04:00.
const SOON: &[&str] = &["--verify-every", "1s"];
/// The knob set so that no check comes during a test.
const LATER: &[&str] = &["--verify-every", "1h"];

/// Five members with opening balances: five ledger entries, made with no server running.
fn five_entries(data: &Path) {
    let csv = data.join("members.csv");
    std::fs::write(
        &csv,
        "name,email,phone,card_number,balance\n\
         Ann,,,,10\nBen,,,,20\nCat,,,,30\nDan,,,,40\nEve,,,,50\n",
    )
    .unwrap();
    ok(&cli(data, &["import", csv.to_str().unwrap()]));
    std::fs::remove_file(csv).unwrap();
}

/// `fealty serve` with a healthy backup target (so that only the ledger can need attention).
fn serve(data: &Path, backups: &Path, extra: &[&str]) -> TestServer {
    let target = format!("file:{}", backups.display());
    let mut args = vec![
        "--backup-to",
        target.as_str(),
        "--backup-every",
        "1h",
        "--alerts-check-every",
        "1s",
    ];
    args.extend_from_slice(extra);
    TestServer::start_with(data, &args, &[])
}

/// The value on the line of `out` that starts with `label`.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in {out:?}"))
}

/// The "needs attention" lines of a status screen.
fn attention(out: &str) -> Vec<String> {
    out.split_once("\nneeds attention:\n")
        .map(|(_, list)| list.lines().map(|l| l.trim().to_owned()).collect())
        .unwrap_or_default()
}

/// Runs `fealty status` until `done` holds for its output, or panics after `WAIT`.
fn status_until(data: &Path, what: &str, done: impl Fn(&str) -> bool) -> Output {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = cli(data, &["status"]);
        if done(&stdout(&out)) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {WAIT:?}; last status: {:?} {:?}",
            stdout(&out),
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A run on the status screen's ledger line: `(kind, entries, first, last)` of
/// `"checked 2026-…Z: 3 entries (6 to 8), all intact; next …"`.
fn run_of(ledger: &str) -> (String, u64, u64, u64) {
    let (kind, rest) = if let Some(r) = ledger.strip_prefix("full check ") {
        ("full", r)
    } else if let Some(r) = ledger.strip_prefix("checked ") {
        ("incremental", r)
    } else {
        panic!("no run on the ledger line: {ledger:?}")
    };
    let (_, rest) = rest.split_once(": ").unwrap();
    let (n, rest) = rest.split_once(' ').unwrap();
    let (first, last) = rest
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .and_then(|(range, _)| range.split_once(" to "))
        .map_or((0, 0), |(a, b)| (a.parse().unwrap(), b.parse().unwrap()));
    (kind.to_owned(), n.parse().unwrap(), first, last)
}

/// A browser logged in as the owner `olive` (made first when `add`).
async fn owner(server: &TestServer, add: bool) -> Browser {
    if add {
        add_user(server, "olive", "owner");
    }
    let mut b = Browser::new(server);
    b.login_ok("olive", PASSWORD).await;
    b
}

/// A webhook receiver the owner's alerts go to.
async fn alerts_hook(server: &TestServer) -> Hook {
    let hook = Hook::start().await;
    send_alerts_to(&mut owner(server, false).await, &hook.url).await;
    hook
}

/// The dashboard's ledger and repair lines, as the owner `olive` sees them.
async fn dashboard(server: &TestServer, login: bool) -> (String, Option<String>) {
    let mut b = owner(server, login).await;
    let html = b.page("/admin").await;
    let check = by_id(&html, "ledger-check")
        .unwrap_or_else(|| panic!("no #ledger-check on the dashboard"))
        .text();
    let repaired = by_id(&html, "database-repaired").map(|e| e.text());
    (check, repaired)
}

/// A data directory with five entries that a server has checked once (a full pass) and then
/// stopped cleanly; the backups' directory, kept alive, and the target in it.
fn checked_once() -> (common::OwnDisk, tempfile::TempDir, std::path::PathBuf) {
    let data = common::OwnDisk::new();
    let backups = tempfile::tempdir().unwrap();
    let b = backups.path().join("b");
    five_entries(data.path());
    let mut server = serve(data.path(), &b, SOON);
    status_until(data.path(), "the first check", |o| {
        o.contains("full check ")
    });
    server.stop().expect("stopped");
    (data, backups, b)
}

/// Starts a server, posts earns one after another and kills it (SIGKILL) while they come.
async fn kill_mid_writes(data: &Path, backups: &Path) {
    let mut server = serve(data, backups, LATER);
    let api = server.client();
    let id = api.create_member(&serde_json::json!({"name": "Hal"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let writer = tokio::spawn(async move {
        let body = serde_json::json!({"kind": "earn", "points": 1});
        loop {
            let req = api
                .request(
                    reqwest::Method::POST,
                    &format!("/members/{id}/transactions"),
                )
                .header("Idempotency-Key", common::fresh_key())
                .json(&body);
            match common::Api::try_send(req).await {
                Ok(r) if r.status == 201 => {}
                // Killed: the answer never came.
                _ => break,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9();
    let _ = tokio::time::timeout(WAIT, writer).await;
}

#[tokio::test]
async fn the_scheduled_check_walks_everything_once_then_only_new_entries() {
    let data = common::OwnDisk::new();
    let backups = tempfile::tempdir().unwrap();
    five_entries(data.path());
    let server = serve(data.path(), &backups.path().join("b"), SOON);

    let out = status_until(data.path(), "the first check", |o| {
        o.contains("full check ")
    });
    let text = stdout(&out);
    assert_eq!(
        run_of(field(&text, "ledger:")),
        ("full".into(), 5, 1, 5),
        "{text}"
    );
    assert!(field(&text, "ledger:").contains(", all intact"), "{text}");
    let (check, repaired) = dashboard(&server, true).await;
    assert!(
        check.starts_with("Ledger fully checked ") && check.ends_with(": 5 entries, all intact."),
        "{check}"
    );
    assert_eq!(repaired, None);

    let api = server.client();
    let id = api.create_member(&serde_json::json!({"name": "Fay"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for p in [1, 2, 3] {
        api.earn(&id, p).await;
    }
    let out = status_until(data.path(), "a check reaching entry 8", |o| {
        o.lines()
            .find_map(|l| l.strip_prefix("ledger:"))
            .is_some_and(|l| l.contains(" to 8)"))
    });
    let text = stdout(&out);
    let (kind, entries, first, last) = run_of(field(&text, "ledger:"));
    // A check may have come between two of the earns; each covers only what came after the last.
    assert_eq!(kind, "incremental", "{text}");
    assert!(first >= 6, "it continues after entry 5: {text}");
    assert_eq!(entries, last - first + 1, "{text}");
    assert_eq!(last, 8, "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.trim_end().ends_with("all well"), "{text}");
    let (check, _) = dashboard(&server, false).await;
    assert!(
        check.starts_with("Ledger checked ") && check.ends_with(" all intact."),
        "{check}"
    );
}

#[tokio::test]
async fn a_tampered_entry_fails_the_full_check_and_status_exits_1() {
    let data = common::OwnDisk::new();
    let backups = tempfile::tempdir().unwrap();
    five_entries(data.path());
    common::tamper(data.path(), 3);
    let server = serve(data.path(), &backups.path().join("b"), SOON);

    let out = status_until(data.path(), "the failed check", |o| o.contains("FAILED"));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        field(&text, "ledger:").contains("FAILED: entry 3: "),
        "{text}"
    );
    let concerns = attention(&text);
    assert_eq!(concerns.len(), 1, "{text}");
    assert!(
        concerns[0].starts_with("- the ledger check failed: entry 3: "),
        "{text}"
    );
    let (check, _) = dashboard(&server, true).await;
    assert!(check.contains("found damage: entry 3: "), "{check}");

    // The owner is told, once: the alert started before the webhook was set, and a channel
    // added while it lasts hears of it.
    let hook = alerts_hook(&server).await;
    let started = hook
        .wait_alerts("started", 30, |a| a.contains(&"ledger".to_owned()))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.alerts("started"), ["ledger"], "{started:?}");
    let body = &hook.bodies()[0];
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.contains("entry 3: ")),
        "{body}"
    );
}

#[tokio::test]
async fn an_entry_tampered_after_the_last_check_fails_the_next_incremental_one() {
    let (data, _backups, b) = checked_once();

    // New entries 6 to 8, with no check in between.
    let mut server = serve(data.path(), &b, LATER);
    let api = server.client();
    let id = api.create_member(&serde_json::json!({"name": "Gus"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for p in [1, 2, 3] {
        api.earn(&id, p).await;
    }
    server.stop().expect("stopped");
    common::tamper(data.path(), 7);

    let _server = serve(data.path(), &b, SOON);
    let out = status_until(data.path(), "the failed check", |o| o.contains("FAILED"));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let ledger = field(&text, "ledger:");
    assert!(
        ledger.starts_with("checked "),
        "an incremental check: {text}"
    );
    assert!(
        ledger.contains("1 entry (6 to 6), FAILED: entry 7: "),
        "{text}"
    );
}

#[tokio::test]
async fn a_killed_server_shows_the_repair_at_start_until_a_full_check_passes() {
    let (data, _backups, b) = checked_once();

    kill_mid_writes(data.path(), &b).await;

    let mut server = serve(data.path(), &b, LATER);
    let out = cli(data.path(), &["status"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("\n             repaired at start "), "{text}");
    let concerns = attention(&text);
    assert!(
        concerns.iter().any(|c| c
            .starts_with("- the database was not shut down cleanly and was repaired at start (")),
        "{text}"
    );
    let (_, repaired) = dashboard(&server, true).await;
    let repaired = repaired.expect("the dashboard shows the repair");
    assert!(
        repaired.contains("was repaired when the server started"),
        "{repaired}"
    );
    let hook = alerts_hook(&server).await;
    let started = hook
        .wait_alerts("started", 30, |a| a.contains(&"database".to_owned()))
        .await;
    assert_eq!(started, ["database"], "the owner is told of the repair");

    // A clean restart keeps it; the next full check that finds everything intact clears it.
    server.stop().expect("stopped");
    let _server = serve(data.path(), &b, SOON);
    let out = status_until(data.path(), "a full check after the repair", |o| {
        field(o, "ledger:").starts_with("full check ") && !o.contains("repaired at start")
    });
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(field(&text, "ledger:").contains("all intact"), "{text}");
    let resolved = hook
        .wait_alerts("resolved", 30, |a| a.contains(&"database".to_owned()))
        .await;
    assert_eq!(resolved, ["database"], "and told once it is cleared");
    assert_eq!(hook.alerts("started"), ["database"], "not told twice");
}

#[tokio::test]
async fn a_repair_made_by_a_command_run_without_a_server_is_kept_too() {
    let data = common::OwnDisk::new();
    let backups = tempfile::tempdir().unwrap();
    five_entries(data.path());
    kill_mid_writes(data.path(), &backups.path().join("b")).await;

    // `fealty verify` with no server opens the file itself, and so repairs it.
    ok(&cli(data.path(), &["verify"]));
    let out = cli(data.path(), &["status"]);
    let text = stdout(&out);
    assert!(text.contains("\n             repaired at start "), "{text}");
    assert!(
        attention(&text).iter().any(|c| c
            .starts_with("- the database was not shut down cleanly and was repaired at start (")),
        "{text}"
    );
}
