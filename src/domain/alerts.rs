//! Owner alerts' rules: which concerns are alerts, which started or cleared since the last look,
//! the words of each message, where they go, and when a failed delivery is tried again.

use super::DomainError;
use super::email::Email;
use super::status::{Certificate, Concern, Facts, concerns, when};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// What an alert is about: stable while its details change, so a condition is alerted once
/// when it starts and once when it clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKey {
    /// No good snapshot for more than twice the interval (or none at all).
    Backups,
    /// Shipping changes has been failing for more than ten minutes.
    Shipping,
    /// Getting or renewing the certificate failed.
    CertificateRenewal,
    /// The certificate expires within 14 days.
    CertificateExpiry,
    /// The certificate has expired: browsers refuse the site.
    CertificateExpired,
    /// Less than 15% of the data's disk is free.
    DiskLow,
    /// Less than 5% of the data's disk is free.
    DiskCritical,
    /// The scheduled ledger check found damage.
    Ledger,
    /// The scheduled ledger check has not run for two days.
    LedgerUnchecked,
    /// The database cannot be read, or needed repair.
    Database,
}

impl AlertKey {
    /// Every key.
    pub const ALL: [AlertKey; 10] = [
        Self::Backups,
        Self::Shipping,
        Self::CertificateRenewal,
        Self::CertificateExpiry,
        Self::CertificateExpired,
        Self::DiskLow,
        Self::DiskCritical,
        Self::Ledger,
        Self::LedgerUnchecked,
        Self::Database,
    ];

    /// The stored name; never changes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backups => "backups",
            Self::Shipping => "shipping",
            Self::CertificateRenewal => "certificate-renewal",
            Self::CertificateExpiry => "certificate-expiry",
            Self::CertificateExpired => "certificate-expired",
            Self::DiskLow => "disk-low",
            Self::DiskCritical => "disk-critical",
            Self::Ledger => "ledger",
            Self::LedgerUnchecked => "ledger-unchecked",
            Self::Database => "database",
        }
    }

    /// The key stored as `raw`, if it is one this version knows.
    pub fn parse(raw: &str) -> Option<AlertKey> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// What it is about, in a few words (a subject line).
    pub fn title(self) -> &'static str {
        match self {
            Self::Backups => "backups",
            Self::Shipping => "shipping changes to the backup",
            Self::CertificateRenewal => "the certificate's renewal",
            Self::CertificateExpiry => "the certificate's expiry",
            Self::CertificateExpired => "the certificate has expired",
            Self::DiskLow => "disk space",
            Self::DiskCritical => "disk almost full",
            Self::Ledger => "the ledger check",
            Self::LedgerUnchecked => "the nightly ledger check",
            Self::Database => "the database",
        }
    }

    /// What the owner can do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Backups | Self::Shipping => {
                "Check that the backup target is reachable and writable (disk space, bucket, \
                 credentials); `fealty status` shows the last error. Until it works again, new \
                 points live in one place only."
            }
            Self::CertificateRenewal => {
                "Check that the domain's DNS still points at this server and that ports 80 and \
                 443 are open; the server keeps retrying."
            }
            Self::CertificateExpiry | Self::CertificateExpired => {
                "The certificate is not being renewed: check the renewal error in `fealty \
                 status`, then DNS and ports 80 and 443."
            }
            Self::DiskLow => {
                "Free some space on the disk that holds the data (old files, logs, a full \
                 backup target on the same disk), or make the disk bigger."
            }
            Self::DiskCritical => {
                "Free space now: once the disk is full no point can be saved. `fealty status` \
                 shows how much is left."
            }
            Self::Ledger => {
                "Run `fealty verify` to see what is damaged, keep the backups made before the \
                 damage, and restore from one (`fealty restore --at`) if points were altered."
            }
            Self::LedgerUnchecked => {
                "The server log says why the nightly check did not run; `fealty verify` checks \
                 the ledger now."
            }
            Self::Database => {
                "Run `fealty verify`, and keep the last good backup safe until it passes."
            }
        }
    }
}

