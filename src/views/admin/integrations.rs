//! Online shops (owner only): each shop's webhook address and secret, and orders waiting for
//! a member.

use super::{Chrome, Section, csrf, field_error, form_error, local_time, page};
use crate::domain::DomainError;
use crate::domain::shop::{Integration, Provider};
use crate::storage::hooks::Unmatched;
use maud::{Markup, html};

/// One shop as the page shows it.
pub struct ShopRow {
    /// Which shop.
    pub provider: Provider,
    /// Its settings.
    pub settings: Integration,
    /// The address to paste into the shop.
    pub url: String,
}

/// What the shop owner pastes where, per shop.
fn where_to_paste(p: Provider) -> &'static str {
    match p {
        Provider::Shopify => {
            "In Shopify: Settings → Notifications → Webhooks → Create webhook, event \"Order payment\" \
             and another for \"Refund create\", format JSON, with this URL. The secret is the \
             one Shopify shows under the webhooks (\"Your webhooks will be signed with …\")."
        }
        Provider::Stripe => {
            "In Stripe: Developers → Webhooks → Add endpoint with this URL, events \
             checkout.session.completed, charge.succeeded and charge.refunded. The secret is the \
             endpoint's signing secret (whsec_…)."
        }
        Provider::Square => {
            "In Square's Developer Console: your application → Webhooks → Subscriptions → Add \
             subscription with exactly this URL (Square signs it with each delivery), events \
             payment.updated, refund.created and refund.updated. The secret is the subscription's \
             signature key."
        }
        Provider::WooCommerce => {
            "In WordPress: WooCommerce → Settings → Advanced → Webhooks → Add webhook, status \
             Active, topic \"Order updated\" (and another for \"Order created\"), API version 3, \
             with this delivery URL. The secret is the webhook's Secret field: copy it (or type \
             your own) before saving."
        }
    }
}

/// The page; `err` is the last refused form's problem, `(form id, error)`.
pub fn view(
    chrome: &Chrome,
    shops: &[ShopRow],
    unmatched: &[Unmatched],
    err: Option<(&str, &DomainError)>,
    saved: bool,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    let err_for = |form: &str| err.filter(|(f, _)| *f == form).map(|(_, e)| e);
    page(
        "Online shops",
        chrome,
        Section::Settings,
        html! {
            h1 { "Online shops" }
            @if saved { p.result #result role="status" { "Saved." } }
            p.muted { "Paid orders earn points by the earning rule; refunds take them back in proportion. \
                       Each delivery is checked against the shop's secret and counted once." }
            @for s in shops {
                @let id = s.provider.as_str();
                @let e = err_for(id);
                section.card id={ "shop-" (id) } {
                    h2 { (s.provider.title()) }
                    p { "Status: " strong.status { @if s.settings.enabled { "on" } @else { "off" } }
                        " · secret " strong.secret { @if s.settings.secret.is_some() { "set" } @else { "not set" } } }
                    label for={ (id) "-url" } { "URL to paste into " (s.provider.title()) }
                    input.url id={ (id) "-url" } readonly value=(s.url);
                    p.muted { (where_to_paste(s.provider)) }
                    form method="post" action={ "/admin/integrations/" (id) } {
                        (csrf(chrome))
                        label for={ (id) "-secret" } { @if s.settings.secret.is_some() { "New signing secret (blank keeps the one set; it is never shown again)" } @else { "Signing secret" } }
                        input id={ (id) "-secret" } name="secret" type="password" autocomplete="off" maxlength="255";
                        (field_error(e, "secret"))
                        label.check { input type="checkbox" name="enabled" checked[s.settings.enabled]; "Take this shop's orders" }
                        label.check { input type="checkbox" name="create_members" checked[s.settings.create_members];
                            "Make a new member for an email no member has (otherwise the order waits below)" }
                        (form_error(e, &["secret"]))
                        button type="submit" { "Save " (s.provider.title()) }
                    }
                }
            }
            section.card #unmatched {
                h2 { "Orders waiting for a member" }
                @let e = err_for("attach");
                (form_error(e, &["card_number"]))
                (field_error(e, "card_number"))
                @if unmatched.is_empty() { p.muted { "None." } } @else {
                    div.table-wrap role="region" tabindex="0" aria-label="Orders not matched to a member" { table {
                        thead { tr { th scope="col" { "Came" } th scope="col" { "Shop" } th scope="col" { "Order" }
                            th scope="col" { "Email" } th scope="col" { "Amount" } th scope="col" { "Why" } th scope="col" { "Attach to card" } } }
                        tbody { @for u in unmatched {
                            tr {
                                td { (local_time(u.order.received_at, zone)) }
                                td { (u.provider.title()) }
                                td.order { (u.order_id) }
                                td { (u.order.email.as_deref().unwrap_or("—")) }
                                td { (u.order.amount.to_decimal()) " " (u.order.amount.currency.as_str()) }
                                td { (u.order.parked.as_deref().unwrap_or("")) }
                                td { form.inline method="post" action="/admin/integrations/attach" {
                                    (csrf(chrome))
                                    input type="hidden" name="provider" value=(u.provider.as_str());
                                    input type="hidden" name="order_id" value=(u.order_id);
                                    input name="card_number" inputmode="numeric" placeholder="Card number" aria-label={ "Card number for order " (u.order_id) } required;
                                    button type="submit" { "Attach" }
                                } }
                            }
                        } }
                    } }
                }
            }
        },
    )
}
