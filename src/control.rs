//! The control socket: shell subcommands reach a running server through it, because redb lets one process open the file.
//!
//! One JSON request line in, one JSON reply line out. With no server running, the same
//! commands run against the database opened directly, through the same `execute`.

use crate::domain::actor::Actor;
use crate::domain::api_key::Scope;
use crate::domain::staff::{Password, Role, Username};
use crate::service::{Loyalty, ServiceError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// The socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";

/// Largest request accepted on the socket (an import file).
const MAX_REQUEST: u64 = 64 * 1024 * 1024;

/// A shell command.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Add a staff account.
    UserAdd {
        /// Log-in name.
        username: String,
        /// owner or staff.
        role: String,
        /// The password as typed.
        password: String,
    },
    /// Make an API key.
    ApikeyCreate {
        /// A name for people.
        name: String,
        /// Scope names; empty means all.
        scopes: Vec<String>,
    },
    /// List API keys.
    ApikeyList,
    /// Revoke an API key.
    ApikeyRevoke {
        /// The key's public id.
        id: String,
    },
    /// Check the hash chain and balances.
    Verify,
    /// Print members (and, as JSON, the ledger).
    Export {
        /// json or csv.
        format: String,
    },
    /// Import members from CSV text.
    Import {
        /// The file's content.
        csv: String,
    },
    /// Back up to a target (the server takes the snapshot from its own read transaction).
    Backup {
        /// Where to.
        target: crate::backup::target::TargetSpec,
        /// Encrypt with this passphrase.
        passphrase: Option<String>,
    },
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    /// Exit code for the shell.
    pub code: i32,
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
}

impl Reply {
    fn ok(stdout: String) -> Self {
        Self {
            code: 0,
            stdout,
            stderr: String::new(),
        }
    }

    fn fail(message: impl std::fmt::Display) -> Self {
        Self {
            code: 1,
            stdout: String::new(),
            stderr: format!("error: {message}\n"),
        }
    }
}

/// Whether a command only reads (and so should not create a database).
pub fn reads_only(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::ApikeyList
            | Command::ApikeyRevoke { .. }
            | Command::Verify
            | Command::Export { .. }
            | Command::Backup { .. }
    )
}

/// Runs a command against the scheme; the one implementation behind both paths.
pub async fn execute(loyalty: &Loyalty, cmd: Command) -> Reply {
    match run(loyalty, cmd).await {
        Ok(reply) => reply,
        Err(ServiceError::Domain(e)) => Reply::fail(e),
        Err(e) => Reply::fail(e),
    }
}

async fn run(loyalty: &Loyalty, cmd: Command) -> Result<Reply, ServiceError> {
    let actor = Actor::Cli;
    Ok(match cmd {
        Command::UserAdd {
            username,
            role,
            password,
        } => {
            let user = loyalty
                .add_staff(
                    Username::parse(&username)?,
                    Role::parse(&role)?,
                    Password::parse(&password)?,
                    actor,
                )
                .await?;
            Reply::ok(format!(
                "added {} ({})\n",
                user.username.as_str(),
                if user.role == Role::Owner {
                    "owner"
                } else {
                    "staff"
                }
            ))
        }
        Command::ApikeyCreate { name, scopes } => {
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let (_, key) = loyalty.create_api_key(name, scopes, actor).await?;
            Reply::ok(format!("{key}\n"))
        }
        Command::ApikeyList => {
            let mut out = String::new();
            for k in loyalty.api_keys().await? {
                let scopes: Vec<&str> = k.scopes.iter().map(Scope::as_str).collect();
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{status}\n",
                    k.id,
                    k.name,
                    scopes.join(",")
                ));
            }
            Reply::ok(out)
        }
        Command::ApikeyRevoke { id } => {
            let k = loyalty.revoke_api_key(id, actor).await?;
            Reply::ok(format!("revoked {}\n", k.id))
        }
        Command::Verify => {
            let v = loyalty.verify().await?;
            match v.problem {
                None => Reply::ok(format!(
                    "ok: {} entries, {} members\n",
                    v.entries, v.members
                )),
                Some(p) => Reply {
                    code: 1,
                    stdout: String::new(),
                    stderr: format!("verify failed: {p}\n"),
                },
            }
        }
        Command::Export { format } => {
            let (members, ledger) = loyalty.export().await?;
            match format.as_str() {
                "json" => Reply::ok(
                    serde_json::to_string_pretty(&serde_json::json!({
                        "members": members,
                        "ledger": crate::http::api::entry::entries_json(&ledger),
                    }))
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
                        + "\n",
                ),
                "csv" => Reply::ok(
                    crate::member_csv::write(&members)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                ),
                other => Reply::fail(format!("unknown format {other:?}: use json or csv")),
            }
        }
        Command::Import { csv } => {
            let rows = crate::member_csv::parse(&csv)?;
            let n = loyalty.import(rows, actor).await?;
            Reply::ok(format!("imported {n} members\n"))
        }
        Command::Backup { target, passphrase } => backup(loyalty, target, passphrase, None).await,
    })
}

