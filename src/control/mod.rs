//! The control socket: shell subcommands reach a running server through it, because redb lets one process open the file.
//!
//! One JSON request line in (an import's file follows it, to the end of the stream), then a
//! run of [`frame::Frame`]s out: stdout in chunks as it is produced, progress, stderr, and the
//! exit code last. An export is written from one read transaction through a bounded pipe, so
//! memory stays flat however large it is. With no server running, the same commands run against
//! the database opened directly, through the same `execute`, writing straight to stdout.

pub mod frame;
pub mod status;

use crate::domain::actor::Actor;
use crate::domain::api_key::Scope;
use crate::domain::staff::{Password, Role, Username};
use crate::member_csv::Source;
use crate::progress::{Progress, Unit};
use crate::service::{Loyalty, ServiceError};
use frame::Frame;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// The socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";

/// Largest request line accepted on the socket.
const MAX_REQUEST: u64 = 1024 * 1024;

/// Largest import file accepted on the socket; it is spooled to a file, never held in memory.
const MAX_IMPORT: u64 = 1 << 30;

/// How often a running command's progress is sent to the caller.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

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
    /// Import members from a CSV file: on the socket, its bytes follow the request line.
    Import,
    /// Back up to a target (the server takes the snapshot from its own read transaction).
    Backup {
        /// Where to.
        target: crate::backup::target::TargetSpec,
        /// Encrypt with this passphrase.
        passphrase: Option<String>,
    },
    /// One screen of the server's state; exit 1 when something needs attention.
    Status,
}

/// Where a command writes its data and progress, and the file it reads.
pub struct Io {
    /// Stdout: an export writes it on a blocking thread as rows are read, so it may block.
    pub stdout: Box<dyn Write + Send>,
    /// Progress of a long command.
    pub progress: Progress,
    /// The file an import reads.
    pub input: Option<PathBuf>,
    /// The running server's state (its backup status, which a backup made through it updates).
    pub server: Option<status::Served>,
}

/// What a command printed beside its streamed output, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Exit code for the shell.
    pub code: i32,
    /// Text for stdout, after anything written to [`Io::stdout`].
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
            | Command::Status
    )
}

/// The progress a command shows on the caller's terminal: long commands only, and an export
/// only when its data does not go to the same terminal.
pub fn progress_for(cmd: &Command) -> Progress {
    match cmd {
        Command::Verify => Progress::new("verify", Some(0), Unit::Items),
        Command::Export { .. } if !std::io::stdout().is_terminal() => {
            Progress::new("export", Some(0), Unit::Items)
        }
        Command::Import => Progress::new("import", Some(0), Unit::Bytes),
        Command::Backup { .. } => Progress::new("backup", None, Unit::Items),
        _ => Progress::hidden(),
    }
}

/// Runs a command against the scheme; the one implementation behind both paths.
pub async fn execute(loyalty: &Loyalty, cmd: Command, io: Io) -> Reply {
    let progress = io.progress.clone();
    let reply = match run(loyalty, cmd, io).await {
        Ok(reply) => reply,
        Err(ServiceError::Domain(e)) => Reply::fail(e),
        Err(e) => Reply::fail(e),
    };
    progress.finish();
    reply
}

async fn run(loyalty: &Loyalty, cmd: Command, io: Io) -> Result<Reply, ServiceError> {
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
            let v = loyalty.verify(io.progress).await?;
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
            let format = crate::export::Format::parse(&format)?;
            loyalty.export(format, io.stdout, io.progress).await?;
            Reply::ok(String::new())
        }
        Command::Import => {
            let Some(file) = io.input else {
                return Ok(Reply::fail("an import needs a file"));
            };
            let n = loyalty
                .import(Source::File(file), actor, io.progress)
                .await?;
            Reply::ok(format!("imported {n} members\n"))
        }
        Command::Backup { target, passphrase } => {
            backup(
                loyalty,
                target,
                passphrase,
                io.server.as_ref().map(|s| &s.backups),
                &io.progress,
            )
            .await
        }
        Command::Status => match &io.server {
            Some(served) => status::through_server(loyalty, served).await,
            // Without a server the file is read without opening it for writing: `fealty status`
            // does that before a database is opened (`status::from_file`).
            None => Reply::fail("the status without a server is read from the file"),
        },
    })
}

/// Makes a backup and says so. Made by the server (`served`), it shows in the server's backup
/// status (`/api/v1/status`, the dashboard).
async fn backup(
    loyalty: &Loyalty,
    target: crate::backup::target::TargetSpec,
    passphrase: Option<String>,
    served: Option<&crate::backup::schedule::StatusCell>,
    progress: &Progress,
) -> Reply {
    let secret = passphrase.map(age::secrecy::SecretString::from);
    let made = crate::backup::run(loyalty.store(), &target, secret, progress).await;
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

/// Serves the control socket until the task is dropped; an import's file is spooled in `spool`,
/// and backups made through it are recorded in the `server`'s backup status.
pub async fn serve(
    listener: tokio::net::UnixListener,
    loyalty: Loyalty,
    spool: PathBuf,
    server: status::Served,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let loyalty = loyalty.clone();
        let spool = spool.clone();
        let server = server.clone();
        tokio::spawn(async move {
            // A caller that went away needs no answer.
            let _ = answer(stream, &loyalty, &spool, server).await;
        });
    }
}

