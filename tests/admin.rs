//! The admin pages, used as a person with a browser would: a cookie jar, forms with their
//! hidden fields, no JavaScript. Each test starts its own `fealty serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::*;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{Api, TestServer, card_number, key_id};
use serde_json::json;

async fn member_count(api: &Api) -> usize {
    api.get("/members?limit=100").await.expect_status(200)["items"]
        .as_array()
        .expect("items")
        .len()
}

/// A 1×1 PNG.
const PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

// ---------------------------------------------------------------------------------------------
// 1. Log-in and log-out.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn login_sets_a_safe_cookie_and_logout_ends_the_session() {
    let server = TestServer::start();
    add_user(&server, "olive", "owner");
    let mut b = Browser::new(&server);

    // Not logged in: pages send you to the log-in page, remembering where you were going.
    let p = b.get("/admin").await;
    p.expect(303);
    let loc = p.location().unwrap().to_owned();
    let next = loc
        .strip_prefix("/admin/login?next=")
        .unwrap_or_else(|| panic!("redirect to {loc:?}"));
    assert!(next == "/admin" || next == "%2Fadmin", "next={next:?}");
    let p = b.get("/admin/members").await;
    p.expect(303);
    let loc = p.location().unwrap();
    assert!(
        loc == "/admin/login?next=/admin/members" || loc == "/admin/login?next=%2Fadmin%2Fmembers",
        "redirect to {loc:?}"
    );
    // A POST without any session changes nothing and goes to the log-in page too.
    b.post_raw("/admin/members", &[("name".into(), "Nobody".into())])
        .await
        .expect_login_redirect();

    // The log-in page has the documented fields.
    let login = b.page("/admin/login?next=/admin/members").await;
    let f = login_form(&login);
    assert!(f.value("username").is_some(), "username field");
    assert!(f.value("password").is_some(), "password field");
    assert_eq!(f.value("next"), Some("/admin/members"), "hidden next");

    // Wrong password, and unknown user: 401 with the same message in `.error`.
    for (user, pass) in [("olive", "not the password"), ("nobody", PASSWORD)] {
        let p = b.login(user, pass).await;
        p.expect(401);
        let errors = select(&p.text, |t| t.has_class("error"));
        assert!(
            errors
                .iter()
                .any(|e| e.text().contains("Wrong username or password")),
            "no .error with the message: {}",
            snippet(&p.text)
        );
        assert!(p.set_cookie(COOKIE).is_none_or(|c| {
            c.to_ascii_lowercase().contains("max-age=0") || c.starts_with(&format!("{COOKIE}=;"))
        }));
        b.get("/admin").await.expect_login_redirect();
    }

    // Right password: 303 to `next`, a session cookie that scripts cannot read.
    let p = b
        .submit(&f, &[("username", "olive"), ("password", PASSWORD)])
        .await;
    p.expect_redirect("/admin/members");
    let cookie = p.set_cookie(COOKIE).expect("a fealty_session cookie");
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{cookie}");
    assert!(lower.contains("samesite=lax"), "{cookie}");
    assert!(lower.contains("path=/"), "{cookie}");
    assert!(!lower.contains("secure"), "plain http base url: {cookie}");
    let first_id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim()
        .strip_prefix(&format!("{COOKIE}="))
        .unwrap()
        .to_owned();
    assert!(first_id.len() >= 16, "session id too short: {first_id:?}");
    b.page("/admin").await;
    b.page("/admin/members").await;

    // `next` outside /admin is ignored.
    let mut other = Browser::new(&server);
    let login = other.page("/admin/login").await;
    let f2 = login_form(&login);
    let p = other
        .submit(
            &f2,
            &[
                ("username", "olive"),
                ("password", PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    p.expect_redirect("/admin");
    let second_id = p
        .set_cookie(COOKIE)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim()
        .trim_start_matches(&format!("{COOKIE}="))
        .to_owned();
    assert_ne!(first_id, second_id, "each log-in gets a new session id");

    // Logging in again in the same browser also gets a new id.
    let p = b.login("olive", PASSWORD).await;
    p.expect_redirect("/admin");
    let third_id = p
        .set_cookie(COOKIE)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim()
        .trim_start_matches(&format!("{COOKIE}="))
        .to_owned();
    assert_ne!(third_id, first_id, "a log-in over a session renews the id");
    b.last.clear();

    // Log-out: 303 to the log-in page, and the old cookie no longer works anywhere.
    let p = b.post_form("/admin/logout", &[]).await;
    p.expect_redirect("/admin/login");
    b.get("/admin").await.expect_login_redirect();
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let old = bare
        .get(server.url("/admin"))
        .header("cookie", format!("{COOKIE}={third_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 303, "old cookie after log-out");
    assert!(
        old.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/admin/login")
    );
    // The other browser's session is untouched by this log-out.
    other.page("/admin").await;
}

// ---------------------------------------------------------------------------------------------
// 2. Log-in throttling.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn failed_logins_are_throttled_per_account_then_per_address() {
    let server = TestServer::start();
    for u in ["olive", "sam", "tess"] {
        add_user(&server, u, if u == "olive" { "owner" } else { "staff" });
    }
    let mut b = Browser::new(&server);

    // Three failures are answered as fast as password hashing allows (not timed: hashing in
    // a debug build under parallel tests varies by more than the delay)…
    for _ in 1..=3 {
        b.login("olive", "wrong password").await.expect(401);
    }
    // …then each answer waits about a second first and, after five failures, the account is refused.
    let mut refused_at = None;
    for i in 4..=7 {
        let t = Instant::now();
        let p = b.login("olive", "wrong password").await;
        if i == 4 {
            assert!(
                t.elapsed() >= Duration::from_millis(950),
                "the 4th failure is delayed about 1 s, took {:?}",
                t.elapsed()
            );
        }
        match p.status {
            401 => {}
            429 => {
                assert!(
                    p.text.contains("Too many failed log-ins"),
                    "{}",
                    snippet(&p.text)
                );
                refused_at = Some(i);
                break;
            }
            s => panic!("attempt {i}: unexpected {s}: {}", snippet(&p.text)),
        }
    }
    assert_eq!(
        refused_at,
        Some(6),
        "5 failures are allowed, the 6th is refused"
    );

    // Now even the right password is refused for that account…
    let p = b.login("olive", PASSWORD).await;
    p.expect(429);
    assert!(p.text.contains("Too many failed log-ins"));
    assert!(p.set_cookie(COOKIE).is_none(), "no session when refused");
    b.get("/admin").await.expect_login_redirect();

    // …but another account from the same address still gets in.
    let mut b2 = Browser::new(&server);
    b2.login_ok("sam", PASSWORD).await;
    b2.page("/admin").await;

    // The address as a whole is stopped after 20 failures: spread failures over unknown
    // accounts (at most 5 each), sent concurrently so the slow-down costs little time.
    let mut set = tokio::task::JoinSet::new();
    for n in 0..20 {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = server.url("/admin/login");
        let user = format!("ghost{}", n / 4);
        set.spawn(async move {
            let login = http.get(&url).send().await.unwrap().text().await.unwrap();
            let f = login_form(&login);
            let fields = f.with(&[("username", &user), ("password", "wrong password")]);
            http.post(&url)
                .form(&fields)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(s) = set.join_next().await {
        let s = s.unwrap();
        assert!(s == 401 || s == 429, "failure answered {s}");
    }
    // 5 + 20 failures (20 even if the log-in above reset the count) from this address: a fresh, never-failed account is refused too.
    let mut b3 = Browser::new(&server);
    let p = b3.login("tess", PASSWORD).await;
    p.expect(429);
    assert!(p.text.contains("Too many failed log-ins"));
    // The session that is already open keeps working.
    b2.page("/admin").await;
}

// ---------------------------------------------------------------------------------------------
// 3. CSRF.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn posts_without_the_sessions_csrf_token_are_refused() {
    let (server, mut b, api) = owner_session().await;
    let mut other = Browser::new(&server);
    other.login_ok("olive", PASSWORD).await;
    let foreign = other.csrf().await;
    let own = b.csrf().await;
    assert_ne!(foreign, own, "each session has its own token");

    // Creating a member: no token, a wrong one, another session's one.
    let fields = [
        ("name", "Eve Sneaky"),
        ("email", "eve@example.com"),
        ("phone", ""),
    ];
    for csrf in [None, Some("wrong"), Some(foreign.as_str()), Some("")] {
        let mut body: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(c) = csrf {
            body.push(("csrf".into(), c.into()));
        }
        b.post_raw("/admin/members", &body).await.expect(403);
    }
    assert_eq!(member_count(&api).await, 0, "no member was created");

    // Adding points: refused without the right token, balance unchanged.
    let m = api.create_member(&json!({"name": "Victim"})).await;
    let id = id_of(&m);
    let page = b.page(&format!("/admin/members/{id}")).await;
    let earn = form(&page, "earn-points");
    for csrf in ["", "wrong", foreign.as_str()] {
        b.submit(&earn, &[("points", "50"), ("csrf", csrf)])
            .await
            .expect(403);
    }
    let mut no_csrf = earn.clone();
    no_csrf.fields.retain(|(k, _)| k != "csrf");
    b.submit(&no_csrf, &[("points", "50")]).await.expect(403);
    assert_eq!(api.balance(&id).await, 0, "no points were added");

    // Log-out without the token does not end the session.
    b.post_raw("/admin/logout", &[]).await.expect(403);
    b.page("/admin").await;

    // The same form with the right token works (the refusals did not use up its form_token).
    let p = b.submit(&earn, &[("points", "50")]).await;
    p.expect(200);
    assert_eq!(data_value(&p.text, "balance"), 50);
    assert_eq!(api.balance(&id).await, 50);
}

// ---------------------------------------------------------------------------------------------
// 4. Roles.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn staff_cannot_reach_owner_pages() {
    let (server, mut owner, api) = owner_session().await;
    add_user(&server, "sam", "staff");
    let mut staff = Browser::new(&server);
    staff.login_ok("sam", PASSWORD).await;

    // Staff run the till.
    staff.page("/admin").await;
    staff.page("/admin/members").await;
    staff.page("/admin/rewards").await;

    for path in [
        "/admin/settings",
        "/admin/staff",
        "/admin/keys",
        "/admin/audit",
    ] {
        staff.get(path).await.expect(403);
        owner.page(path).await;
    }

    // Owner-only POSTs are refused, with a valid CSRF token, and change nothing.
    let settings_before = api.get("/settings").await.expect_status(200);
    let refused: [(&str, Vec<(&str, &str)>); 6] = [
        (
            "/admin/settings",
            vec![
                ("business_name", "Taken Over"),
                ("currency", "EUR"),
                ("time_zone", "UTC"),
                ("points_per_unit", "99"),
                ("brand_colour", "#000000"),
            ],
        ),
        (
            "/admin/staff",
            vec![
                ("username", "mallory"),
                ("password", PASSWORD),
                ("role", "owner"),
            ],
        ),
        (
            "/admin/keys",
            vec![("name", "stolen"), ("scopes", "members:read")],
        ),
        ("/admin/staff/olive/disable", vec![]),
        (
            "/admin/staff/olive/password",
            vec![("password", "owned by sam!")],
        ),
        ("/admin/staff/sam/enable", vec![]),
    ];
    for (path, fields) in &refused {
        let p = staff.post_form(path, fields).await;
        p.expect(403);
        assert!(!p.text.contains("fty_"), "no key shown on {path}");
    }
    assert_eq!(
        api.get("/settings").await.expect_status(200),
        settings_before
    );
    // mallory was not created; olive was neither disabled nor given a new password.
    Browser::new(&server)
        .login("mallory", PASSWORD)
        .await
        .expect(401);
    Browser::new(&server).login_ok("olive", PASSWORD).await;
    owner.page("/admin/settings").await;
    let keys = owner.page("/admin/keys").await;
    assert!(!text(&keys).contains("stolen"), "no key named stolen");
}

// ---------------------------------------------------------------------------------------------
// 5. The till forms.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn till_forms_apply_once_and_show_errors() {
    let (_server, mut b, api) = owner_session().await;
    let m = api.create_member(&json!({"name": "Till Customer"})).await;
    let id = id_of(&m);
    let path = format!("/admin/members/{id}");

    let page = b.page(&path).await;
    assert_eq!(data_value(&page, "balance"), 0);
    assert_eq!(data_value(&page, "lifetime"), 0);
    assert!(
        by_id(&page, "card-number")
            .unwrap()
            .text()
            .replace(' ', "")
            .contains(m["card_number"].as_str().unwrap()),
        "#card-number shows the card"
    );
    // (form#redeem may be left out while no reward is affordable; it is checked below.)
    for id in ["earn-amount", "earn-points", "adjust"] {
        let f = form(&page, id);
        assert!(
            f.value("csrf").is_some_and(|v| !v.is_empty()),
            "form#{id} csrf"
        );
        assert!(
            f.value("form_token").is_some_and(|v| !v.is_empty()),
            "form#{id} form_token"
        );
    }

    // Earn points: applied once, even when the same form is sent twice.
    let earn = form(&page, "earn-points");
    let p = b.submit(&earn, &[("points", "10")]).await;
    p.expect(200);
    assert!(by_id(&p.text, "result").is_some(), "#result");
    assert_eq!(data_value(&p.text, "balance"), 10);
    assert_eq!(api.balance(&id).await, 10);
    let again = b.submit(&earn, &[("points", "10")]).await;
    again.expect(200);
    assert_eq!(data_value(&again.text, "balance"), 10);
    let result = by_id(&again.text, "result").expect("#result").text();
    assert!(result.contains("already applied"), "#result: {result:?}");
    assert_eq!(api.balance(&id).await, 10, "the repeat changed nothing");
    assert_eq!(api.all_transactions(&id, 100).await.len(), 1);

    // Earn by amount: a preview first (default rule: 1 point per whole unit), then confirm.
    let page = b.page(&path).await;
    let p = b
        .submit(&form(&page, "earn-amount"), &[("amount", "12.50")])
        .await;
    p.expect(200);
    assert!(
        text(&p.text).contains("earns 12 points"),
        "preview: {}",
        snippet(&p.text)
    );
    assert_eq!(api.balance(&id).await, 10, "a preview writes nothing");
    let confirm = form(&p.text, "confirm-earn");
    assert_eq!(confirm.value("confirm"), Some("yes"));
    assert_eq!(confirm.value("amount"), Some("12.50"));
    let done = b.submit(&confirm, &[]).await;
    done.expect(200);
    assert_eq!(data_value(&done.text, "balance"), 22);
    assert_eq!(api.balance(&id).await, 22);
    let twice = b.submit(&confirm, &[]).await;
    twice.expect(200);
    assert!(
        by_id(&twice.text, "result")
            .unwrap()
            .text()
            .contains("already applied")
    );
    assert_eq!(api.balance(&id).await, 22, "confirming twice earns once");
    let entries = api.all_transactions(&id, 100).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["points"], 12);
    assert!(
        !entries[0]["amount"].is_null(),
        "the purchase amount is kept"
    );

    // A bad amount: 422 with the message beside the form and the input kept.
    let page = b.page(&path).await;
    let p = b
        .submit(&form(&page, "earn-amount"), &[("amount", "twelve")])
        .await;
    p.expect(422);
    assert!(!select(&p.text, |t| t.has_class("error")).is_empty());
    assert_eq!(form(&p.text, "earn-amount").value("amount"), Some("twelve"));
    assert_eq!(api.balance(&id).await, 22);

    // Redeem a reward: the balance drops by its cost.
    let coffee = api
        .post("/rewards", &json!({"name": "Coffee", "cost": 15}))
        .await
        .expect_status(201);
    let coffee_id = id_of(&coffee);
    let page = b.page(&path).await;
    let redeem = form(&page, "redeem");
    assert!(redeem.value("form_token").is_some_and(|v| !v.is_empty()));
    assert!(redeem.value("csrf").is_some_and(|v| !v.is_empty()));
    assert_eq!(redeem.value("reward_id"), Some(coffee_id.as_str()));
    let p = b.submit(&redeem, &[("reward_id", &coffee_id)]).await;
    p.expect(200);
    assert_eq!(data_value(&p.text, "balance"), 7);
    assert_eq!(api.balance(&id).await, 7);
    let again = b.submit(&redeem, &[("reward_id", &coffee_id)]).await;
    again.expect(200);
    assert_eq!(api.balance(&id).await, 7, "one redemption per form");

    // Too few points: the select no longer offers it, and a forced post is refused.
    let page = b.page(&path).await;
    let redeem_html = select(&page, |t| {
        t.name == "form" && t.attr("id") == Some("redeem")
    })
    .into_iter()
    .next();
    assert!(
        redeem_html
            .as_ref()
            .is_none_or(|f| !f.inner.contains(&coffee_id)),
        "only affordable rewards are offered"
    );
    let p = match redeem_html {
        Some(e) => {
            let redeem = Form::from_elem(&e, &format!("{path}/redeem"));
            b.submit(&redeem, &[("reward_id", &coffee_id)]).await
        }
        None => {
            // Forced, as from a stale tab: a fresh one-time token with the reward.
            let token = common::fresh_key();
            b.post_form(
                &format!("{path}/redeem"),
                &[("reward_id", &coffee_id), ("form_token", &token)],
            )
            .await
        }
    };
    p.expect(409);
    // The refusal is the banner at the top, an alert; the focus goes to the reward.
    let refusal = by_id(&p.text, "refused").expect("#refused");
    assert_eq!(refusal.tag.attr("role"), Some("alert"));
    assert!(
        refusal.text().contains("Not enough points"),
        "#refused: {}",
        refusal.text()
    );
    let select_tag = by_id(&p.text, "reward_id").expect("select#reward_id stays offered");
    assert!(
        select_tag.tag.attr("autofocus").is_some(),
        "autofocus on the reward"
    );
    assert_eq!(select_tag.tag.attr("aria-invalid"), Some("true"));
    assert_eq!(select_tag.tag.attr("aria-describedby"), Some("refused"));
    assert_eq!(data_value(&p.text, "balance"), 7);
    assert_eq!(api.balance(&id).await, 7);

    // Adjust: a reason is required.
    let page = b.page(&path).await;
    let adjust = form(&page, "adjust");
    let p = b.submit(&adjust, &[("points", "-2"), ("reason", "")]).await;
    p.expect(422);
    assert!(!select(&p.text, |t| t.has_class("error")).is_empty());
    assert_eq!(form(&p.text, "adjust").value("points"), Some("-2"));
    assert_eq!(api.balance(&id).await, 7);
    let p = b
        .submit(&adjust, &[("points", "-2"), ("reason", "Spilled coffee")])
        .await;
    p.expect(200);
    assert_eq!(data_value(&p.text, "balance"), 5);
    assert_eq!(api.balance(&id).await, 5);

    // Reverse the redemption from the history: the points come back.
    let entries = api.all_transactions(&id, 100).await;
    let redemption = entries
        .iter()
        .find(|e| e["kind"] == "redeem")
        .expect("a redemption");
    let seq = redemption["seq"].as_u64().unwrap().to_string();
    let page = b.page(&path).await;
    let history = rows(&page, "history");
    assert_eq!(history.len(), entries.len(), "one history row per entry");
    assert!(
        history
            .iter()
            .any(|r| cell(r, "td", "seq").is_some_and(|s| s.trim() == seq)
                && cell(r, "td", "points").is_some_and(|p| number(&p) == -15)),
        "history shows the redemption"
    );
    let reverse = select(&page, |t| t.name == "form" && t.has_class("reverse"))
        .iter()
        .map(|e| Form::from_elem(e, &path))
        .find(|f| f.value("seq") == Some(seq.as_str()))
        .expect("a form.reverse for the redemption");
    let p = b.submit(&reverse, &[]).await;
    p.expect(200);
    assert_eq!(data_value(&p.text, "balance"), 20);
    assert_eq!(api.balance(&id).await, 20);
    let entries = api.all_transactions(&id, 100).await;
    assert_eq!(entries[0]["kind"], "reversal");
    assert_eq!(entries[0]["reverses"].as_u64().unwrap().to_string(), seq);
}

// ---------------------------------------------------------------------------------------------
// 6. Search and scanning.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scanning_a_card_opens_the_member_and_names_are_searched() {
    let (_server, mut b, api) = owner_session().await;
    let card = card_number(4_242_424_242);
    let m = api
        .create_member(
            &json!({"name": "Grace Hopper", "email": "grace@example.com", "card_number": card}),
        )
        .await;
    let id = id_of(&m);
    let other = api.create_member(&json!({"name": "Alan Turing"})).await;

    // The search box is a GET form with autofocus.
    let list = b.page("/admin/members").await;
    let search = select(&list, |t| {
        t.name == "form" && t.attr("role") == Some("search")
    });
    assert_eq!(search.len(), 1, "one form[role=search]");
    assert_eq!(
        search[0].tag.attr("method").unwrap_or("get").to_lowercase(),
        "get"
    );
    let q = tags(search[0].inner)
        .into_iter()
        .find(|t| t.attr("id") == Some("q"))
        .expect("input#q");
    assert_eq!(q.attr("name"), Some("q"));
    assert!(q.has_attr("autofocus"), "the search box has autofocus");

    // A scanned card number goes straight to the member.
    let search_form = Form::from_elem(&search[0], "/admin/members");
    let p = b.submit(&search_form, &[("q", &card)]).await;
    p.expect_redirect(&format!("/admin/members/{id}"));
    let page = b.follow(&p).await;
    page.expect(200);
    assert!(text(&page.text).contains("Grace Hopper"));

    // A valid number nobody has: the list page says so.
    let unknown = card_number(1_111_111_111);
    let p = b.get(&format!("/admin/members?q={unknown}")).await;
    p.expect(200);
    assert!(
        text(&p.text).contains("No member has card number"),
        "{}",
        snippet(&p.text)
    );
    assert!(text(&p.text).contains(&unknown));

    // Name prefix search lists Grace and not Alan.
    for q in ["Grace", "gra", "grace@example.com"] {
        let p = b
            .get(&format!("/admin/members?q={}", common::encode(q)))
            .await;
        p.expect(200);
        let found = rows(&p.text, "members");
        let links: Vec<String> = found
            .iter()
            .flat_map(|r| select(r.inner, |t| t.name == "a"))
            .filter_map(|a| a.tag.attr("href").map(str::to_owned))
            .collect();
        assert!(
            links.contains(&format!("/admin/members/{id}")),
            "q={q}: {links:?}"
        );
        assert!(
            !links.contains(&format!("/admin/members/{}", id_of(&other))),
            "q={q}: {links:?}"
        );
    }

    // Without q, both are listed.
    let all = b.page("/admin/members").await;
    assert_eq!(rows(&all, "members").len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Member forms.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn members_are_created_edited_and_blocked_through_forms() {
    let (_server, mut b, api) = owner_session().await;
    b.page("/admin/members/new").await;

    // A bad email: 422, the field's error shown, what was typed kept, nothing created.
    let p = b
        .post_form(
            "/admin/members",
            &[
                ("name", "Katherine Johnson"),
                ("email", "not-an-email"),
                ("phone", "+1 555 0100"),
                ("marketing_consent", "on"),
            ],
        )
        .await;
    p.expect(422);
    assert!(
        by_id(&p.text, "email-error").is_some(),
        "#email-error: {}",
        snippet(&p.text)
    );
    assert_eq!(
        input_value(&p.text, "name").as_deref(),
        Some("Katherine Johnson")
    );
    assert_eq!(
        input_value(&p.text, "email").as_deref(),
        Some("not-an-email")
    );
    assert_eq!(
        input_value(&p.text, "phone").as_deref(),
        Some("+1 555 0100")
    );
    let consent = tags(&p.text)
        .into_iter()
        .find(|t| t.attr("name") == Some("marketing_consent"))
        .expect("consent checkbox");
    assert!(consent.has_attr("checked"), "consent box stays ticked");
    assert_eq!(member_count(&api).await, 0);

    // A good one: 303 to the new member's page.
    let p = b
        .post_form(
            "/admin/members",
            &[
                ("name", "Katherine Johnson"),
                ("email", "kj@example.com"),
                ("phone", "+1 555 0100"),
                ("marketing_consent", "on"),
                ("card_number", ""),
            ],
        )
        .await;
    p.expect(303);
    let loc = p.location().unwrap().to_owned();
    let id = loc
        .strip_prefix("/admin/members/")
        .unwrap_or_else(|| panic!("redirect to {loc:?}"))
        .to_owned();
    let m = api.member(&id).await;
    assert_eq!(m["name"], "Katherine Johnson");
    assert_eq!(m["email"], "kj@example.com");
    assert!(m["marketing_consent_at"].is_string(), "{m}");
    let page = b.page(&loc).await;
    assert!(text(&page).contains("Katherine Johnson"));

    // A chosen card number is used.
    let card = card_number(55_555_555);
    let p = b
        .post_form(
            "/admin/members",
            &[("name", "Dorothy Vaughan"), ("card_number", &card)],
        )
        .await;
    p.expect(303);
    let dv = p
        .location()
        .unwrap()
        .trim_start_matches("/admin/members/")
        .to_owned();
    assert_eq!(api.member(&dv).await["card_number"], card.as_str());
    // The same card number again is refused beside the field.
    let p = b
        .post_form(
            "/admin/members",
            &[("name", "Copy Cat"), ("card_number", &card)],
        )
        .await;
    assert!(
        p.status == 409 || p.status == 422,
        "duplicate card answered {}",
        p.status
    );
    assert!(by_id(&p.text, "card_number-error").is_some());
    assert_eq!(member_count(&api).await, 2);

    // Edit: the form shows the current values; a change is saved.
    let edit = b.page(&format!("/admin/members/{id}/edit")).await;
    let f = form_by_action(&edit, &format!("/admin/members/{id}"))
        .or_else(|| {
            select(&edit, |t| t.name == "form")
                .iter()
                .map(|e| Form::from_elem(e, &format!("/admin/members/{id}")))
                .find(|f| f.method == "post" && f.value("email").is_some())
        })
        .expect("edit form");
    assert_eq!(f.value("name"), Some("Katherine Johnson"));
    assert_eq!(f.value("email"), Some("kj@example.com"));
    assert_eq!(f.value("marketing_consent"), Some("on"));
    let p = b
        .submit(&f, &[("name", "Katherine G. Johnson"), ("email", "bad@")])
        .await;
    p.expect(422);
    assert!(by_id(&p.text, "email-error").is_some());
    assert_eq!(input_value(&p.text, "email").as_deref(), Some("bad@"));
    assert_eq!(api.member(&id).await["name"], "Katherine Johnson");
    // Unticking the box: the browser leaves the field out.
    let mut unticked = f.clone();
    unticked.fields.retain(|(k, _)| k != "marketing_consent");
    let p = b
        .submit(&unticked, &[("name", "Katherine G. Johnson")])
        .await;
    p.expect_redirect(&format!("/admin/members/{id}"));
    let m = api.member(&id).await;
    assert_eq!(m["name"], "Katherine G. Johnson");
    assert_eq!(m["email"], "kj@example.com");
    assert!(
        m["marketing_consent_at"].is_null(),
        "consent withdrawn: {m}"
    );

    // Block: earning is refused; unblock: it works again.
    b.post_form(&format!("/admin/members/{id}/block"), &[])
        .await
        .expect_redirect(&format!("/admin/members/{id}"));
    assert_eq!(api.member(&id).await["status"], "blocked");
    let page = b.page(&format!("/admin/members/{id}")).await;
    let p = b
        .submit(&form(&page, "earn-points"), &[("points", "5")])
        .await;
    p.expect(409);
    assert!(!select(&p.text, |t| t.has_class("error")).is_empty());
    assert_eq!(api.balance(&id).await, 0);
    b.post_form(&format!("/admin/members/{id}/unblock"), &[])
        .await
        .expect_redirect(&format!("/admin/members/{id}"));
    assert_eq!(api.member(&id).await["status"], "active");
    let page = b.page(&format!("/admin/members/{id}")).await;
    b.submit(&form(&page, "earn-points"), &[("points", "5")])
        .await
        .expect(200);
    assert_eq!(api.balance(&id).await, 5);
}

// ---------------------------------------------------------------------------------------------
// 8. CSV export and import.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn members_export_and_import_as_csv() {
    let (_server, mut b, api) = owner_session().await;
    let a = api
        .create_member(&json!({"name": "Ada Lovelace", "email": "ada@example.com"}))
        .await;
    let c = api
        .create_member(&json!({"name": "Charles Babbage", "phone": "+44 20 7946 0001"}))
        .await;
    api.earn(&id_of(&a), 30).await;

    let p = b.get("/admin/members/export.csv").await;
    p.expect(200);
    assert!(
        p.header("content-type")
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    assert!(
        p.header("content-disposition")
            .unwrap_or_default()
            .starts_with("attachment"),
        "{:?}",
        p.header("content-disposition")
    );
    // Streamed from one read transaction as it is read, not built whole first: no length known.
    assert_eq!(
        p.header("content-length"),
        None,
        "the export was built whole"
    );
    let lines: Vec<&str> = p.text.lines().collect();
    assert_eq!(
        lines[0],
        "id,card_number,name,email,phone,status,balance,lifetime_earned,created_at"
    );
    assert_eq!(lines.len(), 3, "{}", p.text);
    for (m, balance) in [(&a, 30), (&c, 0)] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{},", id_of(m))))
            .unwrap_or_else(|| panic!("no line for {m}"));
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[1], m["card_number"].as_str().unwrap());
        assert_eq!(cols[2], m["name"].as_str().unwrap());
        assert_eq!(cols[5], "active");
        assert_eq!(cols[6], balance.to_string());
    }

    // Import with one bad line: per-line error, no confirm form, nothing written.
    let page = b.page("/admin/members/import").await;
    let import = form(&page, "import");
    let bad = "name,email,phone,card_number,balance\n\
               Grace Hopper,grace@example.com,,,10\n\
               Bad Email,not-an-email,,,\n";
    let p = b
        .submit_file(
            &import,
            &[],
            "file",
            "members.csv",
            "text/csv",
            bad.as_bytes(),
        )
        .await;
    assert!(
        p.status == 200 || p.status == 422,
        "preview answered {}",
        p.status
    );
    let preview = rows(&p.text, "import-preview");
    let errors: Vec<&Elem<'_>> = preview
        .iter()
        .filter(|r| r.tag.has_class("error"))
        .collect();
    assert_eq!(errors.len(), 1, "one bad row: {}", snippet(&p.text));
    assert!(errors[0].text().contains("not-an-email") || errors[0].text().contains("email"));
    assert!(by_id(&p.text, "import-summary").is_some());
    assert!(
        select(&p.text, |t| t.attr("id") == Some("import-confirm")).is_empty(),
        "no confirm form when a line is bad"
    );
    assert_eq!(member_count(&api).await, 2);

    // A good file: preview writes nothing, confirm imports every row.
    let good = "name,email,phone,card_number,balance\n\
                Grace Hopper,grace@example.com,,,10\n\
                Linus Torvalds,,,,\n";
    let p = b
        .submit_file(
            &import,
            &[],
            "file",
            "members.csv",
            "text/csv",
            good.as_bytes(),
        )
        .await;
    p.expect(200);
    let preview = rows(&p.text, "import-preview");
    assert!(preview.iter().all(|r| !r.tag.has_class("error")));
    assert_eq!(member_count(&api).await, 2, "the preview writes nothing");
    let confirm = form(&p.text, "import-confirm");
    let done = b.submit(&confirm, &[]).await;
    done.expect(200);
    let result = by_id(&done.text, "result").expect("#result").text();
    assert!(result.contains("Imported 2 members"), "#result: {result:?}");
    let list = api.get("/members?limit=100").await.expect_status(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let grace = items
        .iter()
        .find(|m| m["name"] == "Grace Hopper")
        .expect("Grace imported");
    assert_eq!(grace["email"], "grace@example.com");
    assert_eq!(grace["balance"], 10);
    assert!(items.iter().any(|m| m["name"] == "Linus Torvalds"));
}

// ---------------------------------------------------------------------------------------------
// 9. The dashboard agrees with the ledger.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct DayTotals {
    issued: i64,
    redeemed: i64,
}

#[tokio::test]
async fn dashboard_numbers_match_the_ledger() {
    let (_server, mut b, api) = owner_session().await;
    let coffee = id_of(
        &api.post("/rewards", &json!({"name": "Coffee", "cost": 30}))
            .await
            .expect_status(201),
    );
    let cake = id_of(
        &api.post("/rewards", &json!({"name": "Cake", "cost": 40}))
            .await
            .expect_status(201),
    );
    let a = id_of(&api.create_member(&json!({"name": "Ann"})).await);
    let bb = id_of(&api.create_member(&json!({"name": "Ben"})).await);
    let c = id_of(&api.create_member(&json!({"name": "Cid"})).await);
    let _quiet = c;

    let key = common::fresh_key;
    api.earn(&a, 100).await;
    api.earn(&bb, 50).await;
    let redeem = |m: &str, r: &str| {
        let path = format!("/members/{m}/redemptions");
        let body = json!({"reward_id": r});
        let api = api.clone();
        async move { api.post_idem(&path, &key(), &body).await.expect_status(201) }
    };
    redeem(&a, &coffee).await;
    redeem(&a, &coffee).await;
    redeem(&bb, &cake).await;
    api.transaction(
        &bb,
        &key(),
        &json!({"kind": "adjust", "points": -5, "reason": "typo"}),
    )
    .await
    .expect_status(201);
    api.transaction(&a, &key(), &json!({"kind": "redeem", "points": 10}))
        .await
        .expect_status(201);
    let late = api.earn(&a, 20).await;
    // Reverse an earn and a plain redemption.
    let late_seq = late["entry"]["seq"].as_u64().unwrap();
    api.post_idem(
        &format!("/transactions/{late_seq}/reverse"),
        &key(),
        &json!({"reason": "wrong card"}),
    )
    .await
    .expect_status(201);
    let plain = api.all_transactions(&a, 100).await;
    let plain_seq = plain
        .iter()
        .find(|e| e["kind"] == "redeem" && e["reward_id"].is_null())
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    api.post_idem(
        &format!("/transactions/{plain_seq}/reverse"),
        &key(),
        &json!({}),
    )
    .await
    .expect_status(201);

    // What the ledger says, computed from the API.
    let settings = b.page("/admin/settings").await;
    let tz_name = form(&settings, "settings")
        .value("time_zone")
        .unwrap_or("UTC")
        .to_owned();
    let tz = jiff::tz::TimeZone::get(&tz_name).unwrap();
    let members = api.get("/members?limit=100").await.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let mut entries = Vec::new();
    let mut active = 0;
    let mut outstanding = 0;
    for m in &members {
        let id = m["id"].as_str().unwrap();
        let list = api.all_transactions(id, 100).await;
        if !list.is_empty() {
            active += 1;
        }
        outstanding += api.balance(id).await;
        entries.extend(list);
    }
    let kinds: HashMap<u64, String> = entries
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut total = DayTotals::default();
    let mut daily: BTreeMap<String, DayTotals> = BTreeMap::new();
    let mut per_reward: HashMap<String, (i64, i64)> = HashMap::new();
    for e in &entries {
        let points = e["points"].as_i64().unwrap();
        let kind = e["kind"].as_str().unwrap();
        let counted = if kind == "reversal" {
            kinds[&e["reverses"].as_u64().unwrap()].as_str()
        } else {
            kind
        };
        let ts: jiff::Timestamp = e["created_at"].as_str().unwrap().parse().unwrap();
        let day = ts.to_zoned(tz.clone()).date().to_string();
        let d = daily.entry(day).or_default();
        match counted {
            "earn" => {
                total.issued += points;
                d.issued += points;
            }
            "redeem" => {
                total.redeemed -= points;
                d.redeemed -= points;
            }
            _ => {}
        }
        if kind == "redeem"
            && let Some(r) = e["reward_id"].as_str()
        {
            let slot = per_reward.entry(r.to_owned()).or_default();
            slot.0 += 1;
            slot.1 -= points;
        }
    }
    assert_eq!(
        total,
        DayTotals {
            issued: 100 + 50 + 20 - 20,
            redeemed: 30 + 30 + 40 + 10 - 10
        }
    );
    assert_eq!(outstanding, 150 - 100 - 5);
    assert_eq!(active, 2);

    let dash = b.page("/admin").await;
    assert_eq!(data_value(&dash, "stat-members"), 3);
    assert_eq!(data_value(&dash, "stat-new-members"), 3);
    assert_eq!(data_value(&dash, "stat-active-members"), active);
    assert_eq!(data_value(&dash, "stat-outstanding"), outstanding);
    assert_eq!(data_value(&dash, "stat-issued"), total.issued);
    assert_eq!(data_value(&dash, "stat-redeemed"), total.redeemed);
    for svg in ["chart-daily", "chart-weekly", "chart-hours"] {
        assert!(
            select(&dash, |t| t.name == "svg" && t.attr("id") == Some(svg)).len() == 1,
            "svg#{svg}"
        );
    }

    // Daily table: each day with entries shows that day's totals (today, in the business zone).
    let daily_rows = rows(&dash, "table-daily");
    for (day, want) in &daily {
        let row = daily_rows
            .iter()
            .find(|r| cell(r, "th", "").is_some_and(|t| t.trim() == day))
            .unwrap_or_else(|| panic!("no row for {day} in table#table-daily"));
        let got = DayTotals {
            issued: number(&cell(row, "td", "issued").expect("td.issued")),
            redeemed: number(&cell(row, "td", "redeemed").expect("td.redeemed")),
        };
        assert_eq!(&got, want, "table-daily row {day}");
    }
    let today = jiff::Zoned::now().with_time_zone(tz).date().to_string();
    assert!(daily.contains_key(&today) || daily.len() == 1);
    let sum_issued: i64 = daily_rows
        .iter()
        .map(|r| cell(r, "td", "issued").map_or(0, |t| number(&t)))
        .sum();
    assert_eq!(sum_issued, total.issued, "daily rows add up to the total");

    // Rewards table: redemptions counted per reward.
    let reward_rows = rows(&dash, "table-rewards");
    for (name, rid, cost) in [("Coffee", &coffee, 30), ("Cake", &cake, 40)] {
        let (count, points) = per_reward[rid.as_str()];
        assert_eq!(points, count * cost);
        let row = reward_rows
            .iter()
            .find(|r| cell(r, "th", "").is_some_and(|t| t.trim() == name))
            .unwrap_or_else(|| panic!("no row for {name} in table#table-rewards"));
        assert_eq!(number(&cell(row, "td", "count").unwrap()), count, "{name}");
        if let Some(p) = cell(row, "td", "points") {
            assert_eq!(number(&p), points, "{name} points");
        }
    }
    assert_eq!(per_reward[coffee.as_str()].0, 2);
    assert_eq!(per_reward[cake.as_str()].0, 1);

    // Busiest hours: the transaction counts add up to the entries of the last 28 days.
    let hours: i64 = rows(&dash, "table-hours")
        .iter()
        .map(|r| cell(r, "td", "count").map_or(0, |t| number(&t)))
        .sum();
    assert_eq!(hours, i64::try_from(entries.len()).unwrap());

    // Top members: Ann earned most.
    let top = rows(&dash, "table-top-members");
    let first = top.first().expect("a top member");
    assert!(
        select(first.inner, |t| t.name == "a")
            .iter()
            .any(|l| l.tag.attr("href") == Some(&format!("/admin/members/{a}"))),
        "Ann first"
    );
    let lifetime = api.member(&a).await["lifetime_earned"].as_i64().unwrap();
    assert_eq!(number(&cell(first, "td", "lifetime").unwrap()), lifetime);
}

// ---------------------------------------------------------------------------------------------
// 10. Settings and logo.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn owner_changes_settings_and_uploads_a_logo() {
    let (server, mut b, api) = owner_session().await;
    let page = b.page("/admin/settings").await;
    let f = form(&page, "settings");
    assert_eq!(f.value("business_name"), Some("My Business"));
    assert_eq!(f.value("time_zone"), Some("UTC"));
    assert_eq!(f.value("points_per_unit"), Some("1"));

    let p = b
        .submit(
            &f,
            &[
                ("business_name", "Café Nord & Co"),
                ("time_zone", "Europe/Berlin"),
                ("points_per_unit", "3"),
                ("brand_colour", "#aa3300"),
            ],
        )
        .await;
    p.expect(303);
    let loc = p.location().unwrap_or_default();
    assert_eq!(
        loc.split('?').next(),
        Some("/admin/settings"),
        "saved settings redirect to {loc:?}"
    );
    let page = b.page("/admin/settings").await;
    let saved = form(&page, "settings");
    assert_eq!(saved.value("business_name"), Some("Café Nord & Co"));
    assert_eq!(saved.value("time_zone"), Some("Europe/Berlin"));
    assert_eq!(saved.value("points_per_unit"), Some("3"));
    assert_eq!(saved.value("brand_colour"), Some("#aa3300"));
    let s = api.get("/settings").await.expect_status(200);
    assert_eq!(s["business_name"], "Café Nord & Co");
    assert_eq!(s["points_per_unit"], 3);

    // The new earning rule applies at the till: 12.50 earns 36 points.
    let m = id_of(&api.create_member(&json!({"name": "Rule Check"})).await);
    let mp = b.page(&format!("/admin/members/{m}")).await;
    let p = b
        .submit(&form(&mp, "earn-amount"), &[("amount", "12.50")])
        .await;
    p.expect(200);
    assert!(
        text(&p.text).contains("earns 36 points"),
        "{}",
        snippet(&p.text)
    );

    // An unknown time zone: 422 beside the field, the typed value kept, nothing saved.
    let p = b
        .submit(
            &saved,
            &[
                ("time_zone", "Mars/Olympus_Mons"),
                ("business_name", "Other"),
            ],
        )
        .await;
    p.expect(422);
    assert!(
        by_id(&p.text, "time_zone-error").is_some(),
        "#time_zone-error"
    );
    assert_eq!(
        form(&p.text, "settings").value("time_zone"),
        Some("Mars/Olympus_Mons")
    );
    let page = b.page("/admin/settings").await;
    assert_eq!(
        form(&page, "settings").value("time_zone"),
        Some("Europe/Berlin")
    );
    assert_eq!(
        form(&page, "settings").value("business_name"),
        Some("Café Nord & Co")
    );

    // Logo: none yet; a PNG is stored and served; a text file is refused.
    let http = reqwest::Client::new();
    let logo = http.get(server.url("/brand/logo")).send().await.unwrap();
    assert_eq!(logo.status(), 404);
    let logo_form = form(&page, "logo");
    let p = b
        .submit_file(&logo_form, &[], "logo", "logo.png", "image/png", &PNG)
        .await;
    assert!(
        p.status == 303 || p.status == 200,
        "logo upload answered {}: {}",
        p.status,
        snippet(&p.text)
    );
    let logo = http.get(server.url("/brand/logo")).send().await.unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(
        logo.headers()["content-type"].to_str().unwrap(),
        "image/png"
    );
    assert_eq!(logo.bytes().await.unwrap().as_ref(), PNG.as_slice());

    let page = b.page("/admin/settings").await;
    let logo_form = form(&page, "logo");
    // A text file, even when it claims to be a PNG.
    for (name, ct) in [("notes.txt", "text/plain"), ("fake.png", "image/png")] {
        let p = b
            .submit_file(
                &logo_form,
                &[],
                "logo",
                name,
                ct,
                b"just some text, no image\n",
            )
            .await;
        p.expect(422);
        assert!(by_id(&p.text, "logo-error").is_some(), "#logo-error");
    }
    let logo = http.get(server.url("/brand/logo")).send().await.unwrap();
    assert_eq!(logo.bytes().await.unwrap().as_ref(), PNG.as_slice());

    // Too large (over 256 KiB), even with a PNG signature.
    let mut big = PNG.to_vec();
    big.resize(300 * 1024, 0);
    let p = b
        .submit_file(&logo_form, &[], "logo", "big.png", "image/png", &big)
        .await;
    assert!(
        p.status == 422 || p.status == 413,
        "oversized logo answered {}",
        p.status
    );
    let logo = http.get(server.url("/brand/logo")).send().await.unwrap();
    assert_eq!(logo.bytes().await.unwrap().as_ref(), PNG.as_slice());
}

