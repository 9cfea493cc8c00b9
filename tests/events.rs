//! Outbound events, end to end: a receiver on loopback that fails the first attempts and checks
//! every signature sees each event exactly once after the retries; a receiver that never
//! answers does not slow earns nor the other endpoints; a bad address is refused and changes
//! nothing; an event waiting to be tried again survives a crash; the owner manages it all on
//! the admin page.

#![expect(clippy::expect_used, reason = "tests fail loudly")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use axum::http::{HeaderMap, StatusCode};
use common::TestServer;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// The secret to check signatures with, once the endpoint is registered.
    secret: Option<String>,
    /// Attempts per event id.
    attempts: HashMap<String, u32>,
    /// Bodies accepted (answered 2xx), in order.
    accepted: Vec<Value>,
    /// Requests whose signature did not check out.
    bad_signatures: u32,
    /// Answer every request with 503 while set.
    down: bool,
}

/// Checks `FealTY-Signature: t=..,v1=..` over `"{t}.{body}"`.
fn signed(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let Some(sig) = headers
        .get("fealty-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (time::OffsetDateTime::now_utc().unix_timestamp() - t).abs() < 300);
    let header_t = headers
        .get("fealty-timestamp")
        .and_then(|v| v.to_str().ok());
    fresh
        && header_t == Some(t.as_str())
        && fealty::crypto::hmac_sha256_hex(secret.as_bytes(), format!("{t}.{body}").as_bytes())
            == v1
}

/// A receiver that answers 500 to the first `fail_first` attempts of each event.
async fn receiver(fail_first: u32) -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let kept = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let kept = Arc::clone(&kept);
            async move {
                let mut s = kept.lock().unwrap();
                let secret = s.secret.clone().unwrap_or_default();
                if !signed(&secret, &headers, &body) {
                    s.bad_signatures += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let v: Value = serde_json::from_str(&body).unwrap();
                let id = v["id"].as_str().unwrap().to_owned();
                assert_eq!(
                    headers.get("fealty-event-id").and_then(|h| h.to_str().ok()),
                    Some(id.as_str())
                );
                let down = s.down;
                let n = s.attempts.entry(id.clone()).or_default();
                *n += 1;
                if down {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                if *n <= fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                // A receiver dedupes by event id: a second delivery would show here.
                s.accepted.push(v);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

/// A receiver that takes the request and never answers.
async fn hanging() -> String {
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn start() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--events-retry-first", "1s"], &[]);
    (dir, server)
}

async fn wait_for<T>(limit: Duration, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_arrives_signed_and_once_after_failed_attempts() {
    let (_dir, server) = start();
    let api = server.client();
    let (url, seen) = receiver(2).await;

    let created = api
        .post("/webhooks", &json!({ "url": url }))
        .await
        .expect_status(201);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    seen.lock().unwrap().secret = Some(secret.clone());
    // The secret is shown once: the list never holds it.
    let list = api.get("/webhooks").await.expect_status(200);
    assert!(!list.to_string().contains(&secret), "{list}");

    let member = api.create_member(&json!({ "name": "Ada" })).await;
    let id = member["id"].as_str().unwrap();
    let card = member["card_number"].as_str().unwrap();
    let key = common::fresh_key();
    let earn_body = json!({ "kind": "earn", "points": 40, "reference": "order-17" });
    let earned = api
        .transaction(id, &key, &earn_body)
        .await
        .expect_status(201);
    // A retried earn and a refused redemption queue nothing: only what is written is told.
    let again = api.transaction(id, &key, &earn_body).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    api.transaction(
        id,
        &common::fresh_key(),
        &json!({ "kind": "redeem", "points": 1000 }),
    )
    .await
    .expect_problem(409, "insufficient_points");
    let seq = earned["entry"]["seq"]
        .as_u64()
        .or_else(|| earned["seq"].as_u64())
        .expect("the entry's sequence number");
    api.post_idem(
        &format!("/transactions/{seq}/reverse"),
        &common::fresh_key(),
        &json!({}),
    )
    .await
    .expect_status(201);

    let accepted = wait_for(
        Duration::from_secs(30),
        "three events accepted",
        async || {
            let s = seen.lock().unwrap();
            (s.accepted.len() >= 3).then(|| s.accepted.clone())
        },
    )
    .await;
    // Every delivery is recorded as delivered after three attempts, so none comes again.
    let deliveries = wait_for(Duration::from_secs(10), "deliveries recorded", async || {
        let list = api.get("/webhooks").await.expect_status(200);
        let d = list["items"][0]["deliveries"].as_array().unwrap().clone();
        (d.len() == 3 && d.iter().all(|d| d["state"] == "delivered")).then_some(d)
    })
    .await;
    for d in &deliveries {
        assert_eq!(d["attempts"], 3, "{d}");
        assert!(
            d["last_error"].as_str().unwrap().contains("500"),
            "the failed attempts are recorded: {d}"
        );
    }
    let s = seen.lock().unwrap();
    assert_eq!(s.bad_signatures, 0);
    assert_eq!(s.accepted.len(), 3, "each event once: {:?}", s.accepted);
    assert!(s.attempts.values().all(|n| *n == 3), "{:?}", s.attempts);
    drop(s);

    // Deliveries run side by side, so they may arrive in any order; the body says when.
    let of = |kind: &str| {
        let found: Vec<&Value> = accepted.iter().filter(|v| v["type"] == kind).collect();
        assert_eq!(found.len(), 1, "one {kind}: {accepted:?}");
        found[0].clone()
    };
    let joined = of("member.created");
    let earn = &of("points.earned")["data"];
    assert_eq!(earn["member_id"], id);
    assert_eq!(earn["card_number"], card);
    assert_eq!(earn["points"], 40);
    assert_eq!(earn["balance_after"], 40);
    assert_eq!(earn["reference"], "order-17");
    assert_eq!(earn["entry"], seq);
    assert!(earn.get("name").is_none(), "no personal data: {earn}");
    let reversed = &of("points.reversed")["data"];
    assert_eq!(reversed["points"], -40);
    assert_eq!(reversed["balance_after"], 0);
    assert_eq!(joined["data"]["card_number"], card);
    assert!(joined["data"].get("points").is_none(), "{joined}");
    assert!(joined["created_at"].as_str().is_some(), "{joined}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_slow_earns() {
    let (_dir, server) = start();
    let api = server.client();
    let url = hanging().await;
    api.post("/webhooks", &json!({ "url": url }))
        .await
        .expect_status(201);
    // A second endpoint that answers at once.
    let (good, seen) = receiver(0).await;
    let created = api
        .post("/webhooks", &json!({ "url": good }))
        .await
        .expect_status(201);
    seen.lock().unwrap().secret = created["secret"].as_str().map(str::to_owned);
    let member = api.create_member(&json!({ "name": "Bo" })).await;
    let id = member["id"].as_str().unwrap().to_owned();

    // Each attempt hangs until its 10 s timeout; an earn that waited for one would take that long.
    let mut slowest = Duration::ZERO;
    // (Ten, so every delivery is among the 20 the list shows.)
    for _ in 0..10 {
        let t = Instant::now();
        api.earn(&id, 1).await;
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "an earn took {slowest:?} while the endpoint hung"
    );
    assert_eq!(api.balance(&id).await, 10);

    // The endpoint that answers gets every event although the other hangs.
    wait_for(
        Duration::from_secs(8),
        "the other endpoint served",
        async || (seen.lock().unwrap().accepted.len() == 11).then_some(()),
    )
    .await;
    assert_eq!(seen.lock().unwrap().bad_signatures, 0);

    // The hang was real: the attempts time out and are recorded as failures to retry.
    wait_for(Duration::from_secs(30), "a timed-out attempt", async || {
        let list = api.get("/webhooks").await.expect_status(200);
        let items = list["items"].as_array().unwrap();
        let hung = items.iter().find(|i| i["url"] == url.as_str()).unwrap();
        let d = hung["deliveries"].as_array().unwrap().clone();
        d.iter()
            .any(|d| {
                d["state"] == "pending"
                    && d["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("no answer"))
            })
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_address_is_refused_and_changes_nothing() {
    let (_dir, server) = start();
    let api = server.client();
    for bad in [
        "ftp://example.com/x",
        "example.com",
        "https://",
        "https://a b",
    ] {
        let p = api
            .post("/webhooks", &json!({ "url": bad }))
            .await
            .expect_problem(422, "invalid_field");
        assert!(
            p["detail"].as_str().unwrap().contains("https://"),
            "a readable reason: {p}"
        );
    }
    let list = api.get("/webhooks").await.expect_status(200);
    assert_eq!(list["items"], json!([]));

    // At most five, each address once.
    for n in 0..5 {
        api.post(
            "/webhooks",
            &json!({ "url": format!("http://127.0.0.1:9/{n}") }),
        )
        .await
        .expect_status(201);
    }
    let p = api
        .post("/webhooks", &json!({ "url": "http://127.0.0.1:9/0" }))
        .await
        .expect_problem(422, "invalid_field");
    assert!(
        p["detail"].as_str().unwrap().contains("registered already"),
        "{p}"
    );
    let p = api
        .post("/webhooks", &json!({ "url": "http://127.0.0.1:9/5" }))
        .await
        .expect_problem(422, "invalid_field");
    assert!(p["detail"].as_str().unwrap().contains("At most 5"), "{p}");
    let list = api.get("/webhooks").await.expect_status(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 5);

    // Removing one: 204, then 404.
    let first = list["items"][0]["id"].as_str().unwrap().to_owned();
    let del = |id: String| {
        let api = api.clone();
        async move {
            api.send(api.request(reqwest::Method::DELETE, &format!("/webhooks/{id}")))
                .await
        }
    };
    assert_eq!(del(first.clone()).await.status, 204);
    del(first).await.expect_problem(404, "not_found");

    // A key without the scope may neither list nor add.
    let narrow = api.with_key(&server.api_key_with("till", &["points:write"]));
    narrow
        .get("/webhooks")
        .await
        .expect_problem(403, "forbidden");
    narrow
        .post("/webhooks", &json!({ "url": "https://example.com/x" }))
        .await
        .expect_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_adds_an_address_and_sees_its_deliveries_on_the_admin_page() {
    use common::pages::*;
    let (_dir, server) = start();
    add_user(&server, "olive", "owner");
    add_user(&server, "sam", "staff");
    let api = server.client();
    let (url, seen) = receiver(1).await;

    let mut staff = Browser::new(&server);
    staff.login_ok("sam", PASSWORD).await;
    staff.get("/admin/webhooks").await.expect(403);

    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;
    let html = b.page("/admin/webhooks").await;
    assert!(by_id(&html, "no-endpoints").is_some(), "{}", snippet(&html));

    // A bad address: the form again with the reason beside the field; nothing stored.
    let f = form(&html, "new-webhook");
    let refused = b.submit(&f, &[("url", "ftp://example.com/x")]).await;
    refused.expect(422);
    let err = by_id(&refused.text, "url-error").expect("the reason beside the field");
    assert!(err.text().contains("https://"), "{}", err.text());
    assert_eq!(
        api.get("/webhooks").await.expect_status(200)["items"],
        json!([])
    );

    let added = b.submit(&f, &[("url", url.as_str())]).await;
    added.expect(200);
    let secret = by_id(&added.text, "new-secret")
        .expect("the secret, shown once")
        .text()
        .trim()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    seen.lock().unwrap().secret = Some(secret.clone());
    assert!(
        !b.page("/admin/webhooks").await.contains(&secret),
        "shown only once"
    );

    let member = api.create_member(&json!({ "name": "Cy" })).await;
    api.earn(member["id"].as_str().unwrap(), 5).await;
    let row = wait_for(
        Duration::from_secs(20),
        "the earn delivered on the page",
        async || {
            let html = b.page("/admin/webhooks").await;
            let rows = select(&html, |t| t.name == "tr" && t.has_attr("data-event"));
            rows.iter()
                .map(|r| {
                    (
                        cell(r, "td", "event").unwrap_or_default(),
                        cell(r, "td", "status").unwrap_or_default(),
                        cell(r, "td", "attempts").unwrap_or_default(),
                        cell(r, "td", "error").unwrap_or_default(),
                    )
                })
                .find(|(e, s, _, _)| e == "points.earned" && s == "delivered")
        },
    )
    .await;
    assert_eq!(row.2, "2", "one failed attempt, then delivered: {row:?}");
    assert!(row.3.contains("500"), "the failure is shown: {row:?}");

    let html = b.page("/admin/webhooks").await;
    let id = api.get("/webhooks").await.expect_status(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let remove = form_by_action(&html, &format!("/admin/webhooks/{id}/remove")).expect("remove");
    b.submit(&remove, &[])
        .await
        .expect_redirect("/admin/webhooks");
    assert_eq!(
        api.get("/webhooks").await.expect_status(200)["items"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_not_yet_delivered_survives_a_crash() {
    let (dir, mut server) = start();
    let api = server.client();
    let (url, seen) = receiver(0).await;
    let created = api
        .post("/webhooks", &json!({ "url": url }))
        .await
        .expect_status(201);
    {
        let mut s = seen.lock().unwrap();
        s.secret = created["secret"].as_str().map(str::to_owned);
        s.down = true;
    }
    let member = api.create_member(&json!({ "name": "Di" })).await;
    let id = member["id"].as_str().unwrap().to_owned();
    api.earn(&id, 7).await;
    wait_for(Duration::from_secs(10), "both events tried", async || {
        (seen.lock().unwrap().attempts.len() == 2).then_some(())
    })
    .await;

    // Killed while both wait to be tried again; the receiver comes back meanwhile.
    server.kill9();
    seen.lock().unwrap().down = false;
    let server = TestServer::start_with(dir.path(), &["--events-retry-first", "1s"], &[]);
    let api = server.client();
    let accepted = wait_for(Duration::from_secs(20), "both delivered", async || {
        let s = seen.lock().unwrap();
        (s.accepted.len() == 2).then(|| s.accepted.clone())
    })
    .await;
    let mut types: Vec<&str> = accepted
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["member.created", "points.earned"]);
    assert_eq!(api.balance(&id).await, 7);
    assert_eq!(seen.lock().unwrap().bad_signatures, 0);
}
