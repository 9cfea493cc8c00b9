//! Tables on a phone, and the words in them: headless Chromium (the harness in
//! `tests/browser_support`) against a real `fealty serve` process.
//!
//! At 360 px every admin table (members, history, top members, API keys, audit, staff,
//! rewards) is one small card per row: the page does not scroll sideways, and the first row's
//! name and its key number sit on one line inside the window. The history and the audit log say
//! what happened in words ("Redeemed: Free coffee", the API key's name), and the import preview
//! keeps a refused line's name and refuses a blank row. Screenshots of members, history, audit,
//! keys and the import preview at both widths go to `target/screenshots/tables-*.png`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_support;
mod common;

use browser_support::{Browser, DESKTOP, Driver, PHONE};
use common::{Api, TestServer, card_number, fresh_key, ok};
use serde_json::json;
use std::time::Duration;

const OWNER: &str = "ann";
const PASSWORD: &str = "correct horse battery";

/// The whole run, browser start included.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);

/// A table to check: its screenshot name (if one is saved), its page and the table.
struct Table {
    shot: Option<&'static str>,
    path: String,
    table: &'static str,
}

#[tokio::test]
async fn tables_read_as_cards_on_a_phone_in_plain_words() {
    let driver = Driver::start();
    let server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, run(&driver, &server))
        .await
        .unwrap_or_else(|_| panic!("the tables run took longer than {TEST_TIMEOUT:?}"));
}

async fn run(driver: &Driver, server: &TestServer) {
    ok(&server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            OWNER,
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let key = server.api_key_with("Till app", &[]);
    let api = server.client_with(&key);
    let member_id = seed(&api).await;

    let b = Browser::open(driver, &server.url(""), "tables").await;
    b.goto("/admin/login").await;
    let form = b.find("form:has(input[name=password])").await;
    b.fill(&form, "input[name=username]", OWNER).await;
    b.fill(&form, "input[name=password]", PASSWORD).await;
    b.click_submit(&form).await;
    b.wait_path("/admin").await;

    history_says_what_happened_in_words(&b, &member_id).await;
    audit_says_who_in_words(&b).await;

    let tables = [
        (
            Some("members"),
            "/admin/members".to_owned(),
            "table#members",
        ),
        (
            Some("history"),
            format!("/admin/members/{member_id}"),
            "table#history",
        ),
        (None, "/admin".to_owned(), "table#table-top-members"),
        (Some("keys"), "/admin/keys".to_owned(), "table#keys"),
        (Some("audit"), "/admin/audit".to_owned(), "table#audit"),
        (None, "/admin/staff".to_owned(), "table#staff"),
        (None, "/admin/rewards".to_owned(), "table#rewards"),
    ]
    .map(|(shot, path, table)| Table { shot, path, table });
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        for t in &tables {
            b.goto(&t.path).await;
            b.find(t.table).await;
            if size.name == PHONE.name {
                first_row_is_a_card(&b, t).await;
            }
            if let Some(name) = t.shot {
                b.scroll_to(t.table).await;
                b.screenshot(&format!("tables-{name}-{}", size.name)).await;
            }
        }
    }
    import_preview(&b).await;
    b.c.close().await.expect("close the browser session");
}

/// Rewards, a long-named member with history from the API key (by amount, a redemption, an
/// adjustment, a reversal), a second staff account.
async fn seed(api: &Api) -> String {
    let coffee = api
        .post("/rewards", &json!({"name": "Free coffee", "cost": 50}))
        .await
        .expect_status(201);
    let member = api
        .create_member(&json!({
            "name": "Maximiliane Konstantinopoulou-Oberhausen",
            "email": "maximiliane.konstantinopoulou@example.com",
            "card_number": card_number(4_711_000_077),
        }))
        .await;
    let id = member["id"].as_str().unwrap().to_owned();
    api.transaction(
        &id,
        &fresh_key(),
        &json!({"kind": "earn", "amount_minor": 1_234_500}),
    )
    .await
    .expect_status(201);
    api.post_idem(
        &format!("/members/{id}/redemptions"),
        &fresh_key(),
        &json!({"reward_id": coffee["id"]}),
    )
    .await
    .expect_status(201);
    let adjusted = api
        .transaction(
            &id,
            &fresh_key(),
            &json!({"kind": "adjust", "points": 7, "reason": "Birthday"}),
        )
        .await
        .expect_status(201);
    let seq = adjusted["entry"]["seq"].as_u64().unwrap();
    api.post_idem(
        &format!("/transactions/{seq}/reverse"),
        &fresh_key(),
        &json!({"reason": "keyed twice"}),
    )
    .await
    .expect_status(201);
    id
}

