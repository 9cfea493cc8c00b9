//! The customer pages in a real browser: headless Chromium driven over WebDriver (the harness in
//! `tests/browser_support`) against a real `fealty serve` process.
//!
//! One browser session opens a member's card page at phone and desktop size, reads its QR code
//! and Code 128 barcode back out of screenshots with `zbarimg`, checks the web app manifest and
//! that the service worker registers for `/c/`, joins as a new customer, sets a PIN on the card
//! page and logs in to the account page, sees the till forms on a card page as staff, prints the
//! card sheet for 12 members on A4 and US letter to PDF (page count and size with `pdfinfo`, codes
//! read back from pages rendered with `pdftoppm`), and last reloads the card page offline: the
//! service worker must show the last copy with its `#offline` banner.
//!
//! Screenshots and PDFs go to `target/screenshots/` (`customer-*.png`, `cards-*.pdf`).
//! Chromium, chromedriver, zbarimg and the poppler tools must be installed (`scripts/test.sh`
//! installs the Debian packages `chromium chromium-driver zbar-tools poppler-utils`); without
//! them the test fails, it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_support;
mod common;

use browser_support::{
    Browser, DESKTOP, Driver, PHONE, Size, Symbology, decode_barcodes, pdf_info, render_pdf_page,
    required_program,
};
use common::{Api, TestServer, card_number, ok};
use fantoccini::wd::{PrintConfiguration, PrintSize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const STAFF: &str = "ann";
const STAFF_PASSWORD: &str = "correct horse battery";
/// The PIN the customer sets on their card page (at least 6 digits).
const PIN: &str = "246810";

/// Members on the printed card sheet, and the most cards one sheet of paper holds (A4 holds
/// exactly this many).
const SHEET_MEMBERS: usize = 12;
const CARDS_PER_PAGE: usize = 10;

/// The whole walk-through, browser start included.
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A member's card as the API describes it.
#[derive(Debug, Clone)]
struct Card {
    id: String,
    token: String,
    number: String,
    /// `{base}/c/{token}`: what the QR code holds.
    url: String,
}

impl Card {
    fn from_member(base: &str, member: &Value) -> Self {
        let field = |name: &str| {
            member[name]
                .as_str()
                .unwrap_or_else(|| panic!("member has no `{name}`: {member}"))
                .to_owned()
        };
        let card = Self {
            id: field("id"),
            token: field("card_token"),
            number: field("card_number"),
            url: format!("{base}/c/{}", field("card_token")),
        };
        assert_eq!(
            member["card_url"].as_str(),
            Some(card.url.as_str()),
            "the API's card_url: {member}"
        );
        card
    }

    fn path(&self) -> String {
        format!("/c/{}", self.token)
    }
}

#[tokio::test]
async fn customer_pages_in_a_headless_browser() {
    // Every tool first, so that a missing one fails before the browser starts.
    for (program, package) in [
        ("zbarimg", "zbar-tools"),
        ("pdfinfo", "poppler-utils"),
        ("pdftoppm", "poppler-utils"),
    ] {
        required_program(program, package);
    }
    let started = Instant::now();
    let driver = Driver::start();
    let mut server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, walk_through(&driver, &mut server))
        .await
        .unwrap_or_else(|_| panic!("the browser walk-through took longer than {TEST_TIMEOUT:?}"));
    eprintln!("customer browser walk-through: {:?}", started.elapsed());
}

async fn walk_through(driver: &Driver, server: &mut TestServer) {
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
    let base = server.url("");
    let api = server.client();
    for (name, cost) in [("Free coffee", 50), ("Cake", 120)] {
        api.post("/rewards", &json!({"name": name, "cost": cost}))
            .await
            .expect_status(201);
    }
    let member = api
        .create_member(&json!({
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "card_number": card_number(4_711_000_042),
        }))
        .await;
    let grace = Card::from_member(&base, &member);
    api.earn(&grace.id, 30).await;

    let b = Browser::open(driver, &base, "customer").await;
    card_page(&b, &grace).await;
    manifest_and_service_worker(&b, &grace).await;
    join(&b).await;
    pin_and_account(&b, &grace).await;
    staff_on_the_card_page(&b, &api, &grace).await;

    let mut sheet = vec![grace.clone()];
    for i in 1..SHEET_MEMBERS {
        let member = api
            .create_member(&json!({
                "name": format!("Member {i}"),
                "card_number": card_number(4_711_000_100 + i as u64),
            }))
            .await;
        sheet.push(Card::from_member(&base, &member));
    }
    let a4 = Paper {
        param: "a4",
        name: "A4",
        size: PrintSize::A4,
        full_page: Some(CARDS_PER_PAGE),
    };
    let letter = Paper {
        param: "letter",
        name: "US letter",
        size: PrintSize::US_LETTER,
        full_page: None,
    };
    brand_the_cards(&b).await;
    for paper in [a4, letter] {
        print_sheet(&b, &sheet, paper).await;
    }

    offline(&b, &api, &grace, server).await;
    b.c.close().await.expect("close the browser session");
}

