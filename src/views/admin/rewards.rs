//! The rewards catalogue.

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, page};
use crate::domain::DomainError;
use crate::domain::reward::Reward;
use crate::domain::words;
use maud::{Markup, html};

/// The catalogue and the form that adds to it.
pub fn list(
    chrome: &Chrome,
    rewards: &[Reward],
    values: &Kept,
    err: Option<&DomainError>,
) -> Markup {
    page(
        "Rewards",
        chrome,
        Section::Rewards,
        html! {
            h1 { "Rewards" }
            div.table-wrap role="region" tabindex="0" aria-label="Rewards" { table.cards #rewards {
                thead { tr { th scope="col" { "Reward" } th.num scope="col" { "Cost" } th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody { @for r in rewards {
                    tr {
                        td.title data-label="Reward" { (r.name) } td.points.figure data-label="Cost" { (words::count(r.cost, "point", "points")) }
                        td data-label="Status" { @if r.active { "offered" } @else { span.muted { "withdrawn" } } }
                        td.act { a href={ "/admin/rewards/" (r.id) "/edit" } { "Edit" } }
                    }
                } }
            } }
            @if rewards.is_empty() { p.muted { "No rewards yet: add the first one below." } }
            section.card {
                h2 { "Add a reward" }
                form #new-reward method="post" action="/admin/rewards" {
                    (csrf(chrome))
                    label for="name" { "Name (what the customer gets)" }
                    input #name name="name" required value=(kept(values, "name"));
                    (field_error(err, "name"))
                    label for="cost" { "Cost in points" }
                    input #cost name="cost" type="number" min="1" step="1" required value=(kept(values, "cost"));
                    (field_error(err, "cost"))
                    (form_error(err, &["name", "cost"]))
                    button type="submit" { "Add reward" }
                }
            }
        },
    )
}

/// Editing one reward.
pub fn edit(chrome: &Chrome, reward: &Reward, values: &Kept, err: Option<&DomainError>) -> Markup {
    page(
        "Edit reward",
        chrome,
        Section::Rewards,
        html! {
            h1 { "Edit reward" }
            form #edit-reward method="post" action={ "/admin/rewards/" (reward.id) } {
                (csrf(chrome))
                label for="name" { "Name" }
                input #name name="name" required value=(kept(values, "name"));
                (field_error(err, "name"))
                label for="cost" { "Cost in points" }
                input #cost name="cost" type="number" min="1" step="1" required value=(kept(values, "cost"));
                (field_error(err, "cost"))
                label.check { input #active type="checkbox" name="active" checked[!kept(values, "active").is_empty()]; "Offered to members" }
                (form_error(err, &["name", "cost"]))
                button type="submit" { "Save" }
            }
        },
    )
}
