//! Outbound events at run time: a task that posts the queued deliveries to the owner's
//! endpoints, signed, and records each attempt. It never runs on a request path: a till's earn
//! only writes the delivery into the outbox in its own transaction.

use crate::domain::events::{self, Delivery, DeliveryState, SIGNATURE_HEADER};
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
/// Most attempts under way at once.
const IN_FLIGHT: usize = 16;
/// Most attempts under way at once to one endpoint, so one that hangs leaves room for others.
const PER_ENDPOINT: usize = 4;
/// How often the outbox is looked at when nothing is due sooner: a queued event waits at most
/// this long (the look is one read of the due index's first row).
const POLL: Duration = Duration::from_millis(500);

/// What an attempt came to.
type Attempt = (u64, Delivery, Result<(), String>);

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
        let mut attempts: tokio::task::JoinSet<Attempt> = tokio::task::JoinSet::new();
        // Delivery id → endpoint id of each attempt under way.
        let mut under_way: HashMap<u64, String> = HashMap::new();
        loop {
            let wait = match fill(&loyalty, &client, &mut attempts, &mut under_way).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "outbound events: reading the outbox failed");
                    POLL
                }
            };
            tokio::select! {
                Some(done) = attempts.join_next(), if !attempts.is_empty() => {
                    // Every attempt ended by now is recorded in one write.
                    let mut ended: Vec<Attempt> = done.into_iter().collect();
                    while let Some(more) = attempts.try_join_next() {
                        ended.extend(more);
                    }
                    for a in &ended {
                        under_way.remove(&a.0);
                    }
                    if let Err(e) = record(&loyalty, &config, ended).await {
                        tracing::warn!(error = %e, "outbound events: recording attempts failed");
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Starts an attempt for each due delivery there is room for; returns how long to wait
/// before looking again.
async fn fill(
    loyalty: &Loyalty,
    client: &reqwest::Client,
    attempts: &mut tokio::task::JoinSet<Attempt>,
    under_way: &mut HashMap<u64, String>,
) -> Result<Duration, storage::StoreError> {
    let now = crate::clock::now();
    // Each endpoint's due deliveries, a few more than may be under way, so one that hangs
    // never hides another's.
    let (due, endpoints, next) = loyalty
        .store()
        .read(move |tx| {
            let endpoints = storage::events::endpoints(tx)?;
            let mut due = Vec::new();
            let mut next: Option<u128> = None;
            for e in &endpoints {
                due.extend(storage::events::due(tx, &e.id, now, 2 * PER_ENDPOINT)?);
                if let Some(at) = storage::events::next_due_ms(tx, &e.id)? {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
            Ok((due, endpoints, next))
        })
        .await?;
    let now_ms = u128::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let wait = next.map_or(POLL, |at| {
        Duration::from_millis(u64::try_from(at.saturating_sub(now_ms)).unwrap_or(u64::MAX))
    });
    let endpoints: HashMap<String, storage::events::Endpoint> =
        endpoints.into_iter().map(|e| (e.id.clone(), e)).collect();
    let mut waiting = false;
    for (id, d) in due {
        if under_way.contains_key(&id) {
            waiting = true;
            continue;
        }
        if attempts.len() >= IN_FLIGHT
            || under_way.values().filter(|e| **e == d.endpoint).count() >= PER_ENDPOINT
        {
            waiting = true;
            continue;
        }
        let Some(endpoint) = endpoints.get(&d.endpoint).cloned() else {
            continue;
        };
        let client = client.clone();
        under_way.insert(id, d.endpoint.clone());
        attempts.spawn(async move {
            let outcome = send(&client, &endpoint, &d).await;
            (id, d, outcome)
        });
    }
    if !waiting {
        return Ok(wait.min(POLL));
    }
    // Something due waits for room (or is under way): look again soon, or when one ends.
    Ok(POLL)
}

/// Records how attempts ended, in one write.
async fn record(
    loyalty: &Loyalty,
    config: &EventsConfig,
    ended: Vec<Attempt>,
) -> Result<(), storage::StoreError> {
    let at = crate::clock::now();
    let first = config.retry_first;
    let mut outcomes = Vec::with_capacity(ended.len());
    for (id, d, outcome) in ended {
        match &outcome {
            Ok(()) => {
                tracing::info!(event = %d.event_id, endpoint = %d.endpoint, "event delivered");
            }
            Err(e) => tracing::warn!(
                event = %d.event_id,
                endpoint = %d.endpoint,
                error = %e,
                "event not delivered (retried later; the error is on /admin/webhooks)"
            ),
        }
        outcomes.push((id, outcome.err()));
    }
    loyalty
        .store()
        .write(move |tx| {
            for (id, error) in outcomes {
                storage::events::update(tx, id, |d| {
                    // Given up meanwhile (its endpoint removed): it stays so.
                    if d.state == DeliveryState::Pending {
                        d.attempted(at, error, first);
                    }
                })?;
            }
            Ok(())
        })
        .await
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
