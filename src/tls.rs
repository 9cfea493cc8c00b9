//! HTTPS with certificates from an ACME CA (Let's Encrypt) obtained and renewed by the binary:
//! TLS-ALPN-01 on the HTTPS port, certificates and the account cached in the data directory,
//! plain HTTP answering only with a redirect.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls_acme::AcmeConfig;
use rustls_acme::caches::DirCache;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Where certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directory {
    /// Let's Encrypt production.
    LetsEncrypt,
    /// Let's Encrypt staging (untrusted certificates, generous limits).
    Staging,
    /// Any ACME directory, e.g. a test CA.
    Url(String),
}

/// Everything `serve --domain` needs.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Names on the certificate.
    pub domains: Vec<String>,
    /// Contact address given to the CA.
    pub email: String,
    /// The CA.
    pub directory: Directory,
    /// A PEM CA certificate to trust when talking to the ACME server (for a private CA).
    pub ca_cert: Option<PathBuf>,
    /// Where HTTPS listens (443 in production).
    pub https: SocketAddr,
    /// Where the HTTP redirect listens (80 in production).
    pub http: SocketAddr,
    /// Whom to ask whether the names lead here before ordering.
    pub nameservers: crate::acme::dns::Nameservers,
    /// The retry schedule's factor (below 1 only in tests).
    pub retry_scale: crate::acme::retry::Scale,
}

/// The certificate's state, for the dashboard and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// When a certificate was last put in use (new or from the cache).
    pub deployed_at: Option<OffsetDateTime>,
    /// Whether that came from the cache.
    pub from_cache: bool,
    /// The last error from the CA or the cache, in plain words.
    pub last_error: Option<String>,
    /// When that error happened.
    pub failed_at: Option<OffsetDateTime>,
    /// What the first order waits for, while the DNS does not lead here yet.
    pub waiting_for_dns: Option<String>,
    /// When the next order goes out, after one failed.
    pub next_attempt: Option<OffsetDateTime>,
    /// When the certificate in use expires (its notAfter), once read.
    pub expires_at: Option<OffsetDateTime>,
}

/// Shared certificate status.
#[derive(Debug, Clone, Default)]
pub struct StatusCell(Arc<Mutex<Option<Status>>>);

impl StatusCell {
    /// The status, when TLS is on.
    pub fn get(&self) -> Option<Status> {
        self.0.lock().ok().and_then(|s| s.clone())
    }

    /// Changes the status, creating it if TLS had none yet.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.0.lock() {
            f(s.get_or_insert_with(Status::default));
        }
    }
}

fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{} is not a PEM certificate: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{} cannot be trusted: {e}", ca.display()))?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Serves `app` over HTTPS with ACME certificates, plus the HTTP redirect, until `shutdown`.
pub async fn serve(
    app: Router,
    tls: TlsConfig,
    data_dir: &Path,
    status: StatusCell,
    connections: &crate::net::Connections,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let https_listener =
        crate::net::bind(tls.https).map_err(|e| format!("cannot listen on {}: {e}", tls.https))?;
    let http_listener =
        crate::net::bind(tls.http).map_err(|e| format!("cannot listen on {}: {e}", tls.http))?;
    let gate = Arc::new(crate::acme::gate::DnsGate::new(
        tls.domains.clone(),
        tls.nameservers.clone(),
        status.clone(),
    ));
    let seen = crate::acme::expiry::Seen::default();
    let mut acme_state = acme_states(&tls, data_dir, gate, seen.clone())?;
    let state = acme_state();
    let acceptor = crate::acme::acceptor::CurrentAcceptor::new(crate::acme::acceptor_of(&state));
    // From the start, so the dashboard says a certificate is on its way.
    status.update(|_| {});
    let acme_task = tokio::spawn(crate::acme::drive(
        state,
        acme_state,
        acceptor.clone(),
        status,
        seen,
        tls.retry_scale,
    ));

    let https_port = tls.https.port();
    let domains = Arc::new(tls.domains.clone());
    let redirect =
        Router::new().fallback(move |uri: Uri, headers: axum::http::HeaderMap| async move {
            redirect_to_https(&uri, &headers, &domains, https_port)
        });
    let redirecting = connections
        .server(http_listener, axum_server::accept::DefaultAcceptor)
        .serve(redirect.into_make_service());
    let http_task = tokio::spawn(async move {
        if let Err(e) = redirecting.await {
            tracing::error!(error = %e, "the HTTP redirect stopped");
        }
    });

    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let app = app.layer(axum::middleware::map_response(hsts));
    let served = connections
        .server(https_listener, acceptor)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .map_err(|e| format!("the HTTPS server failed: {e}"));
    http_task.abort();
    acme_task.abort();
    served
}

/// Makes rustls-acme states for `tls`, each with the data directory's cache behind `gate`.
fn acme_states(
    tls: &TlsConfig,
    data_dir: &Path,
    gate: Arc<crate::acme::gate::DnsGate>,
    seen: crate::acme::expiry::Seen,
) -> Result<impl FnMut() -> crate::acme::State + Send + 'static, String> {
    let client = tls.ca_cert.as_deref().map(client_config).transpose()?;
    let cache_dir = data_dir.join("acme");
    let (domains, email, directory) = (
        tls.domains.clone(),
        tls.email.clone(),
        tls.directory.clone(),
    );
    Ok(move || {
        let cache = crate::acme::gate::GatedCache::new(
            DirCache::new(cache_dir.clone()),
            gate.clone(),
            seen.clone(),
        );
        let mut config = AcmeConfig::new(domains.clone())
            .contact_push(format!("mailto:{email}"))
            .cache(cache);
        config = match &directory {
            Directory::LetsEncrypt => config.directory_lets_encrypt(true),
            Directory::Staging => config.directory_lets_encrypt(false),
            Directory::Url(u) => config.directory(u),
        };
        if let Some(client) = &client {
            config = config.client_tls_config(client.clone());
        }
        config.state()
    })
}

/// The redirect names only a host this server has a certificate for: whatever else a client puts
/// in `Host` (another site, userinfo, an address literal) is replaced by the first domain.
fn redirect_to_https(
    uri: &Uri,
    headers: &axum::http::HeaderMap,
    domains: &[String],
    https_port: u16,
) -> Response {
    let Some(first) = domains.first() else {
        return (StatusCode::MISDIRECTED_REQUEST, "no domain is configured").into_response();
    };
    let asked = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port);
    let host = asked
        .and_then(|a| domains.iter().find(|d| d.eq_ignore_ascii_case(a)))
        .unwrap_or(first);
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Redirect::permanent(&format!("https://{host}{port}{path}")).into_response()
}

/// `name:port` → `name`; anything else (a bracketed IPv6 literal, an empty name) comes back as
/// given and so matches no configured domain.
fn host_without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

async fn hsts(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    res
}