impl Concern {
    /// The alert this concern raises, if it is one: `None` for what the owner chose (no backups
    /// scheduled), what the server cannot send (it is down), and passing states (a first
    /// certificate being fetched, one backup failure the next attempt may mend).
    pub fn alert(&self) -> Option<AlertKey> {
        match self {
            Concern::ServerDown
            | Concern::NoBackups
            | Concern::BackupFailing(_)
            | Concern::NoCertificate => None,
            Concern::DatabaseNeedsRepair | Concern::DatabaseUnreadable(_) => {
                Some(AlertKey::Database)
            }
            Concern::NoSnapshot | Concern::BackupStale { .. } => Some(AlertKey::Backups),
            Concern::ShippingStuck { .. } => Some(AlertKey::Shipping),
            Concern::CertificateError(_) => Some(AlertKey::CertificateRenewal),
            Concern::CertificateExpiring { .. } => Some(AlertKey::CertificateExpiry),
            Concern::CertificateExpired { .. } => Some(AlertKey::CertificateExpired),
            Concern::DiskLow(_) => Some(AlertKey::DiskLow),
            Concern::DiskCritical(_) => Some(AlertKey::DiskCritical),
            Concern::LedgerBroken(_) => Some(AlertKey::Ledger),
            Concern::LedgerUnchecked { .. } => Some(AlertKey::LedgerUnchecked),
            Concern::DatabaseRepaired { .. } => Some(AlertKey::Database),
        }
    }
}

/// The alerts the facts raise, each with its words (the first concern of a key speaks for it).
pub fn active(facts: &Facts) -> BTreeMap<AlertKey, String> {
    let mut out = BTreeMap::new();
    for c in concerns(facts) {
        let Some(key) = c.alert() else { continue };
        out.entry(key).or_insert_with(|| {
            let mut words = c.to_string();
            // A stale backup says why: the last error in plain words.
            if key == AlertKey::Backups
                && let Some(why) = facts.backups.as_ref().and_then(|b| b.last_error.as_ref())
            {
                words.push_str(&format!("; the last error: {why}"));
            }
            // A failed renewal says when, and when it is tried again.
            if key == AlertKey::CertificateRenewal
                && let Some(Certificate::On {
                    failed_at,
                    next_attempt,
                    ..
                }) = &facts.certificate
            {
                if let Some(at) = failed_at {
                    words.push_str(&format!(" (at {})", when(*at)));
                }
                if let Some(at) = next_attempt {
                    words.push_str(&format!("; the next attempt is at {}", when(*at)));
                }
            }
            words
        });
    }
    out
}

/// Started or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The condition began.
    Started,
    /// The condition cleared.
    Resolved,
    /// The owner asked for a test message.
    Test,
    /// A member asked for their card's link by email (not an alert: it shares the outbox).
    CardLink,
}

impl Kind {
    /// As a message says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Resolved => "resolved",
            Self::Test => "test",
            Self::CardLink => "card link",
        }
    }
}

/// One alert to send: a key that started (with its words) or cleared (with the words it had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Started or resolved.
    pub kind: Kind,
    /// Which alert.
    pub key: AlertKey,
    /// Its words when it started.
    pub words: String,
}

/// What changed from the alerts `before` (as stored) to those active `now`: a key that stays
/// active sends nothing, however its details move.
pub fn changes(
    before: &BTreeMap<AlertKey, String>,
    now: &BTreeMap<AlertKey, String>,
) -> Vec<Change> {
    let started = now
        .iter()
        .filter(|(k, _)| !before.contains_key(k))
        .map(|(k, w)| Change {
            kind: Kind::Started,
            key: *k,
            words: w.clone(),
        });
    let resolved = before
        .iter()
        .filter(|(k, _)| !now.contains_key(k))
        .map(|(k, w)| Change {
            kind: Kind::Resolved,
            key: *k,
            words: w.clone(),
        });
    resolved.chain(started).collect()
}

