//! Tiers: a ladder set through the API, earning by amount with the tier's multiplier, moves up
//! and down recorded, the card page, and `fealty verify`, against a real `fealty serve` process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Api, TestServer, fresh_key};
use serde_json::{Value, json};

fn ladder() -> Value {
    json!({
        "enabled": true,
        "basis": "lifetime",
        "levels": [
            {"name": "Bronze", "colour": "#cd7f32", "threshold": 0, "multiplier_hundredths": 100},
            {"name": "Silver", "colour": "#c0c0c0", "threshold": 100, "multiplier_hundredths": 150},
            {"name": "Gold", "colour": "#ffd700", "threshold": 1000, "multiplier_hundredths": 200},
        ]
    })
}

async fn earn_amount(api: &Api, member: &str, amount_minor: i64) -> Value {
    api.transaction(
        member,
        &fresh_key(),
        &json!({"kind": "earn", "amount_minor": amount_minor}),
    )
    .await
    .expect_status(201)["entry"]
        .clone()
}

fn int(v: &Value) -> i64 {
    v.as_i64().expect("an integer")
}

async fn card_page(server: &TestServer, member: &Value) -> String {
    let token = member["card_token"].as_str().expect("card token");
    let r = reqwest::get(server.url(&format!("/c/{token}")))
        .await
        .expect("card page");
    assert_eq!(r.status(), 200);
    r.text().await.expect("card page text")
}

#[tokio::test]
async fn bad_ladders_are_refused_and_change_nothing() {
    let server = TestServer::start();
    let api = server.client();
    let before = api.get("/settings").await.expect_status(200);
    assert_eq!(
        before["tiers"]["enabled"], false,
        "tiers are off by default"
    );

    let level = |name: &str, threshold: i64, mult: i64| json!({"name": name, "colour": "#336699", "threshold": threshold, "multiplier_hundredths": mult});
    let decreasing = json!([
        level("A", 0, 100),
        level("B", 500, 150),
        level("C", 200, 200)
    ]);
    let zero_multiplier = json!([level("A", 0, 100), level("B", 100, 0)]);
    let six: Vec<Value> = (0..6)
        .map(|i| level(&format!("T{i}"), i * 100, 100))
        .collect();
    let not_from_zero = json!([level("A", 10, 100)]);
    let same_name = json!([level("Gold", 0, 100), level("gold", 10, 100)]);
    let bad_colour =
        json!([{"name": "A", "colour": "gold", "threshold": 0, "multiplier_hundredths": 100}]);
    for levels in [
        decreasing,
        zero_multiplier,
        json!(six),
        not_from_zero,
        same_name,
        bad_colour,
    ] {
        let body = json!({"business_name": "Changed", "tiers": {"enabled": true, "basis": "lifetime", "levels": levels}});
        api.patch("/settings", &body)
            .await
            .expect_problem(422, "invalid_field");
    }
    api.patch(
        "/settings",
        &json!({"tiers": {"enabled": true, "basis": "forever", "levels": []}}),
    )
    .await
    .expect_status(422);
    assert_eq!(api.get("/settings").await.expect_status(200), before);
}

