//! Plain words for people: counts with the right plural, dates as a person says them, and
//! what a ledger entry or an actor is called. Every page takes its wording from here, so the
//! same thing never reads two ways.

use super::actor::Actor;
use super::ledger::EntryKind;
use time::OffsetDateTime;

/// `n` and the noun in the number it needs: "1 point", "3 points", "0 points".
pub fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 || n == -1 { one } else { many })
}

/// The noun alone, in the number `n` needs ("point" for 1, "points" otherwise).
pub fn noun<'a>(n: i64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 || n == -1 { one } else { many }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `t` in `zone` as a person says it, seen at `now`: "Today 16:44", "Yesterday 09:10",
/// "Tomorrow 04:00", "3 Nov 16:44", and "3 Nov 2025 16:44" when not in this year.
///
/// Days are counted in the business's time zone, not UTC: at 00:30 in Auckland, an entry
/// made at 23:50 the evening before is "Yesterday".
pub fn when(t: OffsetDateTime, now: OffsetDateTime, zone: &jiff::tz::TimeZone) -> String {
    let local = |t: OffsetDateTime| {
        jiff::Timestamp::from_second(t.unix_timestamp())
            .ok()
            .map(|ts| zone.to_datetime(ts))
    };
    let (Some(at), Some(today)) = (local(t), local(now)) else {
        return t.to_string();
    };
    let (day, today) = (at.date(), today.date());
    let clock = format!("{:02}:{:02}", at.hour(), at.minute());
    let next = |d: jiff::civil::Date| d.tomorrow().ok();
    if day == today {
        format!("Today {clock}")
    } else if next(day) == Some(today) {
        format!("Yesterday {clock}")
    } else if next(today) == Some(day) {
        format!("Tomorrow {clock}")
    } else {
        let month = MONTHS
            .get(usize::try_from(day.month() - 1).unwrap_or(0))
            .copied()
            .unwrap_or("");
        if day.year() == today.year() {
            format!("{} {month} {clock}", day.day())
        } else {
            format!("{} {month} {} {clock}", day.day(), day.year())
        }
    }
}

/// What an entry is called everywhere: "Earned", "Redeemed: Free coffee", "Adjusted",
/// "Reversed", "Expired". `reward` is the redeemed reward's name, when known.
pub fn entry_label(kind: EntryKind, reward: Option<&str>) -> String {
    match (kind, reward) {
        (EntryKind::Earn, _) => "Earned".to_owned(),
        (EntryKind::Redeem, Some(name)) => format!("Redeemed: {name}"),
        (EntryKind::Redeem, None) => "Redeemed".to_owned(),
        (EntryKind::Adjust, _) => "Adjusted".to_owned(),
        (EntryKind::Expire, _) => "Expired".to_owned(),
        (EntryKind::Reversal, _) => "Reversed".to_owned(),
    }
}

/// Who made a change, in words: a staff member's username, an API key's name (`key_name`,
/// when the key is known), "Command line", "FealTY" or the shop's name.
pub fn actor(actor: &Actor, key_name: Option<&str>) -> String {
    match actor {
        Actor::Staff { username } => username.clone(),
        Actor::ApiKey { key_id } => match key_name {
            Some(name) => format!("API key “{name}”"),
            None => format!("API key {key_id}"),
        },
        Actor::Cli => "Command line".to_owned(),
        Actor::System => "FealTY".to_owned(),
        Actor::Webhook { provider } => match provider.as_str() {
            "shopify" => "Shopify".to_owned(),
            "woocommerce" => "WooCommerce".to_owned(),
            "etsy" => "Etsy".to_owned(),
            other => format!("Shop {other}"),
        },
    }
}

/// What an audit record's action did, in words ("Added points", "Created a member"); an
/// action this list does not know is shown as recorded.
pub fn audit_action(action: &str) -> &str {
    match action {
        "points.earn" => "Added points",
        "points.redeem" => "Redeemed a reward",
        "points.adjust" => "Adjusted points",
        "points.expire" => "Points expired",
        "points.reverse" => "Reversed an entry",
        "member.create" => "Created a member",
        "member.update" => "Changed a member's details",
        "member.new_card" => "Issued a new card",
        "member.password_reset" => "Let a member set a new password",
        "member.password_set" => "Member set a password",
        "member.erase" => "Erased a member",
        "member.erasure_requested" => "Member asked to be erased",
        "member.email_in_use" => "Refused an email already in use",
        "member.join_email_in_use" => "Refused a sign-up with an email in use",
        "member.block" => "Blocked a member",
        "member.unblock" => "Unblocked a member",
        "member.tier" => "Member moved tier",
        "member.referral_rewarded" => "Rewarded a referral",
        "member.referral_refused" => "Refused a referral",
        "reward.create" => "Added a reward",
        "reward.update" => "Changed a reward",
        "apikey.create" => "Created an API key",
        "apikey.revoke" => "Revoked an API key",
        "staff.add" => "Added a staff account",
        "staff.disable" => "Disabled a staff account",
        "staff.enable" => "Enabled a staff account",
        "staff.password_reset" => "Reset a staff password",
        "settings.update" => "Changed the settings",
        "settings.logo" => "Changed the logo",
        "settings.alerts" => "Changed the alerts",
        "webhook.create" => "Added a webhook",
        "webhook.delete" => "Removed a webhook",
        "integration.attach" => "Connected a shop",
        "integration.update" => "Changed a shop connection",
        "integration.shortfall" => "Shop order short of points",
        "cards.print_blank" => "Printed blank cards",
        other => other,
    }
}

