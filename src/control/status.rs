//! `fealty status`: the facts from the running server (or from the file when none runs),
//! judged by [`concerns`], shown on one screen; exit 1 when something needs attention.

use super::Reply;
use crate::domain::disk::Space;
use crate::domain::ledger_check::CheckKind;
use crate::domain::size::show_bytes;
use crate::domain::status::{
    Backups, Certificate, Concern, Database, Facts, concerns, elapsed, most_serious, span, when,
};
use crate::service::Loyalty;
use crate::storage::inspect;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// The exit code when something needs attention (usage errors exit 2).
pub const NEEDS_ATTENTION: i32 = 1;

/// What the running server knows beside the database, for `fealty status`.
#[derive(Debug, Clone)]
pub struct Served {
    /// When the server started.
    pub started: OffsetDateTime,
    /// The backups' status, which the schedule and backups made through the socket update.
    pub backups: crate::backup::schedule::StatusCell,
    /// How often a snapshot is made; `None` when no backups are scheduled.
    pub backup_every: Option<Duration>,
    /// The certificate's status, when the server gets its own certificates.
    pub tls: Option<crate::tls::StatusCell>,
    /// How owner alerts are sent.
    pub alerts: crate::alerts::AlertsConfig,
    /// Where it listens, as URLs.
    pub listeners: Vec<String>,
    /// When it checks the ledger.
    pub verify_schedule: crate::domain::ledger_check::Schedule,
}

/// What the screen shows beside the judged facts.
struct Details {
    data_dir: PathBuf,
    size: u64,
    backup: Option<crate::backup::schedule::Status>,
    tls: Option<crate::tls::Status>,
    listeners: Option<Vec<String>>,
    alerts: Option<String>,
    /// When the next ledger check is due (a time already past: as soon as it can).
    next_check: Option<OffsetDateTime>,
}

/// The status as the running server sees it.
pub async fn through_server(loyalty: &Loyalty, served: &Served) -> Reply {
    let (facts, details) = gather(loyalty, served).await;
    render(&facts, &details)
}

/// The facts the running server judges (for `fealty status` and owner alerts alike), with what
/// the screen shows beside them.
pub async fn facts(loyalty: &Loyalty, served: &Served) -> Facts {
    gather(loyalty, served).await.0
}

async fn gather(loyalty: &Loyalty, served: &Served) -> (Facts, Details) {
    let store = loyalty.store();
    let database = store
        .read(inspect::database)
        .await
        .unwrap_or_else(|e| Database::Unreadable(e.to_string()));
    let ledger_check = match loyalty.ledger_check_state().await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "the ledger checks' state cannot be read");
            None
        }
    };
    let next_check = match (&ledger_check, loyalty.settings().await) {
        (Some(c), Ok(settings)) => Some(c.next_due(
            served.verify_schedule,
            served.started,
            &settings.time_zone.zone(),
        )),
        _ => None,
    };
    let backup = served.backups.get();
    let tls = served.tls.as_ref().map(|c| c.get().unwrap_or_default());
    let facts = Facts {
        now: crate::clock::now(),
        server_started: Some(served.started),
        database,
        backups: Some(Backups {
            every: served.backup_every,
            last_success: backup.as_ref().and_then(|b| b.last_success),
            last_error: backup.as_ref().and_then(|b| b.last_error.clone()),
            shipping_failing_since: backup.as_ref().and_then(|b| b.shipping_failing_since),
        }),
        certificate: Some(match &tls {
            None => Certificate::Off,
            Some(t) => Certificate::On {
                deployed_at: t.deployed_at,
                expires_at: t.expires_at,
                last_error: t.last_error.clone(),
                failed_at: t.failed_at,
                next_attempt: t.next_attempt,
            },
        }),
        disk: disk_space(store.data_dir()),
        ledger_check,
    };
    let details = Details {
        data_dir: store.data_dir().to_path_buf(),
        size: inspect::file_size(store.data_dir()),
        backup,
        tls,
        listeners: Some(served.listeners.clone()),
        alerts: Some(match loyalty.settings().await {
            Ok(s) => crate::alerts::describe(&s, &served.alerts),
            Err(e) => format!("unknown: {e}"),
        }),
        next_check,
    };
    (facts, details)
}

