//! The `fealty` binary: parse the command line, start logging, dispatch.

use clap::Parser as _;
use std::process::ExitCode;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    // Before anything is written: the database, backups and keys must not be readable by others.
    fealty::private_files::owner_only_umask();
    // The server logs what it does; a shell command prints only its answer (or one error line).
    let serving = std::env::args().nth(1).as_deref() == Some("serve");
    let default = if serving {
        LevelFilter::INFO
    } else {
        LevelFilter::ERROR
    };
    // `target=level` lists (`warn,fealty=debug`): what operators set. Per-target filters need no
    // regular-expression engine in the binary, as span and field filters would.
    let filter = std::env::var("FEALTY_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .finish()
        .with(filter)
        .init();
    match fealty::cli::Cli::try_parse() {
        Ok(cli) => cli.run(),
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