#[tokio::test]
async fn members_move_up_and_down_and_earn_with_their_multiplier() {
    let server = TestServer::start();
    let api = server.client();
    let s = api
        .patch("/settings", &json!({"tiers": ladder()}))
        .await
        .expect_status(200);
    assert_eq!(s["tiers"], ladder(), "the ladder reads back as set");

    let m = api.create_member(&json!({"name": "Tia"})).await;
    let id = m["id"].as_str().expect("id").to_owned();

    // Bronze: ×1.00. 80.00 EUR earns 80 points.
    let first = earn_amount(&api, &id, 8000).await;
    assert_eq!(int(&first["points"]), 80);
    assert_eq!(api.member(&id).await["tier"], "Bronze");

    // 30.00 EUR more crosses 100 lifetime points: still earned at ×1.00, then Silver.
    let crossing = earn_amount(&api, &id, 3000).await;
    assert_eq!(int(&crossing["points"]), 30);
    let member = api.member(&id).await;
    assert_eq!(member["tier"], "Silver");
    assert_eq!(member["previous_tier"], "Bronze");
    assert!(member["tier_since"].is_string());

    // The next earn by amount uses ×1.50, rounded down: 15.99 EUR → 15 → 22 points, and says so.
    let multiplied = earn_amount(&api, &id, 1599).await;
    assert_eq!(int(&multiplied["points"]), 22);
    assert_eq!(multiplied["reason"], "Silver tier ×1.50");
    // Points given as points are not multiplied.
    let given = api.earn(&id, 10).await;
    assert_eq!(int(&given["entry"]["points"]), 10);
    assert_eq!(api.balance(&id).await, 80 + 30 + 22 + 10);

    // The card shows the tier in its colour and how far the next one is.
    let page = card_page(&server, &m).await;
    assert!(
        page.contains(r#"class="tier-badge tier-1" id="tier-name">Silver<"#),
        "card page names the tier in its colour: {page}"
    );
    assert!(
        page.contains("858 points to <strong>Gold</strong>"),
        "card page shows the way to Gold"
    );

    let css = reqwest::get(server.url("/brand/theme.css"))
        .await
        .expect("theme")
        .text()
        .await
        .expect("theme text");
    assert!(css.contains(".tier-2{background:"), "tier colours: {css}");

    // Lifetime earned is 142 (given points count too). Reversing the crossing earn leaves 112,
    // still Silver; reversing the first 80 leaves 32: Bronze at once (downgrades are immediate).
    for seq in [&crossing["seq"], &first["seq"]] {
        api.post_idem(
            &format!("/transactions/{}/reverse", int(seq)),
            &fresh_key(),
            &json!({}),
        )
        .await
        .expect_status(201);
    }
    let member = api.member(&id).await;
    assert_eq!(member["lifetime_earned"], 32);
    assert_eq!(member["tier"], "Bronze");
    assert_eq!(member["previous_tier"], "Silver");
    let after = earn_amount(&api, &id, 1000).await;
    assert_eq!(int(&after["points"]), 10, "back at ×1.00");
    assert!(after["reason"].is_null());
    let page = card_page(&server, &m).await;
    assert!(page.contains("Bronze") && page.contains("58 points to <strong>Silver</strong>"));

    let out = common::ok(&server.cli(&["verify"]));
    assert!(out.trim().starts_with("ok:"), "verify said {out:?}");
}

#[tokio::test]
async fn the_rolling_basis_counts_this_years_earning() {
    let server = TestServer::start();
    let api = server.client();
    let m = api.create_member(&json!({"name": "Ray"})).await;
    let id = m["id"].as_str().expect("id").to_owned();
    // Earned while tiers were off still counts once they are switched on.
    earn_amount(&api, &id, 12_000).await;
    let mut rolling = ladder();
    rolling["basis"] = json!("last_12_months");
    api.patch("/settings", &json!({"tiers": rolling}))
        .await
        .expect_status(200);
    let second = earn_amount(&api, &id, 1000).await;
    assert_eq!(
        int(&second["points"]),
        15,
        "120 points this year: Silver, ×1.50"
    );
    assert_eq!(api.member(&id).await["tier"], "Silver");
    let page = card_page(&server, &m).await;
    assert!(
        page.contains("865 points to <strong>Gold</strong>"),
        "1000 - 135"
    );
}

#[tokio::test]
async fn the_owner_sets_tiers_on_the_settings_page() {
    use common::pages::{by_id, form, owner_session, text};
    let (server, mut b, api) = owner_session().await;
    let settings = b.page("/admin/settings").await;
    assert!(text(&settings).contains("tiers"), "settings link to tiers");
    let page = b.page("/admin/settings/tiers").await;
    let f = form(&page, "tiers");

    // Decreasing thresholds: refused with a readable message, nothing stored.
    let bad = b
        .submit(
            &f,
            &[
                ("enabled", "on"),
                ("name_0", "Bronze"),
                ("threshold_0", "0"),
                ("multiplier_0", "1"),
                ("name_1", "Silver"),
                ("threshold_1", "0"),
                ("multiplier_1", "1.5"),
            ],
        )
        .await;
    bad.expect(422);
    assert!(
        text(&bad.text).contains("Each tier needs more points than the one before it"),
        "{}",
        text(&bad.text)
    );
    assert_eq!(
        api.get("/settings").await.expect_status(200)["tiers"]["enabled"],
        false
    );
    let bad = b
        .submit(
            &f,
            &[
                ("name_0", "Bronze"),
                ("threshold_0", "0"),
                ("multiplier_0", "0"),
            ],
        )
        .await;
    bad.expect(422);
    assert!(
        text(&bad.text).contains("Tier 1: Must be a number from 1.00 to 10.00"),
        "{}",
        text(&bad.text)
    );

    let ok = b
        .submit(
            &f,
            &[
                ("enabled", "on"),
                ("basis", "last_12_months"),
                ("name_0", "Bronze"),
                ("colour_0", "#cd7f32"),
                ("threshold_0", "0"),
                ("multiplier_0", "1"),
                ("name_1", "Gold"),
                ("colour_1", "#ffd700"),
                ("threshold_1", "200"),
                ("multiplier_1", "1,25"),
            ],
        )
        .await;
    ok.expect(303);
    let s = api.get("/settings").await.expect_status(200);
    assert_eq!(s["tiers"]["enabled"], true);
    assert_eq!(s["tiers"]["basis"], "last_12_months");
    assert_eq!(s["tiers"]["levels"][1]["multiplier_hundredths"], 125);
    let page = b.page("/admin/settings/tiers").await;
    assert_eq!(form(&page, "tiers").value("multiplier_1"), Some("1.25"));

    // The member page shows the tier.
    let m = api.create_member(&json!({"name": "Page"})).await;
    let id = m["id"].as_str().expect("id");
    earn_amount(&api, id, 15_000).await;
    earn_amount(&api, id, 10_000).await;
    let mp = b.page(&format!("/admin/members/{id}")).await;
    let line = by_id(&mp, "member-tier")
        .map(|e| e.text())
        .unwrap_or_default();
    assert!(line.contains("Tier: Gold (×1.25 on purchases)"), "{line}");
    assert!(line.contains("moved from Bronze"), "{line}");
    // The moves are in the audit log, with from and to.
    let audit = text(&b.page("/admin/audit?action=member.tier").await);
    assert_eq!(audit.matches("Member moved tier").count(), 2, "{audit}");
    assert!(
        audit.contains("Bronze") && audit.contains("Gold"),
        "{audit}"
    );

    // The till's preview shows the multiplied points before staff confirm.
    let p = b
        .submit(&form(&mp, "earn-amount"), &[("amount", "10.00")])
        .await;
    p.expect(200);
    assert!(
        text(&p.text).contains("earns 12 points"),
        "{}",
        text(&p.text)
    );
    drop(server);
}

/// A signed Shopify delivery of `fixture` with `edit` applied.
async fn shopify(
    server: &TestServer,
    topic: &str,
    id: &str,
    fixture: &str,
    edit: impl FnOnce(&mut Value),
) -> u16 {
    use base64::Engine as _;
    let path = format!(
        "{}/tests/fixtures/hooks/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    edit(&mut v);
    let body = serde_json::to_vec(&v).expect("body");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SHOPIFY_SECRET.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, &body));
    reqwest::Client::new()
        .post(server.url("/hooks/shopify"))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Hmac-Sha256", sig)
        .header("X-Shopify-Webhook-Id", id)
        .header("X-Shopify-Shop-Domain", "jsmith.myshopify.com")
        .body(body)
        .send()
        .await
        .expect("webhook")
        .status()
        .as_u16()
}

