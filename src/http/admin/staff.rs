//! Staff accounts and API keys (owner only).

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageError, PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::api_key::Scope;
use crate::domain::staff::{Password, Role, Username};
use crate::http::AppState;
use crate::service::ServiceError;
use crate::views::Page;
use crate::views::admin::{Kept, staff as view};
use axum::extract::{Path, State};
use axum::response::IntoResponse;

/// What a member of staff who is not an owner is told here.
const OWNERS_ONLY: &str = "Only an owner can manage staff and API keys.";

async fn staff_page(
    state: &AppState,
    staff: &Staff,
    values: &Kept,
    err: Option<&DomainError>,
) -> Result<maud::Markup, PageError> {
    let chrome = staff.chrome(state).await?;
    let users = state.loyalty.staff().await?;
    let zone = state.loyalty.settings().await?.time_zone.zone();
    Ok(view::list(&chrome, &users, &zone, values, err))
}

/// The staff list.
pub async fn list(State(state): State<AppState>, owner: Owner) -> PageResult {
    let page = staff_page(&state, &Staff::from(owner), &Kept::new(), None).await?;
    Ok(Page(page).into_response())
}

/// What the new-account form sends.
#[derive(Debug, serde::Deserialize)]
pub struct NewStaff {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

/// Adds an account.
pub async fn create(State(state): State<AppState>, form: AdminForm<NewStaff>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let f = &form.value;
    let checked = Username::parse(&f.username).and_then(|u| {
        let role = Role::parse(&f.role)?;
        Ok((u, role, Password::parse(&f.password)?))
    });
    let result = match checked {
        Ok((u, role, p)) => {
            state
                .loyalty
                .add_staff(u, role, p, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    finish(&state, &form, result.map(|_| ())).await
}

async fn finish<T>(
    state: &AppState,
    form: &AdminForm<T>,
    result: Result<(), ServiceError>,
) -> PageResult {
    match result {
        Ok(()) => Ok(see_other("/admin/staff")),
        Err(ServiceError::Domain(e)) if !matches!(e, DomainError::NotFound(_)) => {
            let mut kept = form.kept();
            kept.remove("password");
            let page = staff_page(state, &form.staff, &kept, Some(&e)).await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_disabled(
    state: &AppState,
    username: String,
    disabled: bool,
    form: &AdminForm<super::login::Empty>,
) -> PageResult {
    owner_only(form, OWNERS_ONLY)?;
    let r = state
        .loyalty
        .set_staff_disabled(username, disabled, form.staff.0.actor())
        .await;
    finish(state, form, r.map(|_| ())).await
}

/// Disables an account and ends its sessions.
pub async fn disable(
    State(state): State<AppState>,
    Path(username): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    set_disabled(&state, username, true, &form).await
}

/// Enables an account again.
pub async fn enable(
    State(state): State<AppState>,
    Path(username): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    set_disabled(&state, username, false, &form).await
}

/// What the reset-password form sends.
#[derive(Debug, serde::Deserialize)]
pub struct NewPassword {
    #[serde(default)]
    password: String,
}

/// Sets a new password (staff who forgot theirs ask the owner) and ends the account's sessions.
pub async fn password(
    State(state): State<AppState>,
    Path(username): Path<String>,
    form: AdminForm<NewPassword>,
) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let r = match Password::parse(&form.value.password) {
        Ok(p) => state
            .loyalty
            .reset_staff_password(username, p, form.staff.0.actor())
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    finish(&state, &form, r).await
}

async fn keys_page(
    state: &AppState,
    staff: &Staff,
    new_key: Option<&str>,
    err: Option<&DomainError>,
) -> Result<maud::Markup, PageError> {
    let chrome = staff.chrome(state).await?;
    let keys = state.loyalty.api_keys().await?;
    let zone = state.loyalty.settings().await?.time_zone.zone();
    Ok(view::keys(&chrome, &keys, &zone, new_key, err))
}

/// The API keys.
pub async fn keys(State(state): State<AppState>, owner: Owner) -> PageResult {
    let page = keys_page(&state, &Staff::from(owner), None, None).await?;
    Ok(Page(page).into_response())
}

/// What the new-key form sends (scopes are read as repeated fields).
#[derive(Debug, serde::Deserialize)]
pub struct NewKey {
    #[serde(default)]
    name: String,
}

/// Creates a key and shows it once.
pub async fn create_key(State(state): State<AppState>, form: AdminForm<NewKey>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let scopes: Result<Vec<Scope>, DomainError> =
        form.all("scopes").iter().map(|s| Scope::parse(s)).collect();
    let result = match scopes {
        Ok(s) if s.is_empty() => {
            Err(DomainError::invalid("scopes", "choose at least one scope").into())
        }
        Ok(s) => {
            state
                .loyalty
                .create_api_key(form.value.name.clone(), s, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok((_, key)) => {
            let page = keys_page(&state, &form.staff, Some(&key), None).await?;
            Ok(Page(page).into_response())
        }
        Err(ServiceError::Domain(e)) => {
            let page = keys_page(&state, &form.staff, None, Some(&e)).await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Revokes a key: it stops working at once.
pub async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    state
        .loyalty
        .revoke_api_key(id, form.staff.0.actor())
        .await?;
    Ok(see_other("/admin/keys"))
}
