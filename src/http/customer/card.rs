//! The card page, its web app manifest, service worker, icons and theme.

use crate::domain::DomainError;
use crate::domain::member::CustomerSecret;
use crate::domain::member::{MemberId, MemberStatus};
use crate::http::AppState;
use crate::http::admin::session::{MEMBER_COOKIE, Staff, Subject, cookie_secret, named_cookie};
use crate::http::admin::{PageError, PageResult, form_token, refused_status, see_other};
use crate::service::{CardLinkMail, CardLookup, SecretProof, ServiceError};
use crate::views::Page;
use crate::views::banner::Banner;
use crate::views::customer::card::{self as view, EarnPreview, StaffTill, Welcome};
use crate::views::customer::{self as views, SERVICE_WORKER};
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use std::net::SocketAddr;

/// A note to show after a change.
#[derive(Debug, serde::Deserialize)]
pub struct Notice {
    saved: Option<String>,
    welcome: Option<String>,
    emailed: Option<String>,
}

async fn staff_till(state: &AppState, headers: &HeaderMap) -> Result<Option<StaffTill>, PageError> {
    let Some(secret) = cookie_secret(headers) else {
        return Ok(None);
    };
    let Some(s) = state.loyalty.staff_session(&secret).await? else {
        return Ok(None);
    };
    Ok(Some(StaffTill {
        chrome: Staff(s).chrome(state).await?,
        earn_token: form_token()?,
        redeem_token: form_token()?,
        preview: None,
        failing: None,
    }))
}

/// The card page that answers a till form sent from it: the result banner (or the points to
/// confirm) on the card page itself, so staff never leave the customer's view.
pub async fn staff_answer(
    state: &AppState,
    staff: &Staff,
    id: MemberId,
    status: StatusCode,
    banner: Option<&Banner>,
    preview: Option<EarnPreview>,
    failing: Option<&'static str>,
) -> PageResult {
    let member = state.loyalty.member(id).await?;
    let CardLookup::Member(mut p) = state.loyalty.card(member.card_token.as_str()).await? else {
        return Err(PageError::NotFound);
    };
    p.referral_link = referral_link(state, &p).await?;
    let url = format!("{}/c/{}", state.base_url, p.member.card_token.as_str());
    let codes = state.card_codes.get(&url, &p.member.card_number);
    let till = StaffTill {
        chrome: staff.chrome(state).await?,
        earn_token: form_token()?,
        redeem_token: form_token()?,
        preview,
        failing,
    };
    Ok((
        status,
        Page(view::view(&p, &codes, Some(&till), banner, None, None)),
    )
        .into_response())
}

/// The member's referral link while referrals are on; a member from before referrals gets a
/// code now (one write, once).
pub async fn referral_link(
    state: &AppState,
    p: &crate::service::CardPage,
) -> Result<Option<String>, PageError> {
    if !p.settings.referrals.enabled || p.member.status != MemberStatus::Active {
        return Ok(None);
    }
    let m = state.loyalty.with_referral_code(p.member.clone()).await?;
    Ok(m.referral_code
        .map(|c| format!("{}/join?ref={}", state.base_url, c.as_str())))
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    banner: Option<&Banner>,
    err: Option<&DomainError>,
    welcome: Option<&Welcome>,
) -> PageResult {
    match state.loyalty.card(token).await? {
        CardLookup::Member(mut p) => {
            p.referral_link = referral_link(state, &p).await?;
            let url = format!("{}/c/{}", state.base_url, p.member.card_token.as_str());
            let codes = state.card_codes.get(&url, &p.member.card_number);
            let staff = staff_till(state, headers).await?;
            let status = err.map_or(StatusCode::OK, refused_status);
            Ok((
                status,
                Page(view::view(&p, &codes, staff.as_ref(), banner, err, welcome)),
            )
                .into_response())
        }
        CardLookup::Blank(card, settings) => {
            Ok(Page(view::unclaimed(&card, &settings)).into_response())
        }
        CardLookup::NotFound => {
            let settings = state.loyalty.settings().await?;
            Ok((
                StatusCode::NOT_FOUND,
                Page(views::card_not_found(&settings)),
            )
                .into_response())
        }
    }
}

/// The card page: no log-in; the token in the URL is the secret.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(n): Query<Notice>,
) -> PageResult {
    let banner = match (n.saved, n.emailed) {
        (Some(_), _) => Some(Banner::done(
            "Saved: you can now log in with your card number or email.",
        )),
        (None, Some(_)) => Some(Banner::done(
            "We are sending your card's link to your email address.",
        )),
        (None, None) => None,
    };
    let welcome = n.welcome.map(|_| welcome(&state));
    render(
        &state,
        &headers,
        &token,
        banner.as_ref(),
        None,
        welcome.as_ref(),
    )
    .await
}

fn welcome(state: &AppState) -> Welcome {
    Welcome {
        can_email: state.alerts.0.smtp.is_some(),
        refused: None,
    }
}

