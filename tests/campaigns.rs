//! Bonus campaigns against a real `fealty serve` process: campaigns set through the API and the
//! settings page, earns on a Tuesday (the hidden `--clock-offset` picks the day), a first
//! purchase bonus given once, a category ×3, the preview agreeing with the real earn, the
//! dashboard's bonus total and a reversal taking it back out, and `fealty verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::{Browser, PASSWORD, add_user, by_id, data_value, form, owner_session, text};
use common::{Api, TestServer, fresh_key};
use serde_json::{Value, json};

/// Seconds from now to the next Tuesday 12:00 UTC (the business's zone is UTC by default), at
/// least an hour ahead so the day cannot change during the test.
fn to_next_tuesday_noon() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    let mut target = now.replace_time(time::macros::time!(12:00));
    while target.weekday() != time::Weekday::Tuesday || target - now < time::Duration::hours(1) {
        target += time::Duration::days(1);
    }
    (target - now).whole_seconds()
}

async fn put_campaigns(api: &Api, body: &Value) -> common::Resp {
    api.send(api.request(reqwest::Method::PUT, "/campaigns").json(body))
        .await
}

fn campaigns() -> Value {
    json!({"campaigns": [
        {"name": "Double Tuesdays", "kind": "weekdays", "days": ["tuesday"], "multiplier_hundredths": 200, "enabled": true},
        {"name": "First purchase", "kind": "first_purchase", "bonus": 50, "enabled": true},
        {"name": "Beans", "kind": "category", "category": "coffee-beans", "multiplier_hundredths": 300, "enabled": true},
        {"name": "Sunday special", "kind": "weekdays", "days": ["sunday"], "multiplier_hundredths": 500, "enabled": true},
        {"name": "Finished", "kind": "weekdays", "days": ["tuesday"], "multiplier_hundredths": 1000, "ends": "2020-01-31", "enabled": true},
    ]})
}

async fn earn(api: &Api, member: &str, body: Value) -> Value {
    api.transaction(member, &fresh_key(), &body)
        .await
        .expect_status(201)["entry"]
        .clone()
}

async fn preview(api: &Api, body: Value) -> Value {
    api.post("/campaigns/preview", &body)
        .await
        .expect_status(200)
}

async fn dashboard_bonus(b: &mut Browser) -> (i64, i64, i64) {
    let page = b.page("/admin").await;
    (
        data_value(&page, "bonus-total"),
        data_value(&page, "bonus-month"),
        data_value(&page, "bonus-today"),
    )
}

