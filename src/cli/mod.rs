//! The command line: one file per subcommand.

mod apikey;
mod backup;
mod serve;
mod user;

use crate::control::{self, Command};
use crate::logging::LogFormat;
use crate::service::Loyalty;
use crate::storage::DB_FILE;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::filter::Targets;

/// FealTY: a loyalty scheme in one binary.
#[derive(Debug, Parser)]
#[command(name = "fealty", version = crate::version::LINE.as_str(), about)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// The database's page cache (e.g. 32MiB, 256MiB): what the database may keep in memory
    /// beside the program itself, whatever the size of the data.
    #[arg(long, global = true, env = "FEALTY_CACHE_SIZE", default_value = "32MiB", value_parser = cache_size)]
    cache_size: usize,
    /// Log lines as text (coloured only on a terminal) or json (one object a line).
    #[arg(long, global = true, env = "FEALTY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What to log: a level (warn) or target=level pairs; `info,fealty::access=debug` adds one
    /// line per request. Default: info for serve, error for the other commands.
    #[arg(long, global = true, env = "FEALTY_LOG", value_parser = crate::logging::parse_filter)]
    log_level: Option<Targets>,
}

/// Reads `--cache-size`: a size with a unit, at least the smallest cache that works.
fn cache_size(raw: &str) -> Result<usize, String> {
    let bytes = crate::domain::size::parse_bytes(raw)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{raw:?} is not a size; use e.g. 64MiB or 256MiB"))?;
    let min = crate::storage::open::MIN_CACHE_BYTES;
    if bytes < min {
        return Err(format!("at least {} MiB", min >> 20));
    }
    Ok(bytes)
}

/// Where the data lives; every subcommand takes it.
#[derive(Debug, Clone, Args)]
pub struct DataDir {
    /// Data directory (database, control socket).
    #[arg(long, env = "FEALTY_DATA", default_value = "./fealty-data")]
    pub data: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server (boxed: its many settings would make every command as large).
    Serve(Box<serve::ServeArgs>),
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        cmd: user::UserCmd,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        cmd: apikey::ApikeyCmd,
    },
    /// Walk the hash chain and check every balance; exit 1 naming the first bad entry.
    Verify(DataDir),
    /// Print every member (csv) or every member and entry (json).
    Export {
        #[command(flatten)]
        data: DataDir,
        /// json or csv.
        #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
        format: String,
    },
    /// Import members from a CSV file (name,email,phone,card_number,balance): all rows or none.
    Import {
        #[command(flatten)]
        data: DataDir,
        /// The CSV file.
        file: PathBuf,
    },
    /// Back up now to a directory or an S3 bucket (also: backup list, backup prune).
    Backup(backup::BackupArgs),
    /// Restore a backup into a data directory, checking everything before it reports success.
    Restore(backup::RestoreArgs),
    /// One screen: version, database, backups, certificate, listeners; exit 1 when something
    /// needs attention (no server running, a failing or late backup, a certificate error).
    Status(DataDir),
}

impl Cli {
    /// Starts logging as the flags say.
    pub fn start_logging(&self) {
        let filter = self.log_level.clone().unwrap_or_else(|| {
            crate::logging::default_filter(matches!(self.command, Cmd::Serve(_)))
        });
        crate::logging::init(self.log_format, filter);
    }

    /// Runs the chosen subcommand.
    pub fn run(self) -> ExitCode {
        crate::storage::open::set_cache_size(self.cache_size);
        let result = match self.command {
            Cmd::Serve(args) => return serve::run(*args),
            Cmd::User { cmd } => user::command(cmd),
            Cmd::Apikey { cmd } => Ok(apikey::command(cmd)),
            Cmd::Verify(data) => Ok((data, Command::Verify)),
            Cmd::Status(data) => Ok((data, Command::Status)),
            Cmd::Export { data, format } => Ok((data, Command::Export { format })),
            Cmd::Import { data, file } => match std::fs::File::open(&file) {
                Ok(_) => return dispatch(&data, Command::Import, Some(file)),
                Err(e) => Err(format!("cannot read {}: {e}", file.display())),
            },
            Cmd::Backup(args) => match backup::backup(args) {
                Ok(backup::Plan::Dispatch(data, cmd)) => Ok((data, cmd)),
                Ok(backup::Plan::Printed(out)) => return printed(&out),
                Err(e) => Err(e),
            },
            Cmd::Restore(args) => match backup::restore(args) {
                Ok(out) => return printed(&out),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok((data, cmd)) => dispatch(&data, cmd, None),
            Err(msg) => fail(&msg),
        }
    }
}

/// The first line of the file holding a secret (`what` names it in errors); it must not be empty.
fn secret_from_file(path: &std::path::Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        return Err(format!("the {what} file {} is empty", path.display()));
    }
    Ok(line)
}

fn printed(out: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

/// Runs a command through the running server's socket, or on the database directly when none
/// runs; `input` is an import's file.
fn dispatch(data: &DataDir, cmd: Command, input: Option<PathBuf>) -> ExitCode {
    let code = match control::send(&data.data, &cmd, input.as_deref()) {
        Some(Ok(code)) => code,
        Some(Err(msg)) => return fail(&msg),
        None => match run_direct(data, cmd, input) {
            Ok(reply) => {
                let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
                let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
                reply.code
            }
            Err(msg) => return fail(&msg),
        },
    };
    u8::try_from(code).map_or(ExitCode::FAILURE, ExitCode::from)
}

fn run_direct(
    data: &DataDir,
    cmd: Command,
    input: Option<PathBuf>,
) -> Result<control::Reply, String> {
    if control::reads_only(&cmd) && !data.data.join(DB_FILE).exists() {
        return Err(format!(
            "no FealTY database in {} (pass --data or set FEALTY_DATA)",
            data.data.display()
        ));
    }
    if let Command::Status = cmd {
        // Read-only: a status must not migrate, repair or compact the file.
        return Ok(control::status::from_file(&data.data));
    }
    crate::app::prepare_data_dir(&data.data).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let store = crate::app::open_store(&data.data).map_err(|e| e.to_string())?;
    let io = control::Io {
        stdout: Box::new(std::io::BufWriter::with_capacity(
            crate::pipe::CHUNK,
            std::io::stdout(),
        )),
        progress: control::progress_for(&cmd),
        input,
        server: None,
    };
    let reply = runtime.block_on(control::execute(&Loyalty::new(store.clone()), cmd, io));
    // The answer is durable already; a failed close only costs the next open a repair.
    if let Err(e) = store.close() {
        tracing::error!(error = %e, "the database was not closed cleanly");
    }
    Ok(reply)
}
