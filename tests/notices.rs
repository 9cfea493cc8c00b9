//! Member email notices end to end: a real `fealty serve` and a real SMTP server on loopback
//! (aiosmtpd). The welcome with the card link, one points digest a day (none again after a
//! restart), the expiry warning once, the tier change, unsubscribing (link and one-click post)
//! stopping every later notice, retries while the mail server is down, nothing queued without
//! one, and bad settings refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::*;
use common::smtp::Smtp;
use common::{Api, TestServer};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a mail may take on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

/// The server on `data`, mailing through `smtp_port` (if any); its daily job runs at start
/// (and hourly after, which no test lives to see).
fn serve(data: &Path, smtp_port: Option<u16>, extra: &[&str]) -> TestServer {
    let port = smtp_port.map(|p| p.to_string());
    let mut args = vec![
        "--alerts-check-every",
        "1s",
        "--notices-retry-first",
        "1s",
        "--expire-every",
        "1h",
    ];
    if let Some(p) = &port {
        args.extend([
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            p,
            "--smtp-security",
            "plain",
            "--smtp-from",
            "shop@example.com",
        ]);
    }
    args.extend_from_slice(extra);
    TestServer::start_with(data, &args, &[])
}

async fn notices(api: &Api, set: Value) {
    let mut body = json!({
        "welcome": false, "digest": false, "expiry_warning": false, "tier_change": false,
        "warning_days": 14
    });
    for (k, v) in set.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = api
        .patch("/settings", &json!({ "notices": body }))
        .await
        .expect_status(200);
    assert_eq!(r["notices"], body);
}