/// Saves `target/screenshots/customer-<page>-<size>.png`.
async fn shot(b: &Browser, page: &str, size: Size) -> PathBuf {
    let file = b
        .screenshot(&format!("customer-{page}-{}", size.name))
        .await;
    eprintln!("screenshot: {}", file.display());
    file
}

/// The card number as digits only (the page may group them with spaces).
fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// The card page as the customer sees it, its QR code and barcode read back from screenshots.
async fn card_page(b: &Browser, card: &Card) {
    b.resize(PHONE).await;
    b.goto(&card.path()).await;
    assert_eq!(
        b.data_value("#balance").await,
        30,
        "#balance on the card page"
    );
    assert_eq!(b.text("#first-name").await.trim(), "Grace", "#first-name");
    assert!(
        !b.text("#business").await.trim().is_empty(),
        "#business is empty"
    );
    let next = b.text("#next-reward").await;
    assert!(
        next.contains("20 more points to Free coffee"),
        "#next-reward says {next:?}"
    );
    b.find("progress#reward-progress").await;
    let rewards = b
        .js("return Array.from(document.querySelectorAll('table#rewards td.name')).map(td => td.textContent.trim())")
        .await;
    assert!(
        rewards
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == "Free coffee") && r.iter().any(|n| n == "Cake")),
        "table#rewards td.name: {rewards}"
    );
    assert_eq!(
        b.count("table#rewards td.cost").await,
        2,
        "table#rewards td.cost"
    );
    let points = b
        .js("return Array.from(document.querySelectorAll('table#activity td.points')).map(td => td.textContent.trim())")
        .await;
    assert!(
        points
            .as_array()
            .is_some_and(|p| p.len() == 1 && digits(p[0].as_str().unwrap_or_default()) == "30"),
        "table#activity td.points after one 30-point entry: {points}"
    );
    assert_eq!(
        digits(&b.text("#card-number").await),
        card.number,
        "#card-number"
    );
    let manifest = b
        .js("const l = document.querySelector('link[rel=manifest]'); return l ? l.getAttribute('href') : null")
        .await;
    assert_eq!(
        manifest.as_str(),
        Some(format!("/c/{}/manifest.webmanifest", card.token).as_str()),
        "link[rel=manifest] href"
    );
    assert!(
        !b.exists("form#staff-earn").await && !b.exists("form#staff-redeem").await,
        "the till forms are shown on a card page with no staff logged in"
    );
    // The password form is folded away below the activity until asked for.
    assert!(
        !b.is_displayed("form#set-password").await,
        "form#set-password is open before anyone asks for it"
    );
    codes_on_first_view(b, "the card page").await;
    b.assert_no_horizontal_scroll("card").await;
    shot(b, "card", PHONE).await;

    // The compact QR code under the balance, as a phone camera would see it.
    let file = b.screenshot("customer-card-qr-phone").await;
    let qr = decode_barcodes(&file, Symbology::Qr);
    assert_eq!(
        qr,
        vec![card.url.clone()],
        "QR codes read from {}",
        file.display()
    );
    show_my_card(b, card, PHONE).await;

    b.resize(DESKTOP).await;
    b.goto(&card.path()).await;
    b.find("#balance[data-value]").await;
    codes_on_first_view(b, "the card page").await;
    shot(b, "card", DESKTOP).await;
    let file = b.screenshot("customer-card-qr-desktop").await;
    let qr = decode_barcodes(&file, Symbology::Qr);
    assert_eq!(
        qr,
        vec![card.url.clone()],
        "QR codes read from {}",
        file.display()
    );
    show_my_card(b, card, DESKTOP).await;

    // A token nobody has: the "card not found" page.
    b.goto("/c/AAAAAAAAAAAAAAAAAAAAAA").await;
    let text = b.js("return document.body.innerText").await;
    assert!(
        text.as_str()
            .is_some_and(|t| t.to_lowercase().contains("card not found")),
        "an unknown card token shows {text}"
    );
}

/// The card's QR code and barcode are in the first screen, with no scrolling.
async fn codes_on_first_view(b: &Browser, page: &str) {
    let v = b
        .js("window.scrollTo(0, 0);\
             const r = id => document.getElementById(id).getBoundingClientRect();\
             return [Math.max(r('card-qr').bottom, r('card-barcode').bottom), window.innerHeight]")
        .await;
    let (bottom, height) = (
        v[0].as_f64().unwrap_or(f64::MAX),
        v[1].as_f64().unwrap_or(0.0),
    );
    assert!(
        bottom <= height,
        "on {page} the codes end {bottom} px down, below the {height} px screen"
    );
}

