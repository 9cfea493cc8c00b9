//! Shop webhooks: their settings, applying a verified delivery, and parked orders.

use super::{Loyalty, Result};
use crate::clock;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::member::MemberId;
use crate::domain::shop::{self, Delivery, Integration, Provider, SigningSecret};
use crate::storage::StoreError;
use crate::storage::hooks::{self, Applied, DeliveryRow, ShopOrder, Unmatched};

/// A change to a provider's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch {
    /// Take deliveries or not.
    pub enabled: Option<bool>,
    /// A new signing secret.
    pub secret: Option<SigningSecret>,
    /// Create members for unknown emails.
    pub create_members: Option<bool>,
}

impl Loyalty {
    /// A provider's settings.
    pub async fn integration(&self, provider: Provider) -> Result<Integration> {
        Ok(self
            .store
            .read(move |tx| hooks::integration(tx, provider))
            .await?)
    }

    /// Changes a provider's settings; it cannot be enabled without a secret.
    pub async fn set_integration(
        &self,
        provider: Provider,
        patch: IntegrationPatch,
        actor: Actor,
    ) -> Result<Integration> {
        Ok(self
            .store
            .write(move |tx| {
                let mut value = hooks::integration_for_update(tx, provider)?;
                let secret_changed = patch.secret.is_some();
                if let Some(s) = patch.secret {
                    value.secret = Some(s);
                }
                if let Some(e) = patch.enabled {
                    value.enabled = e;
                }
                if let Some(c) = patch.create_members {
                    value.create_members = c;
                }
                if value.enabled && value.secret.is_none() {
                    return Err(DomainError::invalid(
                        "secret",
                        "is needed to enable a shop: paste the signing secret it shows",
                    )
                    .into());
                }
                hooks::set_integration(tx, provider, &value, secret_changed, &actor, clock::now())?;
                Ok(value)
            })
            .await?)
    }

    /// Applies a delivery whose signature was checked, once. A paid order a domain rule
    /// refuses is parked instead (see [`shop::park_refused`]); its refused write left nothing.
    pub async fn apply_delivery(&self, provider: Provider, delivery: Delivery) -> Result<Applied> {
        self.apply_or_park(provider, delivery, Keep::Yes).await
    }

    /// What a delivery whose signature was checked would do, applied exactly as
    /// [`Loyalty::apply_delivery`] does in a write that is then thrown away: nothing is kept.
    pub async fn try_delivery(&self, provider: Provider, delivery: Delivery) -> Result<Applied> {
        self.apply_or_park(provider, delivery, Keep::No).await
    }

    /// Applies a delivery; a paid order a domain rule refuses is parked in a second write
    /// instead (the shop could never succeed by retrying it), the one rule for both paths.
    async fn apply_or_park(
        &self,
        provider: Provider,
        delivery: Delivery,
        keep: Keep,
    ) -> Result<Applied> {
        let first = delivery.clone();
        let refusal = match self
            .run(keep, move |tx| {
                hooks::apply(tx, provider, first, clock::now())
            })
            .await
        {
            Err(StoreError::Domain(e)) => e,
            other => return Ok(other?),
        };
        let Some(why) = shop::park_refused(&delivery.event, &refusal) else {
            return Err(refusal.into());
        };
        Ok(self
            .run(keep, move |tx| {
                hooks::park_refused(tx, provider, delivery, &why, clock::now())
            })
            .await?)
    }

    /// Runs a write that is kept, or thrown away after it answered.
    async fn run<T, F>(&self, keep: Keep, f: F) -> std::result::Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> std::result::Result<T, StoreError>
            + Clone
            + Send
            + 'static,
    {
        match keep {
            Keep::Yes => self.store.write(f).await,
            Keep::No => self.store.dry_run(f).await,
        }
    }

    /// Up to `limit` of a shop's deliveries taken, newest first.
    pub async fn recent_deliveries(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        Ok(self
            .store
            .read(move |tx| hooks::recent_deliveries(tx, provider, limit))
            .await?)
    }

    /// Up to `limit` orders waiting for staff to attach them.
    pub async fn unmatched_orders(&self, limit: usize) -> Result<Vec<Unmatched>> {
        Ok(self
            .store
            .read(move |tx| hooks::unmatched(tx, limit))
            .await?)
    }

    /// Attaches a parked order to a member, awarding its points now.
    pub async fn attach_order(
        &self,
        provider: Provider,
        order_id: String,
        member: MemberId,
        actor: Actor,
    ) -> Result<(ShopOrder, String)> {
        Ok(self
            .store
            .write(move |tx| hooks::attach(tx, provider, &order_id, &member, &actor, clock::now()))
            .await?)
    }

    /// An order counted or parked.
    pub async fn shop_order(&self, provider: Provider, order_id: String) -> Result<ShopOrder> {
        self.store
            .read(move |tx| hooks::order(tx, provider, &order_id))
            .await?
            .ok_or(DomainError::NotFound("order").into())
    }
}

/// Whether a write is kept or only tried.
#[derive(Debug, Clone, Copy)]
enum Keep {
    Yes,
    No,
}
