//! The operations the API, the admin pages and the command line share.
//!
//! Each one turns checked domain values into one read or one write of the store.

mod admin;
pub mod campaigns;
mod customer;
mod etsy;
mod expiry;
mod hooks;
mod ledger_check;
mod notices;
mod rules;
mod tiers;

pub use admin::{Dashboard, ImportPreview, PreviewLine, StaffSession};
pub use customer::{
    CardLinkMail, CardLookup, CardPage, MemberSession, SecretProof, is_join_switched_off,
};
pub use etsy::{EtsyPatch, EtsyStatus};
pub use expiry::{ExpiryChange, ExpiryRun};
pub use hooks::IntegrationPatch;
pub use notices::{NoticeQueue, NoticeRun};
pub use rules::BirthdayRun;

use crate::clock;
use crate::crypto;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::api_key::{self, ApiKeyRecord, Scope};
use crate::domain::card::CardNumber;
use crate::domain::ledger::{EntryKind, LedgerEntry, PointsChange, Reason};
use crate::domain::member::{Member, MemberId, MemberPatch, MemberQuery, NewMember};
use crate::domain::money::{Currency, Money};
use crate::domain::reward::Reward;
use crate::domain::settings::Settings;
use crate::domain::staff::{Password, Role, StaffUser, Username};
use crate::member_csv::{self, Source};
use crate::password::PasswordPool;
use crate::progress::Progress;
use crate::storage::idempotency::{self, Keyed};
use crate::storage::ledger::{Posting, Verification};
use crate::storage::members::Page;
use crate::storage::{self, Store, StoreError};
use redb::WriteTransaction;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The one error type of the service layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// A rule refused the request; nothing changed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The same idempotency key is being processed right now.
    #[error("a request with this Idempotency-Key is still in progress")]
    InFlight,
    /// The database cannot take writes now (a full disk, an I/O error); a retry later may work.
    #[error("the database cannot take writes right now: {0}")]
    Unavailable(String),
    /// Too many password checks are waiting already; nothing was done, a retry shortly may work.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// Something failed that the client cannot fix.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::password::PoolError> for ServiceError {
    fn from(e: crate::password::PoolError) -> Self {
        match e {
            crate::password::PoolError::Busy => ServiceError::Busy,
            crate::password::PoolError::Failed(cause) => ServiceError::Internal(cause),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => ServiceError::Domain(d),
            StoreError::Unavailable(reason) => ServiceError::Unavailable(reason),
            StoreError::Closed => ServiceError::Unavailable("the server is shutting down".into()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// Shorthand for service results.
pub type Result<T> = std::result::Result<T, ServiceError>;

/// How points are asked for: a number of points, or a purchase amount under the earning rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointsAmount {
    /// An explicit change.
    Points(PointsChange),
    /// A purchase; points follow from the earning rule. `None` currency means the business's.
    Purchase {
        /// Minor units.
        amount_minor: i64,
        /// Currency, if the client named one.
        currency: Option<Currency>,
        /// The product category, for category campaigns.
        category: Option<crate::domain::campaigns::Category>,
    },
}

/// A checked request to move points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsRequest {
    /// How many.
    pub amount: PointsAmount,
    /// Why.
    pub reason: Option<Reason>,
    /// Outside reference.
    pub reference: Option<String>,
}

/// The answer to a point change: the new entry and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsOutcome {
    /// The appended entry.
    pub entry: LedgerEntry,
    /// The member's balance after it.
    pub balance: i64,
}

/// An answer to a keyed request, fresh or replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedAnswer {
    /// HTTP status of the first answer.
    pub status: u16,
    /// What the first answer said, rebuilt from the ledger on a replay.
    pub outcome: PointsOutcome,
    /// Whether this is a stored answer to a retry.
    pub replayed: bool,
}

/// What a sweep forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Idempotency records past the window.
    pub idempotency: usize,
    /// Expired sessions.
    pub sessions: usize,
    /// Shop webhook deliveries past the window (their orders stay).
    pub deliveries: usize,
}

