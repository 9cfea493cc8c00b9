//! The alerts sent (owner only).

use super::{Chrome, Section, local_time, page};
use crate::domain::alerts::Message;
use maud::{Markup, html};

/// Messages newest first, one row per channel's delivery, with a link to older ones.
pub fn view(
    chrome: &Chrome,
    messages: &[(u64, Message)],
    older: Option<u64>,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    page(
        "Alerts sent",
        chrome,
        Section::Settings,
        html! {
            h1 { "Alerts sent" }
            p.muted { "Where alerts go is set under " a href="/admin/settings#alerts-settings" { "Settings" } ". The last few hundred are kept." }
            div.table-wrap role="region" tabindex="0" aria-label="Alerts sent" { table #alerts {
                thead { tr {
                    th scope="col" { "Queued" } th scope="col" { "Alert" } th scope="col" { "Channel" }
                    th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last error" }
                } }
                tbody { @for (id, m) in messages {
                    @if m.deliveries.is_empty() {
                        tr data-id=(id) {
                            td { (local_time(m.created, zone)) }
                            td.subject { (m.subject) }
                            td.channel { "—" }
                            td.status { "not sent: no channel set" }
                            td.attempts { "0" }
                            td.error {}
                        }
                    }
                    @for d in &m.deliveries {
                        tr data-id=(id) {
                            td { (local_time(m.created, zone)) }
                            td.subject { (m.subject) }
                            td.channel { (d.channel.as_str()) }
                            td.status { (d.state.as_str()) }
                            td.attempts { (d.attempts) }
                            td.error { (d.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                } }
            } }
            @if messages.is_empty() { p.muted { "No alerts yet." } }
            @if let Some(before) = older {
                p.pager { a rel="next" href={ "/admin/alerts?before=" (before) } { "Older →" } }
            }
        },
    )
}
