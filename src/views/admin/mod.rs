//! The admin pages' frame and the pieces their forms share.

pub mod alerts;
pub mod audit;
pub mod campaigns;
pub mod cards;
pub mod dashboard;
pub mod expiry;
pub mod integrations;
pub mod login;
pub mod members;
pub mod notices;
pub mod rewards;
pub mod rules;
pub mod settings;
pub mod staff;
pub mod tiers;
pub mod webhooks;

use super::head_with;
use crate::domain::DomainError;
use maud::{DOCTYPE, Markup, html};
use std::collections::HashMap;

/// What every admin page knows about who is looking.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The signed-in username.
    pub username: String,
    /// Whether they are an owner.
    pub owner: bool,
    /// The session's anti-CSRF token.
    pub csrf: String,
    /// The business's name.
    pub business: String,
}

/// The part of the admin area a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/admin`.
    Dashboard,
    /// `/admin/members`.
    Members,
    /// `/admin/rewards`.
    Rewards,
    /// `/admin/settings`.
    Settings,
    /// `/admin/staff`.
    Staff,
    /// `/admin/keys`.
    Keys,
    /// `/admin/audit`.
    Audit,
}

/// Values a person typed, kept so a refused form shows them again.
pub type Kept = HashMap<String, String>;

/// The value typed into `field`, or empty.
pub fn kept<'a>(values: &'a Kept, field: &str) -> &'a str {
    values.get(field).map_or("", String::as_str)
}

/// A refused form: which form, and why.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The form's id.
    pub form: &'static str,
    /// The rule that refused it.
    pub error: DomainError,
    /// What was typed.
    pub values: Kept,
}

impl Problem {
    /// The error, if it belongs to `form`.
    pub fn for_form(problem: Option<&Problem>, form: &str) -> Option<DomainError> {
        problem.filter(|p| p.form == form).map(|p| p.error.clone())
    }

    /// What was typed into `form`, if it was refused.
    pub fn values<'a>(problem: Option<&'a Problem>, form: &str) -> Option<&'a Kept> {
        problem.filter(|p| p.form == form).map(|p| &p.values)
    }
}

/// A page of the admin area.
pub fn page(title: &str, chrome: &Chrome, section: Section, body: Markup) -> Markup {
    let link = |href: &str, label: &str, s: Section| {
        html! { a href=(href) aria-current=[(s == section).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head_with(title, html! {
                // Staff can add the till to a phone's home screen.
                link rel="manifest" href="/admin/manifest.webmanifest";
                link rel="apple-touch-icon" href="/c/icon-192.png";
            }))
            body {
                header.top {
                    span.brand { (chrome.business) }
                    nav.main aria-label="Admin" {
                        (link("/admin", "Dashboard", Section::Dashboard))
                        (link("/admin/members", "Members", Section::Members))
                        (link("/admin/rewards", "Rewards", Section::Rewards))
                        @if chrome.owner {
                            (link("/admin/settings", "Settings", Section::Settings))
                            (link("/admin/staff", "Staff", Section::Staff))
                            (link("/admin/keys", "API keys", Section::Keys))
                            (link("/admin/audit", "Audit log", Section::Audit))
                        }
                    }
                    form method="post" action="/admin/logout" {
                        (csrf(chrome))
                        button.link type="submit" { "Log out " (chrome.username) }
                    }
                }
                main.admin { (body) }
            }
        }
    }
}

/// The hidden anti-CSRF field every form carries.
pub fn csrf(chrome: &Chrome) -> Markup {
    html! { input type="hidden" name="csrf" value=(chrome.csrf); }
}

/// The message for `field`, shown beside it, when `err` is about it.
pub fn field_error(err: Option<&DomainError>, field: &str) -> Markup {
    match err {
        Some(DomainError::Invalid { field: f, message }) if *f == field => {
            html! { p.error id={ (field) "-error" } role="alert" { (message) } }
        }
        Some(e @ DomainError::Taken { what }) if *what == field => {
            html! { p.error id={ (field) "-error" } role="alert" { (e.to_string()) } }
        }
        _ => html! {},
    }
}

/// The message for `field` beside it, on a page whose banner already announces it.
pub fn field_note(err: Option<&DomainError>, field: &str) -> Markup {
    match err {
        Some(DomainError::Invalid { field: f, message }) if *f == field => {
            html! { p.error id={ (field) "-error" } { (message) } }
        }
        _ => html! {},
    }
}

/// A message about the whole form (not one field), e.g. not enough points.
pub fn form_error(err: Option<&DomainError>, fields: &[&str]) -> Markup {
    let about_field = |e: &DomainError| match e {
        DomainError::Invalid { field, .. } => fields.contains(field),
        DomainError::Taken { what } => fields.contains(what),
        _ => false,
    };
    match err {
        Some(e) if !about_field(e) => html! { p.error role="alert" { (sentence(e)) } },
        _ => html! {},
    }
}

/// A domain error as a sentence for a person at the till.
pub fn sentence(e: &DomainError) -> String {
    match e {
        DomainError::InsufficientPoints { balance, change } => format!(
            "Not enough points: the balance is {balance} and this needs {}.",
            change.saturating_abs()
        ),
        DomainError::MemberBlocked => "This member is blocked: unblock them first.".to_owned(),
        DomainError::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// A small page with a heading and a message (403, 404, 429).
pub fn message(title: &str, text: &str) -> Markup {
    super::layout(
        title,
        html! {
            h1 { (title) }
            p.error role="alert" { (text) }
            p { a href="/admin" { "Back to the dashboard" } }
        },
    )
}

/// A UTC time in the business's time zone as a person says it ("Today 16:44", "3 Nov 16:44"):
/// the one date format of every page.
pub fn local_time(t: time::OffsetDateTime, zone: &jiff::tz::TimeZone) -> String {
    crate::domain::words::when(t, crate::clock::now(), zone)
}
