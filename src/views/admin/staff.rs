//! Staff accounts and API keys (owner only).

use super::{Chrome, Kept, Section, csrf, field_error, form_error, kept, local_time, page};
use crate::domain::DomainError;
use crate::domain::api_key::{ApiKeyRecord, Scope};
use crate::domain::staff::{Role, StaffUser};
use maud::{Markup, html};

/// The staff list and the form that adds an account.
pub fn list(
    chrome: &Chrome,
    users: &[StaffUser],
    zone: &jiff::tz::TimeZone,
    values: &Kept,
    err: Option<&DomainError>,
) -> Markup {
    page(
        "Staff",
        chrome,
        Section::Staff,
        html! {
            h1 { "Staff" }
            (form_error(err, &["username", "password", "role"]))
            div.table-wrap role="region" tabindex="0" aria-label="Staff" { table.cards #staff {
                thead { tr { th scope="col" { "Username" } th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Since" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody { @for u in users {
                    @let base = format!("/admin/staff/{}", u.username.as_str());
                    tr {
                        td.title data-label="Username" { (u.username.as_str()) }
                        td.figure data-label="Role" { @if u.role == Role::Owner { "owner" } @else { "staff" } }
                        td data-label="Status" { @if u.disabled { span.error { "disabled" } } @else { "active" } }
                        td data-label="Since" { (local_time(u.created_at, zone)) }
                        td.act {
                            form.inline method="post" action={ (base) @if u.disabled { "/enable" } @else { "/disable" } } {
                                (csrf(chrome))
                                button.secondary.small type="submit" { @if u.disabled { "Enable" } @else { "Disable" } }
                            }
                            details { summary { "Reset password" }
                                form method="post" action={ (base) "/password" } {
                                    (csrf(chrome))
                                    label for={ "pw-" (u.username.as_str()) } { "New password (at least 10 characters)" }
                                    input id={ "pw-" (u.username.as_str()) } name="password" type="password" autocomplete="new-password" required minlength="10";
                                    button.small type="submit" { "Set password" }
                                }
                            }
                        }
                    }
                } }
            } }
            section.card {
                h2 { "Add a staff account" }
                form #new-staff method="post" action="/admin/staff" {
                    (csrf(chrome))
                    label for="username" { "Username" }
                    input #username name="username" required autocomplete="off" autocapitalize="none" value=(kept(values, "username"));
                    (field_error(err, "username"))
                    label for="password" { "Password (at least 10 characters)" }
                    input #password name="password" type="password" autocomplete="new-password" required minlength="10";
                    (field_error(err, "password"))
                    label for="role" { "Role" }
                    select #role name="role" {
                        option value="staff" selected[kept(values, "role") != "owner"] { "staff: members and points" }
                        option value="owner" selected[kept(values, "role") == "owner"] { "owner: everything" }
                    }
                    button type="submit" { "Add account" }
                }
            }
        },
    )
}

/// The API keys, the form for a new one, and a new key shown once.
pub fn keys(
    chrome: &Chrome,
    keys: &[ApiKeyRecord],
    zone: &jiff::tz::TimeZone,
    new_key: Option<&str>,
    err: Option<&DomainError>,
) -> Markup {
    page(
        "API keys",
        chrome,
        Section::Keys,
        html! {
            h1 { "API keys" }
            p.muted { "To have FealTY tell another tool when points change, see " a href="/admin/webhooks" { "Event webhooks" } "." }
            @if let Some(k) = new_key {
                div.result role="status" {
                    p { strong { "Copy this key now: it is shown only once." } }
                    p.key #new-key { (k) }
                }
            }
            div.table-wrap role="region" tabindex="0" aria-label="API keys" { table.cards #keys {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Scopes" } th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody { @for k in keys {
                    tr {
                        td.title data-label="Name" { (k.name) } td data-label="Id" { code { (k.id) } }
                        td.figure data-label="Scopes" { (k.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(", ")) }
                        td data-label="Status" { @if let Some(t) = k.revoked_at { span.muted { "revoked " (local_time(t, zone)) } } @else { "live" } }
                        td.act { @if k.revoked_at.is_none() {
                            form.inline method="post" action={ "/admin/keys/" (k.id) "/revoke" } {
                                (csrf(chrome))
                                button.danger.small type="submit" { "Revoke" }
                            }
                        } }
                    }
                } }
            } }
            section.card {
                h2 { "Create a key" }
                form #new-key-form method="post" action="/admin/keys" {
                    (csrf(chrome))
                    label for="name" { "Name (e.g. the shop it is for)" }
                    input #name name="name" required autocomplete="off";
                    (field_error(err, "name"))
                    fieldset {
                        legend { "Scopes" }
                        // Card tokens open members' card pages, and an event webhook receives
                        // every member's card number, so a key gets these only when asked for.
                        @for s in Scope::ALL {
                            label.check title=(s.description()) { input type="checkbox" name="scopes" value=(s.as_str()) checked[!matches!(s, Scope::CardsRead | Scope::WebhooksWrite)]; (s.as_str()) }
                        }
                    }
                    (form_error(err, &["name"]))
                    button type="submit" { "Create key" }
                }
            }
        },
    )
}
