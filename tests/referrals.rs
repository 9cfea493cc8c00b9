//! Referrals and birthday points against a real `fealty serve`: a referral link from the card
//! page used to join, the first purchase rewarding both members once, the guards (same email,
//! yearly cap, blocked referrer) refused with their reason on the member page, the dashboard's
//! numbers; birthday points on the day (the hidden `--clock-offset`), once across a restart;
//! and `fealty verify` afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::{Browser, by_id, form, owner_session, text};
use common::{Api, TestServer, fresh_key, ok};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longer than the join form's shortest human fill time.
const HUMAN_PAUSE: Duration = Duration::from_millis(2300);
const WAIT: Duration = Duration::from_secs(30);

async fn card_page(token: &str, server: &TestServer) -> String {
    let r = reqwest::get(server.url(&format!("/c/{token}")))
        .await
        .expect("card page");
    assert_eq!(r.status(), 200);
    r.text().await.expect("card page text")
}

async fn by_email(api: &Api, email: &str) -> Value {
    let page = api
        .get(&format!("/members?q={}", common::encode(email)))
        .await
        .expect_status(200);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one member with {email}: {page}");
    items[0].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

async fn buy(api: &Api, member: &str, amount_minor: i64) {
    api.transaction(
        member,
        &fresh_key(),
        &json!({"kind": "earn", "amount_minor": amount_minor}),
    )
    .await
    .expect_status(201);
}

/// The member's entries with a reason starting "referral", as (points, amount present).
async fn referral_entries(api: &Api, member: &str) -> Vec<(i64, bool)> {
    api.all_transactions(member, 100)
        .await
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("referral"))
        })
        .map(|e| {
            assert_eq!(e["kind"], "earn");
            (e["points"].as_i64().unwrap(), !e["amount_minor"].is_null())
        })
        .collect()
}

async fn set_referrals(api: &Api, enabled: bool) {
    api.patch(
        "/settings",
        &json!({"referrals": {"enabled": enabled, "referrer_points": 100, "new_member_points": 50, "yearly_cap": 2}}),
    )
    .await
    .expect_status(200);
}