// ---------------------------------------------------------------------------------------------
// 11. Staff accounts and API keys.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn owner_manages_staff_accounts_and_api_keys() {
    let (server, mut owner, _api) = owner_session().await;

    // A new staff account can log in.
    let page = owner.page("/admin/staff").await;
    let p = owner
        .submit(
            &form(&page, "new-staff"),
            &[
                ("username", "bob"),
                ("password", "bobs own password"),
                ("role", "staff"),
            ],
        )
        .await;
    p.expect(303);
    let page = owner.page("/admin/staff").await;
    assert!(
        rows(&page, "staff")
            .iter()
            .any(|r| r.text().contains("bob")),
        "bob listed"
    );
    let mut bob = Browser::new(&server);
    bob.login_ok("bob", "bobs own password").await;
    bob.page("/admin").await;
    bob.get("/admin/staff").await.expect(403);

    // Disabling ends bob's session and stops new log-ins; enabling lets him back.
    owner
        .post_form("/admin/staff/bob/disable", &[])
        .await
        .expect(303);
    bob.get("/admin").await.expect_login_redirect();
    let p = bob.login("bob", "bobs own password").await;
    assert_ne!(p.status, 303, "a disabled account cannot log in");
    owner
        .post_form("/admin/staff/bob/enable", &[])
        .await
        .expect(303);
    bob.login_ok("bob", "bobs own password").await;

    // A new password replaces the old one.
    owner
        .post_form(
            "/admin/staff/bob/password",
            &[("password", "a brand new secret")],
        )
        .await
        .expect(303);
    Browser::new(&server)
        .login("bob", "bobs own password")
        .await
        .expect(401);
    Browser::new(&server)
        .login_ok("bob", "a brand new secret")
        .await;

    // The audit page shows the owner's changes to bob.
    let audit = owner.page("/admin/audit").await;
    let audit_rows = rows(&audit, "audit");
    assert!(
        audit_rows.iter().any(|r| {
            cell(r, "td", "target").is_some_and(|t| t.contains("bob"))
                && cell(r, "td", "actor").is_some_and(|a| a.contains("olive"))
        }),
        "an audit row for bob by olive: {}",
        snippet(&audit)
    );

    // An API key made on the page is shown once and works with its scopes.
    let page = owner.page("/admin/keys").await;
    // Card tokens are a scope of their own, offered but not ticked by default.
    let card_box = tags(&page)
        .into_iter()
        .find(|t| t.attr("value") == Some("cards:read"))
        .expect("a cards:read checkbox");
    assert!(!card_box.has_attr("checked"), "cards:read is opt-in");
    let p = owner
        .submit(
            &form_by_action(&page, "/admin/keys").expect("the new key form"),
            &[("name", "Till app"), ("scopes", "members:read")],
        )
        .await;
    p.expect(200);
    let shown = by_id(&p.text, "new-key").expect("#new-key");
    let key = shown
        .tag
        .attr("value")
        .map(str::to_owned)
        .into_iter()
        .chain(shown.text().split_whitespace().map(str::to_owned))
        .chain(input_value(shown.inner, "key"))
        .chain(
            tags(shown.inner)
                .iter()
                .filter_map(|t| t.attr("value").map(str::to_owned)),
        )
        .find(|k| common::is_api_key(k))
        .unwrap_or_else(|| panic!("no key in #new-key: {}", shown.inner));
    let api = server.client_with(&key);
    api.get("/members").await.expect_status(200);
    api.post("/members", &json!({"name": "Not allowed"}))
        .await
        .expect_problem(403, "forbidden");
    let page = owner.page("/admin/keys").await;
    assert!(text(&page).contains("Till app"));
    assert!(!page.contains(&key), "the key is shown only once");

    owner
        .post_form(&format!("/admin/keys/{}/revoke", key_id(&key)), &[])
        .await
        .expect(303);
    let r = api.get("/members").await;
    assert_eq!(r.status, 401, "revoked key: {}", r.text);
}

