//! `fealty backup`, `fealty backup list|prune` and `fealty restore`.

use super::DataDir;
use crate::backup::format::Encryption;
use crate::backup::target::{S3Options, TargetSpec};
use crate::backup::{self, Kind, Pick};
use crate::control::Command;
use crate::domain::retention::Retention;
use age::secrecy::SecretString;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;

/// S3 settings (Linode Object Storage: the endpoint is the cluster's, e.g. https://nl-ams-1.linodeobjects.com).
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// S3 endpoint URL.
    #[arg(long, env = "FEALTY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region name for signing (default us-east-1).
    #[arg(long, env = "FEALTY_S3_REGION")]
    pub s3_region: Option<String>,
    /// Address buckets as bucket.host instead of host/bucket.
    #[arg(long)]
    pub s3_virtual_host: bool,
    /// Access key id (from the environment only).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide = true)]
    pub s3_key_id: Option<String>,
    /// Secret access key (from the environment only).
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub s3_secret: Option<String>,
}

impl S3Args {
    /// The target these settings describe.
    pub fn target(&self, raw: &str) -> Result<TargetSpec, String> {
        let opts = S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            key_id: self.s3_key_id.clone(),
            secret: self.s3_secret.clone(),
            virtual_host: self.s3_virtual_host,
        };
        TargetSpec::parse(raw, &opts).map_err(|e| e.to_string())
    }
}

/// The encryption passphrase.
#[derive(Debug, Clone, Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from the first line of this file (encrypts backups with age).
    #[arg(long, env = "FEALTY_BACKUP_PASSPHRASE_FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The passphrase itself (from the environment only).
    #[arg(
        long,
        env = "FEALTY_BACKUP_PASSPHRASE",
        hide = true,
        hide_env_values = true
    )]
    pub passphrase: Option<String>,
}

impl PassphraseArgs {
    /// The passphrase, if one was given.
    pub fn read(&self) -> Result<Option<String>, String> {
        if let Some(f) = &self.passphrase_file {
            return super::secret_from_file(f, "passphrase").map(Some);
        }
        Ok(self.passphrase.clone().filter(|p| !p.is_empty()))
    }
}

/// `fealty backup`: make one now (or list and prune).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    sub: Option<BackupSub>,
    #[command(flatten)]
    data: DataDir,
    /// Where to: file:/path/to/dir or s3://bucket/prefix.
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    secret: PassphraseArgs,
}

#[derive(Debug, Subcommand)]
enum BackupSub {
    /// List the backups in a target, newest first.
    List {
        /// file:/path/to/dir or s3://bucket/prefix.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Remove old backups, keeping the newest always.
    Prune {
        /// file:/path/to/dir or s3://bucket/prefix.
        #[arg(long)]
        from: String,
        /// Keep the newest N.
        #[arg(long, default_value_t = 7)]
        keep_last: usize,
        /// Keep the newest of each of the last D days.
        #[arg(long, default_value_t = 7)]
        keep_daily: usize,
        /// Keep the newest of each of the last W weeks.
        #[arg(long, default_value_t = 8)]
        keep_weekly: usize,
        #[command(flatten)]
        s3: S3Args,
    },
}

/// `fealty restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    data: DataDir,
    /// Where from: file:/path/to/dir or s3://bucket/prefix.
    #[arg(long)]
    from: String,
    /// A backup id, or an RFC 3339 time (the newest backup made at or before it).
    #[arg(long)]
    at: Option<String>,
    /// Replace the database in a non-empty data directory (after the backup is fully checked).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    secret: PassphraseArgs,
}

/// What `fealty backup` asks for: a control command to run (here or in the server), or a result to print.
pub enum Plan {
    /// Run through the server's socket, or on the database directly.
    Dispatch(DataDir, Command),
    /// Already done locally: lines for stdout.
    Printed(String),
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(f))
        .map_err(|e| format!("cannot start: {e}"))
}

/// `backup list`: a header line, then one tab-separated line per snapshot or segment, newest
/// first; a target with segments but no snapshot says that it cannot be restored.
fn listing(all: &[backup::Described]) -> String {
    let mut out = String::from("kind\tid\tcreated\tbytes\tentries\tlast_seq\tencryption\n");
    for b in all {
        let (entries, last_seq, encryption) = match &b.header {
            Some(h) => (
                h.counts.entries.to_string(),
                h.counts.last_seq.to_string(),
                match h.encryption {
                    Encryption::None => "none",
                    Encryption::AgePassphrase => "age-passphrase",
                },
            ),
            None => ("?".into(), "?".into(), "unreadable"),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{entries}\t{last_seq}\t{encryption}\n",
            match b.kind {
                Kind::Snapshot => "snapshot",
                Kind::Segment => "segment",
            },
            b.id,
            b.created_at.format(&Rfc3339).unwrap_or_default(),
            b.bytes,
        ));
    }
    if !all.is_empty() && !all.iter().any(|b| b.kind == Kind::Snapshot) {
        out.push_str("no restorable snapshot: segments only continue a snapshot\n");
    }
    out
}

/// Works out `fealty backup [list|prune]`.
pub fn backup(args: BackupArgs) -> Result<Plan, String> {
    match args.sub {
        Some(BackupSub::List { from, s3 }) => {
            let spec = s3.target(&from)?;
            let all = block_on(backup::describe_all(&spec))?.map_err(|e| e.to_string())?;
            Ok(Plan::Printed(listing(&all)))
        }
        Some(BackupSub::Prune {
            from,
            keep_last,
            keep_daily,
            keep_weekly,
            s3,
        }) => {
            let spec = s3.target(&from)?;
            let policy = Retention {
                last: keep_last,
                daily: keep_daily,
                weekly: keep_weekly,
            };
            let gone = block_on(backup::prune(&spec, policy))?.map_err(|e| e.to_string())?;
            Ok(Plan::Printed(
                gone.iter().map(|id| format!("pruned {id}\n")).collect(),
            ))
        }
        None => {
            let to = args.to.ok_or(
                "say where to back up to: --to file:/path/to/dir or --to s3://bucket/prefix",
            )?;
            let target = args.s3.target(&to)?;
            let passphrase = args.secret.read()?;
            Ok(Plan::Dispatch(
                args.data,
                Command::Backup { target, passphrase },
            ))
        }
    }
}

/// Runs `fealty restore`.
pub fn restore(args: RestoreArgs) -> Result<String, String> {
    let spec = args.s3.target(&args.from)?;
    let pick = Pick::parse(args.at.as_deref()).map_err(|e| e.to_string())?;
    let passphrase = args.secret.read()?.map(SecretString::from);
    let done = block_on(backup::restore(
        &spec,
        pick,
        &args.data.data,
        args.force,
        passphrase,
    ))?
    .map_err(|e| e.to_string())?;
    let h = done.header;
    Ok(format!(
        "restored {}: {} members, {} entries, last seq {}, verified\n",
        h.id, h.counts.members, h.counts.entries, h.counts.last_seq
    ))
}
