//! Accessibility of every page, checked by axe-core in a real browser: headless Chromium (the
//! harness in `tests/browser_support`) against a real `fealty serve` process.
//!
//! One browser session sets a dark and then a light brand colour through the settings page and,
//! for each, visits every admin page and every customer page at phone and desktop width, injects
//! axe-core (`$FEALTY_AXE_JS`, which `scripts/test.sh` fetches from the npm registry) and runs the
//! WCAG 2.x A/AA rules and best practices. Every violation is printed; a serious or critical one
//! fails the test, and so does a button or checkbox whose tap area is under 44x44 px. It also
//! checks that blocking a member and reversing an entry ask for confirmation first, and that
//! Settings warns of a brand colour no text colour is readable on.
//!
//! Screenshots of the card page and the dashboard for each brand and width go to
//! `target/screenshots/a11y-*.png`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_support;
mod common;

use browser_support::{Browser, DESKTOP, Driver, PHONE, Size, axe_source};
use common::{Api, TestServer, card_number, ok};
use serde_json::json;
use std::time::{Duration, Instant};

const STAFF: &str = "ann";
const STAFF_PASSWORD: &str = "correct horse battery";
const PIN: &str = "246810";

/// The whole run, browser start included.
const TEST_TIMEOUT: Duration = Duration::from_secs(420);

/// A brand colour the pages are checked with, and its name in labels and screenshot files.
struct Brand {
    name: &'static str,
    colour: &'static str,
}

/// A dark brand, then a light one white text cannot be read on.
const BRANDS: [Brand; 2] = [
    Brand {
        name: "dark",
        colour: "#5a2a82",
    },
    Brand {
        name: "light",
        colour: "#f4c542",
    },
];

/// What the pages are about: one member with history, rewards, a second member who gets
/// blocked, an API key and a webhook (so their tables have rows).
struct Data {
    member_id: String,
    token: String,
    number: String,
    other_id: String,
}

#[tokio::test]
async fn every_page_passes_axe_at_both_widths_with_a_dark_and_a_light_brand() {
    let axe = axe_source();
    let started = Instant::now();
    let driver = Driver::start();
    let server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, run(&driver, &server, &axe))
        .await
        .unwrap_or_else(|_| panic!("the accessibility run took longer than {TEST_TIMEOUT:?}"));
    eprintln!("accessibility run: {:?}", started.elapsed());
}

async fn run(driver: &Driver, server: &TestServer, axe: &str) {
    ok(&server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            STAFF,
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{STAFF_PASSWORD}\n"),
    ));
    let api = server.client();
    let data = seed(&api).await;
    let b = Browser::open(driver, &server.url(""), "a11y").await;
    set_pin(&b, &data).await;
    destructive_actions_ask_first(&b, &api, &data).await;
    settings_warn_of_an_unreadable_colour(&b).await;

    let mut serious = Vec::new();
    for brand in &BRANDS {
        log_in_staff(&b).await;
        set_brand(&b, brand).await;
        serious.extend(admin_pages(&b, axe, brand, &data).await);
        serious.extend(customer_pages(&b, axe, brand, &data).await);
    }
    b.c.close().await.expect("close the browser session");
    assert!(
        serious.is_empty(),
        "axe-core found {} serious or critical violations:\n{}",
        serious.len(),
        serious.join("\n")
    );
}

async fn seed(api: &Api) -> Data {
    api.post("/rewards", &json!({"name": "Free coffee", "cost": 50}))
        .await
        .expect_status(201);
    api.post("/rewards", &json!({"name": "Cake", "cost": 120}))
        .await
        .expect_status(201);
    api.post(
        "/webhooks",
        &json!({ "url": "http://127.0.0.1:9/fealty-events" }),
    )
    .await
    .expect_status(201);
    let member = api
        .create_member(&json!({
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "card_number": card_number(4_711_000_042),
        }))
        .await;
    let other = api
        .create_member(&json!({
            "name": "Αλέξανδρος Παπαδόπουλος",
            "card_number": card_number(4_711_000_043),
        }))
        .await;
    let field = |m: &serde_json::Value, name: &str| m[name].as_str().unwrap().to_owned();
    let data = Data {
        member_id: field(&member, "id"),
        token: field(&member, "card_token"),
        number: field(&member, "card_number"),
        other_id: field(&other, "id"),
    };
    for points in [80, 30] {
        api.earn(&data.member_id, points).await;
    }
    data
}

