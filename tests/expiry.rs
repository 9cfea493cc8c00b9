//! Points expiry against the real binary: the policy set through the API, points earned now and
//! then seen from 400 days later (the hidden `--clock-offset`), the `expire` entries the
//! server's own job writes, and nothing more on a restart or on later runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Api, TestServer, ok};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a start's expiry run may take on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

/// The server on `data`, its expiry job daily (so it runs only at start) or every second.
fn serve(data: &Path, offset: Option<&str>, every: &str) -> TestServer {
    let mut args = vec!["--expire-every", every];
    if let Some(o) = offset {
        args.extend(["--clock-offset", o]);
    }
    TestServer::start_with(data, &args, &[])
}

/// Waits until the server has logged `n` expiry runs.
fn runs(server: &TestServer, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = server
            .stderr_lines()
            .iter()
            .chain(server.stdout_lines().iter())
            .filter(|l| l.contains("points expiry ran"))
            .count();
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} expiry runs within {WAIT:?}; stderr: {:?}",
            server.stderr_lines()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The member's entries of `kind`, as (points, balance_after).
async fn entries(api: &Api, member: &str, kind: &str) -> Vec<(i64, i64)> {
    api.all_transactions(member, 100)
        .await
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| {
            (
                e["points"].as_i64().unwrap(),
                e["balance_after"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn card_page(server: &TestServer, member: &Value) -> String {
    let token = member["card_token"].as_str().unwrap();
    reqwest::get(server.url(&format!("/c/{token}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn points_expire_once_through_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut server = serve(data, None, "1h");
    let key = server.api_key();
    let api = server.client_with(&key);

    // A bad policy is refused and changes nothing.
    for bad in [
        json!({"expiry_rule": "earned", "expiry_months": 0}),
        json!({"expiry_rule": "earned", "expiry_months": 121}),
        json!({"expiry_rule": "inactive"}),
        json!({"expiry_months": 6}),
        json!({"expiry_rule": "sometimes", "expiry_months": 6}),
    ] {
        api.patch("/settings", &bad).await.expect_status(422);
    }
    let s = api.get("/settings").await.expect_status(200);
    assert_eq!(
        (&s["expiry_rule"], &s["expiry_months"]),
        (&json!("off"), &Value::Null)
    );

    let s = api
        .patch(
            "/settings",
            &json!({"expiry_rule": "earned", "expiry_months": 12}),
        )
        .await
        .expect_status(200);
    assert_eq!(
        (&s["expiry_rule"], &s["expiry_months"]),
        (&json!("earned"), &json!(12))
    );
    // A bad change leaves the policy as it was.
    api.patch(
        "/settings",
        &json!({"expiry_rule": "inactive", "expiry_months": 121}),
    )
    .await
    .expect_status(422);
    let s = api.get("/settings").await.expect_status(200);
    assert_eq!(
        (&s["expiry_rule"], &s["expiry_months"]),
        (&json!("earned"), &json!(12))
    );

    let ann = api.create_member(&json!({"name": "Ann"})).await;
    let ann_id = ann["id"].as_str().unwrap().to_owned();
    let ben = api.create_member(&json!({"name": "Ben"})).await;
    let ben_id = ben["id"].as_str().unwrap().to_owned();
    api.earn(&ann_id, 100).await;
    api.transaction(
        &ann_id,
        &common::fresh_key(),
        &json!({"kind": "redeem", "points": 30}),
    )
    .await
    .expect_status(201);
    api.earn(&ben_id, 50).await;

    // The card page names the next points to lapse: the redemption took from Ann's oldest.
    let page = card_page(&server, &ann).await;
    assert!(page.contains("70 points expire on "), "{page}");
    assert_eq!(entries(&api, &ann_id, "expire").await, vec![]);
    server.stop();

    // 400 days later the start's run expires both lots, through the ledger.
    let mut server = serve(data, Some("400d"), "1h");
    let api = server.client_with(&key);
    runs(&server, 1);
    assert_eq!(entries(&api, &ann_id, "expire").await, vec![(-70, 0)]);
    assert_eq!(entries(&api, &ben_id, "expire").await, vec![(-50, 0)]);
    assert_eq!(api.balance(&ann_id).await, 0);
    assert_eq!(api.balance(&ben_id).await, 0);
    let stats = api.get("/stats").await.expect_status(200);
    assert_eq!(stats["points_expired"], 120, "{stats}");
    // Points earned now are fresh: the card names them, nothing expires them yet.
    api.earn(&ann_id, 15).await;
    let page = card_page(&server, &ann).await;
    assert!(page.contains("15 points expire on "), "{page}");

    // A restart, then runs every second: nothing more lapses.
    server.stop();
    let mut server = serve(data, Some("400d"), "1s");
    let api = server.client_with(&key);
    runs(&server, 3);
    assert_eq!(entries(&api, &ann_id, "expire").await, vec![(-70, 0)]);
    assert_eq!(entries(&api, &ben_id, "expire").await, vec![(-50, 0)]);
    assert_eq!(api.balance(&ann_id).await, 15);

    // The chain, the balances and the totals all agree with the expire entries.
    ok(&server.cli(&["verify"]));
    server.stop();
}

#[tokio::test]
async fn the_owner_sets_expiry_on_the_settings_page() {
    use common::pages::{Browser, PASSWORD, add_user, form};
    let server = TestServer::start();
    add_user(&server, "olive", "owner");
    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;
    let page = b.get("/admin/settings").await;
    assert!(page.text.contains("Points expiry"), "{}", page.text);
    let refused = b
        .submit(
            &form(&page.text, "expiry"),
            &[("expiry_rule", "inactive"), ("expiry_months", "0")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("between 1 and 120"),
        "{}",
        refused.text
    );
    let page = b.get("/admin/settings").await;
    let saved = b
        .submit(
            &form(&page.text, "expiry"),
            &[("expiry_rule", "inactive"), ("expiry_months", "6")],
        )
        .await;
    saved.expect_redirect("/admin/settings?saved=1#expiry-settings");
    let s = server.client().get("/settings").await.expect_status(200);
    assert_eq!(
        (&s["expiry_rule"], &s["expiry_months"]),
        (&json!("inactive"), &json!(6))
    );
}

/// The card's "N points expire on …" sentence.
fn notice(page: &str) -> String {
    let at = page.find(" expire on ").expect("an expiry notice");
    let start = page[..at].rfind('>').map_or(0, |i| i + 1);
    let end = at + page[at..].find('<').expect("the notice ends");
    page[start..end].to_owned()
}

#[tokio::test]
async fn the_next_expiry_stays_right_when_the_kept_lots_no_longer_hold() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut server = serve(data, None, "1h");
    let key = server.api_key();
    let api = server.client_with(&key);
    api.patch(
        "/settings",
        &json!({"expiry_rule": "earned", "expiry_months": 12}),
    )
    .await
    .expect_status(200);
    let ann = api.create_member(&json!({"name": "Ann"})).await;
    let id = ann["id"].as_str().unwrap().to_owned();
    api.earn(&id, 100).await;
    api.transaction(
        &id,
        &common::fresh_key(),
        &json!({"kind": "redeem", "points": 30}),
    )
    .await
    .expect_status(201);
    api.earn(&id, 20).await;
    let twelve = notice(&card_page(&server, &ann).await);
    assert!(twelve.starts_with("90 points expire on "), "{twelve}");

    // Six months instead: the lots kept under twelve no longer hold, and the card still answers
    // right at once (from the history) ...
    api.patch(
        "/settings",
        &json!({"expiry_rule": "earned", "expiry_months": 6}),
    )
    .await
    .expect_status(200);
    let six = notice(&card_page(&server, &ann).await);
    assert!(six.starts_with("90 points expire on "), "{six}");
    assert_ne!(six, twelve);
    server.stop();

    // ... and the start's run keeps them again, with the same answer.
    let mut server = serve(data, None, "1h");
    runs(&server, 1);
    let kept = server
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("expiry lots kept from the ledger"))
        .cloned()
        .collect::<Vec<_>>();
    assert!(kept.len() == 1 && kept[0].contains("members=1"), "{kept:?}");
    assert_eq!(notice(&card_page(&server, &ann).await), six);
    // Entries after that keep the summary in their own write.
    let api = server.client_with(&key);
    api.earn(&id, 5).await;
    let page = card_page(&server, &ann).await;
    assert_eq!(notice(&page), six.replacen("90", "95", 1));
    server.stop();
    // A second start finds nothing to keep.
    let mut server = serve(data, None, "1h");
    runs(&server, 1);
    assert!(
        !server
            .stderr_lines()
            .iter()
            .any(|l| l.contains("expiry lots kept from the ledger")),
        "{:?}",
        server.stderr_lines()
    );
    ok(&server.cli(&["verify"]));
    server.stop();
}
