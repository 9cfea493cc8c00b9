//! Signed webhooks from Shopify, Stripe, Square and WooCommerce, against a real `fealty serve`
//! process.

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
const WOO_SECRET: &str = "Ek2r&j,P5sZ?Vh)Tq]n@W!c9x`LbY{Ue";
const SQUARE_KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";

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
    api.send(put("amazon", json!({"enabled": false})))
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

/// A WooCommerce delivery of order 727 from the fixture, as WooCommerce sends it.
struct Woo {
    topic: &'static str,
    delivery_id: String,
    body: Vec<u8>,
}

impl Woo {
    fn request(&self, http: &reqwest::Client, base: &str, secret: &str) -> reqwest::RequestBuilder {
        let sig = base64::engine::general_purpose::STANDARD.encode(hmac(secret, &self.body));
        http.post(format!("{base}/hooks/woocommerce"))
            .header("Content-Type", "application/json")
            .header("User-Agent", "WooCommerce/8.2.1 Hookshot (WordPress/6.4.1)")
            .header("X-WC-Webhook-Source", "https://shop.example.com/")
            .header("X-WC-Webhook-Topic", self.topic)
            .header("X-WC-Webhook-Resource", "order")
            .header(
                "X-WC-Webhook-Event",
                self.topic.trim_start_matches("order."),
            )
            .header("X-WC-Webhook-Signature", sig)
            .header("X-WC-Webhook-ID", "12")
            .header("X-WC-Webhook-Delivery-ID", &self.delivery_id)
            .body(self.body.clone())
    }
}

fn woo_order(delivery: &str, topic: &'static str, edit: impl FnOnce(&mut Value)) -> Woo {
    let mut v = fixture("woocommerce-order-updated.json");
    edit(&mut v);
    Woo {
        topic,
        delivery_id: delivery.to_owned(),
        body: serde_json::to_vec(&v).unwrap(),
    }
}

