//! The owner's member notices page: which notices go out, and the queue.

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, local_time, page};
use crate::domain::DomainError;
use crate::domain::notices::NoticeState;
use crate::service::NoticeQueue;
use crate::views::banner::Banner;
use maud::{Markup, html};

/// The notices page: a switch per kind, the warning's days, the queue's counts and latest rows.
pub fn view(
    chrome: &Chrome,
    values: &Kept,
    err: Option<&DomainError>,
    saved: bool,
    mail_server: bool,
    queue: &NoticeQueue,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    let check = |name: &str| !kept(values, name).is_empty();
    let o = &queue.overview;
    page(
        "Email notices",
        chrome,
        Section::Settings,
        html! {
            h1 { "Email notices" }
            @if saved { (Banner::done("Saved.").render()) }
            @if mail_server {
                p #mail-server { "A mail server is configured: notices switched on below are sent." }
            } @else {
                p #mail-server.warning { strong { "Nothing is sent until a mail server is configured" }
                    " (start the server with --smtp-host and --smtp-from). Until then no notice is queued." }
            }
            p { "Members with an email address get these emails. Every email has an unsubscribe link; "
                "members who use it get no more (it is recorded on their page and in the "
                a href="/admin/audit?action=member.notices_off" { "audit log" } "). "
                a href="/admin/settings" { "Back to settings" } }
            section.card {
                form #notices method="post" action="/admin/settings/notices" {
                    (csrf(chrome))
                    label.check { input #welcome type="checkbox" name="welcome" checked[check("welcome")];
                        "Welcome, with the card's link, when a member joins" }
                    label.check { input #digest type="checkbox" name="digest" checked[check("digest")];
                        "Points earned: one email a day at most, with the day's points and the balance" }
                    label.check { input #expiry_warning type="checkbox" name="expiry_warning" checked[check("expiry_warning")];
                        "A warning before points expire (when points expiry is on)" }
                    label for="warning_days" { "Days ahead of the expiry" }
                    input #warning_days name="warning_days" type="number" min="1" max="90" step="1" required value=(kept(values, "warning_days"));
                    (field_error(err, "warning_days"))
                    label.check { input #tier_change type="checkbox" name="tier_change" checked[check("tier_change")];
                        "A move to another tier" }
                    (form_error(err, &["warning_days"]))
                    button type="submit" { "Save notices" }
                }
            }
            section.card #notice-queue aria-labelledby="queue-title" {
                h2 #queue-title { "Sent and waiting" }
                p #notice-counts {
                    span #sent-today { (o.sent_since) } " sent today, "
                    span #pending { (o.pending) } " waiting, "
                    span #failing { (o.failing) } " failing, "
                    span #gave-up { (o.gave_up) } " given up."
                }
                @if queue.latest.is_empty() {
                    p.muted { "No notices yet." }
                } @else {
                    table #notices-list {
                        thead { tr { th { "Queued" } th { "Notice" } th { "Member" } th { "Status" } th { "Attempts" } th { "Error" } } }
                        tbody {
                            @for (id, n) in &queue.latest {
                                tr #{ "notice-" (id) } {
                                    td { (local_time(n.created, zone)) }
                                    td.kind { (n.what.kind().as_str()) }
                                    td { a href={ "/admin/members/" (n.member.as_str()) } { "member" } }
                                    td.status { (n.state.as_str()) @if n.state == NoticeState::GaveUp { " ⚠" } }
                                    td.attempts { (n.attempts) }
                                    td.error { (n.last_error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
