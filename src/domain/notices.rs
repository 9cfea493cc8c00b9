//! Email notices to members: which kinds the owner switched on, what each mail says (plain text
//! and simple HTML), when a points digest or an expiry warning is due, the unsubscribe link's
//! signature, and the retries of a queued notice.

use super::DomainError;
use super::member::{Member, MemberId, MemberStatus};
use super::words::count;
use std::time::Duration;
use time::OffsetDateTime;

/// The owner's choice of notices; all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoticeSettings {
    /// A welcome with the card's link when a member with an email joins.
    #[serde(default)]
    pub welcome: bool,
    /// At most one mail a day with the points earned since the last one.
    #[serde(default)]
    pub digest: bool,
    /// A warning before points expire.
    #[serde(default)]
    pub expiry_warning: bool,
    /// A mail when a member moves to another tier.
    #[serde(default)]
    pub tier_change: bool,
    /// How many days ahead the expiry warning comes.
    #[serde(default)]
    pub warning_days: WarningDays,
}

impl NoticeSettings {
    /// Whether notices of `kind` are switched on.
    pub fn wants(&self, kind: NoticeKind) -> bool {
        match kind {
            NoticeKind::Welcome => self.welcome,
            NoticeKind::Digest => self.digest,
            NoticeKind::ExpiryWarning => self.expiry_warning,
            NoticeKind::TierChange => self.tier_change,
        }
    }

    /// Whether any kind is on.
    pub fn any(&self) -> bool {
        NoticeKind::ALL.into_iter().any(|k| self.wants(k))
    }
}

/// Days ahead of an expiry that its warning is sent: 1 to 90.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct WarningDays(u8);

impl Default for WarningDays {
    fn default() -> Self {
        Self(14)
    }
}

impl WarningDays {
    /// The fewest days.
    pub const MIN: i64 = 1;
    /// The most days.
    pub const MAX: i64 = 90;

    /// Parses a number of days.
    pub fn parse(n: i64) -> Result<Self, DomainError> {
        u8::try_from(n)
            .ok()
            .filter(|d| (Self::MIN..=Self::MAX).contains(&i64::from(*d)))
            .map(Self)
            .ok_or_else(|| DomainError::invalid("warning_days", "must be between 1 and 90 days"))
    }

    /// The days.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// The kinds of notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Welcome with the card link.
    Welcome,
    /// Points earned, at most daily.
    Digest,
    /// Points about to expire.
    ExpiryWarning,
    /// A move to another tier.
    TierChange,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [NoticeKind; 4] = [
        Self::Welcome,
        Self::Digest,
        Self::ExpiryWarning,
        Self::TierChange,
    ];

    /// As pages list it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::Digest => "points digest",
            Self::ExpiryWarning => "expiry warning",
            Self::TierChange => "tier change",
        }
    }
}

/// What a queued notice is about, with the facts it states (fixed when it was queued).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// Welcome with the card link.
    Welcome,
    /// Points earned since the last digest, and the balance then.
    Digest {
        /// Points earned.
        points: i64,
        /// The balance when it was queued.
        balance: i64,
    },
    /// Points about to expire.
    ExpiryWarning {
        /// How many.
        points: i64,
        /// The last local day they can be used, `YYYY-MM-DD`.
        last_day: String,
        /// In words, e.g. "120 points expire on 31 Mar 2027".
        words: String,
    },
    /// A move to another tier.
    TierChange {
        /// The new tier's name.
        tier: String,
    },
}

impl What {
    /// Its kind.
    pub fn kind(&self) -> NoticeKind {
        match self {
            Self::Welcome => NoticeKind::Welcome,
            Self::Digest { .. } => NoticeKind::Digest,
            Self::ExpiryWarning { .. } => NoticeKind::ExpiryWarning,
            Self::TierChange { .. } => NoticeKind::TierChange,
        }
    }
}

/// A member's notice record, beside the marketing consent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberNotices {
    /// When the member turned notices off (by the unsubscribe link or on their account page).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub off_at: Option<OffsetDateTime>,
    /// When the last digest was queued.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub digest_at: Option<OffsetDateTime>,
    /// The member's lifetime points at the last digest (or when counting began).
    #[serde(default)]
    pub digest_base: Option<i64>,
    /// The last days of points already warned about (`YYYY-MM-DD`), so each is warned of once.
    #[serde(default)]
    pub warned: Vec<String>,
}

impl MemberNotices {
    /// Whether nothing is recorded (older members read as this).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// A new member's record: points are counted from zero.
    pub fn new_member() -> Self {
        Self {
            digest_base: Some(0),
            ..Self::default()
        }
    }
}

