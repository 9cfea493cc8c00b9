//! What `fealty status` judges: the facts it gathered, and which of them need the owner's
//! attention (its exit code), kept apart from where the facts come from and how they are shown.

use super::disk::{CRITICAL_PERCENT, LOW_PERCENT, Space};
use super::ledger_check::CheckState;
use super::size::show_bytes;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How close to its expiry a certificate needs attention.
pub const CERTIFICATE_WARN: time::Duration = time::Duration::days(14);

/// How long shipping changes may keep failing before it is a concern: a few failed shipments
/// are a blip the next one makes good; this many minutes of them are changes at risk.
pub const SHIPPING_STUCK: Duration = Duration::from_secs(10 * 60);
/// How long the server may run without a ledger check before that needs attention.
pub const UNCHECKED: Duration = Duration::from_secs(2 * 86_400);

/// The facts `fealty status` judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// When they were gathered.
    pub now: OffsetDateTime,
    /// When the running server started; `None` when no server runs.
    pub server_started: Option<OffsetDateTime>,
    /// The database file.
    pub database: Database,
    /// Backups, as the running server knows them (`None` without one).
    pub backups: Option<Backups>,
    /// The certificate, as the running server knows it (`None` without one).
    pub certificate: Option<Certificate>,
    /// The space of the filesystem holding the data (`None` when it could not be read).
    pub disk: Option<Space>,
    /// The server's scheduled ledger checks and any repair a start needed, as the database
    /// records them (`None` when they could not be read).
    pub ledger_check: Option<CheckState>,
}

/// The database file's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// Read: its schema and counts.
    Read {
        /// The schema version recorded in the file.
        schema: u64,
        /// Members.
        members: u64,
        /// Ledger entries.
        entries: u64,
        /// The last ledger sequence (0 for none).
        last_seq: u64,
    },
    /// Not shut down cleanly: the next start repairs it.
    NeedsRepair,
    /// It could not be read (why, in plain words).
    Unreadable(String),
}

/// Backups as the running server knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backups {
    /// How often a snapshot is made; `None` when no backups are scheduled.
    pub every: Option<Duration>,
    /// When the last backup succeeded.
    pub last_success: Option<OffsetDateTime>,
    /// The last failure, cleared by a success.
    pub last_error: Option<String>,
    /// Since when shipping changes has failed without a shipment (or snapshot) since.
    pub shipping_failing_since: Option<OffsetDateTime>,
}

/// The certificate as the running server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certificate {
    /// The server speaks plain HTTP (TLS is ended elsewhere, or not at all).
    Off,
    /// The server gets its own certificates.
    On {
        /// When a certificate was last put in use.
        deployed_at: Option<OffsetDateTime>,
        /// When the certificate in use expires, once the server reads it.
        expires_at: Option<OffsetDateTime>,
        /// The last error, in plain words.
        last_error: Option<String>,
        /// When that error happened.
        failed_at: Option<OffsetDateTime>,
        /// When the next order goes out, after a failed one.
        next_attempt: Option<OffsetDateTime>,
    },
}

/// One thing that needs the owner's attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concern {
    /// No server answers on the data directory.
    ServerDown,
    /// The file was not shut down cleanly.
    DatabaseNeedsRepair,
    /// The file could not be read.
    DatabaseUnreadable(String),
    /// No backups are scheduled: the data lives in one place.
    NoBackups,
    /// The last backup attempt failed.
    BackupFailing(String),
    /// No snapshot has been made although one was due.
    NoSnapshot,
    /// The last snapshot is older than twice the interval.
    BackupStale {
        /// Its age.
        age: Duration,
        /// The interval.
        every: Duration,
    },
    /// Shipping changes has failed for more than [`SHIPPING_STUCK`].
    ShippingStuck {
        /// For how long.
        for_: Duration,
        /// The last error.
        why: String,
    },
    /// The last certificate renewal or load failed.
    CertificateError(String),
    /// TLS is on but no certificate is in use.
    NoCertificate,
    /// The certificate expires within [`CERTIFICATE_WARN`] (or has expired: then
    /// [`Concern::CertificateExpired`] is there too).
    CertificateExpiring {
        /// When.
        at: OffsetDateTime,
    },
    /// The certificate in use has expired: browsers refuse the site.
    CertificateExpired {
        /// When it expired.
        at: OffsetDateTime,
    },
    /// Less than [`LOW_PERCENT`] of the data's disk is free.
    DiskLow(Space),
    /// Less than [`CRITICAL_PERCENT`] of the data's disk is free ([`Concern::DiskLow`] is there
    /// too): writes will soon fail.
    DiskCritical(Space),
    /// The last scheduled ledger check found damage (what, in plain words).
    LedgerBroken(String),
    /// The scheduled ledger check has not run for two days although the server was up.
    LedgerUnchecked {
        /// When the last check ran (`None`: never).
        last: Option<OffsetDateTime>,
    },
    /// A start found the file not shut down cleanly and repaired it; a full check that finds
    /// everything intact clears this.
    DatabaseRepaired {
        /// When the repair was made.
        at: OffsetDateTime,
    },
}