/// The customer sets a PIN on their card page once, so that the log-in works later.
async fn set_pin(b: &Browser, data: &Data) {
    b.resize(PHONE).await;
    b.goto(&format!("/c/{}", data.token)).await;
    b.find("details#password-settings summary")
        .await
        .click()
        .await
        .unwrap();
    let form = b.find("form#set-password").await;
    b.fill(&form, "input[name=contact]", "grace@example.com")
        .await;
    b.fill(&form, "input[name=password]", PIN).await;
    b.fill(&form, "input[name=confirm]", PIN).await;
    b.click_submit(&form).await;
    b.find("#result").await;
}

async fn log_in_staff(b: &Browser) {
    b.c.delete_all_cookies().await.unwrap();
    b.goto("/admin/login").await;
    let form = b.find("form:has(input[name=password])").await;
    b.fill(&form, "input[name=username]", STAFF).await;
    b.fill(&form, "input[name=password]", STAFF_PASSWORD).await;
    b.click_submit(&form).await;
    b.wait_path("/admin").await;
}

/// Sets the brand colour through the settings form, as an owner would.
async fn set_brand(b: &Browser, brand: &Brand) {
    b.goto("/admin/settings").await;
    let form = b.find("form#settings").await;
    b.js(&format!(
        "document.getElementById('brand_colour').value = '{}'",
        brand.colour
    ))
    .await;
    b.click_submit(&form).await;
    b.find("#result").await;
    let kept = b
        .js("return document.getElementById('brand_colour').value")
        .await;
    assert_eq!(kept.as_str(), Some(brand.colour), "the saved brand colour");
}

/// A mid grey neither white nor dark text reaches 4.5:1 on: Settings says so, and what is used.
async fn settings_warn_of_an_unreadable_colour(b: &Browser) {
    set_brand(
        b,
        &Brand {
            name: "grey",
            colour: "#797979",
        },
    )
    .await;
    let warning = b.text("#brand-colour-warning").await;
    assert!(
        warning.contains("#797979") && warning.contains("white text instead"),
        "the settings warning says {warning:?}"
    );
    b.scroll_to("#brand-colour-warning").await;
    b.screenshot("a11y-settings-colour-warning-phone").await;
}

/// Blocking a member asks first: the first click only shows what will happen, the member stays
/// unblocked until the confirming button is pressed; reversing a history row asks the same way.
async fn destructive_actions_ask_first(b: &Browser, api: &Api, data: &Data) {
    log_in_staff(b).await;
    b.resize(PHONE).await;
    let page = format!("/admin/members/{}", data.other_id);
    b.goto(&page).await;
    let block = b.find("details#block summary").await;
    assert!(
        !b.is_displayed("form#block-confirm button").await,
        "the Block confirmation is shown before Block was pressed"
    );
    block.click().await.unwrap();
    let confirm = b.find("form#block-confirm").await;
    assert!(
        b.is_displayed("form#block-confirm button").await,
        "pressing Block shows no confirmation"
    );
    let member = api.get(&format!("/members/{}", data.other_id)).await.json();
    assert_eq!(member["status"], "active", "pressing Block blocked at once");
    b.scroll_to("form#block-confirm").await;
    b.screenshot("a11y-block-confirm-phone").await;
    b.click_submit(&confirm).await;
    b.wait_path(&page).await;
    b.find("form#unblock").await;
    let member = api.get(&format!("/members/{}", data.other_id)).await.json();
    assert_eq!(
        member["status"], "blocked",
        "confirming Block did not block"
    );

    let page = format!("/admin/members/{}", data.member_id);
    b.goto(&page).await;
    let reverse = b.find("details.undo summary").await;
    reverse.click().await.unwrap();
    assert!(
        b.is_displayed("details.undo[open] form.reverse button")
            .await,
        "pressing Reverse shows no confirmation"
    );
    assert_eq!(
        api.balance(&data.member_id).await,
        110,
        "pressing Reverse changed the balance at once"
    );
}

