//! Member email notices: the daily step that queues digests and expiry warnings, the settings,
//! the member's opt-out, and the queue's overview. Sending is the alert task's business
//! (`alerts::notices`), never a request's.

use super::{Loyalty, Result};
use crate::clock;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::member::MemberId;
use crate::domain::notices::{Notice, NoticeSettings, unsubscribe_ok};
use crate::storage;
use crate::storage::notices::Overview;
use time::OffsetDateTime;

/// What one daily step queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeRun {
    /// Points digests queued.
    pub digests: u64,
    /// Expiry warnings queued.
    pub warnings: u64,
}

/// The notices page's facts.
#[derive(Debug, Clone)]
pub struct NoticeQueue {
    /// The counts.
    pub overview: Overview,
    /// The latest notices.
    pub latest: Vec<(u64, Notice)>,
}

impl Loyalty {
    /// Queues the day's digests and expiry warnings, a batch of members per read and per write
    /// (memory stays flat), and forgets old finished notices. Running it again the same day
    /// queues nothing more.
    pub async fn queue_daily_notices(&self, now: OffsetDateTime) -> Result<NoticeRun> {
        let settings = self.settings().await?;
        let today = local_day(now, &settings.time_zone.zone());
        let mut run = NoticeRun::default();
        let mut after: Option<String> = None;
        loop {
            let from = after.clone();
            let (batch, next) = self
                .store
                .read(move |tx| storage::notices::daily_batch(tx, now, from.as_deref()))
                .await?;
            if !batch.is_empty() {
                let today = today.clone();
                let (d, w) = self
                    .store
                    .write(move |tx| storage::notices::apply_daily(tx, &batch, &today, now))
                    .await?;
                run.digests += d;
                run.warnings += w;
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        self.store
            .write(move |tx| storage::notices::prune(tx, now))
            .await?;
        Ok(run)
    }

    /// Sets which notices are sent.
    pub async fn update_notices(&self, n: NoticeSettings, actor: Actor) -> Result<()> {
        Ok(self
            .store
            .write(move |tx| {
                let mut s = storage::settings::load_for_update(tx)?;
                s.notices = n;
                storage::settings::save(tx, &s)?;
                storage::audit::record(
                    tx,
                    &actor,
                    "settings.notices",
                    "settings",
                    serde_json::to_value(n).unwrap_or_default(),
                    clock::now(),
                )?;
                Ok(())
            })
            .await?)
    }

    /// The member an unsubscribe link names, if its signature is right (else not found: a
    /// wrong link tells nothing about who is a member).
    pub async fn unsubscribe_target(
        &self,
        member: &str,
        token: &str,
    ) -> Result<crate::domain::member::Member> {
        let id = MemberId::parse(member)?;
        let token = token.to_owned();
        Ok(self
            .store
            .read(move |tx| {
                let key = storage::notices::key(tx)?;
                let m = storage::members::get(tx, &id)?;
                match (key, m) {
                    (Some(k), Some(m)) if unsubscribe_ok(&k, &id, &token) => Ok(m),
                    _ => Err(DomainError::NotFound("member").into()),
                }
            })
            .await?)
    }

    /// Turns notices off for the member of a signed unsubscribe link.
    pub async fn unsubscribe(&self, member: &str, token: &str) -> Result<()> {
        let m = self.unsubscribe_target(member, token).await?;
        self.store
            .write(move |tx| {
                storage::notices::set_off(
                    tx,
                    &m.id,
                    true,
                    &Actor::System,
                    "unsubscribe link",
                    clock::now(),
                )
            })
            .await?;
        Ok(())
    }

    /// Turns notices off or on for a member from their account page.
    pub async fn set_notices(&self, id: MemberId, on: bool) -> Result<()> {
        self.store
            .write(move |tx| {
                storage::notices::set_off(
                    tx,
                    &id,
                    !on,
                    &Actor::System,
                    "account page",
                    clock::now(),
                )
            })
            .await?;
        Ok(())
    }

    /// The queue's counts (sent since the local midnight) and its latest notices.
    pub async fn notice_queue(&self, limit: usize) -> Result<NoticeQueue> {
        let settings = self.settings().await?;
        let since = local_midnight(clock::now(), &settings.time_zone.zone());
        Ok(self
            .store
            .read(move |tx| {
                Ok(NoticeQueue {
                    overview: storage::notices::overview(tx, since)?,
                    latest: storage::notices::latest(tx, limit)?,
                })
            })
            .await?)
    }
}

fn zoned(now: OffsetDateTime, tz: &jiff::tz::TimeZone) -> Option<jiff::Zoned> {
    let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(
        jiff::Timestamp::from_millisecond(ms)
            .ok()?
            .to_zoned(tz.clone()),
    )
}

/// The local date of `now`, `YYYY-MM-DD`.
fn local_day(now: OffsetDateTime, tz: &jiff::tz::TimeZone) -> String {
    zoned(now, tz).map_or_else(|| now.date().to_string(), |z| z.date().to_string())
}

/// The start of `now`'s local day.
fn local_midnight(now: OffsetDateTime, tz: &jiff::tz::TimeZone) -> OffsetDateTime {
    zoned(now, tz)
        .and_then(|z| z.start_of_day().ok())
        .and_then(|z| {
            OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(z.timestamp().as_millisecond()) * 1_000_000,
            )
            .ok()
        })
        .unwrap_or(now - time::Duration::days(1))
}
