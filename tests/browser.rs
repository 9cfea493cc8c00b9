//! The admin pages in a real browser: headless Chromium driven over WebDriver (chromedriver,
//! started here on a loopback port) against a real `fealty serve` process.
//!
//! One browser session walks through the till work a person does (log in, scan a card, add
//! points, earn by amount, redeem), checks the dashboard chart, the phone layout and keyboard-only
//! log-in, and saves a screenshot of every main page at phone and desktop width under
//! `target/screenshots/`. Chromium and chromedriver must be installed (`scripts/test.sh` installs
//! the Debian packages `chromium chromium-driver`); without them the test fails, it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_support;
mod common;

use browser_support::{Browser, DESKTOP, Driver, PHONE, Size};
use common::{TestServer, card_number, ok};
use fantoccini::key::Key;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

const USERNAME: &str = "ann";
const PASSWORD: &str = "correct horse battery";

/// The whole walk-through, browser start included.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------------------------
// The walk-through
// ---------------------------------------------------------------------------------------------

/// Saves `target/screenshots/admin-<page>-<size>.png`.
async fn admin_shot(b: &Browser, page: &str, size: Size) -> PathBuf {
    b.screenshot(&format!("admin-{page}-{}", size.name)).await
}

/// A main page: its name in screenshot files, its path, and an element only it has.
struct Page {
    name: &'static str,
    path: String,
    marker: &'static str,
}

fn main_pages(member_id: &str) -> Vec<Page> {
    let page = |name, path: &str, marker| Page {
        name,
        path: path.to_owned(),
        marker,
    };
    vec![
        page("dashboard", "/admin", "svg#chart-daily"),
        page("members", "/admin/members", "table#members"),
        page(
            "member",
            &format!("/admin/members/{member_id}"),
            "#balance[data-value]",
        ),
        page("rewards", "/admin/rewards", "table#rewards"),
        page("settings", "/admin/settings", "form#settings"),
        page("staff", "/admin/staff", "table#staff"),
        page("keys", "/admin/keys", "form[action=\"/admin/keys\"]"),
        page("audit", "/admin/audit", "table#audit"),
        page("alerts", "/admin/alerts", "table#alerts"),
        page("webhooks", "/admin/webhooks", "form#new-webhook"),
    ]
}

/// N in "… earns N points" (N may have thousands separators).
fn earned_points(text: &str) -> Option<i64> {
    let (_, rest) = text.split_once("earns ")?;
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .collect();
    let after = rest[number.len()..].trim_start();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if after.starts_with("point") {
        digits.parse().ok()
    } else {
        None
    }
}

/// The bars of `svg#chart-daily`: how many have a height, and their heights added up.
#[derive(Debug, Default)]
struct Bars {
    tall: u64,
    total_height: f64,
}

async fn chart_bars(b: &Browser) -> Bars {
    let v = b
        .js(
            "const rects = Array.from(document.querySelectorAll('svg#chart-daily rect'))\
             .map(r => Math.max(parseFloat(r.getAttribute('height')) || 0, r.getBBox().height));\
             return [rects.filter(h => h > 0).length, rects.reduce((a, h) => a + h, 0)]",
        )
        .await;
    Bars {
        tall: v[0].as_u64().unwrap_or(0),
        total_height: v[1].as_f64().unwrap_or(0.0),
    }
}

#[tokio::test]
async fn admin_pages_in_a_headless_browser() {
    let driver = Driver::start();
    let server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, walk_through(&driver, &server))
        .await
        .unwrap_or_else(|_| panic!("the browser walk-through took longer than {TEST_TIMEOUT:?}"));
}

