//! What the server writes to its log, read as an operator's journal would get it (a pipe, not a
//! terminal): no escape codes, one JSON object a line on request, one line per request naming
//! the route when asked for, and never a secret or a person's data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::{Browser, COOKIE, MEMBER_COOKIE, Page, form, snippet};
use common::{Api, TestServer, fealty_env, fresh_key, ok};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Turns the request lines on, as an operator would.
const REQUEST_LINES: (&str, &str) = ("FEALTY_LOG", "info,fealty::access=debug");
const OWNER: &str = "quenby";
const PASSWORD: &str = "Owner-Pass 7f3kq9";
const WRONG_PASSWORD: &str = "Guessed-Pass 2m8zx4";
const MEMBER_PASSWORD: &str = "Member-Pass 5hw2rc";
const PASSPHRASE: &str = "Backup-Phrase vq83jd";

/// A value that must not be in the log, and what it is (for the failure message).
struct Secret {
    what: &'static str,
    value: String,
}

fn secret(what: &'static str, value: impl Into<String>) -> Secret {
    Secret {
        what,
        value: value.into(),
    }
}

/// The value of the cookie `name` that `page` sets.
fn cookie_value(page: &Page, name: &str) -> String {
    let cookie = page
        .set_cookie(name)
        .unwrap_or_else(|| panic!("no {name} cookie"));
    let pair = cookie.split(';').next().unwrap_or_default();
    pair.split_once('=').unwrap().1.to_owned()
}