/// The status with no server running: what the file gives, read without changing it.
pub fn from_file(data_dir: &Path) -> Reply {
    let facts = Facts {
        now: crate::clock::now(),
        server_started: None,
        database: inspect::file(data_dir),
        backups: None,
        certificate: None,
        disk: disk_space(data_dir),
        ledger_check: inspect::ledger_check(data_dir),
    };
    let details = Details {
        data_dir: data_dir.to_path_buf(),
        size: inspect::file_size(data_dir),
        backup: None,
        tls: None,
        listeners: None,
        alerts: None,
        next_check: None,
    };
    render(&facts, &details)
}

/// The data's disk, or `None` (said on the screen) when it cannot be read.
fn disk_space(data_dir: &Path) -> Option<Space> {
    crate::disk::space(data_dir)
        .inspect_err(|e| tracing::warn!(error = %e, "cannot read the data directory's disk space"))
        .ok()
}

fn render(facts: &Facts, d: &Details) -> Reply {
    let mut out = format!("fealty {}\n", *crate::version::LINE);
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "{label:<13}{text}");
    };
    line(
        "server:",
        match facts.server_started {
            Some(t) => format!(
                "running since {} (up {})",
                when(t),
                span(elapsed(t, facts.now))
            ),
            None => format!("no server running on {}", d.data_dir.display()),
        },
    );
    let last_seq = match &facts.database {
        Database::Read {
            schema,
            members,
            entries,
            last_seq,
        } => {
            line(
                "database:",
                format!(
                    "schema {schema}, {}, {}, {}",
                    show_bytes(d.size),
                    count(*members, "member"),
                    count(*entries, "entry")
                ),
            );
            Some(*last_seq)
        }
        Database::NeedsRepair => {
            line(
                "database:",
                format!(
                    "{}, not shut down cleanly: the next start repairs it",
                    show_bytes(d.size)
                ),
            );
            None
        }
        Database::Unreadable(why) => {
            line("database:", format!("cannot be read: {why}"));
            None
        }
    };
    match (&facts.backups, &d.backup) {
        (None, _) => line("backups:", "unknown (no server running)".into()),
        (Some(b), status) => {
            let target = status.as_ref().map_or("", |s| s.target.as_str());
            let schedule = match b.every {
                Some(every) => format!("to {target} every {}", span(every)),
                None => "not scheduled".into(),
            };
            let last = match b.last_success {
                Some(t) => format!("last {} ({} ago)", when(t), span(elapsed(t, facts.now))),
                None => "none made yet".into(),
            };
            line("backups:", format!("{schedule}; {last}"));
            if let Some(e) = &b.last_error {
                line("", format!("last error: {e}"));
            }
        }
    }
    line(
        "disk:",
        match facts.disk {
            Some(s) => format!(
                "{} free of {} ({}%)",
                show_bytes(s.free),
                show_bytes(s.total),
                s.free_percent()
            ),
            None => "unknown (its free space cannot be read)".into(),
        },
    );
    let safe = d.backup.as_ref().and_then(|b| b.safe_seq);
    line(
        "segment lag:",
        match (last_seq, safe) {
            (Some(last), Some(safe)) => format!(
                "{} entries (ledger at {last}, safe in the backup up to {safe})",
                last.saturating_sub(safe)
            ),
            (Some(last), None) => format!("unknown (ledger at {last}, nothing in a backup yet)"),
            (None, _) => "unknown".into(),
        },
    );
    line("ledger:", ledger(facts, d.next_check));
    if let Some(at) = facts.ledger_check.as_ref().and_then(|c| c.repaired_at) {
        line(
            "",
            format!("repaired at start {}: not shut down cleanly", when(at)),
        );
    }
    line("certificate:", certificate(facts, d.tls.as_ref()));
    if let Some(Certificate::On {
        last_error: Some(e),
        failed_at,
        ..
    }) = &facts.certificate
    {
        match failed_at {
            Some(at) => line("", format!("last error at {}: {e}", when(*at))),
            None => line("", format!("last error: {e}")),
        }
    }
    line(
        "listeners:",
        match &d.listeners {
            Some(l) if !l.is_empty() => l.join(", "),
            Some(_) => "none".into(),
            None => "none (no server running)".into(),
        },
    );
    line(
        "alerts:",
        d.alerts
            .clone()
            .unwrap_or_else(|| "unknown (no server running)".into()),
    );
    let found = concerns(facts);
    attention(&mut out, &found);
    Reply {
        code: if found.is_empty() { 0 } else { NEEDS_ATTENTION },
        stdout: out,
        stderr: String::new(),
    }
}

