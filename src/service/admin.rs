//! What the admin pages need beyond the API: log-in sessions, staff accounts, the dashboard,
//! the logo, the audit log and import previews.

use super::{ImportRow, Loyalty, Result, ServiceError, Stats, internal, stats_in};
use crate::clock;
use crate::crypto;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::dashboard::{self, Period};
use crate::domain::getting_started::Checklist;
use crate::domain::member::Member;
use crate::domain::session::{Principal, Session};
use crate::domain::settings::{LogoType, Settings};
use crate::domain::staff::{Password, Role, StaffUser};
use crate::domain::stats::{RewardTally, Totals};
use crate::member_csv::{self as import, LineError, Source};
use crate::progress::Progress;
use crate::storage::audit::AuditRecord;
use crate::storage::members::Page;
use crate::storage::{self, StoreError};
use std::collections::HashSet;

/// A live staff session with the account as it is now.
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// The session's key (hash of the cookie secret).
    pub key: String,
    /// The session.
    pub session: Session,
    /// The signed-in account.
    pub user: StaffUser,
}

impl StaffSession {
    /// Who to record as making changes.
    pub fn actor(&self) -> Actor {
        Actor::Staff {
            username: self.user.username.as_str().to_owned(),
        }
    }

    /// Whether the account is an owner.
    pub fn is_owner(&self) -> bool {
        self.user.role == Role::Owner
    }
}

/// Everything the dashboard shows, computed from running aggregates.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Scheme-wide totals.
    pub stats: Stats,
    /// Members who joined in the last 30 days.
    pub new_members_30d: i64,
    /// The last local days, oldest first: as many as the data is old, up to 30.
    pub daily: Vec<Period>,
    /// The last weeks, oldest first: as many as the data touches, up to 12.
    pub weekly: Vec<Period>,
    /// What happened today in the business's time zone.
    pub today: Totals,
    /// Which getting-started steps are done (backups are filled in by who knows the schedule).
    pub checklist: Checklist,
    /// Transactions per local hour over the last 28 days.
    pub hours: [i64; 24],
    /// Redemptions per reward, most first: (reward name, tally).
    pub rewards: Vec<(String, RewardTally)>,
    /// Members with the most lifetime points.
    pub top: Vec<Member>,
    /// The settings the numbers are shown with.
    pub settings: Settings,
    /// Bonus points the campaigns issued.
    pub bonus: super::campaigns::BonusIssued,
}

/// One line of an import preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewLine {
    /// Line in the file.
    pub line: u64,
    /// What would be created, for a person.
    pub summary: String,
    /// Why the line cannot be imported.
    pub error: Option<String>,
}

/// What an import would do, checked against the file and the database; nothing is written.
///
/// Every line is checked, but only a bounded number is kept to show, so the page stays small
/// however large the file: the first `PREVIEW_LINES` lines, then further lines with errors
/// until `PREVIEW_ERRORS` errors are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPreview {
    /// The lines kept to show, in file order.
    pub lines: Vec<PreviewLine>,
    /// Data lines in the file.
    pub total: usize,
    /// Lines that cannot be imported.
    pub errors: usize,
    /// The first line that cannot be imported.
    pub first_error: Option<PreviewLine>,
    /// Lines with errors among `lines`.
    shown_errors: usize,
}

/// Lines shown from the top of a previewed file.
pub const PREVIEW_LINES: usize = 200;
/// Error lines shown at most in a preview (those among the first lines included).
pub const PREVIEW_ERRORS: usize = 200;
/// Characters of a member summary or an error message shown for one line.
const PREVIEW_TEXT_CHARS: usize = 300;

impl ImportPreview {
    /// How many lines cannot be imported.
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// How many lines are not shown.
    pub fn not_shown(&self) -> usize {
        self.total.saturating_sub(self.lines.len())
    }

