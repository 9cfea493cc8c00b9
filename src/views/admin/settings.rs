//! The owner's settings.

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, page};
use crate::domain::DomainError;
use crate::domain::contrast::WHITE;
use crate::domain::settings::{MAX_LOGO_BYTES, Settings};
use crate::views::banner::Banner;
use maud::{Markup, html};

/// The alerts form's state.
pub struct AlertsForm<'a> {
    /// What the form shows.
    pub values: &'a Kept,
    /// What was wrong with the last submission.
    pub err: Option<&'a DomainError>,
    /// The mail server from the server's flags (no secrets), if one is configured.
    pub mail_server: Option<String>,
    /// A test message was just queued.
    pub tested: bool,
}

/// The settings form, the logo upload and where alerts go.
pub fn view(
    chrome: &Chrome,
    settings: &Settings,
    (values, err): (&Kept, Option<&DomainError>),
    logo_err: Option<&DomainError>,
    saved: bool,
    alerts: &AlertsForm<'_>,
    // Sections a rule adds (points expiry), shown before the alerts.
    expiry: Markup,
) -> Markup {
    page(
        "Settings",
        chrome,
        Section::Settings,
        html! {
            h1 { "Settings" }
            @if saved { (Banner::done("Saved.").render()) }
            p { "Selling online? Connect Shopify, Stripe, Square or WooCommerce under " a href="/admin/integrations" { "Online shops" } "." }
            p #tiers-link { "Reward your best customers with " a href="/admin/settings/tiers" { "tiers" } ": levels with more points per purchase"
                @if settings.tiers.enabled { " (on: " (settings.tiers.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")) ")" } @else { " (off)" } "." }
            p #rules-link { "Thank members for bringing friends and on their birthday: " a href="/admin/settings/referrals" { "referrals and birthday points" }
                " (referrals " @if settings.referrals.enabled { "on" } @else { "off" } ", birthday points " @if settings.birthday.enabled { "on" } @else { "off" } ")." }
            p #campaigns-link { "Run " a href="/admin/settings/campaigns" { "bonus campaigns" } ": double points on some days, a first-purchase bonus, more for a product category"
                " (" (settings.campaigns.iter().filter(|c| c.enabled).count()) " on)." }
            p #notices-link { "Email members a welcome, their points, expiry warnings and tier moves: "
                a href="/admin/settings/notices" { "email notices" }
                @if settings.notices.any() { " (on)" } @else { " (off)" } "." }
            section.card {
                form #settings method="post" action="/admin/settings" {
                    (csrf(chrome))
                    label for="business_name" { "Business name" }
                    input #business_name name="business_name" required value=(kept(values, "business_name"));
                    (field_error(err, "business_name"))
                    label for="currency" { "Currency (ISO code, e.g. EUR, GBP, USD)" }
                    input #currency name="currency" required maxlength="3" value=(kept(values, "currency"));
                    (field_error(err, "currency"))
                    label for="time_zone" { "Time zone (e.g. Europe/London)" }
                    input #time_zone name="time_zone" required value=(kept(values, "time_zone"));
                    (field_error(err, "time_zone"))
                    label for="points_per_unit" { "Points per whole unit spent (0 turns earning by amount off)" }
                    input #points_per_unit name="points_per_unit" type="number" min="0" max="10000" required value=(kept(values, "points_per_unit"));
                    (field_error(err, "points_per_unit"))
                    p.muted { "Amounts are rounded down to whole units: with 1 point per unit, 19.99 earns 19 points." }
                    label for="brand_colour" { "Colour on the customer card page" }
                    input #brand_colour name="brand_colour" type="color" value=(kept(values, "brand_colour"));
                    (field_error(err, "brand_colour"))
                    (colour_note(settings))
                    label.check { input #self_signup type="checkbox" name="self_signup" checked[!kept(values, "self_signup").is_empty()];
                        "Customers may join on their own at /join" }
                    label for="consent_wording" { "Marketing consent sentence (shown on /join; stored with each consent)" }
                    textarea #consent_wording name="consent_wording" rows="2" required { (kept(values, "consent_wording")) }
                    (field_error(err, "consent_wording"))
                    (form_error(err, &["business_name", "currency", "time_zone", "points_per_unit", "brand_colour", "consent_wording"]))
                    button type="submit" { "Save settings" }
                }
            }
            section.card {
                h2 { "Logo" }
                @if settings.logo.is_some() {
                    p { img src="/brand/logo" alt="The current logo" height="64"; }
                } @else { p.muted { "No logo yet." } }
                form #logo method="post" action="/admin/settings/logo" enctype="multipart/form-data" {
                    (csrf(chrome))
                    label for="logo-file" { "PNG, JPEG or WebP, up to " (MAX_LOGO_BYTES / 1024) " KiB" }
                    input #logo-file name="logo" type="file" accept="image/png,image/jpeg,image/webp" required;
                    (field_error(logo_err, "logo"))
                    button type="submit" { "Upload logo" }
                }
            }
            (expiry)
            (alerts_section(chrome, alerts))
        },
    )
}

