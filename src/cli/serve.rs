//! `fealty serve`.

use super::DataDir;
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
    #[command(flatten)]
    s3: super::backup::S3Args,
    #[command(flatten)]
    secret: super::backup::PassphraseArgs,
}

fn backup_config(args: &ServeArgs) -> Result<Option<app::BackupConfig>, String> {
    let Some(to) = &args.backup_to else {
        return Ok(None);
    };
    Ok(Some(app::BackupConfig {
        target: args.s3.target(to)?,
        every: crate::backup::schedule::parse_every(&args.backup_every)?,
        ship_every: crate::backup::schedule::parse_every(&args.ship_every)?,
        passphrase: args.secret.read()?,
    }))
}

/// Runs the server on a multi-threaded runtime.
pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backup = match backup_config(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = Config {
        data_dir: args.data.data,
        listen: args.listen,
        base_url: args.base_url,
        backup,
    };
    match runtime.block_on(app::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
