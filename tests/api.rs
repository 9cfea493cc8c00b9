//! The JSON API, against a real `fealty serve` process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::{Api, TestServer, card_number, encode, fresh_key, is_ulid, luhn_ok};
use reqwest::Method;
use serde_json::{Value, json};

/// `items` of a list response.
fn items(v: &Value) -> Vec<Value> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array: {v}"))
        .clone()
}

fn ids(list: &[Value]) -> HashSet<String> {
    list.iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

async fn search(api: &Api, q: &str) -> HashSet<String> {
    let r = api
        .get(&format!("/members?q={}&limit=100", encode(q)))
        .await
        .expect_status(200);
    ids(&items(&r))
}

#[tokio::test]
async fn members_create_get_patch() {
    let server = TestServer::start();
    let api = server.client();

    let created = api
        .post(
            "/members",
            &json!({
                "name": "Ada Lovelace",
                "email": "Ada.Lovelace@Example.COM",
                "phone": "+44 20 7946 0000",
                "marketing_consent": true
            }),
        )
        .await;
    let m = created.expect_status(201);
    let id = m["id"].as_str().unwrap();
    assert!(is_ulid(id), "id is not a ULID: {id}");
    let card = m["card_number"].as_str().unwrap();
    assert_eq!(card.len(), 12, "card number: {card}");
    assert!(luhn_ok(card), "card number fails Luhn: {card}");
    let token = m["card_token"].as_str().unwrap();
    assert!(!token.is_empty());
    assert!(
        m["card_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/c/{token}")),
        "card_url: {m}"
    );
    assert_eq!(m["name"], "Ada Lovelace");
    assert_eq!(m["email"], "ada.lovelace@example.com");
    // The phone may be normalised; its digits are kept.
    let phone: String = m["phone"]
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    assert_eq!(phone, "+442079460000");
    assert!(m["marketing_consent_at"].is_string(), "{m}");
    assert_eq!(m["status"], "active");
    assert_eq!(m["balance"], 0);
    assert_eq!(m["lifetime_earned"], 0);
    for f in ["created_at", "updated_at"] {
        assert!(m[f].is_string(), "{f}: {m}");
    }
    assert!(m.get("last_activity_at").is_some(), "{m}");

    // GET returns the same member.
    assert_eq!(api.member(id).await, m);

    // Duplicate email, any case.
    api.post(
        "/members",
        &json!({"name": "Impostor", "email": "ADA.lovelace@example.com"}),
    )
    .await
    .expect_problem(409, "already_in_use");

    // PATCH: rename, clear the phone, block.
    let patched = api
        .patch(
            &format!("/members/{id}"),
            &json!({"name": "Ada King", "phone": null, "status": "blocked", "marketing_consent": false}),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["id"], id);
    assert_eq!(patched["name"], "Ada King");
    assert!(patched["phone"].is_null(), "{patched}");
    assert!(patched["marketing_consent_at"].is_null(), "{patched}");
    assert_eq!(patched["status"], "blocked");
    assert_eq!(patched["email"], "ada.lovelace@example.com");
    assert_eq!(patched["card_number"], m["card_number"]);
    assert_eq!(api.member(id).await, patched);

    // A blocked member cannot earn.
    api.transaction(id, &fresh_key(), &json!({"kind": "earn", "points": 5}))
        .await
        .expect_problem(409, "member_blocked");

    // Unblock; earning works again.
    let active = api
        .patch(&format!("/members/{id}"), &json!({"status": "active"}))
        .await
        .expect_status(200);
    assert_eq!(active["status"], "active");
    assert_eq!(api.earn(id, 5).await["balance"], 5);

    // Changing the email to another member's is refused too.
    let other = api
        .create_member(&json!({"name": "Other", "email": "other@example.com"}))
        .await;
    api.patch(
        &format!("/members/{}", other["id"].as_str().unwrap()),
        &json!({"email": "ada.lovelace@EXAMPLE.com"}),
    )
    .await
    .expect_problem(409, "already_in_use");

    // A bad email is a field error.
    api.post("/members", &json!({"email": "not an email"}))
        .await
        .expect_problem(422, "invalid_field");
}

#[tokio::test]
async fn members_search_and_paging() {
    let server = TestServer::start();
    let api = server.client();

    let people = [
        ("Alice Smith", "alice@example.com"),
        ("Alan Turing", "alan@turing.org"),
        ("Bob Alpha", "bob@example.com"),
        ("Carol Jones", "carol@jones.net"),
        ("Dave Smithers", "dave@x.io"),
    ];
    let mut by_name = std::collections::HashMap::new();
    for (name, email) in people {
        let m = api
            .create_member(&json!({"name": name, "email": email}))
            .await;
        by_name.insert(name, m);
    }
    let id = |n: &str| by_name[n]["id"].as_str().unwrap().to_owned();
    let set = |names: &[&str]| names.iter().map(|n| id(n)).collect::<HashSet<_>>();

    // Name: prefix of any word, case-insensitive; every query word must match.
    assert_eq!(
        search(&api, "al").await,
        set(&["Alice Smith", "Alan Turing", "Bob Alpha"])
    );
    assert_eq!(
        search(&api, "AL").await,
        set(&["Alice Smith", "Alan Turing", "Bob Alpha"])
    );
    assert_eq!(
        search(&api, "smith").await,
        set(&["Alice Smith", "Dave Smithers"])
    );
    assert_eq!(search(&api, "al sm").await, set(&["Alice Smith"]));
    assert_eq!(search(&api, "Turing").await, set(&["Alan Turing"]));
    assert!(search(&api, "zzz").await.is_empty());
    assert!(search(&api, "alice jones").await.is_empty());

    // Email prefix.
    assert_eq!(search(&api, "alice@").await, set(&["Alice Smith"]));
    assert_eq!(search(&api, "bob@exa").await, set(&["Bob Alpha"]));
    assert!(search(&api, "nobody@").await.is_empty());

    // Card-number prefix.
    let carol_card = by_name["Carol Jones"]["card_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let hits = api
        .get(&format!("/members?q={}&limit=100", &carol_card[..8]))
        .await
        .expect_status(200);
    let hits = items(&hits);
    assert!(ids(&hits).contains(&id("Carol Jones")), "{hits:?}");
    assert!(hits.iter().all(|m| {
        m["card_number"]
            .as_str()
            .unwrap()
            .starts_with(&carol_card[..8])
    }));
    assert_eq!(search(&api, &carol_card).await, set(&["Carol Jones"]));

    // No query: everyone.
    let all = api.get("/members").await.expect_status(200);
    assert_eq!(ids(&items(&all)).len(), 5);
    assert!(all["next_cursor"].is_null(), "{all}");

    // Page through with limit=2: every member once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/members?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", encode(c)));
        }
        let page = api.get(&path).await.expect_status(200);
        let page_items = items(&page);
        assert!(page_items.len() <= 2, "{page}");
        seen.extend(
            page_items
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        assert!(pages <= 5, "paging does not end");
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 5, "duplicates or missing: {seen:?}");
    assert_eq!(unique, ids(&items(&all)));

    // Paging a search.
    let first = api.get("/members?q=al&limit=2").await.expect_status(200);
    assert_eq!(items(&first).len(), 2);
    let c = first["next_cursor"].as_str().expect("a next page");
    let second = api
        .get(&format!("/members?q=al&limit=2&cursor={}", encode(c)))
        .await
        .expect_status(200);
    let mut both = ids(&items(&first));
    both.extend(ids(&items(&second)));
    assert_eq!(both, set(&["Alice Smith", "Alan Turing", "Bob Alpha"]));

    // Limits and cursors.
    for bad in ["0", "101"] {
        api.get(&format!("/members?limit={bad}"))
            .await
            .expect_problem(422, "invalid_field");
    }
    api.get("/members?limit=100").await.expect_status(200);
    api.get("/members?limit=1").await.expect_status(200);
    api.get("/members?cursor=not-a-cursor!!")
        .await
        .expect_problem(400, "invalid_cursor");
}