    /// Counts `line` and keeps it if the bounds allow.
    fn push(&mut self, mut line: PreviewLine) {
        line.summary = shorten(line.summary);
        line.error = line.error.map(shorten);
        self.total += 1;
        let is_error = line.error.is_some();
        if is_error {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(line.clone());
            }
        }
        if self.lines.len() < PREVIEW_LINES || (is_error && self.shown_errors < PREVIEW_ERRORS) {
            self.shown_errors += usize::from(is_error);
            self.lines.push(line);
        }
    }
}

/// A line's text cut to what a preview shows (a cell can be as long as the whole file).
fn shorten(s: String) -> String {
    match s.char_indices().nth(PREVIEW_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

impl Loyalty {
    // ---- log-in and sessions ----

    /// The enabled account `username` if `password` is its password (argon2 off the async threads).
    pub async fn check_login(&self, username: &str, password: String) -> Result<Option<StaffUser>> {
        let name = username.trim().to_lowercase();
        let user = self
            .store
            .read(move |tx| storage::staff::get(tx, &name))
            .await?;
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.passwords.verify_if_any(password, phc).await?;
        Ok(user.filter(|u| ok && !u.disabled))
    }

    /// Starts a session for `principal`; returns the cookie secret (only its hash is stored).
    pub async fn start_session(&self, principal: Principal) -> Result<(String, Session)> {
        let secret = crypto::random_token::<32>().map_err(internal)?;
        let csrf = crypto::random_token::<24>().map_err(internal)?;
        let key = crypto::sha256_hex(secret.as_bytes());
        let now = clock::now();
        let session = Session::start(principal, csrf, now);
        let stored = session.clone();
        self.store
            .write(move |tx| {
                storage::sessions::purge_expired(tx, now)?;
                storage::sessions::insert(tx, &key, &stored)
            })
            .await?;
        Ok((secret, session))
    }

    /// The live staff session for a cookie secret, with its account (which must still be enabled).
    pub async fn staff_session(&self, secret: &str) -> Result<Option<StaffSession>> {
        let key = crypto::sha256_hex(secret.as_bytes());
        let now = clock::now();
        Ok(self
            .store
            .read(move |tx| {
                let Some(session) = storage::sessions::get(tx, &key)? else {
                    return Ok(None);
                };
                let Some(name) = session.staff_username().filter(|_| session.is_live(now)) else {
                    return Ok(None);
                };
                let user = storage::staff::get(tx, name)?.filter(|u| !u.disabled);
                Ok(user.map(|user| StaffSession { key, session, user }))
            })
            .await?)
    }

    /// Ends a session.
    pub async fn end_session(&self, key: String) -> Result<()> {
        Ok(self
            .store
            .write(move |tx| storage::sessions::remove(tx, &key))
            .await?)
    }

    // ---- staff accounts ----

    /// Disables or enables an account; disabling ends its sessions.
    pub async fn set_staff_disabled(
        &self,
        username: String,
        disabled: bool,
        actor: Actor,
    ) -> Result<StaffUser> {
        let action = if disabled {
            "staff.disable"
        } else {
            "staff.enable"
        };
        Ok(self
            .store
            .write(move |tx| {
                let user =
                    storage::staff::update(tx, &username, action, &actor, clock::now(), |u| {
                        u.disabled = disabled;
                        Ok(())
                    })?;
                if disabled {
                    storage::sessions::remove_for_staff(tx, &username)?;
                }
                Ok(user)
            })
            .await?)
    }

    /// Sets a new password for an account and ends its sessions.
    pub async fn reset_staff_password(
        &self,
        username: String,
        password: Password,
        actor: Actor,
    ) -> Result<StaffUser> {
        let hash = self.passwords.hash(password.expose()).await?;
        Ok(self
            .store
            .write(move |tx| {
                let user = storage::staff::update(
                    tx,
                    &username,
                    "staff.password_reset",
                    &actor,
                    clock::now(),
                    |u| {
                        u.password_hash = hash;
                        Ok(())
                    },
                )?;
                storage::sessions::remove_for_staff(tx, &username)?;
                Ok(user)
            })
            .await?)
    }

    // ---- dashboard ----

    /// The dashboard's numbers, from aggregates kept by every write (no ledger scan).
    pub async fn dashboard(&self) -> Result<Dashboard> {
        let now = clock::now();
        Ok(self
            .store
            .read(move |tx| {
                let settings = storage::settings::load(tx)?;
                let zone = settings.time_zone.zone();
                let today = jiff::Timestamp::from_second(now.unix_timestamp())
                    .map(|t| zone.to_datetime(t).date())
                    .map_err(|e| StoreError::Db(format!("clock out of range: {e}")))?;
                // Twelve whole weeks plus the current one, in the widest time zone.
                let since = now - time::Duration::days(7 * 13 + 2);
                let hours = storage::aggregates::hours_since(tx, since)?;
                let first = dashboard::first_day(storage::aggregates::oldest_hour(tx)?, &zone);
                let month = dashboard::daily(&hours, &zone, today, 30)?;
                let days = dashboard::days_to_show(first, today, 30);
                let daily = month
                    .get(
                        month
                            .len()
                            .saturating_sub(usize::try_from(days).unwrap_or(30))..,
                    )
                    .unwrap_or_default()
                    .to_vec();
                let weeks = dashboard::weeks_to_show(first, today, 12);
                let weekly = dashboard::weekly(&hours, &zone, today, weeks)?;
                let on_today = dashboard::on_day(&hours, &zone, today)?;
                let cutoff =
                    dashboard::bucket_of((now - time::Duration::days(28)).unix_timestamp());
                let recent: Vec<_> = hours
                    .iter()
                    .filter(|(h, _)| *h >= cutoff)
                    .cloned()
                    .collect();
                let busiest = dashboard::busiest_hours(&recent, &zone)?;
                let new_members_30d = month
                    .iter()
                    .try_fold(0i64, |n, d| n.checked_add(d.totals.members))
                    .ok_or(DomainError::Overflow)?;
                let rewards = storage::rewards::list(tx)?;
                let mut tallies: Vec<(String, RewardTally)> =
                    storage::aggregates::reward_tallies(tx)?
                        .into_iter()
                        .map(|(id, t)| {
                            let name = rewards
                                .iter()
                                .find(|r| r.id == id)
                                .map_or_else(|| format!("reward {id}"), |r| r.name.clone());
                            (name, t)
                        })
                        .filter(|(_, t)| t.count != 0)
                        .collect();
                tallies.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
                let mut top = Vec::new();
                for id in storage::aggregates::top_by_lifetime(tx, 10)? {
                    let id = crate::domain::member::MemberId::parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("bad member id {id}")))?;
                    if let Some(m) = storage::members::get(tx, &id)? {
                        top.push(m);
                    }
                }
                let stats = stats_in(tx, now)?;
                let checklist = Checklist {
                    named: settings.business_name != Settings::default().business_name,
                    rewards: rewards.len(),
                    members: stats.members,
                    backups: false,
                };
                Ok(Dashboard {
                    stats,
                    new_members_30d,
                    daily,
                    weekly,
                    today: on_today,
                    checklist,
                    hours: busiest,
                    rewards: tallies,
                    top,
                    settings,
                    bonus: super::campaigns::bonus_in(tx, now)?,
                })
            })
            .await?)
    }

    // ---- logo ----

    /// Replaces the logo after checking its size and type.
    pub async fn set_logo(&self, bytes: Vec<u8>, actor: Actor) -> Result<Settings> {
        let kind = LogoType::sniff(&bytes)?;
        Ok(self
            .store
            .write(move |tx| {
                let mut s = storage::settings::load_for_update(tx)?;
                s.logo = Some(kind);
                storage::settings::save(tx, &s)?;
                storage::settings::set_logo(tx, &bytes)?;
                storage::audit::record(
                    tx,
                    &actor,
                    "settings.logo",
                    "settings",
                    serde_json::json!({ "type": kind, "bytes": bytes.len() }),
                    clock::now(),
                )?;
                Ok(s)
            })
            .await?)
    }

    /// The logo and its type, if one was uploaded.
    pub async fn logo(&self) -> Result<Option<(LogoType, Vec<u8>)>> {
        Ok(self
            .store
            .read(|tx| {
                let kind = storage::settings::load(tx)?.logo;
                Ok(kind.zip(storage::settings::logo(tx)?))
            })
            .await?)
    }

    // ---- audit ----

    /// Audit records, newest first, before `before`, whose actor and action contain the filters.
    pub async fn audit(
        &self,
        actor: Option<String>,
        action: Option<String>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page<AuditRecord>> {
        Ok(self
            .store
            .read(move |tx| {
                storage::audit::search(tx, actor.as_deref(), action.as_deref(), before, limit)
            })
            .await?)
    }

    // ---- import ----

    /// Checks an import file line by line against itself and the database; writes nothing.
    pub async fn preview_import(&self, source: Source) -> Result<ImportPreview> {
        self.store
            .read(move |tx| {
                let lines = match import::Lines::new(source.open()?) {
                    Ok(lines) => lines,
                    Err(e) => return Ok(Err(e)),
                };
                let mut seen_emails = HashSet::new();
                let mut seen_cards = HashSet::new();
                let mut out = ImportPreview::default();
                for line in lines {
                    out.push(match line {
                        Err(LineError { line, message, who }) => PreviewLine {
                            line,
                            summary: who,
                            error: Some(message),
                        },
                        Ok(row) => {
                            let error =
                                import_conflict(tx, &row, &mut seen_emails, &mut seen_cards)?;
                            PreviewLine {
                                line: row.line,
                                summary: summarise(&row),
                                error,
                            }
                        }
                    });
                }
                Ok(Ok(out))
            })
            .await?
            .map_err(ServiceError::Domain)
    }

    /// Imports a file only if its preview has no errors.
    pub async fn import_checked(&self, source: Source, actor: Actor) -> Result<usize> {
        let preview = self.preview_import(source.clone()).await?;
        if let Some(bad) = &preview.first_error {
            return Err(ServiceError::Domain(DomainError::invalid(
                "file",
                format!(
                    "line {}: {}",
                    bad.line,
                    bad.error.as_deref().unwrap_or_default()
                ),
            )));
        }
        self.import(source, actor, Progress::hidden()).await
    }
}

fn summarise(row: &ImportRow) -> String {
    let m = &row.member;
    let mut parts = Vec::new();
    if let Some(n) = &m.name {
        parts.push(n.as_str().to_owned());
    }
    if let Some(e) = &m.email {
        parts.push(e.as_str().to_owned());
    }
    if let Some(p) = &m.phone {
        parts.push(p.as_str().to_owned());
    }
    if let Some(c) = &m.card_number {
        parts.push(format!("card {}", c.as_str()));
    }
    if row.balance > 0 {
        parts.push(format!("{} points", row.balance));
    }
    if parts.is_empty() {
        "a member with no details".to_owned()
    } else {
        parts.join(", ")
    }
}

fn import_conflict(
    tx: &redb::ReadTransaction,
    row: &ImportRow,
    seen_emails: &mut HashSet<String>,
    seen_cards: &mut HashSet<String>,
) -> std::result::Result<Option<String>, StoreError> {
    use crate::storage::tables::{MEMBERS_BY_CARD, MEMBERS_BY_EMAIL};
    if let Some(e) = &row.member.email {
        let taken = tx.open_table(MEMBERS_BY_EMAIL)?.get(e.as_str())?.is_some();
        if taken || !seen_emails.insert(e.as_str().to_owned()) {
            return Ok(Some(format!("email {} is already in use", e.as_str())));
        }
    }
    if let Some(c) = &row.member.card_number {
        let taken = tx.open_table(MEMBERS_BY_CARD)?.get(c.as_str())?.is_some();
        if taken || !seen_cards.insert(c.as_str().to_owned()) {
            return Ok(Some(format!(
                "card number {} is already in use",
                c.as_str()
            )));
        }
    }
    Ok(None)
}
