//! The customer's log-in and account pages.

use super::{Head, layout};
use crate::domain::DomainError;
use crate::domain::ledger::LedgerEntry;
use crate::domain::member::Member;
use crate::domain::settings::Settings;
use crate::views::admin::{Kept, field_error, form_error, kept, local_time};
use crate::views::banner::{Banner, REFUSED_ID, Tone, banner};
use crate::views::thousands;
use maud::{Markup, html};

/// The log-in form.
pub fn login(settings: &Settings, identifier: &str, message: Option<&str>) -> Markup {
    layout(
        "Log in",
        settings,
        &Head::default(),
        html! {
            @if let Some(m) = message { (banner(Tone::Refused, html! { (m) }, false)) }
            h1 { "Log in" }
            form #login method="post" action="/login" {
                label for="identifier" { "Card number or email" }
                input #identifier name="identifier" autocomplete="username" required autofocus[message.is_none()] value=(identifier);
                label for="password" { "Password or PIN" }
                // After a refusal the card number is kept: the PIN is what to type again.
                input #password name="password" type="password" autocomplete="current-password" required
                    autofocus[message.is_some()] aria-invalid=[message.is_some().then_some("true")]
                    aria-describedby=[message.is_some().then_some(REFUSED_ID)];
                button type="submit" { "Log in" }
            }
            p.muted { "No password yet? Open your card's page (scan its QR code) and set one there. Forgotten it? Staff can reset it at the counter." }
        },
    )
}

/// What the account page shows.
pub struct AccountView<'a> {
    /// The member.
    pub member: &'a Member,
    /// Their entries, newest first.
    pub history: &'a [LedgerEntry],
    /// Name, colours, wording.
    pub settings: &'a Settings,
    /// The session's anti-CSRF token.
    pub csrf: &'a str,
    /// Typed values of a refused details form.
    pub values: &'a Kept,
    /// Why it was refused.
    pub err: Option<&'a DomainError>,
    /// A message about the last action.
    pub notice: Option<&'a str>,
}

/// The account page.
pub fn account(v: &AccountView) -> Markup {
    let m = v.member;
    let zone = v.settings.time_zone.zone();
    layout(
        "Your account",
        v.settings,
        &Head::default(),
        html! {
            @if let Some(n) = v.notice { (Banner::done(n).render()) }
            h1 { "Your account" }
            section.card {
                p.muted { "Your points" }
                p.balance #balance data-value=(m.balance) { (thousands(m.balance)) }
                p { "Card " strong { (m.card_number.as_str()) } " · " a href={ "/c/" (m.card_token.as_str()) } { "Show my card" } }
                @if m.erasure_requested_at.is_some() { p.error #erasure-requested { "You asked for your account to be erased; the business will confirm it." } }
            }
            section.card {
                h2 { "History" }
                table #history {
                    tbody { @for e in v.history {
                        tr {
                            td { (local_time(e.body.created_at, &zone)) }
                            td { (crate::domain::words::entry_label(e.body.kind, None)) @if let Some(r) = &e.body.reason { ": " (r) } }
                            td.points { @if e.body.points > 0 { "+" } (e.body.points) }
                        }
                    } }
                }
            }
            section.card {
                h2 { "Your details" }
                form #details method="post" action="/account/details" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    label for="name" { "Name" }
                    input #name name="name" autocomplete="name" value=(kept(v.values, "name"));
                    (field_error(v.err, "name"))
                    label for="email" { "Email" }
                    input #email name="email" type="email" autocomplete="email" value=(kept(v.values, "email"));
                    (field_error(v.err, "email"))
                    label for="phone" { "Phone" }
                    input #phone name="phone" type="tel" autocomplete="tel" value=(kept(v.values, "phone"));
                    (field_error(v.err, "phone"))
                    label for="birthday" { "Birthday (optional): month and day like 04-30, or the full date" }
                    input #birthday name="birthday" autocomplete="bday" placeholder="MM-DD" value=(kept(v.values, "birthday"));
                    (field_error(v.err, "birthday"))
                    label.check {
                        input #marketing_consent type="checkbox" name="marketing_consent" checked[!kept(v.values, "marketing_consent").is_empty()];
                        (m.marketing_consent_text.as_deref().unwrap_or(&v.settings.consent_wording))
                    }
                    (form_error(v.err, &["name", "email", "phone", "birthday"]))
                    button type="submit" { "Save" }
                }
            }
            @if v.settings.notices.any() {
                section.card #notices-section {
                    h2 { "Email notices" }
                    form #notices method="post" action="/account/notices" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        @match m.notices.off_at {
                            Some(at) => {
                                p #notices-state { "You turned email notices off on " (local_time(at, &zone)) "." }
                                input type="hidden" name="on" value="1";
                                button type="submit" { "Turn email notices back on" }
                            }
                            None => {
                                p #notices-state { "We email you about your card: your points, points about to expire, your tier." }
                                input type="hidden" name="on" value="0";
                                button.secondary type="submit" { "Stop email notices" }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Your data" }
                p { a #download href="/account/data.json" download { "Download everything we hold about you (JSON)" } }
                form #erase method="post" action="/account/erase" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    p.muted { "Erasing removes your name and contact details and closes your card; your points lapse." }
                    button.danger type="submit" { "Ask to erase my account" }
                }
            }
            form #logout method="post" action="/account/logout" {
                input type="hidden" name="csrf" value=(v.csrf);
                button.secondary type="submit" { "Log out" }
            }
        },
    )
}
