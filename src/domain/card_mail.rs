//! "Email me my link": the message that gives a member their card's link, and how often they may
//! ask for it.

use super::alerts::{Kind, Message};
use super::email::Email;
use std::time::Duration;
use time::OffsetDateTime;

/// At most one card-link mail per member in this window: enough to recover a lost link, too few
/// to turn the button into a way of flooding someone's inbox.
pub const ONE_PER: Duration = Duration::from_secs(3600);

/// Whether a card-link mail to `member` was queued in the hour before `now`, among `queued`.
pub fn sent_lately<'a>(
    queued: impl IntoIterator<Item = &'a Message>,
    member: &str,
    now: OffsetDateTime,
) -> bool {
    queued.into_iter().any(|m| {
        m.kind == Kind::CardLink && m.key.as_deref() == Some(member) && now - m.created < ONE_PER
    })
}

/// The mail with the link to `member`'s card at `card_url`, from `business`.
pub fn message(
    business: &str,
    member: &str,
    to: Email,
    card_url: &str,
    now: OffsetDateTime,
) -> Message {
    let subject = format!("Your {business} loyalty card");
    let body = format!(
        "Here is the link to your {business} loyalty card. It shows your points and the codes \
         to scan at the counter:\n\n{card_url}\n\nKeep this email: the link is your card. \
         Anyone who has it can see your points, so do not share it.\n\nYou asked for this on \
         your card's page. If you did not, you can ignore it."
    );
    Message::to_member(now, Kind::CardLink, member, to, subject, body)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn one_mail_per_member_per_hour() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let to = Email::parse("ada@example.com").expect("an address");
        let m = message("Café", "M1", to, "https://x.example/c/abc", t0);
        assert!(m.body.contains("https://x.example/c/abc"));
        assert_eq!(m.to.as_ref().map(Email::as_str), Some("ada@example.com"));
        let queued = [m];
        assert!(sent_lately(&queued, "M1", t0 + Duration::from_secs(3599)));
        assert!(!sent_lately(&queued, "M1", t0 + ONE_PER));
        assert!(!sent_lately(&queued, "M2", t0));
    }
}