/// Everything a server logged on stdout and stderr, once it has stopped.
struct Captured {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Runs what a shop does in a day against a server started with `envs`, with a passphrase-
/// protected backup target; returns its whole output and every secret and personal value the
/// flow handled.
async fn a_day_at_the_shop(envs: &[(&str, &str)]) -> (Captured, Vec<Secret>) {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let target = format!("file:{}", store.path().display());
    let mut envs = envs.to_vec();
    envs.push(("FEALTY_BACKUP_PASSPHRASE", PASSPHRASE));
    let mut server = TestServer::start_with(dir.path(), &["--backup-to", &target], &envs);
    let mut secrets = vec![
        secret("staff username", OWNER),
        secret("password", PASSWORD),
        secret("wrong password", WRONG_PASSWORD),
        secret("backup passphrase", PASSPHRASE),
    ];

    // The owner account, through the one-time link printed on stdout.
    let link = server
        .wait_for_stdout("setup link: ", Duration::from_secs(5))
        .expect("a setup link");
    let link = link.trim().trim_start_matches("setup link: ").to_owned();
    let setup_token = link.rsplit('/').next().unwrap().to_owned();
    let http = reqwest::Client::new();
    assert_eq!(http.get(&link).send().await.unwrap().status(), 200);
    let made = http
        .post(&link)
        .form(&[
            ("username", OWNER),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    // The log-in below proves the account was made.
    assert_eq!(made.status(), 200, "setup");
    secrets.push(secret("setup token", setup_token.clone()));

    // A wrong password, then the right one.
    let mut stranger = Browser::new(&server);
    let refused = stranger.login(OWNER, WRONG_PASSWORD).await;
    assert!(refused.location().is_none(), "a wrong password logs in");
    let mut owner = Browser::new(&server);
    let p = owner.login(OWNER, PASSWORD).await;
    p.expect_redirect("/admin");
    secrets.push(secret("staff session cookie", cookie_value(&p, COOKIE)));
    owner.last.clear();
    owner.page("/admin").await;

    // Members, points and a reward through the API.
    let key = server.api_key();
    // The secret is base64url and may hold `_` itself: split as the server does.
    let key_secret = fealty::domain::api_key::split_presented(&key)
        .expect("a well-formed key")
        .1
        .to_owned();
    secrets.push(secret("API key", key.clone()));
    secrets.push(secret("API key's secret part", key_secret));
    let api = Api::new(&server.url(""), &key);
    // A key with the right id and a wrong secret, as a leaked-then-rotated key would be tried.
    let wrong_key = format!("{}_Wr0ngSecretPart", key.rsplit_once('_').unwrap().0);
    api.with_key(&wrong_key)
        .get("/api/v1/members")
        .await
        .expect_status(401);
    secrets.push(secret("wrong API key", wrong_key));
    let mut members = Vec::new();
    for (name, surname, email, phone) in [
        (
            "Philippa Quigglesworth",
            "Quigglesworth",
            "philippa.q@example.org",
            "+44 7700 900123",
        ),
        (
            "Bartholomew Ynysgwyn",
            "Ynysgwyn",
            "bart.ynys@example.net",
            "+44 7700 900456",
        ),
    ] {
        let m = api
            .create_member(&json!({"name": name, "email": email, "phone": phone}))
            .await;
        let id = m["id"].as_str().unwrap().to_owned();
        api.earn(&id, 120).await;
        api.transaction(&id, &fresh_key(), &json!({"kind": "redeem", "points": 20}))
            .await
            .expect_status(201);
        api.member(&id).await;
        secrets.extend([
            secret("member name", name),
            secret("member surname", surname),
            secret("member email", email),
            secret("member phone", phone),
            secret("card token", m["card_token"].as_str().unwrap()),
            secret("card number", m["card_number"].as_str().unwrap()),
        ]);
        members.push(m);
    }

    // The staff look a member up; the member opens their card page.
    let email = members[0]["email"].as_str().unwrap();
    let found = owner
        .get(&format!("/admin/members?q={}", common::encode(email)))
        .await;
    assert!(found.status < 400, "search: {}", snippet(&found.text));
    let card = format!("/c/{}", members[0]["card_token"].as_str().unwrap());
    let mut customer = Browser::new(&server);
    let html = customer.page(&card).await;

    // The member sets a password on the card page and logs in with it.
    let set = customer
        .submit(
            &form(&html, "set-password"),
            &[
                ("contact", email),
                ("password", MEMBER_PASSWORD),
                ("confirm", MEMBER_PASSWORD),
            ],
        )
        .await;
    set.expect(303);
    let p = customer.customer_login(email, MEMBER_PASSWORD).await;
    assert_eq!(p.location(), Some("/account"), "{}", snippet(&p.text));
    secrets.push(secret("member password", MEMBER_PASSWORD));
    secrets.push(secret(
        "member session cookie",
        cookie_value(&p, MEMBER_COOKIE),
    ));
    customer.page("/account").await;

    // A backup now, with the passphrase, through the running server.
    let data = dir.path().to_str().unwrap();
    ok(&fealty_env(
        &["backup", "--to", &target, "--data", data],
        &[("FEALTY_BACKUP_PASSPHRASE", PASSPHRASE)],
    ));

    server.stop();
    let captured = Captured {
        stdout: server.stdout_lines(),
        stderr: server.stderr_lines(),
    };
    (captured, secrets)
}

/// No secret in any line, except the setup token in the setup link on stdout, which is how the
/// owner gets it (it works once); and no escape byte anywhere.
fn assert_nothing_leaks(log: &Captured, secrets: &[Secret]) {
    for (stream, lines) in [("stdout", &log.stdout), ("stderr", &log.stderr)] {
        for line in lines {
            assert!(
                !line.contains('\u{1b}'),
                "an escape code on {stream}: {line:?}"
            );
            for s in secrets {
                let by_design = stream == "stdout"
                    && s.what == "setup token"
                    && line.starts_with("setup link: ");
                assert!(
                    by_design || !line.contains(&s.value),
                    "the {} ({:?}) is in a line on {stream}: {line}",
                    s.what,
                    s.value
                );
            }
        }
    }
    assert_eq!(
        log.stdout.len(),
        2,
        "stdout says where it listens and gives the setup link, nothing more: {:?}",
        log.stdout
    );
}

/// The request lines in text form: `(method, route, status)`.
fn text_requests(log: &Captured) -> Vec<(String, String, String)> {
    let field = |line: &str, name: &str| {
        let start = line.find(&format!(" {name}="))? + name.len() + 2;
        let rest = &line[start..];
        let end = rest.find(' ').unwrap_or(rest.len());
        Some(rest[..end].trim_matches('"').to_owned())
    };
    log.stderr
        .iter()
        .filter(|l| l.contains("fealty::access"))
        .map(|l| {
            assert!(field(l, "latency_us").is_some(), "no latency: {l}");
            (
                field(l, "method").unwrap_or_default(),
                field(l, "route").unwrap_or_default(),
                field(l, "status").unwrap_or_default(),
            )
        })
        .collect()
}

fn has_request(requests: &[(String, String, String)], method: &str, route: &str, status: &str) {
    assert!(
        requests
            .iter()
            .any(|(m, r, s)| m == method && r == route && s == status),
        "no request line {method} {route} {status} among {requests:?}"
    );
}

#[tokio::test]
async fn a_piped_log_has_no_escape_codes_nor_secrets_and_names_routes_not_paths() {
    let (log, secrets) = a_day_at_the_shop(&[REQUEST_LINES]).await;
    assert_nothing_leaks(&log, &secrets);
    let requests = text_requests(&log);
    has_request(&requests, "GET", "/setup/{token}", "200");
    has_request(&requests, "POST", "/admin/login", "303");
    has_request(&requests, "POST", "/api/v1/members", "201");
    has_request(
        &requests,
        "POST",
        "/api/v1/members/{id}/transactions",
        "201",
    );
    has_request(&requests, "GET", "/c/{token}", "200");
    has_request(&requests, "GET", "/admin/members", "200");
    has_request(&requests, "POST", "/login", "303");
}

#[tokio::test]
async fn the_json_log_is_one_object_a_line_with_the_request_fields() {
    let (log, secrets) = a_day_at_the_shop(&[REQUEST_LINES, ("FEALTY_LOG_FORMAT", "json")]).await;
    assert_nothing_leaks(&log, &secrets);
    let objects: Vec<Value> = log
        .stderr
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect();
    assert!(
        objects
            .iter()
            .any(|o| o["message"] == "serving" && o["level"] == "INFO"),
        "no `serving` line: {:?}",
        log.stderr
    );
    let card_page = objects
        .iter()
        .find(|o| o["target"] == "fealty::access" && o["route"] == "/c/{token}")
        .unwrap_or_else(|| panic!("no request line for the card page: {:?}", log.stderr));
    assert_eq!(card_page["method"], "GET");
    assert_eq!(card_page["status"], 200);
    assert!(card_page["latency_us"].is_u64(), "{card_page}");
}

#[tokio::test]
async fn request_lines_are_off_by_default_and_a_bad_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(dir.path(), &[], &[]);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    server.stop();
    let lines = server.stderr_lines();
    assert!(
        lines.iter().any(|l| l.contains("serving")),
        "the server logs at INFO: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("fealty::access")),
        "a request line by default: {lines:?}"
    );

    for (args, envs) in [
        (&["--log-format", "yaml"][..], &[][..]),
        (&[][..], &[("FEALTY_LOG_FORMAT", "yaml")][..]),
        (&["--log-level", "fealty=loud"][..], &[][..]),
    ] {
        let mut all = vec!["verify", "--data", path(dir.path())];
        all.extend_from_slice(args);
        let out = fealty_env(&all, envs);
        assert_eq!(out.status.code(), Some(2), "{args:?} {envs:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error:"), "{err}");
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