/// What changed from the alerts `before` to what `facts` show, leaving out a clearing that the
/// facts cannot yet vouch for: after a restart no backup has been made yet, which is no sign
/// that backups work again, so a backup alert resolves only once one has succeeded.
pub fn changes_given(before: &BTreeMap<AlertKey, String>, facts: &Facts) -> Vec<Change> {
    let backed_up_since_start = facts
        .backups
        .as_ref()
        .is_some_and(|b| b.last_success.is_some());
    // A renewal error is known only from an attempt since the start; the first attempts come
    // within [`RENEWAL_SETTLES`], so a silence shorter than that is no sign of a mended one.
    let renewal_settled = facts
        .server_started
        .is_some_and(|t| super::status::elapsed(t, facts.now) >= RENEWAL_SETTLES);
    changes(before, &active(facts))
        .into_iter()
        .filter(|c| {
            c.kind != Kind::Resolved
                || match c.key {
                    AlertKey::Backups | AlertKey::Shipping => backed_up_since_start,
                    AlertKey::CertificateRenewal => renewal_settled,
                    _ => true,
                }
        })
        .collect()
}

/// How long after a start a renewal alert carried over from before is kept without a new
/// error: the certificate schedule tries again 1, 5 and 30 minutes after a failure.
pub const RENEWAL_SETTLES: Duration = Duration::from_secs(3600);

/// The alerts still active after `changes` that a channel configured now has not been told of,
/// with the channels to tell: an owner who sets up email while the disk is already filling
/// hears of it once, rather than only of the next alert. `told` is, for each active alert, the
/// channels its "started" went to.
pub fn untold(
    before: &BTreeMap<AlertKey, String>,
    told: &BTreeMap<AlertKey, Vec<Channel>>,
    changes: &[Change],
    channels: &[Channel],
) -> Vec<(Change, Vec<Channel>)> {
    before
        .iter()
        .filter(|(k, _)| !changes.iter().any(|c| c.key == **k))
        .filter_map(|(key, words)| {
            let had = told.get(key).map(Vec::as_slice).unwrap_or_default();
            let missing: Vec<Channel> = channels
                .iter()
                .copied()
                .filter(|c| !had.contains(c))
                .collect();
            (!missing.is_empty()).then(|| {
                let change = Change {
                    kind: Kind::Started,
                    key: *key,
                    words: words.clone(),
                };
                (change, missing)
            })
        })
        .collect()
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email over SMTP to the owner's recipients.
    Email,
    /// An HTTP POST to the owner's webhook.
    Webhook,
}

impl Channel {
    /// As the list page shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

/// Where one channel's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not delivered yet; tried again at `next_at`.
    Pending,
    /// Delivered.
    Sent,
    /// Failed for [`GIVE_UP`]; no more attempts.
    GaveUp,
}

impl State {
    /// As the list page shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::GaveUp => "gave up",
        }
    }
}

/// One channel's delivery of a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The channel.
    pub channel: Channel,
    /// Where it stands.
    pub state: State,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error, in plain words.
    pub last_error: Option<String>,
    /// When it is tried next (while pending).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_at: Option<OffsetDateTime>,
    /// When it was delivered or given up.
    #[serde(with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
}

/// How long a delivery is retried before it is given up (and recorded as such).
pub const GIVE_UP: Duration = Duration::from_secs(24 * 3600);

/// The wait after `attempts` failed attempts (at least 1): 30 seconds, doubling, at most an hour.
pub fn retry_after(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(7);
    Duration::from_secs(30 << doublings).min(Duration::from_secs(3600))
}

/// A message to the owner, with each channel's delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Started, resolved or test.
    pub kind: Kind,
    /// The alert's stored key (none for a test).
    pub key: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
    /// One per channel configured when it was queued.
    pub deliveries: Vec<Delivery>,
    /// The one recipient of a message to a member; `None` sends to the owner's recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Email>,
}