/// "Show my card" fills the screen with the codes, large, and both still read back; "Close"
/// returns to the page.
async fn show_my_card(b: &Browser, card: &Card, size: Size) {
    b.find("a#show-card").await.click().await.unwrap();
    b.wait_until("the codes full screen", || async {
        b.c.execute("return !!document.querySelector('#my-card:target')", vec![])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            == Some(true)
    })
    .await;
    let v = b
        .js(
            "const q = document.getElementById('card-qr').getBoundingClientRect();\
             const c = document.getElementById('my-card').getBoundingClientRect();\
             return [q.width, window.innerWidth, c.width, c.height, window.innerHeight,\
                     getComputedStyle(document.getElementById('my-card')).backgroundColor]",
        )
        .await;
    let f = |i: usize| v[i].as_f64().unwrap_or(0.0);
    let qr_share = f(0) / f(1);
    if size.width < 700 {
        assert!(
            qr_share >= 0.7,
            "the full-screen QR code is {} px of a {} px screen",
            f(0),
            f(1)
        );
    }
    assert!(
        f(2) >= f(1) - 1.0 && f(3) >= f(4) - 1.0,
        "the codes do not fill the screen: {v}"
    );
    assert_eq!(v[5], "rgb(255, 255, 255)", "the full-screen ground: {v}");
    let file = shot(b, "card-show", size).await;
    assert_eq!(
        decode_barcodes(&file, Symbology::Qr),
        vec![card.url.clone()],
        "QR codes read from {}",
        file.display()
    );
    assert_eq!(
        decode_barcodes(&file, Symbology::Code128),
        vec![card.number.clone()],
        "Code 128 barcodes read from {}",
        file.display()
    );
    b.find("a#close-card").await.click().await.unwrap();
    b.wait_until("the codes back in the page", || async {
        b.c.execute("return !document.querySelector('#my-card:target')", vec![])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            == Some(true)
    })
    .await;
}

/// The manifest the card page links to, and the service worker it registers for `/c/`.
async fn manifest_and_service_worker(b: &Browser, card: &Card) {
    b.goto(&card.path()).await;
    b.find("#balance[data-value]").await;
    let m = b
        .js_async(
            "const href = document.querySelector('link[rel=manifest]').href;\
             fetch(href).then(async r => {\
               const m = await r.json();\
               const path = u => u === undefined ? null : new URL(u, href).pathname;\
               done({status: r.status, type: r.headers.get('content-type'), name: m.name,\
                     start: path(m.start_url), scope: path(m.scope), display: m.display,\
                     icons: (m.icons || []).map(i => path(i.src) + ' ' + i.sizes)});\
             }).catch(e => done({error: String(e)}));",
        )
        .await;
    assert_eq!(m["status"], 200, "manifest: {m}");
    assert!(
        m["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/manifest+json")),
        "manifest content type: {m}"
    );
    assert!(
        m["name"].as_str().is_some_and(|n| !n.is_empty()),
        "manifest name: {m}"
    );
    assert_eq!(
        m["start"].as_str(),
        Some(card.path().as_str()),
        "manifest start_url: {m}"
    );
    assert_eq!(m["scope"], "/c/", "manifest scope: {m}");
    assert_eq!(m["display"], "standalone", "manifest display: {m}");
    for icon in ["/c/icon-192.png 192x192", "/c/icon-512.png 512x512"] {
        assert!(
            m["icons"]
                .as_array()
                .is_some_and(|i| i.iter().any(|s| s == icon)),
            "manifest icons lack {icon}: {m}"
        );
    }

    let sw = b
        .js_async(
            "if (!('serviceWorker' in navigator)) { done({error: 'no navigator.serviceWorker'}); }\
             else {\
               setTimeout(() => done({error: 'navigator.serviceWorker.ready did not settle in 15 s'}), 15000);\
               navigator.serviceWorker.ready.then(r => done({scope: r.scope,\
                 script: (r.active || r.waiting || r.installing || {}).scriptURL || null}))\
               .catch(e => done({error: String(e)}));\
             }",
        )
        .await;
    assert!(sw["error"].is_null(), "service worker: {sw}");
    assert_eq!(
        sw["scope"].as_str(),
        Some(format!("{}/c/", b.base).as_str()),
        "service worker scope: {sw}"
    );
    assert_eq!(
        sw["script"].as_str(),
        Some(format!("{}/c/sw.js", b.base).as_str()),
        "service worker script: {sw}"
    );
}

