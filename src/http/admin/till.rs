//! The till on the member page: add points, redeem, adjust, reverse — each applied once per form.

use super::members::render;
use super::session::AdminForm;
use super::{PageError, PageResult, member_id, refused_status};
use crate::domain::DomainError;
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::ledger::{EntryKind, PointsChange};
use crate::domain::member::MemberId;
use crate::domain::money::Money;
use crate::http::AppState;
use crate::http::customer::card;
use crate::service::{KeyedAnswer, PointsAmount, PointsOutcome, PointsRequest, ServiceError};
use crate::storage::idempotency::Keyed;
use crate::views::Page;
use crate::views::admin::members::{self as view, Outcome};
use crate::views::admin::{Problem, sentence};
use crate::views::banner::{Banner, Tone};
use crate::views::customer::card::{EarnPreview, FROM_CARD};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

/// What the add-points forms send: an amount (previewed, then confirmed) or points.
#[derive(Debug, serde::Deserialize)]
pub struct EarnForm {
    form_token: String,
    amount: Option<String>,
    points: Option<String>,
    confirm: Option<String>,
    from: Option<String>,
}

/// What the redeem form sends.
#[derive(Debug, serde::Deserialize)]
pub struct RedeemForm {
    form_token: String,
    #[serde(default)]
    reward_id: String,
    from: Option<String>,
}

/// What the adjust form sends.
#[derive(Debug, serde::Deserialize)]
pub struct AdjustForm {
    form_token: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    reason: String,
}

/// What a reverse button sends.
#[derive(Debug, serde::Deserialize)]
pub struct ReverseForm {
    form_token: String,
    seq: u64,
    reason: Option<String>,
}

fn keyed<T>(form: &AdminForm<T>, token: &str) -> Result<Keyed, PageError> {
    let key = IdempotencyKey::parse(token)
        .map_err(|_| PageError::BadForm("The form's one-time token is missing.".into()))?;
    Ok(Keyed {
        scope: format!("staff:{}", form.staff.0.user.username.as_str()),
        key,
        fingerprint: form.fingerprint.clone(),
    })
}

fn parse_points(field: &'static str, raw: &str) -> Result<i64, DomainError> {
    raw.trim()
        .replace('−', "-")
        .parse::<i64>()
        .map_err(|_| DomainError::invalid(field, "must be a whole number of points"))
}

use crate::domain::words;

fn describe(o: &PointsOutcome, reward: Option<&str>) -> String {
    let b = &o.entry.body;
    match b.kind {
        EntryKind::Earn => match &b.amount {
            Some(a) => format!(
                "Added {} for {} {}.",
                words::count(b.points, "point", "points"),
                a.to_decimal(),
                a.currency.as_str()
            ),
            None => format!("Added {}.", words::count(b.points, "point", "points")),
        },
        EntryKind::Redeem => format!(
            "Redeemed {} for {}.",
            reward.or(b.reason.as_deref()).unwrap_or("a reward"),
            words::count(-b.points, "point", "points")
        ),
        EntryKind::Adjust => format!(
            "Adjusted by {:+} {}.",
            b.points,
            words::noun(b.points, "point", "points")
        ),
        EntryKind::Reversal => format!(
            "Reversed entry #{} ({:+} {}).",
            b.reverses.unwrap_or_default(),
            b.points,
            words::noun(b.points, "point", "points")
        ),
        EntryKind::Expire => format!("Expired {}.", words::count(-b.points, "point", "points")),
    }
}

/// Whether a till form was sent from the customer's card page.
fn from_card(from: Option<&str>) -> bool {
    from == Some(FROM_CARD)
}

