//! Progress of a long command (backup, restore, import, export, `verify`, a migration), drawn
//! on stderr only when stderr is a terminal: under systemd, cron or a pipe nothing is drawn and
//! the command prints its one result line alone.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress bar or spinner; every method is a cheap no-op when nothing is drawn.
#[derive(Clone)]
pub struct Progress(ProgressBar);

/// What the counted things are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Rows, entries or members: shown as a count.
    Items,
    /// Bytes: shown as sizes and a rate.
    Bytes,
}

impl Progress {
    /// A bar for `what`, counting to `total` (a spinner when the total is unknown).
    pub fn new(what: &str, total: Option<u64>, unit: Unit) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::hidden();
        }
        Self::drawn_to(ProgressDrawTarget::stderr(), what, total, unit)
    }

    /// Draws nothing (what a server or a test uses).
    pub fn hidden() -> Self {
        Self(ProgressBar::hidden())
    }

    fn drawn_to(target: ProgressDrawTarget, what: &str, total: Option<u64>, unit: Unit) -> Self {
        let counted = match unit {
            Unit::Items => "{human_pos}",
            Unit::Bytes => "{bytes}",
        };
        let template = match (total, unit) {
            (Some(_), Unit::Items) => {
                "{msg:>10} [{bar:30}] {human_pos}/{human_len} ({percent}%, {per_sec}, ETA {eta})"
                    .to_owned()
            }
            (Some(_), Unit::Bytes) => {
                "{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({percent}%, {bytes_per_sec}, ETA {eta})"
                    .to_owned()
            }
            (None, _) => format!("{{msg:>10}} {{spinner}} {counted} ({{elapsed}})"),
        };
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), target),
            None => ProgressBar::with_draw_target(None, target),
        };
        // Dropped part way (an error), the bar is cleared too: the error line stands alone.
        let bar = bar.with_finish(ProgressFinish::AndClear);
        bar.set_style(style);
        bar.set_message(what.to_owned());
        // A spinner moves even while one slow step (an upload, a long read) counts nothing.
        bar.enable_steady_tick(Duration::from_millis(200));
        Self(bar)
    }

    /// Counts `n` more.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// Sets the count.
    pub fn set(&self, pos: u64) {
        self.0.set_position(pos);
    }

    /// Sets (or changes) the total.
    pub fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }

    /// Names the step now running.
    pub fn step(&self, what: &str) {
        self.0.set_message(what.to_owned());
    }

    /// Removes the bar, so the result line that follows stands alone.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }

    /// The count, the total (0 when unknown) and the step: what a server sends to the
    /// terminal of the command that asked.
    pub fn snapshot(&self) -> (u64, u64, String) {
        (
            self.0.position(),
            self.0.length().unwrap_or(0),
            self.0.message(),
        )
    }

    /// Whether anything is drawn.
    pub fn is_drawn(&self) -> bool {
        !self.0.is_hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_when_stderr_is_not_a_terminal() {
        // cargo test captures stderr through a pipe.
        if !std::io::stderr().is_terminal() {
            let p = Progress::new("verify", Some(10), Unit::Items);
            assert!(!p.is_drawn());
            p.inc(5);
            p.finish();
        }
    }

    #[test]
    fn a_hidden_bar_counts_without_drawing() {
        let p = Progress::hidden();
        p.set_total(3);
        p.inc(2);
        assert_eq!(p.0.position(), 2);
        assert!(!p.is_drawn());
    }
}