impl std::fmt::Display for Concern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ServerDown => write!(f, "no server is running: nothing is served or backed up"),
            Self::DatabaseNeedsRepair => write!(
                f,
                "the database was not shut down cleanly; the next start repairs it"
            ),
            Self::DatabaseUnreadable(why) => write!(f, "the database cannot be read: {why}"),
            Self::NoBackups => write!(
                f,
                "no backups are scheduled: the data is in one place only (serve --backup-to)"
            ),
            Self::BackupFailing(why) => write!(f, "backups are failing: {why}"),
            Self::NoSnapshot => write!(f, "no backup has been made yet although one was due"),
            Self::BackupStale { age, every } => write!(
                f,
                "the last backup is {} old, more than twice the interval ({})",
                span(*age),
                span(*every)
            ),
            Self::ShippingStuck { for_, why } => write!(
                f,
                "shipping changes to the backup target has failed for {}: {why}",
                span(*for_)
            ),
            Self::CertificateError(why) => write!(f, "the certificate: {why}"),
            Self::NoCertificate => write!(f, "no certificate is in use yet: browsers get nothing"),
            Self::CertificateExpiring { at } => write!(
                f,
                "the certificate expires at {}, and has not been renewed yet",
                when(*at)
            ),
            Self::CertificateExpired { at } => write!(
                f,
                "the certificate expired at {}: browsers refuse the site until a new one is in use",
                when(*at)
            ),
            Self::DiskLow(space) => write!(
                f,
                "the disk holding the data has {} free of {} ({}%, under {LOW_PERCENT}%): \
                 free some space or make the disk bigger",
                show_bytes(space.free),
                show_bytes(space.total),
                space.free_percent()
            ),
            Self::DiskCritical(space) => write!(
                f,
                "the disk holding the data is almost full: {} free of {} ({}%, under \
                 {CRITICAL_PERCENT}%); once it is full nothing can be saved",
                show_bytes(space.free),
                show_bytes(space.total),
                space.free_percent()
            ),
            Self::LedgerBroken(why) => write!(
                f,
                "the ledger check failed: {why}; run `fealty verify`, and restore from a backup made before the damage"
            ),
            Self::LedgerUnchecked { last: Some(at) } => write!(
                f,
                "the ledger has not been checked since {}; the server log says why",
                at.replace_millisecond(0).unwrap_or(*at)
            ),
            Self::LedgerUnchecked { last: None } => write!(
                f,
                "the ledger has never been checked although the server has run for two days; the server log says why"
            ),
            Self::DatabaseRepaired { at } => write!(
                f,
                "the database was not shut down cleanly and was repaired at start ({}); the next full ledger check confirms nothing was lost",
                at.replace_millisecond(0).unwrap_or(*at)
            ),
        }
    }
}

impl Concern {
    /// Whether this is a more serious level of `other`'s condition (expired over expiring,
    /// under 5% over under 15%), so that a screen need not say both.
    fn outranks(&self, other: &Concern) -> bool {
        matches!(
            (self, other),
            (Self::DiskCritical(_), Self::DiskLow(_))
                | (
                    Self::CertificateExpired { .. },
                    Self::CertificateExpiring { .. }
                )
        )
    }
}

/// The concerns a person reads: each condition at its most serious level only. [`concerns`]
/// keeps every level, so that an alert for "under 15%" does not clear when "under 5%" starts.
pub fn most_serious(found: &[Concern]) -> Vec<&Concern> {
    found
        .iter()
        .filter(|c| !found.iter().any(|o| o.outranks(c)))
        .collect()
}

