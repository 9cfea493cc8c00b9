//! The `fealty` binary: parse the command line, start logging, dispatch.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything is written: the database, backups and keys must not be readable by others.
    fealty::private_files::owner_only_umask();
    match fealty::cli::Cli::try_parse() {
        Ok(cli) => {
            cli.start_logging();
            cli.run()
        }
        // Help and version go out whole; a usage error is one line, as every failure is.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            ExitCode::from(2)
        }
    }
}
