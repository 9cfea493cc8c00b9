//! Builds the application from its configuration, binds, and runs until shutdown.

use crate::control;
use crate::http;
use crate::service::{Loyalty, ServiceError};
use crate::storage::{Store, StoreError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Start-up work failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A socket or file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let context = context.into();
    move |source| AppError::Io { context, source }
}

/// What `fealty serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database and control socket live.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The public URL, if it differs from the listen address (behind a proxy, with TLS).
    pub base_url: Option<String>,
    /// Scheduled backups, if configured.
    pub backup: Option<BackupConfig>,
    /// HTTPS with ACME certificates, if domains are given.
    pub tls: Option<crate::tls::TlsConfig>,
    /// How long idempotency records are kept.
    pub keep_idempotency: std::time::Duration,
    /// Timeouts and the cap on open connections, for every listener.
    pub limits: crate::net::Limits,
    /// Serve `/metrics` to scrapers presenting this token; `None` leaves it out.
    pub metrics_token: Option<crate::metrics::MetricsToken>,
    /// How owner alerts are sent.
    pub alerts: crate::alerts::AlertsConfig,
    /// When the ledger is checked (daily at the quiet hour unless a test says otherwise).
    pub verify_schedule: crate::domain::ledger_check::Schedule,
    /// When points expiry runs (at start, then daily at the quiet hour unless a test says otherwise).
    pub expiry_schedule: crate::domain::ledger_check::Schedule,
    /// How outbound events are retried.
    pub events: crate::events::EventsConfig,
    /// Where Etsy is polled.
    pub etsy: crate::etsy::EtsyConfig,
}

/// Where and how often `serve` backs up.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// The destination.
    pub target: crate::backup::target::TargetSpec,
    /// The interval.
    pub every: std::time::Duration,
    /// How often changes are shipped between snapshots.
    pub ship_every: std::time::Duration,
    /// Encrypt with this passphrase.
    pub passphrase: Option<String>,
}

/// Creates the data directory, or tightens one that exists, so only its owner can read it.
pub fn prepare_data_dir(dir: &Path) -> Result<(), AppError> {
    crate::private_files::private_dir(dir)
        .map_err(io(format!("cannot make {} private", dir.display())))
}

/// Opens the store in `dir`; before migrating a file an older fealty left, a safety copy of it
/// is written beside it (see [`crate::backup::safety`]), or the open stops with nothing changed.
pub fn open_store(dir: &Path) -> Result<Store, StoreError> {
    Store::open_guarded(dir, &|tx, m| {
        let path =
            crate::backup::safety::write(dir, tx, m).map_err(|e| StoreError::NoSafetyCopy {
                from: m.from,
                to: m.to,
                reason: e.to_string(),
            })?;
        tracing::info!(
            "safety copy before migrating schema {} → {}: {}",
            m.from,
            m.to,
            path.display()
        );
        Ok(())
    })
}

/// How long requests in flight may take to finish after a stop signal; then they are cut off.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs the server until Ctrl-C or SIGTERM, then stops cleanly: stops accepting, lets requests
/// in flight finish (at most [`DRAIN`]), stops the background tasks and closes the database.
pub async fn serve(config: Config) -> Result<(), AppError> {
    prepare_data_dir(&config.data_dir)?;
    // Installed first, so a signal during start-up still ends in a clean close.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let signal = shutdown_signal();
    let signals = tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    let store = open_store(&config.data_dir)?;
    let served = run(config, store.clone(), stopping).await;
    signals.abort();
    // Closing waits for the writer thread and running reads: a blocking wait.
    let closed = tokio::task::spawn_blocking(move || store.close())
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(format!("closing failed: {e}"))));
    match closed {
        Ok(()) => tracing::info!("database closed"),
        Err(e) => {
            tracing::error!(error = %e, "the database was not closed cleanly");
            served?;
            return Err(e.into());
        }
    }
    served
}