/// A new customer joins on /join: the honeypot stays hidden, the form waits the 2 s a person
/// takes, and the new card page follows.
async fn join(b: &Browser) {
    b.resize(PHONE).await;
    b.goto("/join").await;
    let shown = Instant::now();
    let form = b.find("form#join").await;
    for field in ["name", "email", "phone", "marketing_consent"] {
        b.find_in(&form, &format!("input[name={field}]")).await;
    }
    let honeypot = b.find_in(&form, "input[name=website]").await;
    assert!(
        !honeypot.is_displayed().await.unwrap(),
        "the honeypot field `website` is visible to people"
    );
    let started = b.find_in(&form, "input[name=started]").await;
    assert_eq!(
        started.attr("type").await.unwrap().as_deref(),
        Some("hidden"),
        "input[name=started]"
    );
    let consent = b
        .js(
            "const i = document.querySelector('form#join input[name=marketing_consent]');\
             const l = (i && i.labels && i.labels[0]) || (i && i.closest('label'));\
             return l ? l.textContent.trim() : ''",
        )
        .await;
    assert!(
        consent.as_str().is_some_and(|t| !t.is_empty()),
        "the marketing consent checkbox has no label"
    );
    let rule = b.text("#earning-rule").await;
    assert!(
        rule.contains("1 point per 1.00 EUR"),
        "#earning-rule on /join says {rule:?}"
    );
    let first = b.text("#first-reward").await;
    assert!(
        first.contains("Free coffee at 50 points"),
        "#first-reward on /join says {first:?}"
    );
    b.assert_no_horizontal_scroll("join").await;
    shot(b, "join", PHONE).await;
    b.resize(DESKTOP).await;
    shot(b, "join", DESKTOP).await;
    b.resize(PHONE).await;

    let form = b.find("form#join").await;
    b.fill(&form, "input[name=name]", "Ada Lovelace").await;
    b.fill(&form, "input[name=email]", "ada@example.com").await;
    b.find_in(&form, "input[name=marketing_consent]")
        .await
        .click()
        .await
        .unwrap();
    // A form sent within 2 s of being shown is refused as a robot's.
    let wait = Duration::from_millis(2500).saturating_sub(shown.elapsed());
    tokio::time::sleep(wait).await;
    b.click_submit(&form).await;
    b.wait_until("the new member's card page", || async {
        b.c.current_url()
            .await
            .is_ok_and(|u| u.path().starts_with("/c/") && u.path().len() > 3)
    })
    .await;
    assert_eq!(
        b.text("#first-name").await.trim(),
        "Ada",
        "#first-name after joining"
    );
    assert_eq!(b.data_value("#balance").await, 0, "a new member's balance");
    assert_eq!(
        digits(&b.text("#card-number").await).len(),
        12,
        "#card-number after joining"
    );
    welcome_once(b).await;
}

/// Right after joining the card page greets the member with ways to keep the card (no email
/// offer: this server has no mail server); the next visit shows the plain card.
async fn welcome_once(b: &Browser) {
    assert!(
        b.is_displayed("#welcome").await,
        "no #welcome after joining"
    );
    let text = b.text("#welcome").await;
    for words in ["Add to Home Screen", "Set a PIN"] {
        assert!(text.contains(words), "#welcome lacks {words:?}: {text}");
    }
    assert!(
        !b.exists("form#email-link").await,
        "\"email me my link\" offered with no mail server"
    );
    codes_on_first_view(b, "the card page after joining").await;
    b.assert_no_horizontal_scroll("card welcome").await;
    shot(b, "card-welcome", PHONE).await;
    let path = b.c.current_url().await.unwrap().path().to_owned();
    b.resize(DESKTOP).await;
    b.find("#welcome").await;
    shot(b, "card-welcome", DESKTOP).await;
    b.resize(PHONE).await;

    // "Set a PIN" opens the folded form.
    b.find("#welcome a[href='#password-settings']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_until("the PIN form unfolded", || async {
        b.is_displayed("form#set-password").await
    })
    .await;

    b.goto(&path).await;
    b.find("#balance[data-value]").await;
    assert!(
        !b.exists("#welcome").await,
        "#welcome again on the next visit"
    );
}