/// Why no notice goes to a member, or `Ok` if one may.
pub fn eligible(m: &Member) -> Result<(), &'static str> {
    if m.status != MemberStatus::Active {
        return Err("the member is blocked or erased");
    }
    if m.email.is_none() {
        return Err("the member has no email address");
    }
    if m.notices.off_at.is_some() {
        return Err("the member unsubscribed");
    }
    Ok(())
}

/// The shortest time between two digests to one member: a day, less some slack for the daily
/// run moving with the time zone's clock changes.
pub const DIGEST_GAP: Duration = Duration::from_secs(20 * 3600);

/// What the daily step does about a member's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestStep {
    /// Queue a digest of these points, and count from the lifetime points now.
    Send(i64),
    /// Start counting from the lifetime points now, sending nothing (a member from before
    /// notices, or digests off): their old points are no news.
    Baseline,
    /// Nothing to do.
    Nothing,
}

/// The digest step for a member with `lifetime` points earned, given their record, at `now`;
/// `on` is whether digests are switched on and can be sent.
pub fn digest_step(n: &MemberNotices, lifetime: i64, on: bool, now: OffsetDateTime) -> DigestStep {
    // Off (or no mail server): nothing is written, so a server that sends no digests never
    // rewrites its members; once on, the first digest counts from the last one (or joining).
    if !on {
        return DigestStep::Nothing;
    }
    let Some(base) = n.digest_base else {
        return DigestStep::Baseline;
    };
    let gained = lifetime.saturating_sub(base);
    if gained <= 0 {
        // A reversal lowered the points: count from the lower figure, or the next digest would
        // hide new points behind the reversed ones.
        return if gained < 0 {
            DigestStep::Baseline
        } else {
            DigestStep::Nothing
        };
    }
    match n.digest_at {
        Some(at) if now - at < DIGEST_GAP => DigestStep::Nothing,
        _ => DigestStep::Send(gained),
    }
}

/// The expiries among `expiring` (`(points, last day)`) not yet warned of, and the record of
/// warned days to keep: the days still ahead of `today` (`YYYY-MM-DD` sorts as dates do).
pub fn warnings(
    expiring: &[(i64, String, String)],
    warned: &[String],
    today: &str,
) -> (Vec<(i64, String, String)>, Vec<String>) {
    let new: Vec<(i64, String, String)> = expiring
        .iter()
        .filter(|(points, day, _)| *points > 0 && !warned.contains(day))
        .cloned()
        .collect();
    let mut keep: Vec<String> = warned
        .iter()
        .filter(|d| d.as_str() >= today)
        .cloned()
        .collect();
    keep.extend(new.iter().map(|(_, d, _)| d.clone()));
    keep.sort();
    keep.dedup();
    (new, keep)
}

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// The mail for `what` to a member of `business`, with their card at `card_url` and the
/// unsubscribe page at `unsubscribe_url`.
pub fn compose(what: &What, business: &str, card_url: &str, unsubscribe_url: &str) -> Mail {
    let (subject, lines): (String, Vec<String>) = match what {
        What::Welcome => (
            format!("Welcome to {business}'s loyalty scheme"),
            vec![
                format!("Welcome to {business}'s loyalty scheme. Your card is this link:"),
                card_url.to_owned(),
                "Keep this email: the link is your card. It shows your points and the codes to \
                 scan at the counter. Anyone who has it can see your points, so do not share it."
                    .to_owned(),
            ],
        ),
        What::Digest { points, balance } => (
            format!(
                "You earned {} at {business}",
                count(*points, "point", "points")
            ),
            vec![
                format!(
                    "You earned {} at {business}. Your balance is now {}.",
                    count(*points, "point", "points"),
                    count(*balance, "point", "points")
                ),
                "Your card:".to_owned(),
                card_url.to_owned(),
            ],
        ),
        What::ExpiryWarning { words, .. } => (
            format!("{}: {words}", business),
            vec![
                format!("{}. Use them at {business} before then.", capital(words)),
                "Your card:".to_owned(),
                card_url.to_owned(),
            ],
        ),
        What::TierChange { tier } => (
            format!("Your {business} tier is now {tier}"),
            vec![
                format!("You are now in the {tier} tier at {business}."),
                "Your card:".to_owned(),
                card_url.to_owned(),
            ],
        ),
    };
    let footer = format!(
        "You get these emails as a member of {business}'s loyalty scheme. To stop them, open:"
    );
    let mut text = lines.join("\n\n");
    text.push_str(&format!("\n\n--\n{footer}\n{unsubscribe_url}\n"));
    let html = maud::html! {
        (maud::DOCTYPE)
        html {
            head { meta charset="utf-8"; title { (subject) } }
            body {
                @for l in &lines {
                    @if l == card_url {
                        p { a href=(card_url) { "Open your card" } }
                    } @else {
                        p { (l) }
                    }
                }
                hr;
                p { small { (footer) " " a href=(unsubscribe_url) { "Unsubscribe" } } }
            }
        }
    }
    .into_string();
    Mail {
        subject,
        text,
        html,
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The signature in a member's unsubscribe link: not guessable without the server's key.
pub fn unsubscribe_token(key: &[u8], member: &MemberId) -> String {
    let mac =
        crate::crypto::hmac_sha256_hex(key, format!("unsubscribe:{}", member.as_str()).as_bytes());
    mac.chars().take(32).collect()
}

/// Whether `token` is `member`'s unsubscribe signature.
pub fn unsubscribe_ok(key: &[u8], member: &MemberId, token: &str) -> bool {
    crate::crypto::constant_time_eq(&unsubscribe_token(key, member), token)
}

/// Where a queued notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Waiting to be sent (or tried again).
    Pending,
    /// Delivered to the mail server.
    Sent,
    /// Failed [`MAX_ATTEMPTS`] times; no more attempts.
    GaveUp,
    /// Not sent: the member unsubscribed, was blocked or erased, or lost their address.
    Skipped,
}

impl NoticeState {
    /// As the list shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::GaveUp => "gave up",
            Self::Skipped => "skipped",
        }
    }
}

