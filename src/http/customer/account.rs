//! The customer's log-in and account: history, details, consent, data download, erasure.

use super::Customer;
use crate::domain::DomainError;
use crate::domain::member::MemberPatch;
use crate::domain::session::Principal;
use crate::http::AppState;
use crate::http::admin::session::{
    CheckedForm, MEMBER_COOKIE, Subject, clear_cookie_named, named_cookie, session_cookie_named,
};
use crate::http::admin::{PageError, PageResult, refused_status, see_other};
use crate::service::ServiceError;
use crate::views::Page;
use crate::views::admin::Kept;
use crate::views::customer::account::{self as view, AccountView};
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use std::net::SocketAddr;

/// A form posted by a signed-in customer, its anti-CSRF token checked.
pub type CustomerForm<T> = CheckedForm<Customer, T>;

/// The log-in form.
pub async fn login_form(State(state): State<AppState>) -> PageResult {
    let settings = state.loyalty.settings().await?;
    Ok(Page(view::login(&settings, "", None)).into_response())
}

/// What the log-in form sends.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
}

/// Checks the card number or email and password, with the staff log-in's slow-down rules.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let settings = state.loyalty.settings().await?;
    // Failures count against the member whichever identifier was typed (card number or email).
    let subject = Subject::Member(match state.loyalty.login_member_id(&f.identifier).await? {
        Some(id) => id,
        None => f.identifier.trim().to_lowercase(),
    });
    let ip = Some(addr.ip());
    let attempt = match state.login_throttle.admit(&subject, ip).await {
        Ok(a) => a,
        Err(refused) => {
            let page = view::login(&settings, &f.identifier, Some(&refused.message()));
            return Ok(refused.respond(Page(page)));
        }
    };
    let checked = match state
        .loyalty
        .customer_login(&f.identifier, f.password)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            state.login_throttle.release(attempt);
            return Err(e.into());
        }
    };
    // A failure was counted when the attempt was admitted; only a success gives it back.
    let Some(member) = checked else {
        let page = view::login(
            &settings,
            &f.identifier,
            Some("Wrong card number, email or password."),
        );
        return Ok((StatusCode::UNAUTHORIZED, Page(page)).into_response());
    };
    state.login_throttle.release(attempt);
    if let Some(old) = named_cookie(&headers, MEMBER_COOKIE) {
        state
            .loyalty
            .end_session(crate::crypto::sha256_hex(old.as_bytes()))
            .await?;
    }
    let principal = Principal::Member {
        member_id: member.id.as_str().to_owned(),
    };
    let (secret, _) = state.loyalty.start_session(principal).await?;
    let mut res = see_other("/account");
    if let Ok(v) = session_cookie_named(MEMBER_COOKIE, &secret, state.secure_cookies).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

async fn page(
    state: &AppState,
    c: &Customer,
    values: Option<&Kept>,
    err: Option<&DomainError>,
    notice: Option<&str>,
) -> Result<maud::Markup, PageError> {
    let settings = state.loyalty.settings().await?;
    let (member, mut entries) = state.loyalty.member_data(c.0.member.id.clone()).await?;
    entries.reverse();
    let own = crate::views::admin::members::member_values(&member);
    Ok(view::account(&AccountView {
        member: &member,
        history: &entries,
        settings: &settings,
        csrf: &c.0.session.csrf,
        values: values.unwrap_or(&own),
        err,
        notice,
    }))
}

/// The account page.
pub async fn show(State(state): State<AppState>, c: Customer) -> PageResult {
    Ok(Page(page(&state, &c, None, None, None).await?).into_response())
}

/// What the details form sends.
#[derive(Debug, serde::Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    marketing_consent: Option<String>,
    #[serde(default)]
    birthday: String,
}

/// Saves the customer's own details and consent.
pub async fn details(State(state): State<AppState>, form: CustomerForm<DetailsForm>) -> PageResult {
    let settings = state.loyalty.settings().await?;
    let f = &form.value;
    let patch = MemberPatch::details(
        &f.name,
        &f.email,
        &f.phone,
        f.marketing_consent.is_some(),
        Some(settings.consent_wording.clone()),
    )
    .and_then(|p| p.with_birthday(&f.birthday));
    let member = form.staff.0.member.id.clone();
    let result = match patch {
        Ok(p) => state.loyalty.update_own_details(member, p).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok((_, false)) => Ok(see_other("/account")),
        Ok((_, true)) => {
            // Worded so that it does not say whether the address belongs to someone else.
            let note = "Your other details were saved. The email address was not changed: ask at the counter if you need to change it.";
            let html = page(&state, &form.staff, None, None, Some(note)).await?;
            Ok(Page(html).into_response())
        }
        Err(ServiceError::Domain(e)) => {
            let html = page(&state, &form.staff, Some(&form.kept()), Some(&e), None).await?;
            Ok((refused_status(&e), Page(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Everything held about the customer, as JSON.
pub async fn data(State(state): State<AppState>, c: Customer) -> PageResult {
    let (member, entries) = state.loyalty.member_data(c.0.member.id.clone()).await?;
    let body = serde_json::to_string_pretty(&serde_json::json!({
        "member": member,
        "entries": crate::http::api::entry::entries_json(&entries),
    }))
    .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"my-data.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// A form with only the anti-CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}

/// Records the customer's request to be erased; an owner confirms it.
pub async fn erase(State(state): State<AppState>, form: CustomerForm<Empty>) -> PageResult {
    let c = &form.staff;
    let actor = crate::domain::actor::Actor::System;
    state
        .loyalty
        .request_erasure(c.0.member.id.clone(), actor)
        .await?;
    let html = page(
        &state,
        c,
        None,
        None,
        Some("Erasure requested: the business will confirm it and then remove your details."),
    )
    .await?;
    Ok(Page(html).into_response())
}

/// What the notices switch sends.
#[derive(Debug, serde::Deserialize)]
pub struct NoticesForm {
    #[serde(default)]
    on: String,
}

/// Turns the customer's email notices off or back on.
pub async fn notices(State(state): State<AppState>, form: CustomerForm<NoticesForm>) -> PageResult {
    let on = form.value.on == "1";
    state
        .loyalty
        .set_notices(form.staff.0.member.id.clone(), on)
        .await?;
    Ok(see_other("/account"))
}

/// Ends the customer's session.
pub async fn logout(State(state): State<AppState>, form: CustomerForm<Empty>) -> PageResult {
    state.loyalty.end_session(form.staff.0.key.clone()).await?;
    let mut res = see_other("/login");
    if let Ok(v) = clear_cookie_named(MEMBER_COOKIE, state.secure_cookies).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}
