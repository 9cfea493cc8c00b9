//! Joining at the counter (or from a printed card) on the customer's own phone.

use super::{Head, layout};
use crate::domain::DomainError;
use crate::domain::reward::Reward;
use crate::domain::settings::Settings;
use crate::views::admin::{Kept, field_error, form_error, kept};
use maud::{Markup, html};

/// The join form. `started` is the signed time the form was shown; `card` a printed card's token;
/// `first_reward` the cheapest active reward, to say what members get.
pub fn form(
    settings: &Settings,
    first_reward: Option<&Reward>,
    values: &Kept,
    err: Option<&DomainError>,
    started: &str,
    card: Option<&str>,
) -> Markup {
    layout(
        "Join",
        settings,
        &Head::default(),
        html! {
            h1 { "Join " (settings.business_name) }
            @let rule = settings.earning.in_words(&settings.currency);
            @if rule.is_some() || first_reward.is_some() {
                section.card #member-gets {
                    h2 { "What members get" }
                    ul {
                        @if let Some(r) = &rule { li #earning-rule { "Collect " strong { (r) } " you spend." } }
                        @if let Some(r) = first_reward {
                            li #first-reward { strong { (r.name) } " at " (crate::views::thousands(r.cost)) " points." }
                        }
                    }
                }
            }
            @if card.is_some() { p { "You are joining with the card you were given." } }
            form #join method="post" action="/join" {
                input type="hidden" name="started" value=(started);
                @if let Some(c) = card { input type="hidden" name="card" value=(c); }
                label for="name" { "Your name" }
                input #name name="name" autocomplete="name" required value=(kept(values, "name"));
                (field_error(err, "name"))
                label for="email" { "Email" }
                input #email name="email" type="email" autocomplete="email" value=(kept(values, "email"));
                (field_error(err, "email"))
                label for="phone" { "Or a phone number" }
                input #phone name="phone" type="tel" autocomplete="tel" value=(kept(values, "phone"));
                (field_error(err, "phone"))
                // People never see this field; form-filling robots do, and fill it in.
                div.trap aria-hidden="true" {
                    label for="website" { "Leave this empty" }
                    input #website name="website" tabindex="-1" autocomplete="off";
                }
                label.check {
                    input #marketing_consent type="checkbox" name="marketing_consent" checked[!kept(values, "marketing_consent").is_empty()];
                    (settings.consent_wording)
                }
                (form_error(err, &["name", "email", "phone"]))
                button type="submit" { "Join" }
            }
            p.muted { "Already a member? " a href="/login" { "Log in" } }
        },
    )
}
