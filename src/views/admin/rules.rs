//! The owner's referral and birthday settings: one page, a form for each.

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, page};
use crate::domain::DomainError;
use crate::domain::birthday::CATCH_UP_DAYS;
use crate::domain::stats::RuleTotals;
use crate::views::banner::Banner;
use maud::{Markup, html};

/// Which form a refusal or a saved banner belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The referral form.
    Referrals,
    /// The birthday form.
    Birthday,
}

/// The page: `values` as stored or as typed, `err` beside the form that `which` names.
pub fn view(
    chrome: &Chrome,
    values: &Kept,
    problem: Option<(Which, &DomainError)>,
    saved: Option<Which>,
    totals: &RuleTotals,
) -> Markup {
    let err = |w: Which| problem.filter(|(p, _)| *p == w).map(|(_, e)| e);
    let on = |k: &str| !kept(values, k).is_empty();
    page(
        "Referrals and birthdays",
        chrome,
        Section::Settings,
        html! {
            h1 { "Referrals and birthdays" }
            p { a href="/admin/settings" { "Back to settings" } }
            section.card #referral-settings {
                h2 { "Referrals" }
                @if saved == Some(Which::Referrals) { (Banner::done("Saved.").render()) }
                p { "Each member's card page shows their own join link. When someone joins through it "
                    "and makes a first purchase (points earned for an amount), both get points, once. "
                    "No points when the new member has the referrer's email address or phone number, "
                    "when the referrer is blocked or erased, or past the referrer's yearly limit. "
                    "So far: " span #referrals-rewarded { (totals.referrals_rewarded) } " rewarded, "
                    (totals.referrals_refused) " refused." }
                form #referrals method="post" action="/admin/settings/referrals" {
                    (csrf(chrome))
                    label.check { input #referrals_enabled type="checkbox" name="referrals_enabled" checked[on("referrals_enabled")];
                        "Referrals are on" }
                    label for="referrer_points" { "Points for the member who shared the link (0 to 100000)" }
                    input #referrer_points name="referrer_points" type="number" min="0" max="100000" step="1" required value=(kept(values, "referrer_points"));
                    (field_error(err(Which::Referrals), "referrer_points"))
                    label for="new_member_points" { "Points for the new member (0 to 100000)" }
                    input #new_member_points name="new_member_points" type="number" min="0" max="100000" step="1" required value=(kept(values, "new_member_points"));
                    (field_error(err(Which::Referrals), "new_member_points"))
                    label for="referral_yearly_cap" { "Rewarded referrals per member per calendar year (1 to 1000)" }
                    input #referral_yearly_cap name="referral_yearly_cap" type="number" min="1" max="1000" step="1" required value=(kept(values, "referral_yearly_cap"));
                    (field_error(err(Which::Referrals), "referral_yearly_cap"))
                    (form_error(err(Which::Referrals), &["referrer_points", "new_member_points", "referral_yearly_cap"]))
                    button type="submit" { "Save referrals" }
                }
            }
            section.card #birthday-settings {
                h2 { "Birthday points" }
                @if saved == Some(Which::Birthday) { (Banner::done("Saved.").render()) }
                p { "Members who gave their birthday get points on the day, once a year, in the business's time zone "
                    "(29 February birthdays on 28 February in other years). After the server was down, "
                    "birthdays of the last " (CATCH_UP_DAYS) " days are still given. "
                    "So far: " span #birthday-points-given { (totals.birthday_points) } " points to "
                    (totals.birthdays) " members." }
                form #birthday method="post" action="/admin/settings/birthday" {
                    (csrf(chrome))
                    label.check { input #birthday_enabled type="checkbox" name="birthday_enabled" checked[on("birthday_enabled")];
                        "Birthday points are on" }
                    label for="birthday_points" { "Points on the day (1 to 100000)" }
                    input #birthday_points name="birthday_points" type="number" min="1" max="100000" step="1" required value=(kept(values, "birthday_points"));
                    (field_error(err(Which::Birthday), "birthday_points"))
                    (form_error(err(Which::Birthday), &["birthday_points"]))
                    button type="submit" { "Save birthday points" }
                }
            }
        },
    )
}