/// Attempts before a notice is given up: with the backoff of [`retry_after`] (30 seconds
/// doubling to an hour) about 13 hours of a mail server being down.
pub const MAX_ATTEMPTS: u32 = 20;

/// The wait after `attempts` failed attempts: `base`, doubling, at most an hour.
pub fn retry_after(base: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings)
        .min(Duration::from_secs(3600))
}

/// One notice in the queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// To whom.
    pub member: MemberId,
    /// About what.
    pub what: What,
    /// Where it stands.
    pub state: NoticeState,
    /// Attempts made.
    pub attempts: u32,
    /// When it is tried next (while pending).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_at: Option<OffsetDateTime>,
    /// When it was sent, given up or skipped.
    #[serde(with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
    /// The last failure or the reason it was skipped, in plain words.
    pub last_error: Option<String>,
}

impl Notice {
    /// A new notice, due now.
    pub fn new(member: MemberId, what: What, now: OffsetDateTime) -> Notice {
        Notice {
            created: now,
            member,
            what,
            state: NoticeState::Pending,
            attempts: 0,
            next_at: Some(now),
            done_at: None,
            last_error: None,
        }
    }

    /// Records an attempt at `now`: sent, or failed with `error` (tried again after the
    /// backoff from `base`, or given up after [`MAX_ATTEMPTS`]).
    pub fn attempted(&mut self, now: OffsetDateTime, error: Option<String>, base: Duration) {
        self.attempts = self.attempts.saturating_add(1);
        match error {
            None => {
                self.state = NoticeState::Sent;
                self.next_at = None;
                self.done_at = Some(now);
            }
            Some(e) => {
                self.last_error = Some(e);
                if self.attempts >= MAX_ATTEMPTS {
                    self.state = NoticeState::GaveUp;
                    self.next_at = None;
                    self.done_at = Some(now);
                } else {
                    self.next_at = Some(now + retry_after(base, self.attempts));
                }
            }
        }
    }

    /// Records that it will not be sent, and why.
    pub fn skipped(&mut self, now: OffsetDateTime, why: &str) {
        self.state = NoticeState::Skipped;
        self.next_at = None;
        self.done_at = Some(now);
        self.last_error = Some(why.to_owned());
    }
}

/// The most notices waiting at once: past it new ones are dropped (and logged), so a mail
/// server that is down for long cannot fill the disk.
pub const MAX_PENDING: u64 = 5000;

