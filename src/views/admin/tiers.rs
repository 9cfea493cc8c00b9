//! The owner's tier ladder.

use super::{Chrome, Kept, Section, csrf, form_error, kept, page};
use crate::domain::DomainError;
use crate::domain::tiers::MAX_TIERS;
use crate::views::banner::Banner;
use maud::{Markup, html};

/// The tiers page: switch on, choose the basis, and up to five levels.
pub fn view(chrome: &Chrome, values: &Kept, err: Option<&DomainError>, saved: bool) -> Markup {
    let basis = kept(values, "basis");
    page(
        "Tiers",
        chrome,
        Section::Settings,
        html! {
            h1 { "Tiers" }
            @if saved { (Banner::done("Saved.").render()) }
            p { "Members move up as they earn; each tier multiplies the points a purchase earns. "
                "Moving up or down is recorded in the " a href="/admin/audit?action=member.tier" { "audit log" } ". "
                a href="/admin/settings" { "Back to settings" } }
            section.card {
                form #tiers method="post" action="/admin/settings/tiers" {
                    (csrf(chrome))
                    label.check { input #enabled type="checkbox" name="enabled" checked[!kept(values, "enabled").is_empty()];
                        "Tiers are on" }
                    label for="basis" { "Tiers go by" }
                    select #basis name="basis" {
                        option value="lifetime" selected[basis != "last_12_months"] { "Points earned since joining" }
                        option value="last_12_months" selected[basis == "last_12_months"] { "Points earned in the last 12 months" }
                    }
                    p.muted { "The first tier starts at 0 points; each next one needs more points. "
                        "Multipliers go from 1.00 to 10.00 and apply to points earned for a purchase amount, rounded down. "
                        "Leave a name empty to drop that row." }
                    table.tiers {
                        thead { tr { th { "Name" } th { "Colour" } th { "From points" } th { "Multiplier" } } }
                        tbody {
                            @for i in 0..MAX_TIERS {
                                tr {
                                    td { input name={ "name_" (i) } aria-label={ "Tier " (i + 1) " name" } maxlength="30" value=(kept(values, &format!("name_{i}"))); }
                                    td { input name={ "colour_" (i) } type="color" aria-label={ "Tier " (i + 1) " colour" } value=(colour_or_default(kept(values, &format!("colour_{i}")))); }
                                    td { input name={ "threshold_" (i) } type="number" min="0" step="1" aria-label={ "Tier " (i + 1) " from points" } value=(kept(values, &format!("threshold_{i}"))); }
                                    td { input name={ "multiplier_" (i) } inputmode="decimal" aria-label={ "Tier " (i + 1) " multiplier" } value=(kept(values, &format!("multiplier_{i}"))); }
                                }
                            }
                        }
                    }
                    (form_error(err, &[]))
                    button type="submit" { "Save tiers" }
                }
            }
        },
    )
}

fn colour_or_default(c: &str) -> &str {
    if c.is_empty() { "#888888" } else { c }
}
