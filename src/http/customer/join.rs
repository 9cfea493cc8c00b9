//! `/join`: a customer signs up on their own phone, at the counter or from a printed card.

use crate::clock;
use crate::crypto;
use crate::domain::DomainError;
use crate::domain::birthday::Birthday;
use crate::domain::card::{CardNumber, CardToken};
use crate::domain::email::Email;
use crate::domain::member::{NewMember, optional};
use crate::domain::referral::ReferralCode;
use crate::domain::text::{PersonName, Phone};
use crate::domain::throttle::{self, FailureLog, Policy, Verdict};
use crate::http::AppState;
use crate::http::admin::{PageError, PageResult, refused_status, see_other};
use crate::service::{ServiceError, is_join_switched_off};
use crate::views::Page;
use crate::views::admin::Kept;
use crate::views::customer::join::Invitation;
use crate::views::customer::{self as views, join as view};
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Joins allowed per client address per hour.
const JOINS_PER_HOUR: Policy = Policy {
    free: 10,
    limit: 10,
    window: Duration::from_secs(3600),
    delay: Duration::ZERO,
};

/// A person takes longer than this to fill the form; a robot does not.
const MIN_FILL_MS: i64 = 2_000;

/// How long a shown form can be sent (and how long a used stamp is remembered).
const STAMP_LIFETIME_MS: i64 = 86_400_000;

/// The most used stamps remembered. Only joins that made a member keep their stamp (a refused
/// one gives it back), and those are limited per address, so people never reach this; a flood
/// past it is turned away rather than allowed to grow memory.
const MAX_USED_STAMPS: usize = 100_000;

/// The key that signs when a form was shown, the stamps already used, and joins per address.
#[derive(Clone)]
pub struct JoinGuard {
    key: Arc<[u8; 32]>,
    joins: Arc<Mutex<FailureLog>>,
    used: Arc<Mutex<HashMap<String, i64>>>,
    epoch: Instant,
}

/// A join counted against its address before the work is done, with the form stamp it spent;
/// both are given back if nothing was made, so refused posts cannot fill the used stamps.
#[must_use = "a join that made nothing must be given back"]
struct Reserved {
    ip: String,
    at: u64,
    stamp: Option<String>,
}

impl JoinGuard {
    /// A guard with a fresh random key (forms shown before a restart are simply shown again).
    pub fn new() -> Result<Self, crypto::RandomError> {
        Ok(Self {
            key: Arc::new(crypto::random_bytes::<32>()?),
            joins: Arc::default(),
            used: Arc::default(),
            epoch: Instant::now(),
        })
    }

    /// A signed stamp of when the form was shown, unique to this showing.
    fn stamp(&self) -> Result<String, PageError> {
        let ms = clock::now().unix_timestamp_nanos() / 1_000_000;
        let nonce = crypto::random_token::<12>().map_err(|e| PageError::Internal(e.to_string()))?;
        let body = format!("{ms}.{nonce}");
        let sig = crypto::hmac_sha256_hex(self.key.as_ref(), body.as_bytes());
        Ok(format!("{body}.{sig}"))
    }

