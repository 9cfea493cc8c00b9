//! Owner alerts, end to end: a real SMTP server (Python's aiosmtpd) and a webhook receiver on
//! loopback get exactly one "started" when the backup target goes dead and one "resolved" when
//! it comes back; the test button reaches both; bad settings are refused; no secret leaks.

#![expect(clippy::expect_used, reason = "tests fail loudly")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::hook::Hook;
use common::pages::*;
use common::smtp::Smtp;
use common::{TestServer, Tmpfs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SMTP_PASSWORD: &str = "smtp-Secret-pw-4711";

fn serve(data: &Path, smtp: &Smtp, extra: &[&str]) -> TestServer {
    let port = smtp.port.to_string();
    let mut args = vec![
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--smtp-user",
        "alerts",
        "--smtp-from",
        "fealty@example.com",
        "--alerts-check-every",
        "1s",
    ];
    if !extra.contains(&"--smtp-security") {
        args.extend(["--smtp-security", "plain"]);
    }
    args.extend_from_slice(extra);
    TestServer::start_with(data, &args, &[("FEALTY_SMTP_PASSWORD", SMTP_PASSWORD)])
}

async fn owner(server: &TestServer) -> Browser {
    add_user(server, "olive", "owner");
    logged_in(server).await
}

async fn logged_in(server: &TestServer) -> Browser {
    let mut b = Browser::new(server);
    b.login_ok("olive", PASSWORD).await;
    b
}

async fn set_alerts(b: &mut Browser, emails: &str, webhook: &str) -> Page {
    let page = b.page("/admin/settings").await;
    let f = form(&page, "alerts");
    b.submit(
        &f,
        &[
            ("alert_emails", emails),
            ("alert_webhook", webhook),
            ("alert_webhook_format", "json"),
        ],
    )
    .await
}

/// Presses "Send a test alert" on the Settings page.
async fn press_test(b: &mut Browser) {
    let page = b.page("/admin/settings").await;
    b.submit(&form(&page, "test-alert"), &[]).await.expect(303);
}

/// The error of the first pending delivery on `channel` that has been tried, once listed.
async fn failed_attempt(b: &mut Browser, channel: &str) -> String {
    wait_for(Duration::from_secs(20), "a failed attempt listed", || {
        let html = futures_block(b, "/admin/alerts");
        rows(&html, "alerts")
            .iter()
            .find(|r| {
                cell(r, "td", "channel").as_deref() == Some(channel)
                    && cell(r, "td", "attempts").is_some_and(|a| a != "0")
                    && cell(r, "td", "status").as_deref() == Some("pending")
            })
            .map(|r| cell(r, "td", "error").unwrap_or_default())
    })
    .await
}

/// Polls `f` every 100 ms until it gives a value, or panics after `timeout`.
async fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn subjects_with(mails: &[String], word: &str) -> usize {
    mails
        .iter()
        .filter(|m| {
            m.lines()
                .any(|l| l.starts_with("Subject:") && l.contains(word))
        })
        .count()
}

fn hooks_with(bodies: &[serde_json::Value], event: &str) -> usize {
    bodies.iter().filter(|b| b["event"] == event).count()
}

fn backup_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".fbk"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backup_target_alerts_once_by_email_and_webhook_and_resolves_once() {
    let smtp = Smtp::start();
    let hook = Hook::start().await;
    let data = common::OwnDisk::new();
    let store = tempfile::tempdir().unwrap();
    let target_dir = store.path().join("backups");
    std::fs::create_dir(&target_dir).unwrap();
    let target = format!("file:{}", target_dir.display());
    let args = ["--backup-to", &target, "--backup-every", "10s"];
    let mut server = serve(data.path(), &smtp, &args);
    let mut b = owner(&server).await;
    set_alerts(&mut b, "owner@example.com", &hook.url)
        .await
        .expect(303);
    wait_for(Duration::from_secs(20), "a first backup", || {
        (backup_files(&target_dir) > 0).then_some(())
    })
    .await;

    // The target dies: a file where the directory was.
    let away = store.path().join("backups.away");
    std::fs::rename(&target_dir, &away).unwrap();
    std::fs::write(&target_dir, b"not a directory").unwrap();
    let started = wait_for(Duration::from_secs(60), "a started alert by email", || {
        let mails = smtp.messages();
        (subjects_with(&mails, "started: backups") > 0).then_some(mails)
    })
    .await;
    let mail = started
        .iter()
        .find(|m| m.contains("started: backups"))
        .unwrap();
    assert!(mail.contains("To: owner@example.com"), "{mail}");
    assert!(
        mail.contains("more than twice the interval") && mail.contains("the last error:"),
        "the alert says which condition and the last error: {mail}"
    );
    wait_for(
        Duration::from_secs(10),
        "a started alert by webhook",
        || (hooks_with(&hook.bodies(), "started") > 0).then_some(()),
    )
    .await;
    let body = hook.bodies()[0].clone();
    assert_eq!(body["alert"], "backups", "{body}");
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.contains("the last error:")),
        "{body}"
    );
    assert_eq!(body["text"], body["content"], "{body}");

    // A restart while it lasts neither clears it nor raises it again.
    server.stop();
    let server = serve(data.path(), &smtp, &args);
    wait_for(
        Duration::from_secs(20),
        "a failed backup after the restart",
        || {
            let out = server.cli(&["status"]);
            String::from_utf8_lossy(&out.stdout)
                .contains("backups are failing")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 1, "{:#?}", smtp.messages());
    assert_eq!(hook.bodies().len(), 1, "{:#?}", hook.bodies());
    let mut b = logged_in(&server).await;

    // It comes back.
    std::fs::remove_file(&target_dir).unwrap();
    std::fs::rename(&away, &target_dir).unwrap();
    wait_for(Duration::from_secs(60), "a resolved alert by email", || {
        (subjects_with(&smtp.messages(), "resolved: backups") > 0).then_some(())
    })
    .await;
    wait_for(
        Duration::from_secs(10),
        "a resolved alert by webhook",
        || (hooks_with(&hook.bodies(), "resolved") > 0).then_some(()),
    )
    .await;
    // A few more looks (one a second) must not send anything again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = smtp.messages();
    assert_eq!(subjects_with(&mails, "started:"), 1, "{mails:#?}");
    assert_eq!(subjects_with(&mails, "resolved:"), 1, "{mails:#?}");
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let bodies = hook.bodies();
    assert_eq!(hooks_with(&bodies, "started"), 1, "{bodies:#?}");
    assert_eq!(hooks_with(&bodies, "resolved"), 1, "{bodies:#?}");
    assert_eq!(bodies.len(), 2, "{bodies:#?}");

    // The list shows both, newest first, each delivered on both channels.
    let list = b.page("/admin/alerts").await;
    let rows = rows(&list, "alerts");
    assert_eq!(rows.len(), 4, "{}", snippet(&list));
    assert!(
        rows[0].text().contains("resolved: backups"),
        "{}",
        rows[0].text()
    );
    assert!(
        rows[3].text().contains("started: backups"),
        "{}",
        rows[3].text()
    );
    for r in &rows {
        assert_eq!(
            cell(r, "td", "status").as_deref(),
            Some("sent"),
            "{}",
            r.text()
        );
    }
    assert_no_secret(&server, &mut b).await;
}

