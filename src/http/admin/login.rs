//! Log-in and log-out.

use super::session::{Staff, Subject, clear_cookie, cookie_secret, session_cookie};
use super::{PageError, PageResult, see_other};
use crate::http::AppState;
use crate::views::{Page, admin::login};
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use std::net::SocketAddr;

/// Where to go after log-in.
#[derive(Debug, serde::Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// What the log-in form sends.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// Only paths inside the admin area, so the log-in page cannot send people elsewhere.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("/admin/login") => n,
        _ => "/admin",
    }
}

/// The log-in page.
pub async fn form(Query(q): Query<Next>) -> PageResult {
    Ok(Page(login::form("", safe_next(q.next.as_deref()), None)).into_response())
}

/// Checks the password (slowed, then refused, after repeated failures) and starts a session.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let next = safe_next(f.next.as_deref()).to_owned();
    let name = f.username.trim().to_lowercase();
    let ip = Some(addr.ip());
    let attempt = match state
        .login_throttle
        .admit(&Subject::Staff(name.clone()), ip)
        .await
    {
        Ok(a) => a,
        Err(refused) => {
            let page = login::form(&f.username, &next, Some(&refused.message()));
            return Ok(refused.respond(Page(page)));
        }
    };
    let checked = match state.loyalty.check_login(&name, f.password).await {
        Ok(c) => c,
        Err(e) => {
            state.login_throttle.release(attempt);
            return Err(e.into());
        }
    };
    // A failure was counted when the attempt was admitted; only a success gives it back.
    let Some(user) = checked else {
        return Ok((
            StatusCode::UNAUTHORIZED,
            Page(login::form(
                &f.username,
                &next,
                Some("Wrong username or password."),
            )),
        )
            .into_response());
    };
    state.login_throttle.release(attempt);
    // A browser that was signed in before gets a new session id, and the old one ends.
    if let Some(old) = cookie_secret(&headers) {
        state
            .loyalty
            .end_session(crate::crypto::sha256_hex(old.as_bytes()))
            .await?;
    }
    let principal = crate::domain::session::Principal::Staff {
        username: user.username.as_str().to_owned(),
    };
    let (secret, _) = state.loyalty.start_session(principal).await?;
    let mut res = see_other(&next);
    if let Ok(v) = session_cookie(&secret, state.secure_cookies).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Ends the session (a POST with the CSRF token, so another site cannot log staff out).
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: super::session::AdminForm<Empty>,
) -> PageResult {
    let Staff(s) = form.staff;
    if cookie_secret(&headers).is_some() {
        state
            .loyalty
            .end_session(s.key)
            .await
            .map_err(PageError::from)?;
    }
    let mut res = see_other("/admin/login");
    if let Ok(v) = clear_cookie(state.secure_cookies).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// A form with no fields of its own (only the CSRF token).
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}
