//! Online shops (owner only): each shop's webhook address and secret, Etsy's polling, and
//! orders waiting for a member.

use super::{Chrome, Section, csrf, field_error, form_error, local_time, page};
use crate::domain::DomainError;
use crate::domain::shop::{Integration, Provider};
use crate::hooks::attempts::{Attempt, KEPT};
use crate::service::EtsyStatus;
use crate::storage::hooks::{DeliveryRow, Unmatched};
use crate::views::banner::Banner;
use maud::{Markup, html};

/// One shop as the page shows it.
pub struct ShopRow {
    /// Which shop.
    pub provider: Provider,
    /// Its settings.
    pub settings: Integration,
    /// The address to paste into the shop.
    pub url: String,
    /// Its last deliveries taken, newest first.
    pub deliveries: Vec<DeliveryRow>,
    /// Its last deliveries refused or repeated (not stored), newest first.
    pub attempts: Vec<Attempt>,
}

/// One line of a shop's delivery log.
struct LogLine<'a> {
    at: time::OffsetDateTime,
    id: Option<&'a str>,
    outcome: &'a str,
    refused: bool,
}

/// Taken and not-stored deliveries in one list, newest first, at most [`KEPT`].
fn log(s: &ShopRow) -> Vec<LogLine<'_>> {
    let taken = s.deliveries.iter().map(|d| LogLine {
        at: d.received_at,
        id: Some(d.id.as_str()),
        outcome: d.outcome.as_str(),
        refused: false,
    });
    let other = s.attempts.iter().map(|a| LogLine {
        at: a.at,
        id: None,
        outcome: a.outcome.as_str(),
        refused: a.status >= 400,
    });
    let mut all: Vec<_> = taken.chain(other).collect();
    all.sort_by_key(|l| std::cmp::Reverse(l.at));
    all.truncate(KEPT);
    all
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
        Provider::Etsy => "Etsy sends no webhooks: its receipts are polled below.",
    }
}

/// The page; `err` is the last refused form's problem, `(form id, error)`.
pub fn view(
    chrome: &Chrome,
    shops: &[ShopRow],
    etsy: &EtsyStatus,
    unmatched: &[Unmatched],
    err: Option<(&str, &DomainError)>,
    notice: Option<&str>,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    let err_for = |form: &str| err.filter(|(f, _)| *f == form).map(|(_, e)| e);
    page(
        "Online shops",
        chrome,
        Section::Settings,
        html! {
            h1 { "Online shops" }
            @if let Some(n) = notice { (Banner::done(n).render()) }
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
                    @if s.settings.enabled {
                        form.inline method="post" action={ "/admin/integrations/" (id) "/test" } {
                            (csrf(chrome))
                            button.secondary type="submit" { "Send a test event" }
                        }
                    }
                    h3 { "Last deliveries" }
                    @let lines = log(s);
                    @if lines.is_empty() { p.muted.deliveries { "None yet." } } @else {
                        ul.deliveries id={ (id) "-deliveries" } {
                            @for l in &lines {
                                li.refused[l.refused] {
                                    (local_time(l.at, zone)) " · " (l.outcome)
                                    @if let Some(d) = l.id { " " span.muted { "(" (d) ")" } }
                                }
                            }
                        }
                        p.muted { "Refused and repeated deliveries are kept only until the server restarts." }
                    }
                }
            }
            (etsy_section(chrome, etsy, err_for("etsy"), zone))
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

/// Etsy: its credentials (never shown back), interval, and how the last poll went.
fn etsy_section(
    chrome: &Chrome,
    etsy: &EtsyStatus,
    e: Option<&DomainError>,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    let a = &etsy.account;
    let s = &etsy.state;
    let tokens_set = a.access_token.is_some() && a.refresh_token.is_some();
    html! {
        section.card #shop-etsy {
            h2 { "Etsy" }
            p { "Status: " strong.status { @if etsy.integration.enabled { "on" } @else { "off" } }
                " · API key " strong.api-key { @if a.api_key.is_some() { "set" } @else { "not set" } }
                " · tokens " strong.tokens { @if tokens_set { "set" } @else { "not set" } } }
            p.poll {
                "Last poll: " span.last-poll { @match s.last_poll { Some(t) => (local_time(t, zone)), None => "never" } }
                " · next: " span.next-poll { @match (etsy.integration.enabled, s.next_poll) {
                    (true, Some(t)) => (local_time(t, zone)), (true, None) => "soon", (false, _) => "—" } }
            }
            @if let Some(err) = &s.last_error { p.error.etsy-error role="alert" { "Last poll failed: " (err) } }
            p.muted { "Etsy sends no webhooks, so FealTY reads the shop's receipts every few minutes. \
                       In Etsy's developer site, \"Your Apps\" shows the app's keystring and shared secret; \
                       paste them joined by a colon. The access and refresh tokens come from connecting the app \
                       to your shop with the transactions_r scope; FealTY refreshes them itself." }
            form method="post" action="/admin/integrations/etsy" {
                (csrf(chrome))
                label for="etsy-api_key" { @if a.api_key.is_some() { "New API key (blank keeps the one set)" } @else { "API key (keystring:shared secret)" } }
                input #etsy-api_key name="api_key" type="password" autocomplete="off" maxlength="255";
                (field_error(e, "api_key"))
                label for="etsy-shop_id" { "Shop id" }
                input #etsy-shop_id name="shop_id" inputmode="numeric" value=(a.shop_id.map(|i| i.get().to_string()).unwrap_or_default());
                (field_error(e, "shop_id"))
                label for="etsy-access_token" { @if tokens_set { "New access token (blank keeps the one set)" } @else { "Access token" } }
                input #etsy-access_token name="access_token" type="password" autocomplete="off" maxlength="1024";
                (field_error(e, "access_token"))
                label for="etsy-refresh_token" { @if tokens_set { "New refresh token (blank keeps the one set)" } @else { "Refresh token" } }
                input #etsy-refresh_token name="refresh_token" type="password" autocomplete="off" maxlength="1024";
                (field_error(e, "refresh_token"))
                label for="etsy-poll_minutes" { "Minutes between polls (1 to 1440)" }
                input #etsy-poll_minutes name="poll_minutes" type="number" min="1" max="1440" value=(a.poll_every.get());
                (field_error(e, "poll_minutes"))
                label.check { input type="checkbox" name="enabled" checked[etsy.integration.enabled]; "Poll this shop's orders" }
                label.check { input type="checkbox" name="create_members" checked[etsy.integration.create_members];
                    "Make a new member for an email no member has (otherwise the order waits below)" }
                (form_error(e, &["api_key", "shop_id", "access_token", "refresh_token", "poll_minutes"]))
                button type="submit" { "Save Etsy" }
            }
        }
    }
}