// ---------------------------------------------------------------------------------------------
// 12. Headers and assets.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pages_send_security_headers_and_a_fingerprinted_stylesheet() {
    let (server, mut b, _api) = owner_session().await;
    let mut anon = Browser::new(&server);
    let login = anon.get("/admin/login").await;
    let dash = b.get("/admin").await;
    for p in [&login, &dash] {
        p.expect(200);
        assert!(
            p.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html")
        );
        let csp = p.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "CSP: {csp:?}");
        assert!(csp.contains("default-src 'self'"), "CSP: {csp:?}");
        assert_eq!(p.header("x-content-type-options"), Some("nosniff"));
        assert!(p.header("referrer-policy").is_some(), "Referrer-Policy");
    }

    let link = tags(&login.text)
        .into_iter()
        .find(|t| t.name == "link" && t.attr("rel") == Some("stylesheet"))
        .expect("a stylesheet link");
    let href = link.attr("href").unwrap().to_owned();
    let hash = href
        .strip_prefix("/assets/app.")
        .and_then(|h| h.strip_suffix(".css"))
        .unwrap_or_else(|| panic!("stylesheet href {href:?}"));
    assert!(
        !hash.is_empty() && hash.bytes().all(|c| c.is_ascii_alphanumeric()),
        "hash {hash:?}"
    );
    let css = anon.get(&href).await;
    css.expect(200);
    assert!(
        css.header("content-type")
            .unwrap_or_default()
            .starts_with("text/css")
    );
    let cc = css.header("cache-control").unwrap_or_default();
    assert!(cc.contains("immutable"), "Cache-Control: {cc:?}");
    assert!(cc.contains("max-age=31536000"), "Cache-Control: {cc:?}");
    assert!(!css.bytes.is_empty());
    // The dashboard uses the same stylesheet.
    assert!(dash.text.contains(&href));
}