async fn assert_no_secret(server: &TestServer, b: &mut Browser) {
    let settings = b.page("/admin/settings").await;
    assert!(
        !settings.contains(SMTP_PASSWORD),
        "the settings page shows the password"
    );
    assert!(
        settings.contains("127.0.0.1"),
        "the settings page names the mail server"
    );
    let log = [server.stdout_lines(), server.stderr_lines()]
        .concat()
        .join("\n");
    assert!(
        !log.contains(SMTP_PASSWORD),
        "the log holds the SMTP password"
    );
    let status = server.cli(&["status"]);
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(!out.contains(SMTP_PASSWORD), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("alerts:"))
        .expect("an alerts: line");
    assert!(
        line.contains("email to owner@example.com via 127.0.0.1:")
            && line.contains("webhook to 127.0.0.1:"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_button_reaches_both_channels_and_bad_settings_change_nothing() {
    let smtp = Smtp::start();
    let hook = Hook::start().await;
    let data = common::OwnDisk::new();
    let server = serve(data.path(), &smtp, &[]);
    let mut b = owner(&server).await;

    // Bad settings: a readable message beside the field, nothing stored.
    for (emails, webhook, field, says) in [
        (
            "owner@example",
            "",
            "alert_emails",
            "is not a valid email address",
        ),
        (
            "owner@example.com",
            "ftp://example.com/x",
            "alert_webhook",
            "https://",
        ),
        (
            "owner@example.com",
            "javascript:alert(1)",
            "alert_webhook",
            "https://",
        ),
    ] {
        let p = set_alerts(&mut b, emails, webhook).await;
        assert_eq!(p.status, 422, "{emails} {webhook}: {}", snippet(&p.text));
        let msg = by_id(&p.text, &format!("{field}-error"))
            .unwrap_or_else(|| panic!("no message beside {field}: {}", snippet(&p.text)));
        assert!(msg.text().contains(says), "{}", msg.text());
        let again = b.page("/admin/settings").await;
        let f = form(&again, "alerts");
        assert_eq!(f.value("alert_emails"), Some(""), "nothing was stored");
        assert_eq!(f.value("alert_webhook"), Some(""), "nothing was stored");
    }

    set_alerts(&mut b, "owner@example.com, second@example.org", &hook.url)
        .await
        .expect(303);
    let page = b.page("/admin/settings").await;
    let p = b.submit(&form(&page, "test-alert"), &[]).await;
    p.expect(303);
    let mails = wait_for(Duration::from_secs(15), "the test email", || {
        let m = smtp.messages();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(mails[0].contains("test alert"), "{}", mails[0]);
    assert!(mails[0].contains("second@example.org"), "{}", mails[0]);
    wait_for(Duration::from_secs(15), "the test webhook", || {
        (hooks_with(&hook.bodies(), "test") == 1).then_some(())
    })
    .await;
    let list = wait_for(Duration::from_secs(10), "both shown as sent", || {
        let html = futures_block(&mut b, "/admin/alerts");
        let sent = rows(&html, "alerts")
            .iter()
            .filter(|r| cell(r, "td", "status").as_deref() == Some("sent"))
            .count();
        (sent == 2).then_some(html)
    })
    .await;
    let channels: Vec<String> = rows(&list, "alerts")
        .iter()
        .filter_map(|r| cell(r, "td", "channel"))
        .collect();
    assert_eq!(channels, ["email", "webhook"], "{}", snippet(&list));
    assert_eq!(smtp.messages().len(), 1);

    // A webhook that cannot be reached: the failure is recorded and retried later.
    let dead = format!("http://127.0.0.1:{}/hook", common::free_port());
    set_alerts(&mut b, "owner@example.com", &dead)
        .await
        .expect(303);
    press_test(&mut b).await;
    let failed = failed_attempt(&mut b, "webhook").await;
    assert!(failed.contains("could not be reached"), "{failed}");

    // A staff member cannot change where alerts go.
    add_user(&server, "sam", "staff");
    let mut staff = Browser::new(&server);
    staff.login_ok("sam", PASSWORD).await;
    let p = staff
        .post_form(
            "/admin/settings/alerts",
            &[("alert_emails", "sam@example.com")],
        )
        .await;
    assert_eq!(p.status, 403, "{}", snippet(&p.text));
    assert_eq!(staff.get("/admin/alerts").await.status, 403);
}

/// Reads a page from inside a synchronous poll.
fn futures_block(b: &mut Browser, path: &str) -> String {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(b.page(path)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_disk_alerts_under_15_then_again_under_5_percent_and_both_resolve_when_freed() {
    if !common::is_root() {
        eprintln!("skipped: a size-limited filesystem needs root to mount");
        return;
    }
    let smtp = Smtp::start();
    let hook = Hook::start().await;
    let files = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&files.path().join("disk"), "32m");
    let server = serve(&files.path().join("disk").join("data"), &smtp, &[]);
    let mut b = owner(&server).await;
    set_alerts(&mut b, "owner@example.com", &hook.url)
        .await
        .expect(303);
    let alerts = |event: &str| hook.alerts(event);

    disk.fill_to("filler", 10);
    wait_for(Duration::from_secs(30), "an alert under 15% free", || {
        (!alerts("started").is_empty()).then_some(())
    })
    .await;
    assert_eq!(alerts("started"), ["disk-low"], "{:#?}", hook.bodies());
    let said = hook.bodies()[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(said.contains("the disk holding the data has "), "{said}");

    disk.fill_to("filler", 3);
    wait_for(
        Duration::from_secs(30),
        "a second alert under 5% free",
        || (alerts("started").len() > 1).then_some(()),
    )
    .await;
    assert_eq!(alerts("started"), ["disk-low", "disk-critical"]);

    std::fs::remove_file(files.path().join("disk").join("filler")).unwrap();
    wait_for(Duration::from_secs(30), "both resolved once freed", || {
        (alerts("resolved").len() > 1).then_some(())
    })
    .await;
    let mut resolved = alerts("resolved");
    resolved.sort();
    assert_eq!(resolved, ["disk-critical", "disk-low"]);
    // A few more looks (one a second) send nothing again; the mail saw the same four.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.bodies().len(), 4, "{:#?}", hook.bodies());
    let mails = wait_for(Duration::from_secs(10), "four mails", || {
        let m = smtp.messages();
        (m.len() >= 4).then_some(m)
    })
    .await;
    assert_eq!(mails.len(), 4, "{mails:#?}");
    assert_eq!(subjects_with(&mails, "started:"), 2, "{mails:#?}");
    assert_eq!(subjects_with(&mails, "resolved:"), 2, "{mails:#?}");
    drop(server);
}

/// A CA, and a certificate it signed for 127.0.0.1: `(ca.pem, cert.pem, key.pem)` in `dir`.
fn mail_server_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |f: &str| dir.join(f);
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            common::stderr(&out)
        );
    };
    let s = |f: &str| p(f).to_str().unwrap().to_owned();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &s("ca.key"),
        "-out",
        &s("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=Mail test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &s("key.pem"),
        "-out",
        &s("csr.pem"),
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(p("ext.cnf"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &s("csr.pem"),
        "-CA",
        &s("ca.pem"),
        "-CAkey",
        &s("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &s("ext.cnf"),
        "-out",
        &s("cert.pem"),
    ]);
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_email_goes_over_starttls_and_tls_and_the_mail_server_s_certificate_is_checked() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = mail_server_certificate(certs.path());
    let ca_flag = ca.to_str().unwrap().to_owned();
    for mode in ["starttls", "tls"] {
        let smtp = Smtp::start_with(&[mode, cert.to_str().unwrap(), key.to_str().unwrap()]);
        // Trusting the mail server's CA: the test alert arrives, so it went over TLS.
        let data = common::OwnDisk::new();
        let server = serve(
            data.path(),
            &smtp,
            &["--smtp-security", mode, "--smtp-ca-cert", &ca_flag],
        );
        let mut b = owner(&server).await;
        set_alerts(&mut b, "owner@example.com", "")
            .await
            .expect(303);
        press_test(&mut b).await;
        let mut mails = Vec::new();
        for _ in 0..200 {
            mails = smtp.messages();
            if !mails.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !mails.is_empty(),
            "{mode}: no test email over TLS within 20s; the list: {}",
            rows(&futures_block(&mut b, "/admin/alerts"), "alerts")
                .iter()
                .map(|r| r.text())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        assert!(mails[0].contains("test alert"), "{mode}: {}", mails[0]);
        drop(server);

        // Without it the certificate is not trusted: nothing is sent, and the list says why.
        let data = common::OwnDisk::new();
        let server = serve(data.path(), &smtp, &["--smtp-security", mode]);
        let mut b = owner(&server).await;
        set_alerts(&mut b, "owner@example.com", "")
            .await
            .expect(303);
        press_test(&mut b).await;
        let failed = failed_attempt(&mut b, "email").await;
        assert!(
            failed.to_lowercase().contains("certificate"),
            "{mode}: {failed}"
        );
        assert_eq!(smtp.messages().len(), 1, "{mode}: nothing more arrived");
    }

    // A file that is not a certificate is a one-line error at start.
    let data = common::OwnDisk::new();
    let out = Command::new(common::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-host",
            "127.0.0.1",
        ])
        .args(["--smtp-from", "fealty@example.com", "--smtp-ca-cert"])
        .arg(&key)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("--smtp-ca-cert is not a PEM certificate"),
        "{err}"
    );
}

/// A new member's "email me my link": the mail goes through the alert outbox to the member alone
/// (never the owner's addresses) with the card's link; a second press within the hour is refused
/// with a readable message and sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_s_card_link_by_email_arrives_once_and_a_second_within_the_hour_is_refused() {
    let smtp = Smtp::start();
    let data = common::OwnDisk::new();
    let server = serve(data.path(), &smtp, &[]);
    let mut owner_b = owner(&server).await;
    set_alerts(&mut owner_b, "owner@example.com", "")
        .await
        .expect(303);
    let api = server.client();
    let member = api
        .create_member(&serde_json::json!({"name": "Ada Lovelace", "email": "ada@example.com"}))
        .await;
    let token = member["card_token"].as_str().unwrap().to_owned();
    let card_url = member["card_url"].as_str().unwrap().to_owned();
    let no_email = api
        .create_member(&serde_json::json!({"name": "Bo Phone", "phone": "+44 20 7946 0000"}))
        .await;

    let mut b = Browser::new(&server);
    let welcome = b.page(&format!("/c/{token}?welcome=1")).await;
    let f = form(&welcome, "email-link");
    let sent = b.submit(&f, &[]).await;
    sent.expect(303);
    let next = b.follow(&sent).await;
    assert!(
        next.text.contains("sending your card"),
        "the card page after asking: {}",
        snippet(&next.text)
    );
    let mail = wait_for(Duration::from_secs(20), "the card link mail", || {
        card_mails(&smtp).into_iter().next()
    })
    .await;
    assert!(
        mail.contains(&card_url),
        "the mail has the card link: {mail}"
    );
    let to: Vec<&str> = mail.lines().filter(|l| l.starts_with("To:")).collect();
    assert_eq!(
        to,
        ["To: ada@example.com"],
        "the mail goes to the member only"
    );

    // Again within the hour: refused on the page, and nothing more reaches the mail server.
    let again = b.submit(&f, &[]).await;
    again.expect(429);
    let error = by_id(&again.text, "email-link-error")
        .map(|e| e.text())
        .unwrap_or_default();
    assert!(
        error.contains("within the last hour"),
        "the refusal says why: {error:?} in {}",
        snippet(&again.text)
    );
    // The task delivers within a second of a queued mail; give it three.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        card_mails(&smtp).len(),
        1,
        "mails after a refused second ask"
    );

    // A member without an email is not offered it, and a hand-made post is refused.
    let token = no_email["card_token"].as_str().unwrap();
    let html = b.page(&format!("/c/{token}?welcome=1")).await;
    assert!(
        by_id(&html, "email-link").is_none(),
        "offered with no email"
    );
    b.post_raw(&format!("/c/{token}/email-link"), &[])
        .await
        .expect(409);
    assert_eq!(
        card_mails(&smtp).len(),
        1,
        "mails after a post for no email"
    );
}

/// The card-link mails received (alerts about this machine may arrive beside them).
fn card_mails(smtp: &Smtp) -> Vec<String> {
    smtp.messages()
        .into_iter()
        .filter(|m| subjects_with(std::slice::from_ref(m), "loyalty card") == 1)
        .collect()
}
