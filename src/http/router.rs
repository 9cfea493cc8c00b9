//! Every route in one place, with the layers all of them share.

use super::admin::session::LoginThrottle;
use super::error::ApiError;
use super::extract::AuthFailures;
use super::{admin, api, customer, health, setup};
use crate::service::Loyalty;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The loyalty scheme.
    pub loyalty: Loyalty,
    /// The public base URL, e.g. `https://rewards.example.com`, for card links.
    pub base_url: String,
    /// Failed API authentications per address.
    pub auth_failures: AuthFailures,
    /// Failed admin log-ins per account and address.
    pub login_throttle: LoginThrottle,
    /// Whether cookies get `Secure` (the site is served over HTTPS).
    pub secure_cookies: bool,
    /// The last scheduled backup's outcome.
    pub backup_status: crate::backup::schedule::StatusCell,
    /// The TLS certificate's state, when serving HTTPS.
    pub tls_status: crate::tls::StatusCell,
    /// Signs join forms and counts joins per address.
    pub join_guard: super::customer::join::JoinGuard,
    /// Import files previewed and waiting to be confirmed.
    pub pending_imports: admin::PendingImports,
    /// Card pages' QR codes and barcodes, drawn once per card.
    pub card_codes: crate::views::card_codes::CardCodes,
    /// Home-screen icons in the business's colour, drawn once.
    pub icons: crate::views::icon::Icons,
    /// `/metrics`, when it is on.
    pub metrics: Option<super::metrics::MetricsAccess>,
    /// How owner alerts are sent, and the task to wake when one is queued.
    pub alerts: (crate::alerts::AlertsConfig, crate::alerts::Wake),
    /// Shop deliveries refused or repeated lately, kept in memory for the Integrations page.
    pub hook_attempts: crate::hooks::attempts::Attempts,
    openapi: Arc<String>,
}

/// The whole application for a server reachable at `base_url`; with `metrics_token`,
/// `/metrics` is served to those who present it (else it is not there at all).
pub fn build(
    loyalty: Loyalty,
    base_url: String,
    backup_status: crate::backup::schedule::StatusCell,
    tls_status: crate::tls::StatusCell,
    metrics_token: Option<crate::metrics::MetricsToken>,
    alerts: (crate::alerts::AlertsConfig, crate::alerts::Wake),
) -> Result<Router, crate::crypto::RandomError> {
    let join_guard = customer::join::JoinGuard::new()?;
    // One call gives both the routes and the document that describes them.
    let (api, doc) = api::router();
    let metrics = metrics_token.map(|token| super::metrics::MetricsAccess {
        token,
        metrics: crate::metrics::Metrics::new(loyalty.store().write_stats().clone()),
    });
    let state = AppState {
        loyalty,
        secure_cookies: base_url.starts_with("https://"),
        login_throttle: LoginThrottle::default(),
        join_guard,
        pending_imports: admin::PendingImports::default(),
        card_codes: crate::views::card_codes::CardCodes::default(),
        icons: crate::views::icon::Icons::default(),
        backup_status,
        tls_status,
        base_url,
        auth_failures: AuthFailures::default(),
        metrics: metrics.clone(),
        alerts,
        hook_attempts: crate::hooks::attempts::Attempts::default(),
        openapi: Arc::new(doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())),
    };
    // Every page a browser posts to, with or without a session, is held to one origin rule.
    let pages = Router::new()
        .merge(admin::router())
        .merge(customer::router())
        .route("/setup/{token}", get(setup::form).post(setup::submit))
        .layer(axum::middleware::from_fn(super::origin::same_origin_posts));
    let mut routes = Router::new()
        .merge(api)
        .merge(pages)
        .merge(super::hooks::router())
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/assets/{file}", get(stylesheet));
    if metrics.is_some() {
        routes = routes.route("/metrics", get(super::metrics::scrape));
    }
    let app = routes
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::map_response(
            super::error::ensure_retry_after,
        ))
        .layer(axum::middleware::from_fn(super::access_log::log_request));
    // Outermost, so it counts the status the client gets; added per route, where the matched
    // route is known.
    let app = match metrics {
        Some(access) => app.layer(axum::middleware::from_fn_with_state(
            access.metrics,
            super::metrics::count,
        )),
        None => app,
    };
    Ok(app.with_state(state))
}

async fn openapi(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
        .into_response()
}

/// The stylesheet under its content-hashed name, cached for a year; any other name is 404.
async fn stylesheet(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let path = format!("/assets/{file}");
    let (kind, body) = if path == *crate::views::STYLE_PATH {
        ("text/css; charset=utf-8", crate::views::STYLE)
    } else if path == *crate::views::customer::CARD_JS_PATH {
        (
            "application/javascript; charset=utf-8",
            crate::views::customer::CARD_JS,
        )
    } else {
        return ApiError::not_found("asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: with it browsers send `Origin: null` on our own form posts, which the
    // cross-site check must then refuse. `same-origin` still keeps card links from other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    res
}