/// `s` with its first letter in upper case ("member" → "Member").
pub fn sentence_start(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An error message as a sentence: a capital letter first and a full stop last.
pub fn sentence(s: &str) -> String {
    let mut out = sentence_start(s.trim());
    if !out.is_empty() && !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn zone(name: &str) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    #[test]
    fn counts_take_the_singular_only_for_one() {
        assert_eq!(count(1, "point", "points"), "1 point");
        assert_eq!(count(0, "point", "points"), "0 points");
        assert_eq!(count(3, "card", "cards"), "3 cards");
        assert_eq!(count(-1, "point", "points"), "-1 point");
        assert_eq!(noun(1, "sheet", "sheets"), "sheet");
        assert_eq!(noun(2, "sheet", "sheets"), "sheets");
    }

    #[test]
    fn dates_read_today_yesterday_and_the_day() {
        let z = zone("Europe/Berlin");
        let now = datetime!(2026-11-05 15:00 UTC);
        assert_eq!(
            when(datetime!(2026-11-05 15:44 UTC), now, &z),
            "Today 16:44"
        );
        assert_eq!(
            when(datetime!(2026-11-04 08:10 UTC), now, &z),
            "Yesterday 09:10"
        );
        assert_eq!(
            when(datetime!(2026-11-06 03:00 UTC), now, &z),
            "Tomorrow 04:00"
        );
        assert_eq!(
            when(datetime!(2026-11-03 15:44 UTC), now, &z),
            "3 Nov 16:44"
        );
    }

    #[test]
    fn days_are_counted_in_the_business_time_zone() {
        // 00:30 on 5 Nov in Auckland is 11:30 UTC on 4 Nov.
        let z = zone("Pacific/Auckland");
        let now = datetime!(2026-11-04 11:30 UTC);
        // 23:50 on 4 Nov in Auckland: yesterday there, though the same UTC day.
        assert_eq!(
            when(datetime!(2026-11-04 10:50 UTC), now, &z),
            "Yesterday 23:50"
        );
        // In UTC both are the same day.
        assert_eq!(
            when(
                datetime!(2026-11-04 10:50 UTC),
                now,
                &jiff::tz::TimeZone::UTC
            ),
            "Today 10:50"
        );
    }

    #[test]
    fn the_year_shows_only_when_it_is_not_this_year() {
        let z = zone("Europe/Berlin");
        let new_year = datetime!(2026-01-01 10:00 UTC);
        // New Year's Eve is yesterday, not "31 Dec".
        assert_eq!(
            when(datetime!(2025-12-31 16:00 UTC), new_year, &z),
            "Yesterday 17:00"
        );
        assert_eq!(
            when(datetime!(2025-12-30 16:00 UTC), new_year, &z),
            "30 Dec 2025 17:00"
        );
        // 23:30 UTC on 31 Dec is already 1 Jan in Berlin.
        assert_eq!(
            when(datetime!(2025-12-31 23:30 UTC), new_year, &z),
            "Today 00:30"
        );
        assert_eq!(
            when(
                datetime!(2026-02-14 12:00 UTC),
                datetime!(2026-12-01 12:00 UTC),
                &z
            ),
            "14 Feb 13:00"
        );
    }

    #[test]
    fn every_entry_kind_has_one_label() {
        assert_eq!(entry_label(EntryKind::Earn, None), "Earned");
        assert_eq!(
            entry_label(EntryKind::Redeem, Some("Free coffee")),
            "Redeemed: Free coffee"
        );
        assert_eq!(entry_label(EntryKind::Redeem, None), "Redeemed");
        assert_eq!(entry_label(EntryKind::Adjust, None), "Adjusted");
        assert_eq!(entry_label(EntryKind::Reversal, None), "Reversed");
        assert_eq!(entry_label(EntryKind::Expire, None), "Expired");
    }

    #[test]
    fn actors_read_as_names() {
        let key = Actor::ApiKey {
            key_id: "e6be76b7a75f".into(),
        };
        assert_eq!(actor(&key, Some("Till app")), "API key “Till app”");
        assert_eq!(actor(&key, None), "API key e6be76b7a75f");
        let staff = Actor::Staff {
            username: "ann".into(),
        };
        assert_eq!(actor(&staff, None), "ann");
        assert_eq!(actor(&Actor::Cli, None), "Command line");
    }

    #[test]
    fn sentences_start_high_and_end_with_a_stop() {
        assert_eq!(sentence("must not be empty"), "Must not be empty.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}