/// The customer sets a PIN on the card page, logs in with card number and PIN, and sees the
/// account page.
async fn pin_and_account(b: &Browser, card: &Card) {
    b.resize(PHONE).await;
    b.goto(&card.path()).await;
    b.find("details#password-settings summary")
        .await
        .click()
        .await
        .unwrap();
    let form = b.find("form#set-password").await;
    b.fill(&form, "input[name=contact]", "Grace@Example.com")
        .await;
    b.fill(&form, "input[name=password]", "1234").await;
    b.fill(&form, "input[name=confirm]", "1234").await;
    b.click_submit(&form).await;
    b.find("#password-error").await;
    // The refusal is a banner at the top, and the focus is on the PIN field.
    let refused = b.placed("#refused[role=alert]").await;
    assert!(
        refused.in_view() && refused.top < 200.0,
        "the PIN refusal is not at the top of the screen: {refused:?}"
    );
    assert!(!refused.text.is_empty(), "#refused is empty");
    assert_eq!(refused.focused, "password", "focus after a refused PIN");
    shot(b, "pin-refused", PHONE).await;
    b.resize(DESKTOP).await;
    shot(b, "pin-refused", DESKTOP).await;
    b.resize(PHONE).await;

    let form = b.find("form#set-password").await;
    // A first PIN needs the email on file as well as the link.
    b.fill(&form, "input[name=contact]", "Grace@Example.com")
        .await;
    b.fill(&form, "input[name=password]", PIN).await;
    b.fill(&form, "input[name=confirm]", PIN).await;
    b.click_submit(&form).await;
    b.find("#result").await;
    b.wait_path(&card.path()).await;

    b.goto("/login").await;
    let form = b.find("form#login").await;
    b.assert_no_horizontal_scroll("login").await;
    shot(b, "login", PHONE).await;
    b.resize(DESKTOP).await;
    shot(b, "login", DESKTOP).await;
    b.resize(PHONE).await;

    b.fill(&form, "input[name=identifier]", &card.number).await;
    b.fill(&form, "input[name=password]", "135790").await;
    b.click_submit(&form).await;
    b.wait_until("the wrong-password message", || async {
        b.c.execute("return document.body.innerText", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .is_some_and(|t| t.contains("Wrong card number, email or password"))
    })
    .await;

    let form = b.find("form#login").await;
    b.fill(&form, "input[name=identifier]", &card.number).await;
    b.fill(&form, "input[name=password]", PIN).await;
    b.click_submit(&form).await;
    b.wait_path("/account").await;
    assert_eq!(
        b.data_value("#balance").await,
        30,
        "#balance on the account page"
    );
    b.find("table#history").await;
    b.find("form#details").await;
    b.find("form#erase").await;
    let download = b.find("a#download").await;
    let href = download.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.ends_with("/account/data.json"),
        "a#download href is {href:?}"
    );
    b.assert_no_horizontal_scroll("account").await;
    shot(b, "account", PHONE).await;
    b.resize(DESKTOP).await;
    shot(b, "account", DESKTOP).await;

    let logout = b.find("form#logout").await;
    b.click_submit(&logout).await;
    b.wait_path("/login").await;
    b.goto("/account").await;
    b.wait_path("/login").await;
}

/// With a staff member logged in, the card page also has the till forms (the redeem form once
/// the balance affords a reward).
async fn staff_on_the_card_page(b: &Browser, api: &Api, card: &Card) {
    b.resize(PHONE).await;
    b.goto("/admin/login").await;
    let form = b.find("form:has(input[name=password])").await;
    b.fill(&form, "input[name=username]", STAFF).await;
    b.fill(&form, "input[name=password]", STAFF_PASSWORD).await;
    b.click_submit(&form).await;
    b.wait_path("/admin").await;

    b.goto(&card.path()).await;
    let earn = b.find("form#staff-earn").await;
    b.find_in(&earn, "input[name=amount]").await;
    let action = earn.attr("action").await.unwrap().unwrap_or_default();
    assert!(
        action.ends_with(&format!("/admin/members/{}/earn", card.id)),
        "form#staff-earn action is {action:?}"
    );
    assert!(
        !b.exists("form#staff-redeem").await,
        "form#staff-redeem offered with 30 points and no reward under 50"
    );
    api.earn(&card.id, 20).await;
    b.goto(&card.path()).await;
    let redeem = b.find("form#staff-redeem").await;
    let offered = b
        .js("return Array.from(document.querySelectorAll('form#staff-redeem [name=reward_id] option'))\
             .map(o => o.textContent)")
        .await;
    assert!(
        offered.as_array().is_some_and(
            |o| o.len() == 1 && o[0].as_str().is_some_and(|t| t.contains("Free coffee"))
        ),
        "form#staff-redeem offers {offered} with 50 points"
    );
    let action = redeem.attr("action").await.unwrap().unwrap_or_default();
    assert!(
        action.ends_with(&format!("/admin/members/{}/redeem", card.id)),
        "form#staff-redeem action is {action:?}"
    );
    b.assert_no_horizontal_scroll("card as staff").await;
    shot(b, "card-staff", PHONE).await;

    // Staff act from the card page and stay there: preview, confirm, the result in a banner.
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        b.goto(&card.path()).await;
        staff_sees_only_the_card(b, "card page").await;
        let before = api.balance(&card.id).await;
        let earn = b.find("form#staff-earn").await;
        b.fill(&earn, "input[name=amount]", "7.00").await;
        b.click_submit(&earn).await;
        b.find("form#confirm-earn").await;
        staff_sees_only_the_card(b, "preview").await;
        assert_eq!(
            api.balance(&card.id).await,
            before,
            "a preview writes nothing"
        );
        card_staff_shot(b, "preview", size).await;
        let confirm = b.find("form#confirm-earn").await;
        b.click_submit(&confirm).await;
        let done = b.placed("#result[role=status]").await;
        assert!(done.text.contains("Added"), "#result says {:?}", done.text);
        assert!(done.in_view(), "the banner is off-screen: {done:?}");
        staff_sees_only_the_card(b, "result").await;
        assert_eq!(b.data_value("#balance").await, api.balance(&card.id).await);
        assert!(api.balance(&card.id).await > before, "the confirmed points");
        card_staff_shot(b, "earned", size).await;

        // A redemption refused because the balance went down meanwhile: still the card page.
        let balance = api.balance(&card.id).await;
        if balance < 60 {
            api.earn(&card.id, 60 - balance).await;
        }
        b.goto(&card.path()).await;
        let redeem = b.find("form#staff-redeem").await;
        let left = api.balance(&card.id).await;
        api.transaction(
            &card.id,
            &format!("card-spend-{}", size.name),
            &json!({"kind": "redeem", "points": left - 10}),
        )
        .await
        .expect_status(201);
        b.click_submit(&redeem).await;
        let refused = b.placed("#refused[role=alert]").await;
        assert!(
            refused.text.contains("Not enough points"),
            "#refused says {:?}",
            refused.text
        );
        assert!(refused.in_view(), "the refusal is off-screen: {refused:?}");
        staff_sees_only_the_card(b, "refusal").await;
        card_staff_shot(b, "refused", size).await;
    }
    b.resize(PHONE).await;
}

