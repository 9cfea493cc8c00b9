//! HTML pages (maud): pure functions from data to markup.

pub mod admin;
pub mod banner;
pub mod card_codes;
pub mod card_pdf;
pub mod chart;
pub mod codes;
pub mod customer;
pub mod icon;
pub mod pdf_logo;
pub mod rules;
pub mod setup;
pub mod tiers;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use std::sync::LazyLock;

/// A rendered page as a response.
pub struct Page(pub Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // Pages show balances and tokens: never keep them in shared caches.
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.0.into_string(),
        )
            .into_response()
    }
}

/// The shared stylesheet (inline styles would break the CSP).
pub const STYLE: &str = include_str!("app.css");

/// Where the stylesheet is served: its content hash is in the name, so it can be cached for a year.
pub static STYLE_PATH: LazyLock<String> = LazyLock::new(|| {
    let hash = crate::crypto::sha256_hex(STYLE.as_bytes());
    format!("/assets/app.{}.css", &hash[..12])
});

/// The `<head>` every page shares.
pub fn head(title: &str) -> Markup {
    head_with(title, html! {})
}

/// The shared `<head>` with `extra` links at its end.
pub fn head_with(title: &str, extra: Markup) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · FealTY" }
            link rel="stylesheet" href=(STYLE_PATH.as_str());
            (extra)
        }
    }
}

/// The frame of pages outside the admin area.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.plain { main { (body) } }
        }
    }
}

/// A plain error page.
pub fn error_page(message: &str) -> Markup {
    layout(
        message,
        html! { h1 { (message) } p { "Please try again in a moment." } },
    )
}

/// Groups digits in threes so big numbers read at a glance (1 234 567).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 { format!("−{out}") } else { out }
}