async fn run(
    config: Config,
    store: Store,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), AppError> {
    let loyalty = Loyalty::new(store);
    let started = crate::clock::now();

    // With TLS the HTTPS and redirect listeners are bound by the TLS server itself.
    let listener = match &config.tls {
        Some(_) => None,
        None => Some(
            crate::net::bind(config.listen)
                .map_err(io(format!("cannot listen on {}", config.listen)))?,
        ),
    };
    let shown = match (&listener, &config.tls) {
        (Some(l), _) => format!(
            "http://{}",
            l.local_addr()
                .map_err(io("cannot read the bound address"))?
        ),
        (None, Some(t)) => format!("https://{}", t.https),
        (None, None) => String::new(),
    };
    let base_url = config
        .base_url
        .clone()
        .or_else(|| {
            config.tls.as_ref().and_then(|t| {
                let port = t.https.port();
                t.domains.first().map(|d| {
                    if port == 443 {
                        format!("https://{d}")
                    } else {
                        format!("https://{d}:{port}")
                    }
                })
            })
        })
        .unwrap_or_else(|| shown.clone())
        .trim_end_matches('/')
        .to_owned();

    let socket_path = config.data_dir.join(control::SOCKET_FILE);
    let control_listener = bind_control_socket(&socket_path)?;
    let backup_status = crate::backup::schedule::StatusCell::default();
    let tls_status = crate::tls::StatusCell::default();
    let served_state = control::status::Served {
        started,
        backups: backup_status.clone(),
        backup_every: config.backup.as_ref().map(|b| b.every),
        tls: config.tls.as_ref().map(|_| tls_status.clone()),
        alerts: config.alerts.clone(),
        listeners: match &config.tls {
            Some(t) => vec![
                format!("https://{}", t.https),
                format!("http://{} (redirects to HTTPS)", t.http),
            ],
            None => vec![shown.clone()],
        },
        verify_schedule: config.verify_schedule,
    };
    let control_task = tokio::spawn(control::serve(
        control_listener,
        loyalty.clone(),
        config.data_dir.clone(),
        served_state.clone(),
    ));

    println!("listening on {shown}");
    if let Some(token) = loyalty.issue_setup_token().await? {
        println!("setup link: {base_url}/setup/{token}");
    }
    tracing::info!(addr = %shown, data = %config.data_dir.display(), "serving");

    // Fired once the last request has been answered, so the last shipment holds every write
    // that was acknowledged.
    let (requests_done, last_ship) = tokio::sync::oneshot::channel::<()>();
    let backup_task = config.backup.clone().map(|b| {
        crate::backup::schedule::start(
            loyalty.store().clone(),
            b.target,
            b.every,
            b.ship_every,
            b.passphrase.map(age::secrecy::SecretString::from),
            backup_status.clone(),
            async move {
                let _ = last_ship.await;
            },
        )
    });
    let sweep_task = crate::sweep::start(loyalty.clone(), config.keep_idempotency);
    let wake = crate::alerts::Wake::default();
    // Without a mail server no member notice is queued (they would go out months late).
    crate::storage::notices::set_mail_server(config.alerts.smtp.is_some());
    let mut alerts_config = config.alerts.clone();
    alerts_config.notices.base_url = base_url.clone();
    let alerts_task =
        crate::alerts::start(loyalty.clone(), served_state, alerts_config, wake.clone());
    let check_task =
        crate::ledger_schedule::start(loyalty.clone(), config.verify_schedule, started);
    let expiry_task = crate::expiry_schedule::start(loyalty.clone(), config.expiry_schedule);
    let events_task = crate::events::start(loyalty.clone(), config.events.clone());
    let etsy_task = crate::etsy::start(loyalty.clone(), config.etsy.clone());
    let app = http::router::build(
        loyalty,
        base_url,
        backup_status,
        tls_status.clone(),
        config.metrics_token.clone(),
        (config.alerts.clone(), wake),
    )
    .map_err(|e| AppError::Service(ServiceError::Internal(e.to_string())))?;
    let connections = crate::net::Connections::new(config.limits);
    let served = match (listener, config.tls) {
        (Some(listener), _) => {
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            let stopping = stopping.clone();
            tokio::spawn(async move {
                stopped(stopping).await;
                stopper.graceful_shutdown(Some(DRAIN));
            });
            connections
                .server(listener, axum_server::accept::DefaultAcceptor)
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .map_err(io("the server failed"))
        }
        (None, Some(tls)) => crate::tls::serve(
            app,
            tls,
            &config.data_dir,
            tls_status,
            &connections,
            stopped(stopping),
        )
        .await
        .map_err(|e| AppError::Io {
            context: "the HTTPS server failed".into(),
            source: std::io::Error::other(e),
        }),
        (None, None) => Ok(()),
    };
    // Their work in progress is cut off here; what they wrote is durable or was never acknowledged.
    control_task.abort();
    let _ = control_task.await;
    sweep_task.abort();
    let _ = sweep_task.await;
    // A delivery cut off here is still pending in the outbox and is sent after the restart.
    alerts_task.abort();
    let _ = alerts_task.await;
    check_task.abort();
    let _ = check_task.await;
    expiry_task.abort();
    let _ = expiry_task.await;
    // Likewise for outbound events: an attempt cut off is made again after the restart.
    events_task.abort();
    let _ = events_task.await;
    // A poll cut off here wrote each page with its cursor, or nothing: it resumes from there.
    etsy_task.abort();
    let _ = etsy_task.await;
    let _ = requests_done.send(());
    if let Some(mut t) = backup_task {
        // The task ships the last changes and ends; a little beyond its own bound, it is cut off.
        let bound = crate::backup::schedule::FINAL_SHIP + Duration::from_secs(5);
        if tokio::time::timeout(bound, &mut t).await.is_err() {
            t.abort();
            let _ = t.await;
        }
    }
    let _ = std::fs::remove_file(&socket_path);
    served
}

/// Resolves once the stop signal has come.
async fn stopped(mut stopping: tokio::sync::watch::Receiver<bool>) {
    // A closed channel means the signal task is gone: stop rather than run unstoppable.
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn bind_control_socket(path: &Path) -> Result<tokio::net::UnixListener, AppError> {
    use std::os::unix::fs::PermissionsExt;
    // A socket file left by a killed server would block the bind; the database lock already
    // proved no other server runs on this directory.
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).map_err(io(format!(
        "cannot open the control socket {}",
        path.display()
    )))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("cannot restrict the control socket"))?;
    Ok(listener)
}

/// Ctrl-C or SIGTERM; the handlers are installed when this is called, not when first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(int) => {},
            () = wait(term) => {},
        }
        tracing::info!("shutting down");
    }
}
