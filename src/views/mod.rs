//! HTML pages (maud): pure functions from data to markup.

pub mod setup;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// A rendered page as a response.
pub struct Page(pub Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.0.into_string(),
        )
            .into_response()
    }
}

/// The shared stylesheet, served at `/assets/app.css` (inline styles would break the CSP).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5}\
label{display:block;margin-top:1rem;font-weight:600}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}.error{color:#b00020}";

/// The frame every page shares.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · FealTY" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body { main { (body) } }
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
