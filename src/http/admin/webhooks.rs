//! Outbound event endpoints (owner only).

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageError, PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::events::EndpointUrl;
use crate::http::AppState;
use crate::service::ServiceError;
use crate::storage::events::Endpoint;
use crate::views::Page;
use crate::views::admin::{Kept, webhooks as view};
use axum::extract::{Path, State};
use axum::response::IntoResponse;

/// How many deliveries each endpoint lists.
const RECENT: usize = 20;

/// What a member of staff who is not an owner is told here.
const OWNERS_ONLY: &str = "Only an owner can manage event webhooks.";

async fn render(
    state: &AppState,
    staff: &Staff,
    created: Option<&Endpoint>,
    values: &Kept,
    err: Option<&DomainError>,
) -> Result<maud::Markup, PageError> {
    let chrome = staff.chrome(state).await?;
    let endpoints = state.loyalty.webhook_deliveries(RECENT).await?;
    let zone = state.loyalty.settings().await?.time_zone.zone();
    Ok(view::view(&chrome, &endpoints, &zone, created, values, err))
}

/// The endpoints and their deliveries.
pub async fn show(State(state): State<AppState>, owner: Owner) -> PageResult {
    let page = render(&state, &Staff::from(owner), None, &Kept::new(), None).await?;
    Ok(Page(page).into_response())
}

/// What the new-endpoint form sends.
#[derive(Debug, serde::Deserialize)]
pub struct NewEndpoint {
    #[serde(default)]
    url: String,
}

/// Registers an endpoint and shows its secret once.
pub async fn create(State(state): State<AppState>, form: AdminForm<NewEndpoint>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let result = match EndpointUrl::parse(&form.value.url) {
        Ok(url) => {
            state
                .loyalty
                .add_webhook_endpoint(url, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(e) => {
            let page = render(&state, &form.staff, Some(&e), &Kept::new(), None).await?;
            Ok(Page(page).into_response())
        }
        Err(ServiceError::Domain(e)) => {
            let values = Kept::from([("url".to_owned(), form.value.url.clone())]);
            let page = render(&state, &form.staff, None, &values, Some(&e)).await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes an endpoint: nothing more is sent to it.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    state
        .loyalty
        .remove_webhook_endpoint(id, form.staff.0.actor())
        .await?;
    Ok(see_other("/admin/webhooks"))
}
