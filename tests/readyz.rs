//! `/readyz` is public: it says ready or not and nothing else. The reason and the backup state
//! are for API keys at `/api/v1/status`, and credentials in an endpoint URL are shown nowhere.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::TestServer;
use std::time::{Duration, Instant};

const SECRET: &str = "pa55w0rd-in-the-url";

#[tokio::test]
async fn readyz_tells_anonymous_callers_only_ready_or_not() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: every backup fails, with the endpoint in the error.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://backup-user:{SECRET}@127.0.0.1:{dead}");
    let server = TestServer::start_with(
        dir.path(),
        &[
            "--backup-to",
            "s3://shop-bucket/nightly-prefix",
            "--s3-endpoint",
            &endpoint,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAFEALTYTESTING01"),
            ("AWS_SECRET_ACCESS_KEY", "fealty-test-secret"),
        ],
    );
    let api = server.client();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !server
        .stderr_lines()
        .iter()
        .any(|l| l.contains("BACKUP FAILED"))
    {
        assert!(Instant::now() < deadline, "the backup did not fail");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let anonymous = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(anonymous.status(), 200);
    let text = anonymous.text().await.unwrap();
    assert_eq!(text.trim(), "ready", "/readyz says more than ready: {text}");
    let r = reqwest::get(server.url("/api/v1/status")).await.unwrap();
    assert_eq!(r.status(), 401, "the status needs an API key");

    // The details are there for an API key.
    let status = api.get("/api/v1/status").await.expect_status(200);
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["database"], "writable", "{status}");
    assert_eq!(
        status["backup"]["target"], "s3://shop-bucket/nightly-prefix",
        "{status}"
    );
    assert!(
        status["backup"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach the object store")),
        "{status}"
    );

    let shown = status.to_string();
    let logged = server.stderr_lines().join("\n");
    for (what, text) in [("the status", &shown), ("the log", &logged)] {
        assert!(
            !text.contains(SECRET) && !text.contains("backup-user"),
            "{what} shows the endpoint's credentials: {text}"
        );
    }
}