/// Answers a till form sent from the card page on the card page: the result in its banner.
async fn card_answer<T>(
    state: &AppState,
    form: &AdminForm<T>,
    id: MemberId,
    field: &'static str,
    result: Result<KeyedAnswer, ServiceError>,
) -> PageResult {
    let (status, banner) = match result {
        Ok(a) => {
            let mut text = describe(&a.outcome, None);
            if a.replayed {
                text.push_str(
                    " (already applied: this form was sent before, nothing changed twice)",
                );
            }
            (StatusCode::OK, Banner::done(text))
        }
        Err(ServiceError::Domain(e)) if !matches!(e, DomainError::NotFound("member")) => {
            (refused_status(&e), Banner::refused(sentence(&e)))
        }
        Err(e) => return Err(e.into()),
    };
    let failing = (banner.tone == Tone::Refused).then_some(field);
    card::staff_answer(state, &form.staff, id, status, Some(&banner), None, failing).await
}

/// Shows the member page after a till action: its outcome, or the refusal beside its form.
async fn answer<T>(
    state: &AppState,
    form: &AdminForm<T>,
    id: MemberId,
    form_id: &'static str,
    result: Result<KeyedAnswer, ServiceError>,
) -> PageResult {
    let chrome = form.staff.chrome(state).await?;
    match result {
        Ok(a) => {
            let o = Outcome {
                message: describe(&a.outcome, None),
                replayed: a.replayed,
            };
            let page = render(state, &chrome, id, None, Some(&o), None).await?;
            Ok(Page(page).into_response())
        }
        Err(ServiceError::Domain(e)) if !matches!(e, DomainError::NotFound("member")) => {
            let problem = Problem {
                form: form_id,
                error: e.clone(),
                values: form.kept(),
            };
            let page = render(state, &chrome, id, None, None, Some(&problem)).await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs a keyed till action; a double tap whose first request is still running waits for it
/// and then shows the same result, instead of an error the person at the till must decode.
async fn once<F, Fut>(mut f: F) -> Result<KeyedAnswer, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<KeyedAnswer, ServiceError>>,
{
    for _ in 0..100 {
        match f().await {
            Err(ServiceError::InFlight) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
    Err(ServiceError::InFlight)
}

/// Applies a checked point change once per form token; a refused check passes through.
async fn change_points<T>(
    state: &AppState,
    form: &AdminForm<T>,
    id: &MemberId,
    token: &str,
    request: Result<PointsRequest, DomainError>,
) -> Result<Result<KeyedAnswer, ServiceError>, PageError> {
    let req = match request {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.into())),
    };
    let k = keyed(form, token)?;
    Ok(once(|| {
        state
            .loyalty
            .change_points(id.clone(), req.clone(), form.staff.0.actor(), k.clone())
    })
    .await)
}

/// Adds points: by amount (a preview first, then the confirmed form) or by number.
pub async fn earn(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<EarnForm>,
) -> PageResult {
    let id = member_id(&id)?;
    let f = &form.value;
    let by_amount = f.amount.as_deref().is_some_and(|a| !a.trim().is_empty());
    let form_id = if by_amount {
        "earn-amount"
    } else {
        "earn-points"
    };
    let request = if by_amount {
        let settings = state.loyalty.settings().await?;
        // The preview shows what will be posted: with the member's tier and the campaigns.
        let holder = state.loyalty.member(id.clone()).await?;
        let parsed =
            Money::parse_decimal(f.amount.as_deref().unwrap_or_default(), settings.currency)
                .and_then(|m| {
                    let change = settings.earning.earn(m).map_err(|e| match e {
                        // The form's field is the typed amount, not minor units.
                        DomainError::Invalid { message, .. } => {
                            DomainError::invalid("amount", message)
                        }
                        other => other,
                    })?;
                    let points = crate::domain::campaigns::for_member(
                        &settings,
                        &holder,
                        change.signed(),
                        None,
                        crate::clock::now(),
                    )
                    .map(|o| o.points)
                    .map_err(|e| match e {
                        DomainError::Invalid { message, .. } => {
                            DomainError::invalid("amount", message)
                        }
                        other => other,
                    })?;
                    Ok((m, points))
                });
        match parsed {
            Ok((money, points))
                if f.confirm.as_deref() != Some("yes") && from_card(f.from.as_deref()) =>
            {
                let preview = EarnPreview {
                    amount: money,
                    points,
                    token: f.form_token.clone(),
                };
                return card::staff_answer(
                    &state,
                    &form.staff,
                    id,
                    StatusCode::OK,
                    None,
                    Some(preview),
                    None,
                )
                .await;
            }
            Ok((money, points)) if f.confirm.as_deref() != Some("yes") => {
                let chrome = form.staff.chrome(&state).await?;
                let member = state.loyalty.member(id).await?;
                let page = view::earn_preview(&chrome, &member, &money, points, &f.form_token);
                return Ok(Page(page).into_response());
            }
            Ok((money, _)) => Ok(PointsAmount::Purchase {
                amount_minor: money.amount_minor,
                currency: Some(money.currency),
                category: None,
            }),
            Err(e) => Err(e),
        }
    } else {
        parse_points("points", f.points.as_deref().unwrap_or_default())
            .and_then(|p| PointsChange::parse(EntryKind::Earn, p))
            .map(PointsAmount::Points)
    };
    let request = request.map(|amount| PointsRequest {
        amount,
        reason: None,
        reference: None,
    });
    let result = change_points(&state, &form, &id, &f.form_token, request).await?;
    if from_card(f.from.as_deref()) {
        return card_answer(&state, &form, id, "amount", result).await;
    }
    answer(&state, &form, id, form_id, result).await
}

/// Redeems a catalogue reward.
pub async fn redeem(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<RedeemForm>,
) -> PageResult {
    let id = member_id(&id)?;
    let k = keyed(&form, &form.value.form_token)?;
    let reward = form.value.reward_id.trim().to_owned();
    let result = if reward.is_empty() {
        Err(DomainError::invalid("reward_id", "choose a reward").into())
    } else {
        once(|| {
            state
                .loyalty
                .redeem_reward(id.clone(), reward.clone(), form.staff.0.actor(), k.clone())
        })
        .await
    };
    let result = result.map_err(|e| match e {
        ServiceError::Domain(DomainError::NotFound("reward")) => ServiceError::Domain(
            DomainError::invalid("reward_id", "that reward does not exist"),
        ),
        other => other,
    });
    if from_card(form.value.from.as_deref()) {
        return card_answer(&state, &form, id, "reward_id", result).await;
    }
    answer(&state, &form, id, "redeem", result).await
}

/// Adjusts a balance by any amount, with a reason.
pub async fn adjust(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<AdjustForm>,
) -> PageResult {
    let id = member_id(&id)?;
    let f = &form.value;
    let checked = parse_points("points", &f.points)
        .and_then(|p| PointsChange::parse(EntryKind::Adjust, p))
        .and_then(|c| {
            crate::domain::ledger::parse_reason(EntryKind::Adjust, Some(&f.reason)).map(|r| (c, r))
        });
    let request = checked.map(|(change, reason)| PointsRequest {
        amount: PointsAmount::Points(change),
        reason,
        reference: None,
    });
    let result = change_points(&state, &form, &id, &f.form_token, request).await?;
    answer(&state, &form, id, "adjust", result).await
}

/// Reverses one entry of this member's history.
pub async fn reverse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<ReverseForm>,
) -> PageResult {
    let id = member_id(&id)?;
    let f = &form.value;
    let k = keyed(&form, &f.form_token)?;
    // Only entries of the member whose page this is: a stale page cannot reverse someone else's.
    let history = state.loyalty.entry(f.seq).await?;
    let reason = crate::domain::ledger::parse_reason(EntryKind::Reversal, f.reason.as_deref());
    let result = match reason {
        _ if history.body.member_id != id.as_str() => Err(DomainError::NotFound("entry").into()),
        Err(e) => Err(e.into()),
        Ok(reason) => {
            once(|| {
                state
                    .loyalty
                    .reverse(f.seq, reason.clone(), form.staff.0.actor(), k.clone())
            })
            .await
        }
    };
    answer(&state, &form, id, "reverse", result).await
}