/// Staff on a card page see the customer's card and the till, not the admin frame, and none
/// of the forms that are the customer's own (this customer already has a PIN).
async fn staff_sees_only_the_card(b: &Browser, step: &str) {
    b.find("header.brand-bar").await;
    assert!(
        !b.exists("header.top").await,
        "{step}: the admin frame on the card page"
    );
    for css in ["form#set-password", "form#erase", "a[href=\"/login\"]"] {
        assert!(!b.exists(css).await, "{step}: staff see {css}");
    }
    b.assert_no_horizontal_scroll(step).await;
}

/// Saves `target/screenshots/card-staff-<state>-<size>.png`.
async fn card_staff_shot(b: &Browser, state: &str, size: Size) -> PathBuf {
    let file = b
        .screenshot(&format!("card-staff-{state}-{}", size.name))
        .await;
    eprintln!("screenshot: {}", file.display());
    file
}

/// The brand colour of the café (an orange under 3:1 on white) and its logo.
const BRAND: &str = "#f28c28";

/// A 160 × 64 logo: a dark bar and a ring on a transparent ground, as a logo file would be.
fn logo_png() -> Vec<u8> {
    let (w, h) = (160u32, 64u32);
    let mut rgba = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as i64 - 32, y as i64 - 32);
            let d2 = dx * dx + dy * dy;
            let ring = (400..=900).contains(&d2);
            let bar = (72..150).contains(&x) && (24..40).contains(&y);
            let px = if ring || bar {
                [60, 30, 10, 255]
            } else {
                [0, 0, 0, 0]
            };
            rgba.extend_from_slice(&px);
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&rgba))
        .expect("encode the test logo");
    out
}

/// The owner sets the brand colour and uploads a logo in Settings, so the cards carry both.
async fn brand_the_cards(b: &Browser) {
    b.resize(DESKTOP).await;
    b.goto("/admin/settings").await;
    let form = b.find("form#settings").await;
    b.js(&format!(
        "document.querySelector('#brand_colour').value = '{BRAND}'; return true"
    ))
    .await;
    b.click_submit(&form).await;
    b.wait_until("the brand colour to be saved", || async {
        b.goto("/admin/settings").await;
        b.js("return document.querySelector('#brand_colour').value")
            .await
            .as_str()
            == Some(BRAND)
    })
    .await;
    let logo = b.shots.join("test-logo.png");
    std::fs::write(&logo, logo_png()).expect("write the test logo");
    let form = b.find("form#logo").await;
    b.find_in(&form, "input#logo-file")
        .await
        .send_keys(&logo.display().to_string())
        .await
        .expect("choose the logo file");
    b.click_submit(&form).await;
    b.wait_until("the logo to be shown in Settings", || async {
        b.goto("/admin/settings").await;
        b.exists("img[src=\"/brand/logo\"]").await
    })
    .await;
}