async fn walk_through(driver: &Driver, server: &TestServer) {
    ok(&server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            USERNAME,
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let api = server.client();
    // An event endpoint where nothing listens, so its page shows failed deliveries.
    api.post(
        "/webhooks",
        &json!({ "url": "http://127.0.0.1:9/wp-json/loyalty-plugin/v1/fealty-events" }),
    )
    .await
    .expect_status(201);
    let card = card_number(4_711_000_042);
    let member = api
        .create_member(&json!({
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "card_number": card,
        }))
        .await;
    let member_id = member["id"].as_str().unwrap().to_owned();
    assert_eq!(member["card_number"], card.as_str(), "{member}");
    let reward = api
        .post("/rewards", &json!({"name": "Free coffee", "cost": 50}))
        .await
        .expect_status(201);
    let reward_id = reward["id"].as_str().unwrap().to_owned();

    let b = Browser::open(driver, &server.url(""), "admin").await;
    let shots = walk(&b, &api, &card, &member_id, &reward_id).await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
    b.c.close().await.expect("close the browser session");
}

async fn walk(
    b: &Browser,
    api: &common::Api,
    card: &str,
    member_id: &str,
    reward_id: &str,
) -> Vec<PathBuf> {
    let mut shots = Vec::new();

    // Not logged in: the dashboard sends the browser to the log-in page, which fits a phone.
    b.resize(PHONE).await;
    b.goto("/admin").await;
    b.wait_path("/admin/login").await;
    b.find("form input[name=username]").await;
    let next = b
        .find("form input[name=next]")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        next.as_deref(),
        Some("/admin"),
        "hidden `next` on the log-in page"
    );
    b.assert_no_horizontal_scroll("login").await;
    shots.push(admin_shot(b, "login", PHONE).await);
    b.resize(DESKTOP).await;
    shots.push(admin_shot(b, "login", DESKTOP).await);

    // A wrong password is refused on the page.
    let form = b.find("form:has(input[name=password])").await;
    b.fill(&form, "input[name=username]", USERNAME).await;
    b.fill(&form, "input[name=password]", "not the password")
        .await;
    b.click_submit(&form).await;
    let error = b.find(".error").await;
    let text = error.text().await.unwrap_or_default();
    assert!(
        text.contains("Wrong username or password"),
        "log-in error says {text:?}"
    );
    assert_eq!(b.c.current_url().await.unwrap().path(), "/admin/login");

    // Log in through the form: click the fields, type, click the button; the dashboard follows.
    let form = b.find("form:has(input[name=password])").await;
    b.find_in(&form, "input[name=username]")
        .await
        .click()
        .await
        .unwrap();
    b.fill(&form, "input[name=username]", USERNAME).await;
    b.fill(&form, "input[name=password]", PASSWORD).await;
    b.click_submit(&form).await;
    b.wait_path("/admin").await;
    b.find("#stat-members[data-value]").await;
    // Before any points: how much the daily chart's bars add up to (0 if no chart is drawn).
    let bars_before = chart_bars(b).await;
    let cookie = b.c.get_named_cookie("fealty_session").await;
    assert!(cookie.is_ok(), "no fealty_session cookie after log-in");

    // Scan a card: the search box has the focus, the scanner types the digits and Enter.
    b.goto("/admin/members").await;
    let q = b.find("form[role=search] input#q[name=q]").await;
    let focused = b
        .js("return document.activeElement ? document.activeElement.id : ''")
        .await;
    assert_eq!(
        focused, "q",
        "the member search box should have the focus (autofocus)"
    );
    q.send_keys(&format!("{card}\n")).await.unwrap();
    b.wait_path(&format!("/admin/members/{member_id}")).await;
    assert_eq!(
        b.find("#card-number")
            .await
            .text()
            .await
            .unwrap()
            .replace(' ', ""),
        card
    );
    let start = b.data_value("#balance").await;
    assert_eq!(start, 0, "a new member's balance");

    // Add points: applied at once.
    let form = b.find("form#earn-points").await;
    b.fill(&form, "input[name=points]", "120").await;
    b.click_submit(&form).await;
    b.find("#result").await;
    assert_eq!(
        b.data_value("#balance").await,
        120,
        "balance after adding 120 points"
    );
    assert_eq!(api.balance(member_id).await, 120);

    // Earn by amount: a preview first, nothing applied until Confirm.
    b.goto(&format!("/admin/members/{member_id}")).await;
    let form = b.find("form#earn-amount").await;
    b.fill(&form, "input[name=amount]", "12.50").await;
    b.click_submit(&form).await;
    let confirm = b.find("form#confirm-earn").await;
    let text = b.js("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    let Some(earned) = earned_points(text) else {
        return b.fail("the preview does not say `earns N points`").await;
    };
    assert!(
        earned > 0,
        "12.50 should earn some points, preview says {earned}"
    );
    assert_eq!(
        api.balance(member_id).await,
        120,
        "the preview must not apply anything"
    );
    let button = b.find_in(&confirm, "button, input[type=submit]").await;
    let label = match button.text().await.unwrap_or_default() {
        t if t.is_empty() => button
            .attr("value")
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
        t => t,
    };
    assert!(label.contains("Confirm"), "confirm button says {label:?}");
    button.click().await.unwrap();
    b.find("#result").await;
    let after_earn = 120 + earned;
    assert_eq!(
        b.data_value("#balance").await,
        after_earn,
        "balance after confirming"
    );
    assert_eq!(api.balance(member_id).await, after_earn);

    // Redeem the 50-point reward.
    b.goto(&format!("/admin/members/{member_id}")).await;
    let form = b.find("form#redeem").await;
    let select = b.find_in(&form, "select[name=reward_id]").await;
    if let Err(e) = select.select_by_value(reward_id).await {
        b.fail::<()>(&format!(
            "reward {reward_id} is not offered in form#redeem: {e}"
        ))
        .await;
    }
    b.click_submit(&form).await;
    b.find("#result").await;
    assert_eq!(
        b.data_value("#balance").await,
        after_earn - 50,
        "balance after redeeming a 50-point reward"
    );
    assert_eq!(api.balance(member_id).await, after_earn - 50);

    // The dashboard's daily chart shows today's points, and the figures add up.
    b.goto("/admin").await;
    b.find("svg#chart-daily").await;
    let bars = chart_bars(b).await;
    assert!(
        bars.tall >= 1,
        "svg#chart-daily has no rect with a height after today's transactions"
    );
    assert!(
        bars.total_height > bars_before.total_height,
        "svg#chart-daily did not grow with today's transactions: {bars_before:?} before, {bars:?} after"
    );
    let issued_30_days = b
        .js(
            "return Array.from(document.querySelectorAll('table#table-daily td.issued'))\
             .map(td => parseInt(td.textContent.replace(/[^0-9-]/g, ''), 10) || 0)\
             .reduce((a, n) => a + n, 0)",
        )
        .await;
    assert_eq!(
        issued_30_days.as_i64(),
        Some(after_earn),
        "table#table-daily: points issued over the 30 days"
    );
    assert_eq!(b.data_value("#stat-members").await, 1, "#stat-members");
    assert_eq!(
        b.data_value("#stat-outstanding").await,
        after_earn - 50,
        "#stat-outstanding"
    );

    // Every main page: it fits a phone, and a screenshot at both widths.
    let pages = main_pages(member_id);
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        for p in &pages {
            b.goto(&p.path).await;
            b.wait_path(p.path.split('?').next().unwrap_or_default())
                .await;
            b.find(p.marker).await;
            if size.width == PHONE.width {
                b.assert_no_horizontal_scroll(p.name).await;
            }
            shots.push(admin_shot(b, p.name, size).await);
        }
    }

    // Keyboard only: a fresh visit to the log-in page, Tab to the fields, type, Enter.
    b.c.delete_all_cookies().await.unwrap();
    b.goto("/admin/login").await;
    b.find("input[name=username]").await;
    b.tab_to("username").await;
    b.press(USERNAME).await;
    b.tab_to("password").await;
    b.press(PASSWORD).await;
    b.press(&char::from(Key::Enter).to_string()).await;
    b.wait_path("/admin").await;
    b.find("#stat-members[data-value]").await;

    shots
}