/// Makes a backup and says so. Made by the server (`served`), it shows in the server's backup
/// status (`/api/v1/status`, the dashboard) and draws nothing; made directly, it draws progress.
async fn backup(
    loyalty: &Loyalty,
    target: crate::backup::target::TargetSpec,
    passphrase: Option<String>,
    served: Option<&crate::backup::schedule::StatusCell>,
) -> Reply {
    let secret = passphrase.map(age::secrecy::SecretString::from);
    let made = crate::backup::run(loyalty.store(), &target, secret, served.is_none()).await;
    if let Some(status) = served {
        status.record_manual(&target, &made);
    }
    match made {
        Ok(m) => Reply::ok(format!(
            "backup {} {} bytes, {} members, {} entries, last seq {}\n",
            m.id, m.bytes, m.counts.members, m.counts.entries, m.counts.last_seq
        )),
        Err(e) => Reply::fail(e),
    }
}

/// Whether a server listens on `data_dir`'s control socket.
pub fn server_running(data_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(data_dir.join(SOCKET_FILE)).is_ok()
}

/// Serves the control socket until the task is dropped; backups made through it are recorded in
/// `backups`.
pub async fn serve(
    listener: tokio::net::UnixListener,
    loyalty: Loyalty,
    backups: crate::backup::schedule::StatusCell,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let loyalty = loyalty.clone();
        let backups = backups.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader =
                tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
            let reply = match reader.read_line(&mut line).await {
                Ok(_) => match serde_json::from_str::<Command>(&line) {
                    Ok(Command::Backup { target, passphrase }) => {
                        backup(&loyalty, target, passphrase, Some(&backups)).await
                    }
                    Ok(cmd) => execute(&loyalty, cmd).await,
                    Err(e) => Reply::fail(format!("bad control request: {e}")),
                },
                Err(e) => Reply::fail(format!("cannot read control request: {e}")),
            };
            let mut out = serde_json::to_vec(&reply).unwrap_or_default();
            out.push(b'\n');
            let _ = write.write_all(&out).await;
        });
    }
}

/// Sends a command to the server running on `data_dir`, if one is listening.
pub fn send(data_dir: &Path, cmd: &Command) -> Option<Result<Reply, String>> {
    let path: PathBuf = data_dir.join(SOCKET_FILE);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).ok()?;
    let mut exchange = || -> std::io::Result<Reply> {
        let mut req = serde_json::to_vec(cmd)?;
        req.push(b'\n');
        stream.write_all(&req)?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut line = String::new();
        BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
        Ok(serde_json::from_str(&line)?)
    };
    Some(exchange().map_err(|e| {
        format!(
            "the running server did not answer on {}: {e}",
            path.display()
        )
    }))
}
