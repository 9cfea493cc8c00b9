//! Log-in, setup and join under attack, as an attacker on the same network would try them:
//! bursts of concurrent requests, leaked card links, posts from another site. Every burst is
//! bounded in count, goes only to the test's own server on 127.0.0.1, and ends by itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use common::pages::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Longer than the join form's minimum fill-in time (2 s).
const HUMAN_PAUSE: Duration = Duration::from_millis(2300);

/// How much the server's peak memory may grow during a burst of password work. One argon2
/// hash holds ~19 MiB; a small pool holds a few at once, while an unbounded server would hold
/// one per request (60 requests: over 1 GiB). Generous, so a noisy machine cannot flake it.
const BURST_MEMORY_CEILING_KIB: u64 = 200 * 1024;

/// A client without cookies that does not follow redirects.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn setup_url(server: &TestServer) -> String {
    let line = server
        .wait_for_stdout("setup link: ", Duration::from_secs(5))
        .expect("a fresh server prints a setup link");
    line.trim().trim_start_matches("setup link: ").to_owned()
}

/// What one request of a burst was answered: status and `Retry-After`.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    set_cookie: bool,
}

/// Sends every form to `url` at once and collects the answers.
async fn burst(url: &str, forms: Vec<Vec<(String, String)>>) -> Vec<Answer> {
    burst_with(&http(), url, forms).await
}

/// Opens `n` connections to `url`'s server first (concurrent GETs), so a burst sent on them
/// arrives together rather than at the pace connections can be opened.
async fn warmed_client(url: &str, n: usize) -> reqwest::Client {
    let client = http();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let req = client.get(url);
        set.spawn(async move { req.send().await.map(|r| r.status()) });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().unwrap().is_success());
    }
    client
}

