//! The card page: balance, progress, rewards, activity and the card itself.

use super::{Head, layout};
use crate::domain::DomainError;
use crate::domain::card::BlankCard;
use crate::domain::ledger::{EntryBody, EntryKind};
use crate::domain::money::Money;
use crate::domain::reward::Reward;
use crate::domain::settings::Settings;
use crate::service::CardPage;
use crate::views::admin::{Chrome, field_note, local_time, sentence};
use crate::views::banner::{Banner, REFUSED_ID, Tone, banner as banner_box};
use crate::views::card_codes::DrawnCodes;
use crate::views::thousands;
use maud::{Markup, PreEscaped, html};

/// Tokens for the staff forms shown when staff open a card.
#[derive(Debug, Clone)]
pub struct StaffTill {
    /// The staff session's frame (for its CSRF token).
    pub chrome: Chrome,
    /// One-time token of the earn form.
    pub earn_token: String,
    /// One-time token of the redeem form.
    pub redeem_token: String,
    /// Points an amount would earn, waiting for staff to confirm them here.
    pub preview: Option<EarnPreview>,
    /// The till field a refusal was about (`amount` or `reward_id`), to focus.
    pub failing: Option<&'static str>,
}

/// An amount typed at the till on the card page, and the points it earns.
#[derive(Debug, Clone)]
pub struct EarnPreview {
    /// The purchase amount.
    pub amount: Money,
    /// The points it earns.
    pub points: i64,
    /// The earn form's one-time token, sent again by the confirm button.
    pub token: String,
}

/// The card page's till forms say so, so their result comes back to the card page.
pub const FROM_CARD: &str = "card";

/// The field of the PIN form a refusal is about, to put the focus on.
fn failing_field(err: &DomainError, has_secret: bool, staff: bool) -> Option<&'static str> {
    match err {
        DomainError::Invalid {
            field: "current", ..
        } if has_secret => Some("current"),
        DomainError::Invalid {
            field: "contact", ..
        } if !has_secret && !staff => Some("contact"),
        DomainError::Invalid {
            field: "confirm", ..
        } => Some("confirm"),
        DomainError::Invalid { .. } => Some("password"),
        _ => None,
    }
}

/// An entry's label, with the redeemed reward's name when it is still in the catalogue.
fn kind_text(b: &EntryBody, rewards: &[Reward]) -> String {
    let reward = b
        .reward_id
        .as_deref()
        .and_then(|id| rewards.iter().find(|r| r.id == id))
        .map(|r| r.name.as_str());
    crate::domain::words::entry_label(b.kind, reward)
}

/// The greeting a new member sees once, right after joining, with ways to keep the card.
#[derive(Debug, Clone, Default)]
pub struct Welcome {
    /// Whether "email me my link" can be offered (the member gave an email, a mail server is set).
    pub can_email: bool,
    /// Why the last "email me my link" was refused.
    pub refused: Option<String>,
}

