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

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("cannot listen on {}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io("cannot read the bound address"))?;
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();

    let socket_path = config.data_dir.join(control::SOCKET_FILE);
    let control_listener = bind_control_socket(&socket_path)?;
    let control_task = tokio::spawn(control::serve(control_listener, loyalty.clone()));

    println!("listening on http://{addr}");
    if let Some(token) = loyalty.issue_setup_token().await? {
        println!("setup link: {base_url}/setup/{token}");
    }
    tracing::info!(%addr, data = %config.data_dir.display(), "serving");

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
    let app = http::router::build(loyalty, base_url, backup_status)
        .map_err(|e| AppError::Service(ServiceError::Internal(e.to_string())))?;
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(io("the server failed"));
    control_task.abort();
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