const SHOPIFY_SECRET: &str = "shpss_0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn shop_orders_earn_with_the_multiplier_and_refunds_take_it_back() {
    let server = TestServer::start();
    let api = server.client();
    api.patch("/settings", &json!({"tiers": ladder()}))
        .await
        .expect_status(200);
    api.send(
        api.request(reqwest::Method::PUT, "/integrations/shopify")
            .json(&json!({"enabled": true, "secret": SHOPIFY_SECRET, "create_members": false})),
    )
    .await
    .expect_status(200);
    let m = api
        .create_member(&json!({"name": "Jon", "email": "jon@example.com"}))
        .await;
    let id = m["id"].as_str().expect("id");
    api.earn(id, 100).await;
    assert_eq!(api.member(id).await["tier"], "Silver");

    let order = 820_982_911_946_154_508_u64;
    let status = shopify(
        &server,
        "orders/paid",
        "paid-1",
        "shopify-orders-paid.json",
        |v| {
            v["id"] = json!(order);
            v["email"] = json!("jon@example.com");
            v["contact_email"] = json!("jon@example.com");
            v["total_price"] = json!("40.00");
            v["currency"] = json!("EUR");
        },
    )
    .await;
    assert_eq!(status, 200);
    let newest = api.all_transactions(id, 10).await;
    assert_eq!(int(&newest[0]["points"]), 60, "40 points ×1.50");
    assert_eq!(newest[0]["reason"], "Silver tier ×1.50");

    // Half refunded: half of the 60 points the order really earned come back off.
    let status = shopify(
        &server,
        "refunds/create",
        "refund-1",
        "shopify-refunds-create.json",
        |v| {
            v["id"] = json!(1);
            v["order_id"] = json!(order);
            v["transactions"][0]["order_id"] = json!(order);
            v["transactions"][0]["amount"] = json!("20.00");
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(api.balance(id).await, 100 + 60 - 30);
    let out = common::ok(&server.cli(&["verify"]));
    assert!(out.trim().starts_with("ok:"), "verify said {out:?}");
}

/// Polls the member until their tier is `name` (a background re-check moves them).
async fn wait_for_tier(api: &Api, id: &str, name: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let m = api.member(id).await;
        if m["tier"] == name {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} within a minute: {m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The `moved` of each "tier re-check ran" line the server logged.
fn rechecks(server: &TestServer) -> Vec<String> {
    server
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("tier re-check ran"))
        .map(|l| l.split("moved=").nth(1).unwrap_or("").trim().to_owned())
        .collect()
}

#[tokio::test]
async fn the_recheck_moves_members_whose_earning_rolled_out_of_the_window() {
    use common::pages::{Browser, PASSWORD, add_user, by_id, text};
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let mut server = TestServer::start_with(data, &[], &[]);
    add_user(&server, "olive", "owner");
    let key = server.api_key();
    let api = server.client_with(&key);
    let m = api.create_member(&json!({"name": "Gil"})).await;
    let id = m["id"].as_str().expect("id").to_owned();
    // Earned while tiers are off: 1500 points this month.
    assert_eq!(int(&earn_amount(&api, &id, 150_000).await["points"]), 1500);
    assert!(api.member(&id).await["tier"].is_null());

    // Switching the rolling ladder on places the member without any entry being posted.
    let mut rolling = ladder();
    rolling["basis"] = json!("last_12_months");
    api.patch("/settings", &json!({"tiers": rolling}))
        .await
        .expect_status(200);
    let gold = wait_for_tier(&api, &id, "Gold").await;
    assert!(gold["previous_tier"].is_null());
    server.stop();

    // 400 days on, the earning is 13 months old: the start's run moves Gil down to Bronze.
    let mut server = TestServer::start_with(
        data,
        &["--clock-offset", "400d", "--expire-every", "1s"],
        &[],
    );
    let api = server.client_with(&key);
    let bronze = wait_for_tier(&api, &id, "Bronze").await;
    assert_eq!(bronze["previous_tier"], "Gold");
    assert_eq!(bronze["lifetime_earned"], 1500, "lifetime stays");
    assert_eq!(api.balance(&id).await, 1500, "no entry was posted");

    // Later runs move nobody.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rechecks(&server).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "three re-check runs");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let runs = rechecks(&server);
    assert_eq!(runs[0], "1", "{runs:?}");
    assert!(runs[1..].iter().all(|r| r == "0"), "{runs:?}");
    assert_eq!(
        api.member(&id).await,
        bronze,
        "the second run changed nothing"
    );

    // The card says Bronze and counts from nothing this year; the member page and the audit
    // log say Gil moved from Gold.
    let page = card_page(&server, &m).await;
    assert!(
        page.contains(r#"id="tier-name">Bronze<"#)
            && page.contains("100 points to <strong>Silver</strong>"),
        "{page}"
    );
    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;
    let mp = b.page(&format!("/admin/members/{id}")).await;
    let line = by_id(&mp, "member-tier")
        .map(|e| e.text())
        .unwrap_or_default();
    assert!(
        line.contains("Tier: Bronze") && line.contains("moved from Gold"),
        "{line}"
    );
    let audit = text(&b.page("/admin/audit?action=member.tier").await);
    assert_eq!(audit.matches("Member moved tier").count(), 2, "{audit}");
    assert!(
        audit.contains("Gold") && audit.contains("Bronze"),
        "{audit}"
    );
    let out = common::ok(&server.cli(&["verify"]));
    assert!(out.trim().starts_with("ok:"), "verify said {out:?}");
    server.stop();
}
