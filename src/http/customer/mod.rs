//! The customer pages: the card page from a QR code, joining, log-in and the account.

mod account;
pub mod card;
pub mod join;
mod unsubscribe;

use super::AppState;
use super::admin::PageError;
use super::admin::session::{CsrfHolder, MEMBER_COOKIE, named_cookie};
use crate::service::MemberSession;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};

/// Every customer route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/c/sw.js", get(card::service_worker))
        .route("/c/icon-192.png", get(card::icon_192))
        .route("/c/icon-512.png", get(card::icon_512))
        .route("/c/{token}", get(card::show))
        .route("/c/{token}/manifest.webmanifest", get(card::manifest))
        .route("/c/{token}/password", post(card::set_password))
        .route("/c/{token}/email-link", post(card::email_link))
        .route("/brand/theme.css", get(card::theme))
        .route("/join", get(join::form).post(join::submit))
        .route("/login", get(account::login_form).post(account::login))
        .route("/account", get(account::show))
        .route("/account/details", post(account::details))
        .route("/account/data.json", get(account::data))
        .route("/account/erase", post(account::erase))
        .route("/account/notices", post(account::notices))
        .route(
            "/unsubscribe/{member}/{token}",
            get(unsubscribe::confirm).post(unsubscribe::unsubscribe),
        )
        .route("/account/logout", post(account::logout))
}

/// A signed-in customer.
#[derive(Debug, Clone)]
pub struct Customer(pub MemberSession);

impl CsrfHolder for Customer {
    fn csrf(&self) -> &str {
        &self.0.session.csrf
    }
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Some(secret) = named_cookie(&parts.headers, MEMBER_COOKIE) else {
            return Err(PageError::CustomerLogin);
        };
        match state.loyalty.member_session(&secret).await? {
            Some(s) => Ok(Customer(s)),
            None => Err(PageError::CustomerLogin),
        }
    }
}
