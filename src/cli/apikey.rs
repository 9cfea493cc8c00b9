//! `fealty apikey create|list|revoke`.

use super::DataDir;
use crate::control::Command;
use clap::Subcommand;

/// API key commands.
#[derive(Debug, Subcommand)]
pub enum ApikeyCmd {
    /// Make a key and print it (alone, once) on stdout.
    Create {
        #[command(flatten)]
        data: DataDir,
        /// A name for people, e.g. "Shopify".
        #[arg(long)]
        name: String,
        /// A scope (repeatable): members:read, members:write, points:write, rewards:write, settings:write, cards:read (card tokens and URLs in member answers). None: all.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List keys: id, name, scopes, status.
    List(DataDir),
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        /// The key's id (the 12 hex digits after fty_).
        id: String,
    },
}

/// Builds the command.
pub fn command(cmd: ApikeyCmd) -> (DataDir, Command) {
    match cmd {
        ApikeyCmd::Create { data, name, scopes } => (data, Command::ApikeyCreate { name, scopes }),
        ApikeyCmd::List(data) => (data, Command::ApikeyList),
        ApikeyCmd::Revoke { data, id } => (data, Command::ApikeyRevoke { id }),
    }
}
