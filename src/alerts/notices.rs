//! Delivering member notices from their queue, in the alert task after the owner's alerts (so
//! member mail never holds an alert up), a bounded number per round. Each is written from the
//! member's record as it is at sending time: a member who unsubscribed, was blocked or erased
//! since it was queued gets nothing, and the card link is the card's current one.

use super::smtp::{Outgoing, SmtpConfig};
use crate::domain::notices::{self, Notice, compose, unsubscribe_token};
use crate::service::{Loyalty, ServiceError};
use crate::storage;
use std::time::Duration;
use time::OffsetDateTime;

/// The most notices sent per round of the alert task: an owner alert queued meanwhile waits
/// for at most this many mails.
const PER_ROUND: usize = 20;

/// How notices are written and retried.
#[derive(Debug, Clone)]
pub struct NoticesConfig {
    /// Where the card and unsubscribe links point.
    pub base_url: String,
    /// The wait after a first failed attempt (it doubles, to an hour at most).
    pub retry_first: Duration,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            retry_first: Duration::from_secs(30),
        }
    }
}

/// What one notice becomes at sending time.
enum Ready {
    /// The mail to send, to the address, with the unsubscribe URL.
    Send(notices::Mail, crate::domain::email::Email, String),
    /// Not sent, for this reason.
    Skip(&'static str),
}

/// Sends the notices due now (at most [`PER_ROUND`]); returns when the next is due.
pub async fn deliver(
    loyalty: &Loyalty,
    smtp: &SmtpConfig,
    config: &NoticesConfig,
) -> Result<Option<OffsetDateTime>, ServiceError> {
    let now = crate::clock::now();
    let due = loyalty
        .store()
        .read(move |tx| storage::notices::due(tx, now, PER_ROUND))
        .await?;
    let full = due.len() == PER_ROUND;
    for (id, n) in due {
        let ready = prepare(loyalty, &n, &config.base_url).await?;
        let at = crate::clock::now();
        let outcome = match ready {
            Ready::Skip(why) => {
                loyalty
                    .store()
                    .write(move |tx| storage::notices::update(tx, id, |n| n.skipped(at, why)))
                    .await?;
                continue;
            }
            Ready::Send(mail, to, unsubscribe) => {
                smtp.send_mail(&Outgoing {
                    to: std::slice::from_ref(&to),
                    subject: &mail.subject,
                    text: &mail.text,
                    html: Some(&mail.html),
                    unsubscribe: Some(&unsubscribe),
                })
                .await
            }
        };
        let kind = n.what.kind().as_str();
        match &outcome {
            Ok(()) => tracing::info!(id, kind, "member notice sent"),
            Err(e) => tracing::warn!(
                id,
                kind,
                error = %crate::redact::without_addresses(e),
                "member notice not sent (retried later)"
            ),
        }
        let err = outcome.err();
        let base = config.retry_first;
        let at = crate::clock::now();
        loyalty
            .store()
            .write(move |tx| storage::notices::update(tx, id, |n| n.attempted(at, err, base)))
            .await?;
    }
    if full {
        return Ok(Some(crate::clock::now()));
    }
    Ok(loyalty.store().read(storage::notices::next_due).await?)
}

/// The mail for `n`, written now, or why it is not sent.
async fn prepare(loyalty: &Loyalty, n: &Notice, base_url: &str) -> Result<Ready, ServiceError> {
    let id = n.member.clone();
    let (member, settings, key) = loyalty
        .store()
        .read(move |tx| {
            Ok((
                storage::members::get(tx, &id)?,
                storage::settings::load(tx)?,
                storage::notices::key(tx)?,
            ))
        })
        .await?;
    let Some(m) = member else {
        return Ok(Ready::Skip("the member no longer exists"));
    };
    if let Err(why) = notices::eligible(&m) {
        return Ok(Ready::Skip(why));
    }
    if !settings.notices.wants(n.what.kind()) {
        return Ok(Ready::Skip("this kind of notice was switched off"));
    }
    let (Some(to), Some(key)) = (m.email.clone(), key) else {
        return Ok(Ready::Skip("the member has no email address"));
    };
    let card = format!("{base_url}/c/{}", m.card_token.as_str());
    let unsubscribe = format!(
        "{base_url}/unsubscribe/{}/{}",
        m.id.as_str(),
        unsubscribe_token(&key, &m.id)
    );
    let mail = compose(&n.what, &settings.business_name, &card, &unsubscribe);
    Ok(Ready::Send(mail, to, unsubscribe))
}
