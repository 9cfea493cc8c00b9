//! Pages customers see: the card page, joining, log-in and their account.

pub mod account;
pub mod card;
pub mod join;
pub mod unsubscribe;

use super::STYLE_PATH;
use crate::domain::settings::Settings;
use maud::{DOCTYPE, Markup, html};
use std::sync::LazyLock;

/// The small script that registers the service worker (the pages work without it).
pub const CARD_JS: &str = include_str!("card.js");

/// Where the card script is served: content-hashed, so it can be cached for a year.
pub static CARD_JS_PATH: LazyLock<String> = LazyLock::new(|| {
    let hash = crate::crypto::sha256_hex(CARD_JS.as_bytes());
    format!("/assets/card.{}.js", &hash[..12])
});

/// The service worker (served at `/c/sw.js`, scope `/c/`).
pub const SERVICE_WORKER: &str = include_str!("sw.js");

/// Extra parts of a customer page's head.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// The web app manifest for "add to home screen".
    pub manifest: Option<String>,
    /// Whether to load the card script.
    pub script: bool,
}

/// The frame of customer pages, in the business's colour, with its logo.
pub fn layout(title: &str, settings: &Settings, head: &Head, body: Markup) -> Markup {
    let colour = settings.brand_colour.as_str();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (settings.business_name) }
                link rel="stylesheet" href=(STYLE_PATH.as_str());
                // The colour is in the URL so a change shows at once, while each version caches.
                link rel="stylesheet" href={ "/brand/theme.css?v=" (colour.trim_start_matches('#')) (crate::views::tiers::css_version(&settings.tiers)) };
                meta name="theme-color" content=(colour);
                @if let Some(m) = &head.manifest { link rel="manifest" href=(m); }
                link rel="icon" href="/c/icon-192.png" type="image/png";
                link rel="apple-touch-icon" href="/c/icon-192.png";
                @if head.script { script src=(CARD_JS_PATH.as_str()) defer {} }
            }
            body.customer {
                header.brand-bar {
                    @if settings.logo.is_some() { img src="/brand/logo" alt="" height="40"; }
                    span #business { (settings.business_name) }
                }
                main.customer { (body) }
            }
        }
    }
}

/// The business's colours as a stylesheet: bars and buttons in the brand colour with a text
/// colour that reads on it, links and focus rings in a shade that reads on the page; danger and
/// secondary buttons keep their own colours.
pub fn theme_css(settings: &Settings) -> String {
    let p = settings.brand_colour.palette();
    format!(
        ":root{{--brand:{fill};--on-brand:{text};--brand-link:{link}}}\
         header.brand-bar{{background:var(--brand);color:var(--on-brand)}}\
         .customer button:not(.danger):not(.secondary):not(.link),.customer .button{{background:var(--brand);color:var(--on-brand)}}\
         .customer main a:not(.button),.customer details summary{{color:var(--brand-link)}}\
         .customer progress{{accent-color:var(--brand-link)}}{tiers}",
        fill = p.fill.hex(),
        text = p.on_fill.hex(),
        link = p.link.hex(),
        tiers = crate::views::tiers::tier_css(&settings.tiers),
    )
}

/// A friendly page for a card that does not exist (any more).
pub fn card_not_found(settings: &Settings) -> Markup {
    layout(
        "Card not found",
        settings,
        &Head::default(),
        html! {
            h1 { "Card not found" }
            p { "This card link does not work. The card may have been replaced by a new one; ask at the counter." }
            p { a href="/login" { "Log in to your account" } }
        },
    )
}

/// A short customer-side message page (403, 429 and the like).
pub fn message(settings: &Settings, title: &str, text: &str) -> Markup {
    layout(
        title,
        settings,
        &Head::default(),
        html! { h1 { (title) } p.error role="alert" { (text) } },
    )
}