/// Scheme-wide numbers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// Members ever joined.
    pub members: i64,
    /// Members whose points moved in the last 30 days.
    pub active_members_30d: i64,
    /// Net points earned (earn entries less their reversals).
    pub points_issued: i64,
    /// Net points redeemed.
    pub points_redeemed: i64,
    /// Net points adjusted by staff (either sign).
    pub points_adjusted: i64,
    /// Points members hold now: what the business owes.
    pub points_outstanding: i64,
    /// Net points that lapsed (under the expiry policy, or when an account was erased).
    pub points_expired: i64,
    /// Members who joined through a referral link.
    pub referrals_joined: i64,
    /// Referrals rewarded (both members got their points).
    pub referrals_rewarded: i64,
    /// Points referrals gave, to referrers and new members together.
    pub referral_points: i64,
    /// Points given on members' birthdays.
    pub birthday_points: i64,
    /// Bonus points campaigns added above the earning rule and the tier, net of reversals
    /// (part of `points_issued`).
    pub bonus_points_issued: i64,
}

/// A checked change to the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    /// New business name.
    pub business_name: Option<String>,
    /// New currency.
    pub currency: Option<Currency>,
    /// New points per currency unit.
    pub points_per_unit: Option<u32>,
    /// New time zone.
    pub time_zone: Option<crate::domain::settings::TimeZoneName>,
    /// New brand colour.
    pub brand_colour: Option<crate::domain::settings::Colour>,
    /// Allow or stop self sign-up.
    pub self_signup: Option<bool>,
    /// New consent sentence.
    pub consent_wording: Option<String>,
    /// New tier ladder (replaces the whole ladder).
    pub tiers: Option<crate::domain::tiers::TierSettings>,
    /// New referral settings.
    pub referrals: Option<crate::domain::referral::ReferralSettings>,
    /// New birthday settings.
    pub birthday: Option<crate::domain::birthday::BirthdaySettings>,
    /// Which member notices are sent.
    pub notices: Option<crate::domain::notices::NoticeSettings>,
}

/// The settings as the audit records them: whether a webhook is set, not its URL (which may
/// hold a token).
fn audited_settings(s: &Settings) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "alert_webhook".into(),
            serde_json::Value::Bool(s.alert_webhook.is_some()),
        );
    }
    v
}

/// A checked change to a reward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewardPatch {
    /// New name.
    pub name: Option<String>,
    /// New cost.
    pub cost: Option<i64>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// One row of a member import: the member and their opening balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Line in the file, for messages.
    pub line: u64,
    /// The member.
    pub member: NewMember,
    /// Opening balance, recorded as an `adjust` entry.
    pub balance: i64,
}

/// The loyalty scheme: the store plus the rules that span requests.
#[derive(Clone)]
pub struct Loyalty {
    store: Store,
    passwords: PasswordPool,
    in_flight: Arc<Mutex<HashSet<(String, String)>>>,
    /// Wakes the scheduled job to re-check tiers after the ladder changed.
    tier_recheck: Arc<tokio::sync::Notify>,
}

/// Holds an idempotency key as in flight until dropped.
struct InFlightGuard {
    set: Arc<Mutex<HashSet<(String, String)>>>,
    key: (String, String),
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.key);
        }
    }
}

