//! The first-owner setup pages.

use super::admin::field_error;
use super::layout;
use crate::domain::DomainError;
use maud::{Markup, html};

/// The form that creates the first owner.
pub fn form(username: &str, err: Option<&DomainError>) -> Markup {
    layout(
        "Create the owner account",
        html! {
            h1 { "Welcome to FealTY" }
            p { "Create the owner account. This link works once." }
            form method="post" {
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required value=(username);
                (field_error(err, "username"))
                label for="password" { "Password (at least 10 characters)" }
                input id="password" name="password" type="password" autocomplete="new-password" required minlength="10";
                (field_error(err, "password"))
                label for="confirm" { "Password again" }
                input id="confirm" name="confirm" type="password" autocomplete="new-password" required;
                (field_error(err, "confirm"))
                @if let Some(e @ DomainError::Taken { .. }) = err { p.error role="alert" { (e.to_string()) } }
                button type="submit" { "Create owner" }
            }
        },
    )
}

/// Shown once the owner exists.
pub fn done(username: &str) -> Markup {
    layout(
        "Owner created",
        html! {
            h1 { "You're set up" }
            p { "The owner account " strong { (username) } " is ready." }
            p { a.button href="/admin/login" { "Log in" } }
        },
    )
}

/// Shown for a used or unknown link.
pub fn gone() -> Markup {
    layout(
        "Link not valid",
        html! {
            h1 { "This setup link is not valid" }
            p { "It was used already, or a newer one was printed when the server restarted." }
        },
    )
}
