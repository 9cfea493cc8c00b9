//! The audit log (owner only).

use super::{Chrome, Section, local_time, page};
use crate::storage::audit::AuditRecord;
use crate::storage::members::Page;
use crate::views::admin::members::urlencode;
use maud::{Markup, html};

/// Audit records, newest first, with the filter form.
pub fn view(
    chrome: &Chrome,
    records: &Page<AuditRecord>,
    actor: &str,
    action: &str,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    page(
        "Audit log",
        chrome,
        Section::Audit,
        html! {
            h1 { "Audit log" }
            form method="get" action="/admin/audit" {
                div.grid {
                    div { label for="actor" { "Who (e.g. staff:ann, api_key, cli)" } input #actor name="actor" value=(actor); }
                    div { label for="action" { "What (e.g. points, member.create)" } input #action name="action" value=(action); }
                }
                button type="submit" { "Filter" }
            }
            div.table-wrap role="region" tabindex="0" aria-label="Audit log" { table #audit {
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "To" } th.hide-narrow scope="col" { "Details" } } }
                tbody { @for r in &records.items {
                    tr {
                        td { (local_time(r.at, zone)) }
                        td.actor { (r.actor.to_string()) }
                        td.action { (r.action) }
                        td.target { (r.target) }
                        td.hide-narrow { code { (r.detail.to_string()) } }
                    }
                } }
            } }
            @if records.items.is_empty() { p.muted { "Nothing recorded matches." } }
            @if let Some(next) = &records.next {
                p.pager { a rel="next" href={ "/admin/audit?actor=" (urlencode(actor)) "&action=" (urlencode(action)) "&before=" (next) } { "Older →" } }
            }
        },
    )
}