/// "Email me my link": queues the mail for the alert task, at most one per member an hour.
pub async fn email_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    let refused = |text: &str| Welcome {
        refused: Some(text.to_owned()),
        ..welcome(&state)
    };
    if state.alerts.0.smtp.is_none() {
        let w = refused("Sending email is not set up here; please save the page another way.");
        let mut res = render(&state, &headers, &token, None, None, Some(&w)).await?;
        *res.status_mut() = StatusCode::CONFLICT;
        return Ok(res);
    }
    match state
        .loyalty
        .email_card_link(&token, &state.base_url)
        .await?
    {
        CardLinkMail::Queued => {
            state.alerts.1.wake();
            Ok(see_other(&format!("/c/{token}?emailed=1")))
        }
        CardLinkMail::TooSoon => {
            let w = refused(
                "We already sent your link within the last hour: please look in your inbox \
                 (and spam folder) before asking again.",
            );
            let mut res = render(&state, &headers, &token, None, None, Some(&w)).await?;
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            Ok(res)
        }
        CardLinkMail::NoEmail => {
            let w =
                refused("There is no email address on this card; ask at the counter to add one.");
            let mut res = render(&state, &headers, &token, None, None, Some(&w)).await?;
            if res.status() == StatusCode::OK {
                *res.status_mut() = StatusCode::CONFLICT;
            }
            Ok(res)
        }
    }
}

/// What the password form sends.
#[derive(Debug, serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    current: Option<String>,
    contact: Option<String>,
}

/// Sets the customer's password or PIN: changing it needs the current one, a first one the email
/// or phone number on file (or staff at the till). Wrong guesses count like failed log-ins.
pub async fn set_password(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let checked = CustomerSecret::parse(&f.password).and_then(|s| {
        if f.password == f.confirm {
            Ok(s)
        } else {
            Err(DomainError::invalid("password", "the two entries differ"))
        }
    });
    let secret = match checked {
        Ok(s) => s,
        Err(e) => return render(&state, &headers, &token, None, Some(&e), None).await,
    };
    let Some(member_id) = state.loyalty.card_member_id(&token).await? else {
        return render(&state, &headers, &token, None, None, None).await;
    };
    let subject = Subject::Member(member_id);
    let attempt = match state.login_throttle.admit(&subject, Some(addr.ip())).await {
        Ok(a) => a,
        Err(refused) => {
            // Beside the new password: the one field the form always shows.
            let e = DomainError::invalid("password", refused.message());
            let mut res = render(&state, &headers, &token, None, Some(&e), None).await?;
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            return Ok(res);
        }
    };
    let by_staff = match cookie_secret(&headers) {
        Some(secret) => state.loyalty.staff_session(&secret).await?.is_some(),
        None => false,
    };
    let keep = named_cookie(&headers, MEMBER_COOKIE)
        .map(|secret| crate::crypto::sha256_hex(secret.as_bytes()));
    let proof = SecretProof {
        current: f.current.clone(),
        contact: f.contact.clone(),
        by_staff,
    };
    match state
        .loyalty
        .set_customer_secret(token.clone(), proof, secret, keep)
        .await
    {
        Ok(()) => {
            state.login_throttle.release(attempt);
            Ok(see_other(&format!("/c/{token}?saved=1")))
        }
        // A wrong current PIN or contact stays counted as a failed attempt.
        Err(ServiceError::Domain(e @ DomainError::Invalid { .. })) => {
            drop(attempt);
            render(&state, &headers, &token, None, Some(&e), None).await
        }
        Err(e) => {
            state.login_throttle.release(attempt);
            match e {
                ServiceError::Domain(DomainError::NotFound(_)) => {
                    render(&state, &headers, &token, None, None, None).await
                }
                ServiceError::Domain(e) => {
                    render(&state, &headers, &token, None, Some(&e), None).await
                }
                e => Err(e.into()),
            }
        }
    }
}

/// The web app manifest that makes "add to home screen" open this card.
pub async fn manifest(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    let CardLookup::Member(p) = state.loyalty.card(&token).await? else {
        return Err(PageError::NotFound);
    };
    let s = &p.settings;
    let short: String = s.business_name.chars().take(12).collect();
    let body = serde_json::json!({
        "name": s.business_name,
        "short_name": short,
        "start_url": format!("/c/{token}"),
        "scope": "/c/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": s.brand_colour.as_str(),
        "icons": [
            { "src": "/c/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any" },
            { "src": "/c/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any" }
        ]
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

/// The service worker, allowed to control every card page under `/c/`.
pub async fn service_worker() -> PageResult {
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::HeaderName::from_static("service-worker-allowed"),
                "/c/",
            ),
        ],
        SERVICE_WORKER,
    )
        .into_response())
}

async fn icon(state: &AppState, size: u32) -> PageResult {
    let settings = state.loyalty.settings().await?;
    let png = state
        .icons
        .get(settings.brand_colour.as_str(), size)
        .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        png,
    )
        .into_response())
}

/// The small home-screen icon.
pub async fn icon_192(State(state): State<AppState>) -> PageResult {
    icon(&state, 192).await
}

/// The large home-screen icon.
pub async fn icon_512(State(state): State<AppState>) -> PageResult {
    icon(&state, 512).await
}

/// The business's colours (the URL carries the colour, so each version can be cached).
pub async fn theme(State(state): State<AppState>) -> PageResult {
    let settings = state.loyalty.settings().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        views::theme_css(&settings),
    )
        .into_response())
}
