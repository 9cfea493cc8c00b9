//! The owner's bonus campaigns: the list, the form to add or edit one, and the preview.

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, page};
use crate::domain::DomainError;
use crate::domain::campaigns::{Campaign, MAX_CAMPAIGNS, WEEKDAYS};
use crate::domain::settings::Settings;
use crate::service::campaigns::Preview;
use crate::views::banner::Banner;
use maud::{Markup, html};

/// What the page shows.
pub struct View<'a> {
    /// The settings, with the saved campaigns and the tiers.
    pub settings: &'a Settings,
    /// The form's values.
    pub values: &'a Kept,
    /// Why the form was refused.
    pub err: Option<&'a DomainError>,
    /// Whether to say the last change worked.
    pub saved: bool,
    /// A preview of the draft on the sample purchase.
    pub preview: Option<&'a Preview>,
}

fn dates(c: &Campaign) -> String {
    match (c.starts, c.ends) {
        (None, None) => "always".to_owned(),
        (Some(s), None) => format!("from {s}"),
        (None, Some(e)) => format!("until {e}"),
        (Some(s), Some(e)) => format!("{s} to {e}"),
    }
}

const FIELDS: &[&str] = &[
    "name",
    "kind",
    "days",
    "multiplier_hundredths",
    "bonus",
    "category",
    "starts",
    "ends",
    "sample_amount",
    "sample_date",
    "sample_category",
    "tier",
];

