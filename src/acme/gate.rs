//! Holds the first certificate order back until the DNS leads to this server, and says in
//! the log and on the dashboard what it waits for.

use super::dns::Nameservers;
use super::expiry::Seen;
use super::readiness::{Decision, FOREIGN_GRACE, Readiness};
use crate::tls::StatusCell;
use rustls_acme::{AccountCache, CertCache};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the nameservers are asked again while waiting.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// What the gate waits for is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Waits until every name resolves to this machine at its nameservers.
#[derive(Debug)]
pub struct DnsGate {
    names: Vec<String>,
    nameservers: Nameservers,
    readiness: Mutex<Readiness>,
    status: StatusCell,
}

impl DnsGate {
    /// A gate for `names`, asking `nameservers`, reporting to `status`.
    pub fn new(names: Vec<String>, nameservers: Nameservers, status: StatusCell) -> Self {
        Self {
            names,
            nameservers,
            readiness: Mutex::new(Readiness::default()),
            status,
        }
    }

    /// Returns once an order may be placed.
    pub async fn wait(&self) {
        let mut logged: Option<Instant> = None;
        loop {
            let findings = self.nameservers.ask(&self.names).await;
            let decision = self
                .readiness
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .decide(&findings, Instant::now());
            let why = match decision {
                Decision::Ready => {
                    if logged.is_some() {
                        tracing::info!("DNS is ready for {}", self.names.join(", "));
                    }
                    break;
                }
                Decision::ReadyDespite(why) => {
                    tracing::warn!(
                        "ordering a certificate anyway: {why} (for {} minutes now; a server \
                         behind NAT never sees its public address, so it may still be right)",
                        FOREIGN_GRACE.as_secs() / 60
                    );
                    break;
                }
                Decision::Wait(why) => why.to_string(),
            };
            if logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::info!("waiting for DNS: {why}");
                logged = Some(Instant::now());
            }
            self.status.update(|s| s.waiting_for_dns = Some(why));
            tokio::time::sleep(CHECK_EVERY).await;
        }
        self.status.update(|s| s.waiting_for_dns = None);
    }
}

/// The certificate cache, with the DNS gate in front of the account: rustls-acme loads the
/// account once per state, right before its first order (at once when no certificate is
/// cached, at renewal time when one is), so waiting there holds back exactly the first order
/// while a cached certificate is served from the start. Every certificate loaded or stored
/// has its expiry noted in `seen`.
pub struct GatedCache<C> {
    inner: C,
    gate: Arc<DnsGate>,
    seen: Seen,
}

impl<C> GatedCache<C> {
    /// `inner`, its account load waiting for `gate`, certificates' expiries noted in `seen`.
    pub fn new(inner: C, gate: Arc<DnsGate>, seen: Seen) -> Self {
        Self { inner, gate, seen }
    }
}

#[async_trait::async_trait]
impl<C: CertCache> CertCache for GatedCache<C> {
    type EC = C::EC;

    async fn load_cert(
        &self,
        domains: &[String],
        directory_url: &str,
    ) -> Result<Option<Vec<u8>>, Self::EC> {
        let loaded = self.inner.load_cert(domains, directory_url).await;
        if let Ok(Some(pem)) = &loaded {
            self.seen.note(pem);
        }
        loaded
    }

    async fn store_cert(
        &self,
        domains: &[String],
        directory_url: &str,
        cert: &[u8],
    ) -> Result<(), Self::EC> {
        // Noted first: the certificate is in use already, whether or not it can be cached.
        self.seen.note(cert);
        self.inner.store_cert(domains, directory_url, cert).await
    }
}

#[async_trait::async_trait]
impl<C: AccountCache> AccountCache for GatedCache<C> {
    type EA = C::EA;

    async fn load_account(
        &self,
        contact: &[String],
        directory_url: &str,
    ) -> Result<Option<Vec<u8>>, Self::EA> {
        self.gate.wait().await;
        self.inner.load_account(contact, directory_url).await
    }

    async fn store_account(
        &self,
        contact: &[String],
        directory_url: &str,
        account: &[u8],
    ) -> Result<(), Self::EA> {
        self.inner
            .store_account(contact, directory_url, account)
            .await
    }
}
