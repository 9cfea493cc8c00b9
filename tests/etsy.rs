//! Etsy polling against a real `fealty serve` process and a stand-in for Etsy's Open API v3 on
//! loopback that serves receipts in Etsy's documented shape.

#![expect(clippy::expect_used, reason = "tests fail loudly")]
#![allow(clippy::unwrap_used)]

mod common;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::pages::{self, Browser, PASSWORD, add_user};
use common::{Api, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEYSTRING: &str = "1aa2bb33c44d55eeeeee6fff";
const SHARED_SECRET: &str = "ab12cd34ef";
const SHOP_ID: u64 = 31_415_926;
const FIRST_ACCESS: &str = "12345678.first-access-token";
const FIRST_REFRESH: &str = "12345678.first-refresh-token";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/hooks/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

fn receipt(id: u64, email: &str, minor: i64, updated: i64) -> Value {
    let mut r = fixture("etsy-receipt.json");
    r["receipt_id"] = json!(id);
    r["buyer_email"] = json!(email);
    r["grandtotal"]["amount"] = json!(minor);
    r["updated_timestamp"] = json!(updated);
    r["update_timestamp"] = json!(updated);
    r
}

/// What the stand-in for Etsy holds and has seen.
#[derive(Default)]
struct Etsy {
    receipts: Vec<Value>,
    access: String,
    refresh: String,
    down: bool,
    refreshes: usize,
    receipt_requests: usize,
    /// A request whose `x-api-key` or bearer was wrong in a way a refresh does not mend.
    bad_key: bool,
    issued: usize,
}

type Shared = Arc<Mutex<Etsy>>;

async fn receipts(
    State(etsy): State<Shared>,
    Path(shop): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut e = etsy.lock().unwrap();
    e.receipt_requests += 1;
    if e.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    if h("x-api-key") != format!("{KEYSTRING}:{SHARED_SECRET}") {
        e.bad_key = true;
        return (StatusCode::FORBIDDEN, "bad key").into_response();
    }
    if h("authorization") != format!("Bearer {}", e.access) {
        let body =
            json!({"error": "invalid_token", "error_description": "access token is expired"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    if shop != SHOP_ID {
        return StatusCode::NOT_FOUND.into_response();
    }
    let num = |k: &str, d: i64| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let since = num("min_last_modified", 0);
    let limit = usize::try_from(num("limit", 25)).unwrap().min(100);
    let offset = usize::try_from(num("offset", 0)).unwrap();
    assert_eq!(q.get("sort_on").map(String::as_str), Some("updated"));
    assert_eq!(q.get("sort_order").map(String::as_str), Some("asc"));
    let mut matching: Vec<&Value> = e
        .receipts
        .iter()
        .filter(|r| r["updated_timestamp"].as_i64().unwrap() >= since)
        .filter(|r| q.get("was_paid").is_none_or(|_| r["is_paid"] == true))
        .collect();
    // Etsy orders ties as it likes: the same second comes newest receipt first here.
    matching.sort_by_key(|r| {
        (
            r["updated_timestamp"].as_i64().unwrap(),
            std::cmp::Reverse(r["receipt_id"].as_u64().unwrap()),
        )
    });
    let count = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    axum::Json(json!({"count": count, "results": page})).into_response()
}

async fn token(State(etsy): State<Shared>, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap();
    let mut e = etsy.lock().unwrap();
    let ok = form.get("grant_type").map(String::as_str) == Some("refresh_token")
        && form.get("client_id").map(String::as_str) == Some(KEYSTRING)
        && form.get("refresh_token") == Some(&e.refresh);
    if !ok {
        let body =
            json!({"error": "invalid_grant", "error_description": "refresh token is invalid"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    e.refreshes += 1;
    e.issued += 1;
    e.access = format!("12345678.access-{}", e.issued);
    e.refresh = format!("12345678.refresh-{}", e.issued);
    axum::Json(json!({
        "access_token": e.access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": e.refresh
    }))
    .into_response()
}

struct FakeEtsy {
    url: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FakeEtsy {
    async fn start() -> FakeEtsy {
        let state: Shared = Arc::new(Mutex::new(Etsy {
            access: FIRST_ACCESS.into(),
            refresh: FIRST_REFRESH.into(),
            ..Etsy::default()
        }));
        let app = axum::Router::new()
            .route("/v3/application/shops/{shop}/receipts", get(receipts))
            .route("/v3/public/oauth/token", post(token))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeEtsy { url, state, task }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Etsy) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

impl Drop for FakeEtsy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn serve(dir: &std::path::Path, etsy: &FakeEtsy) -> TestServer {
    TestServer::start_with(
        dir,
        &["--etsy-api-base", &etsy.url, "--etsy-poll-every", "1s"],
        &[],
    )
}

async fn put_etsy(api: &Api, body: &Value) -> common::Resp {
    api.send(api.request(Method::PUT, "/integrations/etsy").json(body))
        .await
}

fn connect() -> Value {
    json!({
        "enabled": true,
        "api_key": format!("{KEYSTRING}:{SHARED_SECRET}"),
        "shop_id": SHOP_ID.to_string(),
        "access_token": FIRST_ACCESS,
        "refresh_token": FIRST_REFRESH,
        "poll_minutes": 5,
    })
}

/// Polls `check` every 100 ms until it holds or `secs` pass; the last value either way.
async fn until<T: std::fmt::Debug>(
    secs: u64,
    mut probe: impl AsyncFnMut() -> T,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = probe().await;
        if check(&v) || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for a poll that starts after this call and ends; returns the status then.
async fn next_poll(api: &Api) -> Value {
    let before = api.get("/integrations/etsy").await.expect_status(200)["last_poll"].clone();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    until(
        20,
        async || api.get("/integrations/etsy").await.expect_status(200),
        |v| v["last_poll"] != before && !v["last_poll"].is_null(),
    )
    .await
}

#[tokio::test]
async fn receipts_award_once_across_pages_polls_refunds_and_restarts() {
    let etsy = FakeEtsy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), &etsy);
    let api = server.client();
    let jane = api
        .create_member(&json!({"name": "Jane", "email": "jane@example.com"}))
        .await;
    let jane = jane["id"].as_str().unwrap().to_owned();

    // Etsy sends no webhooks: the webhook address is not served for it.
    let r = reqwest::Client::new()
        .post(server.url("/hooks/etsy"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Bad settings are refused with the field named, and change nothing.
    let with = |k: &str, v: Value| {
        let mut body = connect();
        body[k] = v;
        body
    };
    for (body, field) in [
        (with("poll_minutes", json!(0)), "poll_minutes"),
        (with("poll_minutes", json!(1441)), "poll_minutes"),
        (with("shop_id", json!("")), "shop_id"),
        (with("shop_id", json!("my-shop")), "shop_id"),
        (with("api_key", json!(KEYSTRING)), "api_key"),
        (json!({"enabled": true}), "api_key"),
    ] {
        let problem = put_etsy(&api, &body).await.expect_status(422);
        assert!(problem.to_string().contains(field), "{body}: {problem}");
    }
    let view = api.get("/integrations/etsy").await.expect_status(200);
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(view["api_key_set"], false, "{view}");
    assert!(view["shop_id"].is_null(), "{view}");
    assert_eq!(view["poll_minutes"], 5);
    assert_eq!(etsy.with(|e| e.receipt_requests), 0);

    // 105 receipts of 2.00 (some changed in the same second, so paging and ties both matter),
    // the fixture's 40.00 receipt (earning on its grand total, not its 38.00 of items) and an
    // unpaid one.
    let t0 = 1_764_600_000;
    etsy.with(|e| {
        for i in 0..105u64 {
            let updated = t0 + i64::try_from(i / 3).unwrap();
            e.receipts
                .push(receipt(2_000_000 + i, "jane@example.com", 200, updated));
        }
        e.receipts
            .push(receipt(1_390_521_847, "Jane@Example.com", 4000, t0 + 50));
        let mut unpaid = receipt(3_000_000, "jane@example.com", 9900, t0 + 51);
        unpaid["is_paid"] = json!(false);
        e.receipts.push(unpaid);
    });
    let view = put_etsy(&api, &connect()).await.expect_status(200);
    assert_eq!(view["enabled"], true);
    assert_eq!(
        (&view["api_key_set"], &view["tokens_set"]),
        (&json!(true), &json!(true))
    );
    for secret in [SHARED_SECRET, FIRST_ACCESS, FIRST_REFRESH] {
        assert!(!view.to_string().contains(secret), "a secret shown: {view}");
    }
    let balance = until(30, async || api.balance(&jane).await, |b| *b == 250).await;
    assert_eq!(balance, 105 * 2 + 40);
    let status = next_poll(&api).await;
    assert!(status["last_error"].is_null(), "{status}");
    assert_eq!(
        api.balance(&jane).await,
        250,
        "a second poll awards nothing more"
    );

    // A receipt whose email no member has is parked, then attached once.
    etsy.with(|e| {
        e.receipts
            .push(receipt(4_000_000, "stranger@example.com", 1000, t0 + 60));
    });
    let list = until(
        20,
        async || api.get("/integrations/unmatched").await.expect_status(200),
        |l| l["items"].as_array().is_some_and(|i| !i.is_empty()),
    )
    .await;
    assert_eq!(list["items"][0]["provider"], "etsy", "{list}");
    assert_eq!(list["items"][0]["order_id"], "4000000");
    let attach = api
        .send(
            api.request(Method::POST, "/integrations/etsy/orders/4000000/attach")
                .json(&json!({"member_id": jane})),
        )
        .await
        .expect_status(200);
    assert_eq!(attach["points"], 10);
    assert_eq!(api.balance(&jane).await, 260);

    // A refund of 10.00 of the 40.00 receipt, seen when it changes, takes 10 points back.
    etsy.with(|e| {
        let r = e
            .receipts
            .iter_mut()
            .find(|r| r["receipt_id"] == 1_390_521_847u64)
            .unwrap();
        r["refunds"] = json!([fixture("etsy-refund.json")]);
        r["status"] = json!("Partially Refunded");
        r["updated_timestamp"] = json!(t0 + 100);
    });
    let balance = until(20, async || api.balance(&jane).await, |b| *b == 250).await;
    assert_eq!(balance, 250);

    // The access token expires: the server refreshes it and carries on.
    etsy.with(|e| e.access = "12345678.expired-elsewhere".into());
    etsy.with(|e| {
        e.receipts
            .push(receipt(5_000_000, "jane@example.com", 500, t0 + 200));
    });
    let balance = until(20, async || api.balance(&jane).await, |b| *b == 255).await;
    assert_eq!(balance, 255);
    assert_eq!(etsy.with(|e| e.refreshes), 1);

    // A restart polls again with the stored new tokens (the first ones are spent), and
    // awards nothing twice.
    server.stop();
    let mut server = serve(dir.path(), &etsy);
    let api = server.client();
    let status = next_poll(&api).await;
    assert!(status["last_error"].is_null(), "{status}");
    assert_eq!(etsy.with(|e| e.refreshes), 1, "the new tokens were kept");
    assert_eq!(api.balance(&jane).await, 255);

    // Etsy down: the error is shown, and a receipt paid meanwhile is counted when it is back.
    etsy.with(|e| {
        e.down = true;
        e.receipts
            .push(receipt(6_000_000, "jane@example.com", 300, t0 + 300));
    });
    let status = until(
        20,
        async || api.get("/integrations/etsy").await.expect_status(200),
        |v| !v["last_error"].is_null(),
    )
    .await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("Etsy is failing (HTTP 503)"),
        "{status}"
    );
    assert!(!status["next_poll"].is_null(), "{status}");
    assert_eq!(api.balance(&jane).await, 255);
    etsy.with(|e| e.down = false);
    let balance = until(30, async || api.balance(&jane).await, |b| *b == 258).await;
    assert_eq!(balance, 258);
    let status = next_poll(&api).await;
    assert!(status["last_error"].is_null(), "{status}");
    assert!(!etsy.with(|e| e.bad_key));

    // Neither the shared secret nor a token is ever logged.
    server.stop();
    let logs = [server.stdout_lines(), server.stderr_lines()]
        .concat()
        .join("\n");
    for secret in [
        SHARED_SECRET,
        FIRST_ACCESS,
        FIRST_REFRESH,
        "12345678.access-1",
    ] {
        assert!(!logs.contains(secret), "{secret} logged");
    }
    common::ok(&server.cli(&["verify"]));
}

#[tokio::test]
async fn a_refused_refresh_token_is_shown_on_the_page() {
    let etsy = FakeEtsy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &etsy);
    add_user(&server, "olive", "owner");
    let mut browser = Browser::new(&server);
    browser.login_ok("olive", PASSWORD).await;
    let api = server.client();

    // Connected through the page; the tokens Etsy no longer takes.
    etsy.with(|e| {
        e.access = "12345678.other".into();
        e.refresh = "12345678.other-refresh".into();
    });
    let html = browser.page("/admin/integrations").await;
    let form = pages::form_by_action(&html, "/admin/integrations/etsy").expect("Etsy form");
    let bad = browser
        .submit(&form, &[("shop_id", ""), ("enabled", "on")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        pages::text(&bad.text).contains("numeric id"),
        "{}",
        pages::snippet(&bad.text)
    );
    let saved = browser
        .submit(
            &form,
            &[
                ("api_key", &format!("{KEYSTRING}:{SHARED_SECRET}")),
                ("shop_id", &SHOP_ID.to_string()),
                ("access_token", FIRST_ACCESS),
                ("refresh_token", FIRST_REFRESH),
                ("poll_minutes", "10"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", pages::snippet(&saved.text));
    let status = until(
        20,
        async || api.get("/integrations/etsy").await.expect_status(200),
        |v| !v["last_error"].is_null(),
    )
    .await;
    assert_eq!(
        status["last_error"], "Etsy refused the token; connect again",
        "{status}"
    );
    assert_eq!(status["poll_minutes"], 10);
    let html = browser.page("/admin/integrations").await;
    let text = pages::text(&html);
    assert!(
        text.contains("Last poll failed: Etsy refused the token; connect again"),
        "{}",
        pages::snippet(&html)
    );
    for secret in [SHARED_SECRET, FIRST_ACCESS, FIRST_REFRESH] {
        assert!(!html.contains(secret), "{secret} shown on the page");
    }
}
