//! The audit log (owner only).

use super::{Chrome, Section, local_time, page};
use crate::domain::words;
use crate::storage::audit::AuditRecord;
use crate::storage::members::Page;
use crate::views::admin::members::urlencode;
use maud::{Markup, html};
use std::collections::HashMap;

/// Names for the ids an audit record holds, looked up for the records shown.
#[derive(Debug, Default)]
pub struct Names {
    /// API key id to the key's name.
    pub keys: HashMap<String, String>,
    /// Member id to the member's name.
    pub members: HashMap<String, String>,
    /// Reward id to the reward's name.
    pub rewards: HashMap<String, String>,
}

/// Whether `action` was done to a member (its target is a member id).
pub fn targets_member(action: &str) -> bool {
    action.starts_with("member.") || action.starts_with("points.")
}

/// Audit records, newest first, with the filter form.
pub fn view(
    chrome: &Chrome,
    records: &Page<AuditRecord>,
    actor: &str,
    action: &str,
    zone: &jiff::tz::TimeZone,
    names: &Names,
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
            div.table-wrap role="region" tabindex="0" aria-label="Audit log" { table.cards #audit {
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "To" } th scope="col" { "Details" } } }
                tbody { @for r in &records.items {
                    @let key_name = match &r.actor {
                        crate::domain::actor::Actor::ApiKey { key_id } => names.keys.get(key_id).map(String::as_str),
                        _ => None,
                    };
                    tr {
                        td.when.figure { (local_time(r.at, zone)) }
                        td.actor data-label="Who" { (words::actor(&r.actor, key_name)) }
                        td.action.title { (words::audit_action(&r.action)) }
                        td.target data-label="To" {
                            @if targets_member(&r.action) {
                                a href={ "/admin/members/" (urlencode(&r.target)) } {
                                    (names.members.get(&r.target).map_or("a member", String::as_str))
                                }
                            } @else if r.action.starts_with("reward.") {
                                (names.rewards.get(&r.target).map_or(r.target.as_str(), String::as_str))
                            } @else if r.action.starts_with("apikey.") {
                                (names.keys.get(&r.target).map_or(r.target.as_str(), String::as_str))
                            } @else { (r.target) }
                        }
                        td.detail {
                            // The recorded action's name is what the filter above takes.
                            details { summary { "Details" span.visually-hidden { " of record " (r.seq) } }
                                code.action-code { (r.action) }
                                @if r.detail.as_object().is_some_and(|o| !o.is_empty()) {
                                    " " code { (r.detail.to_string()) }
                                }
                            }
                        }
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
