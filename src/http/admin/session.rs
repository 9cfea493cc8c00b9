//! Who is signed in: the session cookie, the staff and owner extractors, CSRF-checked forms,
//! and the log-in throttle.

use super::PageError;
use crate::crypto;
use crate::domain::throttle::{self, FailureLog, Policy, Verdict};
use crate::http::AppState;
use crate::http::router::BODY_LIMIT;
use crate::service::StaffSession;
use crate::views::admin::{Chrome, Kept};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::{HeaderMap, Method, header, request::Parts};
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The staff session cookie's name.
pub const COOKIE: &str = "fealty_session";
/// The customer session cookie's name (separate, so one browser can hold both).
pub const MEMBER_COOKIE: &str = "fealty_member";

/// The staff cookie secret a request carries, if any.
pub fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// The value of cookie `name`, if the request carries one.
pub fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that starts a session in cookie `name`.
pub fn session_cookie_named(name: &str, secret: &str, secure: bool) -> String {
    let lifetime = crate::domain::session::SESSION_LIFETIME.whole_seconds();
    format!(
        "{name}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={lifetime}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session in cookie `name`.
pub fn clear_cookie_named(name: &str, secure: bool) -> String {
    format!(
        "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that starts a staff session.
pub fn session_cookie(secret: &str, secure: bool) -> String {
    session_cookie_named(COOKIE, secret, secure)
}

/// The `Set-Cookie` value that ends a staff session.
pub fn clear_cookie(secure: bool) -> String {
    clear_cookie_named(COOKIE, secure)
}

/// A signed-in person whose forms carry their session's anti-CSRF token.
pub trait CsrfHolder {
    /// The session's token.
    fn csrf(&self) -> &str;
}

impl CsrfHolder for Staff {
    fn csrf(&self) -> &str {
        &self.0.session.csrf
    }
}

/// A signed-in staff member (any role).
#[derive(Debug, Clone)]
pub struct Staff(pub StaffSession);

/// A signed-in owner.
#[derive(Debug, Clone)]
pub struct Owner(pub StaffSession);

impl Staff {
    /// What the page frame shows.
    pub async fn chrome(&self, state: &AppState) -> Result<Chrome, PageError> {
        let settings = state.loyalty.settings().await?;
        Ok(Chrome {
            username: self.0.user.username.as_str().to_owned(),
            owner: self.0.is_owner(),
            csrf: self.0.session.csrf.clone(),
            business: settings.business_name,
        })
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let next = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map_or("/admin".to_owned(), |p| p.as_str().to_owned())
        } else {
            "/admin".to_owned()
        };
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(PageError::Login { next });
        };
        match state.loyalty.staff_session(&secret).await? {
            Some(s) => Ok(Staff(s)),
            None => Err(PageError::Login { next }),
        }
    }
}

impl FromRequestParts<AppState> for Owner {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Staff(s) = Staff::from_request_parts(parts, state).await?;
        if !s.is_owner() {
            return Err(PageError::Forbidden("Only an owner can open this page."));
        }
        Ok(Owner(s))
    }
}

impl From<Owner> for Staff {
    fn from(o: Owner) -> Self {
        Staff(o.0)
    }
}

/// A form posted by a signed-in staff member, with its anti-CSRF token checked.
pub type AdminForm<T> = CheckedForm<Staff, T>;

/// Refuses with `refusal` unless an owner sent the form.
pub fn owner_only<T>(form: &AdminForm<T>, refusal: &'static str) -> Result<(), PageError> {
    if form.staff.0.is_owner() {
        Ok(())
    } else {
        Err(PageError::Forbidden(refusal))
    }
}

/// A form posted in a session (`S`: staff or customer), with its anti-CSRF token checked.
pub struct CheckedForm<S, T> {
    /// Who sent it.
    pub staff: S,
    /// The decoded fields.
    pub value: T,
    /// Every field as sent, to show typed values again and to read repeated fields.
    pub pairs: Vec<(String, String)>,
    /// A hash of the path and the fields (without the CSRF token), for one-time form tokens.
    pub fingerprint: String,
}

impl<S, T> CheckedForm<S, T> {
    /// The typed values, for re-showing a refused form.
    pub fn kept(&self) -> Kept {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "csrf")
            .cloned()
            .collect()
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn check_csrf(holder: &impl CsrfHolder, sent: Option<&str>) -> Result<(), PageError> {
    match sent {
        Some(t) if crypto::constant_time_eq(t, holder.csrf()) => Ok(()),
        _ => Err(PageError::Forbidden(
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )),
    }
}

impl<S, T> FromRequest<AppState> for CheckedForm<S, T>
where
    S: FromRequestParts<AppState, Rejection = PageError> + CsrfHolder + Send,
    T: DeserializeOwned + Send,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let staff = S::from_request_parts(&mut parts, state).await?;
        let path = parts.uri.path().to_owned();
        let bytes = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|_| PageError::BadForm("The form is too large.".into()))?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let sent = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        check_csrf(&staff, sent)?;
        let value = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::BadForm(format!("The form could not be read: {e}")))?;
        let mut fp = path;
        for (k, v) in pairs.iter().filter(|(k, _)| k != "csrf") {
            fp.push('\n');
            fp.push_str(k);
            fp.push('=');
            fp.push_str(v);
        }
        Ok(Self {
            staff,
            value,
            pairs,
            fingerprint: crypto::sha256_hex(fp.as_bytes()),
        })
    }
}

