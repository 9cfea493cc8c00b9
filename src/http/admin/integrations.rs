//! The online shops page (owner only): set up each shop's webhooks and Etsy's polling, and
//! attach waiting orders.

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageError, PageResult, refused_or};
use crate::clock;
use crate::domain::DomainError;
use crate::domain::card::CardNumber;
use crate::domain::etsy::{EtsyKey, OAuthToken, PollEvery, ShopId};
use crate::domain::shop::{Delivery, Provider, ShopEvent, SigningSecret};
use crate::hooks::{self, attempts, sample};
use crate::http::AppState;
use crate::http::api::integrations::hook_url;
use crate::service::{EtsyPatch, IntegrationPatch, ServiceError};
use crate::storage::hooks::Applied;
use crate::views::Page;
use crate::views::admin::integrations::{self as view, ShopRow};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;

/// What a shop's form sends.
#[derive(Debug, serde::Deserialize)]
pub struct ShopForm {
    #[serde(default)]
    secret: String,
    enabled: Option<String>,
    create_members: Option<String>,
}

/// What the Etsy form sends; blank secrets keep the ones set.
#[derive(Debug, serde::Deserialize)]
pub struct EtsyForm {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    shop_id: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default)]
    poll_minutes: String,
    enabled: Option<String>,
    create_members: Option<String>,
}

impl EtsyForm {
    fn patch(&self) -> Result<EtsyPatch, DomainError> {
        let given = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        let minutes = self.poll_minutes.trim().parse::<i64>().map_err(|_| {
            DomainError::invalid("poll_minutes", "must be 1 to 1440 minutes (24 hours)")
        })?;
        Ok(EtsyPatch {
            enabled: Some(self.enabled.is_some()),
            create_members: Some(self.create_members.is_some()),
            api_key: given(&self.api_key)
                .map(|k| EtsyKey::parse(&k))
                .transpose()?,
            shop_id: Some(ShopId::parse(&self.shop_id)?),
            access_token: given(&self.access_token)
                .map(|t| OAuthToken::parse("access_token", &t))
                .transpose()?,
            refresh_token: given(&self.refresh_token)
                .map(|t| OAuthToken::parse("refresh_token", &t))
                .transpose()?,
            poll_every: Some(PollEvery::minutes(minutes)?),
        })
    }
}

/// Saves the Etsy settings, or shows the page again with the problem.
pub async fn save_etsy(State(state): State<AppState>, form: AdminForm<EtsyForm>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let result = match form.value.patch() {
        Ok(patch) => state
            .loyalty
            .set_etsy(patch, form.staff.0.actor())
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    refused_or(result, "/admin/integrations?saved=1#shop-etsy", async |e| {
        render(&state, &form.staff, Some(("etsy", e)), None).await
    })
    .await
}

/// What an attach form sends.
#[derive(Debug, serde::Deserialize)]
pub struct AttachForm {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    card_number: String,
}

/// Whether to say the last save worked.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

async fn render(
    state: &AppState,
    staff: &Staff,
    err: Option<(&str, &DomainError)>,
    notice: Option<&str>,
) -> Result<maud::Markup, PageError> {
    let chrome = staff.chrome(state).await?;
    let mut shops = Vec::new();
    for provider in Provider::ALL.into_iter().filter(|p| p.takes_webhooks()) {
        shops.push(ShopRow {
            provider,
            settings: state.loyalty.integration(provider).await?,
            url: hook_url(&state.base_url, provider),
            deliveries: state
                .loyalty
                .recent_deliveries(provider, attempts::KEPT)
                .await?,
            attempts: state.hook_attempts.recent(provider),
        });
    }
    let etsy = state.loyalty.etsy().await?;
    let unmatched = state.loyalty.unmatched_orders(100).await?;
    let zone = state.loyalty.settings().await?.time_zone.zone();
    Ok(view::view(
        &chrome, &shops, &etsy, &unmatched, err, notice, &zone,
    ))
}

/// The page.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Saved>,
) -> PageResult {
    let notice = q.saved.is_some().then_some("Saved.");
    let page = render(&state, &Staff::from(owner), None, notice).await?;
    Ok(Page(page).into_response())
}