impl Message {
    /// The message for an alert that started or cleared, to go to `channels`.
    pub fn alert(
        business: &str,
        change: &Change,
        now: OffsetDateTime,
        channels: &[Channel],
    ) -> Message {
        let (subject, body) = match change.kind {
            Kind::Resolved => (
                format!("{business}: resolved: {}", change.key.title()),
                format!(
                    "resolved: {} is back to normal.\n\nIt had started with: {}",
                    capital(change.key.title()),
                    change.words
                ),
            ),
            Kind::Started | Kind::Test | Kind::CardLink => (
                format!("{business}: started: {}", change.key.title()),
                format!("started: {}\n\n{}", change.words, change.key.advice()),
            ),
        };
        Self::new(now, change.kind, Some(change.key), subject, body, channels)
    }

    /// A test message, sent when the owner asks for one.
    pub fn test(business: &str, now: OffsetDateTime, channels: &[Channel]) -> Message {
        Self::new(
            now,
            Kind::Test,
            None,
            format!("{business}: test alert"),
            "test: this is a test alert from FealTY. If you read this, alerts reach you here."
                .into(),
            channels,
        )
    }

    /// A message to one member at `to`, by email only; `key` names what it is about (the member).
    pub fn to_member(
        now: OffsetDateTime,
        kind: Kind,
        key: &str,
        to: Email,
        subject: String,
        body: String,
    ) -> Message {
        let mut m = Self::new(now, kind, None, subject, body, &[Channel::Email]);
        m.key = Some(key.to_owned());
        m.to = Some(to);
        m
    }

    fn new(
        now: OffsetDateTime,
        kind: Kind,
        key: Option<AlertKey>,
        subject: String,
        body: String,
        channels: &[Channel],
    ) -> Message {
        Message {
            created: now,
            kind,
            key: key.map(|k| k.as_str().to_owned()),
            subject,
            body,
            to: None,
            deliveries: channels
                .iter()
                .map(|c| Delivery {
                    channel: *c,
                    state: State::Pending,
                    attempts: 0,
                    last_error: None,
                    next_at: Some(now),
                    done_at: None,
                })
                .collect(),
        }
    }

    /// Whether every delivery is sent or given up: nothing is left to send.
    pub fn finished(&self) -> bool {
        self.deliveries.iter().all(|d| d.state != State::Pending)
    }

    /// The channels whose delivery is due at `now`.
    pub fn due(&self, now: OffsetDateTime) -> Vec<Channel> {
        self.deliveries
            .iter()
            .filter(|d| d.state == State::Pending && d.next_at.is_none_or(|t| t <= now))
            .map(|d| d.channel)
            .collect()
    }

