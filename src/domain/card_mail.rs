//! "Email me my link": the message that gives a member their card's link, and how often they may
//! ask for it.

use super::alerts::{Kind, Message};
use super::email::Email;
use std::time::Duration;
use time::OffsetDateTime;

/// At most one card-link mail per member in this window: enough to recover a lost link, too few
/// to turn the button into a way of flooding someone's inbox.
pub const ONE_PER: Duration = Duration::from_secs(3600);

/// At most this many card-link mails an hour in all: the mails share the owner alerts' outbox,
/// which keeps a bounded number of messages, and must never crowd the alerts out of it.
pub const AT_MOST_AN_HOUR: usize = 30;

/// Whether another card-link mail to `member` must wait, given the messages `queued` before
/// `now`: one went to them in the last hour, or [`AT_MOST_AN_HOUR`] went to anyone.
pub fn must_wait<'a>(
    queued: impl IntoIterator<Item = &'a Message>,
    member: &str,
    now: OffsetDateTime,
) -> bool {
    let lately: Vec<&Message> = queued
        .into_iter()
        .filter(|m| m.kind == Kind::CardLink && now - m.created < ONE_PER)
        .collect();
    lately.len() >= AT_MOST_AN_HOUR || lately.iter().any(|m| m.key.as_deref() == Some(member))
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
        assert!(must_wait(&queued, "M1", t0 + Duration::from_secs(3599)));
        assert!(!must_wait(&queued, "M1", t0 + ONE_PER));
        assert!(!must_wait(&queued, "M2", t0));
    }

    #[test]
    fn at_most_thirty_an_hour_in_all() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let to = Email::parse("ada@example.com").expect("an address");
        let queued: Vec<Message> = (0..AT_MOST_AN_HOUR)
            .map(|i| {
                message(
                    "Café",
                    &format!("M{i}"),
                    to.clone(),
                    "https://x.example/c/a",
                    t0,
                )
            })
            .collect();
        assert!(must_wait(
            &queued,
            "someone-else",
            t0 + Duration::from_secs(60)
        ));
        assert!(!must_wait(
            &queued[1..],
            "someone-else",
            t0 + Duration::from_secs(60)
        ));
        assert!(!must_wait(&queued, "someone-else", t0 + ONE_PER));
    }
}