// ---------------------------------------------------------------------------------------------
// The dashboard on a phone
// ---------------------------------------------------------------------------------------------

/// Logs in through the form and waits for the dashboard.
async fn log_in(b: &Browser) {
    b.goto("/admin/login").await;
    let form = b.find("form:has(input[name=password])").await;
    b.fill(&form, "input[name=username]", USERNAME).await;
    b.fill(&form, "input[name=password]", PASSWORD).await;
    b.click_submit(&form).await;
    b.wait_path("/admin").await;
    b.find("#stat-members[data-value]").await;
}

/// The getting-started steps ticked as done, by id.
async fn steps_done(b: &Browser) -> Vec<String> {
    let v = b
        .js("return Array.from(document.querySelectorAll('#getting-started li.done')).map(l => l.id)")
        .await;
    serde_json::from_value(v).unwrap_or_default()
}

/// Every chart label: its text, its size in screen pixels, and whether it is inside its chart.
async fn chart_labels(b: &Browser) -> Vec<(String, f64, bool)> {
    let v = b
        .js("const out = [];\
             for (const svg of document.querySelectorAll('svg.chart')) {\
               const box = svg.getBoundingClientRect();\
               const scale = box.width / svg.viewBox.baseVal.width;\
               for (const t of svg.querySelectorAll('text')) {\
                 const r = t.getBoundingClientRect();\
                 const px = parseFloat(getComputedStyle(t).fontSize) * scale;\
                 const inside = r.left >= box.left - 0.5 && r.right <= box.right + 0.5\
                   && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5 && r.width > 0;\
                 out.push([svg.id + ': ' + t.textContent, px, inside]);\
               }\
             }\
             return out;")
        .await;
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("chart labels {v}: {e}"))
}

