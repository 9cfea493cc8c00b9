//! Every change made through the API or the CLI leaves an audit record: who, what, when.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use fealty::storage::audit::AuditRecord;
use fealty::storage::tables::AUDIT;
use redb::{ReadableDatabase, ReadableTableMetadata};
use serde_json::json;

#[tokio::test]
async fn api_and_cli_changes_are_audited_with_their_actor() {
    let mut server = TestServer::start();
    let key = server.api_key();
    let key_id = common::key_id(&key).to_owned();
    let api = server.client_with(&key);

    let m = api.create_member(&json!({"name": "Audit Me"})).await;
    let id = m["id"].as_str().unwrap().to_owned();
    api.transaction(&id, "a1", &json!({"kind": "earn", "points": 5}))
        .await
        .expect_status(201);
    api.patch(&format!("/members/{id}"), &json!({"status": "blocked"}))
        .await
        .expect_status(200);
    // Refused changes leave no record.
    api.transaction(&id, "a2", &json!({"kind": "redeem", "points": 500}))
        .await
        .expect_problem(409, "member_blocked");
    let revoke = server.cli(&["apikey", "revoke", "000000000000"]);
    assert!(!revoke.status.success());
    server.stop();

    let db = redb::Database::open(server.data_dir().join("fealty.redb")).unwrap();
    let tx = db.begin_read().unwrap();
    // Point changes are stored as references to their ledger entries; reading the trail
    // rebuilds who, what and when from the entry.
    assert_eq!(tx.open_table(AUDIT).unwrap().len().unwrap(), 4);
    let mut records: Vec<AuditRecord> = fealty::storage::audit::recent(&tx, 100).unwrap();
    records.reverse();
    let seen: Vec<(String, String, String)> = records
        .iter()
        .map(|r| (r.actor.to_string(), r.action.clone(), r.target.clone()))
        .collect();
    let by_key = format!("api_key:{key_id}");
    assert_eq!(
        seen,
        vec![
            ("cli".to_owned(), "apikey.create".to_owned(), key_id.clone()),
            (by_key.clone(), "member.create".to_owned(), id.clone()),
            (by_key.clone(), "points.earn".to_owned(), id.clone()),
            (by_key, "member.update".to_owned(), id),
        ],
        "one record per change, in order, none for refusals"
    );
    assert_eq!(records[3].detail, json!({"changed": ["status"]}));
    assert_eq!(records[2].detail, json!({"seq": 1, "points": 5}));
    assert!(
        records
            .windows(2)
            .all(|w| w[0].at <= w[1].at && w[0].seq < w[1].seq)
    );
}