// ---------------------------------------------------------------------------------------------
// Security fixes: limits and validation at the till.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn till_refuses_amounts_beyond_the_limits() {
    let (_server, mut b, api) = owner_session().await;
    api.patch("/settings", &json!({"points_per_unit": 1000}))
        .await
        .expect_status(200);
    let m = api.create_member(&json!({"name": "Till Whale"})).await;
    let id = id_of(&m);
    let path = format!("/admin/members/{id}");
    // Too large an amount, and an allowed amount that earns more than MAX_POINTS points.
    for amount in ["92233720368547758.07", "10000000000.01", "10000000000"] {
        let page = b.page(&path).await;
        let p = b
            .submit(
                &form(&page, "earn-amount"),
                &[("amount", amount), ("confirm", "yes")],
            )
            .await;
        p.expect(422);
        assert!(
            !select(&p.text, |t| t.has_class("error")).is_empty(),
            "{amount}: {}",
            snippet(&p.text)
        );
        assert_eq!(api.balance(&id).await, 0, "{amount}");
    }
    assert!(api.all_transactions(&id, 10).await.is_empty());
    let s = api.get("/stats").await.expect_status(200);
    assert_eq!(s["points_issued"], 0, "{s}");
}

#[tokio::test]
async fn an_erased_account_takes_no_entry_from_the_api_or_the_till() {
    let (_server, mut b, api) = owner_session().await;
    let m = api.create_member(&json!({"name": "Gone Soon"})).await;
    let id = id_of(&m);
    let path = format!("/admin/members/{id}");
    api.earn(&id, 40).await;
    b.post_form(&format!("{path}/erase"), &[])
        .await
        .expect_redirect(&path);
    assert_eq!(api.member(&id).await["status"], "erased");
    assert_eq!(api.balance(&id).await, 0);
    let entries = api.all_transactions(&id, 100).await;
    let expire = entries
        .iter()
        .find(|e| e["kind"] == "expire")
        .expect("the closing expiry");
    let expire_seq = expire["seq"].as_u64().unwrap().to_string();
    let earn_seq = entries
        .iter()
        .find(|e| e["kind"] == "earn")
        .expect("the earn")["seq"]
        .as_u64()
        .unwrap()
        .to_string();

    // API: reversing the expiry, an adjustment, an earn: all refused.
    api.post_idem(
        &format!("/transactions/{expire_seq}/reverse"),
        &common::fresh_key(),
        &json!({}),
    )
    .await
    .expect_problem(409, "member_erased");
    for body in [
        json!({"kind": "adjust", "points": 40, "reason": "restore"}),
        json!({"kind": "earn", "points": 5}),
    ] {
        api.transaction(&id, &common::fresh_key(), &body)
            .await
            .expect_problem(409, "member_erased");
    }
    assert_eq!(api.balance(&id).await, 0);

    // The till: reverse the expiry, reverse the earn (its points were expired), adjust.
    for seq in [&expire_seq, &earn_seq] {
        let token = common::fresh_key();
        let p = b
            .post_form(
                &format!("{path}/reverse"),
                &[("seq", seq.as_str()), ("form_token", &token)],
            )
            .await;
        assert!(
            p.status == 409 || p.status == 422,
            "reverse {seq}: {} {}",
            p.status,
            snippet(&p.text)
        );
    }
    let token = common::fresh_key();
    let p = b
        .post_form(
            &format!("{path}/adjust"),
            &[
                ("points", "40"),
                ("reason", "put them back"),
                ("form_token", &token),
            ],
        )
        .await;
    p.expect(409);
    assert_eq!(api.balance(&id).await, 0);
    assert_eq!(api.all_transactions(&id, 100).await.len(), entries.len());
}