#[tokio::test]
async fn the_dashboard_reads_on_a_phone_and_guides_a_new_owner() {
    let driver = Driver::start();
    let server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, dashboard_walk(&driver, &server))
        .await
        .unwrap_or_else(|_| panic!("the dashboard walk took longer than {TEST_TIMEOUT:?}"));
}

async fn dashboard_walk(driver: &Driver, server: &TestServer) {
    ok(&server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            USERNAME,
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let api = server.client();
    let b = Browser::open(driver, &server.url(""), "dashboard").await;
    b.resize(PHONE).await;
    log_in(&b).await;

    // A new scheme: every getting-started step is there, links to where it is done, unticked.
    b.find("#getting-started").await;
    for (step, href) in [
        ("business-details", "/admin/settings"),
        ("first-reward", "/admin/rewards"),
        ("first-member", "/admin/members/new"),
        ("backups", "#backup-status"),
    ] {
        assert!(
            b.exists(&format!("#step-{step} a[href=\"{href}\"]")).await,
            "#step-{step} links to {href}"
        );
    }
    assert_eq!(
        steps_done(&b).await,
        Vec::<String>::new(),
        "nothing done yet"
    );
    for id in ["#today-earned", "#today-redeemed", "#today-new-members"] {
        assert_eq!(b.data_value(id).await, 0, "{id} on a new scheme");
    }
    b.assert_no_horizontal_scroll("dashboard-empty").await;
    admin_shot(&b, "dashboard-empty", PHONE).await;
    b.resize(DESKTOP).await;
    admin_shot(&b, "dashboard-empty", DESKTOP).await;

    // A first member who earns a few times and redeems once, as on any morning.
    let member = api
        .create_member(&json!({"name": "Grace Hopper", "card_number": card_number(4_711_000_077)}))
        .await;
    let id = member["id"].as_str().unwrap().to_owned();
    for points in [40, 25, 10] {
        api.earn(&id, points).await;
    }
    api.transaction(&id, "redeem-once", &json!({"kind": "redeem", "points": 30}))
        .await
        .expect_status(201);

    b.resize(PHONE).await;
    b.goto("/admin").await;
    b.find("#today").await;
    assert_eq!(b.data_value("#today-earned").await, 75, "#today-earned");
    assert_eq!(b.data_value("#today-redeemed").await, 30, "#today-redeemed");
    assert_eq!(
        b.data_value("#today-new-members").await,
        1,
        "#today-new-members"
    );
    assert_eq!(
        steps_done(&b).await,
        vec!["step-first-member".to_owned()],
        "the first member is ticked, and only that"
    );
    // A day of history fills a week's chart, not the right edge of a month's.
    assert_eq!(
        b.count("table#table-daily tbody tr").await,
        7,
        "days in table#table-daily"
    );

    // At 360 px every chart label is at least 12 px and inside its chart.
    let labels = chart_labels(&b).await;
    assert!(labels.len() >= 6, "chart labels: {labels:?}");
    let smallest = labels.iter().map(|l| l.1).fold(f64::INFINITY, f64::min);
    eprintln!("smallest chart label at 360 px: {smallest:.1} px");
    for (label, px, inside) in &labels {
        assert!(*px >= 12.0, "{label} is {px:.1} px at 360 px wide");
        assert!(inside, "{label} is cut off at the chart's edge");
    }
    b.assert_no_horizontal_scroll("dashboard").await;
    admin_shot(&b, "dashboard-today", PHONE).await;
    b.scroll_to("svg#chart-daily").await;
    admin_shot(&b, "dashboard-charts", PHONE).await;
    b.resize(DESKTOP).await;
    b.goto("/admin").await;
    b.find("#today").await;
    admin_shot(&b, "dashboard-today", DESKTOP).await;
    b.scroll_to("svg#chart-daily").await;
    admin_shot(&b, "dashboard-charts", DESKTOP).await;
    b.c.close().await.expect("close the browser session");
}

// ---------------------------------------------------------------------------------------------
// The till on a staff phone
// ---------------------------------------------------------------------------------------------

/// Saves `target/screenshots/till-<state>-<size>.png`.
async fn till_shot(b: &Browser, state: &str, size: Size) -> PathBuf {
    let file = b.screenshot(&format!("till-{state}-{}", size.name)).await;
    eprintln!("screenshot: {}", file.display());
    file
}

#[tokio::test]
async fn the_till_comes_first_on_a_phone_and_every_result_shows_at_the_top() {
    let driver = Driver::start();
    let server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, till_walk(&driver, &server))
        .await
        .unwrap_or_else(|_| panic!("the till walk took longer than {TEST_TIMEOUT:?}"));
}