impl Loyalty {
    /// Wraps an open store.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            passwords: PasswordPool::for_this_machine(),
            in_flight: Arc::default(),
            tier_recheck: Arc::default(),
        }
    }

    /// The store, for backups and health checks.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn claim(&self, keyed: &Keyed) -> Result<InFlightGuard> {
        let key = (keyed.scope.clone(), keyed.key.as_str().to_owned());
        let mut set = self
            .in_flight
            .lock()
            .map_err(|_| ServiceError::Internal("in-flight set poisoned".into()))?;
        if !set.insert(key.clone()) {
            return Err(ServiceError::InFlight);
        }
        Ok(InFlightGuard {
            set: self.in_flight.clone(),
            key,
        })
    }

    /// Runs a keyed write once: a retry with the same request gets the first answer again,
    /// rebuilt from the entry the stored record names.
    async fn keyed_write<F>(&self, keyed: Keyed, f: F) -> Result<KeyedAnswer>
    where
        F: FnOnce(&WriteTransaction, &str) -> std::result::Result<LedgerEntry, StoreError>
            + Clone
            + Send
            + 'static,
    {
        let _guard = self.claim(&keyed)?;
        let answer = self
            .store
            .write(move |tx| {
                if let Some(rec) = idempotency::lookup(tx, &keyed)? {
                    let ledger = tx.open_table(storage::tables::LEDGER)?;
                    let entry = storage::ledger::entry(&ledger, rec.seq)?.ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "an idempotency record names missing entry {}",
                            rec.seq
                        ))
                    })?;
                    return Ok(KeyedAnswer {
                        status: rec.status,
                        outcome: PointsOutcome::of(entry),
                        replayed: true,
                    });
                }
                let entry = f(tx, keyed.key.as_str())?;
                idempotency::remember(tx, &keyed, 201, entry.body.seq, clock::now())?;
                Ok(KeyedAnswer {
                    status: 201,
                    outcome: PointsOutcome::of(entry),
                    replayed: false,
                })
            })
            .await?;
        Ok(answer)
    }

    // ---- members ----

    /// Creates a member.
    pub async fn create_member(&self, new: NewMember, actor: Actor) -> Result<Member> {
        Ok(self
            .store
            .write(move |tx| storage::members::create(tx, new, &actor, clock::now()))
            .await?)
    }

    /// Changes a member's details.
    pub async fn update_member(
        &self,
        id: MemberId,
        patch: MemberPatch,
        actor: Actor,
    ) -> Result<Member> {
        Ok(self
            .store
            .write(move |tx| storage::members::update(tx, &id, patch, &actor, clock::now()))
            .await?)
    }

    /// A member by id.
    pub async fn member(&self, id: MemberId) -> Result<Member> {
        self.store
            .read(move |tx| storage::members::get(tx, &id))
            .await?
            .ok_or(DomainError::NotFound("member").into())
    }

    /// A member by card number.
    pub async fn member_by_card(&self, card: CardNumber) -> Result<Member> {
        self.store
            .read(move |tx| storage::members::by_card(tx, &card))
            .await?
            .ok_or(DomainError::NotFound("member").into())
    }

    /// A page of members matching a search.
    pub async fn search_members(
        &self,
        query: MemberQuery,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page<Member>> {
        Ok(self
            .store
            .read(move |tx| storage::members::search(tx, &query, after.as_deref(), limit))
            .await?)
    }

    /// A page of a member's history, newest first.
    pub async fn history(
        &self,
        id: MemberId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page<LedgerEntry>> {
        self.store
            .read(move |tx| {
                if storage::members::get(tx, &id)?.is_none() {
                    return Err(DomainError::NotFound("member").into());
                }
                storage::ledger::history(tx, &id, before, limit)
            })
            .await
            .map_err(Into::into)
    }

    /// One ledger entry by sequence number.
    pub async fn entry(&self, seq: u64) -> Result<LedgerEntry> {
        self.store
            .read(move |tx| storage::ledger::entry_with_reversal(tx, seq))
            .await?
            .map(|(e, _)| e)
            .ok_or(DomainError::NotFound("entry").into())
    }

    // ---- points ----

    /// Adds, takes or adjusts points, once per idempotency key.
    pub async fn change_points(
        &self,
        member: MemberId,
        req: PointsRequest,
        actor: Actor,
        keyed: Keyed,
    ) -> Result<KeyedAnswer> {
        self.keyed_write(keyed, move |tx, key| {
            let (kind, points, amount, category) = match req.amount {
                PointsAmount::Points(change) => (change.kind(), change.signed(), None, None),
                PointsAmount::Purchase {
                    amount_minor,
                    currency,
                    category,
                } => {
                    let settings = storage::settings::load_for_update(tx)?;
                    let currency = currency.unwrap_or(settings.currency);
                    if currency != settings.currency {
                        return Err(DomainError::invalid(
                            "currency",
                            format!("this business earns in {}", settings.currency.as_str()),
                        )
                        .into());
                    }
                    let money = Money::purchase(amount_minor, currency)?;
                    let change = settings.earning.earn(money)?;
                    (change.kind(), change.signed(), Some(money), category)
                }
            };
            let posting = Posting {
                member_id: member,
                kind,
                points,
                reason: req.reason,
                reference: req.reference,
                reward_id: None,
                amount,
                reverses: None,
                category,
            };
            let (entry, _) = storage::ledger::post(tx, posting, &actor, Some(key), clock::now())?;
            Ok(entry)
        })
        .await
    }

    /// Redeems a catalogue reward for its cost.
    pub async fn redeem_reward(
        &self,
        member: MemberId,
        reward_id: String,
        actor: Actor,
        keyed: Keyed,
    ) -> Result<KeyedAnswer> {
        self.keyed_write(keyed, move |tx, key| {
            let reward = storage::rewards::get_for_update(tx, &reward_id)?;
            if !reward.active {
                return Err(DomainError::RewardInactive.into());
            }
            let posting = Posting {
                member_id: member,
                kind: EntryKind::Redeem,
                points: -reward.cost,
                // The entry names the reward by id too; a name from before the stricter
                // rule is left out rather than refusing the redemption.
                reason: Reason::parse(&reward.name).ok(),
                reference: None,
                reward_id: Some(reward.id.clone()),
                amount: None,
                reverses: None,
                category: None,
            };
            let (entry, _) = storage::ledger::post(tx, posting, &actor, Some(key), clock::now())?;
            Ok(entry)
        })
        .await
    }

    /// Reverses an entry, once.
    pub async fn reverse(
        &self,
        seq: u64,
        reason: Option<Reason>,
        actor: Actor,
        keyed: Keyed,
    ) -> Result<KeyedAnswer> {
        self.keyed_write(keyed, move |tx, key| {
            let (entry, _) =
                storage::ledger::reverse(tx, seq, reason, &actor, Some(key), clock::now())?;
            Ok(entry)
        })
        .await
    }

    // ---- rewards ----

    /// The catalogue.
    pub async fn rewards(&self) -> Result<Vec<Reward>> {
        Ok(self.store.read(storage::rewards::list).await?)
    }

    /// Adds a reward.
    pub async fn create_reward(&self, name: String, cost: i64, actor: Actor) -> Result<Reward> {
        Ok(self
            .store
            .write(move |tx| {
                let now = clock::now();
                let reward = Reward {
                    id: storage::new_ulid(now)?.to_string(),
                    name,
                    cost,
                    active: true,
                    created_at: now,
                };
                storage::rewards::save(tx, &reward, "reward.create", &actor, now)?;
                Ok(reward)
            })
            .await?)
    }

    /// Changes a reward.
    pub async fn update_reward(
        &self,
        id: String,
        patch: RewardPatch,
        actor: Actor,
    ) -> Result<Reward> {
        Ok(self
            .store
            .write(move |tx| {
                let mut reward = storage::rewards::get_for_update(tx, &id)?;
                if let Some(n) = patch.name {
                    reward.name = n;
                }
                if let Some(c) = patch.cost {
                    reward.cost = c;
                }
                if let Some(a) = patch.active {
                    reward.active = a;
                }
                storage::rewards::save(tx, &reward, "reward.update", &actor, clock::now())?;
                Ok(reward)
            })
            .await?)
    }

    // ---- settings and stats ----

    /// The settings.
    pub async fn settings(&self) -> Result<Settings> {
        Ok(self.store.read(storage::settings::load).await?)
    }

    /// Changes the settings.
    pub async fn update_settings(&self, patch: SettingsPatch, actor: Actor) -> Result<Settings> {
        let (s, ladder_changed) = self
            .store
            .write(move |tx| {
                let mut s = storage::settings::load_for_update(tx)?;
                if let Some(n) = patch.business_name {
                    s.business_name = n;
                }
                if let Some(c) = patch.currency {
                    s.currency = c;
                }
                if let Some(p) = patch.points_per_unit {
                    s.earning.points_per_unit = p;
                }
                if let Some(z) = patch.time_zone {
                    s.time_zone = z;
                }
                if let Some(c) = patch.brand_colour {
                    s.brand_colour = c;
                }
                if let Some(v) = patch.self_signup {
                    s.self_signup = v;
                }
                if let Some(w) = patch.consent_wording {
                    s.consent_wording = w;
                }
                let ladder_changed = patch.tiers.as_ref().is_some_and(|t| *t != s.tiers);
                if let Some(t) = patch.tiers {
                    s.tiers = t;
                }
                if let Some(r) = patch.referrals {
                    s.referrals = r;
                }
                if let Some(b) = patch.birthday {
                    s.birthday = b;
                }
                if let Some(n) = patch.notices {
                    s.notices = n;
                }
                storage::settings::save(tx, &s)?;
                storage::audit::record(
                    tx,
                    &actor,
                    "settings.update",
                    "settings",
                    audited_settings(&s),
                    clock::now(),
                )?;
                Ok((s, ladder_changed))
            })
            .await?;
        if ladder_changed {
            // Members move in the background, in batches, not in the owner's request.
            self.ask_tier_recheck();
        }
        Ok(s)
    }

    /// Sets where owner alerts go.
    pub async fn update_alert_settings(
        &self,
        to: crate::domain::alerts::Recipients,
        webhook: Option<crate::domain::alerts::WebhookUrl>,
        format: crate::domain::alerts::WebhookFormat,
        actor: Actor,
    ) -> Result<Settings> {
        Ok(self
            .store
            .write(move |tx| {
                let mut s = storage::settings::load_for_update(tx)?;
                s.alert_emails = to;
                s.alert_webhook = webhook;
                s.alert_webhook_format = format;
                storage::settings::save(tx, &s)?;
                // The webhook URL may hold a token: the audit says only whether one is set.
                storage::audit::record(
                    tx,
                    &actor,
                    "settings.alerts",
                    "settings",
                    serde_json::json!({
                        "alert_emails": s.alert_emails.joined(),
                        "alert_webhook": s.alert_webhook.is_some(),
                        "alert_webhook_format": s.alert_webhook_format.as_str(),
                    }),
                    clock::now(),
                )?;
                Ok(s)
            })
            .await?)
    }

    /// Owner alerts queued and sent, newest first: up to `limit` older than `before`.
    pub async fn alert_messages(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, crate::domain::alerts::Message)>> {
        Ok(self
            .store
            .read(move |tx| storage::alerts::page(tx, before, limit))
            .await?)
    }

    // ---- outbound events ----

    /// The endpoints outbound events go to.
    pub async fn webhook_endpoints(&self) -> Result<Vec<storage::events::Endpoint>> {
        Ok(self.store.read(storage::events::endpoints).await?)
    }

    /// Registers an endpoint; the answer holds its secret, which is not shown again.
    pub async fn add_webhook_endpoint(
        &self,
        url: crate::domain::events::EndpointUrl,
        actor: Actor,
    ) -> Result<storage::events::Endpoint> {
        Ok(self
            .store
            .write(move |tx| storage::events::add_endpoint(tx, url, &actor, clock::now()))
            .await?)
    }

    /// Removes an endpoint.
    pub async fn remove_webhook_endpoint(&self, id: String, actor: Actor) -> Result<()> {
        Ok(self
            .store
            .write(move |tx| storage::events::remove_endpoint(tx, &id, &actor, clock::now()))
            .await?)
    }

    /// Each endpoint with up to `limit` of its latest deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        limit: usize,
    ) -> Result<
        Vec<(
            storage::events::Endpoint,
            Vec<crate::domain::events::Delivery>,
        )>,
    > {
        Ok(self
            .store
            .read(move |tx| {
                storage::events::endpoints(tx)?
                    .into_iter()
                    .map(|e| {
                        let recent = storage::events::recent(tx, &e.id, limit)?;
                        Ok((e, recent))
                    })
                    .collect()
            })
            .await?)
    }

    /// Scheme-wide numbers, from running totals and indexes (no scans).
    pub async fn stats(&self) -> Result<Stats> {
        Ok(self.store.read(|tx| stats_in(tx, clock::now())).await?)
    }

    // ---- API keys ----

    /// Makes a key; returns the record and the key to show once.
    pub async fn create_api_key(
        &self,
        name: String,
        scopes: Vec<Scope>,
        actor: Actor,
    ) -> Result<(ApiKeyRecord, String)> {
        let name = crate::domain::text::clean("name", &name, 80)?;
        let id = hex::encode(crypto::random_bytes::<6>().map_err(internal)?);
        let secret = crypto::random_token::<32>().map_err(internal)?;
        let mut scopes = if scopes.is_empty() {
            Scope::ALL.to_vec()
        } else {
            scopes
        };
        scopes.sort();
        scopes.dedup();
        let record = ApiKeyRecord {
            id: id.clone(),
            name,
            scopes,
            secret_sha256: crypto::sha256_hex(secret.as_bytes()),
            created_at: clock::now(),
            revoked_at: None,
        };
        let stored = record.clone();
        self.store
            .write(move |tx| storage::api_keys::insert(tx, &stored, &actor))
            .await?;
        Ok((record, api_key::presented_key(&id, &secret)))
    }

    /// Every key.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.store.read(storage::api_keys::list).await?)
    }

    /// Revokes a key.
    pub async fn revoke_api_key(&self, id: String, actor: Actor) -> Result<ApiKeyRecord> {
        Ok(self
            .store
            .write(move |tx| storage::api_keys::revoke(tx, &id, &actor, clock::now()))
            .await?)
    }

    /// The live key a client presented, if it is one.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<ApiKeyRecord>> {
        let Some((id, secret)) = api_key::split_presented(presented) else {
            return Ok(None);
        };
        let id = id.to_owned();
        let hash = crypto::sha256_hex(secret.as_bytes());
        let key = self
            .store
            .read_point(move |tx| storage::api_keys::get(tx, &id))
            .await?;
        Ok(key.filter(|k| {
            k.revoked_at.is_none() && crypto::constant_time_eq(&k.secret_sha256, &hash)
        }))
    }

    // ---- staff and setup ----

    /// Adds a staff account; the password is hashed off the async threads.
    pub async fn add_staff(
        &self,
        username: Username,
        role: Role,
        password: Password,
        actor: Actor,
    ) -> Result<StaffUser> {
        let user = new_staff(&self.passwords, username, role, password).await?;
        let stored = user.clone();
        self.store
            .write(move |tx| storage::staff::add(tx, &stored, &actor))
            .await?;
        Ok(user)
    }

    /// Every staff account.
    pub async fn staff(&self) -> Result<Vec<StaffUser>> {
        Ok(self.store.read(storage::staff::list).await?)
    }

    /// A fresh one-time setup token while no owner exists (replacing any older one).
    pub async fn issue_setup_token(&self) -> Result<Option<String>> {
        let token = crypto::random_token::<24>().map_err(internal)?;
        let hash = crypto::sha256_hex(token.as_bytes());
        Ok(self
            .store
            .write(move |tx| {
                if storage::staff::has_owner(tx)? {
                    return Ok(None);
                }
                storage::settings::set_setup_token(tx, &hash)?;
                Ok(Some(token))
            })
            .await?)
    }

    /// Whether `token` is the outstanding setup token.
    pub async fn setup_token_valid(&self, token: &str) -> Result<bool> {
        let hash = crypto::sha256_hex(token.as_bytes());
        let stored = self.store.read(storage::settings::setup_token_read).await?;
        Ok(stored.is_some_and(|s| crypto::constant_time_eq(&s, &hash)))
    }

    /// Uses the setup token to create the first owner; the token then stops working.
    pub async fn complete_setup(
        &self,
        token: &str,
        username: Username,
        password: Password,
    ) -> Result<StaffUser> {
        // The cheap check first: a wrong or spent link must never cost a hash.
        if !self.setup_token_valid(token).await? {
            return Err(DomainError::NotFound("setup link").into());
        }
        let hash = crypto::sha256_hex(token.as_bytes());
        let user = new_staff(&self.passwords, username, Role::Owner, password).await?;
        let stored = user.clone();
        self.store
            .write(move |tx| {
                let valid = storage::settings::setup_token(tx)?
                    .is_some_and(|s| crypto::constant_time_eq(&s, &hash));
                if !valid || storage::staff::has_owner(tx)? {
                    return Err(DomainError::NotFound("setup link").into());
                }
                storage::staff::add(tx, &stored, &Actor::System)?;
                storage::settings::clear_setup_token(tx)
            })
            .await?;
        Ok(user)
    }

    // ---- operator tasks ----

    /// Forgets idempotency records made more than `keep` ago and sessions that have expired,
    /// a batch per write so the writer is never held for long.
    pub async fn sweep(&self, keep: std::time::Duration) -> Result<SweepReport> {
        let now = clock::now();
        let cutoff = now - time::Duration::try_from(keep).map_err(internal)?;
        let mut report = SweepReport::default();
        loop {
            let keys = self
                .store
                .read(move |tx| idempotency::expired(tx, cutoff))
                .await?;
            if keys.is_empty() {
                break;
            }
            let full = keys.len() == idempotency::PRUNE_BATCH;
            report.idempotency += self
                .store
                .write(move |tx| idempotency::remove_expired(tx, &keys, cutoff))
                .await?;
            if !full {
                break;
            }
        }
        report.sessions = self
            .store
            .write(move |tx| storage::sessions::purge_expired(tx, now))
            .await?;
        self.index_old_deliveries().await?;
        loop {
            let keys = self
                .store
                .read(move |tx| storage::hooks::expired_deliveries(tx, cutoff))
                .await?;
            if keys.is_empty() {
                break;
            }
            let full = keys.len() == storage::hooks::PRUNE_BATCH;
            report.deliveries += self
                .store
                .write(move |tx| storage::hooks::remove_deliveries(tx, &keys))
                .await?;
            if !full {
                break;
            }
        }
        Ok(report)
    }

    /// Gives deliveries taken before the time index existed their index rows, a batch per
    /// write; a database that has them all costs two counts.
    async fn index_old_deliveries(&self) -> Result<()> {
        if !self.store.read(storage::hooks::index_incomplete).await? {
            return Ok(());
        }
        let mut after = None;
        loop {
            let from = after.clone();
            let keys = self
                .store
                .read(move |tx| storage::hooks::deliveries_to_index(tx, from))
                .await?;
            let Some((p, _, id)) = keys.last() else {
                break;
            };
            after = Some((p.clone(), id.clone()));
            let full = keys.len() == storage::hooks::PRUNE_BATCH;
            self.store
                .write(move |tx| storage::hooks::index_deliveries(tx, &keys))
                .await?;
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Walks the hash chain and checks every balance.
    pub async fn verify(&self, progress: Progress) -> Result<Verification> {
        Ok(self
            .store
            .read(move |tx| storage::ledger::verify_with(tx, &progress))
            .await?)
    }

    /// Writes the export to `out` from one read transaction, as it is read; returns the rows
    /// written. `out` is written on a blocking thread, so it may block (back-pressure).
    pub async fn export(
        &self,
        format: crate::export::Format,
        out: Box<dyn std::io::Write + Send>,
        progress: Progress,
    ) -> Result<u64> {
        self.store
            .read(move |tx| Ok(crate::export::write(tx, format, out, &progress)))
            .await?
            .map_err(|e| match e {
                crate::export::ExportError::Store(e) => e.into(),
                other => ServiceError::Internal(other.to_string()),
            })
    }

    /// Imports members with opening balances from a CSV file: all rows or none.
    ///
    /// The file is read twice and never held whole. First every line is parsed on a blocking
    /// thread, outside the writer, so a malformed file costs no write. Then one write
    /// transaction checks each row against the database (which by then holds the file's earlier
    /// rows, so a duplicate inside the file is caught too) and writes it; the first refusal
    /// aborts the transaction, so nothing of the file is kept.
    pub async fn import(&self, source: Source, actor: Actor, progress: Progress) -> Result<usize> {
        if let Some(len) = source.size() {
            progress.set_total(len);
        }
        progress.step("import: checking");
        let checked = source.clone();
        let check_progress = progress.clone();
        tokio::task::spawn_blocking(move || check_file(&checked, &check_progress))
            .await
            .map_err(internal)??;
        progress.step("import: writing");
        Ok(self
            .store
            .write(move |tx| import_rows(tx, &source, &actor, &progress))
            .await?)
    }
}

/// Parses every line of an import file; the first bad line refuses it.
fn check_file(source: &Source, progress: &Progress) -> Result<()> {
    let mut lines = member_csv::Lines::new(source.open()?)?;
    while let Some(row) = lines.next() {
        row.map_err(member_csv::refuse)?;
        progress.set(lines.bytes_read());
    }
    Ok(())
}

fn stats_in(
    tx: &redb::ReadTransaction,
    now: time::OffsetDateTime,
) -> std::result::Result<Stats, StoreError> {
    let t = storage::stats::load(tx)?;
    let rules = storage::stats::rules(tx)?;
    let since = now - time::Duration::days(30);
    Ok(Stats {
        referrals_joined: rules.referrals_joined,
        referrals_rewarded: rules.referrals_rewarded,
        referral_points: rules.referral_points,
        birthday_points: rules.birthday_points,
        members: t.members,
        active_members_30d: storage::aggregates::active_since(tx, since)?,
        points_issued: t.earned,
        points_redeemed: t.redeemed,
        points_adjusted: t.adjusted,
        points_outstanding: t.outstanding()?,
        points_expired: t.expired,
        bonus_points_issued: storage::campaigns::issued(tx, &[])?.0.total,
    })
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

impl PointsOutcome {
    /// The outcome of appending `entry`: the balance is the one the entry left.
    pub fn of(entry: LedgerEntry) -> Self {
        let balance = entry.body.balance_after;
        Self { entry, balance }
    }
}

async fn new_staff(
    passwords: &PasswordPool,
    username: Username,
    role: Role,
    password: Password,
) -> Result<StaffUser> {
    let hash = passwords.hash(password.expose()).await?;
    Ok(StaffUser {
        username,
        role,
        password_hash: hash,
        disabled: false,
        created_at: clock::now(),
    })
}

/// Checks each row of the file against the database and writes it, in one transaction.
fn import_rows(
    tx: &WriteTransaction,
    source: &Source,
    actor: &Actor,
    progress: &Progress,
) -> std::result::Result<usize, StoreError> {
    use crate::storage::tables::{MEMBERS_BY_CARD, MEMBERS_BY_EMAIL};
    use redb::ReadableTable;
    let now = clock::now();
    let mut count = 0;
    progress.set(0);
    let mut lines = member_csv::Lines::new(source.open()?)?;
    while let Some(row) = lines.next() {
        let row = row.map_err(member_csv::refuse)?;
        let line_err =
            |msg: String| DomainError::invalid("file", format!("line {}: {msg}", row.line));
        // The indexes hold the file's earlier rows too: a duplicate inside the file is found here.
        if let Some(e) = &row.member.email
            && tx.open_table(MEMBERS_BY_EMAIL)?.get(e.as_str())?.is_some()
        {
            return Err(line_err(format!("email {} is already in use", e.as_str())).into());
        }
        if let Some(c) = &row.member.card_number
            && tx.open_table(MEMBERS_BY_CARD)?.get(c.as_str())?.is_some()
        {
            return Err(line_err(format!("card number {} is already in use", c.as_str())).into());
        }
        let at_line = |e: StoreError| match e {
            StoreError::Domain(d) => line_err(d.to_string()).into(),
            other => other,
        };
        let member = storage::members::create(tx, row.member, actor, now).map_err(at_line)?;
        if row.balance > 0 {
            let posting = Posting {
                member_id: member.id.clone(),
                kind: EntryKind::Adjust,
                points: row.balance,
                reason: Some(Reason::parse("opening balance (import)")?),
                reference: None,
                reward_id: None,
                amount: None,
                reverses: None,
                category: None,
            };
            storage::ledger::post(tx, posting, actor, None, now).map_err(at_line)?;
        }
        count += 1;
        progress.set(lines.bytes_read());
    }
    Ok(count)
}