#[tokio::test]
async fn a_referral_link_rewards_both_members_once_and_the_guards_refuse() {
    let (server, mut owner, api) = owner_session().await;
    set_referrals(&api, true).await;
    assert_eq!(
        api.get("/settings").await.expect_status(200)["referrals"]["yearly_cap"],
        2
    );

    let ann = api
        .create_member(&json!({"name": "Ann Referrer", "email": "ann@example.com"}))
        .await;
    let eve = api
        .create_member(&json!({"name": "Eve Blocked", "email": "eve@example.com"}))
        .await;
    let ann_page = card_page(ann["card_token"].as_str().unwrap(), &server).await;
    let link = by_id(&ann_page, "referral-link")
        .map(|e| e.text())
        .unwrap_or_default();
    let at = link
        .find("/join?ref=")
        .expect("a join link on the card page");
    let ann_join = link[at..].to_owned();
    assert!(
        !ann_join.contains(ann["card_number"].as_str().unwrap())
            && !ann_join.contains(ann["card_token"].as_str().unwrap()),
        "the code is neither the card number nor its token: {ann_join}"
    );
    assert!(
        text(&ann_page).contains("you get 100 points and they get 50 points"),
        "{}",
        text(&ann_page)
    );
    let eve_page = card_page(eve["card_token"].as_str().unwrap(), &server).await;
    let eve_link = by_id(&eve_page, "referral-link").unwrap().text();
    let eve_join = eve_link[eve_link.find("/join?ref=").unwrap()..].to_owned();
    assert_ne!(ann_join, eve_join);

    // A garbled code: a polite note, and joining still works (without a referrer).
    let mut probe = Browser::new(&server);
    let garbled = probe.page("/join?ref=NOT-A-CODE").await;
    assert!(
        text(&garbled).contains("could not find the invitation"),
        "{}",
        text(&garbled)
    );
    assert!(form(&garbled, "join").value("ref").is_none());
    let invited = probe.page(&ann_join).await;
    assert!(
        text(&invited)
            .contains("A friend invited you. You get 50 points with your first purchase."),
        "{}",
        text(&invited)
    );

    // Everyone loads the form, pauses once like a person, then joins.
    let joiners = [
        ("Bob", "bob@example.com", ann_join.as_str()),
        ("Ann Again", "Ann+shop@Example.com", ann_join.as_str()),
        ("Carl", "carl@example.com", ann_join.as_str()),
        ("Dora", "dora@example.com", ann_join.as_str()),
        ("Fred", "fred@example.com", eve_join.as_str()),
        ("Gus", "gus@example.com", "/join?ref=ZZZZ2222"),
        ("Hank", "hank@example.com", ann_join.as_str()),
    ];
    let mut forms = Vec::new();
    for (_, _, path) in joiners {
        let mut b = Browser::new(&server);
        let f = b.join_form(path).await;
        forms.push((b, f));
    }
    tokio::time::sleep(HUMAN_PAUSE).await;
    for ((name, email, _), (b, f)) in joiners.iter().zip(forms.iter_mut()) {
        // Bob also gives his birthday, which the join form takes (optional).
        let birthday = if *name == "Bob" { "05-10" } else { "" };
        // Hank joins while referrals are switched off for a moment.
        if *name == "Hank" {
            set_referrals(&api, false).await;
        }
        b.submit(
            f,
            &[("name", name), ("email", email), ("birthday", birthday)],
        )
        .await
        .expect(303);
    }

    set_referrals(&api, true).await;
    let hank = by_email(&api, "hank@example.com").await;
    assert_eq!(hank["referred_by"], ann["id"]);
    assert_eq!(hank["referral_refusal"], "switched_off");
    buy(&api, &id(&hank), 1000).await;
    assert_eq!(api.balance(&id(&hank)).await, 10);
    assert_eq!(api.balance(&id(&ann)).await, 0);

    let bob = by_email(&api, "bob@example.com").await;
    assert_eq!(bob["referred_by"], ann["id"]);
    assert_eq!(bob["referral_status"], "pending");
    assert_eq!(bob["birthday"], "05-10");
    let selfish = by_email(&api, "ann+shop@example.com").await;
    assert_eq!(selfish["referral_status"], "refused");
    assert_eq!(selfish["referral_refusal"], "same_email");
    let gus = by_email(&api, "gus@example.com").await;
    assert!(gus["referred_by"].is_null(), "{gus}");
    let (carl, dora, fred) = (
        by_email(&api, "carl@example.com").await,
        by_email(&api, "dora@example.com").await,
        by_email(&api, "fred@example.com").await,
    );
    assert_eq!(fred["referred_by"], eve["id"]);

    // Points given without a purchase complete nothing.
    api.earn(&id(&bob), 5).await;
    assert_eq!(api.balance(&id(&ann)).await, 0);

    // Bob's first purchase: 10 points for it, 50 for joining through Ann; Ann gets 100.
    buy(&api, &id(&bob), 1000).await;
    assert_eq!(api.balance(&id(&bob)).await, 5 + 10 + 50);
    assert_eq!(api.balance(&id(&ann)).await, 100);
    assert_eq!(referral_entries(&api, &id(&ann)).await, vec![(100, false)]);
    assert_eq!(referral_entries(&api, &id(&bob)).await, vec![(50, false)]);
    assert_eq!(
        by_email(&api, "bob@example.com").await["referral_status"],
        "rewarded"
    );
    // The second purchase: only its own points.
    buy(&api, &id(&bob), 1000).await;
    assert_eq!(api.balance(&id(&bob)).await, 5 + 10 + 50 + 10);
    assert_eq!(api.balance(&id(&ann)).await, 100);

    // Same email as Ann (a +tag): refused at join, and the purchase gives no referral points.
    buy(&api, &id(&selfish), 1000).await;
    assert_eq!(api.balance(&id(&selfish)).await, 10);
    assert_eq!(api.balance(&id(&ann)).await, 100);

    // Carl is Ann's second this year (the cap); Dora's would be the third: refused.
    buy(&api, &id(&carl), 2000).await;
    assert_eq!(api.balance(&id(&carl)).await, 20 + 50);
    assert_eq!(api.balance(&id(&ann)).await, 200);
    buy(&api, &id(&dora), 2000).await;
    assert_eq!(api.balance(&id(&dora)).await, 20);
    assert_eq!(api.balance(&id(&ann)).await, 200);
    let dora = by_email(&api, "dora@example.com").await;
    assert_eq!(dora["referral_refusal"], "cap_reached");

    // Eve is blocked when Fred buys: refused, and Fred gets no welcome points either.
    api.patch(
        &format!("/members/{}", id(&eve)),
        &json!({"status": "blocked"}),
    )
    .await
    .expect_status(200);
    buy(&api, &id(&fred), 3000).await;
    assert_eq!(api.balance(&id(&fred)).await, 30);
    assert_eq!(api.balance(&id(&eve)).await, 0);
    assert_eq!(
        by_email(&api, "fred@example.com").await["referral_refusal"],
        "referrer_blocked"
    );

    // The member pages say who referred whom and why there were no points.
    let page = owner.page(&format!("/admin/members/{}", id(&dora))).await;
    let line = by_id(&page, "member-referred-by").unwrap().text();
    assert!(
        line.contains("Referred by Ann Referrer")
            && line.contains("no referral points: the referrer reached this year's limit"),
        "{line}"
    );
    let page = owner.page(&format!("/admin/members/{}", id(&fred))).await;
    let line = by_id(&page, "member-referred-by").unwrap().text();
    assert!(line.contains("the referrer was blocked"), "{line}");
    let page = owner
        .page(&format!("/admin/members/{}", id(&selfish)))
        .await;
    let line = by_id(&page, "member-referred-by").unwrap().text();
    assert!(
        line.contains("the same email address as the referrer"),
        "{line}"
    );
    let page = owner.page(&format!("/admin/members/{}", id(&bob))).await;
    let line = by_id(&page, "member-referred-by").unwrap().text();
    assert!(
        line.contains("rewarded on")
            && line.contains("100 points to the referrer, 50 points to this member"),
        "{line}"
    );
    let page = owner.page(&format!("/admin/members/{}", id(&ann))).await;
    let own = by_id(&page, "member-referral-link").unwrap().text();
    assert!(own.ends_with(&ann_join), "{own}");

    // The dashboard and the stats: two referrals rewarded, 2 × (100 + 50) points.
    let dash = owner.page("/admin").await;
    assert_eq!(
        by_id(&dash, "stat-referrals").map(|e| e.text()).as_deref(),
        Some("2"),
        "{}",
        text(&dash)
    );
    assert_eq!(
        by_id(&dash, "stat-referral-points")
            .map(|e| e.text())
            .as_deref(),
        Some("300")
    );
    // Six joined through a link (Gus's code found no one), the refused ones included.
    assert_eq!(
        by_id(&dash, "stat-referrals-joined")
            .map(|e| e.text())
            .as_deref(),
        Some("6")
    );
    let stats = api.get("/stats").await.expect_status(200);
    assert_eq!(stats["referrals_joined"], 6, "{stats}");
    assert_eq!(
        (&stats["referrals_rewarded"], &stats["referral_points"]),
        (&json!(2), &json!(300)),
        "{stats}"
    );

    let out = ok(&server.cli(&["verify"]));
    assert!(out.trim().starts_with("ok:"), "verify said {out:?}");
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let (_server, mut owner, api) = owner_session().await;
    let before = api.get("/settings").await.expect_status(200);
    assert_eq!(before["referrals"]["enabled"], false, "off by default");
    assert_eq!(before["birthday"]["enabled"], false, "off by default");
    for bad in [
        json!({"business_name": "Changed", "referrals": {"enabled": true, "referrer_points": -1, "new_member_points": 50, "yearly_cap": 10}}),
        json!({"referrals": {"enabled": true, "referrer_points": 100, "new_member_points": 100_001, "yearly_cap": 10}}),
        json!({"referrals": {"enabled": true, "referrer_points": 100, "new_member_points": 50, "yearly_cap": 0}}),
        json!({"referrals": {"enabled": true, "referrer_points": 100, "new_member_points": 50, "yearly_cap": 1001}}),
        json!({"birthday": {"enabled": true, "points": 0}}),
        json!({"business_name": "Changed", "birthday": {"enabled": true, "points": 100_001}}),
    ] {
        api.patch("/settings", &bad)
            .await
            .expect_problem(422, "invalid_field");
    }
    api.patch("/settings", &json!({"birthday": {"enabled": true}}))
        .await
        .expect_status(422);
    assert_eq!(api.get("/settings").await.expect_status(200), before);

    // A bad birthday on a member: refused, nothing made.
    for bad in ["04-31", "2001-02-29", "13-01", "4/30"] {
        api.post("/members", &json!({"name": "Bad Day", "birthday": bad}))
            .await
            .expect_status(422);
    }
    let m = api
        .create_member(&json!({"name": "Leap", "birthday": "02-29"}))
        .await;
    assert_eq!(m["birthday"], "02-29");
    let m = api
        .patch(
            &format!("/members/{}", id(&m)),
            &json!({"birthday": "1990-04-30"}),
        )
        .await
        .expect_status(200);
    assert_eq!(m["birthday"], "1990-04-30");

    // The member form: a day the month lacks is refused beside the field, nothing changes.
    let edit = owner.page(&format!("/admin/members/{}/edit", id(&m))).await;
    let f = form(&edit, "member-form");
    assert_eq!(f.value("birthday"), Some("1990-04-30"));
    let bad = owner.submit(&f, &[("birthday", "04-31")]).await;
    bad.expect(422);
    assert!(
        by_id(&bad.text, "birthday-error")
            .is_some_and(|e| e.text().contains("not a day of the calendar")),
        "{}",
        text(&bad.text)
    );
    assert_eq!(api.member(&id(&m)).await["birthday"], "1990-04-30");
    owner.submit(&f, &[("birthday", "12-24")]).await.expect(303);
    assert_eq!(api.member(&id(&m)).await["birthday"], "12-24");
    let page = owner.page(&format!("/admin/members/{}", id(&m))).await;
    assert_eq!(
        by_id(&page, "member-birthday").map(|e| e.text()).as_deref(),
        Some("Birthday: 24 December")
    );

    // The settings page: linked from settings, a readable refusal, then saved.
    let settings = owner.page("/admin/settings").await;
    assert!(by_id(&settings, "rules-link").is_some());
    let page = owner.page("/admin/settings/referrals").await;
    let bad = owner
        .submit(
            &form(&page, "referrals"),
            &[("referrals_enabled", "on"), ("referral_yearly_cap", "0")],
        )
        .await;
    bad.expect(422);
    assert!(
        text(&bad.text).contains("Must be between 1 and 1000"),
        "{}",
        text(&bad.text)
    );
    assert_eq!(
        api.get("/settings").await.expect_status(200)["referrals"]["enabled"],
        false
    );
    owner
        .submit(
            &form(&page, "referrals"),
            &[
                ("referrals_enabled", "on"),
                ("referrer_points", "70"),
                ("new_member_points", "30"),
                ("referral_yearly_cap", "5"),
            ],
        )
        .await
        .expect_redirect("/admin/settings/referrals?saved=referrals");
    let page = owner.page("/admin/settings/referrals").await;
    owner
        .submit(
            &form(&page, "birthday"),
            &[("birthday_enabled", "on"), ("birthday_points", "40")],
        )
        .await
        .expect_redirect("/admin/settings/referrals?saved=birthday");
    let s = api.get("/settings").await.expect_status(200);
    assert_eq!(
        s["referrals"],
        json!({"enabled": true, "referrer_points": 70, "new_member_points": 30, "yearly_cap": 5})
    );
    assert_eq!(s["birthday"], json!({"enabled": true, "points": 40}));
}

