//! The staff log-in page.

use crate::views::layout;
use maud::{Markup, html};

/// The log-in form; `message` explains a refused attempt.
pub fn form(username: &str, next: &str, message: Option<&str>) -> Markup {
    layout(
        "Log in",
        html! {
            h1 { "Log in" }
            form method="post" action="/admin/login" {
                input type="hidden" name="next" value=(next);
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required autofocus
                    autocapitalize="none" value=(username);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                @if let Some(m) = message { p.error role="alert" { (m) } }
                button type="submit" { "Log in" }
            }
        },
    )
}