/// Like [`burst`], on a given client.
async fn burst_with(
    client: &reqwest::Client,
    url: &str,
    forms: Vec<Vec<(String, String)>>,
) -> Vec<Answer> {
    let mut set = tokio::task::JoinSet::new();
    for form in forms {
        let req = client.post(url).form(&form);
        set.spawn(async move {
            let r = req.send().await.expect("HTTP request");
            Answer {
                status: r.status().as_u16(),
                retry_after: r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                set_cookie: r.headers().get("set-cookie").is_some(),
            }
        });
    }
    let mut out = Vec::new();
    while let Some(a) = set.join_next().await {
        out.push(a.unwrap());
    }
    out
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn setup_form(user: &str) -> Vec<(String, String)> {
    fields(&[
        ("username", user),
        ("password", "correct horse battery"),
        ("confirm", "correct horse battery"),
    ])
}

/// Every refusal of a burst says when to come back.
fn assert_retry_after(answers: &[Answer]) {
    for a in answers {
        if a.status == 429 || a.status == 503 {
            let secs: u64 = a
                .retry_after
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} without a Retry-After in seconds: {a:?}", a.status));
            assert!(secs >= 1, "{a:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 1: password hashing is bounded.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn setup_posts_with_a_wrong_or_spent_link_cost_no_password_hashing() {
    let server = TestServer::start();
    let link = setup_url(&server);
    let base = server.peak_rss_kib();

    let wrong = server.url("/setup/not-the-setup-token");
    let answers = burst(
        &wrong,
        (0..60).map(|i| setup_form(&format!("eve{i}"))).collect(),
    )
    .await;
    assert_eq!(count(&answers, 404), 60, "{answers:?}");

    // Once the owner exists, the spent link answers the same way, without hashing either.
    let made = http()
        .post(&link)
        .form(&setup_form("olive"))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let answers = burst(
        &link,
        (0..60).map(|i| setup_form(&format!("eve{i}"))).collect(),
    )
    .await;
    assert_eq!(count(&answers, 404), 60, "{answers:?}");

    let grown = server.peak_rss_kib().saturating_sub(base);
    assert!(
        grown < BURST_MEMORY_CEILING_KIB,
        "peak memory grew by {} MiB over 120 refused setup posts",
        grown / 1024
    );
}

#[tokio::test]
async fn a_burst_of_password_work_is_queued_or_turned_away_with_retry_after() {
    let server = TestServer::start();
    let link = setup_url(&server);
    let base = server.peak_rss_kib();

    // 60 people with the real link post at once: each needs a hash, the pool takes a few.
    let client = warmed_client(&link, 60).await;
    let answers = burst_with(
        &client,
        &link,
        (0..60).map(|i| setup_form(&format!("ann{i}"))).collect(),
    )
    .await;
    assert_eq!(count(&answers, 200), 1, "one owner is made: {answers:?}");
    assert!(
        count(&answers, 503) >= 1,
        "some are turned away while the pool is full: {answers:?}"
    );
    assert!(
        answers.iter().all(|a| [200, 404, 503].contains(&a.status)),
        "{answers:?}"
    );
    assert_retry_after(&answers);

    let grown = server.peak_rss_kib().saturating_sub(base);
    assert!(
        grown < BURST_MEMORY_CEILING_KIB,
        "peak memory grew by {} MiB over 60 concurrent setup posts",
        grown / 1024
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 2: the log-in limits hold under concurrency.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sixty_wrong_passwords_at_once_get_at_most_five_checked() {
    let server = TestServer::start();
    add_user(&server, "olive", "owner");
    let url = server.url("/admin/login");
    let answers = burst(
        &url,
        (0..60)
            .map(|i| fields(&[("username", "olive"), ("password", &format!("guess {i}"))]))
            .collect(),
    )
    .await;
    let checked = count(&answers, 401);
    assert!(
        (1..=5).contains(&checked),
        "{checked} wrong passwords were checked: {answers:?}"
    );
    assert_eq!(count(&answers, 429), 60 - checked, "{answers:?}");
    assert_retry_after(&answers);
    // The account stays locked for the right password too.
    let mut b = Browser::new(&server);
    b.login("olive", PASSWORD).await.expect(429);
}

/// A member with an email and a phone number, and their card page path.
async fn member(api: &common::Api, name: &str, email: &str, phone: &str) -> (Value, String) {
    let m = api
        .create_member(&json!({"name": name, "email": email, "phone": phone}))
        .await;
    let path = format!("/c/{}", m["card_token"].as_str().unwrap());
    (m, path)
}

#[tokio::test]
async fn pin_guesses_at_once_over_a_range_with_the_right_pin_are_held_to_the_limit() {
    let server = TestServer::start();
    let api = server.client();
    let (m, card) = member(&api, "Pat Pin", "pat@example.com", "+44 7700 900001").await;
    let number = m["card_number"].as_str().unwrap().to_owned();
    let set = http()
        .post(server.url(&format!("{card}/password")))
        .form(&fields(&[
            ("contact", "pat@example.com"),
            ("password", "100042"),
            ("confirm", "100042"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 303);

    let url = server.url("/login");
    let answers = burst(
        &url,
        (100_000..100_060)
            .map(|pin| fields(&[("identifier", &number), ("password", &pin.to_string())]))
            .collect(),
    )
    .await;
    let checked = count(&answers, 401) + count(&answers, 303);
    assert!(
        checked <= 5,
        "{checked} PIN guesses were checked in one burst: {answers:?}"
    );
    assert_eq!(count(&answers, 429), 60 - checked, "{answers:?}");
    assert_retry_after(&answers);
    let sessions = answers.iter().filter(|a| a.set_cookie).count();
    assert_eq!(
        sessions,
        count(&answers, 303),
        "a session only for the right PIN"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 8b: the card link alone cannot set a first PIN.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_card_link_alone_cannot_set_a_first_pin() {
    let (server, mut owner, api) = owner_session().await;
    let (m, card) = member(&api, "Lee Leak", "lee@example.com", "+44 20 7946 0001").await;
    let number = m["card_number"].as_str().unwrap().to_owned();

    // Someone with only the link: no contact, or a wrong one, sets nothing.
    let mut stranger = Browser::new(&server);
    let html = stranger.page(&card).await;
    let f = form(&html, "set-password");
    for contact in ["", "someone@example.com", "+44 20 0000 0000"] {
        let p = stranger
            .submit(
                &f,
                &[
                    ("contact", contact),
                    ("password", "135792"),
                    ("confirm", "135792"),
                ],
            )
            .await;
        p.expect(422);
        assert!(
            by_id(&p.text, "contact-error").is_some(),
            "#contact-error for {contact:?}: {}",
            snippet(&p.text)
        );
    }
    let p = Browser::new(&server)
        .customer_login(&number, "135792")
        .await;
    assert_eq!(p.status, 401, "no PIN was set");

    // The card holder types the phone number on file, written their own way.
    let p = stranger
        .submit(
            &f,
            &[
                ("contact", "44 20-7946-0001"),
                ("password", "135792"),
                ("confirm", "135792"),
            ],
        )
        .await;
    p.expect(303);
    Browser::new(&server)
        .customer_login_ok(&number, "135792")
        .await;

    // A member with neither on file is told to ask at the counter, where staff set it.
    let bare = api.create_member(&json!({"name": "Nia Nocontact"})).await;
    let bare_card = format!("/c/{}", bare["card_token"].as_str().unwrap());
    let mut holder = Browser::new(&server);
    let html = holder.page(&bare_card).await;
    let p = holder
        .submit(
            &form(&html, "set-password"),
            &[
                ("contact", ""),
                ("password", "246813"),
                ("confirm", "246813"),
            ],
        )
        .await;
    p.expect(422);
    assert!(text(&p.text).contains("counter"), "{}", snippet(&p.text));
    let html = owner.page(&bare_card).await;
    let at_till = form(&html, "set-password");
    assert!(
        at_till.value("contact").is_none(),
        "staff are not asked for it"
    );
    let p = owner
        .submit(&at_till, &[("password", "246813"), ("confirm", "246813")])
        .await;
    p.expect(303);
    Browser::new(&server)
        .customer_login_ok(bare["card_number"].as_str().unwrap(), "246813")
        .await;
}

// ---------------------------------------------------------------------------------------------
// Finding 9: log-in CSRF.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn log_in_and_join_posts_from_another_site_are_refused() {
    let server = TestServer::start();
    add_user(&server, "olive", "owner");
    let api = server.client();
    let (m, card) = member(&api, "Cy Cross", "cy@example.com", "+44 7700 900002").await;
    http()
        .post(server.url(&format!("{card}/password")))
        .form(&fields(&[
            ("contact", "cy@example.com"),
            ("password", "975312"),
            ("confirm", "975312"),
        ]))
        .send()
        .await
        .unwrap();
    let number = m["card_number"].as_str().unwrap().to_owned();
    let staff = fields(&[("username", "olive"), ("password", PASSWORD)]);
    let customer = fields(&[("identifier", &number), ("password", "975312")]);
    let join = fields(&[("name", "Evil Join"), ("email", "evil@example.com")]);
    let ours = format!("http://{}", server.addr());

    let cross: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("origin", "null")],
    ];
    for headers in cross {
        for (path, form) in [
            ("/admin/login", &staff),
            ("/login", &customer),
            ("/join", &join),
            ("/setup/anything", &staff),
        ] {
            let mut req = http().post(server.url(path)).form(form);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 403, "{path} with {headers:?}");
            assert!(
                r.headers().get("set-cookie").is_none(),
                "{path}: no session"
            );
        }
    }
    assert!(
        api.get("/members").await.json()["items"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );

    // The same posts from the site itself work.
    for (path, form) in [("/admin/login", &staff), ("/login", &customer)] {
        let r = http()
            .post(server.url(path))
            .header("origin", &ours)
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path} from this site");
        assert!(r.headers().get("set-cookie").is_some(), "{path}: a session");
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 11: /join limits, single-use stamps, no disclosure of registered emails.
// ---------------------------------------------------------------------------------------------

async fn member_count(api: &common::Api) -> usize {
    api.get("/members?limit=100").await.json()["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn forty_joins_at_once_from_one_address_make_at_most_ten_members() {
    let server = TestServer::start();
    let api = server.client();
    let mut people = Vec::new();
    for _ in 0..40 {
        let mut b = Browser::new(&server);
        let f = b.join_form("/join").await;
        people.push((b, f));
    }
    tokio::time::sleep(HUMAN_PAUSE).await;
    let mut set = tokio::task::JoinSet::new();
    for (n, (mut b, f)) in people.into_iter().enumerate() {
        set.spawn(async move {
            let name = format!("Joiner Number{n}");
            let email = format!("burst{n}@example.com");
            b.submit(&f, &[("name", &name), ("email", &email)])
                .await
                .status
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    let joined = statuses.iter().filter(|s| **s == 303).count();
    assert_eq!(joined, 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30);
    assert_eq!(member_count(&api).await, 10);
}

#[tokio::test]
async fn a_join_form_can_be_sent_only_once() {
    let server = TestServer::start();
    let api = server.client();
    let mut b = Browser::new(&server);
    let f = b.join_form("/join").await;
    tokio::time::sleep(HUMAN_PAUSE).await;
    b.submit(&f, &[("name", "Una Once"), ("email", "una@example.com")])
        .await
        .expect(303);
    let again = b
        .submit(&f, &[("name", "Una Twice"), ("email", "una2@example.com")])
        .await;
    again.expect(422);
    assert_eq!(
        member_count(&api).await,
        1,
        "the replayed form made nothing"
    );
}

/// Only a join that made a member keeps its stamp: refused posts give it back, so a flood of
/// them cannot fill the bounded set of used stamps and shut joining for everyone.
#[tokio::test]
async fn a_refused_join_gives_its_form_back() {
    let server = TestServer::start();
    let api = server.client();
    let mut b = Browser::new(&server);
    let f = b.join_form("/join").await;
    tokio::time::sleep(HUMAN_PAUSE).await;
    b.submit(
        &f,
        &[("name", "Una\u{202E}Bad"), ("email", "una@example.com")],
    )
    .await
    .expect(422);
    assert_eq!(member_count(&api).await, 0);
    b.submit(&f, &[("name", "Una Good"), ("email", "una@example.com")])
        .await
        .expect(303);
    b.submit(&f, &[("name", "Una Again"), ("email", "una2@example.com")])
        .await
        .expect(422);
    assert_eq!(member_count(&api).await, 1);
}

#[tokio::test]
async fn a_registered_email_is_not_revealed_by_join_or_the_account_page() {
    let (server, mut owner, api) = owner_session().await;
    let (held, _) = member(&api, "Hal Holder", "hal@example.com", "+44 7700 900003").await;

    // Joining with it looks like any other join, and the other card is untouched.
    let mut b = Browser::new(&server);
    let f = b.join_form("/join").await;
    tokio::time::sleep(HUMAN_PAUSE).await;
    let p = b
        .submit(
            &f,
            &[("name", "Ivy Intruder"), ("email", "HAL@example.com")],
        )
        .await;
    p.expect(303);
    let to = p.location().unwrap().to_owned();
    assert!(to.starts_with("/c/"), "{to}");
    let new_card = b.page(&to).await;
    assert!(
        !new_card.contains("hal@example.com"),
        "the email is not attached"
    );
    let all = api.get("/members?limit=100").await.json();
    let items = all["items"].as_array().unwrap();
    let with_email: Vec<&Value> = items
        .iter()
        .filter(|m| m["email"] == "hal@example.com")
        .collect();
    assert_eq!(with_email.len(), 1, "{all}");
    assert_eq!(with_email[0]["id"], held["id"]);

    // On the account page, changing to it gives a neutral answer, not a conflict.
    let (ivy, ivy_card) = member(&api, "Ivy Own", "ivy@example.com", "+44 7700 900004").await;
    let mut c = Browser::new(&server);
    let html = c.page(&ivy_card).await;
    c.submit(
        &form(&html, "set-password"),
        &[
            ("contact", "ivy@example.com"),
            ("password", "864213"),
            ("confirm", "864213"),
        ],
    )
    .await
    .expect(303);
    c.customer_login_ok("ivy@example.com", "864213").await;
    let account = c.page("/account").await;
    let p = c
        .submit(
            &form(&account, "details"),
            &[("name", "Ivy Renamed"), ("email", "hal@example.com")],
        )
        .await;
    assert!(
        p.status == 200 || p.status == 303,
        "answered {}: {}",
        p.status,
        snippet(&p.text)
    );
    assert!(!text(&p.text).to_lowercase().contains("already in use"));
    let now = api
        .get(&format!("/members/{}", ivy["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(now["email"], "ivy@example.com");
    assert_eq!(now["name"], "Ivy Renamed", "the other details were saved");

    // The owner can see both attempts in the audit log.
    let audit = owner.page("/admin/audit?action=email_in_use").await;
    let rows = text(&audit);
    assert!(
        rows.contains("member.join_email_in_use"),
        "{}",
        snippet(&audit)
    );
    assert!(rows.contains("member.email_in_use"), "{}", snippet(&audit));
}

// ---------------------------------------------------------------------------------------------
// Finding 14: changing the PIN ends the customer's other sessions.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn changing_the_pin_logs_out_the_customers_other_sessions() {
    let server = TestServer::start();
    let api = server.client();
    let (m, card) = member(&api, "Sid Session", "sid@example.com", "+44 7700 900005").await;
    let number = m["card_number"].as_str().unwrap().to_owned();
    let mut owner_of_card = Browser::new(&server);
    let html = owner_of_card.page(&card).await;
    owner_of_card
        .submit(
            &form(&html, "set-password"),
            &[
                ("contact", "sid@example.com"),
                ("password", "112358"),
                ("confirm", "112358"),
            ],
        )
        .await
        .expect(303);

    // Someone else logged in with the old PIN.
    let mut other = Browser::new(&server);
    other.customer_login_ok(&number, "112358").await;
    other.page("/account").await;

    // The card holder changes it, logged in themselves.
    owner_of_card.customer_login_ok(&number, "112358").await;
    let html = owner_of_card.page(&card).await;
    owner_of_card
        .submit(
            &form(&html, "set-password"),
            &[
                ("current", "112358"),
                ("password", "853211"),
                ("confirm", "853211"),
            ],
        )
        .await
        .expect(303);
    other.get("/account").await.expect_redirect("/login");
    owner_of_card.page("/account").await;
}

// ---------------------------------------------------------------------------------------------
// Finding 15: the API's 429 says when to retry; missing keys are not failures.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn api_requests_without_a_key_do_not_lock_the_address_and_429_says_when_to_retry() {
    let server = TestServer::start();
    let client = http();
    let url = server.url("/api/v1/members");
    for _ in 0..25 {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let wrong = || client.get(&url).bearer_auth("fk_wrong_key").send();
    assert_eq!(
        wrong().await.unwrap().status(),
        401,
        "requests without a key did not count"
    );
    let mut refused = None;
    for _ in 0..25 {
        let r = wrong().await.unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let r = refused.expect("wrong keys are refused after 20");
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 1);
    // A good key still works from the same address.
    server.client().get("/members").await.expect_status(200);
}
