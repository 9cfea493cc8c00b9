//! The one-time setup link that creates the first owner.

use super::AppState;
use crate::domain::DomainError;
use crate::domain::staff::{Password, Username};
use crate::service::ServiceError;
use crate::views::{self, Page};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What the setup form sends.
#[derive(Debug, serde::Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Shows the form while the link is valid.
pub async fn form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.loyalty.setup_token_valid(&token).await {
        Ok(true) => Page(views::setup::form("", None)).into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, Page(views::setup::gone())).into_response(),
        Err(e) => internal(e),
    }
}

/// Creates the owner, or shows the form again with the problem beside the field.
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(f): Form<SetupForm>,
) -> Response {
    let checked = Username::parse(&f.username).and_then(|u| {
        if f.password != f.confirm {
            return Err(DomainError::invalid("confirm", "the passwords differ"));
        }
        Password::parse(&f.password).map(|p| (u, p))
    });
    let (username, password) = match checked {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Page(views::setup::form(&f.username, Some(&e))),
            )
                .into_response();
        }
    };
    match state
        .loyalty
        .complete_setup(&token, username, password)
        .await
    {
        Ok(user) => Page(views::setup::done(user.username.as_str())).into_response(),
        Err(ServiceError::Domain(DomainError::NotFound(_))) => {
            (StatusCode::NOT_FOUND, Page(views::setup::gone())).into_response()
        }
        Err(ServiceError::Domain(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Page(views::setup::form(&f.username, Some(&e))),
        )
            .into_response(),
        Err(e) => crate::http::admin::PageError::from(e).into_response(),
    }
}

fn internal(e: ServiceError) -> Response {
    tracing::error!(error = %e, "setup failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Page(views::error_page("Something went wrong")),
    )
        .into_response()
}
