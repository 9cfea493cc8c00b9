//! `fealty serve`.

use super::DataDir;
use crate::acme::dns::Nameservers;
use crate::acme::retry::Scale;
use crate::app::{self, Config};
use clap::Args;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Options for `fealty serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "FEALTY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public base URL for links (card URLs, the setup link), e.g. https://rewards.example.com.
    #[arg(long, env = "FEALTY_BASE_URL")]
    base_url: Option<String>,
    /// Back up on a timer to file:/path/to/dir or s3://bucket/prefix.
    #[arg(long, env = "FEALTY_BACKUP_TO")]
    backup_to: Option<String>,
    /// How often to back up: 90s, 30m, 1h, 24h.
    #[arg(long, env = "FEALTY_BACKUP_EVERY", default_value = "1h")]
    backup_every: String,
    /// How often to ship ledger changes between backups (so a lost server loses at most this much).
    #[arg(long, env = "FEALTY_SHIP_EVERY", default_value = "60s")]
    ship_every: String,
    /// How long an Idempotency-Key (and an admin form's one-time token) is remembered: a retry
    /// within this window gets the first answer; older records are swept daily.
    #[arg(long, env = "FEALTY_KEEP_IDEMPOTENCY", default_value = "30d")]
    keep_idempotency: String,
    #[command(flatten)]
    s3: super::backup::S3Args,
    #[command(flatten)]
    secret: super::backup::PassphraseArgs,
    /// Serve HTTPS for this name with a Let's Encrypt certificate (repeat for more names).
    #[arg(long = "domain", env = "FEALTY_DOMAIN", value_delimiter = ',')]
    domains: Vec<String>,
    /// Contact email for the certificate authority (required with --domain).
    #[arg(long, env = "FEALTY_ACME_EMAIL")]
    acme_email: Option<String>,
    /// Use Let's Encrypt's staging CA (test certificates).
    #[arg(long)]
    acme_staging: bool,
    /// Use this ACME directory instead of Let's Encrypt.
    #[arg(long)]
    acme_directory: Option<String>,
    /// Trust this PEM CA certificate when talking to the ACME directory.
    #[arg(long)]
    acme_ca_cert: Option<std::path::PathBuf>,
    /// For tests: ask this DNS server (on loopback) whether the names lead here, instead of
    /// the zone's own nameservers.
    #[arg(long, hide = true)]
    acme_dns_server: Option<SocketAddr>,
    /// For tests: shorten the wait between failed certificate orders by this factor (0 to 1).
    #[arg(long, hide = true)]
    acme_retry_scale: Option<String>,
    /// For tests: check the ledger every this long (e.g. 2s) instead of daily at 04:00 in the
    /// business's time zone.
    #[arg(long, hide = true)]
    verify_every: Option<String>,
    /// For tests: expire points every this long (e.g. 1s) instead of daily at 04:00.
    #[arg(long, hide = true)]
    expire_every: Option<String>,
    /// For tests: run this far ahead of the system clock (e.g. 400d), to see points expire.
    #[arg(long, hide = true)]
    clock_offset: Option<String>,
    /// Where HTTPS listens when --domain is given ([::] takes IPv4 too).
    #[arg(long, default_value = "[::]:443")]
    https_listen: SocketAddr,
    /// Where the HTTP-to-HTTPS redirect listens when --domain is given ([::] takes IPv4 too).
    #[arg(long, default_value = "[::]:80")]
    http_listen: SocketAddr,
    /// How long a client may take to send a request's header (and, on a kept-alive connection,
    /// to start the next request) before the connection is closed.
    #[arg(long, env = "FEALTY_HEADER_TIMEOUT", default_value = "10s")]
    header_timeout: String,
    /// How long a connection may pass no byte either way before it is closed.
    #[arg(long, env = "FEALTY_IDLE_TIMEOUT", default_value = "60s")]
    idle_timeout: String,
    /// How long a client may take to finish the TLS handshake.
    #[arg(long, env = "FEALTY_TLS_HANDSHAKE_TIMEOUT", default_value = "10s")]
    tls_handshake_timeout: String,
    /// Most connections open at once over all listeners; more are closed as they come (keep
    /// the service's file limit well above this).
    #[arg(long, env = "FEALTY_MAX_CONNECTIONS", default_value_t = crate::net::Limits::default().max_connections)]
    max_connections: usize,
    /// Serve Prometheus metrics at /metrics to scrapers that send this bearer token (at least
    /// 20 characters); without a token /metrics is not served.
    #[arg(long, env = "FEALTY_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Read the metrics token from the first line of this file.
    #[arg(
        long,
        env = "FEALTY_METRICS_TOKEN_FILE",
        conflicts_with = "metrics_token"
    )]
    metrics_token_file: Option<std::path::PathBuf>,
    /// Send owner alerts by email through this mail server (the recipients are set on the
    /// Settings page).
    #[arg(long, env = "FEALTY_SMTP_HOST")]
    smtp_host: Option<String>,
    /// The mail server's port (default: 587 for starttls, 465 for tls, 25 for plain).
    #[arg(long, env = "FEALTY_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// starttls, tls, or plain (plain only to a mail server on this machine).
    #[arg(long, env = "FEALTY_SMTP_SECURITY", default_value = "starttls")]
    smtp_security: String,
    /// The user to log in to the mail server as.
    #[arg(long, env = "FEALTY_SMTP_USER")]
    smtp_user: Option<String>,
    /// The mail server password (from the environment only; or use --smtp-password-file).
    #[arg(
        long,
        env = "FEALTY_SMTP_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    smtp_password: Option<String>,
    /// Read the mail server password from the first line of this file.
    #[arg(long, env = "FEALTY_SMTP_PASSWORD_FILE")]
    smtp_password_file: Option<std::path::PathBuf>,
    /// The sender address of alert emails.
    #[arg(long, env = "FEALTY_SMTP_FROM")]
    smtp_from: Option<String>,
    /// A CA certificate (PEM) to trust for the mail server, beside the public ones (a mail
    /// server with a certificate from a private CA).
    #[arg(long, env = "FEALTY_SMTP_CA_CERT")]
    smtp_ca_cert: Option<std::path::PathBuf>,
    /// For tests: how often the server's state is looked at for owner alerts (default 60s).
    #[arg(long, hide = true)]
    alerts_check_every: Option<String>,
    /// For tests: the wait after a first failed member notice (default 30s; it doubles).
    #[arg(long, hide = true)]
    notices_retry_first: Option<String>,
    /// For tests: the wait after a first failed event delivery (default 30s; it doubles).
    #[arg(long, hide = true)]
    events_retry_first: Option<String>,
    /// For tests: Etsy's API base URL (default https://api.etsy.com).
    #[arg(long, hide = true)]
    etsy_api_base: Option<String>,
    /// For tests: poll Etsy this often (e.g. 1s) instead of the owner's interval.
    #[arg(long, hide = true)]
    etsy_poll_every: Option<String>,
}

fn etsy_config(args: &ServeArgs) -> Result<crate::etsy::EtsyConfig, String> {
    let mut config = crate::etsy::EtsyConfig::default();
    if let Some(base) = &args.etsy_api_base {
        config.api_base.clone_from(base);
    }
    if let Some(raw) = &args.etsy_poll_every {
        config.poll_every = Some(
            crate::domain::interval::parse_seconds(raw, 's')
                .filter(|s| *s > 0)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| format!("--etsy-poll-every {raw:?} is not an interval like 5s"))?,
        );
    }
    Ok(config)
}

fn events_config(args: &ServeArgs) -> Result<crate::events::EventsConfig, String> {
    let mut config = crate::events::EventsConfig::default();
    if let Some(raw) = &args.events_retry_first {
        config.retry_first = crate::domain::interval::parse_seconds(raw, 's')
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("--events-retry-first {raw:?} is not an interval like 5s"))?;
    }
    Ok(config)
}

fn alerts_config(args: &ServeArgs) -> Result<crate::alerts::AlertsConfig, String> {
    use crate::alerts::smtp::{Password, Security, SmtpConfig};
    let mut config = crate::alerts::AlertsConfig::default();
    if let Some(raw) = &args.alerts_check_every {
        config.check_every = crate::domain::interval::parse_seconds(raw, 's')
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("--alerts-check-every {raw:?} is not an interval like 5s"))?;
    }
    if let Some(raw) = &args.notices_retry_first {
        config.notices.retry_first = crate::domain::interval::parse_seconds(raw, 's')
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("--notices-retry-first {raw:?} is not an interval like 1s"))?;
    }
    let Some(host) = &args.smtp_host else {
        return Ok(config);
    };
    let password = match (&args.smtp_password_file, &args.smtp_password) {
        (Some(f), _) => Some(super::secret_from_file(f, "SMTP password")?),
        (None, p) => p.clone().filter(|p| !p.is_empty()),
    };
    let login = match (&args.smtp_user, password) {
        (Some(u), Some(p)) => Some((u.clone(), Password::new(p))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(
                "--smtp-user needs a password (FEALTY_SMTP_PASSWORD or --smtp-password-file)"
                    .into(),
            );
        }
        (None, Some(_)) => return Err("an SMTP password needs --smtp-user".into()),
    };
    let from = args
        .smtp_from
        .as_deref()
        .ok_or("--smtp-host needs --smtp-from (the sender address of alert emails)")?;
    let mut smtp = SmtpConfig::new(
        host,
        args.smtp_port,
        Security::parse(&args.smtp_security)?,
        login,
        from,
    )?;
    if let Some(path) = &args.smtp_ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read --smtp-ca-cert {}: {e}", path.display()))?;
        smtp = smtp.trusting(pem)?;
    }
    config.smtp = Some(smtp);
    Ok(config)
}

fn metrics_token(args: &ServeArgs) -> Result<Option<crate::metrics::MetricsToken>, String> {
    let raw = match (&args.metrics_token, &args.metrics_token_file) {
        (_, Some(file)) => super::secret_from_file(file, "metrics token")?,
        (Some(raw), None) => raw.clone(),
        (None, None) => return Ok(None),
    };
    crate::metrics::MetricsToken::parse(&raw).map(Some)
}

fn limits(args: &ServeArgs) -> Result<crate::net::Limits, String> {
    let timeout = |flag: &str, raw: &str| {
        crate::domain::interval::parse_seconds(raw, 's')
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("--{flag} {raw:?} is not a timeout like 10s or 2m"))
    };
    if args.max_connections == 0 {
        return Err("--max-connections must be at least 1".into());
    }
    Ok(crate::net::Limits {
        header_read: timeout("header-timeout", &args.header_timeout)?,
        idle: timeout("idle-timeout", &args.idle_timeout)?,
        tls_handshake: timeout("tls-handshake-timeout", &args.tls_handshake_timeout)?,
        max_connections: args.max_connections,
    })
}

fn tls_config(args: &ServeArgs) -> Result<Option<crate::tls::TlsConfig>, String> {
    if args.domains.is_empty() {
        return Ok(None);
    }
    let email = args
        .acme_email
        .clone()
        .ok_or("--domain needs --acme-email (the certificate authority's contact for this site)")?;
    let directory = match (&args.acme_directory, args.acme_staging) {
        (Some(u), _) => crate::tls::Directory::Url(u.clone()),
        (None, true) => crate::tls::Directory::Staging,
        (None, false) => crate::tls::Directory::LetsEncrypt,
    };
    Ok(Some(crate::tls::TlsConfig {
        domains: args.domains.clone(),
        email,
        directory,
        ca_cert: args.acme_ca_cert.clone(),
        https: args.https_listen,
        http: args.http_listen,
        nameservers: args
            .acme_dns_server
            .map_or(Nameservers::Authoritative, Nameservers::Fixed),
        retry_scale: args
            .acme_retry_scale
            .as_deref()
            .map(Scale::parse)
            .transpose()?
            .unwrap_or_default(),
    }))
}

fn backup_config(args: &ServeArgs) -> Result<Option<app::BackupConfig>, String> {
    let Some(to) = &args.backup_to else {
        return Ok(None);
    };
    Ok(Some(app::BackupConfig {
        target: args.s3.target(to)?,
        every: crate::backup::schedule::parse_every("--backup-every", &args.backup_every)?,
        ship_every: crate::backup::schedule::parse_every("--ship-every", &args.ship_every)?,
        passphrase: args.secret.read()?,
    }))
}

/// Threads for blocking work (database reads, files): each holds a stack and, under glibc, may
/// get its own allocator arena, so a flood of requests must queue for them rather than start
/// hundreds (tokio's default allows 512).
const BLOCKING_THREADS: usize = 32;

/// The server's settings from its flags, each checked before anything starts.
fn config(args: ServeArgs) -> Result<Config, String> {
    if let Some(raw) = &args.clock_offset {
        crate::clock::set_offset(crate::expiry_schedule::parse_offset(raw)?);
    }
    Ok(Config {
        backup: backup_config(&args)?,
        tls: tls_config(&args)?,
        keep_idempotency: crate::sweep::parse_window(&args.keep_idempotency)?,
        limits: limits(&args)?,
        metrics_token: metrics_token(&args)?,
        alerts: alerts_config(&args)?,
        verify_schedule: crate::ledger_schedule::parse_every(
            "--verify-every",
            args.verify_every.as_deref(),
        )?,
        expiry_schedule: crate::ledger_schedule::parse_every(
            "--expire-every",
            args.expire_every.as_deref(),
        )?,
        events: events_config(&args)?,
        etsy: etsy_config(&args)?,
        data_dir: args.data.data,
        listen: args.listen,
        base_url: args.base_url,
    })
}

/// Runs the server on a multi-threaded runtime.
pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match config(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(app::serve(config));
    // The database is closed by now; a read still running on a blocking thread must not hold
    // the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
