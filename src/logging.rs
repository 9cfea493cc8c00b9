//! Where log lines go and how they look: text (coloured only on a terminal) or one JSON object a
//! line, filtered by target and level.

use std::io::IsTerminal as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// Reads a filter: a level (`warn`) or `target=level` pairs (`info,fealty::access=debug`).
pub fn parse_filter(raw: &str) -> Result<Targets, String> {
    raw.parse::<Targets>().map_err(|e| {
        format!("{e}; use a level (error, warn, info, debug, trace) or target=level pairs")
    })
}

/// The filter when none is set: a server logs what it does; a shell command prints only its
/// answer (or one error line).
pub fn default_filter(serving: bool) -> Targets {
    let level = if serving {
        LevelFilter::INFO
    } else {
        LevelFilter::ERROR
    };
    Targets::new().with_default(level)
}

/// Sends log lines to stderr in `format`, keeping those `filter` lets through.
pub fn init(format: LogFormat, filter: Targets) {
    // Under systemd or in a file, colour codes are noise in the journal and break grep.
    let colour = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // The builder alone stops at INFO; `filter` decides instead, so `debug` can be asked for.
        .with_max_level(LevelFilter::TRACE)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.finish().with(filter).init(),
        LogFormat::Json => builder
            .json()
            // The event's fields beside the timestamp and level, as log shippers expect.
            .flatten_event(true)
            .with_ansi(false)
            .finish()
            .with(filter)
            .init(),
    }
}
