//! `/metrics`: absent unless a token is set, refused without it, and with it OpenMetrics text
//! that a real Prometheus parser reads, counting requests by route and showing the data's size.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::{Resp, TestServer};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "metrics-token-for-the-tests-0123456789";

/// One sample as the parser read it.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// Every sample of `text`, read by the Prometheus Python client's OpenMetrics parser.
fn parse(text: &str) -> Vec<Sample> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/metrics_support/parse.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test.sh installs prometheus_client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Sample {
                name: v["name"].as_str().unwrap().to_owned(),
                labels: v["labels"].as_object().unwrap().clone(),
                value: v["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k) == Some(&json!(v)))
        })
        .map(|s| s.value)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied()
}

async fn get(url: &str, token: Option<&str>) -> Resp {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    common::Api::try_send(req).await.unwrap()
}

/// Scrapes with the token and parses what comes back.
async fn scrape(server: &TestServer) -> (String, Vec<Sample>) {
    let r = get(&server.url("/metrics"), Some(TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "content-type {ct:?}"
    );
    let samples = parse(&r.text);
    (r.text, samples)
}

#[tokio::test]
async fn metrics_are_not_there_without_a_token() {
    let server = TestServer::start();
    let r = get(&server.url("/metrics"), None).await;
    r.expect_problem(404, "not_found");
    let r = get(&server.url("/metrics"), Some(TOKEN)).await;
    r.expect_problem(404, "not_found");
}

#[tokio::test]
async fn metrics_refuse_a_missing_or_wrong_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--metrics-token", TOKEN], &[]);
    get(&server.url("/metrics"), None)
        .await
        .expect_problem(401, "unauthorized");
    let wrong = format!("{TOKEN}x");
    get(&server.url("/metrics"), Some(&wrong))
        .await
        .expect_problem(401, "unauthorized");
    // An API key is not a metrics token.
    let key = server.api_key();
    get(&server.url("/metrics"), Some(&key))
        .await
        .expect_problem(401, "unauthorized");
    let r = get(&server.url("/metrics"), Some(TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_short_metrics_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path(), &["serve", "--metrics-token", "too-short"]);
    let err = common::fails(&out);
    assert!(err.contains("at least 20 characters"), "{err}");
}

#[tokio::test]
async fn metrics_count_routes_and_show_the_data_and_backups() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let target = format!("file:{}", backups.path().to_str().unwrap());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Backups and shipping once a day: after the first backup, every new entry is lag.
    let server = TestServer::start_with(
        &data,
        &[
            "--backup-to",
            &target,
            "--backup-every",
            "24h",
            "--ship-every",
            "24h",
        ],
        &[("FEALTY_METRICS_TOKEN_FILE", token_file.to_str().unwrap())],
    );
    assert!(
        server
            .wait_for_stderr("backup made", Duration::from_secs(120))
            .is_some(),
        "the first backup was not made"
    );
    let (_, before) = scrape(&server).await;
    let entries_before = value(&before, "fealty_ledger_entries", &[]).unwrap();

    let api = server.client();
    let mut ids = Vec::new();
    for name in ["Ada", "Grace", "Edsger"] {
        let m = api.create_member(&json!({ "name": name })).await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    for id in &ids[..2] {
        api.post_idem(
            &format!("/members/{id}/transactions"),
            &format!("earn-{id}"),
            &json!({"kind": "earn", "points": 5}),
        )
        .await
        .expect_status(201);
    }
    api.member(&ids[2]).await;
    api.get(&format!("/members/{}/nowhere", ids[2]))
        .await
        .expect_problem(404, "not_found");

    let (text, samples) = scrape(&server).await;
    for id in &ids {
        assert!(!text.contains(id.as_str()), "a member id is in the metrics");
    }
    let requests = |method: &str, route: &str, code: &str| {
        value(
            &samples,
            "fealty_http_requests_total",
            &[("method", method), ("route", route), ("code", code)],
        )
    };
    assert_eq!(
        requests("POST", "/api/v1/members", "201"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        requests("POST", "/api/v1/members/{id}/transactions", "201"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        requests("GET", "/api/v1/members/{id}", "200"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(requests("GET", "unmatched", "404"), Some(1.0), "{text}");
    assert_eq!(requests("GET", "/metrics", "200"), Some(1.0), "{text}");

    assert_eq!(value(&samples, "fealty_members", &[]), Some(3.0), "{text}");
    let entries = value(&samples, "fealty_ledger_entries", &[]).unwrap();
    assert_eq!(entries - entries_before, 2.0, "{text}");
    assert_eq!(
        value(&samples, "fealty_backup_shipped_lag_entries", &[]),
        Some(2.0),
        "{text}"
    );
    assert!(value(&samples, "fealty_backup_last_success_age_seconds", &[]).is_some());
    assert!(value(&samples, "fealty_database_size_bytes", &[]).unwrap() > 0.0);
    assert!(value(&samples, "process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert_eq!(value(&samples, "fealty_write_queue_depth", &[]), Some(0.0));
    // Five API writes at least (the backup and the API key may add their own).
    assert!(value(&samples, "fealty_write_duration_seconds_count", &[]).unwrap() >= 5.0);
    let batches = value(&samples, "fealty_write_batch_size_count", &[]).unwrap();
    let written = value(&samples, "fealty_write_batch_size_sum", &[]).unwrap();
    assert!(batches >= 1.0 && written >= 5.0, "{text}");
    // Without TLS there is no certificate to speak of.
    assert!(value(&samples, "fealty_tls_renewal_failing", &[]).is_none());
    assert!(
        value(
            &samples,
            "fealty_tls_certificate_expiry_timestamp_seconds",
            &[]
        )
        .is_none()
    );
    let disk_size = value(&samples, "fealty_data_disk_size_bytes", &[]).unwrap();
    let disk_free = value(&samples, "fealty_data_disk_free_bytes", &[]).unwrap();
    assert!(disk_size > 0.0 && disk_free <= disk_size, "{text}");
}
