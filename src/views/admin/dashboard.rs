//! The owner's numbers at a glance.

use super::{Chrome, Section, page};
use crate::backup::schedule::Status as BackupStatus;
use crate::domain::dashboard::Period;
use crate::domain::disk::{CRITICAL_PERCENT, LOW_PERCENT, Space};
use crate::domain::getting_started::{Checklist, Step};
use crate::domain::ledger_check::{CheckKind, CheckState};
use crate::domain::size::show_bytes;
use crate::domain::stats::Totals;
use crate::domain::status::{CERTIFICATE_WARN, certificate_expired};
use crate::service::Dashboard;
use crate::views::chart::{self, Series};
use crate::views::thousands;
use maud::{Markup, html};

// Both at least 3:1 on white, as graphics must be to be told apart (WCAG 1.4.11): the brand
// orange itself is under 3:1, so redemptions use a darker shade of it.
const ISSUED: &str = "#1f5f8b";
const REDEEMED: &str = "#c0621f";

fn stat(id: &str, label: &str, value: i64) -> Markup {
    html! {
        div { dt { (label) } dd id=(id) data-value=(value) { (thousands(value)) } }
    }
}

fn periods(id: &str, title: &str, head: &str, rows: &[Period]) -> Markup {
    let labels: Vec<String> = rows
        .iter()
        .map(|p| p.start.strftime("%d %b").to_string())
        .collect();
    let series = [
        Series {
            name: "issued",
            colour: ISSUED,
            values: rows.iter().map(|p| p.totals.earned).collect(),
        },
        Series {
            name: "redeemed",
            colour: REDEEMED,
            values: rows.iter().map(|p| p.totals.redeemed).collect(),
        },
    ];
    html! {
        section.card {
            h2 { (title) }
            p.legend { span { span.swatch.issued {} "issued" } span { span.swatch.redeemed {} "redeemed" } }
            (chart::bars(&format!("chart-{id}"), title, &labels, &series))
            details {
                summary { "Show the numbers" }
                div.table-wrap role="region" tabindex="0" aria-label=(title) {
                    table id={ "table-" (id) } {
                        caption.muted { (title) }
                        thead { tr { th scope="col" { (head) } th.num scope="col" { "Issued" } th.num scope="col" { "Redeemed" } } }
                        tbody {
                            @for p in rows.iter().rev() {
                                tr {
                                    th scope="row" { (p.start.strftime("%Y-%m-%d")) }
                                    td.issued { (p.totals.earned) }
                                    td.redeemed { (p.totals.redeemed) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn backup_status(b: Option<&BackupStatus>, zone: &jiff::tz::TimeZone) -> Markup {
    let Some(b) = b else {
        return html! { p.problem #backup-status { "Backups are not scheduled: start the server with --backup-to." } };
    };
    html! {
        @if let Some(e) = &b.last_error {
            p.problem #backup-status role="alert" { "The last backup to " (b.target) " failed: " (e) }
        } @else if let Some(t) = b.last_success {
            @let minutes = (crate::clock::now() - t).whole_minutes();
            p.result #backup-status { "Last backup to " (b.target) ": " (super::local_time(t, zone)) " (" (crate::domain::words::count(minutes, "minute", "minutes")) " ago)." }
        } @else {
            p.muted #backup-status { "The first backup to " (b.target) " is under way." }
        }
    }
}

fn tls_status(
    t: Option<&crate::tls::Status>,
    now: time::OffsetDateTime,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    let Some(t) = t else {
        return html! {};
    };
    let at = |t| crate::domain::words::when(t, now, zone);
    html! {
        @if let Some(why) = &t.waiting_for_dns {
            p.muted #tls-status { "Waiting for DNS before asking for the HTTPS certificate: " (why) "." }
        } @else if let Some(e) = &t.last_error {
            p.problem #tls-status role="alert" {
                @if t.deployed_at.is_some() { "The HTTPS certificate could not be renewed" }
                @else { "The HTTPS certificate could not be obtained" }
                @if let Some(failed) = t.failed_at { " at " (at(failed)) }
                ": " (e) "."
                @if let Some(next) = t.next_attempt { " The next attempt is at " (at(next)) "." }
            }
        } @else if let Some(deployed) = t.deployed_at {
            p.muted #tls-status { "HTTPS certificate in use since " (at(deployed))
                @if t.from_cache { " (from the cache)" } "; it renews by itself." }
        } @else {
            p.muted #tls-status { "Getting the HTTPS certificate…" }
        }
        @if let Some(expires) = t.expires_at {
            @if certificate_expired(Some(expires), now) {
                p.problem #tls-expiry role="alert" { "The HTTPS certificate expired at " (at(expires))
                    ": browsers refuse the site until a new one is in use." }
            } @else if expires - now < CERTIFICATE_WARN {
                p.problem #tls-expiry role="alert" { "The HTTPS certificate expires at " (at(expires))
                    " and has not been renewed yet." }
            } @else {
                p.muted #tls-expiry { "The HTTPS certificate is valid until " (at(expires)) "." }
            }
        }
    }
}

fn disk_status(disk: Option<Space>) -> Markup {
    let Some(s) = disk else {
        return html! {};
    };
    let space = format!(
        "{} free of {} ({}%)",
        show_bytes(s.free),
        show_bytes(s.total),
        s.free_percent()
    );
    html! {
        @if s.under(CRITICAL_PERCENT) {
            p.problem #disk-status role="alert" { "The disk holding the data is almost full: " (space)
                ". Once it is full nothing can be saved: free some space or make the disk bigger now." }
        } @else if s.under(LOW_PERCENT) {
            p.problem #disk-status role="alert" { "The disk holding the data is getting full: " (space)
                ". Free some space or make the disk bigger." }
        } @else {
            p.muted #disk-status { "Disk: " (space) "." }
        }
    }
}

/// The scheduled ledger check's last result, and a repair the last start needed.
fn ledger_check(c: Option<&CheckState>, zone: &jiff::tz::TimeZone) -> Markup {
    let Some(c) = c else {
        return html! {};
    };
    html! {
        @if let Some(at) = c.repaired_at {
            p.problem #database-repaired role="alert" {
                "The database was not shut down cleanly (a crash or a power cut) and was repaired when the server started, at "
                (super::local_time(at, zone)) ". A full check of the ledger at the next 04:00 confirms nothing was lost."
            }
        }
        @match &c.last_run {
            None => p.muted #ledger-check { "The ledger is checked every night at 04:00; the first check has not run yet." },
            Some(r) => {
                @let what = match r.kind { CheckKind::Full => "fully checked", CheckKind::Incremental => "checked" };
                @if let Some(p) = &r.problem {
                    p.problem #ledger-check role="alert" {
                        "The ledger check at " (super::local_time(r.started, zone)) " found damage: " (p)
                        ". Run fealty verify, and restore from a backup made before the damage."
                    }
                } @else {
                    p.result #ledger-check {
                        "Ledger " (what) " " (super::local_time(r.started, zone)) ": "
                        (thousands(i64::try_from(r.entries).unwrap_or(i64::MAX)))
                        @if r.entries == 1 { " entry" } @else { " entries" }
                        ", all intact."
                    }
                }
            }
        }
    }
}

/// Where each getting-started step is done, and what it says.
fn step(s: Step) -> (&'static str, &'static str, &'static str) {
    match s {
        Step::BusinessDetails => (
            "business-details",
            "/admin/settings",
            "Set your business's name, colour and logo",
        ),
        Step::FirstReward => (
            "first-reward",
            "/admin/rewards",
            "Add a first reward to save up for",
        ),
        Step::FirstMember => ("first-member", "/admin/members/new", "Add a first member"),
        Step::Backups => (
            "backups",
            "#backup-status",
            "Schedule backups (start the server with --backup-to)",
        ),
    }
}

/// The steps to a working scheme, each ticked once done; gone when all are.
fn getting_started(c: &Checklist) -> Markup {
    if c.finished() {
        return html! {};
    }
    html! {
        section.card #getting-started aria-labelledby="getting-started-title" {
            h2 #getting-started-title { "Getting started" }
            ol.checklist {
                @for (s, done) in c.steps() {
                    @let (id, href, what) = step(s);
                    li id={ "step-" (id) } .done[done] {
                        span.tick aria-hidden="true" { @if done { "✓" } @else { "○" } }
                        span { a href=(href) { (what) } " " span.state { @if done { "Done" } @else { "To do" } } }
                    }
                }
            }
        }
    }
}

/// Today's figures in the business's time zone.
fn today(t: &Totals) -> Markup {
    html! {
        section #today aria-labelledby="today-title" {
            h2 #today-title { "Today" }
            dl.stats {
                (stat("today-earned", "Points given today", t.earned))
                (stat("today-redeemed", "Points redeemed today", t.redeemed))
                @if t.expired != 0 { (stat("today-expired", "Points expired today", t.expired)) }
                (stat("today-new-members", "New members today", t.members))
            }
        }
    }
}