#[tokio::test]
async fn till_reverse_checks_its_reason_like_every_other_entry() {
    let (_server, mut b, api) = owner_session().await;
    let m = api.create_member(&json!({"name": "Rita Reverse"})).await;
    let id = id_of(&m);
    let path = format!("/admin/members/{id}");
    let seq = api.earn(&id, 25).await["entry"]["seq"]
        .as_u64()
        .unwrap()
        .to_string();
    let page = b.page(&path).await;
    let reverse = select(&page, |t| t.name == "form" && t.has_class("reverse"))
        .iter()
        .map(|e| Form::from_elem(e, &path))
        .find(|f| f.value("seq") == Some(seq.as_str()))
        .expect("a form.reverse for the earn");
    let huge = "x".repeat(900 * 1024);
    for reason in [
        "\u{1b}[2J\u{1b}[31mPWNED",
        "nul\u{0}byte",
        "txt.\u{202E}exe",
        huge.as_str(),
    ] {
        let token = common::fresh_key();
        let p = b
            .submit(&reverse, &[("reason", reason), ("form_token", &token)])
            .await;
        p.expect(422);
        let refusal = by_id(&p.text, "refused")
            .map(|e| e.text())
            .unwrap_or_default();
        assert!(
            !refusal.is_empty(),
            "a refusal banner: {}",
            snippet(&p.text)
        );
        assert!(p.text.len() < 200 * 1024, "the reason is not echoed whole");
        assert!(!p.text.contains('\u{202E}') && !p.text.contains('\u{1b}'));
    }
    assert_eq!(api.balance(&id).await, 25);
    assert_eq!(
        api.all_transactions(&id, 100).await.len(),
        1,
        "nothing written"
    );
    // A plain reason still works.
    let p = b.submit(&reverse, &[("reason", "rang up twice")]).await;
    p.expect(200);
    assert_eq!(api.balance(&id).await, 0);
}

