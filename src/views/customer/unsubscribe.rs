//! The page an email's unsubscribe link opens.

use super::{Head, layout};
use crate::domain::settings::Settings;
use crate::views::banner::Banner;
use maud::{Markup, html};

/// Asks to confirm (a link scanner that opens the link changes nothing), or says it is done.
pub fn page(settings: &Settings, action: &str, done: bool) -> Markup {
    layout(
        "Email notices",
        settings,
        &Head::default(),
        html! {
            h1 { "Email notices" }
            @if done {
                (Banner::done("You will get no more emails about your card.").render())
                p #unsubscribed { "You are unsubscribed. To get them again, log in to your account and turn email notices back on." }
            } @else {
                p { "Stop the emails about your " (settings.business_name) " loyalty card (points earned, points about to expire, tier moves)?" }
                form #unsubscribe method="post" action=(action) {
                    input type="hidden" name="List-Unsubscribe" value="One-Click";
                    button type="submit" { "Unsubscribe" }
                }
            }
        },
    )
}