/// Whether the certificate in use has expired by `now`.
pub fn certificate_expired(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

/// What needs attention, most serious first; empty when all is well.
pub fn concerns(facts: &Facts) -> Vec<Concern> {
    let mut out = Vec::new();
    if facts.server_started.is_none() {
        out.push(Concern::ServerDown);
    }
    match &facts.database {
        Database::Read { .. } => {}
        Database::NeedsRepair => out.push(Concern::DatabaseNeedsRepair),
        Database::Unreadable(why) => out.push(Concern::DatabaseUnreadable(why.clone())),
    }
    if let Some(space) = facts.disk {
        if space.under(CRITICAL_PERCENT) {
            out.push(Concern::DiskCritical(space));
        }
        if space.under(LOW_PERCENT) {
            out.push(Concern::DiskLow(space));
        }
    }
    if let Some(check) = &facts.ledger_check {
        if let Some(why) = check.last_run.as_ref().and_then(|r| r.problem.clone()) {
            out.push(Concern::LedgerBroken(why));
        }
        if let Some(started) = facts.server_started {
            let last = check.last_run.as_ref().map(|r| r.started);
            // A day between checks, and one more for a slow or delayed one.
            let since = last.map_or(started, |l| l.max(started));
            if elapsed(since, facts.now) > UNCHECKED {
                out.push(Concern::LedgerUnchecked { last });
            }
        }
        if let Some(at) = check.repaired_at {
            out.push(Concern::DatabaseRepaired { at });
        }
    }
    if let (Some(b), Some(started)) = (&facts.backups, facts.server_started) {
        out.extend(backup_concerns(b, started, facts.now));
    }
    if let Some(Certificate::On {
        deployed_at,
        expires_at,
        last_error,
        ..
    }) = &facts.certificate
    {
        if let Some(why) = last_error {
            out.push(Concern::CertificateError(why.clone()));
        }
        if deployed_at.is_none() {
            out.push(Concern::NoCertificate);
        }
        if certificate_expired(*expires_at, facts.now)
            && let Some(at) = expires_at
        {
            out.push(Concern::CertificateExpired { at: *at });
        }
        if let Some(at) = expires_at
            && *at - facts.now < CERTIFICATE_WARN
        {
            out.push(Concern::CertificateExpiring { at: *at });
        }
    }
    out
}

fn backup_concerns(b: &Backups, started: OffsetDateTime, now: OffsetDateTime) -> Vec<Concern> {
    let mut out = Vec::new();
    let Some(every) = b.every else {
        out.push(Concern::NoBackups);
        return out;
    };
    if let Some(why) = &b.last_error {
        out.push(Concern::BackupFailing(why.clone()));
    }
    let due = every.saturating_mul(2);
    match b.last_success {
        Some(t) => {
            let age = elapsed(t, now);
            if age > due {
                out.push(Concern::BackupStale { age, every });
            }
        }
        // The first snapshot is made at start; a slow one is not yet a concern, a failed one is.
        None if b.last_error.is_some() || elapsed(started, now) > due => {
            out.push(Concern::NoSnapshot);
        }
        None => {}
    }
    if let (Some(since), Some(why)) = (b.shipping_failing_since, &b.last_error) {
        let for_ = elapsed(since, now);
        if for_ > SHIPPING_STUCK {
            out.push(Concern::ShippingStuck {
                for_,
                why: why.clone(),
            });
        }
    }
    out
}

/// The time from `then` to `now` (zero if `then` is later: clocks step).
pub fn elapsed(then: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - then).unwrap_or(Duration::ZERO)
}

