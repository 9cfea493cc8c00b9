//! The points expiry section of the owner's settings page.

use super::{Chrome, Kept, csrf, field_error, form_error, kept};
use crate::domain::DomainError;
use maud::{Markup, html};

/// The expiry form, with the values shown and the last submission's problem.
pub fn section(chrome: &Chrome, values: &Kept, err: Option<&DomainError>) -> Markup {
    let rule = kept(values, "expiry_rule");
    html! {
        section.card #expiry-settings {
            h2 { "Points expiry" }
            p.muted { "Off by default. Points lapse at midnight in your time zone and show as “Expired” in each member's history; the card page tells members when their next points expire. Points earned before you switch it on count from the day you do." }
            form #expiry method="post" action="/admin/settings/expiry" {
                (csrf(chrome))
                label for="expiry_rule" { "Points expire" }
                select #expiry_rule name="expiry_rule" {
                    option value="off" selected[rule != "earned" && rule != "inactive"] { "Never" }
                    option value="earned" selected[rule == "earned"] { "Some months after they were earned (oldest first)" }
                    option value="inactive" selected[rule == "inactive"] { "All at once after some months without activity" }
                }
                (field_error(err, "expiry_rule"))
                label for="expiry_months" { "Months (1 to 120)" }
                input #expiry_months name="expiry_months" type="number" min="1" max="120" value=(kept(values, "expiry_months"));
                (field_error(err, "expiry_months"))
                (form_error(err, &["expiry_rule", "expiry_months"]))
                button type="submit" { "Save expiry" }
            }
        }
    }
}