fn woo_ping(http: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
    http.post(format!("{base}/hooks/woocommerce"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("User-Agent", "WooCommerce/8.2.1 Hookshot (WordPress/6.4.1)")
        .body("webhook_id=12")
}

#[tokio::test]
async fn woocommerce_ping_paid_order_once_and_refunds_from_order_updates() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");
    let member = api
        .create_member(&json!({"name": "John", "email": "john.doe@example.com"}))
        .await;
    let id = member["id"].as_str().unwrap();

    // Saving the webhook in WooCommerce pings before the owner can paste its secret here.
    let (status, body) = send(woo_ping(&http, &base)).await;
    assert_eq!(status, 200, "{body}");
    let view = enable(&api, "woocommerce", WOO_SECRET, false).await;
    assert_eq!(
        view["url"],
        format!("{}/hooks/woocommerce", base.trim_end_matches('/'))
    );
    let (status, _) = send(woo_ping(&http, &base)).await;
    assert_eq!(status, 200);
    // A ping-shaped body is no way around the signature for anything else.
    let (status, _) = send(
        woo_ping(&http, &base)
            .header("X-WC-Webhook-Topic", "order.updated")
            .header("X-WC-Webhook-Delivery-ID", "x")
            .header("X-WC-Webhook-Signature", "AAAA"),
    )
    .await;
    assert_eq!(status, 401);

    // Created but not paid yet (bank transfer awaited): nothing.
    let created = woo_order("d-created", "order.created", |v| {
        v["status"] = json!("on-hold");
        v["date_paid"] = Value::Null;
    });
    let (status, body) = send(created.request(&http, &base, WOO_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["outcome"].as_str().unwrap().starts_with("ignored"),
        "{body}"
    );

    // Paid: a wrong secret, a tampered body, an unsigned JSON body are 401 and change nothing.
    let paid = woo_order("d-paid", "order.updated", |_| {});
    let (status, body) = send(paid.request(&http, &base, "not-the-woo-secret")).await;
    assert_eq!(
        (status, &body["code"]),
        (401, &json!("bad_signature")),
        "{body}"
    );
    let mut tampered = woo_order("d-tampered", "order.updated", |_| {});
    let sig = base64::engine::general_purpose::STANDARD.encode(hmac(WOO_SECRET, &tampered.body));
    tampered.body = String::from_utf8(tampered.body)
        .unwrap()
        .replace("\"29.35\"", "\"2935.00\"")
        .into_bytes();
    let (status, _) = send(
        http.post(format!("{base}/hooks/woocommerce"))
            .header("X-WC-Webhook-Topic", "order.updated")
            .header("X-WC-Webhook-Delivery-ID", "d-tampered")
            .header("X-WC-Webhook-Signature", sig)
            .body(tampered.body),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        http.post(format!("{base}/hooks/woocommerce"))
            .header("X-WC-Webhook-Topic", "order.updated")
            .header("X-WC-Webhook-Delivery-ID", "d-unsigned")
            .body(paid.body.clone()),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(api.balance(id).await, 0);

    // Signed: 29 points on 29.35, once, whatever else WooCommerce sends about the order.
    let (status, body) = send(paid.request(&http, &base, WOO_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 29);
    let (_, body) = send(paid.request(&http, &base, WOO_SECRET)).await;
    assert_eq!(body["duplicate"], true, "{body}");
    let completed = woo_order("d-completed", "order.updated", |v| {
        v["status"] = json!("completed");
    });
    send(completed.request(&http, &base, WOO_SECRET)).await;
    assert_eq!(api.balance(id).await, 29);
    let list = entries(&api, id).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reference"], "727");
    assert_eq!(
        list[0]["source"],
        json!({"type": "webhook", "provider": "woocommerce"})
    );

    // A 10.00 refund shows in the order's refunds: 9 of 29 points back (rounded down).
    let refund = |delivery: &str, status: &'static str, refunds: Value| {
        woo_order(delivery, "order.updated", move |v| {
            v["status"] = json!(status);
            v["refunds"] = refunds;
        })
    };
    let partial = json!([{"id": 730, "reason": "Damaged", "total": "-10.00"}]);
    let (status, body) =
        send(refund("d-r1", "completed", partial.clone()).request(&http, &base, WOO_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 20);
    // Later updates still list the same refund: nothing more.
    send(refund("d-r1-again", "completed", partial).request(&http, &base, WOO_SECRET)).await;
    assert_eq!(api.balance(id).await, 20);
    // Refunded in full: the rest goes back.
    let all = json!([
        {"id": 731, "reason": "", "total": "-19.35"},
        {"id": 730, "reason": "Damaged", "total": "-10.00"}
    ]);
    let (_, body) = send(refund("d-r2", "refunded", all).request(&http, &base, WOO_SECRET)).await;
    assert!(
        body["outcome"]
            .as_str()
            .unwrap()
            .contains("20 points taken back"),
        "{body}"
    );
    assert_eq!(api.balance(id).await, 0);
    assert_eq!(entries(&api, id).await.len(), 3);
    verify_passes(&server);
}

fn square_event(name: &str, event_id: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = fixture(name);
    v["event_id"] = json!(event_id);
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// A Square delivery, signed as Square signs it: over `signed_url` followed by the body.
fn square_request(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    signed_url: &str,
    body: &[u8],
) -> reqwest::RequestBuilder {
    let mut signed = signed_url.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(hmac(key, &signed));
    http.post(format!("{base}/hooks/square"))
        .header("Content-Type", "application/json")
        .header("Square-Version", "2023-12-13")
        .header("Square-Environment", "Sandbox")
        .header("X-Square-Hmacsha256-Signature", sig)
        .body(body.to_vec())
}

#[tokio::test]
async fn square_signs_the_url_with_the_body_awards_once_and_refunds_take_back() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");
    let view = enable(&api, "square", SQUARE_KEY, false).await;
    let url = view["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/hooks/square", base.trim_end_matches('/')));
    let member = api
        .create_member(&json!({"email": "ada@example.com"}))
        .await;
    let id = member["id"].as_str().unwrap();

    let paid = square_event("square-payment-updated.json", "evt-paid", |_| {});
    // Signed over the body alone, over another URL, or with another key: 401, nothing applied.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SQUARE_KEY.as_bytes());
    let body_only =
        base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, &paid).as_ref());
    let (status, body) = send(
        http.post(format!("{base}/hooks/square"))
            .header("X-Square-Hmacsha256-Signature", body_only)
            .body(paid.clone()),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (401, &json!("bad_signature")),
        "{body}"
    );
    let elsewhere = "https://loyalty.example.com/hooks/square";
    let (status, _) = send(square_request(&http, &base, SQUARE_KEY, elsewhere, &paid)).await;
    assert_eq!(status, 401);
    let (status, _) = send(square_request(
        &http,
        &base,
        "MCmhFRxGX82xMwg5FsaoQA",
        &url,
        &paid,
    ))
    .await;
    assert_eq!(status, 401);
    let mut tampered = paid.clone();
    let sig_for = |b: &[u8]| {
        let mut signed = url.as_bytes().to_vec();
        signed.extend_from_slice(b);
        base64::engine::general_purpose::STANDARD.encode(hmac(SQUARE_KEY, &signed))
    };
    let sig = sig_for(&paid);
    tampered = String::from_utf8(tampered)
        .unwrap()
        .replace("2500", "250000")
        .into_bytes();
    let (status, _) = send(
        http.post(format!("{base}/hooks/square"))
            .header("X-Square-Hmacsha256-Signature", sig)
            .body(tampered),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(api.balance(id).await, 0);

    // Square's "send test event" is signed and answered, and awards nothing.
    let test_event = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    let (status, body) = send(square_request(&http, &base, SQUARE_KEY, &url, test_event)).await;
    assert_eq!(status, 200, "{body}");

    // Completed: 25 points on 25.00, once; a later update of the same payment adds nothing.
    let (status, body) = send(square_request(&http, &base, SQUARE_KEY, &url, &paid)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 25);
    let (_, body) = send(square_request(&http, &base, SQUARE_KEY, &url, &paid)).await;
    assert_eq!(body["duplicate"], true, "{body}");
    let later = square_event("square-payment-updated.json", "evt-paid-v4", |v| {
        v["data"]["object"]["payment"]["version"] = json!(4);
    });
    send(square_request(&http, &base, SQUARE_KEY, &url, &later)).await;
    assert_eq!(api.balance(id).await, 25);
    let list = entries(&api, id).await;
    assert_eq!(list.len(), 1);
    // Square orders count by payment (a split bill earns on each payment).
    assert_eq!(list[0]["reference"], "hYy9pRFVxpDsO1FB05SunFWUe9JZY");

    // A refund pending changes nothing; completed, 10.00 of 25.00 takes 10 points back, and
    // the same refund updated again (another event) takes nothing more.
    let pending = square_event("square-refund-updated.json", "evt-r-pending", |v| {
        v["type"] = json!("refund.created");
        v["data"]["object"]["refund"]["status"] = json!("PENDING");
    });
    send(square_request(&http, &base, SQUARE_KEY, &url, &pending)).await;
    assert_eq!(api.balance(id).await, 25);
    let done = square_event("square-refund-updated.json", "evt-r-done", |_| {});
    let (status, body) = send(square_request(&http, &base, SQUARE_KEY, &url, &done)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(id).await, 15);
    let again = square_event("square-refund-updated.json", "evt-r-done-v11", |v| {
        v["data"]["object"]["refund"]["version"] = json!(11);
    });
    let (_, body) = send(square_request(&http, &base, SQUARE_KEY, &url, &again)).await;
    assert_eq!(body["duplicate"], true, "{body}");
    assert_eq!(api.balance(id).await, 15);
    // A second refund for the rest.
    let rest = square_event("square-refund-updated.json", "evt-r2", |v| {
        v["data"]["object"]["refund"]["id"] = json!("second-refund");
        v["data"]["object"]["refund"]["amount_money"]["amount"] = json!(1500);
    });
    send(square_request(&http, &base, SQUARE_KEY, &url, &rest)).await;
    assert_eq!(api.balance(id).await, 0);

    // A payment no member's email matches is parked, then attached once.
    let stranger = square_event("square-payment-updated.json", "evt-stranger", |v| {
        let p = &mut v["data"]["object"]["payment"];
        p["id"] = json!("stranger-payment");
        p["order_id"] = Value::Null;
        p["buyer_email_address"] = json!("stranger@example.com");
    });
    send(square_request(&http, &base, SQUARE_KEY, &url, &stranger)).await;
    let list = api.get("/integrations/unmatched").await.expect_status(200);
    assert_eq!(list["items"][0]["provider"], "square", "{list}");
    assert_eq!(list["items"][0]["order_id"], "stranger-payment");
    let later = api.create_member(&json!({"name": "Later"})).await;
    let later_id = later["id"].as_str().unwrap();
    let attach = api.request(
        Method::POST,
        "/integrations/square/orders/stranger-payment/attach",
    );
    let done = api
        .send(attach.json(&json!({"member_id": later_id})))
        .await
        .expect_status(200);
    assert_eq!(done["points"], 25);
    assert_eq!(api.balance(later_id).await, 25);
    verify_passes(&server);
}

/// What the shop deliveries on the page say, newest first.
fn delivery_log(html: &str, provider: &str) -> Vec<String> {
    pages::by_id(html, &format!("{provider}-deliveries"))
        .map(|list| {
            pages::select(list.inner, |t| t.name == "li")
                .iter()
                .map(pages::Elem::text)
                .collect()
        })
        .unwrap_or_default()
}

/// Everything a test delivery could change, as the API and the page show it.
async fn everything(api: &Api, browser: &mut pages::Browser) -> Vec<Value> {
    let members = api.get("/members?limit=100").await.expect_status(200);
    let mut entries = 0;
    for m in members["items"].as_array().unwrap() {
        entries += api
            .all_transactions(m["id"].as_str().unwrap(), 100)
            .await
            .len();
    }
    let html = browser.page("/admin/integrations").await;
    vec![
        members,
        json!(entries),
        api.get("/stats").await.expect_status(200),
        api.get("/integrations/unmatched").await.expect_status(200),
        json!(delivery_log(&html, "shopify")),
    ]
}

#[tokio::test]
async fn the_page_lists_each_shops_last_deliveries_and_tries_a_test_event_without_keeping_it() {
    let (mut server, mut browser, api) = owner_session().await;
    let http = reqwest::Client::new();
    let base = server.url("");
    enable(&api, "shopify", SHOPIFY_SECRET, false).await;
    let ann = api
        .create_member(&json!({"name": "Ann", "email": "ann@example.com"}))
        .await;

    // Applied, the same delivery again, parked, and one signed with the wrong secret.
    let paid = shopify_paid(5001, "ann@example.com", "20.00", "EUR");
    assert_eq!(
        send(paid.request(&http, &base, SHOPIFY_SECRET)).await.0,
        200
    );
    assert_eq!(
        send(paid.request(&http, &base, SHOPIFY_SECRET)).await.0,
        200
    );
    let stranger = shopify_paid(5002, "nobody@example.com", "9.00", "EUR");
    assert_eq!(
        send(stranger.request(&http, &base, SHOPIFY_SECRET)).await.0,
        200
    );
    let wrong = shopify_paid(5003, "ann@example.com", "5.00", "EUR");
    assert_eq!(
        send(wrong.request(&http, &base, "shpss_wrong_secret"))
            .await
            .0,
        401
    );

    let html = browser.page("/admin/integrations").await;
    let log = delivery_log(&html, "shopify");
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(
        log[0].contains("refused: the signature does not match — check the secret"),
        "{log:?}"
    );
    assert!(
        log[1].contains("parked: no member has this email address"),
        "{log:?}"
    );
    assert!(log[1].contains("paid-5002"), "{log:?}");
    assert!(
        log[2].contains("repeat of a delivery taken before"),
        "{log:?}"
    );
    assert!(log[3].contains("20 points to member"), "{log:?}");
    assert!(delivery_log(&html, "stripe").is_empty());

    // The test event: Shopify's sample order for jon@example.com, whom no member has yet.
    let before = everything(&api, &mut browser).await;
    let html = browser.page("/admin/integrations").await;
    let form =
        pages::form_by_action(&html, "/admin/integrations/shopify/test").expect("test button");
    assert!(
        pages::form_by_action(&html, "/admin/integrations/stripe/test").is_none(),
        "only enabled shops can be tested"
    );
    let page = browser.submit(&form, &[]).await;
    page.expect(200);
    let banner = pages::by_id(&page.text, "result")
        .expect("a result banner")
        .text();
    assert!(banner.contains("Signature checked"), "{banner}");
    assert!(banner.contains("jon@example.com"), "{banner}");
    assert!(
        banner.contains("parked: no member has this email address"),
        "{banner}"
    );
    assert_eq!(
        everything(&api, &mut browser).await,
        before,
        "a test changes nothing"
    );

    // With Jon a member, the test says who would get the points, and still changes nothing.
    let jon = api
        .create_member(&json!({"name": "Jon", "email": "jon@example.com"}))
        .await;
    let jon_id = jon["id"].as_str().unwrap();
    let before = everything(&api, &mut browser).await;
    let page = browser.submit(&form, &[]).await;
    let banner = pages::by_id(&page.text, "result")
        .expect("a result banner")
        .text();
    assert!(
        banner.contains(&format!("403 points to member {jon_id}")),
        "{banner}"
    );
    assert_eq!(
        everything(&api, &mut browser).await,
        before,
        "a test changes nothing"
    );
    assert_eq!(api.balance(jon_id).await, 0);

    // Staff cannot send one.
    pages::add_user(&server, "sam", "staff");
    let mut staff = pages::Browser::new(&server);
    staff.login_ok("sam", pages::PASSWORD).await;
    let token = staff.csrf().await;
    staff
        .post_raw(
            "/admin/integrations/shopify/test",
            &[("csrf".into(), token)],
        )
        .await
        .expect(403);

    // A restart forgets the refused and repeated ones, never the deliveries taken.
    server.restart();
    let mut browser = pages::Browser::new(&server);
    browser.login_ok("olive", pages::PASSWORD).await;
    let html = browser.page("/admin/integrations").await;
    let log = delivery_log(&html, "shopify");
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].contains("parked"), "{log:?}");
    assert!(log[1].contains("20 points to member"), "{log:?}");
    let api = server.client();
    assert_eq!(api.balance(ann["id"].as_str().unwrap()).await, 20);
    verify_passes(&server);
}