/// A time as the screen and alerts show it: RFC 3339 in UTC, to the second.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.replace_millisecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A duration as people read it: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (big, small) = match s {
        0..60 => return format!("{s}s"),
        60..3600 => return format!("{}m", s / 60),
        3600..86400 => ((s / 3600, 'h'), (s % 3600 / 60, 'm')),
        _ => ((s / 86400, 'd'), (s % 86400 / 3600, 'h')),
    };
    match small {
        (0, _) => format!("{}{}", big.0, big.1),
        _ => format!("{}{} {}{}", big.0, big.1, small.0, small.1),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 03:00 UTC);
    const HOUR: Duration = Duration::from_secs(3600);

    fn healthy() -> Facts {
        Facts {
            now: NOW,
            server_started: Some(NOW - time::Duration::days(1)),
            database: Database::Read {
                schema: 5,
                members: 3,
                entries: 10,
                last_seq: 10,
            },
            backups: Some(Backups {
                every: Some(HOUR),
                last_success: Some(NOW - time::Duration::minutes(30)),
                last_error: None,
                shipping_failing_since: None,
            }),
            certificate: Some(Certificate::On {
                deployed_at: Some(NOW - time::Duration::days(3)),
                expires_at: Some(NOW + time::Duration::days(60)),
                last_error: None,
                failed_at: None,
                next_attempt: None,
            }),
            disk: Some(Space {
                free: 600,
                total: 1000,
            }),
            ledger_check: Some(CheckState::default()),
        }
    }

    fn backups(f: &mut Facts) -> &mut Backups {
        f.backups.as_mut().expect("set in healthy()")
    }

    #[test]
    fn a_healthy_server_needs_nothing() {
        assert_eq!(concerns(&healthy()), vec![]);
        let mut plain = healthy();
        plain.certificate = Some(Certificate::Off);
        assert_eq!(concerns(&plain), vec![]);
    }

    #[test]
    fn no_server_is_a_concern_and_unknown_backups_are_not_guessed() {
        let mut f = healthy();
        f.server_started = None;
        f.backups = None;
        f.certificate = None;
        assert_eq!(concerns(&f), vec![Concern::ServerDown]);
    }

    #[test]
    fn a_database_that_needs_repair_is_a_concern() {
        let mut f = healthy();
        f.database = Database::NeedsRepair;
        assert_eq!(concerns(&f), vec![Concern::DatabaseNeedsRepair]);
    }

    #[test]
    fn a_failing_backup_is_named_with_its_error() {
        let mut f = healthy();
        backups(&mut f).last_error = Some("the target is not writable".into());
        assert_eq!(
            concerns(&f),
            vec![Concern::BackupFailing("the target is not writable".into())]
        );
    }

    #[test]
    fn a_backup_older_than_twice_the_interval_is_stale() {
        let mut f = healthy();
        backups(&mut f).last_success = Some(NOW - time::Duration::minutes(119));
        assert_eq!(concerns(&f), vec![]);
        backups(&mut f).last_success = Some(NOW - time::Duration::minutes(121));
        assert_eq!(
            concerns(&f),
            vec![Concern::BackupStale {
                age: Duration::from_secs(121 * 60),
                every: HOUR
            }]
        );
    }

    #[test]
    fn no_snapshot_is_a_concern_once_one_was_due_or_failed() {
        let mut f = healthy();
        backups(&mut f).last_success = None;
        f.server_started = Some(NOW - time::Duration::minutes(5));
        assert_eq!(concerns(&f), vec![], "the first one is still being made");
        f.server_started = Some(NOW - time::Duration::hours(3));
        assert_eq!(concerns(&f), vec![Concern::NoSnapshot]);
        f.server_started = Some(NOW - time::Duration::minutes(5));
        backups(&mut f).last_error = Some("denied".into());
        assert_eq!(
            concerns(&f),
            vec![Concern::BackupFailing("denied".into()), Concern::NoSnapshot]
        );
    }

    #[test]
    fn shipping_is_stuck_after_ten_minutes_of_failures() {
        let mut f = healthy();
        backups(&mut f).last_error = Some("connection refused".into());
        backups(&mut f).shipping_failing_since = Some(NOW - time::Duration::minutes(9));
        assert_eq!(
            concerns(&f),
            vec![Concern::BackupFailing("connection refused".into())]
        );
        backups(&mut f).shipping_failing_since = Some(NOW - time::Duration::minutes(11));
        assert_eq!(
            concerns(&f)[1],
            Concern::ShippingStuck {
                for_: Duration::from_secs(11 * 60),
                why: "connection refused".into()
            }
        );
    }

    #[test]
    fn unscheduled_backups_are_a_concern() {
        let mut f = healthy();
        backups(&mut f).every = None;
        assert_eq!(concerns(&f), vec![Concern::NoBackups]);
    }

    #[test]
    fn certificate_errors_absence_and_expiry_are_concerns() {
        let mut f = healthy();
        f.certificate = Some(Certificate::On {
            deployed_at: None,
            expires_at: None,
            last_error: Some("the CA refused the order".into()),
            failed_at: None,
            next_attempt: None,
        });
        assert_eq!(
            concerns(&f),
            vec![
                Concern::CertificateError("the CA refused the order".into()),
                Concern::NoCertificate
            ]
        );
        let soon = NOW + time::Duration::days(13);
        f.certificate = Some(Certificate::On {
            deployed_at: Some(NOW),
            expires_at: Some(soon),
            last_error: None,
            failed_at: None,
            next_attempt: None,
        });
        assert_eq!(
            concerns(&f),
            vec![Concern::CertificateExpiring { at: soon }]
        );
    }

    #[test]
    fn an_expired_certificate_is_said_plainly_and_keeps_the_warning() {
        let mut f = healthy();
        let past = NOW - time::Duration::hours(1);
        f.certificate = Some(Certificate::On {
            deployed_at: Some(NOW - time::Duration::days(80)),
            expires_at: Some(past),
            last_error: None,
            failed_at: None,
            next_attempt: None,
        });
        let found = concerns(&f);
        assert_eq!(
            found,
            vec![
                Concern::CertificateExpired { at: past },
                Concern::CertificateExpiring { at: past }
            ]
        );
        assert_eq!(
            most_serious(&found),
            vec![&Concern::CertificateExpired { at: past }]
        );
        assert_eq!(
            found[0].to_string(),
            "the certificate expired at 2026-12-02T02:00:00Z: browsers refuse the site until a \
             new one is in use"
        );
        assert!(certificate_expired(Some(NOW), NOW), "expired at the second");
        assert!(!certificate_expired(
            Some(NOW + time::Duration::seconds(1)),
            NOW
        ));
        assert!(
            !certificate_expired(None, NOW),
            "an unread expiry is not guessed"
        );
    }

    #[test]
    fn the_disk_is_a_concern_under_15_and_again_under_5_percent() {
        let mut f = healthy();
        let at = |free| Space { free, total: 1000 };
        f.disk = Some(at(150));
        assert_eq!(concerns(&f), vec![]);
        f.disk = Some(at(149));
        assert_eq!(concerns(&f), vec![Concern::DiskLow(at(149))]);
        f.disk = Some(at(49));
        let found = concerns(&f);
        assert_eq!(
            found,
            vec![Concern::DiskCritical(at(49)), Concern::DiskLow(at(49))],
            "both levels hold, so the lesser one's alert does not clear"
        );
        assert_eq!(most_serious(&found), vec![&Concern::DiskCritical(at(49))]);
        assert!(
            found[0]
                .to_string()
                .contains("almost full: 49 B free of 1000 B (4%, under 5%)")
        );
        f.disk = None;
        assert_eq!(concerns(&f), vec![], "an unread disk is not guessed");
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(Duration::from_secs(45)), "45s");
        assert_eq!(span(Duration::from_secs(12 * 60 + 5)), "12m");
        assert_eq!(span(Duration::from_secs(3 * 3600 + 5 * 60)), "3h 5m");
        assert_eq!(span(Duration::from_secs(2 * 86400 + 4 * 3600)), "2d 4h");
        assert_eq!(span(HOUR), "1h");
    }

    #[test]
    fn a_failed_ledger_check_and_a_repair_at_start_are_concerns_until_cleared() {
        use crate::domain::ledger_check::{CheckKind, CheckRun};
        let mut f = healthy();
        let run = |problem: Option<&str>| CheckRun {
            started: NOW - time::Duration::hours(1),
            kind: CheckKind::Full,
            entries: 10,
            after_seq: 0,
            to_seq: 10,
            problem: problem.map(str::to_owned),
        };
        let check = f.ledger_check.as_mut().expect("set in healthy()");
        check.record(run(None), None);
        assert_eq!(concerns(&f), vec![]);
        let check = f.ledger_check.as_mut().expect("set in healthy()");
        check.record(run(Some("entry 7: altered")), None);
        let repaired = NOW - time::Duration::minutes(30);
        check.repaired_at = Some(repaired);
        let found = concerns(&f);
        assert_eq!(
            found,
            vec![
                Concern::LedgerBroken("entry 7: altered".into()),
                Concern::DatabaseRepaired { at: repaired }
            ]
        );
        assert!(found[0].to_string().contains("entry 7: altered"));
        f.ledger_check = None;
        assert_eq!(concerns(&f), vec![], "unknown checks are not guessed");
    }

    #[test]
    fn a_ledger_check_that_stops_running_is_a_concern_after_two_days() {
        use crate::domain::ledger_check::{CheckKind, CheckRun};
        let mut f = healthy();
        f.server_started = Some(NOW - time::Duration::days(5));
        assert_eq!(concerns(&f), vec![Concern::LedgerUnchecked { last: None }]);
        let last = NOW - time::Duration::hours(47);
        let check = f.ledger_check.as_mut().expect("set in healthy()");
        check.record(
            CheckRun {
                started: last,
                kind: CheckKind::Full,
                entries: 1,
                after_seq: 0,
                to_seq: 1,
                problem: None,
            },
            None,
        );
        assert_eq!(concerns(&f), vec![]);
        let older = NOW - time::Duration::hours(49);
        let check = f.ledger_check.as_mut().expect("set in healthy()");
        if let Some(run) = check.last_run.as_mut() {
            run.started = older;
        }
        assert_eq!(
            concerns(&f),
            vec![Concern::LedgerUnchecked { last: Some(older) }]
        );
        // A server up for less than two days has not missed one yet.
        f.server_started = Some(NOW - time::Duration::hours(30));
        assert_eq!(concerns(&f), vec![]);
    }
}