/// Bonus points the campaigns issued: shown once there are campaigns or a bonus was issued.
fn bonus_issued(d: &Dashboard) -> Markup {
    let b = &d.bonus;
    if d.settings.campaigns.is_empty() && b.totals.total == 0 {
        return html! {};
    }
    html! {
        section #bonus aria-labelledby="bonus-title" {
            h2 #bonus-title { "Bonus points issued" }
            p.muted { "Points campaigns added above the earning rule and the tier, net of reversals. "
                a href="/admin/settings/campaigns" { "Campaigns" } }
            dl.stats {
                (stat("bonus-total", "Bonus points issued", b.totals.total))
                (stat("bonus-month", "This month", b.this_month))
                (stat("bonus-today", "Today", b.today))
            }
            @if b.totals.by_campaign.values().any(|p| *p != 0) {
                table #table-bonus {
                    thead { tr { th scope="col" { "Campaign" } th.num scope="col" { "Bonus points" } } }
                    tbody { @for (name, p) in b.totals.by_campaign.iter().filter(|(_, p)| **p != 0) {
                        tr { th scope="row" { (name) } td.count { (p) } }
                    } }
                }
            }
        }
    }
}

/// What the dashboard says about the server beside the numbers.
pub struct Status<'a> {
    /// Scheduled backups, when configured.
    pub backup: Option<&'a BackupStatus>,
    /// The certificate, when the server gets its own.
    pub tls: Option<&'a crate::tls::Status>,
    /// The data's disk, when it could be read.
    pub disk: Option<Space>,
    /// The scheduled ledger check's state, when it could be read.
    pub check: Option<&'a CheckState>,
    /// The time the page is made.
    pub now: time::OffsetDateTime,
}

