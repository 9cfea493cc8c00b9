//! Referrals and birthdays on pages: the member page's lines.

use crate::domain::member::Member;
use crate::domain::referral::ReferralState;
use crate::domain::words::count;
use crate::views::admin::local_time;
use maud::{Markup, html};

/// The member page's birthday and referral lines: their own link, who referred them and what
/// came of it (with the reason a referral gave no points).
pub fn member_lines(
    m: &Member,
    referrer: Option<&Member>,
    link: Option<&str>,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    html! {
        @if let Some(b) = &m.birthday {
            p #member-birthday {
                "Birthday: " (b.in_words())
                @if let Some(y) = m.birthday_awarded { span.muted { " (birthday points last given in " (y) ")" } }
            }
        }
        @if let Some(l) = link {
            p #member-referral-link { "Referral link: " a href=(l) { (l) } }
        }
        @if m.referrals.total > 0 {
            p #member-referrals { "Referred " (count(i64::try_from(m.referrals.total).unwrap_or(i64::MAX), "member", "members")) " who made a purchase." }
        }
        @if let Some(r) = &m.referral {
            p #member-referred-by {
                "Referred by "
                @match referrer {
                    Some(p) => a href={ "/admin/members/" (p.id.as_str()) } {
                        (p.name.as_ref().map_or_else(|| p.card_number.as_str().to_owned(), |n| n.as_str().to_owned()))
                    },
                    None => "a member no longer on file",
                }
                ": "
                span #member-referral-status {
                    @match &r.state {
                        ReferralState::Pending => "points when they make their first purchase.",
                        ReferralState::Rewarded { at, referrer_points, new_member_points } => {
                            "rewarded on " (local_time(*at, zone)) " (" (count(*referrer_points, "point", "points"))
                            " to the referrer, " (count(*new_member_points, "point", "points")) " to this member)."
                        },
                        ReferralState::Refused { at, reason } => {
                            "no referral points: " (reason.in_words()) " (" (local_time(*at, zone)) ")."
                        },
                    }
                }
            }
        }
    }
}