/// Waits until `smtp` holds `n` messages; returns them.
async fn mails(smtp: &Smtp, n: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = smtp.messages();
        if got.len() >= n {
            assert_eq!(got.len(), n, "exactly {n} mails: {got:#?}");
            return got.into_iter().map(|m| m.replace("=3D", "=")).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{n} mails within {WAIT:?}, got {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits `secs` seconds of the server's delivery rounds (one a second), then checks that no
/// further mail came.
async fn no_more(smtp: &Smtp, n: usize, secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(smtp.messages().len(), n, "{:#?}", smtp.messages());
}

/// Waits until the server has logged `n` expiry runs (the daily step runs right after each).
fn runs(server: &TestServer, n: usize) {
    let deadline = Instant::now() + WAIT;
    while server
        .stderr_lines()
        .iter()
        .chain(server.stdout_lines().iter())
        .filter(|l| l.contains("points expiry ran"))
        .count()
        < n
    {
        assert!(Instant::now() < deadline, "{n} expiry runs");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

fn subject(mail: &str) -> &str {
    header(mail, "Subject").unwrap_or_default()
}

/// The unsubscribe URL of a notice, from its `List-Unsubscribe` header.
fn unsubscribe_url(mail: &str) -> String {
    header(mail, "List-Unsubscribe")
        .and_then(|v| v.strip_prefix('<'))
        .and_then(|v| v.strip_suffix('>'))
        .expect("a List-Unsubscribe header")
        .to_owned()
}

async fn member(api: &Api, email: &str) -> Value {
    api.create_member(&json!({"name": "Ada Lovelace", "email": email}))
        .await
}

#[tokio::test]
async fn welcome_then_one_digest_a_day_and_none_again_after_a_restart() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), Some(smtp.port), &[]);
    let api = server.client();
    notices(&api, json!({"welcome": true, "digest": true})).await;
    // No email, no mail; an email member's welcome comes at once.
    api.create_member(&json!({"name": "Nobody"})).await;
    let m = member(&api, "ada@example.com").await;
    let id = m["id"].as_str().unwrap();
    let token = m["card_token"].as_str().unwrap();

    let got = mails(&smtp, 1).await;
    let w = &got[0];
    assert_eq!(header(w, "To"), Some("ada@example.com"));
    assert_eq!(subject(w), "Welcome to My Business's loyalty scheme");
    assert!(w.contains("multipart/alternative"), "{w}");
    assert!(w.contains("text/plain") && w.contains("text/html"), "{w}");
    let card = server.url(&format!("/c/{token}"));
    assert!(w.contains(&card), "the card link {card} in {w}");
    assert!(
        w.contains(&format!("href=\"{card}\"")),
        "the HTML link in {w}"
    );
    assert_eq!(
        header(w, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(unsubscribe_url(w).starts_with(&server.url(&format!("/unsubscribe/{id}/"))));

    for p in [10, 20, 5] {
        api.earn(id, p).await;
    }
    // The daily step runs at start: one digest with the day's total and the balance.
    // (A restart with the same flags: `TestServer::restart` would drop them.)
    server.stop();
    let mut server = serve(dir.path(), Some(smtp.port), &[]);
    runs(&server, 1);
    let got = mails(&smtp, 2).await;
    let d = &got[1];
    assert_eq!(subject(d), "You earned 35 points at My Business");
    assert!(d.contains("Your balance is now 35 points."), "{d}");
    assert!(d.contains("/c/"), "{d}");

    // Later the same day: a restart runs the step again, and an earn is new, yet no second digest.
    server.client().earn(id, 7).await;
    server.stop();
    let server = serve(dir.path(), Some(smtp.port), &[]);
    runs(&server, 1);
    no_more(&smtp, 2, 4).await;
}

#[tokio::test]
async fn the_expiry_warning_arrives_once_with_points_and_date() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), Some(smtp.port), &[]);
    let api = server.client();
    api.patch(
        "/settings",
        &json!({"expiry_rule": "earned", "expiry_months": 12}),
    )
    .await
    .expect_status(200);
    notices(&api, json!({"expiry_warning": true, "warning_days": 14})).await;
    let m = member(&api, "grace@example.com").await;
    let id = m["id"].as_str().unwrap().to_owned();
    api.earn(&id, 120).await;
    let today = time::OffsetDateTime::now_utc().date();
    server.stop();

    // 355 days on, the points lapse within the fortnight (twelve months after today).
    let mut server = serve(dir.path(), Some(smtp.port), &["--clock-offset", "355d"]);
    runs(&server, 1);
    let got = mails(&smtp, 1).await;
    let last = last_day_after_a_year(today);
    assert_eq!(
        subject(&got[0]),
        format!("My Business: 120 points expire on {last}")
    );
    assert_eq!(header(&got[0], "To"), Some("grace@example.com"));
    assert!(got[0].contains("Use them at My Business before then."));

    // Again the next day: the same expiry is not warned of twice.
    server.stop();
    let server = serve(dir.path(), Some(smtp.port), &["--clock-offset", "356d"]);
    runs(&server, 1);
    no_more(&smtp, 1, 4).await;
}

/// "31 Mar 2027" for the day twelve months after `d` (the end of February when it is the 29th).
fn last_day_after_a_year(d: time::Date) -> String {
    let year = d.year() + 1;
    let day = if d.month() == time::Month::February && d.day() == 29 {
        28
    } else {
        d.day()
    };
    let month = &format!("{}", d.month())[..3];
    format!("{day} {month} {year}")
}

#[tokio::test]
async fn a_tier_move_mails_and_unsubscribing_stops_everything_after() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), Some(smtp.port), &[]);
    let api = server.client();
    let level = |name: &str, threshold: i64| json!({"name": name, "colour": "#336699", "threshold": threshold, "multiplier_hundredths": 100});
    api.patch(
        "/settings",
        &json!({"tiers": {"enabled": true, "basis": "lifetime", "levels": [level("Bronze", 0), level("Gold", 50), level("Platinum", 200), level("Diamond", 400)]}}),
    )
    .await
    .expect_status(200);
    notices(&api, json!({"welcome": true, "tier_change": true})).await;
    let m = member(&api, "ada@example.com").await;
    let id = m["id"].as_str().unwrap();
    let got = mails(&smtp, 1).await;

    api.earn(id, 60).await;
    let got2 = mails(&smtp, 2).await;
    assert_eq!(subject(&got2[1]), "Your My Business tier is now Gold");
    assert!(got2[1].contains("You are now in the Gold tier at My Business."));

    // A wrong signature finds nothing; the right one asks first, then the one-click post works.
    let url = unsubscribe_url(&got[0]);
    let client = reqwest::Client::new();
    let wrong = format!("{}x", &url[..url.len() - 1]);
    assert_eq!(client.get(&wrong).send().await.unwrap().status(), 404);
    assert_eq!(
        client
            .post(&wrong)
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"unsubscribe\""));
    // Opening the link alone changes nothing: a tier move still mails.
    api.earn(id, 150).await;
    let got3 = mails(&smtp, 3).await;
    assert_eq!(subject(&got3[2]), "Your My Business tier is now Platinum");
    let done = client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("id=\"unsubscribed\""));

    // Another move, and the next day's digest: no more mail.
    api.earn(id, 300).await;
    no_more(&smtp, 3, 4).await;

    // The member page shows the opt-out, and the audit log has it.
    add_user(&server, "olive", "owner");
    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;
    let html = b.page(&format!("/admin/members/{id}")).await;
    assert!(
        by_id(&html, "notices-off").is_some_and(|e| e.text().contains("unsubscribed")),
        "{}",
        snippet(&html)
    );
    let audit = b.page("/admin/audit?action=member.notices_off").await;
    assert!(audit.contains(id), "{}", snippet(&audit));
}