#[tokio::test]
async fn member_by_card_lookup() {
    let server = TestServer::start();
    let api = server.client();

    let number = card_number(4_123_456_789);
    let m = api
        .create_member(&json!({"name": "Card Holder", "card_number": number}))
        .await;
    assert_eq!(m["card_number"], number);

    let found = api
        .get(&format!("/members/by-card/{number}"))
        .await
        .expect_status(200);
    assert_eq!(found["id"], m["id"]);

    let spaced = format!("{} {} {}", &number[..4], &number[4..8], &number[8..]);
    let found = api
        .get(&format!("/members/by-card/{}", spaced.replace(' ', "%20")))
        .await
        .expect_status(200);
    assert_eq!(found["id"], m["id"]);
    let dashed = spaced.replace(' ', "-");
    let found = api
        .get(&format!("/members/by-card/{dashed}"))
        .await
        .expect_status(200);
    assert_eq!(found["id"], m["id"]);

    // A mistyped number (the check digit fails) belongs to nobody, and the answer says why.
    let last = number.as_bytes()[11] - b'0';
    let typo = format!("{}{}", &number[..11], (last + 1) % 10);
    let p = api
        .get(&format!("/members/by-card/{typo}"))
        .await
        .expect_problem(404, "not_found");
    assert!(p["detail"].as_str().unwrap().contains("Check digit"), "{p}");

    // A valid number nobody holds.
    api.get(&format!("/members/by-card/{}", card_number(5_555_555_555)))
        .await
        .expect_problem(404, "not_found");

    // The same card number cannot be given twice; a wrong check digit is a field error.
    let again = api
        .post("/members", &json!({"name": "Copy", "card_number": number}))
        .await;
    assert!(
        again.status == 409 || again.status == 422,
        "duplicate card number: {} {}",
        again.status,
        again.text
    );
    let mut bad = number.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    api.post("/members", &json!({"name": "Typo", "card_number": bad}))
        .await
        .expect_problem(422, "invalid_field");
}

#[tokio::test]
async fn earn_by_points_and_by_amount() {
    let server = TestServer::start();
    let api = server.client();
    let m = api.create_member(&json!({"name": "Earner"})).await;
    let id = m["id"].as_str().unwrap();

    let r = api
        .transaction(
            id,
            &fresh_key(),
            &json!({"kind": "earn", "points": 50, "reason": "welcome", "reference": "order-1"}),
        )
        .await
        .expect_status(201);
    let e = &r["entry"];
    assert_eq!(r["balance"], 50);
    assert_eq!(e["kind"], "earn");
    assert_eq!(e["points"], 50);
    assert_eq!(e["balance_after"], 50);
    assert_eq!(e["member_id"], id);
    assert_eq!(e["reference"], "order-1");
    assert!(int(&e["seq"]) >= 1);
    assert!(e["reverses"].is_null() && e["reward_id"].is_null() && e["amount"].is_null());
    for f in ["hash", "prev_hash"] {
        let h = e[f].as_str().unwrap();
        assert_eq!(h.len(), 64, "{f}: {h}");
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert!(e["created_at"].is_string() && e.get("source").is_some());

    // 19.99 EUR earns 19 points (rounding down).
    let r = api
        .transaction(
            id,
            &fresh_key(),
            &json!({"kind": "earn", "amount_minor": 1999}),
        )
        .await
        .expect_status(201);
    assert_eq!(r["entry"]["points"], 19);
    assert_eq!(r["balance"], 69);
    assert_eq!(r["entry"]["prev_hash"], e["hash"], "hash chain");
    assert_eq!(r["entry"]["amount"]["amount_minor"], 1999);
    assert_eq!(r["entry"]["amount"]["currency"], "EUR");

    // Explicit currency.
    let r = api
        .transaction(
            id,
            &fresh_key(),
            &json!({"kind": "earn", "amount_minor": 500, "currency": "EUR"}),
        )
        .await
        .expect_status(201);
    assert_eq!(r["entry"]["points"], 5);
    assert_eq!(r["balance"], 74);

    // Refusals, none of which changes anything.
    let refused = [
        json!({"kind": "earn", "amount_minor": 99}),
        json!({"kind": "earn", "amount_minor": 1000, "currency": "USD"}),
        json!({"kind": "earn", "points": 5, "amount_minor": 500}),
        json!({"kind": "earn"}),
        json!({"kind": "redeem", "amount_minor": 500}),
        json!({"kind": "earn", "points": 0}),
        json!({"kind": "earn", "points": -5}),
        json!({"kind": "reversal", "points": 5}),
        json!({"kind": "teleport", "points": 5}),
    ];
    for body in &refused {
        let r = api.transaction(id, &fresh_key(), body).await;
        assert_eq!(r.status, 422, "{body} → {} {}", r.status, r.text);
        r.expect_problem(422, "invalid_field");
    }

    let m = api.member(id).await;
    assert_eq!(m["balance"], 74);
    assert_eq!(m["lifetime_earned"], 74);
    assert!(m["last_activity_at"].is_string(), "{m}");

    // History: newest first, pageable.
    for p in 1..=3 {
        api.earn(id, p).await;
    }
    let all = api.all_transactions(id, 2).await;
    assert_eq!(all.len(), 6);
    let seqs: Vec<i64> = all.iter().map(|e| int(&e["seq"])).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {seqs:?}"
    );
    let sum: i64 = all.iter().map(|e| int(&e["points"])).sum();
    assert_eq!(sum, 80);
    assert_eq!(int(&all[0]["balance_after"]), 80);
}

