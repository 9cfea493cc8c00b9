//! Ordering certificates without spending the CA's patience: wait until the DNS leads here
//! before the first order, and space the orders after one fails.

pub mod dns;
pub mod gate;
pub mod readiness;
pub mod retry;

use crate::tls::StatusCell;
use futures_util::{Stream, StreamExt as _};
use gate::DnsGate;
use rustls_acme::{EventError, EventOk, OrderError};
use std::sync::Arc;

/// An event of rustls-acme's state with the data directory's cache.
pub type Event = Result<EventOk, EventError<std::io::Error, std::io::Error>>;

/// Runs the ACME state for as long as the server runs (or certificates are never renewed),
/// recording what happens in `status`. After a failed order the state is not polled for the
/// schedule's delay, which is always longer than rustls-acme's own first waits, and the DNS is
/// checked again before the next order.
pub async fn drive(
    mut state: impl Stream<Item = Event> + Unpin,
    status: StatusCell,
    gate: Arc<DnsGate>,
    scale: retry::Scale,
) {
    let mut failures = 0u32;
    while let Some(event) = state.next().await {
        match event {
            Ok(ok) => {
                tracing::info!(event = ?ok, "certificate");
                let cached = matches!(ok, EventOk::DeployedCachedCert);
                if cached || matches!(ok, EventOk::DeployedNewCert) {
                    failures = 0;
                    status.update(|s| {
                        s.deployed_at = Some(crate::clock::now());
                        s.from_cache = cached;
                        s.last_error = None;
                        s.next_attempt = None;
                    });
                }
            }
            Err(EventError::Order(err)) => {
                failures = failures.saturating_add(1);
                let delay = scale.apply(retry::delay_after(failures));
                let said = describe(&err);
                tracing::error!(
                    error = %err,
                    "CERTIFICATE ERROR: {said}; the next order in {} s",
                    delay.as_secs()
                );
                status.update(|s| {
                    s.last_error = Some(said);
                    s.next_attempt = time::Duration::try_from(delay)
                        .ok()
                        .map(|d| crate::clock::now() + d);
                });
                tokio::time::sleep(delay).await;
                gate.wait().await;
                status.update(|s| s.next_attempt = None);
            }
            Err(err) => {
                tracing::error!(error = %err, "CERTIFICATE ERROR");
                status.update(|s| s.last_error = Some(format!("the certificate cache: {err}")));
            }
        }
    }
}

/// A failed order in words an owner can act on.
fn describe(err: &OrderError) -> String {
    match err {
        OrderError::BadAuth(_) | OrderError::BadOrder(_) | OrderError::TooManyAttemptsAuth(_) => {
            "the certificate authority could not confirm that this server answers for the name \
             (check that the DNS points here and that port 443 is open)"
                .to_owned()
        }
        OrderError::Acme(e) => format!("the certificate authority could not be asked: {e}"),
        other => other.to_string(),
    }
}