#[tokio::test]
async fn mail_waits_while_the_mail_server_is_down_and_goes_when_it_returns() {
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), Some(port), &[]);
    let api = server.client();
    notices(&api, json!({"welcome": true})).await;
    member(&api, "ada@example.com").await;
    member(&api, "grace@example.com").await;
    // Tried and failed at least once...
    let deadline = Instant::now() + WAIT;
    while !server
        .stderr_lines()
        .iter()
        .chain(server.stdout_lines().iter())
        .any(|l| l.contains("member notice not sent"))
    {
        assert!(Instant::now() < deadline, "a failed attempt logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... then delivered, each once, when the mail server comes up.
    let smtp = Smtp::start_on(port);
    let got = mails(&smtp, 2).await;
    let mut to: Vec<&str> = got.iter().filter_map(|m| header(m, "To")).collect();
    to.sort();
    assert_eq!(to, ["ada@example.com", "grace@example.com"]);
    no_more(&smtp, 2, 3).await;
}

#[tokio::test]
async fn without_a_mail_server_nothing_is_queued_and_bad_settings_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), None, &[]);
    let api = server.client();
    let before = api.get("/settings").await.expect_status(200);
    assert_eq!(
        before["notices"],
        json!({"welcome": false, "digest": false, "expiry_warning": false, "tier_change": false, "warning_days": 14}),
        "off by default"
    );
    for (bad, field) in [
        (json!({"warning_days": 0}), "warning_days"),
        (json!({"warning_days": 91}), "warning_days"),
    ] {
        let mut body = before["notices"].clone();
        body["welcome"] = json!(true);
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let p = api
            .patch("/settings", &json!({"notices": body}))
            .await
            .expect_problem(422, "invalid_field");
        assert!(p.to_string().contains(field), "{p}");
    }
    api.patch("/settings", &json!({"notices": {"welcome": true}}))
        .await
        .expect_status(422);
    assert_eq!(api.get("/settings").await.expect_status(200), before);

    notices(&api, json!({"welcome": true})).await;
    member(&api, "ada@example.com").await;

    add_user(&server, "olive", "owner");
    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;
    let html = b.page("/admin/settings/notices").await;
    assert!(
        by_id(&html, "mail-server").is_some_and(|e| e
            .text()
            .contains("Nothing is sent until a mail server is configured")),
        "{}",
        snippet(&html)
    );
    assert_eq!(by_id(&html, "pending").map(|e| e.text()), Some("0".into()));

    // The form refuses days out of range, saying which field, and keeps the settings.
    let f = form(&html, "notices");
    let page = b
        .submit(&f, &[("warning_days", "120"), ("digest", "on")])
        .await;
    page.expect(422);
    let after = api.get("/settings").await.expect_status(200);
    assert_eq!(after["notices"]["digest"], false);
    assert_eq!(after["notices"]["warning_days"], 14);
    let ok = b
        .submit(&f, &[("warning_days", "30"), ("digest", "on")])
        .await;
    ok.expect(303);
    let after = api.get("/settings").await.expect_status(200);
    assert_eq!(after["notices"]["digest"], true);
    assert_eq!(after["notices"]["warning_days"], 30);
}
