//! Signed webhooks from Shopify and Stripe, against a real `fealty serve` process.

#![expect(clippy::expect_used, reason = "tests fail loudly")]
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::pages::{self, owner_session};
use common::{Api, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const SHOPIFY_SECRET: &str = "shpss_0123456789abcdef0123456789abcdef";
const STRIPE_SECRET: &str = "whsec_test_5f1d9c1a2b3c4d5e6f";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/hooks/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

fn hmac(secret: &str, message: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, message).as_ref().to_vec()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A Shopify delivery: topic, webhook id and the body signed with `secret`.
struct Shopify<'a> {
    topic: &'a str,
    webhook_id: String,
    body: Vec<u8>,
}

impl Shopify<'_> {
    fn request(&self, http: &reqwest::Client, base: &str, secret: &str) -> reqwest::RequestBuilder {
        let sig = base64::engine::general_purpose::STANDARD.encode(hmac(secret, &self.body));
        http.post(format!("{base}/hooks/shopify"))
            .header("Content-Type", "application/json")
            .header("X-Shopify-Topic", self.topic)
            .header("X-Shopify-Hmac-Sha256", sig)
            .header("X-Shopify-Webhook-Id", &self.webhook_id)
            .header("X-Shopify-Shop-Domain", "jsmith.myshopify.com")
            .body(self.body.clone())
    }
}

fn shopify_paid(order_id: u64, email: &str, total: &str, currency: &str) -> Shopify<'static> {
    let mut v = fixture("shopify-orders-paid.json");
    v["id"] = json!(order_id);
    v["email"] = json!(email);
    v["contact_email"] = json!(email);
    v["total_price"] = json!(total);
    v["currency"] = json!(currency);
    Shopify {
        topic: "orders/paid",
        webhook_id: format!("paid-{order_id}"),
        body: serde_json::to_vec(&v).unwrap(),
    }
}

fn shopify_refund(order_id: u64, refund_id: u64, amount: &str) -> Shopify<'static> {
    let mut v = fixture("shopify-refunds-create.json");
    v["id"] = json!(refund_id);
    v["order_id"] = json!(order_id);
    v["transactions"][0]["order_id"] = json!(order_id);
    v["transactions"][0]["amount"] = json!(amount);
    Shopify {
        topic: "refunds/create",
        webhook_id: format!("refund-{refund_id}"),
        body: serde_json::to_vec(&v).unwrap(),
    }
}

/// Posts a delivery and returns (status, body).
async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("HTTP request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn enable(api: &Api, provider: &str, secret: &str, create_members: bool) -> Value {
    api.send(
        api.request(Method::PUT, &format!("/integrations/{provider}"))
            .json(&json!({
                "enabled": true, "secret": secret, "create_members": create_members
            })),
    )
    .await
    .expect_status(200)
}

async fn entries(api: &Api, member: &str) -> Vec<Value> {
    api.get(&format!("/members/{member}/transactions?limit=100"))
        .await
        .expect_status(200)["items"]
        .as_array()
        .expect("items")
        .clone()
}

fn verify_passes(server: &TestServer) {
    common::ok(&server.cli(&["verify"]));
}