fn alerts_section(chrome: &Chrome, a: &AlertsForm<'_>) -> Markup {
    let fields = ["alert_emails", "alert_webhook", "alert_webhook_format"];
    let format = kept(a.values, "alert_webhook_format");
    html! {
        section.card #alerts-settings {
            h2 { "Alerts" }
            p.muted { "FealTY tells you when backups fail, the certificate is not renewed, the disk fills or the ledger needs a check: once when it starts and once when it is resolved. "
                a href="/admin/alerts" { "Alerts sent" } }
            @match &a.mail_server {
                Some(server) => p #mail-server { "Email goes out through " (server) "." },
                None => p.muted #mail-server { "No mail server is configured, so no email is sent: start the server with --smtp-host and --smtp-from (see the README), or use a webhook." },
            }
            @if a.tested { p.result #alert-tested role="status" { "A test alert is on its way; see " a href="/admin/alerts" { "Alerts sent" } "." } }
            form #alerts method="post" action="/admin/settings/alerts" {
                (csrf(chrome))
                label for="alert_emails" { "Email alerts to (up to 5 addresses, separated by commas)" }
                input #alert_emails name="alert_emails" value=(kept(a.values, "alert_emails"));
                (field_error(a.err, "alert_emails"))
                label for="alert_webhook" { "Webhook URL (ntfy topic, Slack or Discord incoming webhook, or your own)" }
                input #alert_webhook name="alert_webhook" type="url" value=(kept(a.values, "alert_webhook"));
                (field_error(a.err, "alert_webhook"))
                label for="alert_webhook_format" { "Webhook body" }
                select #alert_webhook_format name="alert_webhook_format" {
                    option value="json" selected[format != "text"] { "JSON (Slack, Discord, most services)" }
                    option value="text" selected[format == "text"] { "Plain text (ntfy)" }
                }
                (field_error(a.err, "alert_webhook_format"))
                (form_error(a.err, &fields))
                button type="submit" { "Save alert settings" }
            }
            form #test-alert method="post" action="/admin/alerts/test" {
                (csrf(chrome))
                button type="submit" { "Send a test alert" }
            }
        }
    }
}

/// What the saved brand colour will look like to customers: a warning when no text colour reads
/// on it, and which colours are used instead.
fn colour_note(settings: &Settings) -> Markup {
    let p = settings.brand_colour.palette();
    let text = if p.on_fill == WHITE { "white" } else { "dark" };
    html! {
        @if !p.brand_is_readable() {
            p.warning #brand-colour-warning role="status" {
                "Neither white nor dark text is readable on " (p.brand.hex())
                " (text needs a contrast of 4.5:1). Card pages use the darker " (p.fill.hex())
                " with white text instead. Choose a darker or a lighter colour to have it as it is."
            }
        } @else {
            p.muted #brand-colour-note {
                "Card pages show " (text) " text on this colour (" (format!("{:.1}", p.text_ratio())) ":1)"
                @if p.link != p.brand { "; links use the darker " (p.link.hex()) " to stay readable" } "."
            }
        }
    }
}