async fn till_walk(driver: &Driver, server: &TestServer) {
    ok(&server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            USERNAME,
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let api = server.client();
    let member = api
        .create_member(&json!({
            "name": "Konstantina Papadopoulou-Alexandropoulou",
            "email": "konstantina.papadopoulou@example.com",
            "phone": "+30 210 000 0000",
            "card_number": card_number(4_711_000_555),
        }))
        .await;
    let id = member["id"].as_str().unwrap().to_owned();
    api.post("/rewards", &json!({"name": "Free coffee", "cost": 50}))
        .await
        .expect_status(201);
    // History enough to fill a page below the till.
    for points in [20, 15, 25, 10] {
        api.earn(&id, points).await;
    }
    let page = format!("/admin/members/{id}");
    let b = Browser::open(driver, &server.url(""), "till").await;
    b.resize(PHONE).await;
    log_in(&b).await;

    for (round, size) in [PHONE, DESKTOP].into_iter().enumerate() {
        b.resize(size).await;
        // Enough points for the reward when the page opens.
        let balance = api.balance(&id).await;
        if balance < 60 {
            api.earn(&id, 60 - balance).await;
        }
        b.goto(&page).await;
        b.find("form#redeem").await;
        if size.width == PHONE.width {
            b.assert_no_horizontal_scroll("member").await;
            for css in [
                "#balance",
                "input#amount",
                "form#redeem button[type=submit]",
            ] {
                let at = b.placed(css).await;
                eprintln!("{css} at 360x800: bottom {:.0} px", at.bottom);
                assert!(
                    at.on_first_screen(),
                    "{css} is not on the first screen at 360 px: {at:?}"
                );
            }
        }
        till_shot(&b, "member", size).await;

        // A good earn: its banner at the top.
        let form = b.find("form#earn-points").await;
        b.fill(&form, "input[name=points]", "12").await;
        b.click_submit(&form).await;
        let done = b.placed("#result[role=status]").await;
        assert!(
            done.text.contains("Added 12 points"),
            "#result says {:?}",
            done.text
        );
        assert!(done.in_view(), "the earn's banner is off-screen: {done:?}");
        till_shot(&b, "earned", size).await;

        // Someone else spends the points while this page is open: the redemption is refused.
        let left = api.balance(&id).await;
        api.transaction(
            &id,
            &format!("spend-{round}"),
            &json!({"kind": "redeem", "points": left - 10}),
        )
        .await
        .expect_status(201);
        let form = b.find("form#redeem").await;
        b.click_submit(&form).await;
        let refused = b.placed("#refused[role=alert]").await;
        assert!(
            refused.text.contains("Not enough points") && refused.text.contains("10"),
            "#refused says {:?}",
            refused.text
        );
        assert!(
            refused.in_view() && refused.top < 200.0,
            "the refusal is not at the top of the screen: {refused:?}"
        );
        assert_eq!(
            refused.focused, "reward_id",
            "the focus after a refused redemption"
        );
        assert_eq!(
            b.find("select#reward_id")
                .await
                .attr("aria-invalid")
                .await
                .unwrap()
                .as_deref(),
            Some("true"),
            "select#reward_id aria-invalid"
        );
        assert_eq!(api.balance(&id).await, 10, "a refusal changes nothing");
        till_shot(&b, "refused", size).await;

        // A refused amount: the focus is on the amount field.
        let form = b.find("form#earn-amount").await;
        b.fill(&form, "input[name=amount]", "twelve").await;
        // The page being left shows a refusal banner too: wait for the new one.
        b.submit_and_wait(&form).await;
        let refused = b.placed("#refused[role=alert]").await;
        assert_eq!(refused.focused, "amount", "focus after a refused amount");
        assert!(refused.in_view(), "{refused:?}");
        till_shot(&b, "amount-refused", size).await;
    }
    b.c.close().await.expect("close the browser session");
}
