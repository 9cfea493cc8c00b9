//! Etsy polling: its settings, and what the poller records.

use super::{Loyalty, Result};
use crate::clock;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::etsy::{EtsyKey, OAuthToken, PollEvery, ShopId};
use crate::domain::shop::{Integration, Provider};
use crate::storage::etsy::{self, EtsyAccount, EtsyState};
use crate::storage::{audit, hooks};

/// A change to the Etsy settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EtsyPatch {
    /// Poll or not.
    pub enabled: Option<bool>,
    /// Create members for unknown emails.
    pub create_members: Option<bool>,
    /// `keystring:shared_secret`.
    pub api_key: Option<EtsyKey>,
    /// The shop.
    pub shop_id: Option<ShopId>,
    /// A new access token.
    pub access_token: Option<OAuthToken>,
    /// A new refresh token.
    pub refresh_token: Option<OAuthToken>,
    /// How often to poll.
    pub poll_every: Option<PollEvery>,
}

/// Everything the Etsy section of the page and the API show (the secrets only as "set").
#[derive(Debug, Clone)]
pub struct EtsyStatus {
    /// On or off, and whether unknown emails make members.
    pub integration: Integration,
    /// Credentials and interval.
    pub account: EtsyAccount,
    /// The cursor and the last poll's outcome.
    pub state: EtsyState,
}

impl Loyalty {
    /// The Etsy settings and polling state.
    pub async fn etsy(&self) -> Result<EtsyStatus> {
        Ok(self
            .store
            .read(|tx| {
                Ok(EtsyStatus {
                    integration: hooks::integration(tx, Provider::Etsy)?,
                    account: etsy::account(tx)?,
                    state: etsy::state(tx)?,
                })
            })
            .await?)
    }

    /// Changes the Etsy settings; polling cannot be on without the key, shop and tokens. New
    /// credentials make the next poll due now; another shop starts from its first receipt.
    pub async fn set_etsy(&self, patch: EtsyPatch, actor: Actor) -> Result<EtsyStatus> {
        Ok(self
            .store
            .write(move |tx| {
                let now = clock::now();
                let mut i = hooks::integration_for_update(tx, Provider::Etsy)?;
                let mut a = etsy::account_for_update(tx)?;
                let mut s = etsy::state_for_update(tx)?;
                let key_changed = patch.api_key.is_some();
                let tokens_changed = patch.access_token.is_some() || patch.refresh_token.is_some();
                let shop_changed = patch.shop_id.is_some_and(|id| a.shop_id != Some(id));
                if let Some(v) = patch.enabled {
                    i.enabled = v;
                }
                if let Some(v) = patch.create_members {
                    i.create_members = v;
                }
                if let Some(v) = patch.api_key.clone() {
                    a.api_key = Some(v);
                }
                if let Some(v) = patch.shop_id {
                    a.shop_id = Some(v);
                }
                if let Some(v) = patch.access_token.clone() {
                    a.access_token = Some(v);
                }
                if let Some(v) = patch.refresh_token.clone() {
                    a.refresh_token = Some(v);
                }
                if let Some(v) = patch.poll_every {
                    a.poll_every = v;
                }
                if i.enabled && !a.complete() {
                    let field = match () {
                        () if a.api_key.is_none() => "api_key",
                        () if a.shop_id.is_none() => "shop_id",
                        () if a.access_token.is_none() => "access_token",
                        () => "refresh_token",
                    };
                    return Err(DomainError::invalid(
                        field,
                        "is needed to poll Etsy: paste the API key, shop id and both tokens",
                    )
                    .into());
                }
                if shop_changed {
                    s.cursor = Default::default();
                }
                if key_changed || tokens_changed || shop_changed || patch.enabled == Some(true) {
                    s.failures = 0;
                    s.last_error = None;
                    s.next_poll = Some(now);
                }
                hooks::save_integration(tx, Provider::Etsy, &i)?;
                etsy::save_account(tx, &a)?;
                etsy::save_state(tx, &s)?;
                audit::record(
                    tx,
                    &actor,
                    "integration.update",
                    Provider::Etsy.as_str(),
                    serde_json::json!({
                        "enabled": i.enabled,
                        "create_members": i.create_members,
                        "api_key_changed": key_changed,
                        "tokens_changed": tokens_changed,
                        "shop_id": a.shop_id.map(ShopId::get),
                        "poll_minutes": a.poll_every.get(),
                    }),
                    now,
                )?;
                Ok(EtsyStatus {
                    integration: i,
                    account: a,
                    state: s,
                })
            })
            .await?)
    }
}
