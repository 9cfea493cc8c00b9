//! Storage v5 through the real binary: a database written by the v4 binary migrates in place,
//! keeps every hash, answers its old idempotency keys the same way, and the chain continues
//! across the seam in the new hash input; the documented hash layouts verify an export with a
//! short script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db-v4")
}

/// A data directory holding a copy of the v4 fixture database.
fn v4_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::copy(fixture().join("fealty.redb"), data.join("fealty.redb")).unwrap();
    dir
}

fn export(data: &Path) -> Value {
    let out = common::cli(data, &["export", "--format", "json"]);
    serde_json::from_str(&common::ok(&out)).unwrap()
}

/// Every table in the file is in the registry (so backups, restore and verify know it), and
/// the retired history index is gone.
fn assert_every_table_is_registered(data: &Path) {
    use redb::TableHandle;
    let db = redb::Database::open(data.join("fealty.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    let names: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    for name in &names {
        assert!(
            fealty::storage::tables::REGISTRY
                .iter()
                .any(|t| &t.name == name),
            "table {name} is not in the registry"
        );
    }
    assert!(!names.iter().any(|n| n == "member_ledger"), "{names:?}");
}

const BODY_FIELDS: [&str; 15] = [
    "seq",
    "member_id",
    "kind",
    "points",
    "balance_after",
    "reason",
    "source",
    "reference",
    "idempotency_key",
    "reverses",
    "reward_id",
    "amount",
    "created_at",
    "prev_hash",
    "hash",
];

#[tokio::test]
async fn a_v4_database_migrates_in_place_keeps_its_hashes_and_its_idempotency_answers() {
    let dir = v4_copy();
    let data = dir.path().join("data");
    let before: Value =
        serde_json::from_slice(&std::fs::read(fixture().join("export-v4.json")).unwrap()).unwrap();
    let old = before["ledger"].as_array().unwrap();
    assert_eq!(old.len(), 8);

    // The first open migrates; verify then walks the chain written by v4.
    let verified = common::ok(&common::cli(&data, &["verify"]));
    assert!(verified.contains("8 entries, 3 members"), "{verified}");

    let after = export(&data);
    let new = after["ledger"].as_array().unwrap();
    assert_eq!(new.len(), old.len());
    for (o, n) in old.iter().zip(new) {
        for f in BODY_FIELDS {
            assert_eq!(
                o[f], n[f],
                "entry {} field {f} changed in the migration",
                o["seq"]
            );
        }
        assert_eq!(n["hash_input"], 1, "entries from v4 keep hash input 1");
    }
    assert_eq!(before["members"], after["members"]);

    // The shop retries a request it made to the v4 server: same answer, nothing new.
    let key = std::fs::read_to_string(fixture().join("api-key.txt")).unwrap();
    let mut server = TestServer::start_in(&data);
    let api = server.client_with(key.trim());
    let ada = old[0]["member_id"].as_str().unwrap().to_owned();
    let replay = api
        .transaction(
            &ada,
            "fx-1",
            &json!({"kind": "earn", "points": 50, "reference": "order-1001"}),
        )
        .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let body = replay.expect_status(201);
    for f in BODY_FIELDS {
        assert_eq!(body["entry"][f], old[0][f], "replayed field {f}");
    }
    // Its balance is the one the first answer gave (the entry's balance after).
    assert_eq!(body["balance"], old[0]["balance_after"]);
    // The same key with another body is still refused.
    api.transaction(&ada, "fx-1", &json!({"kind": "earn", "points": 51}))
        .await
        .expect_problem(422, "idempotency_key_reused");

    // New entries continue the chain with hash input 2.
    let fresh = api
        .transaction(&ada, "after-seam", &json!({"kind": "earn", "points": 4}))
        .await
        .expect_status(201);
    assert_eq!(fresh["entry"]["seq"], 9);
    assert_eq!(fresh["entry"]["hash_input"], 2);
    assert_eq!(fresh["entry"]["prev_hash"], old[7]["hash"]);
    let history = api.all_transactions(&ada, 100).await;
    assert_eq!(history.len(), 4, "the member's history index was rebuilt");
    server.stop();

    let verified = common::ok(&common::cli(&data, &["verify"]));
    assert!(verified.contains("9 entries"), "{verified}");
    assert_every_table_is_registered(&data);

    // An owner can re-verify the whole chain from an export with the documented script.
    let exported = dir.path().join("export.json");
    std::fs::write(&exported, serde_json::to_vec(&export(&data)).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify-ledger.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("9 entries"));

    // ... and the script notices an altered entry.
    let mut tampered = export(&data);
    tampered["ledger"][3]["points"] = json!(-1);
    std::fs::write(&exported, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&exported)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 4"));
}

#[tokio::test]
async fn audit_rows_of_point_changes_point_at_their_entries_and_read_as_before() {
    let dir = v4_copy();
    let data = dir.path().join("data");
    common::ok(&common::cli(&data, &["verify"]));
    let db = redb::Database::open(data.join("fealty.redb")).unwrap();
    let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
    let records = fealty::storage::audit::recent(&tx, 100).unwrap();
    let points: Vec<_> = records
        .iter()
        .filter(|r| r.action.starts_with("points."))
        .collect();
    assert_eq!(points.len(), 8);
    let reverse = points
        .iter()
        .find(|r| r.action == "points.reverse")
        .unwrap();
    assert_eq!(reverse.detail, json!({"seq": 8, "points": -7}));
    assert!(reverse.actor.to_string().starts_with("api_key:"));
}

/// Waits until the server's log has a line containing `text`.
fn wait_for_log(server: &TestServer, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(l) = server
            .stderr_lines()
            .iter()
            .find(|l| l.contains(text))
            .cloned()
        {
            return l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line with {text:?}: {:?}",
            server.stderr_lines()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test]
async fn idempotency_records_answer_within_their_window_and_are_swept_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = common::api_key(&data, "sweep", &[]);
    let mut server = TestServer::start_with(&data, &[], &[]);
    let api = server.client_with(&key);
    let m = api.create_member(&json!({"name": "Sweep Me"})).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let first = api
        .transaction(&id, "order-77", &json!({"kind": "earn", "points": 5}))
        .await
        .expect_status(201);
    // Inside the window (30 days by default) a retry is answered exactly as the first time.
    let again = api
        .transaction(&id, "order-77", &json!({"kind": "earn", "points": 5}))
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.expect_status(201), first);
    wait_for_log(&server, "swept");
    server.stop();

    // With a one-second window, the sweep at start forgets it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut server = TestServer::start_with(&data, &["--keep-idempotency", "1s"], &[]);
    let line = wait_for_log(&server, "swept");
    assert!(line.contains("idempotency_records=1"), "{line}");
    let api = server.client_with(&key);
    let later = api
        .transaction(&id, "order-77", &json!({"kind": "earn", "points": 5}))
        .await;
    assert_eq!(later.header("idempotent-replayed"), None);
    assert_eq!(later.expect_status(201)["entry"]["seq"], 2);
    server.stop();

    let bad = common::fealty_env(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--keep-idempotency",
            "soon",
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(common::stderr(&bad).contains("is not a window like 30d"));
}

/// The safety copies in `data`'s safety directory, by name.
fn safety_copies(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("safety"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with("fealty-") && n.ends_with(".fbk"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The v4 fixture as a cleanly shut down v4 file: redb's repair (which changes no data) done,
/// so that the next open writes nothing before it migrates.
fn clean_v4_copy() -> tempfile::TempDir {
    let dir = v4_copy();
    drop(redb::Database::open(dir.path().join("data/fealty.redb")).unwrap());
    dir
}

#[test]
fn an_upgrade_writes_a_safety_copy_first_that_restores_to_the_data_before_the_migration() {
    let dir = v4_copy();
    let data = dir.path().join("data");

    let mut server = TestServer::start_in(&data);
    let logged = wait_for_log(&server, "safety copy before migrating schema 4 → 5: ");
    server.stop();
    let copies = safety_copies(&data);
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = data.join("safety").join(&copies[0]);
    assert!(
        logged.ends_with(&copy.display().to_string()),
        "the log names the copy: {logged}"
    );
    // It is a regular backup file of the file as it was: format 2, schema 4.
    let text = std::fs::read(&copy).unwrap();
    let mut lines = text.split(|b| *b == b'\n');
    assert_eq!(lines.next(), Some(&b"FEALTY-BACKUP 2"[..]));
    let header: Value = serde_json::from_slice(lines.next().unwrap()).unwrap();
    assert_eq!(
        (
            &header["schema_version"],
            &header["entries"],
            &header["members"]
        ),
        (&json!(4), &json!(8), &json!(3))
    );

    // A current file opens without another copy.
    let verified = common::ok(&common::cli(&data, &["verify"]));
    assert_eq!(safety_copies(&data), copies);

    // The copy restores, through the ordinary restore, to what v4 held: the same entries with
    // their v4 hashes, members and chain, migrated as the original was.
    let restored = dir.path().join("restored");
    let from = format!("file:{}", data.join("safety").display());
    let out = common::cli(&restored, &["restore", "--from", &from]);
    assert!(
        common::ok(&out).contains("8 entries"),
        "{}",
        common::stdout(&out)
    );
    let before: Value =
        serde_json::from_slice(&std::fs::read(fixture().join("export-v4.json")).unwrap()).unwrap();
    let back = export(&restored);
    let (old, new) = (
        before["ledger"].as_array().unwrap(),
        back["ledger"].as_array().unwrap(),
    );
    assert_eq!(old.len(), new.len());
    for (o, n) in old.iter().zip(new) {
        for f in BODY_FIELDS {
            assert_eq!(o[f], n[f], "entry {} field {f} after the restore", o["seq"]);
        }
    }
    assert_eq!(before["members"], back["members"]);
    assert_eq!(
        back,
        export(&data),
        "the restored copy is the migrated original"
    );
    assert_eq!(
        common::ok(&common::cli(&restored, &["verify"])),
        verified,
        "its chain verifies as the original's did"
    );
}

#[test]
fn a_safety_copy_that_cannot_be_written_stops_the_migration_and_leaves_the_file_as_it_was() {
    let dir = clean_v4_copy();
    let data = dir.path().join("data");
    let file = data.join("fealty.redb");
    let before = std::fs::read(&file).unwrap();
    // A file where the safety directory should be: the copy cannot be made.
    std::fs::write(data.join("safety"), b"in the way").unwrap();

    let line = common::fails(&common::cli(&data, &["verify"]));
    assert!(
        line.contains(
            "cannot write the safety copy before migrating the database from schema 4 to 5"
        ) && line.contains("the database was not changed"),
        "{line}"
    );
    assert!(
        std::fs::read(&file).unwrap() == before,
        "the file is byte for byte as it was"
    );

    // Once the way is clear, the migration runs after its copy.
    std::fs::remove_file(data.join("safety")).unwrap();
    let verified = common::ok(&common::cli(&data, &["verify"]));
    assert!(verified.contains("8 entries, 3 members"), "{verified}");
    assert_eq!(safety_copies(&data).len(), 1);
}