#[tokio::test]
async fn redeem_overdraw_and_adjust() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Spender"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.earn(&id, 30).await;

    let r = api
        .transaction(&id, &fresh_key(), &json!({"kind": "redeem", "points": 10}))
        .await
        .expect_status(201);
    assert_eq!(r["entry"]["kind"], "redeem");
    assert_eq!(r["entry"]["points"], -10);
    assert_eq!(r["entry"]["balance_after"], 20);
    assert_eq!(r["balance"], 20);

    // Overdraw: refused, nothing changes.
    let before = api.all_transactions(&id, 100).await;
    api.transaction(&id, &fresh_key(), &json!({"kind": "redeem", "points": 21}))
        .await
        .expect_problem(409, "insufficient_points");
    api.transaction(
        &id,
        &fresh_key(),
        &json!({"kind": "adjust", "points": -21, "reason": "fix"}),
    )
    .await
    .expect_problem(409, "insufficient_points");
    assert_eq!(api.balance(&id).await, 20);
    assert_eq!(api.all_transactions(&id, 100).await, before);

    // Adjust needs a reason.
    api.transaction(&id, &fresh_key(), &json!({"kind": "adjust", "points": 5}))
        .await
        .expect_problem(422, "invalid_field");
    api.transaction(
        &id,
        &fresh_key(),
        &json!({"kind": "adjust", "points": 5, "reason": ""}),
    )
    .await
    .expect_problem(422, "invalid_field");
    let r = api
        .transaction(
            &id,
            &fresh_key(),
            &json!({"kind": "adjust", "points": -20, "reason": "goodwill correction"}),
        )
        .await
        .expect_status(201);
    assert_eq!(r["entry"]["kind"], "adjust");
    assert_eq!(r["entry"]["points"], -20);
    assert_eq!(r["entry"]["reason"], "goodwill correction");
    assert_eq!(r["balance"], 0);
    let r = api
        .transaction(
            &id,
            &fresh_key(),
            &json!({"kind": "adjust", "points": 7, "reason": "bonus"}),
        )
        .await
        .expect_status(201);
    assert_eq!(r["balance"], 7);
    // Redeeming exactly the balance is fine.
    let r = api
        .transaction(&id, &fresh_key(), &json!({"kind": "redeem", "points": 7}))
        .await
        .expect_status(201);
    assert_eq!(r["balance"], 0);
    assert_eq!(api.balance(&id).await, 0);
}

#[tokio::test]
async fn idempotent_retry_replays_and_conflicts() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Retry"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"kind": "earn", "points": 10, "reference": "till-7"});

    let first = api.transaction(&id, "retry-1", &body).await;
    let first_json = first.expect_status(201);
    assert_ne!(
        first.header("idempotent-replayed"),
        Some("true"),
        "first response claims to be a replay"
    );

    let again = api.transaction(&id, "retry-1", &body).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first_json, "replayed body differs");
    assert_eq!(api.balance(&id).await, 10);
    assert_eq!(api.all_transactions(&id, 100).await.len(), 1);

    // Same key, different body.
    api.transaction(&id, "retry-1", &json!({"kind": "earn", "points": 11}))
        .await
        .expect_problem(422, "idempotency_key_reused");
    assert_eq!(api.balance(&id).await, 10);

    // The key is still bound to the first request.
    let third = api.transaction(&id, "retry-1", &body).await;
    assert_eq!(third.status, 201);
    assert_eq!(third.json(), first_json);
    assert_eq!(api.balance(&id).await, 10);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_api_key() {
    let server = TestServer::start();
    let a = server.client();
    let b = a.with_key(&server.api_key_with("second", &[]));
    let id = a.create_member(&json!({"name": "Shared"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"kind": "earn", "points": 10});

    let ra = a.transaction(&id, "shared-key", &body).await;
    let ra_json = ra.expect_status(201);
    let rb = b.transaction(&id, "shared-key", &body).await;
    let rb_json = rb.expect_status(201);
    assert_ne!(rb.header("idempotent-replayed"), Some("true"));
    assert_ne!(ra_json["entry"]["seq"], rb_json["entry"]["seq"]);
    assert_eq!(rb_json["balance"], 20);

    // A different body under the other API key is not a reuse either.
    let rb2 = b
        .transaction(&id, "other-key", &json!({"kind": "earn", "points": 3}))
        .await;
    rb2.expect_status(201);
    let ra2 = a
        .transaction(&id, "other-key", &json!({"kind": "earn", "points": 4}))
        .await;
    ra2.expect_status(201);
    assert_eq!(a.balance(&id).await, 27);
}

#[tokio::test]
async fn missing_idempotency_key_is_400() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "No Key"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seq = api.earn(&id, 10).await["entry"]["seq"].clone();
    let reward = api
        .post("/rewards", &json!({"name": "Tea", "cost": 5}))
        .await
        .expect_status(201);

    api.post(
        &format!("/members/{id}/transactions"),
        &json!({"kind": "earn", "points": 5}),
    )
    .await
    .expect_problem(400, "missing_idempotency_key");
    api.post(&format!("/transactions/{seq}/reverse"), &json!({}))
        .await
        .expect_problem(400, "missing_idempotency_key");
    api.post(
        &format!("/members/{id}/redemptions"),
        &json!({"reward_id": reward["id"]}),
    )
    .await
    .expect_problem(400, "missing_idempotency_key");
    assert_eq!(api.balance(&id).await, 10);
}

#[tokio::test]
async fn reversal_once_then_409() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Reverser"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let earned = api.earn(&id, 40).await;
    let seq = int(&earned["entry"]["seq"]);

    let r = api
        .post_idem(
            &format!("/transactions/{seq}/reverse"),
            &fresh_key(),
            &json!({"reason": "keyed twice"}),
        )
        .await
        .expect_status(201);
    let rev = &r["entry"];
    assert_eq!(rev["kind"], "reversal");
    assert_eq!(int(&rev["reverses"]), seq);
    assert_eq!(rev["points"], -40);
    assert_eq!(rev["balance_after"], 0);
    assert_eq!(r["balance"], 0);
    let rev_seq = int(&rev["seq"]);
    assert!(rev_seq > seq);

    api.post_idem(
        &format!("/transactions/{seq}/reverse"),
        &fresh_key(),
        &json!({}),
    )
    .await
    .expect_problem(409, "already_reversed");
    api.post_idem(
        &format!("/transactions/{rev_seq}/reverse"),
        &fresh_key(),
        &json!({}),
    )
    .await
    .expect_problem(409, "not_reversible");
    api.post_idem("/transactions/999999/reverse", &fresh_key(), &json!({}))
        .await
        .expect_problem(404, "not_found");
    assert_eq!(api.balance(&id).await, 0);

    // An empty body is allowed.
    let seq2 = int(&api.earn(&id, 15).await["entry"]["seq"]);
    let r = api
        .send(
            api.request(Method::POST, &format!("/transactions/{seq2}/reverse"))
                .header("Idempotency-Key", fresh_key()),
        )
        .await;
    let body = r.expect_status(201);
    assert_eq!(body["entry"]["points"], -15);
    assert_eq!(body["balance"], 0);
}

