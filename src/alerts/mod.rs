//! Owner alerts at run time: a task that looks at the server's facts every so often, records
//! which alerts started or cleared together with their messages (one write), and delivers the
//! queued messages to each channel, retrying with backoff. Nothing here runs on a request path:
//! the test button only queues a message and wakes the task.

pub mod notices;
pub mod smtp;
pub mod webhook;

use crate::control::status::Served;
use crate::domain::alerts::{self, Channel, Message};
use crate::domain::settings::Settings;
use crate::service::Loyalty;
use crate::storage;
use std::sync::Arc;
use std::time::Duration;

/// How alerts are sent, from `fealty serve`'s flags.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// The mail server, if one is configured.
    pub smtp: Option<smtp::SmtpConfig>,
    /// How often the facts are looked at.
    pub check_every: Duration,
    /// How member notices are written and retried (sent only with a mail server).
    pub notices: notices::NoticesConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            smtp: None,
            check_every: Duration::from_secs(60),
            notices: notices::NoticesConfig::default(),
        }
    }
}

/// Wakes the alert task (after a message was queued).
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<tokio::sync::Notify>);

impl Wake {
    /// Asks the task to deliver now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The channels a message queued now goes to: email with a mail server and recipients, the
/// webhook once its URL is set.
pub fn channels(settings: &Settings, config: &AlertsConfig) -> Vec<Channel> {
    let mut out = Vec::new();
    if config.smtp.is_some() && !settings.alert_emails.is_empty() {
        out.push(Channel::Email);
    }
    if settings.alert_webhook.is_some() {
        out.push(Channel::Webhook);
    }
    out
}

/// What `fealty status` says is configured (no secrets).
pub fn describe(settings: &Settings, config: &AlertsConfig) -> String {
    let email = match (&config.smtp, settings.alert_emails.is_empty()) {
        (Some(s), false) => Some(format!(
            "email to {} via {}",
            settings.alert_emails.joined(),
            s.describe()
        )),
        (Some(s), true) => Some(format!(
            "mail server {} but no alert email address set",
            s.describe()
        )),
        (None, false) => Some("alert email addresses set but no mail server (--smtp-host)".into()),
        (None, true) => None,
    };
    let hook = settings.alert_webhook.as_ref().map(|u| {
        let host = u
            .as_str()
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', '?', '#']).next())
            .map(|h| h.rsplit('@').next().unwrap_or(h))
            .unwrap_or_default();
        format!(
            "webhook to {host} ({})",
            settings.alert_webhook_format.as_str()
        )
    });
    match (email, hook) {
        (None, None) => "none configured (Settings → Alerts)".into(),
        (Some(e), None) => e,
        (None, Some(h)) => h,
        (Some(e), Some(h)) => format!("{e}; {h}"),
    }
}

/// Queues a test message to every configured channel and wakes the task.
pub async fn send_test(
    loyalty: &Loyalty,
    config: &AlertsConfig,
    wake: &Wake,
) -> Result<(), crate::service::ServiceError> {
    let settings = loyalty.settings().await?;
    let m = Message::test(
        &settings.business_name,
        crate::clock::now(),
        &channels(&settings, config),
    );
    loyalty
        .store()
        .write(move |tx| storage::alerts::enqueue(tx, &m).map(|_| ()))
        .await?;
    wake.wake();
    Ok(())
}

/// Starts the alert task.
pub fn start(
    loyalty: Loyalty,
    served: Served,
    config: AlertsConfig,
    wake: Wake,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        let mut next_look = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_look {
                if let Err(e) = look(&loyalty, &served, &config).await {
                    tracing::warn!(error = %e, "owner alerts: looking at the server's state failed");
                }
                next_look = tokio::time::Instant::now() + config.check_every;
            }
            let next_due = match deliver(&loyalty, &config, &client).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "owner alerts: delivering failed");
                    None
                }
            };
            // After the owner's alerts, so member mail never holds one up.
            let notice_due = match &config.smtp {
                Some(smtp) => notices::deliver(&loyalty, smtp, &config.notices)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "member notices: delivering failed");
                        None
                    }),
                None => None,
            };
            let next_due = match (next_due, notice_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut until = next_look;
            if let Some(at) = next_due {
                let wait = crate::domain::status::elapsed(crate::clock::now(), at);
                until = until.min(tokio::time::Instant::now() + wait);
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = wake.0.notified() => {}
            }
        }
    })
}

