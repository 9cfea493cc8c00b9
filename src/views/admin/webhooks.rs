//! Outbound event endpoints and their deliveries (owner only).

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, local_time, page};
use crate::domain::DomainError;
use crate::domain::events::{Delivery, DeliveryState, MAX_ENDPOINTS};
use crate::storage::events::Endpoint;
use maud::{Markup, html};

/// The endpoints, each with its latest deliveries, the form for a new one, and a new secret
/// shown once.
pub fn view(
    chrome: &Chrome,
    endpoints: &[(Endpoint, Vec<Delivery>)],
    zone: &jiff::tz::TimeZone,
    created: Option<&Endpoint>,
    values: &Kept,
    err: Option<&DomainError>,
) -> Markup {
    page(
        "Event webhooks",
        chrome,
        Section::Keys,
        html! {
            h1 { "Event webhooks" }
            p.muted {
                "FealTY posts " code { "member.created" } ", " code { "points.earned" } ", "
                code { "points.redeemed" } " and " code { "points.reversed" }
                " to each address below, signed with its secret, and tries again for a day if it fails. "
                "The README says how a receiver checks the signature."
            }
            @if let Some(e) = created {
                div.result role="status" {
                    p { strong { "Copy this signing secret now: it is shown only once." } }
                    p { "For " code { (e.url.as_str()) } }
                    p.key #new-secret { (e.secret) }
                }
            }
            @if endpoints.is_empty() {
                p #no-endpoints { "No address is registered: no events are sent." }
            }
            @for (e, deliveries) in endpoints {
                section.card.endpoint data-id=(e.id) {
                    h2 { code.url { (e.url.as_str()) } }
                    p.muted { "Added " (local_time(e.created_at, zone)) " · id " code { (e.id) } }
                    @if deliveries.is_empty() {
                        p.muted { "Nothing sent yet." }
                    } @else {
                        div.table-wrap role="region" tabindex="0" aria-label={ "Deliveries to " (e.url.as_str()) } { table.deliveries {
                            thead { tr {
                                th scope="col" { "Queued" } th scope="col" { "Event" }
                                th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last error" }
                            } }
                            tbody { @for d in deliveries {
                                tr data-event=(d.event_id) {
                                    td { (local_time(d.created, zone)) }
                                    td.event { (d.kind.as_str()) }
                                    td.status {
                                        @match (d.state, d.next_at) {
                                            (DeliveryState::Pending, Some(at)) if d.attempts > 0 => { "retrying at " (local_time(at, zone)) }
                                            (state, _) => { (state.as_str()) }
                                        }
                                    }
                                    td.attempts { (d.attempts) }
                                    td.error { @if let Some(err) = &d.last_error { @if d.state != DeliveryState::Delivered { span.error { (err) } } @else { span.muted { (err) } } } }
                                }
                            } }
                        } }
                    }
                    form.inline method="post" action={ "/admin/webhooks/" (e.id) "/remove" } {
                        (csrf(chrome))
                        button.danger.small type="submit" { "Remove" }
                    }
                }
            }
            @if endpoints.len() < MAX_ENDPOINTS {
                section.card {
                    h2 { "Add an address" }
                    form #new-webhook method="post" action="/admin/webhooks" {
                        (csrf(chrome))
                        label for="url" { "Address (https://…)" }
                        input #url name="url" type="url" required autocomplete="off" value=(kept(values, "url"));
                        (field_error(err, "url"))
                        (form_error(err, &["url"]))
                        button type="submit" { "Add" }
                    }
                }
            }
        },
    )
}
