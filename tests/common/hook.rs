//! A webhook receiver on loopback, for the owner-alert tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

/// A loopback HTTP server keeping every body POSTed to /hook.
pub struct Hook {
    /// Where to POST.
    pub url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hook {
    /// Listens on a free loopback port.
    pub async fn start() -> Hook {
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = Arc::clone(&bodies);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let kept = Arc::clone(&kept);
                async move {
                    kept.lock().unwrap().push(body);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hook { url, bodies, task }
    }

    /// Every body received so far, parsed as JSON.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_str(b).expect("the webhook body is JSON"))
            .collect()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hook {
    /// The alert keys of the bodies received for `event` (`started`, `resolved`), in order.
    pub fn alerts(&self, event: &str) -> Vec<String> {
        self.bodies()
            .iter()
            .filter(|b| b["event"] == event)
            .filter_map(|b| b["alert"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits up to `secs` until `done` holds for the alert keys received for `event`, and
    /// returns them (as they are then, held or not).
    pub async fn wait_alerts(
        &self,
        event: &str,
        secs: u64,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let seen = self.alerts(event);
            if done(&seen) || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Sends the owner's alerts to the webhook at `url` (Settings → Alerts, JSON, no email), as
/// a logged-in owner.
pub async fn send_alerts_to(b: &mut super::pages::Browser, url: &str) {
    let page = b.page("/admin/settings").await;
    b.submit(
        &super::pages::form(&page, "alerts"),
        &[
            ("alert_emails", ""),
            ("alert_webhook", url),
            ("alert_webhook_format", "json"),
        ],
    )
    .await
    .expect(303);
}
