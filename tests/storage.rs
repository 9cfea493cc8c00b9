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