#[tokio::test]
async fn shopify_paid_order_awards_once_and_refunds_take_back() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");

    // Not enabled yet: 404, even correctly signed.
    let paid = shopify_paid(820982911946154508, "Jon@Example.com", "403.00", "EUR");
    let (status, _) = send(paid.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 404);

    let view = enable(&api, "shopify", SHOPIFY_SECRET, false).await;
    assert_eq!(
        view["url"],
        format!("{}/hooks/shopify", base.trim_end_matches('/'))
    );
    assert_eq!(view["secret_set"], true);
    assert!(
        view.get("secret").is_none(),
        "the secret is never shown: {view}"
    );

    let member = api
        .create_member(&json!({"name": "Jon", "email": "jon@example.com"}))
        .await;
    let id = member["id"].as_str().unwrap();

    // A wrong secret, a tampered body, no signature: 401 and nothing changes.
    let (status, body) = send(paid.request(&http, &base, "shpss_not_the_secret")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "bad_signature");
    let mut tampered = shopify_paid(820982911946154508, "jon@example.com", "403.00", "EUR");
    let good_sig =
        base64::engine::general_purpose::STANDARD.encode(hmac(SHOPIFY_SECRET, &tampered.body));
    tampered.body = String::from_utf8(tampered.body)
        .unwrap()
        .replace("403.00", "4030.00")
        .into_bytes();
    let (status, _) = send(
        http.post(format!("{base}/hooks/shopify"))
            .header("X-Shopify-Topic", "orders/paid")
            .header("X-Shopify-Hmac-Sha256", good_sig)
            .header("X-Shopify-Webhook-Id", "tampered")
            .body(tampered.body.clone()),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        http.post(format!("{base}/hooks/shopify"))
            .header("X-Shopify-Topic", "orders/paid")
            .header("X-Shopify-Webhook-Id", "unsigned")
            .body(paid.body.clone()),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(api.balance(id).await, 0);
    // Signed but without a delivery id: 400, nothing stored (a later good delivery still counts).
    let sig = base64::engine::general_purpose::STANDARD.encode(hmac(SHOPIFY_SECRET, &paid.body));
    let (status, body) = send(
        http.post(format!("{base}/hooks/shopify"))
            .header("X-Shopify-Topic", "orders/paid")
            .header("X-Shopify-Hmac-Sha256", sig)
            .body(paid.body.clone()),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (400, &json!("unreadable_delivery")),
        "{body}"
    );
    assert_eq!(api.balance(id).await, 0);

    // Signed: 403 points (1 per euro), once; the same delivery again changes nothing.
    let (status, body) = send(paid.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], false);
    assert_eq!(api.balance(id).await, 403);
    let (status, body) = send(paid.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    // A different delivery of the same order (an update re-sent as paid) awards nothing either.
    let mut again = shopify_paid(820982911946154508, "jon@example.com", "403.00", "EUR");
    again.webhook_id = "paid-again".into();
    let (status, _) = send(again.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(api.balance(id).await, 403);
    let list = entries(&api, id).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reference"], "820982911946154508");
    assert_eq!(
        list[0]["source"],
        json!({"type": "webhook", "provider": "shopify"})
    );

    // A quarter refunded: a quarter of the points back (100.75 of 403.00 → 100 of 403, rounded down).
    let refund = shopify_refund(820982911946154508, 1, "100.75");
    let (status, body) = send(refund.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 303);
    let (status, _) = send(refund.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(
        api.balance(id).await,
        303,
        "a retried refund takes nothing more"
    );

    // The customer spends most of the rest; refunding the remainder takes what is left, and
    // the shortfall is recorded for the owner.
    api.transaction(id, "spend", &json!({"kind": "redeem", "points": 250}))
        .await
        .expect_status(201);
    let refund = shopify_refund(820982911946154508, 2, "302.25");
    let (status, body) = send(refund.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 0);
    let outcome = body["outcome"].as_str().unwrap();
    assert!(
        outcome.contains("53 points taken back, 250 already spent"),
        "{outcome}"
    );
    let last = &entries(&api, id).await[0];
    assert_eq!(last["points"], -53);
    assert_eq!(
        last["reason"],
        "Refund of Shopify order 820982911946154508; 250 points were already spent"
    );

    verify_passes(&server);
    // The documented script re-checks the chain, webhook sources included, from an export.
    let exported = server.data_dir().join("export.json");
    let json = common::ok(&server.cli(&["export", "--format", "json"]));
    std::fs::write(&exported, json).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify-ledger.py");
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
}

#[tokio::test]
async fn unmatched_orders_are_parked_then_attached_once() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");
    enable(&api, "shopify", SHOPIFY_SECRET, false).await;

    let paid = shopify_paid(1001, "stranger@example.com", "25.00", "EUR");
    let (status, body) = send(paid.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    // Another currency is parked too, and cannot be attached.
    let dollars = shopify_paid(1002, "stranger@example.com", "25.00", "USD");
    send(dollars.request(&http, &base, SHOPIFY_SECRET)).await;

    let list = api.get("/integrations/unmatched").await.expect_status(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["order_id"], "1001");
    assert_eq!(items[0]["amount_minor"], 2500);
    assert!(items[1]["reason"].as_str().unwrap().contains("USD"));

    let member = api.create_member(&json!({"name": "Later"})).await;
    let id = member["id"].as_str().unwrap();
    let attach = |order: &str| {
        api.request(
            Method::POST,
            &format!("/integrations/shopify/orders/{order}/attach"),
        )
        .json(&json!({"member_id": id}))
    };
    let done = api.send(attach("1001")).await.expect_status(200);
    assert_eq!(done["points"], 25);
    assert_eq!(api.balance(id).await, 25);
    api.send(attach("1001"))
        .await
        .expect_problem(422, "invalid_field");
    api.send(attach("1002"))
        .await
        .expect_problem(422, "invalid_field");
    api.send(attach("9999"))
        .await
        .expect_problem(404, "not_found");
    assert_eq!(api.balance(id).await, 25);
    let list = api.get("/integrations/unmatched").await.expect_status(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // The paid delivery again after attaching: nothing more.
    send(paid.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(api.balance(id).await, 25);

    // With "create members" on, an unknown email becomes a member holding the points.
    enable(&api, "shopify", SHOPIFY_SECRET, true).await;
    let paid = shopify_paid(1003, "new.customer@example.com", "12.99", "EUR");
    let (_, body) = send(paid.request(&http, &base, SHOPIFY_SECRET)).await;
    assert!(
        body["outcome"].as_str().unwrap().starts_with("12 points"),
        "{body}"
    );
    let found = api
        .get("/members?q=new.customer%40example.com")
        .await
        .expect_status(200);
    assert_eq!(found["items"][0]["balance"], 12, "{found}");

    verify_passes(&server);
}

fn stripe_event(name: &str, event_id: &str, payment: &str, email: &str) -> Vec<u8> {
    let mut v = fixture(name);
    v["id"] = json!(event_id);
    v["data"]["object"]["payment_intent"] = json!(payment);
    if v["data"]["object"]["customer_details"].is_object() {
        v["data"]["object"]["customer_details"]["email"] = json!(email);
    }
    if v["data"]["object"]["billing_details"].is_object() {
        v["data"]["object"]["billing_details"]["email"] = json!(email);
    }
    serde_json::to_vec(&v).unwrap()
}

fn stripe_request(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    t: i64,
    body: &[u8],
) -> reqwest::RequestBuilder {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    let sig = hex::encode(hmac(secret, &signed));
    http.post(format!("{base}/hooks/stripe"))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", format!("t={t},v1={sig}"))
        .body(body.to_vec())
}

#[tokio::test]
async fn stripe_checkout_and_charge_award_once_and_refunds_are_cumulative() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");
    enable(&api, "stripe", STRIPE_SECRET, false).await;
    let member = api
        .create_member(&json!({"email": "ada@example.com"}))
        .await;
    let id = member["id"].as_str().unwrap();

    let session = stripe_event(
        "stripe-checkout-session-completed.json",
        "evt_s1",
        "pi_1",
        "ADA@example.com",
    );
    // Stale (six minutes old) and wrong secret: 401, nothing applied.
    let (status, _) = send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now() - 360,
        &session,
    ))
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(stripe_request(
        &http,
        &base,
        "whsec_wrong_secret",
        unix_now(),
        &session,
    ))
    .await;
    assert_eq!(status, 401);
    assert_eq!(api.balance(id).await, 0);

    let (status, body) = send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &session,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 25);
    // The charge of the same payment, and the session event retried: nothing more.
    let charge = stripe_event(
        "stripe-charge-succeeded.json",
        "evt_c1",
        "pi_1",
        "ada@example.com",
    );
    let (status, _) = send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &charge,
    ))
    .await;
    assert_eq!(status, 200);
    let (_, body) = send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &session,
    ))
    .await;
    assert_eq!(body["duplicate"], true);
    assert_eq!(api.balance(id).await, 25);

    // 10.00 of 25.00 refunded → 10 points back; then the cumulative total 25.00 → the other 15.
    let refund = stripe_event("stripe-charge-refunded.json", "evt_r1", "pi_1", "");
    let (status, body) = send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &refund,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 15);
    let mut v: Value = serde_json::from_slice(&refund).unwrap();
    v["id"] = json!("evt_r2");
    v["data"]["object"]["amount_refunded"] = json!(2500);
    let full = serde_json::to_vec(&v).unwrap();
    send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &full,
    ))
    .await;
    assert_eq!(api.balance(id).await, 0);
    // The older total arriving late changes nothing.
    let mut late = v.clone();
    late["id"] = json!("evt_r_late");
    late["data"]["object"]["amount_refunded"] = json!(1000);
    send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &serde_json::to_vec(&late).unwrap(),
    ))
    .await;
    assert_eq!(api.balance(id).await, 0);
    assert_eq!(entries(&api, id).await.len(), 3);

    // A body larger than any real delivery is refused before it is read, signed or not.
    let huge = vec![b' '; 300 * 1024];
    let (status, _) = send(stripe_request(
        &http,
        &base,
        STRIPE_SECRET,
        unix_now(),
        &huge,
    ))
    .await;
    assert_eq!(status, 413);

    verify_passes(&server);
}