#[tokio::test]
async fn reversing_a_redemption_restores_the_balance() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Refund"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.earn(&id, 50).await;
    let r = api
        .transaction(&id, &fresh_key(), &json!({"kind": "redeem", "points": 20}))
        .await
        .expect_status(201);
    assert_eq!(r["balance"], 30);
    let seq = int(&r["entry"]["seq"]);

    let rev = api
        .post_idem(
            &format!("/transactions/{seq}/reverse"),
            &fresh_key(),
            &json!({"reason": "customer changed their mind"}),
        )
        .await
        .expect_status(201);
    assert_eq!(rev["entry"]["points"], 20);
    assert_eq!(rev["entry"]["kind"], "reversal");
    assert_eq!(rev["balance"], 50);
    let m = api.member(&id).await;
    assert_eq!(m["balance"], 50);
    assert_eq!(m["lifetime_earned"], 50);
}

#[tokio::test]
async fn rewards_create_list_patch_redeem() {
    let server = TestServer::start();
    let api = server.client();

    let empty = api.get("/rewards").await.expect_status(200);
    assert!(items(&empty).is_empty(), "{empty}");

    let coffee = api
        .post("/rewards", &json!({"name": "Coffee", "cost": 25}))
        .await
        .expect_status(201);
    let rid = coffee["id"].as_str().unwrap().to_owned();
    assert_eq!(coffee["name"], "Coffee");
    assert_eq!(coffee["cost"], 25);
    assert_eq!(coffee["active"], true);
    assert!(coffee["created_at"].is_string());

    for bad in [
        json!({"name": "Free", "cost": -1}),
        json!({"name": "", "cost": 5}),
        json!({"cost": 5}),
    ] {
        api.post("/rewards", &bad)
            .await
            .expect_problem(422, "invalid_field");
    }

    let list = api.get("/rewards").await.expect_status(200);
    assert_eq!(items(&list), vec![coffee.clone()]);

    let patched = api
        .patch(&format!("/rewards/{rid}"), &json!({"cost": 30}))
        .await
        .expect_status(200);
    assert_eq!(patched["cost"], 30);
    assert_eq!(patched["name"], "Coffee");
    assert_eq!(patched["id"], rid.as_str());

    let id = api.create_member(&json!({"name": "Coffee Lover"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.earn(&id, 40).await;
    let path = format!("/members/{id}/redemptions");
    let r = api
        .post_idem(&path, &fresh_key(), &json!({"reward_id": rid}))
        .await
        .expect_status(201);
    assert_eq!(r["entry"]["kind"], "redeem");
    assert_eq!(r["entry"]["points"], -30);
    assert_eq!(r["entry"]["reward_id"], rid.as_str());
    assert_eq!(r["balance"], 10);

    api.post_idem(&path, &fresh_key(), &json!({"reward_id": rid}))
        .await
        .expect_problem(409, "insufficient_points");
    assert_eq!(api.balance(&id).await, 10);

    let off = api
        .patch(&format!("/rewards/{rid}"), &json!({"active": false}))
        .await
        .expect_status(200);
    assert_eq!(off["active"], false);
    api.earn(&id, 100).await;
    api.post_idem(&path, &fresh_key(), &json!({"reward_id": rid}))
        .await
        .expect_problem(409, "reward_inactive");
    assert_eq!(api.balance(&id).await, 110);

    api.patch(
        &format!("/rewards/{rid}"),
        &json!({"active": true, "name": "Big Coffee"}),
    )
    .await
    .expect_status(200);
    let r = api
        .post_idem(&path, &fresh_key(), &json!({"reward_id": rid}))
        .await
        .expect_status(201);
    assert_eq!(r["balance"], 80);
    let list = items(&api.get("/rewards").await.expect_status(200));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Big Coffee");

    // Scopes: GET rewards needs any valid key; writing needs rewards:write.
    let reader = api.with_key(&server.api_key_with("reader", &["members:read"]));
    reader.get("/rewards").await.expect_status(200);
    reader
        .post("/rewards", &json!({"name": "Cake", "cost": 5}))
        .await
        .expect_problem(403, "forbidden");
    reader
        .patch(&format!("/rewards/{rid}"), &json!({"cost": 1}))
        .await
        .expect_problem(403, "forbidden");
    api.patch("/rewards/NOSUCHREWARD", &json!({"cost": 1}))
        .await
        .expect_problem(404, "not_found");
}

#[tokio::test]
async fn settings_get_patch_and_scope() {
    let server = TestServer::start();
    let api = server.client();

    let s = api.get("/settings").await.expect_status(200);
    assert_eq!(s["currency"], "EUR");
    assert_eq!(s["points_per_unit"], 1);
    assert!(s["business_name"].is_string());

    let s = api
        .patch(
            "/settings",
            &json!({"business_name": "Café Test", "points_per_unit": 2}),
        )
        .await
        .expect_status(200);
    assert_eq!(s["business_name"], "Café Test");
    assert_eq!(s["points_per_unit"], 2);
    assert_eq!(s["currency"], "EUR");
    assert_eq!(api.get("/settings").await.expect_status(200), s);

    let id = api.create_member(&json!({"name": "Double"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .transaction(
            &id,
            &fresh_key(),
            &json!({"kind": "earn", "amount_minor": 1050}),
        )
        .await
        .expect_status(201);
    assert_eq!(r["entry"]["points"], 20);

    api.patch("/settings", &json!({"points_per_unit": -1}))
        .await
        .expect_problem(422, "invalid_field");
    api.patch("/settings", &json!({"currency": "EURO"}))
        .await
        .expect_problem(422, "invalid_field");

    let limited = api.with_key(&server.api_key_with(
        "limited",
        &[
            "members:read",
            "members:write",
            "points:write",
            "rewards:write",
        ],
    ));
    limited.get("/settings").await.expect_status(200);
    limited
        .patch("/settings", &json!({"business_name": "Hijack"}))
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(
        api.get("/settings").await.expect_status(200)["business_name"],
        "Café Test"
    );
}

fn assert_stats(got: &Value, want: Value) {
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&got[k], v, "stats `{k}`: {got}");
    }
}

#[tokio::test]
async fn stats_after_known_operations() {
    let server = TestServer::start();
    let api = server.client();
    let new_id = |m: Value| m["id"].as_str().unwrap().to_owned();
    let a = new_id(api.create_member(&json!({"name": "Stat A"})).await);
    let b = new_id(api.create_member(&json!({"name": "Stat B"})).await);
    let _c = new_id(api.create_member(&json!({"name": "Stat C"})).await);

    let s = api.get("/stats").await.expect_status(200);
    assert_stats(
        &s,
        json!({"members": 3, "active_members_30d": 0, "points_issued": 0,
               "points_redeemed": 0, "points_adjusted": 0, "points_outstanding": 0}),
    );

    api.earn(&a, 100).await;
    api.transaction(&a, &fresh_key(), &json!({"kind": "redeem", "points": 30}))
        .await
        .expect_status(201);
    api.earn(&b, 50).await;
    api.transaction(
        &b,
        &fresh_key(),
        &json!({"kind": "adjust", "points": -10, "reason": "correction"}),
    )
    .await
    .expect_status(201);

    let s = api.get("/stats").await.expect_status(200);
    assert_stats(
        &s,
        json!({"members": 3, "active_members_30d": 2, "points_issued": 150,
               "points_redeemed": 30, "points_adjusted": -10, "points_outstanding": 110}),
    );

    // A reversal counts against the kind it reverses.
    let e = api.earn(&b, 5).await;
    let seq = int(&e["entry"]["seq"]);
    api.post_idem(
        &format!("/transactions/{seq}/reverse"),
        &fresh_key(),
        &json!({}),
    )
    .await
    .expect_status(201);
    let s = api.get("/stats").await.expect_status(200);
    assert_eq!(s["points_issued"], 150);
    assert_eq!(s["points_outstanding"], 110);
    assert_eq!(
        int(&s["points_outstanding"]),
        api.balance(&a).await + api.balance(&b).await
    );

    // Stats need members:read.
    let writer = api.with_key(&server.api_key_with("writer", &["points:write"]));
    writer.get("/stats").await.expect_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_never_overdraw() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Racer"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.earn(&id, 100).await;

    let mut tasks = Vec::new();
    for i in 0..50 {
        let api = api.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            api.transaction(
                &id,
                &format!("race-{i}"),
                &json!({"kind": "redeem", "points": 7}),
            )
            .await
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => ok += 1,
            409 => {
                r.expect_problem(409, "insufficient_points");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!((ok, refused), (14, 36));
    assert_eq!(api.balance(&id).await, 2);
    let entries = api.all_transactions(&id, 100).await;
    assert_eq!(entries.len(), 15);
    assert_eq!(entries.iter().map(|e| int(&e["points"])).sum::<i64>(), 2);
    assert!(entries.iter().all(|e| int(&e["balance_after"]) >= 0));

    // The chain holds (through the control socket, the server still running).
    let out = server.cli(&["verify"]);
    let text = common::ok(&out);
    assert!(
        text.trim().starts_with("ok: 15 entries, 1 member"),
        "verify said {text:?}"
    );
}

#[tokio::test]
async fn malformed_requests() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Target"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let raw = |method: Method, path: &str, ct: &str, body: Vec<u8>| {
        api.request(method, path)
            .header("content-type", ct)
            .header("Idempotency-Key", fresh_key())
            .body(body)
    };

    // Malformed JSON.
    api.send(raw(
        Method::POST,
        "/members",
        "application/json",
        b"{\"name\": ".to_vec(),
    ))
    .await
    .expect_problem(400, "invalid_json");
    api.send(raw(
        Method::POST,
        &format!("/members/{id}/transactions"),
        "application/json",
        b"not json".to_vec(),
    ))
    .await
    .expect_problem(400, "invalid_json");

    // Wrong types and unknown fields.
    for body in [
        json!({"name": 5}),
        json!({"marketing_consent": "yes"}),
        json!({"name": "Ok", "nickname": "extra"}),
        json!(["a", "list"]),
    ] {
        api.post("/members", &body)
            .await
            .expect_problem(422, "invalid_field");
    }
    for body in [
        json!({"kind": "earn", "points": "10"}),
        json!({"kind": "earn", "points": 1.5}),
        json!({"kind": "earn", "points": 10, "bonus": true}),
    ] {
        api.transaction(&id, &fresh_key(), &body)
            .await
            .expect_problem(422, "invalid_field");
    }
    api.patch(&format!("/members/{id}"), &json!({"status": "gone"}))
        .await
        .expect_problem(422, "invalid_field");

    // Not JSON at all.
    api.send(raw(
        Method::POST,
        "/members",
        "text/plain",
        b"{\"name\": \"x\"}".to_vec(),
    ))
    .await
    .expect_problem(415, "unsupported_media_type");
    api.send(
        api.request(Method::POST, "/members")
            .body("{\"name\": \"x\"}"),
    )
    .await
    .expect_problem(415, "unsupported_media_type");

    // Nothing above created anything.
    let all = api.get("/members").await.expect_status(200);
    assert_eq!(items(&all).len(), 1);
    assert_eq!(api.balance(&id).await, 0);
}

#[tokio::test]
async fn unknown_members_are_404() {
    let server = TestServer::start();
    let api = server.client();
    for id in ["01ARZ3NDXQ8V4T0X9K1N5R7B2C", "garbage", "0000"] {
        api.get(&format!("/members/{id}"))
            .await
            .expect_problem(404, "not_found");
        api.patch(&format!("/members/{id}"), &json!({"name": "X"}))
            .await
            .expect_problem(404, "not_found");
        api.get(&format!("/members/{id}/transactions"))
            .await
            .expect_problem(404, "not_found");
        api.transaction(id, &fresh_key(), &json!({"kind": "earn", "points": 1}))
            .await
            .expect_problem(404, "not_found");
    }
}

/// Whether a member answer carries the card secret, in either field.
fn has_card_secret(m: &Value) -> bool {
    m.get("card_token").is_some() || m.get("card_url").is_some()
}

#[tokio::test]
async fn card_tokens_only_for_keys_with_cards_read() {
    let server = TestServer::start();
    let without = &["members:read", "members:write", "points:write"];
    let plain = server.client_with(&server.api_key_with("shop", without));

    // Create, get, by-card, list and patch answers: no token without cards:read.
    let m = plain
        .post("/members", &json!({"name": "Tokenless"}))
        .await
        .expect_status(201);
    assert!(
        !has_card_secret(&m),
        "create gave a members:write key the card: {m}"
    );
    let id = m["id"].as_str().unwrap().to_owned();
    let card = m["card_number"].as_str().unwrap().to_owned();
    for path in [format!("/members/{id}"), format!("/members/by-card/{card}")] {
        let got = plain.get(&path).await.expect_status(200);
        assert!(!has_card_secret(&got), "{path} gave the card away: {got}");
    }
    let list = plain.get("/members").await.expect_status(200);
    let listed = items(&list);
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|m| !has_card_secret(m)),
        "the list gave the card away: {list}"
    );
    let patched = plain
        .patch(
            &format!("/members/{id}"),
            &json!({"name": "Still Tokenless"}),
        )
        .await
        .expect_status(200);
    assert!(
        !has_card_secret(&patched),
        "patch gave the card away: {patched}"
    );

    // The same member through a key with cards:read: token and URL, and they open the card page.
    let mut with_scopes = without.to_vec();
    with_scopes.push("cards:read");
    let till = server.client_with(&server.api_key_with("till", &with_scopes));
    let got = till.get(&format!("/members/{id}")).await.expect_status(200);
    let token = got["card_token"].as_str().unwrap().to_owned();
    assert!(
        got["card_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/c/{token}")),
        "{got}"
    );
    let listed = items(&till.get("/members").await.expect_status(200));
    assert!(
        listed.iter().all(|m| m["card_token"].is_string()),
        "{listed:?}"
    );
    let made = till
        .post("/members", &json!({"name": "Printed"}))
        .await
        .expect_status(201);
    assert!(made["card_token"].is_string(), "{made}");
    let page = reqwest::get(server.url(&format!("/c/{token}")))
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the card link works");

    // The scope is in the document, with the fields that depend on it.
    let doc = plain
        .send(plain.client.get(plain.url("/api/v1/openapi.json")))
        .await
        .expect_status(200);
    let text = doc.to_string();
    assert!(
        doc["components"]["securitySchemes"]["bearer"]["description"]
            .as_str()
            .unwrap()
            .contains("cards:read"),
        "{text}"
    );
    let token_doc =
        doc["components"]["schemas"]["MemberView"]["properties"]["card_token"]["description"]
            .as_str()
            .unwrap();
    assert!(token_doc.contains("cards:read"), "{token_doc}");
}

#[tokio::test]
async fn a_missing_key_is_401_every_time_and_wrong_keys_are_slowed() {
    let server = TestServer::start();
    let api = server.client();
    // A forgotten header guesses nothing, so it never earns the client a 429.
    for _ in 0..30 {
        let r = api.send(api.client.get(api.url("/members"))).await;
        r.expect_problem(401, "unauthorized");
    }
    let bad = api.with_key("fty_000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(bad.get("/members").await.status);
    }
    assert!(
        statuses.contains(&429),
        "wrong keys are slowed: {statuses:?}"
    );
    api.get("/members").await.expect_status(200);
}

#[tokio::test]
async fn integral_numbers_are_integers_however_spelled() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Floaty"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = fresh_key();
    let first = api
        .send(
            api.request(Method::POST, &format!("/members/{id}/transactions"))
                .header("Idempotency-Key", &key)
                .header("Content-Type", "application/json")
                .body(r#"{"kind": "earn", "points": 5.0}"#),
        )
        .await
        .expect_status(201);
    assert_eq!(first["entry"]["points"], 5);
    // The same number spelled as an integer is the same request: a replay, not a conflict.
    let again = api
        .transaction(&id, &key, &json!({"kind": "earn", "points": 5}))
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    api.transaction(&id, &fresh_key(), &json!({"kind": "earn", "points": 5.5}))
        .await
        .expect_problem(422, "invalid_field");
    assert_eq!(api.balance(&id).await, 5);
}

#[tokio::test]
async fn authentication_and_scopes() {
    let server = TestServer::start();
    let key = server.api_key();
    let api = server.client_with(&key);
    api.create_member(&json!({"name": "Guarded"})).await;

    // No key.
    let r = api.send(api.client.get(api.url("/members"))).await;
    r.expect_problem(401, "unauthorized");
    // Wrong keys.
    let fake = format!("fty_{}_{}", common::key_id(&key), "x".repeat(43));
    for bad in [
        fake.as_str(),
        "garbage",
        "fty_000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        api.with_key(bad)
            .get("/members")
            .await
            .expect_problem(401, "unauthorized");
    }
    let r = api
        .send(
            api.client
                .get(api.url("/members"))
                .basic_auth("user", Some("pass")),
        )
        .await;
    r.expect_problem(401, "unauthorized");

    // Revoked key.
    let doomed = server.api_key_with("doomed", &[]);
    let doomed_api = api.with_key(&doomed);
    doomed_api.get("/members").await.expect_status(200);
    common::ok(&server.cli(&["apikey", "revoke", common::key_id(&doomed)]));
    doomed_api
        .get("/members")
        .await
        .expect_problem(401, "unauthorized");
    api.get("/members").await.expect_status(200);

    // Scopes.
    let reader = api.with_key(&server.api_key_with("reader", &["members:read"]));
    reader.get("/members").await.expect_status(200);
    reader.get("/stats").await.expect_status(200);
    reader
        .post("/members", &json!({"name": "Nope"}))
        .await
        .expect_problem(403, "forbidden");
    let id = api.create_member(&json!({"name": "Scoped"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    reader
        .patch(&format!("/members/{id}"), &json!({"name": "Nope"}))
        .await
        .expect_problem(403, "forbidden");
    reader
        .transaction(&id, &fresh_key(), &json!({"kind": "earn", "points": 1}))
        .await
        .expect_problem(403, "forbidden");
    let writer = api.with_key(&server.api_key_with("writer", &["members:write"]));
    writer
        .get("/members")
        .await
        .expect_problem(403, "forbidden");
    writer
        .get(&format!("/members/{id}/transactions"))
        .await
        .expect_problem(403, "forbidden");
    writer
        .post("/members", &json!({"name": "Yes"}))
        .await
        .expect_status(201);
    assert_eq!(api.balance(&id).await, 0);
}

#[tokio::test]
async fn errors_are_problem_json() {
    let server = TestServer::start();
    let api = server.client();

    api.get("/nope").await.expect_problem(404, "not_found");
    api.get("/members/01ARZ3NDXQ8V4T0X9K1N5R7B2C/nothing-here")
        .await
        .expect_problem(404, "not_found");
    api.send(api.request(Method::DELETE, "/members"))
        .await
        .expect_problem(405, "method_not_allowed");
    api.send(api.request(Method::PUT, "/settings"))
        .await
        .expect_problem(405, "method_not_allowed");
    api.with_key("bad")
        .get("/stats")
        .await
        .expect_problem(401, "unauthorized");
    api.post("/members", &json!({"name": 1}))
        .await
        .expect_problem(422, "invalid_field");

    assert_eq!(api.get("/healthz").await.status, 200);
    assert_eq!(api.get("/readyz").await.status, 200);
    let r = api.send(api.client.get(api.url("/healthz"))).await;
    assert_eq!(r.status, 200, "healthz needs no key");
}

#[tokio::test]
async fn openapi_states_the_limits_the_server_enforces() {
    let server = TestServer::start();
    let api = Api::new(&server.url(""), "");
    let doc = api
        .send(api.client.get(api.url("/api/v1/openapi.json")))
        .await
        .expect_status(200);
    let schemas = &doc["components"]["schemas"];
    let max = 1_000_000_000_000_i64;
    let shapes = schemas["TransactionRequest"]["oneOf"].as_array().unwrap();
    assert_eq!(
        shapes.len(),
        5,
        "earn by points or amount, redeem, adjust up or down"
    );
    let prop = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();
    for (schema, field, lo, hi) in [
        ("EarnPoints", "points", 1, max),
        ("EarnAmount", "amount_minor", 1, max),
        ("RedeemPoints", "points", 1, max),
        ("AdjustUp", "points", 1, max),
        ("AdjustDown", "points", -max, -1),
        ("CreateReward", "cost", 1, max),
        ("UpdateSettings", "points_per_unit", 0, 10_000),
    ] {
        let p = prop(schema, field);
        assert_eq!(
            (int(&p["minimum"]), int(&p["maximum"])),
            (lo, hi),
            "{schema}.{field}: {p}"
        );
    }
    for (schema, field, len) in [
        ("CreateMember", "name", 100),
        ("CreateMember", "email", 254),
        ("EarnPoints", "reason", 500),
        ("EarnPoints", "reference", 200),
        ("AdjustDown", "reason", 500),
        ("ReverseRequest", "reason", 500),
        ("CreateReward", "name", 100),
        ("UpdateSettings", "business_name", 80),
    ] {
        let p = prop(schema, field);
        assert_eq!(int(&p["maxLength"]), len, "{schema}.{field}: {p}");
        let pattern = p["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{schema}.{field}: {p}"));
        // Free text names what it refuses; an email is an ASCII allowlist, which refuses them too.
        let refuses_controls = if field == "email" {
            pattern.contains("[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+") && pattern.contains("@[A-Za-z0-9]")
        } else {
            pattern.contains(r"\u0000-\u001F")
        };
        assert!(refuses_controls, "no control characters: {pattern}");
    }
    assert_eq!(
        schemas["AdjustUp"]["required"],
        json!(["kind", "points", "reason"])
    );
    let transactions = &doc["paths"]["/api/v1/members/{id}/transactions"]["post"];
    let key = transactions["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(key["required"], true);
    assert_eq!(key["schema"]["maxLength"], 255);
    assert_eq!(key["schema"]["pattern"], "^[!-~]{1,255}$");
    let zones = prop("UpdateSettings", "time_zone")["enum"].clone();
    assert!(
        zones.as_array().unwrap().contains(&json!("Europe/London")),
        "{zones}"
    );
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let server = TestServer::start();
    let api = Api::new(&server.url(""), "");
    let r = api
        .send(api.client.get(api.url("/api/v1/openapi.json")))
        .await;
    let doc = r.expect_status(200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "openapi version: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths object");
    // Normalise: drop a leading /api/v1 (it may be in `servers`) and parameter names.
    let normalise = |p: &str| {
        let p = p.strip_prefix("/api/v1").unwrap_or(p);
        let mut out = String::new();
        let mut in_param = false;
        for c in p.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push_str("{}");
                }
                '}' => in_param = false,
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    };
    let found: std::collections::HashMap<String, Vec<String>> = paths
        .iter()
        .map(|(p, ops)| {
            let methods = ops
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            (normalise(p), methods)
        })
        .collect();
    let expected: [(&str, &[&str]); 15] = [
        ("/members", &["get", "post"]),
        ("/members/{}", &["get", "patch"]),
        ("/members/by-card/{}", &["get"]),
        ("/members/{}/transactions", &["get", "post"]),
        ("/members/{}/redemptions", &["post"]),
        ("/transactions/{}/reverse", &["post"]),
        ("/rewards", &["get", "post"]),
        ("/rewards/{}", &["patch"]),
        ("/settings", &["get", "patch"]),
        ("/stats", &["get"]),
        ("/integrations/{}", &["put"]),
        ("/integrations/unmatched", &["get"]),
        ("/integrations/{}/orders/{}/attach", &["post"]),
        ("/webhooks", &["get", "post"]),
        ("/webhooks/{}", &["delete"]),
    ];
    for (path, methods) in expected {
        let Some(have) = found.get(path) else {
            panic!(
                "openapi.json lacks {path}; has {:?}",
                found.keys().collect::<Vec<_>>()
            )
        };
        for m in methods {
            assert!(
                have.iter().any(|h| h == m),
                "openapi.json lacks {m} {path}; has {have:?}"
            );
        }
    }
}

/// Sends `body` over a raw connection while reading the reply at the same time (as curl does),
/// so an early response is seen even if the server stops reading and closes the connection.
fn raw_post(addr: &str, path: &str, key: &str, body: &[u8]) -> (u16, String, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let read = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if len.is_some_and(|len| got.len() >= end + 4 + len) {
                    break;
                }
            }
        }
        got
    });
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        fresh_key(),
        body.len()
    );
    // The server may stop reading part-way; write errors are expected then.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let got = read.join().unwrap();
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&got)));
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    let body = serde_json::from_slice(&got[end + 4..]).unwrap_or_else(|e| {
        panic!(
            "response body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&got[end + 4..])
        )
    });
    (status, content_type, body)
}