/// How long sent, skipped and given-up notices are kept for the owner's list.
pub const KEEP_DONE: Duration = Duration::from_secs(14 * 24 * 3600);

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 03:00 UTC);

    #[test]
    fn warning_days_range() {
        for (n, ok) in [
            (0, false),
            (1, true),
            (14, true),
            (90, true),
            (91, false),
            (-3, false),
        ] {
            assert_eq!(WarningDays::parse(n).is_ok(), ok, "{n}");
        }
        assert_eq!(WarningDays::default().get(), 14);
    }

    #[test]
    fn digest_decisions() {
        let at = |h: i64| Some(NOW - time::Duration::hours(h));
        let rec = |base: Option<i64>, last: Option<OffsetDateTime>| MemberNotices {
            digest_base: base,
            digest_at: last,
            ..MemberNotices::default()
        };
        // (record, lifetime, on, expected)
        let cases = [
            (rec(None, None), 500, true, DigestStep::Baseline),
            (rec(Some(0), None), 0, true, DigestStep::Nothing),
            (rec(Some(0), None), 35, true, DigestStep::Send(35)),
            (rec(Some(100), at(30)), 160, true, DigestStep::Send(60)),
            (rec(Some(100), at(19)), 160, true, DigestStep::Nothing),
            (rec(Some(100), at(20)), 160, true, DigestStep::Send(60)),
            (rec(Some(100), at(2)), 90, true, DigestStep::Baseline),
            (rec(Some(100), None), 160, false, DigestStep::Nothing),
            (rec(Some(100), None), 100, false, DigestStep::Nothing),
            (rec(None, None), 500, false, DigestStep::Nothing),
        ];
        for (i, (r, lifetime, on, want)) in cases.into_iter().enumerate() {
            assert_eq!(digest_step(&r, lifetime, on, NOW), want, "case {i}");
        }
    }

    #[test]
    fn each_expiry_day_is_warned_of_once_and_past_days_are_forgotten() {
        let e = |p: i64, d: &str| (p, d.to_owned(), format!("{p} on {d}"));
        let warned = vec!["2026-11-30".to_owned(), "2026-12-10".to_owned()];
        let (new, keep) = warnings(
            &[e(40, "2026-12-10"), e(25, "2026-12-14"), e(0, "2026-12-15")],
            &warned,
            "2026-12-02",
        );
        assert_eq!(new, vec![e(25, "2026-12-14")]);
        assert_eq!(keep, vec!["2026-12-10".to_owned(), "2026-12-14".to_owned()]);
        let (again, _) = warnings(&[e(25, "2026-12-14")], &keep, "2026-12-03");
        assert!(again.is_empty());
    }

    #[test]
    fn mails_have_text_and_html_with_the_links() {
        let card = "https://x.example/c/tok123";
        let unsub = "https://x.example/unsubscribe/M/sig";
        let cases = [
            (
                What::Welcome,
                "Welcome to Café <&>'s loyalty scheme",
                "Your card is this link",
            ),
            (
                What::Digest {
                    points: 35,
                    balance: 135,
                },
                "You earned 35 points at Café <&>",
                "Your balance is now 135 points.",
            ),
            (
                What::ExpiryWarning {
                    points: 120,
                    last_day: "2027-03-31".into(),
                    words: "120 points expire on 31 Mar 2027".into(),
                },
                "Café <&>: 120 points expire on 31 Mar 2027",
                "120 points expire on 31 Mar 2027. Use them",
            ),
            (
                What::TierChange {
                    tier: "Gold".into(),
                },
                "Your Café <&> tier is now Gold",
                "You are now in the Gold tier",
            ),
        ];
        for (what, subject, says) in cases {
            let m = compose(&what, "Café <&>", card, unsub);
            assert_eq!(m.subject, subject);
            assert!(m.text.contains(says), "{}", m.text);
            assert!(
                m.text.contains(card) && m.text.contains(unsub),
                "{}",
                m.text
            );
            assert!(m.html.contains(&format!("href=\"{card}\"")), "{}", m.html);
            assert!(m.html.contains(&format!("href=\"{unsub}\"")), "{}", m.html);
            // The business name is escaped in the HTML part.
            assert!(m.html.contains("Café &lt;&amp;&gt;"), "{}", m.html);
        }
    }

    #[test]
    fn unsubscribe_tokens_are_per_member_and_keyed() {
        let a = MemberId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("id");
        let b = MemberId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAW").expect("id");
        let t = unsubscribe_token(b"key-one", &a);
        assert_eq!(t.len(), 32);
        assert!(unsubscribe_ok(b"key-one", &a, &t));
        assert!(!unsubscribe_ok(b"key-one", &b, &t));
        assert!(!unsubscribe_ok(b"key-two", &a, &t));
    }

    #[test]
    fn retries_back_off_and_give_up() {
        let base = Duration::from_secs(30);
        assert_eq!(retry_after(base, 1), Duration::from_secs(30));
        assert_eq!(retry_after(base, 3), Duration::from_secs(120));
        assert_eq!(retry_after(base, 12), Duration::from_secs(3600));
        let id = MemberId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("id");
        let mut n = Notice::new(id, What::Welcome, NOW);
        for i in 1..MAX_ATTEMPTS {
            n.attempted(NOW, Some("down".into()), base);
            assert_eq!(n.state, NoticeState::Pending, "attempt {i}");
        }
        n.attempted(NOW, Some("down".into()), base);
        assert_eq!((n.state, n.next_at), (NoticeState::GaveUp, None));
        let mut ok = Notice::new(n.member.clone(), What::Welcome, NOW);
        ok.attempted(NOW, Some("down".into()), base);
        ok.attempted(NOW, None, base);
        assert_eq!((ok.state, ok.attempts), (NoticeState::Sent, 2));
    }
}
