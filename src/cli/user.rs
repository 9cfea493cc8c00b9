//! `fealty user add`.

use super::DataDir;
use crate::control::Command;
use clap::Subcommand;
use std::io::BufRead;

/// Staff account commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a staff account; the password is read from stdin.
    Add {
        #[command(flatten)]
        data: DataDir,
        /// Log-in name.
        #[arg(long)]
        username: String,
        /// owner or staff.
        #[arg(long, value_parser = ["owner", "staff"])]
        role: String,
        /// Read the password from the first line of stdin (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Builds the command, reading the password.
pub fn command(cmd: UserCmd) -> Result<(DataDir, Command), String> {
    match cmd {
        UserCmd::Add {
            data,
            username,
            role,
            password_stdin: _,
        } => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            Ok((
                data,
                Command::UserAdd {
                    username,
                    role,
                    password,
                },
            ))
        }
    }
}