/// Our own PDF of the cards (not the browser's print), fetched with the browser's session.
async fn server_pdf(b: &Browser, query: &str, param: &str) -> PathBuf {
    let cookie =
        b.c.get_named_cookie("fealty_session")
            .await
            .expect("the staff session cookie");
    let resp = reqwest::Client::new()
        .get(format!("{}/admin/cards.pdf?{query}", b.base))
        .header("cookie", format!("fealty_session={}", cookie.value()))
        .send()
        .await
        .expect("GET /admin/cards.pdf");
    assert_eq!(resp.status().as_u16(), 200, "GET /admin/cards.pdf?{query}");
    let bytes = resp.bytes().await.expect("the PDF's bytes");
    let file = b.shots.join(format!("cards-{param}-server.pdf"));
    std::fs::write(&file, &bytes).expect("save the PDF");
    file
}

/// Paper the card sheet is printed on.
struct Paper {
    /// `paper=` in the sheet's address.
    param: &'static str,
    name: &'static str,
    size: PrintSize,
    /// Cards on a full page, when the contract fixes it (10 on A4); otherwise up to 10.
    full_page: Option<usize>,
}

/// The printable card sheet for `cards`: on screen, then printed to PDF with the browser's
/// print command; the PDF's pages are counted and every page's codes read back.
async fn print_sheet(b: &Browser, cards: &[Card], paper: Paper) {
    let Paper {
        param,
        name,
        size,
        full_page,
    } = paper;
    let query: Vec<String> = cards.iter().map(|c| format!("members={}", c.id)).collect();
    b.resize(DESKTOP).await;
    b.goto(&format!("/admin/cards?{}&paper={param}", query.join("&")))
        .await;
    b.find("section.sheet div.print-card").await;
    for part in [
        "svg.qr",
        ".number",
        "svg.barcode",
        ".band .business",
        ".band img.logo",
        ".band svg.band-fill rect",
        ".scan",
    ] {
        assert_eq!(
            b.count(&format!("section.sheet div.print-card {part}"))
                .await,
            cards.len(),
            "`{part}` in div.print-card on the {name} sheet"
        );
    }
    assert!(
        b.exists("div.print-card .crop").await,
        "no crop marks (.crop) on the {name} sheet"
    );
    // The band is in the brand colour, the logo has loaded, and the card says what the QR is for.
    let branded = b
        .js("const c = document.querySelector('div.print-card');\
             return [c.querySelector('.band-fill rect').getAttribute('fill'),\
               c.querySelector('img.logo').complete && c.querySelector('img.logo').naturalWidth,\
               c.querySelector('.scan').textContent]")
        .await;
    assert_eq!(
        branded,
        json!([BRAND, 160, "Scan to see your points"]),
        "band colour, logo width and the line beside the QR on the {name} sheet"
    );
    // The card numbers on each sheet, in order.
    let sheets = b
        .js("return Array.from(document.querySelectorAll('section.sheet')).map(s =>\
             Array.from(s.querySelectorAll('div.print-card .number')).map(n => n.textContent.replace(/[^0-9]/g, '')))")
        .await;
    let sheets: Vec<Vec<String>> = serde_json::from_value(sheets.clone())
        .unwrap_or_else(|e| panic!("card numbers per section.sheet: {e}: {sheets}"));
    let numbers: BTreeSet<String> = cards.iter().map(|c| c.number.clone()).collect();
    let on_sheets: Vec<&String> = sheets.iter().flatten().collect();
    assert!(
        on_sheets.len() == cards.len() && on_sheets.iter().all(|n| numbers.contains(*n)),
        "card numbers on the {name} sheets: {sheets:?}, expected each of {numbers:?} once"
    );
    let per_page = sheets[0].len();
    assert!(
        (1..=CARDS_PER_PAGE).contains(&per_page)
            && full_page.is_none_or(|n| n == per_page)
            && sheets[..sheets.len() - 1]
                .iter()
                .all(|s| s.len() == per_page),
        "cards per section.sheet on {name}: {:?}",
        sheets.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(
        sheets.len(),
        cards.len().div_ceil(per_page),
        "section.sheet for {} cards on {name}, {per_page} a page",
        cards.len()
    );
    let file = b.screenshot(&format!("cards-{param}-desktop")).await;
    eprintln!("screenshot: {}", file.display());

    // At one device pixel per CSS pixel a QR module on screen is 2 pixels: too few to read.
    let url_of = |number: &str| {
        cards
            .iter()
            .find(|c| c.number == number)
            .map(|c| c.url.clone())
            .unwrap_or_default()
    };
    let urls: BTreeSet<String> = cards.iter().map(|c| c.url.clone()).collect();
    b.scroll_to("section.sheet div.print-card").await;
    let file = b
        .screenshot_scaled(&format!("cards-{param}-desktop-3x"), 3)
        .await;
    let on_screen = decode_barcodes(&file, Symbology::Qr);
    assert!(
        !on_screen.is_empty() && on_screen.iter().all(|u| urls.contains(u)),
        "QR codes read from the {name} sheet on screen ({}): {on_screen:?}",
        file.display()
    );

    let (width_cm, height_cm) = (size.width, size.height);
    let config = PrintConfiguration::builder()
        .size(size)
        .background(true)
        .build()
        .expect("print configuration");
    let pdf = b.print_pdf(config, &format!("cards-{param}")).await;
    let info = pdf_info(&pdf);
    eprintln!("PDF: {} ({} pages)", pdf.display(), info.pages);
    assert_eq!(
        info.pages as usize,
        sheets.len(),
        "pages of {} ({} cards, {per_page} per {name} sheet)",
        pdf.display(),
        cards.len()
    );
    let pt = |cm: f64| cm / 2.54 * 72.0;
    assert!(
        (info.width_pt - pt(width_cm)).abs() < 2.0 && (info.height_pt - pt(height_cm)).abs() < 2.0,
        "page size of {}: {info:?}, expected {name}",
        pdf.display()
    );

    // Each printed page holds exactly its sheet's cards, and every code on it reads back: in the
    // browser's print of the sheet and in the server's own PDF, both with the band and the logo.
    let server = server_pdf(b, &format!("{}&paper={param}", query.join("&")), param).await;
    assert_eq!(
        pdf_info(&server).pages,
        info.pages,
        "pages of the server's {name} PDF {}",
        server.display()
    );
    for ((page, sheet), (pdf, source)) in (1..)
        .zip(&sheets)
        .flat_map(|p| [(p, (&pdf, "print")), (p, (&server, "server"))])
    {
        let stem = b.shots.join(format!("cards-{param}-{source}-page{page}"));
        // 300 dpi: at 200, zbarimg missed about one random card link in a few dozen (seen in a
        // CI run) although the printed code is sound; a phone camera sees it at least this well.
        let png = render_pdf_page(pdf, page, 300, &stem);
        let mut qr = decode_barcodes(&png, Symbology::Qr);
        let mut expected: Vec<String> = sheet.iter().map(|n| url_of(n)).collect();
        qr.sort();
        expected.sort();
        assert_eq!(
            qr,
            expected,
            "QR codes read from page {page} of {} ({})",
            pdf.display(),
            png.display()
        );
        let mut barcodes = decode_barcodes(&png, Symbology::Code128);
        let mut expected = sheet.clone();
        barcodes.sort();
        expected.sort();
        assert_eq!(
            barcodes,
            expected,
            "Code 128 barcodes read from page {page} of {} ({})",
            pdf.display(),
            png.display()
        );
    }
}

/// The card page offline: the service worker shows the last copy it saw, with `#offline`.
async fn offline(b: &Browser, api: &Api, card: &Card, server: &mut TestServer) {
    // The customer's own view (no staff cookie), with a balance the first visits did not show.
    b.c.delete_all_cookies().await.unwrap();
    api.earn(&card.id, 10).await;
    let online = api.balance(&card.id).await;
    b.resize(PHONE).await;
    b.goto(&card.path()).await;
    assert_eq!(b.data_value("#balance").await, online, "#balance online");
    b.wait_until("the service worker to control the card page", || async {
        b.c.execute("return navigator.serviceWorker.controller !== null", vec![])
            .await
            .is_ok_and(|v| v == Value::Bool(true))
    })
    .await;
    assert!(
        !b.is_displayed("#offline").await,
        "#offline is shown while the server answers"
    );
    // Let the worker store the page it just fetched.
    tokio::time::sleep(Duration::from_millis(500)).await;

    b.set_offline(true).await;
    let _ = b.c.refresh().await;
    let by_devtools = wait_for_offline_banner(b, Duration::from_secs(5)).await;
    if !by_devtools {
        // Should offline emulation ever miss the service worker's fetch: take the server away.
        eprintln!("DevTools offline emulation gave no #offline banner; stopping the server");
        b.set_offline(false).await;
        server.kill9();
        let _ = b.c.refresh().await;
        if !wait_for_offline_banner(b, Duration::from_secs(10)).await {
            b.fail::<()>("offline, the card page shows no #offline banner")
                .await;
        }
    }
    assert_eq!(
        b.data_value("#balance").await,
        online,
        "#balance offline (the last known one)"
    );
    assert_eq!(digits(&b.text("#card-number").await), card.number);
    shot(b, "card-offline", PHONE).await;
    eprintln!(
        "offline by {}",
        if by_devtools {
            "DevTools network emulation"
        } else {
            "stopping the server"
        }
    );
}

/// Waits up to `within` for a displayed `#offline`.
async fn wait_for_offline_banner(b: &Browser, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if b.is_displayed("#offline").await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