#[tokio::test]
async fn huge_body_is_413() {
    let server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Target"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut huge = b"{\"name\": \"".to_vec();
    huge.resize(huge.len() + 2 * 1024 * 1024, b'a');
    huge.extend_from_slice(b"\"}");
    for path in [
        "/api/v1/members".to_owned(),
        format!("/api/v1/members/{id}/transactions"),
    ] {
        let (addr, key, body) = (server.addr().to_owned(), api.key.clone(), huge.clone());
        let (status, content_type, problem) =
            tokio::task::spawn_blocking(move || raw_post(&addr, &path, &key, &body))
                .await
                .unwrap();
        assert_eq!(status, 413, "{problem}");
        assert!(
            content_type.starts_with("application/problem+json"),
            "{content_type}"
        );
        assert_eq!(problem["code"], "payload_too_large");
        assert_eq!(problem["status"], 413);
    }
    // Just under the limit is fine.
    let mut big = b"{\"name\": \"Big\", \"phone\": null".to_vec();
    big.resize(1024 * 1024 - 200, b' ');
    big.extend_from_slice(b"}");
    let r = api
        .send(
            api.request(Method::POST, "/members")
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    r.expect_status(201);
    assert_eq!(
        items(&api.get("/members").await.expect_status(200)).len(),
        2
    );
    assert_eq!(api.balance(&id).await, 0);
}

// ---------------------------------------------------------------------------------------------
// Amounts and points have limits; totals never wrap.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn purchase_amounts_and_their_points_are_capped() {
    let server = TestServer::start();
    let api = server.client();
    api.patch("/settings", &json!({"points_per_unit": 1000}))
        .await
        .expect_status(200);
    let a = api.create_member(&json!({"name": "Big Spender"})).await;
    let b = api.create_member(&json!({"name": "Other Spender"})).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    // The amount itself: 1 to 1e12 minor units.
    for amount in [i64::MAX, 1_000_000_000_001, 0, -1] {
        for m in [a, b] {
            let r = api
                .transaction(
                    m,
                    &fresh_key(),
                    &json!({"kind": "earn", "amount_minor": amount}),
                )
                .await;
            let p = r.expect_problem(422, "invalid_field");
            assert!(
                p["detail"].as_str().unwrap().contains("amount_minor"),
                "{p}"
            );
        }
    }
    // A valid amount that would earn more than MAX_POINTS points under the rule.
    let r = api
        .transaction(
            a,
            &fresh_key(),
            &json!({"kind": "earn", "amount_minor": 1_000_000_000_000i64}),
        )
        .await;
    let p = r.expect_problem(422, "invalid_field");
    assert!(p["detail"].as_str().unwrap().contains("points"), "{p}");
    assert_eq!(api.balance(a).await, 0);
    assert_eq!(api.balance(b).await, 0);

    // The largest amount that stays within MAX_POINTS is taken.
    let r = api
        .transaction(
            a,
            &fresh_key(),
            &json!({"kind": "earn", "amount_minor": 1_000_000_000i64}),
        )
        .await
        .expect_status(201);
    assert_eq!(r["balance"], 10_000_000_000i64);

    let s = api.get("/stats").await.expect_status(200);
    assert_eq!(s["points_issued"], 10_000_000_000i64, "{s}");
    assert_eq!(s["points_outstanding"], 10_000_000_000i64, "{s}");
    let out = common::ok(&server.cli(&["verify"]));
    assert!(out.contains("ok"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// One validation rule per field, whoever sends it.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn names_emails_reasons_and_references_refuse_hidden_characters() {
    let server = TestServer::start();
    let api = server.client();

    let bad_names = [
        "evil\u{202E}gpj.exe".to_owned(),
        "a\u{202A}b".to_owned(),
        "a\u{2066}b".to_owned(),
        "zero\u{200B}width".to_owned(),
        "\u{FEFF}Ann".to_owned(),
        "esc\u{1b}[31m".to_owned(),
        "nul\u{0}".to_owned(),
        "x".repeat(101),
    ];
    for name in &bad_names {
        let p = api
            .post("/members", &json!({ "name": name }))
            .await
            .expect_problem(422, "invalid_field");
        assert!(p["detail"].as_str().unwrap().contains("name"), "{p}");
    }
    for email in [
        "x@x.com<script>",
        "<x@x.com>",
        "a b@x.com",
        "a\"b@x.com",
        "a@x\u{200B}.com",
        "a(b)@x.com",
        "a,b@x.com",
        "a@x_y.com",
    ] {
        let p = api
            .post("/members", &json!({ "name": "Ann", "email": email }))
            .await
            .expect_problem(422, "invalid_field");
        assert!(p["detail"].as_str().unwrap().contains("email"), "{p}");
    }
    let list = api.get("/members?limit=100").await.expect_status(200);
    assert!(items(&list).is_empty(), "nothing was created");

    // Names in other scripts still pass; a joiner inside an emoji sequence too.
    for name in [
        "Αλέξανδρος Παπαδόπουλος",
        "王小明",
        "Çağla Şenoğlu",
        "Ann \u{1F469}\u{200D}\u{1F373}",
    ] {
        let m = api.create_member(&json!({ "name": name })).await;
        assert_eq!(m["name"], name);
    }
    let m = api.create_member(&json!({"name": "Rea Son"})).await;
    let id = m["id"].as_str().unwrap();
    api.patch(&format!("/members/{id}"), &json!({"name": "x\u{202E}y"}))
        .await
        .expect_problem(422, "invalid_field");
    let earned = api.earn(id, 10).await;
    let seq = earned["entry"]["seq"].as_u64().unwrap();

    let huge = "x".repeat(900 * 1024);
    for reason in ["\u{1b}[2Jwiped", "right\u{202E}left", "nul\u{0}", &huge] {
        api.transaction(
            id,
            &fresh_key(),
            &json!({"kind": "adjust", "points": -1, "reason": reason}),
        )
        .await
        .expect_problem(422, "invalid_field");
        api.post_idem(
            &format!("/transactions/{seq}/reverse"),
            &fresh_key(),
            &json!({ "reason": reason }),
        )
        .await
        .expect_problem(422, "invalid_field");
    }
    api.transaction(
        id,
        &fresh_key(),
        &json!({"kind": "earn", "points": 1, "reference": "order\u{200F}1"}),
    )
    .await
    .expect_problem(422, "invalid_field");
    assert_eq!(api.balance(id).await, 10);
    assert_eq!(api.all_transactions(id, 100).await.len(), 1);
}

/// The calls the README and the OpenAPI document give a plugin author, as documented.
#[tokio::test]
async fn the_documented_plugin_calls_award_an_order_once_and_take_it_back_on_refunds() {
    let server = TestServer::start();
    let key = server.api_key_with("Web shop", &["members:read", "points:write"]);
    let setup = server.client();
    let plugin = server.client_with(&key);
    let member = setup
        .create_member(&json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    let (id, card) = (
        member["id"].as_str().unwrap(),
        member["card_number"].as_str().unwrap(),
    );
    // Someone whose email starts the same: the prefix search finds both.
    setup
        .create_member(&json!({"email": "ada@example.com.au"}))
        .await;

    // 1. Find the member by card (dashes as printed) or by exact email.
    let dashed = format!("{}-{}-{}", &card[..4], &card[4..8], &card[8..]);
    let found = plugin
        .get(&format!("/members/by-card/{dashed}"))
        .await
        .expect_status(200);
    assert_eq!(found["id"], id);
    let page = plugin
        .get("/members?q=ada@example.com")
        .await
        .expect_status(200);
    let exact: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["email"] == "ada@example.com")
        .collect();
    assert_eq!(exact.len(), 1, "{page}");
    assert_eq!(exact[0]["id"], id);

    // 2. Award the order; the retry returns the same entry and counts nothing.
    let order = json!({"kind": "earn", "amount_minor": 1999, "reference": "order-1234"});
    let first = plugin.transaction(id, "order-1234", &order).await;
    let first_json = first.expect_status(201);
    assert_eq!(first_json["entry"]["points"], 19);
    assert_eq!(first_json["entry"]["reference"], "order-1234");
    assert_eq!(first_json["balance"], 19);
    let again = plugin.transaction(id, "order-1234", &order).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.expect_status(201), first_json);
    assert_eq!(setup.balance(id).await, 19);
    let other = json!({"kind": "earn", "amount_minor": 2999, "reference": "order-1234"});
    plugin
        .transaction(id, "order-1234", &other)
        .await
        .expect_problem(422, "idempotency_key_reused");

    // 3. A partial refund takes its share back; a full one reverses the entry.
    let partial = json!({"kind": "adjust", "points": -5, "reason": "Refund of order 1234", "reference": "order-1234"});
    let r = plugin.transaction(id, "refund-5678", &partial).await;
    assert_eq!(r.expect_status(201)["balance"], 14);
    let second = plugin
        .transaction(
            id,
            "order-1235",
            &json!({"kind": "earn", "amount_minor": 1000, "reference": "order-1235"}),
        )
        .await
        .expect_status(201);
    let seq = second["entry"]["seq"].as_u64().unwrap();
    let reversed = plugin
        .post_idem(
            &format!("/transactions/{seq}/reverse"),
            "refund-5679",
            &json!({"reason": "Refund of order 1235"}),
        )
        .await
        .expect_status(201);
    assert_eq!(reversed["balance"], 14, "{reversed}");
    // Points already spent: the refund is refused and nothing changes.
    setup
        .transaction(id, "spend", &json!({"kind": "redeem", "points": 10}))
        .await
        .expect_status(201);
    let seq = first_json["entry"]["seq"].as_u64().unwrap();
    plugin
        .post_idem(
            &format!("/transactions/{seq}/reverse"),
            "refund-5680",
            &json!({"reason": "Refund of order 1234"}),
        )
        .await
        .expect_status(409);
    let too_much = json!({"kind": "adjust", "points": -14, "reason": "Refund of order 1234", "reference": "order-1234"});
    plugin
        .transaction(id, "refund-5681", &too_much)
        .await
        .expect_status(409);
    assert_eq!(setup.balance(id).await, 4);
}