#[tokio::test]
async fn campaigns_through_the_api_on_a_tuesday() {
    let dir = tempfile::tempdir().unwrap();
    let offset = format!("{}s", to_next_tuesday_noon());
    let server = TestServer::start_with(dir.path(), &["--clock-offset", &offset], &[]);
    let api = server.client();
    add_user(&server, "olive", "owner");
    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;

    // Bad campaigns: 422 naming the field, and nothing stored.
    let one = |c: Value| json!({"campaigns": [c]});
    for (body, field) in [
        (
            one(
                json!({"name": "A", "kind": "weekdays", "multiplier_hundredths": 200, "enabled": true}),
            ),
            "days",
        ),
        (
            one(json!({"name": "A", "kind": "weekdays", "days": ["tuesday"], "enabled": true})),
            "multiplier_hundredths",
        ),
        (
            one(
                json!({"name": "A", "kind": "category", "category": "Coffee Beans", "multiplier_hundredths": 200, "enabled": true}),
            ),
            "category",
        ),
        (
            one(json!({"name": "A", "kind": "first_purchase", "bonus": 0, "enabled": true})),
            "bonus",
        ),
        (
            one(
                json!({"name": "A", "kind": "first_purchase", "bonus": 5, "starts": "2026-12-02", "ends": "2026-12-01", "enabled": true}),
            ),
            "ends",
        ),
        (
            one(
                json!({"name": "A", "kind": "first_purchase", "bonus": 5, "starts": "2026-02-30", "enabled": true}),
            ),
            "starts",
        ),
        (
            json!({"campaigns": [
            {"name": "Same", "kind": "first_purchase", "bonus": 5, "enabled": true},
            {"name": "same", "kind": "first_purchase", "bonus": 6, "enabled": true}]}),
            "name",
        ),
    ] {
        let p = put_campaigns(&api, &body).await.expect_status(422);
        assert!(
            p.to_string().contains(field),
            "{body} should be refused naming {field}: {p}"
        );
    }
    let twenty_one: Vec<Value> = (0..21)
        .map(|i| json!({"name": format!("C{i}"), "kind": "first_purchase", "bonus": 1, "enabled": true}))
        .collect();
    put_campaigns(&api, &json!({"campaigns": twenty_one}))
        .await
        .expect_status(422);
    assert_eq!(
        api.get("/campaigns").await.expect_status(200),
        json!({"campaigns": []})
    );

    let saved = put_campaigns(&api, &campaigns()).await.expect_status(200);
    assert_eq!(saved["campaigns"].as_array().map(Vec::len), Some(5));
    assert_eq!(api.get("/campaigns").await.expect_status(200), saved);

    // The preview of a first purchase of 19.99 today (a Tuesday): ×2 then +50.
    let p = preview(&api, json!({"amount_minor": 1999, "first_purchase": true})).await;
    assert_eq!(
        (
            p["base_points"].as_i64(),
            p["points"].as_i64(),
            p["bonus"].as_i64()
        ),
        (Some(19), Some(88), Some(69)),
        "{p}"
    );
    assert_eq!(p["multiplier"]["name"], "Double Tuesdays");
    let verdicts: Vec<&str> = p["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["applied", "applied", "no_match", "no_match", "out_of_dates"]
    );

    // Another day, and draft campaigns instead of the saved ones (6 Dec 2026 is a Sunday).
    let sunday = preview(&api, json!({"amount_minor": 1000, "date": "2026-12-06"})).await;
    assert_eq!(sunday["points"], 50, "{sunday}");
    assert_eq!(sunday["campaigns"][0]["verdict"], "no_match");
    let draft = |enabled: bool| {
        json!({"amount_minor": 1000, "date": "2026-12-06", "campaigns": [
            {"name": "Draft", "kind": "weekdays", "days": ["sunday"], "multiplier_hundredths": 400, "enabled": enabled}]})
    };
    assert_eq!(preview(&api, draft(true)).await["points"], 40);
    assert_eq!(preview(&api, draft(false)).await["points"], 10);
    // Changing campaigns needs settings:write.
    let reader = server.client_with(&server.api_key_with("reader", &["members:read"]));
    put_campaigns(&reader, &json!({"campaigns": []}))
        .await
        .expect_status(403);

    // The real first purchase earns exactly that, and says why.
    let m = api.create_member(&json!({"name": "Tess"})).await;
    let id = m["id"].as_str().unwrap();
    let first = earn(
        &api,
        id,
        json!({"kind": "earn", "amount_minor": 1999, "reason": "Purchase"}),
    )
    .await;
    assert_eq!(first["points"], 88);
    assert_eq!(
        first["reason"],
        "Purchase · Double Tuesdays ×2.00 · First purchase +50"
    );
    assert_eq!(api.balance(id).await, 88);

    // The second purchase gets no first-purchase bonus.
    let second = earn(&api, id, json!({"kind": "earn", "amount_minor": 1000})).await;
    assert_eq!(second["points"], 20);
    assert_eq!(second["reason"], "Double Tuesdays ×2.00");

    // A category ×3 beats the ×2 of the day; the preview says so first.
    let p = preview(
        &api,
        json!({"amount_minor": 1000, "category": "coffee-beans"}),
    )
    .await;
    assert_eq!(p["points"], 30, "{p}");
    assert_eq!(p["campaigns"][0]["verdict"], "outdone");
    let beans = earn(
        &api,
        id,
        json!({"kind": "earn", "amount_minor": 1000, "category": "Coffee-Beans"}),
    )
    .await;
    assert_eq!(beans["points"], p["points"]);
    assert_eq!(beans["reason"], "Beans ×3.00");
    assert_eq!(api.balance(id).await, 88 + 20 + 30);
    // Points given by number are not purchases: no campaign, and no category with them.
    let given = earn(&api, id, json!({"kind": "earn", "points": 7})).await;
    assert_eq!(given["points"], 7);
    api.transaction(
        id,
        &fresh_key(),
        &json!({"kind": "earn", "points": 7, "category": "coffee-beans"}),
    )
    .await
    .expect_status(422);
    api.transaction(
        id,
        &fresh_key(),
        &json!({"kind": "earn", "amount_minor": 100, "category": "no spaces"}),
    )
    .await
    .expect_status(422);

    // The card page's history shows the reason.
    let token = m["card_token"].as_str().unwrap();
    let card = reqwest::get(server.url(&format!("/c/{token}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text(&card).contains("Double Tuesdays ×2.00"), "card page");

    // Bonus: 69 + 10 + 20 above what the plain rule gives.
    assert_eq!(dashboard_bonus(&mut b).await, (99, 99, 99));
    assert_eq!(
        api.get("/stats").await.expect_status(200)["bonus_points_issued"],
        99
    );
    let page = b.page("/admin").await;
    let by_campaign = by_id(&page, "table-bonus")
        .map(|e| e.text())
        .unwrap_or_default();
    assert!(
        by_campaign.contains("Beans") && by_campaign.contains("20"),
        "{by_campaign}"
    );

    // A reversal takes its bonus back out.
    api.post_idem(
        &format!("/transactions/{}/reverse", beans["seq"]),
        &fresh_key(),
        &json!({}),
    )
    .await
    .expect_status(201);
    assert_eq!(dashboard_bonus(&mut b).await, (79, 79, 79));
    let stats = api.get("/stats").await.expect_status(200);
    assert_eq!(stats["bonus_points_issued"], 79);
    assert_eq!(api.balance(id).await, 88 + 20 + 7);

    // A purchase whose bonus would pass the cap on one entry is refused, nothing written:
    // at 100 points a unit the largest amount earns exactly the cap, ×3 would not fit.
    api.patch("/settings", &json!({"points_per_unit": 100}))
        .await
        .expect_status(200);
    let huge = api
        .transaction(
            id,
            &fresh_key(),
            &json!({"kind": "earn", "amount_minor": 1_000_000_000_000_i64, "category": "coffee-beans"}),
        )
        .await;
    let problem = huge.expect_status(422);
    assert!(problem.to_string().contains("amount_minor"), "{problem}");
    assert_eq!(api.balance(id).await, 88 + 20 + 7);

    drop(b);
    let mut server = server;
    server.stop();
    let out = common::ok(&common::cli(dir.path(), &["verify"]));
    assert!(out.trim().starts_with("ok:"), "verify said {out:?}");
}

#[tokio::test]
async fn the_owner_previews_and_saves_a_campaign_on_the_settings_page() {
    let (server, mut b, api) = owner_session().await;
    let settings = b.page("/admin/settings").await;
    assert!(text(&settings).contains("bonus campaigns"), "settings link");
    let page = b.page("/admin/settings/campaigns").await;
    let f = form(&page, "campaign");
    let every_day = [
        ("day_monday", "on"),
        ("day_tuesday", "on"),
        ("day_wednesday", "on"),
        ("day_thursday", "on"),
        ("day_friday", "on"),
        ("day_saturday", "on"),
        ("day_sunday", "on"),
    ];
    let mut fields = vec![
        ("name", "Every day"),
        ("kind", "weekdays"),
        ("multiplier", "1,5"),
        ("enabled", ""),
        ("sample_amount", "10.00"),
    ];
    fields.extend(every_day);

    // A draft, switched off, previewed on 10.00: ×1.5 = 15 points; nothing is saved.
    let p = b.submit(&f, &fields).await;
    p.expect(200);
    let shown = by_id(&p.text, "preview")
        .map(|e| e.text())
        .unwrap_or_default();
    assert!(shown.contains("Preview: 15 points"), "{shown}");
    assert_eq!(
        by_id(&p.text, "preview-bonus").map(|e| e.text()).as_deref(),
        Some("5")
    );
    assert_eq!(
        api.get("/campaigns").await.expect_status(200),
        json!({"campaigns": []})
    );

    // No days: refused with the reason beside the field, nothing saved.
    let no_days: Vec<(&str, &str)> = fields
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("day_"))
        .chain([("action", "save")])
        .collect();
    let bad = b.submit(&f, &no_days).await;
    bad.expect(422);
    assert!(
        text(&bad.text).contains("Choose at least one day"),
        "{}",
        text(&bad.text)
    );
    assert_eq!(
        api.get("/campaigns").await.expect_status(200),
        json!({"campaigns": []})
    );

    // Saved, switched on.
    let mut save = fields.clone();
    save.retain(|(k, _)| *k != "enabled");
    save.extend([("enabled", "on"), ("action", "save")]);
    b.submit(&f, &save).await.expect(303);
    let saved = api.get("/campaigns").await.expect_status(200);
    assert_eq!(saved["campaigns"][0]["name"], "Every day");
    assert_eq!(saved["campaigns"][0]["multiplier_hundredths"], 150);
    assert_eq!(saved["campaigns"][0]["enabled"], true);

    // The till's preview and the real earn agree with the campaign preview.
    let m = api.create_member(&json!({"name": "Page"})).await;
    let id = m["id"].as_str().unwrap();
    let mp = b.page(&format!("/admin/members/{id}")).await;
    let till = b
        .submit(&form(&mp, "earn-amount"), &[("amount", "10.00")])
        .await;
    till.expect(200);
    assert!(
        text(&till.text).contains("earns 15 points"),
        "{}",
        text(&till.text)
    );
    let e = earn(&api, id, json!({"kind": "earn", "amount_minor": 1000})).await;
    assert_eq!(e["points"], 15);
    assert_eq!(e["reason"], "Every day ×1.50");
    // The member page's history shows it.
    let mp = b.page(&format!("/admin/members/{id}")).await;
    assert!(text(&mp).contains("Every day ×1.50"));
    assert_eq!(dashboard_bonus(&mut b).await.0, 5);

    // Edit it, switch it off, delete it.
    let page = b.page("/admin/settings/campaigns?edit=0").await;
    let f = form(&page, "campaign");
    assert_eq!(f.value("multiplier"), Some("1.50"));
    assert_eq!(f.value("index"), Some("0"));
    b.submit(&f, &[("name", "Every single day"), ("action", "save")])
        .await
        .expect(303);
    let page = b.page("/admin/settings/campaigns").await;
    assert!(text(&page).contains("Every single day"));
    b.submit(
        &common::pages::form_by_action(&page, "/admin/settings/campaigns/0/toggle").unwrap(),
        &[],
    )
    .await
    .expect(303);
    let saved = api.get("/campaigns").await.expect_status(200);
    assert_eq!(saved["campaigns"][0]["enabled"], false);
    assert_eq!(saved["campaigns"].as_array().map(Vec::len), Some(1));
    let off = earn(&api, id, json!({"kind": "earn", "amount_minor": 1000})).await;
    assert_eq!(off["points"], 10, "switched off");
    let page = b.page("/admin/settings/campaigns").await;
    b.submit(
        &common::pages::form_by_action(&page, "/admin/settings/campaigns/0/delete").unwrap(),
        &[],
    )
    .await
    .expect(303);
    assert_eq!(
        api.get("/campaigns").await.expect_status(200),
        json!({"campaigns": []})
    );
    drop(server);
}
