//! Joining at the counter (or from a printed card) on the customer's own phone.

use super::{Head, layout};
use crate::domain::DomainError;
use crate::domain::reward::Reward;
use crate::domain::settings::Settings;
use crate::views::admin::{Kept, field_error, form_error, kept};
use maud::{Markup, html};

/// What the join link's `ref` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitation {
    /// A member's code: carried in the form.
    Found(String),
    /// A code no member has (mistyped, cut short, or an erased member's).
    Unknown,
}

/// The join form. `started` is the signed time the form was shown; `card` a printed card's token;
/// `first_reward` the cheapest active reward, to say what members get; `invitation` the
/// referral link it came from.
pub fn form(
    settings: &Settings,
    first_reward: Option<&Reward>,
    values: &Kept,
    err: Option<&DomainError>,
    started: &str,
    card: Option<&str>,
    invitation: Option<&Invitation>,
) -> Markup {
    let r = &settings.referrals;
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
            @match invitation {
                Some(Invitation::Found(_)) => p #referral-note {
                    "A friend invited you."
                    @if r.enabled && r.new_member_points > 0 {
                        " You get " (crate::domain::words::count(r.new_member_points, "point", "points"))
                        " with your first purchase."
                    }
                },
                Some(Invitation::Unknown) => p #referral-note {
                    "We could not find the invitation in your link, but you are welcome to join all the same."
                },
                None => {},
            }
            form #join method="post" action="/join" {
                input type="hidden" name="started" value=(started);
                @if let Some(c) = card { input type="hidden" name="card" value=(c); }
                @if let Some(Invitation::Found(code)) = invitation { input type="hidden" name="ref" value=(code); }
                label for="name" { "Your name" }
                input #name name="name" autocomplete="name" required value=(kept(values, "name"));
                (field_error(err, "name"))
                label for="email" { "Email" }
                input #email name="email" type="email" autocomplete="email" value=(kept(values, "email"));
                (field_error(err, "email"))
                label for="phone" { "Or a phone number" }
                input #phone name="phone" type="tel" autocomplete="tel" value=(kept(values, "phone"));
                (field_error(err, "phone"))
                label for="birthday" { "Birthday (optional, for a treat on the day): month and day, like 04-30" }
                input #birthday name="birthday" autocomplete="bday" placeholder="MM-DD" value=(kept(values, "birthday"));
                (field_error(err, "birthday"))
                // People never see this field; form-filling robots do, and fill it in.
                div.trap aria-hidden="true" {
                    label for="website" { "Leave this empty" }
                    input #website name="website" tabindex="-1" autocomplete="off";
                }
                label.check {
                    input #marketing_consent type="checkbox" name="marketing_consent" checked[!kept(values, "marketing_consent").is_empty()];
                    (settings.consent_wording)
                }
                (form_error(err, &["name", "email", "phone", "birthday"]))
                button type="submit" { "Join" }
            }
            p.muted { "Already a member? " a href="/login" { "Log in" } }
        },
    )
}