/// Reads a multipart form: checks its CSRF field and returns the named file's bytes.
pub async fn multipart_file(
    staff: &Staff,
    mut multipart: Multipart,
    file_field: &str,
) -> Result<Vec<u8>, PageError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError::BadForm(format!("The upload could not be read: {}", e.body_text()))
    };
    let mut csrf = None;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await.map_err(bad)?),
            Some(name) if name == file_field => {
                file = Some(field.bytes().await.map_err(bad)?.to_vec())
            }
            _ => {}
        }
    }
    check_csrf(staff, csrf.as_deref())?;
    Ok(file.unwrap_or_default())
}

/// A log-in refused after too many failures, and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Refused(pub std::time::Duration);

impl Refused {
    /// What to tell the person.
    pub fn message(&self) -> String {
        let minutes = self.0.as_secs().div_ceil(60);
        format!(
            "Too many failed log-ins. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )
    }

    /// The 429 answer, with `Retry-After`, showing `page`.
    pub fn respond(&self, page: crate::views::Page) -> axum::response::Response {
        use axum::response::IntoResponse;
        (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, self.0.as_secs().to_string())],
            page,
        )
            .into_response()
    }
}

/// Who a log-in attempt is for: the account whose failures it counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A staff account, by lower-case username.
    Staff(String),
    /// A customer: a member id, or what was typed when it names no one.
    Member(String),
}

impl Subject {
    fn key(&self) -> String {
        match self {
            Subject::Staff(name) => format!("staff:{name}"),
            Subject::Member(id) => format!("member:{id}"),
        }
    }
}

/// An attempt let through the throttle, already counted as a failure; a good one is given back
/// with [`LoginThrottle::release`], a bad one is simply dropped.
#[must_use = "an attempt that succeeds must be given back, or it counts as a failure"]
#[derive(Debug)]
pub struct Attempt {
    key: String,
    member: bool,
    ip: Option<IpAddr>,
    at: u64,
}

#[derive(Default)]
struct Logs {
    account: FailureLog,
    member_day: FailureLog,
    address: FailureLog,
}

/// Failed log-ins per account, per customer per day, and per client address.
#[derive(Clone)]
pub struct LoginThrottle {
    logs: Arc<Mutex<Logs>>,
    epoch: Instant,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            logs: Arc::default(),
            epoch: Instant::now(),
        }
    }
}

impl LoginThrottle {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Lets an attempt through (after its pause, once failures pile up) or refuses it.
    ///
    /// The attempt is counted as a failure before the password is checked, in the same lock
    /// as the decision, so a burst of simultaneous guesses cannot all slip under the limit.
    pub async fn admit(&self, subject: &Subject, ip: Option<IpAddr>) -> Result<Attempt, Refused> {
        let now = self.now_ms();
        let key = subject.key();
        let member = matches!(subject, Subject::Member(_));
        let verdict = {
            let Ok(mut logs) = self.logs.lock() else {
                // A poisoned lock means a bug elsewhere; refusing is the safe answer.
                return Err(Refused(Policy::ACCOUNT.window));
            };
            let Logs {
                account,
                member_day,
                address,
            } = &mut *logs;
            let ip_key = ip.map(|ip| ip.to_string());
            let mut counts = vec![(account, key.as_str(), Policy::ACCOUNT)];
            if member {
                counts.push((member_day, key.as_str(), Policy::MEMBER_DAY));
            }
            if let Some(ip_key) = &ip_key {
                counts.push((address, ip_key.as_str(), Policy::ADDRESS));
            }
            let verdict = throttle::reserve(&mut counts, now);
            if let Verdict::Refuse(wait) = verdict {
                return Err(Refused(wait));
            }
            verdict
        };
        if let Verdict::Delay(d) = verdict {
            tokio::time::sleep(d).await;
        }
        Ok(Attempt {
            key,
            member,
            ip,
            at: now,
        })
    }

    /// Gives back an attempt that was good, or that was never checked (the server was too busy):
    /// it no longer counts. Earlier failures stay counted for their window, so a burst of
    /// guesses gets no more checks than the limit, even if one of them is right.
    pub fn release(&self, attempt: Attempt) {
        if let Ok(mut logs) = self.logs.lock() {
            logs.account.release(&attempt.key, attempt.at);
            if attempt.member {
                logs.member_day.release(&attempt.key, attempt.at);
            }
            if let Some(ip) = attempt.ip {
                logs.address.release(&ip.to_string(), attempt.at);
            }
        }
    }
}