/// The campaigns page.
pub fn view(chrome: &Chrome, v: &View<'_>) -> Markup {
    let values = v.values;
    let kind = kept(values, "kind");
    let editing = !kept(values, "index").is_empty();
    page(
        "Campaigns",
        chrome,
        Section::Settings,
        html! {
            h1 { "Bonus campaigns" }
            @if v.saved { (Banner::done("Saved.").render()) }
            p { "Campaigns add to what a purchase earns: more points on some weekdays, a bonus on a member's first purchase, "
                "or more for a product category a shop passes with the earn. "
                "Only the best multiplier applies — the member's tier or a campaign, never both multiplied — and bonuses are added on top. "
                "Dates are days in " (v.settings.time_zone.as_str()) ", both included. Each entry's reason names what applied. "
                a href="/admin/settings" { "Back to settings" } }
            div.table-wrap role="region" tabindex="0" aria-label="Campaigns" { table.cards #campaigns {
                thead { tr { th scope="col" { "Campaign" } th scope="col" { "Rule" } th scope="col" { "Dates" } th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody { @for (i, c) in v.settings.campaigns.iter().enumerate() {
                    tr id={ "campaign-" (i) } {
                        td.title data-label="Campaign" { (c.name) }
                        td data-label="Rule" { (c.rule.effect()) " " (c.rule.condition()) }
                        td data-label="Dates" { (dates(c)) }
                        td data-label="Status" { @if c.enabled { "on" } @else { span.muted { "off" } } }
                        td.act {
                            a href={ "/admin/settings/campaigns?edit=" (i) } { "Edit" }
                            form.inline method="post" action={ "/admin/settings/campaigns/" (i) "/toggle" } {
                                (csrf(chrome))
                                button.secondary type="submit" { @if c.enabled { "Switch off" } @else { "Switch on" } }
                            }
                            form.inline method="post" action={ "/admin/settings/campaigns/" (i) "/delete" } {
                                (csrf(chrome))
                                button.secondary type="submit" { "Delete" }
                            }
                        }
                    }
                } }
            } }
            @if v.settings.campaigns.is_empty() { p.muted { "No campaigns yet: add the first one below." } }
            @if let Some(p) = v.preview { (preview(p)) }
            section.card {
                h2 { @if editing { "Edit campaign" } @else { "Add a campaign" } }
                @if !editing && v.settings.campaigns.len() >= MAX_CAMPAIGNS {
                    p.muted { "At most " (MAX_CAMPAIGNS) " campaigns: delete one to add another." }
                }
                form #campaign method="post" action="/admin/settings/campaigns" {
                    (csrf(chrome))
                    input type="hidden" name="index" value=(kept(values, "index"));
                    label for="name" { "Name (shown in each entry's reason)" }
                    input #name name="name" maxlength="40" required value=(kept(values, "name"));
                    (field_error(v.err, "name"))
                    label for="kind" { "Rule" }
                    select #kind name="kind" {
                        option value="weekdays" selected[kind == "weekdays"] { "Multiplier on weekdays" }
                        option value="first_purchase" selected[kind == "first_purchase"] { "Bonus on a first purchase" }
                        option value="category" selected[kind == "category"] { "Multiplier for a product category" }
                    }
                    (field_error(v.err, "kind"))
                    fieldset {
                        legend { "Days (multiplier on weekdays)" }
                        @for (n, _) in WEEKDAYS {
                            label.check { input id={ "day_" (n) } type="checkbox" name={ "day_" (n) } checked[!kept(values, &format!("day_{n}")).is_empty()]; (capitalised(n)) }
                        }
                    }
                    (field_error(v.err, "days"))
                    label for="multiplier" { "Multiplier (weekdays and category), 1.00 to 10.00" }
                    input #multiplier name="multiplier" inputmode="decimal" value=(kept(values, "multiplier"));
                    (field_error(v.err, "multiplier_hundredths"))
                    label for="bonus" { "Bonus points (first purchase)" }
                    input #bonus name="bonus" type="number" min="1" step="1" value=(kept(values, "bonus"));
                    (field_error(v.err, "bonus"))
                    label for="category" { "Category (as the shop sends it, e.g. coffee-beans)" }
                    input #category name="category" maxlength="40" value=(kept(values, "category"));
                    (field_error(v.err, "category"))
                    label for="starts" { "First day (optional)" }
                    input #starts name="starts" type="date" value=(kept(values, "starts"));
                    (field_error(v.err, "starts"))
                    label for="ends" { "Last day (optional)" }
                    input #ends name="ends" type="date" value=(kept(values, "ends"));
                    (field_error(v.err, "ends"))
                    label.check { input #enabled type="checkbox" name="enabled" checked[!kept(values, "enabled").is_empty()]; "Switched on" }
                    h3 { "Try it on a sample purchase" }
                    p.muted { "The preview counts this campaign as switched on, with the saved ones, and saves nothing." }
                    label for="sample_amount" { "Amount (" (v.settings.currency.as_str()) ")" }
                    input #sample_amount name="sample_amount" inputmode="decimal" value=(kept(values, "sample_amount"));
                    (field_error(v.err, "sample_amount"))
                    label for="sample_date" { "Day (today if empty)" }
                    input #sample_date name="sample_date" type="date" value=(kept(values, "sample_date"));
                    (field_error(v.err, "sample_date"))
                    label for="sample_category" { "Category (optional)" }
                    input #sample_category name="sample_category" maxlength="40" value=(kept(values, "sample_category"));
                    (field_error(v.err, "sample_category"))
                    @if v.settings.tiers.enabled {
                        label for="sample_tier" { "Member's tier" }
                        select #sample_tier name="sample_tier" {
                            option value="" { "No tier" }
                            @for t in &v.settings.tiers.tiers {
                                option value=(t.name) selected[kept(values, "sample_tier") == t.name] { (t.name) " (" (t.multiplier.in_words()) ")" }
                            }
                        }
                        (field_error(v.err, "tier"))
                    }
                    label.check { input #sample_first type="checkbox" name="sample_first" checked[!kept(values, "sample_first").is_empty()]; "The member's first purchase" }
                    (form_error(v.err, FIELDS))
                    div.actions {
                        button #preview-button type="submit" name="action" value="preview" { "Preview" }
                        button #save-button type="submit" name="action" value="save" { @if editing { "Save campaign" } @else { "Add campaign" } }
                    }
                }
            }
        },
    )
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// What the sample purchase would earn, rule by rule.
fn preview(p: &Preview) -> Markup {
    let o = &p.outcome;
    html! {
        section.card #preview aria-labelledby="preview-title" {
            h2 #preview-title { "Preview: " (o.points) " points" }
            p { "On " (p.day) " (" (capitalised(crate::domain::campaigns::weekday_name(p.day.weekday()))) "): "
                (o.base) " points by the earning rule"
                @if o.with_tier != o.base { ", " (o.with_tier) " with the tier" }
                @if let Some((name, m)) = &o.multiplier { "; the multiplier that applies is " (name) " " (m.in_words()) }
                "; campaigns add " strong #preview-bonus { (o.bonus) } " points." }
            div.table-wrap role="region" tabindex="0" aria-label="Campaigns on the sample purchase" { table.cards #preview-lines {
                thead { tr { th scope="col" { "Campaign" } th scope="col" { "Effect" } th scope="col" { "On this purchase" } th.num scope="col" { "Adds" } } }
                tbody { @for l in &o.lines {
                    tr {
                        td.title data-label="Campaign" { (l.name) }
                        td data-label="Effect" { (l.effect) }
                        td data-label="On this purchase" { (l.verdict.in_words()) }
                        td.count data-label="Adds" { (l.bonus) }
                    }
                } }
            } }
            @if !o.notes.is_empty() { p.muted { "The entry's reason would add: " span #preview-reason { (o.notes.join(" · ")) } } }
        }
    }
}