fn certificate(facts: &Facts, tls: Option<&crate::tls::Status>) -> String {
    match (&facts.certificate, tls) {
        (None, _) => "unknown (no server running)".into(),
        (Some(Certificate::Off), _) => "off (plain HTTP)".into(),
        (
            Some(Certificate::On {
                deployed_at,
                expires_at,
                ..
            }),
            t,
        ) => {
            let mut text = match deployed_at {
                Some(at) => format!(
                    "in use since {}{}",
                    when(*at),
                    if t.is_some_and(|t| t.from_cache) {
                        " (from the cache)"
                    } else {
                        ""
                    }
                ),
                None => "none yet".into(),
            };
            match expires_at {
                Some(at) if *at <= facts.now => {
                    text.push_str(&format!("; EXPIRED {}", when(*at)));
                }
                Some(at) => text.push_str(&format!("; expires {}", when(*at))),
                None if deployed_at.is_some() => text.push_str("; expiry not read"),
                None => {}
            }
            if let Some(dns) = t.and_then(|t| t.waiting_for_dns.as_ref()) {
                text.push_str(&format!("; waiting for DNS: {dns}"));
            }
            if let Some(next) = t.and_then(|t| t.next_attempt) {
                text.push_str(&format!("; next attempt {}", when(next)));
            }
            text
        }
    }
}

/// The last scheduled check of the ledger and the next.
fn ledger(facts: &Facts, next: Option<OffsetDateTime>) -> String {
    let Some(check) = &facts.ledger_check else {
        return "unknown".into();
    };
    let mut text = match &check.last_run {
        None => "not checked yet".into(),
        Some(r) => {
            let what = match r.kind {
                CheckKind::Full => "full check",
                CheckKind::Incremental => "checked",
            };
            let outcome = match &r.problem {
                None => "all intact".into(),
                Some(p) => format!("FAILED: {p}"),
            };
            // A failed full pass stops at the damage; the ledger's end says nothing of it.
            let full_failed = r.kind == CheckKind::Full && r.problem.is_some();
            let checked = match r.entries {
                0 => format!("no new entries after entry {}", r.to_seq),
                n if full_failed => count(n, "entry"),
                n => format!(
                    "{} ({} to {})",
                    count(n, "entry"),
                    r.after_seq + 1,
                    r.to_seq
                ),
            };
            format!("{what} {}: {checked}, {outcome}", when(r.started))
        }
    };
    if let Some(next) = next {
        if next <= facts.now {
            text.push_str("; next now");
        } else {
            text.push_str(&format!("; next {}", when(next)));
        }
    }
    text
}

fn attention(out: &mut String, found: &[Concern]) {
    if found.is_empty() {
        out.push_str("\nall well\n");
        return;
    }
    out.push_str("\nneeds attention:\n");
    for c in most_serious(found) {
        let _ = writeln!(out, "  - {c}");
    }
}

fn count(n: u64, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {what}s"),
    }
}