/// The server on `data` with its daily jobs every `every`, living `offset` ahead.
fn serve(data: &Path, offset: Option<&str>, every: &str) -> TestServer {
    let mut args = vec!["--expire-every", every];
    if let Some(o) = offset {
        args.extend(["--clock-offset", o]);
    }
    TestServer::start_with(data, &args, &[])
}

/// Waits until the server has logged `n` birthday runs.
fn birthday_runs(server: &TestServer, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = server
            .stderr_lines()
            .iter()
            .chain(server.stdout_lines().iter())
            .filter(|l| l.contains("birthday points ran"))
            .count();
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} birthday runs within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn birthday_entries(api: &Api, member: &str) -> Vec<(i64, String)> {
    api.all_transactions(member, 100)
        .await
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("birthday"))
        })
        .map(|e| {
            (
                e["points"].as_i64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn birthday_points_come_on_the_day_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Noon (UTC, the default time zone) three days from now: the server's "today" below.
    let now = time::OffsetDateTime::now_utc();
    let day = now.date() + time::Duration::days(3);
    let noon = day.with_hms(12, 0, 0).unwrap().assume_utc();
    let offset = format!("{}s", (noon - now).whole_seconds());
    let md = |d: time::Date| format!("{:02}-{:02}", u8::from(d.month()), d.day());

    let mut server = serve(data, None, "1h");
    let key = server.api_key();
    let api = server.client_with(&key);
    api.patch(
        "/settings",
        &json!({"birthday": {"enabled": true, "points": 25}}),
    )
    .await
    .expect_status(200);
    let bea = api
        .create_member(&json!({"name": "Bea", "birthday": md(day)}))
        .await;
    let cy = api
        .create_member(&json!({"name": "Cy", "birthday": md(day)}))
        .await;
    api.patch(
        &format!("/members/{}", id(&cy)),
        &json!({"status": "blocked"}),
    )
    .await
    .expect_status(200);
    let dee = api
        .create_member(&json!({"name": "Dee", "birthday": md(day + time::Duration::days(1))}))
        .await;
    // Set later, through an update: the index follows.
    let flo = api.create_member(&json!({"name": "Flo"})).await;
    api.patch(
        &format!("/members/{}", id(&flo)),
        &json!({"birthday": format!("1990-{}", md(day))}),
    )
    .await
    .expect_status(200);
    // Not yet their birthday today.
    birthday_runs(&server, 1);
    assert_eq!(api.balance(&id(&bea)).await, 0);
    server.stop();

    // Three days on: the start's run gives Bea and Flo their points; Cy is blocked, Dee is tomorrow.
    let mut server = serve(data, Some(&offset), "1h");
    let api = server.client_with(&key);
    birthday_runs(&server, 1);
    let reason = format!("birthday {}", day.year());
    assert_eq!(
        birthday_entries(&api, &id(&bea)).await,
        vec![(25, reason.clone())]
    );
    assert_eq!(
        birthday_entries(&api, &id(&flo)).await,
        vec![(25, reason.clone())]
    );
    assert_eq!(api.balance(&id(&cy)).await, 0);
    assert_eq!(api.balance(&id(&dee)).await, 0);
    server.stop();

    // A restart and runs every second: nothing more.
    let mut server = serve(data, Some(&offset), "1s");
    let api = server.client_with(&key);
    birthday_runs(&server, 3);
    assert_eq!(birthday_entries(&api, &id(&bea)).await, vec![(25, reason)]);
    assert_eq!(api.balance(&id(&bea)).await, 25);
    let stats = api.get("/stats").await.expect_status(200);
    assert_eq!(stats["birthday_points"], 50, "{stats}");
    ok(&server.cli(&["verify"]));
    server.stop();
}

#[tokio::test]
async fn customers_set_their_birthday_on_the_account_page() {
    let server = TestServer::start();
    let api = server.client();
    let m = api
        .create_member(&json!({"name": "Kim", "email": "kim@example.com"}))
        .await;
    let card = format!("/c/{}", m["card_token"].as_str().unwrap());
    let mut cust = Browser::new(&server);
    let html = cust.page(&card).await;
    cust.submit(
        &form(&html, "set-password"),
        &[
            ("contact", "kim@example.com"),
            ("password", "246810"),
            ("confirm", "246810"),
        ],
    )
    .await
    .expect(303);
    cust.customer_login_ok("kim@example.com", "246810").await;
    let account = cust.page("/account").await;
    let f = form(&account, "details");
    let bad = cust.submit(&f, &[("birthday", "02-30")]).await;
    bad.expect(422);
    assert!(
        by_id(&bad.text, "birthday-error").is_some(),
        "{}",
        text(&bad.text)
    );
    assert!(api.member(&id(&m)).await["birthday"].is_null());
    let account = cust.page("/account").await;
    cust.submit(&form(&account, "details"), &[("birthday", "02-29")])
        .await
        .expect_redirect("/account");
    assert_eq!(api.member(&id(&m)).await["birthday"], "02-29");
    let account = cust.page("/account").await;
    assert_eq!(form(&account, "details").value("birthday"), Some("02-29"));
}