#[tokio::test]
async fn a_retry_storm_awards_each_order_exactly_once() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let base = server.url("");
    enable(&api, "shopify", SHOPIFY_SECRET, false).await;
    let member = api
        .create_member(&json!({"email": "storm@example.com"}))
        .await;
    let id = member["id"].as_str().unwrap().to_owned();

    // 100 orders of 10.00 each, every delivery sent three times, all at once.
    let deliveries: Vec<Shopify> = (1..=100)
        .map(|n| shopify_paid(5000 + n, "storm@example.com", "10.00", "EUR"))
        .collect();
    let mut tasks = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        for d in &deliveries {
            let req = d.request(&http, &base, SHOPIFY_SECRET);
            tasks.push(tokio::spawn(async move { send(req).await.0 }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let took = started.elapsed();
    eprintln!(
        "retry storm: 300 signed deliveries in {took:?} ({:.0}/s, debug build)",
        300.0 / took.as_secs_f64()
    );
    assert_eq!(api.balance(&id).await, 1000);
    assert_eq!(entries(&api, &id).await.len(), 100);
    verify_passes(&server);
}

#[tokio::test]
async fn setting_up_a_shop_refuses_bad_input_and_changes_nothing() {
    let server = TestServer::start();
    let api = server.client();
    let put = |provider: &str, body: Value| {
        api.request(Method::PUT, &format!("/integrations/{provider}"))
            .json(&body)
    };
    api.send(put("shopify", json!({"enabled": true})))
        .await
        .expect_problem(422, "invalid_field");
    api.send(put("shopify", json!({"secret": "short"})))
        .await
        .expect_problem(422, "invalid_field");
    api.send(put("etsy", json!({"enabled": false})))
        .await
        .expect_problem(404, "not_found");
    let reader = server.client_with(&server.api_key_with("reader", &["members:read"]));
    reader
        .send(
            reader
                .request(Method::PUT, "/integrations/shopify")
                .json(&json!({"enabled": false})),
        )
        .await
        .expect_problem(403, "forbidden");
    // Still not enabled: deliveries are 404.
    let paid = shopify_paid(1, "a@example.com", "1.00", "EUR");
    let (status, _) =
        send(paid.request(&reqwest::Client::new(), &server.url(""), SHOPIFY_SECRET)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_owner_connects_a_shop_and_attaches_a_waiting_order_on_the_page() {
    let (server, mut browser, api) = owner_session().await;
    let base = server.url("");
    let html = browser.page("/admin/integrations").await;
    let url = pages::attr_by_id(&html, "shopify-url", "value").expect("the URL to paste");
    assert_eq!(url, format!("{}/hooks/shopify", base.trim_end_matches('/')));
    assert!(
        pages::text(&html).contains("secret not set"),
        "{}",
        pages::snippet(&html)
    );

    // A secret too short is refused beside its field; nothing is stored.
    let form = pages::form_by_action(&html, "/admin/integrations/shopify").expect("shopify form");
    let refused = browser
        .submit(&form, &[("secret", "short"), ("enabled", "on")])
        .await;
    refused.expect(422);
    let page = browser
        .submit(&form, &[("secret", SHOPIFY_SECRET), ("enabled", "on")])
        .await;
    let html = browser.follow(&page).await.text;
    assert!(
        pages::text(&html).contains("Status: on · secret set"),
        "{}",
        pages::text(&html)
    );
    assert!(
        !html.contains(SHOPIFY_SECRET),
        "the secret is never shown again"
    );

    let paid = shopify_paid(77, "nobody@example.com", "30.00", "EUR");
    let (status, _) = send(paid.request(&reqwest::Client::new(), &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200);
    let member = api.create_member(&json!({"name": "Walk-in"})).await;
    let card = member["card_number"].as_str().unwrap();
    let html = browser.page("/admin/integrations").await;
    assert!(pages::text(&html).contains("nobody@example.com"));
    let form = pages::form_by_action(&html, "/admin/integrations/attach").expect("attach form");
    let done = browser.submit(&form, &[("card_number", card)]).await;
    let html = browser.follow(&done).await.text;
    assert!(
        !pages::text(&html).contains("nobody@example.com"),
        "attached orders leave the list"
    );
    assert_eq!(api.balance(member["id"].as_str().unwrap()).await, 30);
    verify_passes(&server);
}

#[tokio::test]
async fn deliveries_are_forgotten_after_the_window_and_their_orders_still_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = common::api_key(&data, "hooks", &[]);
    let mut server = TestServer::start_with(&data, &[], &[]);
    let api = server.client_with(&key);
    enable(&api, "shopify", SHOPIFY_SECRET, false).await;
    let m = api
        .create_member(&json!({"email": "late@example.com"}))
        .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let paid = shopify_paid(31, "late@example.com", "8.00", "EUR");
    let http = reqwest::Client::new();
    assert_eq!(
        send(paid.request(&http, &server.url(""), SHOPIFY_SECRET))
            .await
            .0,
        200
    );
    server.stop();

    // With a one-second window, the sweep at start forgets the delivery...
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let server = TestServer::start_with(&data, &["--keep-idempotency", "1s"], &[]);
    let line = server
        .wait_for_stderr("swept", std::time::Duration::from_secs(10))
        .expect("a sweep at start");
    assert!(line.contains("hook_deliveries=1"), "{line}");
    // ... but a very late retry still finds its order counted.
    let (status, body) = send(paid.request(&http, &server.url(""), SHOPIFY_SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicate"], false);
    assert!(
        body["outcome"]
            .as_str()
            .unwrap()
            .contains("counted already"),
        "{body}"
    );
    let api = server.client_with(&key);
    assert_eq!(api.balance(&id).await, 8);
}