    /// Uses up `stamp` for the join `reserved` and says how long ago its form was shown: `None`
    /// if the stamp is not ours, has expired, or was used already (each shown form can be sent
    /// once).
    fn spend(&self, stamp: &str, reserved: &mut Reserved) -> Option<i64> {
        let (body, sig) = stamp.rsplit_once('.')?;
        let good = crypto::hmac_sha256_hex(self.key.as_ref(), body.as_bytes());
        if !crypto::constant_time_eq(sig, &good) {
            return None;
        }
        let (ms, _nonce) = body.split_once('.')?;
        let shown: i64 = ms.parse().ok()?;
        let now = i64::try_from(clock::now().unix_timestamp_nanos() / 1_000_000).ok()?;
        let age = now - shown;
        if !(0..STAMP_LIFETIME_MS).contains(&age) {
            return None;
        }
        let mut used = self.used.lock().ok()?;
        if used.len() >= MAX_USED_STAMPS {
            used.retain(|_, shown| now - *shown < STAMP_LIFETIME_MS);
            if used.len() >= MAX_USED_STAMPS {
                return None;
            }
        }
        if used.insert(body.to_owned(), shown).is_some() {
            return None;
        }
        reserved.stamp = Some(body.to_owned());
        Some(age)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a join against `ip` before it is attempted, so simultaneous joins each see the
    /// others; `None` once the address has used its hour's joins.
    fn reserve(&self, ip: &str) -> Option<Reserved> {
        let now = self.now_ms();
        let mut joins = self.joins.lock().ok()?;
        match throttle::reserve(&mut [(&mut *joins, ip, JOINS_PER_HOUR)], now) {
            Verdict::Refuse(_) => None,
            _ => Some(Reserved {
                ip: ip.to_owned(),
                at: now,
                stamp: None,
            }),
        }
    }

    /// Gives back a join that made no member, and the stamp it spent.
    fn release(&self, r: Reserved) {
        if let Ok(mut j) = self.joins.lock() {
            j.release(&r.ip, r.at);
        }
        if let (Some(stamp), Ok(mut used)) = (r.stamp, self.used.lock()) {
            used.remove(&stamp);
        }
    }
}

/// The printed card a join starts from, if any.
#[derive(Debug, serde::Deserialize)]
pub struct CardParam {
    card: Option<String>,
    /// A member's referral code, from their link.
    #[serde(rename = "ref")]
    referral: Option<String>,
}

/// What a `ref` from a join link came to; `None` without one.
async fn invitation(state: &AppState, raw: Option<&str>) -> Result<Option<Invitation>, PageError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    let found = match ReferralCode::parse(raw) {
        Ok(code) => state.loyalty.referrer(code.clone()).await?.map(|_| code),
        Err(_) => None,
    };
    Ok(Some(match found {
        Some(code) => Invitation::Found(code.as_str().to_owned()),
        None => Invitation::Unknown,
    }))
}

async fn switched_off(state: &AppState) -> Result<Option<axum::response::Response>, PageError> {
    let settings = state.loyalty.settings().await?;
    if settings.self_signup {
        return Ok(None);
    }
    let page = views::message(
        &settings,
        "Joining online is switched off",
        "Please ask at the counter: staff will sign you up.",
    );
    Ok(Some((StatusCode::FORBIDDEN, Page(page)).into_response()))
}

/// The cheapest active reward: what a new member works towards first.
async fn first_reward(
    state: &AppState,
) -> Result<Option<crate::domain::reward::Reward>, PageError> {
    let rewards = state.loyalty.rewards().await?;
    Ok(rewards
        .into_iter()
        .filter(|r| r.active)
        .min_by_key(|r| r.cost))
}

/// The join form.
pub async fn form(State(state): State<AppState>, Query(q): Query<CardParam>) -> PageResult {
    if let Some(off) = switched_off(&state).await? {
        return Ok(off);
    }
    let settings = state.loyalty.settings().await?;
    let card = q.card.filter(|c| CardToken::parse(c).is_ok());
    let first = first_reward(&state).await?;
    let invited = invitation(&state, q.referral.as_deref()).await?;
    let page = view::form(
        &settings,
        first.as_ref(),
        &Kept::new(),
        None,
        &state.join_guard.stamp()?,
        card.as_deref(),
        invited.as_ref(),
    );
    Ok(Page(page).into_response())
}

/// What the join form sends.
#[derive(Debug, serde::Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    marketing_consent: Option<String>,
    card: Option<String>,
    #[serde(default)]
    birthday: String,
    #[serde(rename = "ref")]
    referral: Option<String>,
    #[serde(default)]
    started: String,
    #[serde(default)]
    website: String,
}

fn checked(
    f: &JoinForm,
    wording: &str,
    card_number: Option<CardNumber>,
) -> Result<NewMember, DomainError> {
    let name = PersonName::parse(&f.name)?;
    let email = optional(&f.email, Email::parse)?;
    let phone = optional(&f.phone, Phone::parse)?;
    if email.is_none() && phone.is_none() {
        return Err(DomainError::invalid(
            "email",
            "give an email or a phone number, so we can find your card",
        ));
    }
    let consent = f.marketing_consent.is_some();
    Ok(NewMember {
        name: Some(name),
        email,
        phone,
        marketing_consent: consent,
        card_number,
        card_token: f.card.as_deref().and_then(|c| CardToken::parse(c).ok()),
        marketing_consent_text: consent.then(|| wording.to_owned()),
        birthday: optional(&f.birthday, Birthday::parse)?,
        referral: None,
    })
}