#[tokio::test]
async fn an_import_row_with_a_hidden_character_in_the_name_is_an_error() {
    let (_server, mut b, api) = owner_session().await;
    let page = b.page("/admin/members/import").await;
    let import = form(&page, "import");
    let csv = "name,email,phone,card_number,balance\n\
               Good Name,good@example.com,,,\n\
               Evil\u{202E}gpj.exe,,,,\n\
               Zero\u{200B}Width,,,,\n\
               Bad Mail,x@x.com<script>,,,\n";
    let p = b
        .submit_file(&import, &[], "file", "m.csv", "text/csv", csv.as_bytes())
        .await;
    let preview = rows(&p.text, "import-preview");
    let errors: Vec<String> = preview
        .iter()
        .filter(|r| r.tag.has_class("error"))
        .map(Elem::text)
        .collect();
    assert_eq!(errors.len(), 3, "three bad rows: {}", snippet(&p.text));
    assert!(
        select(&p.text, |t| t.attr("id") == Some("import-confirm")).is_empty(),
        "no confirm form"
    );
    assert_eq!(member_count(&api).await, 0);
}

#[tokio::test]
async fn an_export_with_guarded_cells_imports_back_to_the_same_values() {
    let (_server, mut b, api) = owner_session().await;
    let people = [
        ("=1+2", "+44 20 7946 0958"),
        ("@SUM(A1)", "0201234567"),
        ("-minus", ""),
        ("'=quoted already", ""),
        ("Ann Lee", "+15550199"),
    ];
    for (name, phone) in people {
        let mut body = json!({ "name": name });
        if !phone.is_empty() {
            body["phone"] = json!(phone);
        }
        api.create_member(&body).await;
    }
    let before: BTreeMap<String, Option<String>> =
        api.get("/members?limit=100").await.expect_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["phone"].as_str().map(str::to_owned),
                )
            })
            .collect();
    let export = b.get("/admin/members/export.csv").await;
    export.expect(200);
    assert!(export.text.contains("'=1+2"), "{}", export.text);
    assert!(export.text.contains("'+442079460958"), "{}", export.text);

    // Into another shop: the same names and phones come out.
    let (_other, mut b2, api2) = owner_session().await;
    let page = b2.page("/admin/members/import").await;
    let p = b2
        .submit_file(
            &form(&page, "import"),
            &[],
            "file",
            "members.csv",
            "text/csv",
            export.text.as_bytes(),
        )
        .await;
    p.expect(200);
    b2.submit(&form(&p.text, "import-confirm"), &[])
        .await
        .expect(200);
    let after: BTreeMap<String, Option<String>> =
        api2.get("/members?limit=100").await.expect_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["phone"].as_str().map(str::to_owned),
                )
            })
            .collect();
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_one_mebibyte_import_previews_on_a_small_page_and_imports_every_row() {
    let (_server, mut b, api) = owner_session().await;
    let page = b.page("/admin/members/import").await;
    let import = form(&page, "import");
    let limit = 1024 * 1024 - 4096;

    // Every line bad: the counts, a bounded list of errors, no confirm form.
    let mut bad = String::from("name,email,phone,card_number,balance\n");
    let mut n = 0;
    while bad.len() < limit {
        n += 1;
        bad.push_str(&format!(
            "Bad Row {n:06} {},not-an-email,,,\n",
            "x".repeat(60)
        ));
    }
    let p = b
        .submit_file(&import, &[], "file", "bad.csv", "text/csv", bad.as_bytes())
        .await;
    assert!(p.status == 200 || p.status == 422, "{}", p.status);
    assert!(
        p.text.len() < 300 * 1024,
        "preview page is {} bytes",
        p.text.len()
    );
    let summary = by_id(&p.text, "import-summary")
        .expect("#import-summary")
        .text();
    assert!(summary.contains(&n.to_string()), "{summary}");
    assert!(by_id(&p.text, "import-not-shown").is_some());
    assert!(select(&p.text, |t| t.attr("id") == Some("import-confirm")).is_empty());

    // Every line good: a small page, and the confirm imports all of them.
    let mut good = String::from("name,email,phone,card_number,balance\n");
    let mut n = 0;
    while good.len() < limit {
        n += 1;
        good.push_str(&format!("Member {n:06} {},,,,1\n", "y".repeat(80)));
    }
    let p = b
        .submit_file(
            &import,
            &[],
            "file",
            "good.csv",
            "text/csv",
            good.as_bytes(),
        )
        .await;
    p.expect(200);
    assert!(
        p.text.len() < 300 * 1024,
        "preview page is {} bytes",
        p.text.len()
    );
    assert!(rows(&p.text, "import-preview").len() <= 400);
    assert!(by_id(&p.text, "import-confirm").is_some());

    // More lines than a preview shows: every one is imported (a smaller file, to stay quick).
    let mut good = String::from("name,email,phone,card_number,balance\n");
    let n = 450;
    for i in 1..=n {
        good.push_str(&format!("Member {i:06},,,,1\n"));
    }
    let p = b
        .submit_file(
            &import,
            &[],
            "file",
            "good.csv",
            "text/csv",
            good.as_bytes(),
        )
        .await;
    p.expect(200);
    assert!(rows(&p.text, "import-preview").len() < n);
    assert!(by_id(&p.text, "import-not-shown").is_some());
    let done = b.submit(&form(&p.text, "import-confirm"), &[]).await;
    done.expect(200);
    let result = by_id(&done.text, "result").expect("#result").text();
    assert!(
        result.contains(&format!("Imported {n} members")),
        "{result}"
    );
    let s = api.get("/stats").await.expect_status(200);
    assert_eq!(s["members"], n, "{s}");
    assert_eq!(s["points_outstanding"], n, "{s}");
    // The same preview cannot be imported twice.
    let again = b.submit(&form(&p.text, "import-confirm"), &[]).await;
    assert_eq!(again.status, 422);
    assert_eq!(api.get("/stats").await.expect_status(200)["members"], n);
}