/// A Shopify paid order whose checkout field `loyalty_card` holds `card`.
fn shopify_paid_with_card(order_id: u64, email: &str, card: &str) -> Shopify<'static> {
    let mut order = shopify_paid(order_id, email, "30.00", "EUR");
    let mut v: Value = serde_json::from_slice(&order.body).unwrap();
    v["note_attributes"] = json!([
        {"name": "gift_wrap", "value": "no"},
        {"name": "Loyalty card", "value": card}
    ]);
    order.body = serde_json::to_vec(&v).unwrap();
    order
}

#[tokio::test]
async fn a_card_number_on_the_order_wins_over_its_email_and_an_unknown_one_parks() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");
    // With "make a new member" on: a card that leads nowhere must still park, not create.
    enable(&api, "shopify", SHOPIFY_SECRET, true).await;
    let by_email = api
        .create_member(&json!({"name": "Email", "email": "family@example.com"}))
        .await;
    let by_email = by_email["id"].as_str().unwrap();
    let holder = api.create_member(&json!({"name": "Card holder"})).await;
    let (holder, card) = (
        holder["id"].as_str().unwrap(),
        holder["card_number"].as_str().unwrap(),
    );

    // The email belongs to someone else: the card's holder earns.
    let spaced = format!("{} {} {}", &card[..4], &card[4..8], &card[8..]);
    let order = shopify_paid_with_card(5001, "family@example.com", &spaced);
    let (status, body) = send(order.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.balance(holder).await, 30, "{body}");
    assert_eq!(api.balance(by_email).await, 0);
    // The email belongs to no one: the card's holder earns, and no member is created.
    let order = shopify_paid_with_card(5002, "nobody@example.com", card);
    send(order.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(api.balance(holder).await, 60);
    let found = api
        .get("/members?q=nobody%40example.com")
        .await
        .expect_status(200);
    assert_eq!(found["items"], json!([]), "{found}");

    // A valid number no one has, and one with a wrong check digit: parked, nobody earns.
    let unknown = common::card_number(12_345_678_901);
    assert_ne!(unknown, card);
    let order = shopify_paid_with_card(5003, "family@example.com", &unknown);
    let (status, body) = send(order.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    let outcome = body["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("parked: no member has loyalty card"),
        "{outcome}"
    );
    let mut typo = card.to_owned();
    let last = typo.pop().unwrap();
    typo.push(if last == '9' { '0' } else { '9' });
    let order = shopify_paid_with_card(5004, "family@example.com", &typo);
    let (status, body) = send(order.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["outcome"]
            .as_str()
            .unwrap()
            .contains("is not a valid card number"),
        "{body}"
    );
    assert_eq!(api.balance(by_email).await, 0);
    assert_eq!(api.balance(holder).await, 60);
    let list = api.get("/integrations/unmatched").await.expect_status(200);
    let parked: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(parked, ["5003", "5004"], "{list}");

    // A blocked card holder's order waits too.
    api.patch(&format!("/members/{holder}"), &json!({"status": "blocked"}))
        .await
        .expect_status(200);
    let order = shopify_paid_with_card(5005, "family@example.com", card);
    let (_, body) = send(order.request(&http, &base, SHOPIFY_SECRET)).await;
    assert!(
        body["outcome"].as_str().unwrap().contains("blocked"),
        "{body}"
    );
    assert_eq!(api.balance(by_email).await, 0);
    verify_passes(&server);
}

#[tokio::test]
async fn an_order_larger_than_one_entry_may_award_is_parked_not_refused() {
    let server = TestServer::start();
    let api = server.client();
    let http = reqwest::Client::new();
    let base = server.url("");
    enable(&api, "shopify", SHOPIFY_SECRET, true).await;
    api.patch("/settings", &json!({"points_per_unit": 1000}))
        .await
        .expect_status(200);
    let member = api
        .create_member(&json!({"email": "whale@example.com"}))
        .await;
    let id = member["id"].as_str().unwrap();

    // 9,999,999,999.99 EUR at 1000 points per euro is more than one entry may add.
    let huge = shopify_paid(7001, "whale@example.com", "9999999999.99", "EUR");
    let (status, body) = send(huge.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["outcome"],
        "parked: the order is larger than one entry may award; award it by hand"
    );
    let (status, body) = send(huge.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    // Unknown email with "make a new member" on: still parked, and no member made for it.
    let stranger = shopify_paid(7002, "stranger@example.com", "9999999999.99", "EUR");
    let (status, _) = send(stranger.request(&http, &base, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200);
    let found = api
        .get("/members?q=stranger%40example.com")
        .await
        .expect_status(200);
    assert_eq!(found["items"], json!([]), "{found}");
    assert_eq!(api.balance(id).await, 0);
    assert!(entries(&api, id).await.is_empty());

    // Attaching it is refused clearly, and it stays parked.
    let list = api.get("/integrations/unmatched").await.expect_status(200);
    assert_eq!(list["items"][0]["order_id"], "7001", "{list}");
    let problem = api
        .send(
            api.request(Method::POST, "/integrations/shopify/orders/7001/attach")
                .json(&json!({"member_id": id})),
        )
        .await
        .expect_problem(422, "invalid_field");
    assert!(
        problem["detail"].as_str().unwrap().contains("more than"),
        "{problem}"
    );
    let list = api.get("/integrations/unmatched").await.expect_status(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(api.balance(id).await, 0);
    assert!(entries(&api, id).await.is_empty());
    verify_passes(&server);
}
