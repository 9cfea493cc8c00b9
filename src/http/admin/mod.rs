//! The admin pages under `/admin`: thin handlers over the service, rendering `views::admin`.

mod audit;
mod campaigns;
mod cards;
mod catalogue;
mod dashboard;
mod integrations;
mod login;
mod manifest;
mod members;
mod notices;
mod rules;
pub mod session;
mod settings;
mod staff;
mod tiers;
mod till;
mod webhooks;

pub use members::PendingImports;

use super::AppState;
use crate::domain::DomainError;
use crate::http::error::ApiError;
use crate::service::ServiceError;
use crate::views::{Page, admin as views};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

/// Every admin route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login::form).post(login::submit))
        .route("/admin/manifest.webmanifest", get(manifest::manifest))
        .route("/admin/logout", post(login::logout))
        .route("/admin", get(dashboard::show))
        .route("/admin/members", get(members::list).post(members::create))
        .route("/admin/members/new", get(members::new))
        .route("/admin/members/export.csv", get(members::export))
        .route(
            "/admin/members/import",
            get(members::import_form).post(members::import_preview),
        )
        .route(
            "/admin/members/import/confirm",
            post(members::import_confirm),
        )
        .route(
            "/admin/members/{id}",
            get(members::show).post(members::update),
        )
        .route("/admin/members/{id}/edit", get(members::edit))
        .route("/admin/members/{id}/block", post(members::block))
        .route("/admin/members/{id}/unblock", post(members::unblock))
        .route("/admin/members/{id}/earn", post(till::earn))
        .route("/admin/members/{id}/redeem", post(till::redeem))
        .route("/admin/members/{id}/adjust", post(till::adjust))
        .route("/admin/members/{id}/reverse", post(till::reverse))
        .route("/admin/members/{id}/new-card", post(cards::new_card))
        .route(
            "/admin/members/{id}/customer-password",
            post(cards::reset_customer_password),
        )
        .route("/admin/members/{id}/erase", post(cards::erase))
        .route("/admin/cards", get(cards::sheet))
        .route("/admin/cards.pdf", get(cards::pdf))
        .route("/admin/cards/blank", post(cards::blank))
        .route(
            "/admin/rewards",
            get(catalogue::list).post(catalogue::create),
        )
        .route("/admin/rewards/{id}", post(catalogue::update))
        .route("/admin/rewards/{id}/edit", get(catalogue::edit))
        .route("/admin/settings", get(settings::show).post(settings::save))
        .route("/admin/settings/logo", post(settings::logo))
        .route("/admin/settings/alerts", post(settings::save_alerts))
        .route("/admin/settings/expiry", post(settings::save_expiry))
        .route("/admin/settings/tiers", get(tiers::show).post(tiers::save))
        .route(
            "/admin/settings/referrals",
            get(rules::show).post(rules::save_referrals),
        )
        .route("/admin/settings/birthday", post(rules::save_birthday))
        .route(
            "/admin/settings/campaigns",
            get(campaigns::show).post(campaigns::save),
        )
        .route(
            "/admin/settings/campaigns/{i}/toggle",
            post(campaigns::toggle),
        )
        .route(
            "/admin/settings/campaigns/{i}/delete",
            post(campaigns::delete),
        )
        .route(
            "/admin/settings/notices",
            get(notices::show).post(notices::save),
        )
        .route("/admin/alerts", get(settings::alerts_sent))
        .route("/admin/integrations", get(integrations::show))
        .route("/admin/integrations/attach", post(integrations::attach))
        .route("/admin/integrations/etsy", post(integrations::save_etsy))
        .route("/admin/integrations/{provider}", post(integrations::save))
        .route(
            "/admin/integrations/{provider}/test",
            post(integrations::test),
        )
        .route("/admin/alerts/test", post(settings::test_alert))
        .route("/brand/logo", get(settings::serve_logo))
        .route("/admin/staff", get(staff::list).post(staff::create))
        .route("/admin/staff/{username}/disable", post(staff::disable))
        .route("/admin/staff/{username}/enable", post(staff::enable))
        .route("/admin/staff/{username}/password", post(staff::password))
        .route("/admin/keys", get(staff::keys).post(staff::create_key))
        .route("/admin/keys/{id}/revoke", post(staff::revoke_key))
        .route("/admin/audit", get(audit::show))
        .route(
            "/admin/webhooks",
            get(webhooks::show).post(webhooks::create),
        )
        .route("/admin/webhooks/{id}/remove", post(webhooks::remove))
}

