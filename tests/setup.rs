//! The one-time setup link, used as a person would: open it, fill the form, and it stops working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use std::time::Duration;

fn setup_url(server: &TestServer) -> String {
    let line = server
        .wait_for_stdout("setup link: ", Duration::from_secs(5))
        .expect("a fresh server prints a setup link");
    line.trim().trim_start_matches("setup link: ").to_owned()
}

#[tokio::test]
async fn the_setup_link_creates_one_owner_and_then_stops_working() {
    let server = TestServer::start();
    let url = setup_url(&server);
    let http = reqwest::Client::new();

    let form = http.get(&url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(
        form.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let page = form.text().await.unwrap();
    assert!(page.contains("name=\"username\"") && page.contains("name=\"password\""));

    // A mismatched confirmation is shown beside the field, the username kept, nothing created.
    let bad = http
        .post(&url)
        .form(&[
            ("username", "Owner"),
            ("password", "a long passphrase"),
            ("confirm", "another one"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let page = bad.text().await.unwrap();
    assert!(page.contains("The passwords differ."), "{page}");
    assert!(page.contains("value=\"Owner\""), "{page}");
    let short = http
        .post(&url)
        .form(&[
            ("username", "owner"),
            ("password", "short"),
            ("confirm", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 10 characters")
    );

    let done = http
        .post(&url)
        .form(&[
            ("username", "Owner"),
            ("password", "a long passphrase"),
            ("confirm", "a long passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("owner"));

    // Used once: both the form and a second submission are gone.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    let again = http
        .post(&url)
        .form(&[
            ("username", "second"),
            ("password", "a long passphrase"),
            ("confirm", "a long passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    // The owner exists: the same username cannot be added again.
    let dup = server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            "owner",
            "--role",
            "staff",
            "--password-stdin",
        ],
        "a long passphrase\n",
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("Username is already in use."));

    // A guessed token never works.
    let guess = server.url("/setup/not-the-token");
    assert_eq!(http.get(&guess).send().await.unwrap().status(), 404);
}