/// Reads one request, runs it, and streams the reply as frames.
async fn answer(
    stream: tokio::net::UnixStream,
    loyalty: &Loyalty,
    spool: &Path,
    server: status::Served,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let mut line = Vec::new();
    (&mut reader)
        .take(MAX_REQUEST)
        .read_until(b'\n', &mut line)
        .await?;
    let cmd = match serde_json::from_slice::<Command>(&line) {
        Ok(cmd) => cmd,
        Err(e) => {
            return send_reply(&mut write, Reply::fail(format!("bad control request: {e}"))).await;
        }
    };
    let input = match cmd {
        Command::Import => match spool_file(&mut reader, spool).await? {
            Ok(file) => Some(file),
            Err(msg) => return send_reply(&mut write, Reply::fail(msg)).await,
        },
        _ => None,
    };
    let (stdout, mut chunks) = crate::pipe::pipe();
    let progress = Progress::hidden();
    let io = Io {
        stdout: Box::new(stdout),
        progress: progress.clone(),
        input: input.as_ref().map(|f| f.to_path_buf()),
        server: Some(server),
    };
    let run = execute(loyalty, cmd, io);
    tokio::pin!(run);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut shown = None;
    let reply = loop {
        tokio::select! {
            reply = &mut run => break reply,
            Some(chunk) = chunks.recv() => write.write_all(&Frame::Stdout(chunk).encode()).await?,
            _ = tick.tick() => {
                let now = progress.snapshot();
                if shown.as_ref() != Some(&now) {
                    let (pos, total, step) = now.clone();
                    write.write_all(&Frame::Progress { pos, total, step }.encode()).await?;
                    shown = Some(now);
                }
            }
        }
    };
    // The command has ended and dropped its writer: what it queued last is still to go.
    while let Some(chunk) = chunks.recv().await {
        write.write_all(&Frame::Stdout(chunk).encode()).await?;
    }
    drop(input);
    send_reply(&mut write, reply).await
}

/// Copies the rest of the request (an import's file) to a temporary file in `dir`, removed
/// when dropped; the inner error is for the caller.
async fn spool_file(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    dir: &Path,
) -> std::io::Result<Result<tempfile::TempPath, String>> {
    let file = tempfile::Builder::new()
        .prefix(".import-")
        .tempfile_in(dir)?;
    let mut out = tokio::fs::File::from_std(file.reopen()?);
    let copied = tokio::io::copy(&mut reader.take(MAX_IMPORT + 1), &mut out).await?;
    out.flush().await?;
    if copied > MAX_IMPORT {
        return Ok(Err(format!(
            "the import file is larger than {} MiB",
            MAX_IMPORT >> 20
        )));
    }
    Ok(Ok(file.into_temp_path()))
}

async fn send_reply(
    write: &mut (impl tokio::io::AsyncWrite + Unpin),
    reply: Reply,
) -> std::io::Result<()> {
    let mut out = Vec::new();
    for (text, frame) in [
        (reply.stdout, Frame::Stdout as fn(Vec<u8>) -> Frame),
        (reply.stderr, Frame::Stderr),
    ] {
        // Replies beside the streamed output are a few lines; chunked all the same.
        for chunk in text.into_bytes().chunks(crate::pipe::CHUNK) {
            out.extend_from_slice(&frame(chunk.to_vec()).encode());
        }
    }
    out.extend_from_slice(&Frame::Exit(reply.code).encode());
    write.write_all(&out).await?;
    write.shutdown().await
}

/// Sends a command (and an import's `input` file) to the server running on `data_dir`, if one
/// is listening, and copies its reply to stdout and stderr as it arrives; the exit code.
pub fn send(data_dir: &Path, cmd: &Command, input: Option<&Path>) -> Option<Result<i32, String>> {
    let path: PathBuf = data_dir.join(SOCKET_FILE);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).ok()?;
    let progress = progress_for(cmd);
    let mut exchange = || -> std::io::Result<i32> {
        let mut req = serde_json::to_vec(cmd)?;
        req.push(b'\n');
        stream.write_all(&req)?;
        if let Some(file) = input {
            std::io::copy(&mut std::fs::File::open(file)?, &mut stream)?;
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut frames = BufReader::with_capacity(crate::pipe::CHUNK, &stream);
        let mut stdout = std::io::stdout().lock();
        while let Some(frame) = Frame::read(&mut frames)? {
            match frame {
                Frame::Stdout(b) => stdout.write_all(&b)?,
                Frame::Stderr(b) => {
                    stdout.flush()?;
                    progress.finish();
                    std::io::stderr().write_all(&b)?;
                }
                Frame::Progress { pos, total, step } => {
                    // A command that names no step keeps the caller's label ("verify").
                    if !step.is_empty() {
                        progress.step(&step);
                    }
                    progress.set_total(total);
                    progress.set(pos);
                }
                Frame::Exit(code) => {
                    stdout.flush()?;
                    progress.finish();
                    return Ok(code);
                }
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection closed before the command finished",
        ))
    };
    let result = exchange().map_err(|e| {
        format!(
            "the running server did not answer on {}: {e}",
            path.display()
        )
    });
    progress.finish();
    Some(result)
}