/// Why an admin request could not be served; each becomes a page (or a redirect to log-in).
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the log-in page, then come back to `next`.
    Login {
        /// Where to return.
        next: String,
    },
    /// A customer page without a customer session: go to the customer log-in.
    CustomerLogin,
    /// Signed in, but not allowed (role, or a missing or wrong CSRF token).
    Forbidden(&'static str),
    /// The member, reward or account is not there.
    NotFound,
    /// A form the server cannot read.
    BadForm(String),
    /// A rule refused the request and no form is there to show it beside.
    Refused(DomainError),
    /// The same form is being processed right now.
    InFlight,
    /// The database cannot take writes right now; trying again later may work.
    Unavailable(String),
    /// Too many password checks are waiting; come back in a moment.
    Busy,
    /// Something failed that the user cannot fix; logged once here.
    Internal(String),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Domain(DomainError::NotFound(_)) => PageError::NotFound,
            ServiceError::Domain(d) => PageError::Refused(d),
            ServiceError::InFlight => PageError::InFlight,
            ServiceError::Unavailable(reason) => PageError::Unavailable(reason),
            ServiceError::Busy => PageError::Busy,
            ServiceError::Internal(cause) => PageError::Internal(cause),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let busy = matches!(self, PageError::Busy);
        let (status, title, text) = match self {
            PageError::Login { next } => {
                let target = format!("/admin/login?next={}", views::members::urlencode(&next));
                return Redirect::to(&target).into_response();
            }
            PageError::CustomerLogin => return Redirect::to("/login").into_response(),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why.to_owned()),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here: it may have been removed, or the link is mistyped."
                    .to_owned(),
            ),
            PageError::BadForm(why) => (StatusCode::BAD_REQUEST, "Form not understood", why),
            PageError::Refused(e) => (
                ApiError::from(e.clone()).status,
                "Not done",
                views::sentence(&e),
            ),
            PageError::InFlight => (
                StatusCode::CONFLICT,
                "Still working",
                "This form is being processed already; wait a moment and reload.".to_owned(),
            ),
            PageError::Unavailable(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Not saved",
                format!(
                    "Nothing was saved: the database cannot take changes right now ({reason}). Try again in a few seconds."
                ),
            ),
            PageError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "Too many people are logging in right now. Try again in a few seconds.".to_owned(),
            ),
            PageError::Internal(cause) => {
                tracing::error!(%cause, "admin page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The problem has been logged. Please try again in a moment.".to_owned(),
                )
            }
        };
        let mut res = (status, Page(views::message(title, &text))).into_response();
        if busy {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::password::BUSY_RETRY_AFTER),
            );
        }
        res
    }
}

/// Shorthand for admin handler results.
pub type PageResult = Result<Response, PageError>;

/// A 303 to `to` (after a successful POST, so reloading does not post again).
pub fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// The answer to a form's save: a 303 to `done` when it worked; when a rule refused it, the
/// page again (drawn by `render` with the problem) under the refusal's status; anything else
/// becomes an error page.
pub async fn refused_or<T>(
    result: Result<T, ServiceError>,
    done: &str,
    render: impl AsyncFnOnce(&DomainError) -> Result<maud::Markup, PageError>,
) -> PageResult {
    match result {
        Ok(_) => Ok(see_other(done)),
        Err(ServiceError::Domain(e)) => {
            let page = render(&e).await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The HTTP status for a refused form.
pub fn refused_status(e: &DomainError) -> StatusCode {
    ApiError::from(e.clone()).status
}

/// A member id from a URL; a malformed one is simply not found.
pub fn member_id(raw: &str) -> Result<crate::domain::member::MemberId, PageError> {
    crate::domain::member::MemberId::parse(raw).map_err(|_| PageError::NotFound)
}

/// A fresh one-time token for a form.
pub fn form_token() -> Result<String, PageError> {
    crate::crypto::random_token::<16>().map_err(|e| PageError::Internal(e.to_string()))
}
