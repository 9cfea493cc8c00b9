//! Builds the application from its configuration, binds, and runs until shutdown.

use crate::control;
use crate::http;
use crate::service::{Loyalty, ServiceError};
use crate::storage::{Store, StoreError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

/// Creates the data directory readable by its owner only.
pub fn prepare_data_dir(dir: &Path) -> Result<(), AppError> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("cannot restrict {}", dir.display())))?;
    }
    Ok(())
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<(), AppError> {
    prepare_data_dir(&config.data_dir)?;
    let store = Store::open(&config.data_dir)?;
    let loyalty = Loyalty::new(store);

    // With TLS the HTTPS and redirect listeners are bound by the TLS server itself.
    let listener = match &config.tls {
        Some(_) => None,
        None => Some(
            tokio::net::TcpListener::bind(config.listen)
                .await
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
    let control_task = tokio::spawn(control::serve(control_listener, loyalty.clone()));

    println!("listening on {shown}");
    if let Some(token) = loyalty.issue_setup_token().await? {
        println!("setup link: {base_url}/setup/{token}");
    }
    tracing::info!(addr = %shown, data = %config.data_dir.display(), "serving");

    let backup_status = crate::backup::schedule::StatusCell::default();
    let backup_task = config.backup.clone().map(|b| {
        crate::backup::schedule::start(
            loyalty.store().clone(),
            b.target,
            b.every,
            b.ship_every,
            b.passphrase.map(age::secrecy::SecretString::from),
            backup_status.clone(),
        )
    });
    let sweep_task = crate::sweep::start(loyalty.clone(), config.keep_idempotency);
    let tls_status = crate::tls::StatusCell::default();
    let app = http::router::build(loyalty, base_url, backup_status, tls_status.clone())
        .map_err(|e| AppError::Service(ServiceError::Internal(e.to_string())))?;
    let served = match (listener, config.tls) {
        (Some(listener), _) => axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(io("the server failed")),
        (None, Some(tls)) => {
            crate::tls::serve(app, tls, &config.data_dir, tls_status, shutdown_signal())
                .await
                .map_err(|e| AppError::Io {
                    context: "the HTTPS server failed".into(),
                    source: std::io::Error::other(e),
                })
        }
        (None, None) => Ok(()),
    };
    control_task.abort();
    sweep_task.abort();
    if let Some(t) = backup_task {
        t.abort();
    }
    let _ = std::fs::remove_file(&socket_path);
    served
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
