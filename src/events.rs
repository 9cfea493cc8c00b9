//! Outbound events at run time: a task that posts the queued deliveries to the owner's
//! endpoints, signed, and records each attempt. It never runs on a request path: a till's earn
//! only writes the delivery into the outbox in its own transaction.

use crate::domain::events::{self, Delivery, SIGNATURE_HEADER};
use crate::service::Loyalty;
use crate::storage;
use std::collections::HashMap;
use std::time::Duration;

/// How outbound events are sent, from `fealty serve`'s flags.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// The wait after a first failed attempt; it doubles with each failure up to an hour.
    pub retry_first: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            retry_first: Duration::from_secs(30),
        }
    }
}

/// How long one attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most deliveries attempted at once (a hanging endpoint holds at most this many).
const BATCH: usize = 16;
/// How often the outbox is looked at when nothing is due sooner: a queued event waits at most
/// this long (the look is one read of the due index's first row).
const POLL: Duration = Duration::from_millis(500);

/// Starts the sender.
pub fn start(loyalty: Loyalty, config: EventsConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // A receiver that redirects is answered as a failure: a redirected POST loses its body.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("FealTY/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        loop {
            let wait = match round(&loyalty, &config, &client).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "outbound events: delivering failed");
                    POLL
                }
            };
            tokio::time::sleep(wait).await;
        }
    })
}

/// Attempts every due delivery (up to [`BATCH`] at once); returns how long to wait.
async fn round(
    loyalty: &Loyalty,
    config: &EventsConfig,
    client: &reqwest::Client,
) -> Result<Duration, storage::StoreError> {
    let now = crate::clock::now();
    let (due, endpoints) = loyalty
        .store()
        .read(move |tx| {
            let due = storage::events::due(tx, now, BATCH)?;
            let endpoints = if due.is_empty() {
                Vec::new()
            } else {
                storage::events::endpoints(tx)?
            };
            Ok((due, endpoints))
        })
        .await?;
    if due.is_empty() {
        let next = loyalty.store().read(storage::events::next_due_ms).await?;
        let now_ms = u128::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let wait = next.map_or(POLL, |at| {
            Duration::from_millis(u64::try_from(at.saturating_sub(now_ms)).unwrap_or(u64::MAX))
        });
        return Ok(wait.min(POLL));
    }
    let endpoints: HashMap<String, storage::events::Endpoint> =
        endpoints.into_iter().map(|e| (e.id.clone(), e)).collect();
    let mut set = tokio::task::JoinSet::new();
    for (id, d) in due {
        let endpoint = endpoints.get(&d.endpoint).cloned();
        let client = client.clone();
        set.spawn(async move {
            let outcome = match endpoint {
                Some(e) => Some(send(&client, &e, &d).await),
                None => None,
            };
            (id, d, outcome)
        });
    }
    while let Some(done) = set.join_next().await {
        let Ok((id, d, outcome)) = done else {
            continue;
        };
        let at = crate::clock::now();
        let first = config.retry_first;
        match &outcome {
            Some(Ok(())) => {
                tracing::info!(event = %d.event_id, endpoint = %d.endpoint, "event delivered");
            }
            Some(Err(e)) => tracing::warn!(
                event = %d.event_id,
                endpoint = %d.endpoint,
                error = %e,
                "event not delivered (retried later; the error is on /admin/webhooks)"
            ),
            None => {}
        }
        loyalty
            .store()
            .write(move |tx| {
                storage::events::update(tx, id, |d| match outcome {
                    Some(result) => d.attempted(at, result.err(), first),
                    None => d.give_up("the endpoint was removed"),
                })
            })
            .await?;
    }
    Ok(Duration::ZERO)
}

/// Posts one delivery, signed; the error in plain words (never the URL, which may hold a
/// token).
async fn send(
    client: &reqwest::Client,
    endpoint: &storage::events::Endpoint,
    d: &Delivery,
) -> Result<(), String> {
    let timestamp = crate::clock::now().unix_timestamp();
    let resp = client
        .post(endpoint.url.as_str())
        .header("content-type", "application/json")
        .header(
            SIGNATURE_HEADER,
            events::signature(&endpoint.secret, timestamp, &d.body),
        )
        .header("FealTY-Event-Id", &d.event_id)
        .header("FealTY-Event-Type", d.kind.as_str())
        .header("FealTY-Timestamp", timestamp.to_string())
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} seconds", ATTEMPT_TIMEOUT.as_secs())
            } else {
                format!(
                    "the endpoint could not be reached: {}",
                    crate::alerts::webhook::chain(&e.without_url())
                )
            }
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {status}"))
    }
}