/// The card page, with the card's codes drawn beforehand; `welcome` right after joining.
pub fn view(
    p: &CardPage,
    codes: &DrawnCodes,
    staff: Option<&StaffTill>,
    banner: Option<&Banner>,
    password_err: Option<&DomainError>,
    welcome: Option<&Welcome>,
) -> Markup {
    let m = &p.member;
    let zone = p.settings.time_zone.zone();
    let first = m
        .name
        .as_ref()
        .and_then(|n| n.as_str().split_whitespace().next());
    let next = p.rewards.iter().find(|r| r.cost > m.balance);
    let affordable: Vec<_> = p.rewards.iter().filter(|r| r.cost <= m.balance).collect();
    let token = m.card_token.as_str();
    let failing = password_err.and_then(|e| failing_field(e, p.has_secret, staff.is_some()));
    let bad = |id: &str| failing == Some(id);
    let invalid = |id: &str| bad(id).then_some("true");
    let described = |id: &str| bad(id).then_some(REFUSED_ID);
    let till_failing = staff
        .and_then(|s| s.failing)
        .filter(|f| *f != "reward_id" || !affordable.is_empty());
    let till_bad = |id: &str| till_failing == Some(id);
    let head = Head {
        manifest: Some(format!("/c/{token}/manifest.webmanifest")),
        script: true,
    };
    layout(
        "Your card",
        &p.settings,
        &head,
        html! {
            p #offline.problem hidden role="status" {
                "You are offline. This is your balance as last seen on " (local_time(crate::clock::now(), &zone)) "."
            }
            @if let Some(b) = banner {
                // A refusal with no field to focus takes the focus itself.
                (banner_box(b.tone, html! { (b.message) }, b.tone == Tone::Refused && till_failing.is_none()))
            }
            @if let Some(e) = password_err {
                (banner_box(Tone::Refused, html! { (sentence(e)) }, failing.is_none()))
            }
            h1 { "Hello" @if let Some(f) = first { ", " span #first-name { (f) } } }
            section.card.balance-card {
                p.muted { "Your points" }
                p.balance #balance data-value=(m.balance) { (thousands(m.balance)) }
                @if let Some(e) = &p.next_expiry {
                    p #next-expiry { (e.notice()) "." }
                }
                @if let (Some(_), Some(best)) = (next, affordable.last()) {
                    p #can-redeem { "You can redeem " strong { (best.name) } " now — ask at the counter." }
                }
                @if let Some(r) = next {
                    p #next-reward { (crate::domain::words::count(r.cost - m.balance, "more point", "more points")) " to " strong { (r.name) } }
                    progress #reward-progress max=(r.cost) value=(m.balance) { (m.balance) " of " (r.cost) }
                } @else if let Some(r) = affordable.last() {
                    p #next-reward { "You can redeem " strong { (r.name) } " — ask at the counter." }
                    progress #reward-progress max=(r.cost) value=(r.cost) {}
                }
            }
            (crate::views::tiers::card_section(&p.settings.tiers, m, crate::clock::now()))
            @if let Some(link) = &p.referral_link {
                @let r = &p.settings.referrals;
                section.card #referral aria-labelledby="referral-title" {
                    h2 #referral-title { "Invite a friend" }
                    p {
                        "Share your link. When a friend joins through it and makes their first purchase, "
                        @if r.referrer_points > 0 { "you get " (crate::domain::words::count(r.referrer_points, "point", "points")) }
                        @if r.referrer_points > 0 && r.new_member_points > 0 { " and " }
                        @if r.new_member_points > 0 { "they get " (crate::domain::words::count(r.new_member_points, "point", "points")) }
                        @if r.referrer_points == 0 && r.new_member_points == 0 { "you are both thanked" }
                        "."
                    }
                    p { a #referral-link href=(link) { (link) } }
                }
            }
            // Compact under the balance; full screen, black on white, when it is the URL's
            // target ("Show my card"), so it works without script.
            section.card.show-card #my-card aria-labelledby="my-card-title" {
                h2 #my-card-title .visually-hidden { "Your card" }
                div.codes {
                    (PreEscaped(&codes.qr))
                    div.code-side {
                        p.card-number #card-number { (m.card_number.as_str()) }
                        (PreEscaped(&codes.barcode))
                    }
                }
                p.show-actions {
                    a.button #show-card href="#my-card" { "Show my card" }
                    a.button.close-card #close-card href="#" { "Close" }
                }
            }
            @if let Some(w) = welcome { (welcome_section(token, w, m.email.is_some())) }
            @if let Some(s) = staff {
                section.card #staff-till {
                    h2 { "Till (staff)" }
                    @if let Some(pv) = &s.preview {
                        p #preview { (pv.amount.to_decimal()) " " (pv.amount.currency.as_str()) " earns " strong { (crate::domain::words::count(pv.points, "point", "points")) } "." }
                        form #confirm-earn method="post" action={ "/admin/members/" (m.id.as_str()) "/earn" } {
                            input type="hidden" name="csrf" value=(s.chrome.csrf);
                            input type="hidden" name="form_token" value=(pv.token);
                            input type="hidden" name="amount" value=(pv.amount.to_decimal());
                            input type="hidden" name="confirm" value="yes";
                            input type="hidden" name="from" value=(FROM_CARD);
                            button type="submit" autofocus { "Confirm" }
                        }
                        p { a href={ "/c/" (token) } { "Cancel" } }
                    } @else {
                        form #staff-earn method="post" action={ "/admin/members/" (m.id.as_str()) "/earn" } {
                            input type="hidden" name="csrf" value=(s.chrome.csrf);
                            input type="hidden" name="form_token" value=(s.earn_token);
                            input type="hidden" name="from" value=(FROM_CARD);
                            label for="amount" { "Purchase amount (" (p.settings.currency.as_str()) ")" }
                            div.field-row {
                                input #amount name="amount" inputmode="decimal" required autocomplete="off"
                                    autofocus[till_bad("amount")] aria-invalid=[till_bad("amount").then_some("true")]
                                    aria-describedby=[till_bad("amount").then_some(REFUSED_ID)];
                                button type="submit" { "Work out points" }
                            }
                        }
                        @if !affordable.is_empty() {
                            form #staff-redeem method="post" action={ "/admin/members/" (m.id.as_str()) "/redeem" } {
                                input type="hidden" name="csrf" value=(s.chrome.csrf);
                                input type="hidden" name="form_token" value=(s.redeem_token);
                                input type="hidden" name="from" value=(FROM_CARD);
                                label for="reward_id" { "Redeem" }
                                div.field-row {
                                    select #reward_id name="reward_id"
                                        autofocus[till_bad("reward_id")] aria-invalid=[till_bad("reward_id").then_some("true")]
                                        aria-describedby=[till_bad("reward_id").then_some(REFUSED_ID)] {
                                        @for r in &affordable { option value=(r.id) { (r.name) " — " (crate::domain::words::count(r.cost, "point", "points")) } }
                                    }
                                    button type="submit" { "Redeem" }
                                }
                            }
                        }
                    }
                    p { a href={ "/admin/members/" (m.id.as_str()) } { "Open in the admin pages" } }
                }
            }
            section.card {
                h2 { "Rewards" }
                @if p.rewards.is_empty() { p.muted { "Rewards are coming soon." } }
                table #rewards {
                    tbody { @for r in &p.rewards {
                        tr { td.name { (r.name) } td.cost { (crate::domain::words::count(r.cost, "point", "points")) } }
                    } }
                }
            }
            section.card {
                h2 { "Recent activity" }
                @if p.recent.is_empty() { p.muted { "No points yet." } }
                table #activity {
                    tbody { @for e in &p.recent {
                        tr {
                            td { (local_time(e.body.created_at, &zone)) }
                            td { (kind_text(&e.body, &p.rewards))
                                // An earn's reason names the tier and campaigns that raised it.
                                @if let (EntryKind::Earn, Some(r)) = (e.body.kind, &e.body.reason) { ": " (r) } }
                            td.points { @if e.body.points > 0 { "+" } (e.body.points) }
                        }
                    } }
                }
            }
            // Changing a password is the customer's own business; staff only set a first one,
            // for a customer with no email or phone on file (the customer types it).
            @if staff.is_none() || !p.has_secret {
            details.card #password-settings open[password_err.is_some()] {
                summary { h2 { @if staff.is_some() { "Set a first PIN for the customer" }
                     @else if p.has_secret { "Change your password or PIN" } @else { "Set a password or PIN" } } }
                @if staff.is_some() {
                    p.muted { "Hand over the phone: the customer types it twice." }
                } @else {
                    p.muted { "With it you can log in with your card number or email to see your history and details." }
                }
                form #set-password method="post" action={ "/c/" (token) "/password" } {
                    @if p.has_secret {
                        label for="current" { "Current password or PIN" }
                        input #current name="current" type="password" autocomplete="current-password" required
                            autofocus[bad("current")] aria-invalid=[invalid("current")] aria-describedby=[described("current")];
                        (field_note(password_err, "current"))
                    } @else if staff.is_none() {
                        // The link alone must not be enough to take the card over.
                        label for="contact" { "Your email address or phone number, as given when you joined" }
                        input #contact name="contact" type="text" autocomplete="off" required
                            autofocus[bad("contact")] aria-invalid=[invalid("contact")] aria-describedby=[described("contact")];
                        (field_note(password_err, "contact"))
                    }
                    label for="password" { "New password (10+ characters) or PIN (6–12 digits)" }
                    input #password name="password" type="password" autocomplete="new-password" required
                        autofocus[bad("password")] aria-invalid=[invalid("password")] aria-describedby=[described("password")];
                    (field_note(password_err, "password"))
                    label for="confirm" { "Again" }
                    input #confirm name="confirm" type="password" autocomplete="new-password" required
                        autofocus[bad("confirm")] aria-invalid=[invalid("confirm")] aria-describedby=[described("confirm")];
                    (field_note(password_err, "confirm"))
                    button type="submit" { "Save" }
                }
                @if staff.is_none() { p { a href="/login" { "Log in to your account" } } }
            }
            }
        },
    )
}