/// Creates the member and shows their new card page; robots and floods are turned away.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<JoinForm>,
) -> PageResult {
    if let Some(off) = switched_off(&state).await? {
        return Ok(off);
    }
    let settings = state.loyalty.settings().await?;
    let ip = addr.ip().to_string();
    let kept: Kept = [
        ("name", &f.name),
        ("email", &f.email),
        ("phone", &f.phone),
        ("birthday", &f.birthday),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .chain(
        f.marketing_consent
            .as_ref()
            .map(|_| ("marketing_consent".to_owned(), "on".to_owned())),
    )
    .collect();
    let stamp = state.join_guard.stamp()?;
    let first = first_reward(&state).await?;
    let invited = invitation(&state, f.referral.as_deref()).await?;
    let refuse = |status: StatusCode, e: DomainError| {
        let page = view::form(
            &settings,
            first.as_ref(),
            &kept,
            Some(&e),
            &stamp,
            f.card.as_deref(),
            invited.as_ref(),
        );
        Ok((status, Page(page)).into_response())
    };
    let Some(mut reserved) = state.join_guard.reserve(&ip) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            DomainError::invalid(
                "join",
                "too many sign-ups from this connection; please try again later or ask at the counter",
            ),
        );
    };
    let age = state.join_guard.spend(&f.started, &mut reserved);
    let outcome = attempt(&state, &f, age, &settings, &refuse).await;
    if !matches!(outcome, Ok(Joined::Member(_))) {
        state.join_guard.release(reserved);
    }
    match outcome? {
        // The card page greets a new member once, with ways to keep the card.
        Joined::Member(token) => Ok(see_other(&format!("/c/{token}?welcome=1"))),
        Joined::Refused(res) => Ok(res),
    }
}

/// What one join attempt came to.
enum Joined {
    /// A member was made; their card token.
    Member(String),
    /// Nothing was made; the answer to show.
    Refused(axum::response::Response),
}

async fn attempt(
    state: &AppState,
    f: &JoinForm,
    age: Option<i64>,
    settings: &crate::domain::settings::Settings,
    refuse: &impl Fn(StatusCode, DomainError) -> PageResult,
) -> Result<Joined, PageError> {
    let refused = |status, e| refuse(status, e).map(Joined::Refused);
    if !f.website.is_empty() || age.is_none_or(|a| a < MIN_FILL_MS) {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::invalid(
                "join",
                "that was too quick to be a person: please check your details and press Join again",
            ),
        );
    }
    // A printed card's number comes from the card itself, not from what was typed.
    let blank = match f.card.as_deref().and_then(|c| CardToken::parse(c).ok()) {
        Some(t) => state.loyalty.blank_card(None, Some(t)).await?,
        None => None,
    };
    if f.card.is_some() && blank.is_none() {
        return refused(
            StatusCode::CONFLICT,
            DomainError::invalid(
                "join",
                "this printed card was already used; you can still join without it",
            ),
        );
    }
    let new = match checked(f, &settings.consent_wording, blank.map(|b| b.card_number)) {
        Ok(n) => n,
        Err(e) => return refused(refused_status(&e), e),
    };
    // A code no one has lets the person join all the same, without a referrer.
    let code = f
        .referral
        .as_deref()
        .and_then(|r| ReferralCode::parse(r).ok());
    match state.loyalty.join(new, code).await {
        Ok(m) => Ok(Joined::Member(m.card_token.as_str().to_owned())),
        Err(ServiceError::Domain(e)) if is_join_switched_off(&e) => {
            let off = switched_off(state).await?.ok_or(PageError::Refused(e))?;
            Ok(Joined::Refused(off))
        }
        Err(ServiceError::Domain(e)) => refused(refused_status(&e), e),
        Err(e) => Err(e.into()),
    }
}