/// `target/screenshots/a11y-<brand>-<page>-<size>.png`.
async fn shot(b: &Browser, brand: &Brand, page: &str, size: Size) {
    b.screenshot(&format!("a11y-{}-{page}-{}", brand.name, size.name))
        .await;
}

/// Visits each of `pages` (name, path) at phone and then desktop width and runs axe there.
async fn check_all(b: &Browser, axe: &str, brand: &Brand, pages: &[(&str, &str)]) -> Vec<String> {
    let mut serious = Vec::new();
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        for (name, path) in pages {
            b.goto(path).await;
            b.find("main").await;
            serious.extend(check_here(b, axe, brand, name, size).await);
        }
    }
    serious
}

/// Runs axe on the page as it is, at `size` (already set).
async fn check_here(b: &Browser, axe: &str, brand: &Brand, name: &str, size: Size) -> Vec<String> {
    if matches!(name, "card" | "dashboard" | "settings" | "account") {
        shot(b, brand, name, size).await;
    }
    let label = format!("{name} ({} brand, {})", brand.name, size.name);
    let mut serious = b.axe_check(axe, &label).await;
    serious.extend(small_targets(b, &label).await);
    serious
}

/// Buttons, links styled as buttons and the print checkboxes' tap areas smaller than 44x44 px
/// (WCAG 2.5.5), as lines for the final assertion.
async fn small_targets(b: &Browser, label: &str) -> Vec<String> {
    let found = b
        .js(
            "return Array.from(document.querySelectorAll('button, .button, label.tap'))\
             .map(e => [e, e.getBoundingClientRect()])\
             .filter(([e, r]) => r.width > 0 && r.height > 0 && (r.width < 43.5 || r.height < 43.5))\
             .map(([e, r]) => e.tagName.toLowerCase() + ' [' + e.textContent.trim().slice(0, 40) + '] ' \
                  + Math.round(r.width) + 'x' + Math.round(r.height))",
        )
        .await;
    found
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{label}: tap target under 44x44 px: {}",
                t.as_str().unwrap_or_default()
            )
        })
        .collect()
}

async fn admin_pages(b: &Browser, axe: &str, brand: &Brand, data: &Data) -> Vec<String> {
    let member = format!("/admin/members/{}", data.member_id);
    let pages = [
        ("dashboard", "/admin".to_owned()),
        ("members", "/admin/members".to_owned()),
        ("member", member.clone()),
        (
            "blocked-member",
            format!("/admin/members/{}", data.other_id),
        ),
        ("member-edit", format!("{member}/edit")),
        ("member-new", "/admin/members/new".to_owned()),
        ("rewards", "/admin/rewards".to_owned()),
        ("settings", "/admin/settings".to_owned()),
        ("tiers", "/admin/settings/tiers".to_owned()),
        ("campaigns", "/admin/settings/campaigns".to_owned()),
        ("referrals", "/admin/settings/referrals".to_owned()),
        ("notices", "/admin/settings/notices".to_owned()),
        ("integrations", "/admin/integrations".to_owned()),
        ("staff", "/admin/staff".to_owned()),
        ("keys", "/admin/keys".to_owned()),
        ("audit", "/admin/audit".to_owned()),
        ("alerts", "/admin/alerts".to_owned()),
        ("webhooks", "/admin/webhooks".to_owned()),
        ("import", "/admin/members/import".to_owned()),
        (
            "print-sheet",
            format!(
                "/admin/cards?members={}&members={}&paper=a4",
                data.member_id, data.other_id
            ),
        ),
        (
            "admin-404",
            "/admin/members/01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned(),
        ),
        ("card-as-staff", format!("/c/{}", data.token)),
    ];
    let pages: Vec<(&str, &str)> = pages.iter().map(|(n, p)| (*n, p.as_str())).collect();
    let mut serious = check_all(b, axe, brand, &pages).await;

    // Pages that answer a form: shown once, then checked at both widths.
    b.resize(PHONE).await;
    b.goto(&member).await;
    let form = b.find("form#earn-amount").await;
    b.fill(&form, "input[name=amount]", "12.50").await;
    b.click_submit(&form).await;
    b.find("form#confirm-earn").await;
    serious.extend(both_widths(b, axe, brand, "earn-preview").await);

    b.goto(&member).await;
    let form = b.find("form#earn-points").await;
    b.fill(&form, "input[name=points]", "-5").await;
    b.js("document.querySelector('form#earn-points input[name=points]').removeAttribute('min')")
        .await;
    b.click_submit(&form).await;
    b.find("form#earn-points").await;
    serious.extend(both_widths(b, axe, brand, "member-refused").await);

    // Staff at the till on a customer's card page: the preview and the result stay there.
    b.resize(PHONE).await;
    b.goto(&format!("/c/{}", data.token)).await;
    let form = b.find("form#staff-earn").await;
    b.fill(&form, "input[name=amount]", "4.00").await;
    b.click_submit(&form).await;
    b.find("form#confirm-earn").await;
    serious.extend(both_widths(b, axe, brand, "card-staff-preview").await);
    let form = b.find("form#confirm-earn").await;
    b.click_submit(&form).await;
    b.find("#result").await;
    serious.extend(both_widths(b, axe, brand, "card-staff-result").await);

    let csv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        csv.path(),
        "name,email,phone,card_number,balance\nAda Lovelace,ada@example.com,,,10\nBad Row,not-an-email,,,\n",
    )
    .unwrap();
    b.goto("/admin/members/import").await;
    let form = b.find("form#import").await;
    b.find_in(&form, "input#file")
        .await
        .send_keys(&csv.path().to_string_lossy())
        .await
        .unwrap();
    b.click_submit(&form).await;
    b.find("table#import-preview").await;
    serious.extend(both_widths(b, axe, brand, "import-preview").await);

    b.goto(&member).await;
    b.find("details#block summary").await.click().await.unwrap();
    b.find("form#block-confirm").await;
    serious.extend(both_widths(b, axe, brand, "block-confirm").await);
    serious
}

