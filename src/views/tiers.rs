//! Tiers on pages: the card's tier section, the member page's line, and the tier colours' CSS.

use crate::domain::member::Member;
use crate::domain::tiers::{Standing, TierSettings};
use crate::domain::words::count;
use maud::{Markup, html};
use time::OffsetDateTime;

/// Where `member` stands now (tiers on), read from the member's record: no ledger scan.
pub fn standing<'a>(
    tiers: &'a TierSettings,
    member: &Member,
    now: OffsetDateTime,
) -> Option<Standing<'a>> {
    tiers.standing(tiers.basis_value(member.lifetime_earned, &member.tier.recent, now))
}

/// The tier's name on its colour (`.tier-N` classes come from `theme_css`, the page's CSP
/// allowing no inline styles).
fn badge(tiers: &TierSettings, s: &Standing<'_>) -> Markup {
    let idx = tiers
        .tiers
        .iter()
        .position(|t| t.name == s.tier.name)
        .unwrap_or(0);
    html! { span.tier-badge.(format!("tier-{idx}")) #tier-name { (s.tier.name) } }
}

/// The card page's tier section: the tier in its colour, the way to the next, the multiplier.
pub fn card_section(tiers: &TierSettings, member: &Member, now: OffsetDateTime) -> Markup {
    let Some(s) = standing(tiers, member, now) else {
        return html! {};
    };
    html! {
        section.card #tier aria-labelledby="tier-title" {
            h2 #tier-title { "Your tier: " (badge(tiers, &s)) }
            @match s.next {
                Some(n) => p #tier-next { (count(s.to_next, "point", "points")) " to " strong { (n.name) } },
                None => p #tier-next { "You are in the top tier." },
            }
            p.muted {
                @if s.tier.multiplier.hundredths() > 100 {
                    "Purchases earn " (s.tier.multiplier.in_words()) " points. "
                }
                "Tiers go by " (tiers.basis.in_words()) "."
            }
        }
    }
}

/// The member page's tier line: where the member stands and the last move.
pub fn member_line(
    tiers: &TierSettings,
    member: &Member,
    now: OffsetDateTime,
    zone: &jiff::tz::TimeZone,
) -> Markup {
    let Some(s) = standing(tiers, member, now) else {
        return html! {};
    };
    html! {
        p #member-tier {
            "Tier: " strong { (s.tier.name) } " (" (s.tier.multiplier.in_words()) " on purchases"
            @if let Some(n) = s.next { "; " (count(s.to_next, "point", "points")) " to " (n.name) }
            ")"
            @if let (Some(at), Some(prev)) = (member.tier.moved_at, &member.tier.previous) {
                span.muted #tier-moved { " — moved from " (prev) " on " (crate::views::admin::local_time(at, zone)) }
            }
        }
    }
}

/// CSS for the tier badges: each tier's colour with a text colour that reads on it.
pub fn tier_css(tiers: &TierSettings) -> String {
    tiers
        .tiers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = t.colour.palette();
            format!(
                ".tier-{i}{{background:{};color:{}}}",
                p.fill.hex(),
                p.on_fill.hex()
            )
        })
        .collect()
}

/// What changes the theme stylesheet besides the brand colour: the tier colours, for its URL.
pub fn css_version(tiers: &TierSettings) -> String {
    tiers
        .tiers
        .iter()
        .map(|t| t.colour.as_str().trim_start_matches('#'))
        .collect::<Vec<_>>()
        .join("")
}