    /// The earliest time a pending delivery is due.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        self.deliveries
            .iter()
            .filter(|d| d.state == State::Pending)
            .filter_map(|d| d.next_at)
            .min()
    }

    /// Records an attempt on `channel` at `now`: delivered, or failed with `error` (tried again
    /// later, or given up once [`GIVE_UP`] has passed since the message was queued).
    pub fn attempted(&mut self, channel: Channel, now: OffsetDateTime, error: Option<String>) {
        let created = self.created;
        let Some(d) = self.deliveries.iter_mut().find(|d| d.channel == channel) else {
            return;
        };
        d.attempts = d.attempts.saturating_add(1);
        match error {
            None => {
                d.state = State::Sent;
                d.next_at = None;
                d.done_at = Some(now);
            }
            Some(e) => {
                d.last_error = Some(e);
                let next = now + retry_after(d.attempts);
                if next - created > GIVE_UP {
                    d.state = State::GaveUp;
                    d.next_at = None;
                    d.done_at = Some(now);
                } else {
                    d.next_at = Some(next);
                }
            }
        }
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The owner's alert recipients: up to [`Recipients::MAX`] email addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Recipients(Vec<Email>);

impl Recipients {
    /// The most addresses kept.
    pub const MAX: usize = 5;

    /// Parses addresses separated by commas, spaces or lines; empty means none.
    pub fn parse(raw: &str) -> Result<Recipients, DomainError> {
        let mut out: Vec<Email> = Vec::new();
        for part in raw
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            let email = Email::parse(part).map_err(|_| {
                DomainError::invalid(
                    "alert_emails",
                    format!("{:?} is not a valid email address", clip(part)),
                )
            })?;
            if !out.contains(&email) {
                out.push(email);
            }
        }
        if out.len() > Self::MAX {
            return Err(DomainError::invalid(
                "alert_emails",
                format!("at most {} addresses", Self::MAX),
            ));
        }
        Ok(Recipients(out))
    }

    /// The addresses.
    pub fn as_slice(&self) -> &[Email] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As the form shows them.
    pub fn joined(&self) -> String {
        let all: Vec<&str> = self.0.iter().map(Email::as_str).collect();
        all.join(", ")
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// The owner's webhook: an `http://` or `https://` URL with a host, at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Parses a URL; empty means none.
    pub fn parse(raw: &str) -> Result<Option<WebhookUrl>, DomainError> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        super::text::web_address("alert_webhook", raw).map(|s| Some(WebhookUrl(s)))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// JSON with `text` (Slack), `content` (Discord) and plain fields for anything else.
    #[default]
    Json,
    /// The message as plain text with a `Title` header, as ntfy takes it.
    Text,
}

impl WebhookFormat {
    /// Parses the form's choice.
    pub fn parse(raw: &str) -> Result<WebhookFormat, DomainError> {
        match raw.trim() {
            "" | "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(DomainError::invalid(
                "alert_webhook_format",
                "must be json or text",
            )),
        }
    }

    /// As the form sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::status::{Backups, Certificate, Database};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 03:00 UTC);

    fn facts(last_success_min: i64, error: Option<&str>) -> Facts {
        Facts {
            now: NOW,
            server_started: Some(NOW - time::Duration::days(1)),
            database: Database::Read {
                schema: 5,
                members: 0,
                entries: 0,
                last_seq: 0,
            },
            backups: Some(Backups {
                every: Some(Duration::from_secs(3600)),
                last_success: Some(NOW - time::Duration::minutes(last_success_min)),
                last_error: error.map(str::to_owned),
                shipping_failing_since: None,
            }),
            certificate: Some(Certificate::Off),
            disk: None,
            ledger_check: None,
        }
    }

    #[test]
    fn a_renewal_alert_outlives_a_restart_until_an_hour_without_errors() {
        let mut f = facts(10, None);
        f.certificate = Some(Certificate::On {
            deployed_at: Some(NOW - time::Duration::days(30)),
            expires_at: Some(NOW + time::Duration::days(20)),
            last_error: None,
            failed_at: None,
            next_attempt: None,
        });
        let before = BTreeMap::from([(AlertKey::CertificateRenewal, "refused".to_owned())]);
        f.server_started = Some(NOW - time::Duration::minutes(59));
        assert_eq!(
            changes_given(&before, &f),
            vec![],
            "just restarted: not mended yet"
        );
        f.server_started = Some(NOW - time::Duration::minutes(61));
        let c = changes_given(&before, &f);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].kind, c[0].key),
            (Kind::Resolved, AlertKey::CertificateRenewal)
        );
    }

    #[test]
    fn a_failed_renewal_says_when_and_when_it_is_tried_again() {
        let mut f = facts(10, None);
        f.certificate = Some(Certificate::On {
            deployed_at: Some(NOW - time::Duration::days(30)),
            expires_at: Some(NOW + time::Duration::days(60)),
            last_error: Some("the CA could not reach this server on port 80".into()),
            failed_at: Some(NOW - time::Duration::minutes(5)),
            next_attempt: Some(NOW + time::Duration::minutes(25)),
        });
        let words = active(&f)
            .remove(&AlertKey::CertificateRenewal)
            .expect("an alert");
        assert_eq!(
            words,
            "the certificate: the CA could not reach this server on port 80 \
             (at 2026-12-02T02:55:00Z); the next attempt is at 2026-12-02T03:25:00Z"
        );
    }

    #[test]
    fn a_channel_added_while_an_alert_lasts_is_told_of_it_once() {
        let before = BTreeMap::from([
            (AlertKey::DiskLow, "the disk is filling".to_owned()),
            (AlertKey::Backups, "no backup".to_owned()),
        ]);
        let nobody = BTreeMap::from([(AlertKey::DiskLow, vec![]), (AlertKey::Backups, vec![])]);
        assert_eq!(
            untold(&before, &nobody, &[], &[]),
            vec![],
            "no channel, no one to tell"
        );
        let resolving = [Change {
            kind: Kind::Resolved,
            key: AlertKey::Backups,
            words: "no backup".into(),
        }];
        let told = untold(&before, &nobody, &resolving, &[Channel::Email]);
        assert_eq!(
            told,
            vec![(
                Change {
                    kind: Kind::Started,
                    key: AlertKey::DiskLow,
                    words: "the disk is filling".into()
                },
                vec![Channel::Email]
            )],
            "one that resolves now is not announced as started"
        );
        let by_mail = BTreeMap::from([(AlertKey::DiskLow, vec![Channel::Email])]);
        let before = BTreeMap::from([(AlertKey::DiskLow, "the disk is filling".to_owned())]);
        assert_eq!(untold(&before, &by_mail, &[], &[Channel::Email]), vec![]);
        let both = untold(&before, &by_mail, &[], &[Channel::Email, Channel::Webhook]);
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].1, vec![Channel::Webhook], "only the new channel");
    }

    #[test]
    fn a_filling_disk_alerts_at_15_then_again_at_5_percent_and_each_clears_on_its_own() {
        use crate::domain::disk::Space;
        let mut f = facts(10, None);
        let none = active(&f);
        f.disk = Some(Space {
            free: 10,
            total: 100,
        });
        let low = active(&f);
        assert_eq!(
            low.keys().copied().collect::<Vec<_>>(),
            vec![AlertKey::DiskLow]
        );
        f.disk = Some(Space {
            free: 4,
            total: 100,
        });
        let critical = active(&f);
        let started = changes(&low, &critical);
        assert_eq!(started.len(), 1, "only the new level starts: {started:?}");
        assert_eq!(
            (started[0].kind, started[0].key),
            (Kind::Started, AlertKey::DiskCritical)
        );
        let cleared = changes(&critical, &none);
        assert_eq!(
            cleared.iter().map(|c| (c.kind, c.key)).collect::<Vec<_>>(),
            vec![
                (Kind::Resolved, AlertKey::DiskLow),
                (Kind::Resolved, AlertKey::DiskCritical)
            ]
        );
    }

    #[test]
    fn one_failure_is_no_alert_but_a_stale_backup_is_with_its_last_error() {
        assert!(active(&facts(30, Some("refused"))).is_empty());
        let a = active(&facts(150, Some("the target is not a directory")));
        let words = a.get(&AlertKey::Backups).expect("a backup alert");
        assert!(words.contains("2h 30m old"), "{words}");
        assert!(
            words.ends_with("the last error: the target is not a directory"),
            "{words}"
        );
    }

    #[test]
    fn a_condition_starts_once_and_resolves_once() {
        let none = BTreeMap::new();
        let stale = active(&facts(150, Some("refused")));
        let first = changes(&none, &stale);
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].kind, first[0].key),
            (Kind::Started, AlertKey::Backups)
        );
        // Still stale, older, another error: nothing new.
        let later = active(&facts(190, Some("timed out")));
        assert_eq!(changes(&stale, &later), vec![]);
        let back = active(&facts(1, None));
        let cleared = changes(&stale, &back);
        assert_eq!(
            cleared,
            vec![Change {
                kind: Kind::Resolved,
                key: AlertKey::Backups,
                words: stale[&AlertKey::Backups].clone()
            }]
        );
        assert_eq!(changes(&back, &back), vec![]);
    }

    #[test]
    fn a_restart_does_not_resolve_a_backup_alert_before_a_backup_succeeds() {
        let stale = active(&facts(150, Some("refused")));
        let mut restarted = facts(0, None);
        restarted.server_started = Some(NOW);
        if let Some(b) = restarted.backups.as_mut() {
            b.last_success = None;
        }
        assert_eq!(changes_given(&stale, &restarted), vec![]);
        let done = changes_given(&stale, &facts(0, None));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].kind, Kind::Resolved);
    }

    #[test]
    fn server_down_and_unscheduled_backups_are_not_alerts() {
        assert_eq!(Concern::ServerDown.alert(), None);
        assert_eq!(Concern::NoBackups.alert(), None);
        assert_eq!(
            Concern::CertificateExpiring { at: NOW }.alert(),
            Some(AlertKey::CertificateExpiry)
        );
    }

    #[test]
    fn keys_keep_their_stored_names() {
        for k in AlertKey::ALL {
            assert_eq!(AlertKey::parse(k.as_str()), Some(k));
        }
        assert_eq!(AlertKey::parse("disk"), None);
    }

    #[test]
    fn retries_back_off_to_an_hour_and_give_up_after_a_day() {
        let secs: Vec<u64> = (1..=9).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        let mut m = Message::test("Café", NOW, &[Channel::Email, Channel::Webhook]);
        assert_eq!(m.due(NOW), vec![Channel::Email, Channel::Webhook]);
        m.attempted(Channel::Webhook, NOW, None);
        m.attempted(Channel::Email, NOW, Some("refused".into()));
        assert_eq!(m.due(NOW), vec![]);
        assert_eq!(
            m.due(NOW + time::Duration::seconds(30)),
            vec![Channel::Email]
        );
        let mut at = NOW;
        while m.deliveries[0].state == State::Pending {
            at = m.next_due().expect("pending has a time");
            m.attempted(Channel::Email, at, Some("refused".into()));
        }
        assert_eq!(m.deliveries[0].state, State::GaveUp);
        assert!(at - NOW <= time::Duration::days(1), "gave up at {at}");
        assert!(
            at - NOW > time::Duration::hours(22),
            "gave up early at {at}"
        );
        assert_eq!(m.deliveries[1].state, State::Sent);
        assert_eq!(m.deliveries[1].attempts, 1);
    }

    #[test]
    fn messages_say_started_and_resolved_in_plain_words() {
        let c = Change {
            kind: Kind::Started,
            key: AlertKey::Backups,
            words: "no backup has been made yet".into(),
        };
        let m = Message::alert("Café Nord", &c, NOW, &[Channel::Email]);
        assert_eq!(m.subject, "Café Nord: started: backups");
        assert!(m.body.starts_with("started: no backup has been made yet"));
        let r = Message::alert(
            "Café Nord",
            &Change {
                kind: Kind::Resolved,
                ..c
            },
            NOW,
            &[],
        );
        assert_eq!(r.subject, "Café Nord: resolved: backups");
        assert!(r.body.starts_with("resolved: Backups is back to normal."));
    }

    #[test]
    fn recipients_and_webhooks_parse_or_say_why_not() {
        let r = Recipients::parse(" Owner@Example.com, b@example.org\nowner@example.com ")
            .expect("two addresses");
        assert_eq!(r.joined(), "owner@example.com, b@example.org");
        assert!(Recipients::parse("").expect("none").is_empty());
        let e = Recipients::parse("a@example.com, not-an-address").expect_err("bad");
        assert!(e.to_string().contains("not-an-address"), "{e}");
        let many = "a@x.io b@x.io c@x.io d@x.io e@x.io f@x.io";
        assert!(Recipients::parse(many).is_err());

        assert_eq!(WebhookUrl::parse(" ").expect("none"), None);
        for ok in [
            "https://ntfy.sh/cafe-nord-alerts",
            "http://127.0.0.1:8099/hook",
            "https://hooks.slack.com/services/T0/B0/XX",
        ] {
            assert!(WebhookUrl::parse(ok).expect("ok").is_some(), "{ok}");
        }
        for bad in [
            "ftp://example.com/x",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "example.com/hook",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