/// At 360 px: no sideways scroll, the first row is one card with its name and key number on
/// one line, both inside the window, and no column is hidden.
async fn first_row_is_a_card(b: &Browser, t: &Table) {
    b.assert_no_horizontal_scroll(&t.path).await;
    let v = b
        .js(&format!(
            "const row = document.querySelector('{table} tbody tr');\
             const title = row.querySelector('.title'), key = row.querySelector('.figure');\
             const r = e => e.getBoundingClientRect();\
             const hidden = Array.from(row.children).filter(c => c.textContent.trim() !== '' \
               && (getComputedStyle(c).display === 'none' || r(c).width === 0)).length;\
             return [r(title).left, r(title).right, r(title).top, r(key).left, r(key).right, \
               r(key).top, r(key).bottom, window.innerWidth, hidden, key.textContent.trim()]",
            table = t.table
        ))
        .await;
    let n = |i: usize| v[i].as_f64().unwrap();
    let (title_left, title_top, key_left, key_right) = (n(0), n(2), n(3), n(4));
    let (key_top, key_bottom, width) = (n(5), n(6), n(7));
    let what = format!("{} first row {v}", t.table);
    assert!(
        title_left >= 0.0 && key_right <= width + 0.5 && key_left > title_left,
        "{what}: the name and the key number are not both inside the window"
    );
    assert!(
        title_top >= key_top - 24.0 && title_top <= key_bottom,
        "{what}: the name and the key number are not on one line"
    );
    assert_eq!(v[8].as_u64(), Some(0), "{what}: a cell with text is hidden");
    assert!(
        !v[9].as_str().unwrap().is_empty(),
        "{what}: the key number is empty"
    );
}

async fn history_says_what_happened_in_words(b: &Browser, member_id: &str) {
    b.goto(&format!("/admin/members/{member_id}")).await;
    let what: Vec<String> = serde_json::from_value(
        b.js(
            "return Array.from(document.querySelectorAll('table#history td.what'))\
              .map(td => td.textContent.replace(/\\s+/g, ' ').trim())",
        )
        .await,
    )
    .unwrap();
    let all = what.join(" | ");
    for expected in [
        "Earned for 12345.00 EUR",
        "Redeemed: Free coffee",
        "Adjusted: Birthday",
        "Reversed: keyed twice",
        "by API key “Till app”",
    ] {
        assert!(all.contains(expected), "history lacks {expected:?}: {all}");
    }
    assert!(
        !all.contains("api_key:"),
        "a raw key id in the history: {all}"
    );
    let when = b.text("table#history td.when").await;
    assert!(when.starts_with("Today "), "history date {when:?}");
}

async fn audit_says_who_in_words(b: &Browser) {
    b.resize(DESKTOP).await;
    b.goto("/admin/audit").await;
    let rows: Vec<Vec<String>> = serde_json::from_value(
        b.js(
            "return Array.from(document.querySelectorAll('table#audit tbody tr'))\
              .map(tr => Array.from(tr.children).map(td => td.innerText.trim()))",
        )
        .await,
    )
    .unwrap();
    let text = format!("{rows:?}");
    assert!(text.contains("API key “Till app”"), "audit who: {text}");
    assert!(text.contains("Redeemed a reward"), "audit what: {text}");
    assert!(
        text.contains("Maximiliane Konstantinopoulou-Oberhausen"),
        "audit to: {text}"
    );
    assert!(
        !text.contains("api_key:"),
        "a raw key id in the audit log: {text}"
    );
    // The JSON is behind a closed <details>, and nothing is cut off at 1280 px.
    assert!(
        !b.is_displayed("table#audit td.detail code").await,
        "details shown open"
    );
    b.assert_no_horizontal_scroll("/admin/audit").await;
    let clipped = b
        .js(
            "const w = document.querySelector('#audit').closest('.table-wrap');\
             return w.scrollWidth > w.clientWidth",
        )
        .await;
    assert_eq!(
        clipped.as_bool(),
        Some(false),
        "the audit table is cut off at 1280 px"
    );
}

/// A blank row is refused with its row number; a bad row keeps the member's name.
async fn import_preview(b: &Browser) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("members.csv");
    std::fs::write(
        &file,
        "name,email,phone\nZoë Import,zoe@example.com,\n,,\nBob Bad,not-an-email,\n",
    )
    .unwrap();
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        b.goto("/admin/members/import").await;
        let form = b.find("form#import").await;
        let input = b.find_in(&form, "input[type=file]").await;
        input
            .send_keys(file.to_str().unwrap())
            .await
            .expect("choose the file");
        b.click_submit(&form).await;
        b.find("table#import-preview").await;
        let rows: Vec<Vec<String>> = serde_json::from_value(
            b.js(
                "return Array.from(document.querySelectorAll('table#import-preview tbody tr'))\
                  .map(tr => Array.from(tr.children).map(td => td.textContent.trim()))",
            )
            .await,
        )
        .unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[1][0], "3");
        assert_eq!(rows[1][2], "Row 3 is empty.", "{rows:?}");
        assert_eq!(rows[2][1], "Bob Bad", "{rows:?}");
        assert!(rows[2][2].starts_with("Email: "), "{rows:?}");
        assert!(
            !b.exists("form#import-confirm").await,
            "an import with errors offered"
        );
        if size.name == PHONE.name {
            b.assert_no_horizontal_scroll("import preview").await;
        }
        b.screenshot(&format!("tables-import-{}", size.name)).await;
    }
    // Nothing was saved: the members list has the seeded member only.
    b.goto("/admin/members").await;
    assert_eq!(b.count("table#members tbody tr").await, 1);
}