fn welcome_section(token: &str, w: &Welcome, has_email: bool) -> Markup {
    html! {
        section.card.welcome #welcome aria-labelledby="welcome-title" {
            h2 #welcome-title { "Welcome! Save this card" }
            p { "This page is your card: staff scan its code to add your points. Keep it where you can find it." }
            ul.save-steps {
                li #save-home {
                    strong { "Add it to your home screen. " }
                    "On an iPhone, tap Share, then " em { "Add to Home Screen" } ". On Android, open the browser's menu and choose "
                    em { "Add to Home screen" } " or " em { "Install app" } "."
                    // Shown by the card script when the browser offers to install.
                    button #install type="button" hidden { "Add to home screen" }
                }
                @if w.can_email && has_email {
                    li #save-email {
                        form #email-link method="post" action={ "/c/" (token) "/email-link" } {
                            strong { "Email me my link " }
                            "so I can open my card again from my inbox."
                            @if let Some(r) = &w.refused { p.error #email-link-error role="alert" { (r) } }
                            button type="submit" { "Email me my link" }
                        }
                    }
                }
                li #save-pin {
                    strong { "Set a PIN " }
                    "to log in with your card number or email if you lose this page. "
                    a href="#password-settings" { "Set a PIN" }
                }
            }
        }
    }
}

/// A printed card that no one has yet.
pub fn unclaimed(card: &BlankCard, settings: &Settings) -> Markup {
    layout(
        "New card",
        settings,
        &Head::default(),
        html! {
            section #unclaimed.card {
                h1 { "This card is not registered yet" }
                p { "Card " strong { (card.card_number.as_str()) } " is ready to collect points." }
                p { a.button href={ "/join?card=" (card.card_token.as_str()) } { "Join with this card" } }
                p.muted { "Or give your name at the counter." }
            }
        },
    )
}