/// What a member of staff who is not an owner is told here.
const OWNERS_ONLY: &str = "Only an owner can set up online shops.";

/// Saves one shop's settings, or shows the page again with the problem.
pub async fn save(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: AdminForm<ShopForm>,
) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let provider = Provider::parse(&name)
        .filter(|p| p.takes_webhooks())
        .ok_or(PageError::NotFound)?;
    let f = &form.value;
    let result = match (!f.secret.trim().is_empty())
        .then(|| SigningSecret::parse(&f.secret))
        .transpose()
    {
        Ok(secret) => {
            let patch = IntegrationPatch {
                enabled: Some(f.enabled.is_some()),
                secret,
                create_members: Some(f.create_members.is_some()),
            };
            state
                .loyalty
                .set_integration(provider, patch, form.staff.0.actor())
                .await
                .map(|_| ())
        }
        Err(e) => Err(e.into()),
    };
    let done = format!("/admin/integrations?saved=1#shop-{}", provider.as_str());
    refused_or(result, &done, async |e| {
        render(&state, &form.staff, Some((provider.as_str(), e)), None).await
    })
    .await
}

/// Attaches a waiting order to the member holding a card, awarding its points.
pub async fn attach(State(state): State<AppState>, form: AdminForm<AttachForm>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let f = &form.value;
    let provider = Provider::parse(&f.provider).ok_or(PageError::NotFound)?;
    let result = match CardNumber::parse(&f.card_number) {
        Ok(card) => match state.loyalty.member_by_card(card).await {
            Ok(m) => state
                .loyalty
                .attach_order(provider, f.order_id.clone(), m.id, form.staff.0.actor())
                .await
                .map(|_| ()),
            Err(ServiceError::Domain(DomainError::NotFound(_))) => {
                Err(DomainError::invalid("card_number", "no member has this card number").into())
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    };
    refused_or(result, "/admin/integrations?saved=1#unmatched", async |e| {
        render(&state, &form.staff, Some(("attach", e)), None).await
    })
    .await
}

/// Sends the shop's own test delivery, signed with the stored secret, through the same check
/// and apply as a real one, in a write that is thrown away; the page says what it would do.
pub async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let provider = Provider::parse(&name)
        .filter(|p| p.takes_webhooks())
        .ok_or(PageError::NotFound)?;
    let title = provider.title();
    let settings = state.loyalty.integration(provider).await?;
    let notice = match (settings.enabled, settings.secret) {
        (_, None) => format!(
            "{title} has no signing secret yet: paste the one {title} shows, then send a test."
        ),
        (false, Some(_)) => {
            format!("{title} is switched off: tick \"Take this shop's orders\" first.")
        }
        (true, Some(secret)) => {
            let url = hook_url(&state.base_url, provider);
            let now = clock::now().unix_timestamp();
            let Some(s) = sample::signed(provider, secret.expose(), &url, now) else {
                return Err(PageError::NotFound);
            };
            match hooks::check(provider, secret.expose(), &url, &s.headers, s.body, now) {
                Err(e) => format!("The test delivery was refused: {e}."),
                Ok(delivery) => {
                    let what = describe(&delivery);
                    match state.loyalty.try_delivery(provider, delivery).await? {
                        Applied::Duplicate => format!(
                            "Signature checked. {what} — if it were real: taken before, nothing \
                             applied. Nothing was stored."
                        ),
                        Applied::Taken(outcome) => format!(
                            "Signature checked. {what} — if it were real: {outcome}. Nothing was stored."
                        ),
                    }
                }
            }
        }
    };
    let page = render(&state, &form.staff, None, Some(&notice)).await?;
    Ok(Page(page).into_response())
}

/// A test delivery in words: which order, whose, how much.
fn describe(d: &Delivery) -> String {
    match &d.event {
        ShopEvent::Paid(o) => format!(
            "Test order {} ({}, {} {})",
            o.order_id,
            o.email.as_deref().unwrap_or("no email"),
            o.amount.to_decimal(),
            o.amount.currency.as_str()
        ),
        ShopEvent::Refunded(r) => format!("Test refund of order {}", r.order_id),
        ShopEvent::Ignored(_) => "Test delivery".to_owned(),
    }
}