fn days_title(n: usize) -> String {
    format!("Points per day (last {n} days)")
}

fn weeks_title(n: usize) -> String {
    format!("Points per week (last {n} weeks)")
}

/// The dashboard.
pub fn view(chrome: &Chrome, d: &Dashboard, status: &Status<'_>) -> Markup {
    let s = &d.stats;
    let hour_labels: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
    let hours = [Series {
        name: "transactions",
        colour: ISSUED,
        values: d.hours.to_vec(),
    }];
    page(
        "Dashboard",
        chrome,
        Section::Dashboard,
        html! {
            h1 { "Dashboard" }
            p.muted { "Times are in " (d.settings.time_zone.as_str()) "." }
            (backup_status(status.backup, &d.settings.time_zone.zone()))
            (tls_status(status.tls, status.now, &d.settings.time_zone.zone()))
            (disk_status(status.disk))
            (ledger_check(status.check, &d.settings.time_zone.zone()))
            (getting_started(&d.checklist))
            (today(&d.today))
            h2 { "All time" }
            dl.stats {
                (stat("stat-members", "Members", s.members))
                (stat("stat-new-members", "New (30 days)", d.new_members_30d))
                (stat("stat-active-members", "Active (30 days)", s.active_members_30d))
                (stat("stat-outstanding", "Points outstanding", s.points_outstanding))
                (stat("stat-issued", "Points issued", s.points_issued))
                (stat("stat-redeemed", "Points redeemed", s.points_redeemed))
                @if s.points_expired != 0 { (stat("stat-expired", "Points expired", s.points_expired)) }
                @if d.settings.referrals.enabled || s.referrals_rewarded != 0 {
                    (stat("stat-referrals-joined", "Joined through referrals", s.referrals_joined))
                    (stat("stat-referrals", "Referrals rewarded", s.referrals_rewarded))
                    (stat("stat-referral-points", "Points from referrals", s.referral_points))
                }
                @if d.settings.birthday.enabled || s.birthday_points != 0 {
                    (stat("stat-birthday-points", "Birthday points given", s.birthday_points))
                }
            }
            (bonus_issued(d))
            div.grid {
                (periods("daily", &days_title(d.daily.len()), "Day", &d.daily))
                (periods("weekly", &weeks_title(d.weekly.len()), "Week from", &d.weekly))
            }
            div.grid {
                section.card {
                    h2 { "Busiest hours (last 4 weeks)" }
                    (chart::bars("chart-hours", "Transactions per hour of the day", &hour_labels, &hours))
                    details {
                        summary { "Show the numbers" }
                        table #table-hours {
                            thead { tr { th scope="col" { "Hour" } th.num scope="col" { "Transactions" } } }
                            tbody { @for (h, n) in d.hours.iter().enumerate() {
                                tr { th scope="row" { (format!("{h:02}:00")) } td.count { (n) } }
                            } }
                        }
                    }
                }
                section.card {
                    h2 { "Redemptions per reward" }
                    @if d.rewards.is_empty() { p.muted { "No rewards redeemed yet." } }
                    table #table-rewards {
                        thead { tr { th scope="col" { "Reward" } th.num scope="col" { "Times" } th.num scope="col" { "Points" } } }
                        tbody { @for (name, t) in &d.rewards {
                            tr { th scope="row" { (name) } td.count { (t.count) } td.points { (t.points) } }
                        } }
                    }
                }
                section.card {
                    h2 { "Top members (lifetime points)" }
                    @if d.top.is_empty() { p.muted { "No points earned yet." } }
                    table.cards #table-top-members {
                        thead { tr { th scope="col" { "Member" } th.num scope="col" { "Lifetime" } th.num scope="col" { "Balance" } } }
                        tbody { @for m in &d.top {
                            tr {
                                th.title scope="row" { a href={ "/admin/members/" (m.id.as_str()) } {
                                    (m.name.as_ref().map_or(m.card_number.as_str(), |n| n.as_str()))
                                } }
                                td.lifetime.figure data-label="Lifetime" { (thousands(m.lifetime_earned)) }
                                td.points data-label="Balance" { (thousands(m.balance)) }
                            }
                        } }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Status;
    use time::macros::datetime;

    const NOW: time::OffsetDateTime = datetime!(2026-12-02 03:00 UTC);

    fn said(t: &Status) -> String {
        tls_status(Some(t), NOW, &jiff::tz::TimeZone::UTC).into_string()
    }

    #[test]
    fn the_certificate_status_says_what_it_waits_for_in_words() {
        let waiting = Status {
            waiting_for_dns: Some("rewards.example.com has no A/AAAA record at ns1 yet".into()),
            ..Status::default()
        };
        assert!(
            said(&waiting).contains(
                "Waiting for DNS before asking for the HTTPS certificate: rewards.example.com \
                 has no A/AAAA record at ns1 yet."
            ),
            "{}",
            said(&waiting)
        );

        let failed = Status {
            last_error: Some("the certificate authority could not confirm it".into()),
            failed_at: Some(datetime!(2027-01-15 07:59 UTC)),
            next_attempt: time::OffsetDateTime::from_unix_timestamp(1_800_000_000).ok(),
            ..Status::default()
        };
        let text = said(&failed);
        assert!(
            text.contains(
                "could not be obtained at 15 Jan 2027 07:59: the certificate authority could not \
                 confirm it. The next attempt is at 15 Jan 2027 08:00."
            ),
            "{text}"
        );
    }

    #[test]
    fn the_certificate_expiry_is_shown_and_warns_within_14_days() {
        let valid_until = |at| Status {
            deployed_at: Some(NOW - time::Duration::days(1)),
            expires_at: Some(at),
            ..Status::default()
        };
        let text = said(&valid_until(datetime!(2027-02-28 12:00 UTC)));
        assert!(
            text.contains(r#"<p class="muted" id="tls-expiry">The HTTPS certificate is valid until 28 Feb 2027 12:00."#),
            "{text}"
        );
        let text = said(&valid_until(NOW + time::Duration::days(13)));
        assert!(
            text.contains("role=\"alert\">The HTTPS certificate expires at 15 Dec 03:00 and has not been renewed yet."),
            "{text}"
        );
        let text = said(&valid_until(NOW - time::Duration::minutes(1)));
        assert!(
            text.contains("The HTTPS certificate expired at Today 02:59: browsers refuse the site"),
            "{text}"
        );
    }

    #[test]
    fn the_disk_says_how_full_it_is_at_each_level() {
        let said = |free| {
            disk_status(Some(Space {
                free,
                total: 100 * 1024 * 1024,
            }))
            .into_string()
        };
        assert!(said(50 * 1024 * 1024).contains("Disk: 50.0 MiB free of 100.0 MiB (50%)."));
        assert!(said(14 * 1024 * 1024).contains("getting full: 14.0 MiB free of 100.0 MiB (14%)"));
        assert!(said(4 * 1024 * 1024).contains("almost full: 4.0 MiB free of 100.0 MiB (4%)"));
        assert_eq!(disk_status(None).into_string(), "");
    }

    #[test]
    fn the_ledger_check_says_what_it_found_in_words() {
        use crate::domain::ledger_check::{CheckRun, CheckState};
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC);
        let said = |c: &CheckState| ledger_check(Some(c), &zone).into_string();
        let mut c = CheckState::default();
        assert!(
            said(&c).contains("the first check has not run yet"),
            "{}",
            said(&c)
        );
        let at = time::macros::datetime!(2026-07-02 03:00 UTC);
        c.record(
            CheckRun {
                started: at,
                kind: CheckKind::Incremental,
                entries: 1234,
                after_seq: 10,
                to_seq: 1244,
                problem: None,
            },
            None,
        );
        assert!(
            said(&c).contains(&format!(
                "Ledger checked {}: 1\u{202f}234 entries, all intact.",
                super::super::local_time(at, &zone)
            )),
            "{}",
            said(&c)
        );
        c.repaired_at = Some(at);
        c.record(
            CheckRun {
                started: at,
                kind: CheckKind::Incremental,
                entries: 0,
                after_seq: 10,
                to_seq: 10,
                problem: Some("entry 11: zero points".into()),
            },
            None,
        );
        let text = said(&c);
        assert!(
            text.contains("found damage: entry 11: zero points."),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "was repaired when the server started, at {}.",
                super::super::local_time(at, &zone)
            )),
            "{text}"
        );
    }
}