/// Runs axe on the page as it is at phone width, then at desktop width.
async fn both_widths(b: &Browser, axe: &str, brand: &Brand, name: &str) -> Vec<String> {
    let mut serious = Vec::new();
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        serious.extend(check_here(b, axe, brand, name, size).await);
    }
    serious
}

async fn customer_pages(b: &Browser, axe: &str, brand: &Brand, data: &Data) -> Vec<String> {
    b.c.delete_all_cookies().await.unwrap();
    let card = format!("/c/{}", data.token);
    let welcome = format!("{card}?welcome=1");
    let show = format!("{card}#my-card");
    let pages = [
        ("card", card.as_str()),
        ("card-welcome", welcome.as_str()),
        ("card-show", show.as_str()),
        ("join", "/join"),
        ("login", "/login"),
        ("card-404", "/c/AAAAAAAAAAAAAAAAAAAAAA"),
    ];
    let mut serious = check_all(b, axe, brand, &pages).await;

    // A refused PIN change shows its error on the card page.
    b.resize(PHONE).await;
    b.goto(&card).await;
    b.find("details#password-settings summary")
        .await
        .click()
        .await
        .unwrap();
    let form = b.find("form#set-password").await;
    b.fill(&form, "input[name=current]", "999999").await;
    b.fill(&form, "input[name=password]", "1234").await;
    b.fill(&form, "input[name=confirm]", "1234").await;
    b.click_submit(&form).await;
    b.find("#password-error, .error").await;
    serious.extend(both_widths(b, axe, brand, "card-pin-refused").await);

    // A refused join shows its errors.
    b.goto("/join").await;
    let form = b.find("form#join").await;
    b.fill(&form, "input[name=email]", "not-an-email").await;
    b.js("document.querySelector('form#join').noValidate = true")
        .await;
    b.click_submit(&form).await;
    b.find("form#join").await;
    serious.extend(both_widths(b, axe, brand, "join-refused").await);

    b.resize(PHONE).await;
    b.goto("/login").await;
    let form = b.find("form#login").await;
    b.fill(&form, "input[name=identifier]", &data.number).await;
    b.fill(&form, "input[name=password]", PIN).await;
    b.click_submit(&form).await;
    b.wait_path("/account").await;
    serious.extend(both_widths(b, axe, brand, "account").await);
    serious
}