/// Compares the alerts the facts raise with those recorded, and records the changes with
/// their messages.
async fn look(
    loyalty: &Loyalty,
    served: &Served,
    config: &AlertsConfig,
) -> Result<(), crate::service::ServiceError> {
    let facts = crate::control::status::facts(loyalty, served).await;
    let (before, told) = loyalty
        .store()
        .read(|tx| Ok((storage::alerts::active(tx)?, storage::alerts::told(tx)?)))
        .await?;
    let settings = loyalty.settings().await?;
    let to = channels(&settings, config);
    let changes = alerts::changes_given(&before, &facts);
    let untold = alerts::untold(&before, &told, &changes, &to);
    if changes.is_empty() && untold.is_empty() {
        return Ok(());
    }
    let mut messages: Vec<Message> = changes
        .iter()
        .map(|c| Message::alert(&settings.business_name, c, facts.now, &to))
        .collect();
    let mut changes = changes;
    for (c, missing) in untold {
        messages.push(Message::alert(
            &settings.business_name,
            &c,
            facts.now,
            &missing,
        ));
        changes.push(c);
    }
    for c in &changes {
        tracing::warn!(alert = c.key.as_str(), change = c.kind.as_str(), words = %c.words, "owner alert");
    }
    let now = facts.now;
    loyalty
        .store()
        .write(move |tx| storage::alerts::apply(tx, &changes, &messages, now))
        .await?;
    Ok(())
}

/// Delivers every due message; returns when the next pending delivery is due.
async fn deliver(
    loyalty: &Loyalty,
    config: &AlertsConfig,
    client: &reqwest::Client,
) -> Result<Option<time::OffsetDateTime>, crate::service::ServiceError> {
    let now = crate::clock::now();
    let due = loyalty
        .store()
        .read(move |tx| storage::alerts::due(tx, now))
        .await?;
    if due.is_empty() {
        return Ok(loyalty.store().read(storage::alerts::next_due).await?);
    }
    // Read once per round: a corrected address or URL is used from the next attempt on.
    let settings = loyalty.settings().await?;
    for (id, m) in due {
        for channel in m.due(now) {
            let outcome = match channel {
                Channel::Email => match &config.smtp {
                    Some(s) => {
                        // A member's mail goes to that member only, never to the owner.
                        let to =
                            m.to.as_ref()
                                .map_or(settings.alert_emails.as_slice(), std::slice::from_ref);
                        s.send(&m, to).await
                    }
                    None => Err("no mail server is configured (--smtp-host)".into()),
                },
                Channel::Webhook => match &settings.alert_webhook {
                    Some(url) => {
                        webhook::send(client, url, settings.alert_webhook_format, &m).await
                    }
                    None => Err("no webhook URL is set".into()),
                },
            };
            match &outcome {
                Ok(()) => tracing::info!(id, channel = channel.as_str(), "owner alert delivered"),
                Err(e) => {
                    tracing::warn!(
                        id,
                        channel = channel.as_str(),
                        error = %crate::redact::without_addresses(e),
                        "owner alert not delivered (retried later; the error is on /admin/alerts)"
                    );
                }
            }
            let at = crate::clock::now();
            let err = outcome.err();
            loyalty
                .store()
                .write(move |tx| {
                    storage::alerts::update(tx, id, |m| m.attempted(channel, at, err.clone()))
                })
                .await?;
        }
    }
    Ok(loyalty.store().read(storage::alerts::next_due).await?)
}
