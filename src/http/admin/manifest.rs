//! The web app manifest that lets staff add the till to a phone's home screen.

use super::PageResult;
use crate::http::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// Where the installed till opens: member search, ready for a scan.
pub const START_URL: &str = "/admin/members";

/// The manifest; no log-in, as it holds nothing private but the business's name.
pub async fn manifest(State(state): State<AppState>) -> PageResult {
    let s = state.loyalty.settings().await?;
    let short: String = s.business_name.chars().take(12).collect();
    let generated = [
        serde_json::json!({ "src": "/c/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any" }),
        serde_json::json!({ "src": "/c/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any" }),
    ];
    // The logo comes first; the generated icons stay as sizes a launcher can rely on.
    let icons: Vec<serde_json::Value> = s
        .logo
        .map(|kind| {
            serde_json::json!({ "src": "/brand/logo", "sizes": "any", "type": kind.mime(), "purpose": "any" })
        })
        .into_iter()
        .chain(generated)
        .collect();
    let body = serde_json::json!({
        "name": format!("{} till", s.business_name),
        "short_name": short,
        "start_url": START_URL,
        "scope": "/admin/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": s.brand_colour.as_str(),
        "icons": icons,
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response())
}