/// The till as an installable app: every admin page links the manifest, which needs no log-in,
/// opens on member search within `/admin/`, and carries the business's name and icon (its logo
/// once there is one).
#[tokio::test]
async fn the_till_has_a_web_app_manifest_with_the_business_s_name_and_icon() {
    let (server, mut b, _api) = owner_session().await;
    for path in ["/admin", "/admin/members", "/admin/rewards"] {
        let html = b.page(path).await;
        let link = select(&html, |t| {
            t.name == "link" && t.attr("rel") == Some("manifest")
        });
        assert_eq!(link.len(), 1, "link[rel=manifest] on {path}");
        assert_eq!(
            link[0].tag.attr("href"),
            Some("/admin/manifest.webmanifest"),
            "manifest href on {path}"
        );
    }
    let http = reqwest::Client::new();
    let fetch = || async {
        let res = http
            .get(server.url("/admin/manifest.webmanifest"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "the manifest without a log-in");
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/manifest+json"
        );
        let text = res.text().await.unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("the manifest is not JSON ({e}): {text}"))
    };
    let m = fetch().await;
    assert_eq!(m["start_url"], "/admin/members", "{m}");
    assert_eq!(m["scope"], "/admin/", "{m}");
    assert_eq!(m["display"], "standalone", "{m}");
    assert!(
        m["name"]
            .as_str()
            .is_some_and(|n| n.contains("My Business")),
        "{m}"
    );
    let srcs = |m: &serde_json::Value| -> Vec<String> {
        m["icons"]
            .as_array()
            .unwrap_or_else(|| panic!("no icons: {m}"))
            .iter()
            .map(|i| i["src"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(srcs(&m)[0], "/c/icon-192.png", "{m}");
    for src in srcs(&m) {
        let res = http.get(server.url(&src)).send().await.unwrap();
        assert_eq!(res.status(), 200, "icon {src}");
    }

    let page = b.page("/admin/settings").await;
    b.submit_file(
        &form(&page, "logo"),
        &[],
        "logo",
        "logo.png",
        "image/png",
        &PNG,
    )
    .await;
    let m = fetch().await;
    assert_eq!(srcs(&m)[0], "/brand/logo", "the logo comes first: {m}");
    assert_eq!(m["icons"][0]["type"], "image/png", "{m}");
}
