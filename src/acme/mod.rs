//! Ordering certificates without spending the CA's patience: wait until the DNS leads here
//! before the first order, and space the orders after one fails.

pub mod acceptor;
pub mod dns;
pub mod expiry;
pub mod gate;
pub mod readiness;
pub mod retry;

use crate::tls::StatusCell;
use acceptor::CurrentAcceptor;
use futures_util::StreamExt as _;
use rustls_acme::acme::AcmeError;
use rustls_acme::{AcmeState, EventError, EventOk, OrderError};

/// rustls-acme's state with the data directory's cache (behind the DNS gate).
pub type State = AcmeState<std::io::Error, std::io::Error>;

/// The acceptor serving `state`'s certificate and answering its challenges.
pub fn acceptor_of(state: &State) -> rustls_acme::axum::AxumAcceptor {
    state.axum_acceptor(state.default_rustls_config())
}

/// Runs the ACME state for as long as the server runs (or certificates are never renewed),
/// recording what happens in `status`. After a failed order nothing is asked of the CA for the
/// schedule's delay; then a `fresh` state takes over (reusing the cached account, and waiting
/// for the DNS again before its order) and `acceptor` is pointed at it. The expiry of the
/// certificate put in use comes from `seen`, which the states' cache fills.
pub async fn drive(
    first: State,
    mut fresh: impl FnMut() -> State,
    acceptor: CurrentAcceptor,
    status: StatusCell,
    seen: expiry::Seen,
    scale: retry::Scale,
) {
    let mut state = first;
    let mut failures = 0u32;
    // Whether a certificate is in use: then a fresh state takes over only once it has loaded
    // it from the cache, so HTTPS never goes without one.
    let mut serving = false;
    let mut replace_after_next = false;
    while let Some(event) = state.next().await {
        if replace_after_next {
            acceptor.replace(acceptor_of(&state));
            replace_after_next = false;
        }
        match event {
            Ok(ok) => {
                tracing::info!(event = ?ok, "certificate");
                let cached = matches!(ok, EventOk::DeployedCachedCert);
                let new = matches!(ok, EventOk::DeployedNewCert);
                // A fresh state deploying the certificate already in use changes nothing.
                if new || (cached && !serving) {
                    failures = 0;
                    serving = true;
                    status.update(|s| {
                        s.deployed_at = Some(crate::clock::now());
                        s.from_cache = cached;
                        s.last_error = None;
                        s.failed_at = None;
                        s.next_attempt = None;
                        // A new certificate reaches the cache (and `seen`) right after this.
                        s.expires_at = if cached { seen.get() } else { None };
                    });
                }
                if matches!(ok, EventOk::CertCacheStore) {
                    status.update(|s| s.expires_at = seen.get());
                }
            }
            Err(EventError::CertCacheStore(err)) => {
                tracing::error!(error = %err, "CERTIFICATE ERROR");
                status.update(|s| {
                    s.expires_at = seen.get();
                    s.failed_at = Some(crate::clock::now());
                    s.last_error = Some(format!(
                        "the new certificate is in use but could not be saved in the data \
                         directory ({err}); a restart may order it again"
                    ));
                });
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
                    s.failed_at = Some(crate::clock::now());
                    s.next_attempt = time::Duration::try_from(delay)
                        .ok()
                        .map(|d| crate::clock::now() + d);
                });
                tokio::time::sleep(delay).await;
                status.update(|s| s.next_attempt = None);
                state = fresh();
                if serving {
                    replace_after_next = true;
                } else {
                    acceptor.replace(acceptor_of(&state));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "CERTIFICATE ERROR");
                status.update(|s| {
                    s.last_error = Some(format!("the certificate cache: {err}"));
                    s.failed_at = Some(crate::clock::now());
                });
            }
        }
    }
}

/// A failed order in words an owner can act on; the log keeps the error as rustls-acme gives
/// it, whose text can hold raw dumps of the CA's objects and answers.
fn describe(err: &OrderError) -> String {
    match err {
        OrderError::BadAuth(_) | OrderError::BadOrder(_) | OrderError::TooManyAttemptsAuth(_) => {
            "the certificate authority could not confirm that this server answers for the name \
             (check that the DNS points here and that port 443 is open)"
                .to_owned()
        }
        OrderError::ProcessingTimeout(_) => {
            "the certificate authority took too long to issue the certificate".to_owned()
        }
        OrderError::Acme(e) => match io_cause(e) {
            Some(io) => format!("the certificate authority cannot be reached: {io}"),
            None if matches!(e, AcmeError::HttpRequest(_)) => {
                "the certificate authority refused the request (its answer is in the log)"
                    .to_owned()
            }
            None => format!("the certificate authority could not be asked: {e}"),
        },
        other => other.to_string(),
    }
}

/// The I/O error at the root of `err`, if that is what it comes down to.
fn io_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cause = Some(err);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_ca_is_said_without_a_debug_dump() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let said = describe(&OrderError::Acme(AcmeError::Io(refused)));
        assert_eq!(
            said,
            "the certificate authority cannot be reached: connection refused"
        );
        let said = describe(&OrderError::Acme(AcmeError::MissingHeader("replay-nonce")));
        assert_eq!(
            said,
            "the certificate authority could not be asked: acme service response is missing \
             replay-nonce header"
        );
    }
}
