//! Members: the search list, the member page with the till, the forms, export and import.

use super::{
    Chrome, Kept, Problem, Section, csrf, field_error, field_note, form_error, kept, local_time,
    page, sentence,
};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::ledger::{EntryKind, LedgerEntry};
use crate::domain::member::{Member, MemberStatus};
use crate::domain::money::Money;
use crate::domain::reward::Reward;
use crate::domain::settings::Settings;
use crate::domain::words;
use crate::service::ImportPreview;
use crate::storage::members::Page;
use crate::views::banner::{Banner, REFUSED_ID, Tone, banner};
use crate::views::thousands;
use maud::{Markup, html};

fn display_name(m: &Member) -> &str {
    m.name.as_ref().map_or("(no name)", |n| n.as_str())
}

/// The search box; a scanner types the card number and Enter.
pub fn search_box(q: &str) -> Markup {
    search_box_focused(q, true)
}

/// The search box, with the focus unless a refused form needs it.
fn search_box_focused(q: &str, focus: bool) -> Markup {
    html! {
        form role="search" method="get" action="/admin/members" {
            div { label for="q" { "Find a member: scan a card, or type a name, email or card number" }
                input id="q" name="q" type="search" value=(q) autofocus[focus] autocomplete="off" inputmode="search"
                    enterkeyhint="search"; }
            button type="submit" { "Find" }
        }
    }
}

/// The list of members (all, or those matching `q`).
pub fn list(chrome: &Chrome, q: &str, notice: Option<&str>, members: &Page<Member>) -> Markup {
    page(
        "Members",
        chrome,
        Section::Members,
        html! {
            // A scan that found no one is a refusal: said at the top, the search box keeps
            // the focus for the next scan.
            @if let Some(n) = notice { (Banner::refused(n).render()) }
            h1 { "Members" }
            (search_box(q))
            p { a.button href="/admin/members/new" { "New member" } " "
                a href="/admin/members/import" { "Import CSV" } " · "
                a href="/admin/members/export.csv" download { "Export CSV" } }
            @if members.items.is_empty() { p.muted { "No members found." } }
            form #print method="get" action="/admin/cards" {
            div.table-wrap role="region" tabindex="0" aria-label="Members" { table.cards #members {
                thead { tr { th scope="col" { span.visually-hidden { "Print" } } th scope="col" { "Name" } th scope="col" { "Card" } th scope="col" { "Email" } th.num scope="col" { "Balance" } } }
                tbody { @for m in &members.items {
                    tr {
                        td.pick { label.tap { input type="checkbox" name="members" value=(m.id.as_str()) aria-label={ "Print the card of " (display_name(m)) }; } }
                        td.title { a href={ "/admin/members/" (m.id.as_str()) } { (display_name(m)) }
                             @if m.status == MemberStatus::Blocked { " " span.error { "(blocked)" } } }
                        td data-label="Card" { (m.card_number.as_str()) }
                        @if let Some(e) = &m.email { td data-label="Email" { (e.as_str()) } } @else { td.empty {} }
                        td.points.figure data-label="Balance" { (thousands(m.balance)) }
                    }
                } }
            } }
            @if !members.items.is_empty() {
                p {
                    label.check for="print-paper" { "Paper" }
                    select #print-paper name="paper" { option value="a4" { "A4" } option value="letter" { "US Letter" } }
                    button.secondary type="submit" { "Print cards of the ticked members" }
                }
            }
            }
            p { a href="/admin/cards" { "Print blank cards" } }
            @if let Some(next) = &members.next {
                p.pager { a rel="next" href={ "/admin/members?q=" (urlencode(q)) "&after=" (urlencode(next)) } { "Next page →" } }
            }
        },
    )
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A member's details as form values.
pub fn member_values(m: &Member) -> Kept {
    let mut k = Kept::new();
    k.insert(
        "name".into(),
        m.name.as_ref().map_or("", |n| n.as_str()).to_owned(),
    );
    k.insert(
        "email".into(),
        m.email.as_ref().map_or("", |e| e.as_str()).to_owned(),
    );
    k.insert(
        "phone".into(),
        m.phone.as_ref().map_or("", |p| p.as_str()).to_owned(),
    );
    if m.marketing_consent_at.is_some() {
        k.insert("marketing_consent".into(), "on".into());
    }
    k.insert(
        "birthday".into(),
        m.birthday.map(|b| b.as_text()).unwrap_or_default(),
    );
    k
}

/// The create or edit form; `member` is `None` for a new one.
pub fn form(
    chrome: &Chrome,
    member: Option<&Member>,
    values: &Kept,
    err: Option<&DomainError>,
) -> Markup {
    let (title, action) = match member {
        Some(m) => (
            "Edit member".to_owned(),
            format!("/admin/members/{}", m.id.as_str()),
        ),
        None => ("New member".to_owned(), "/admin/members".to_owned()),
    };
    page(
        &title,
        chrome,
        Section::Members,
        html! {
            h1 { (title) }
            form #member-form method="post" action=(action) {
                (csrf(chrome))
                label for="name" { "Name" }
                input #name name="name" autocomplete="off" value=(kept(values, "name"));
                (field_error(err, "name"))
                label for="email" { "Email" }
                input #email name="email" type="email" autocomplete="off" value=(kept(values, "email"));
                (field_error(err, "email"))
                label for="phone" { "Phone" }
                input #phone name="phone" type="tel" autocomplete="off" value=(kept(values, "phone"));
                (field_error(err, "phone"))
                label for="birthday" { "Birthday (YYYY-MM-DD, or MM-DD without the year; optional)" }
                input #birthday name="birthday" autocomplete="off" placeholder="MM-DD" value=(kept(values, "birthday"));
                (field_error(err, "birthday"))
                @if member.is_none() {
                    @if !kept(values, "card").is_empty() {
                        input type="hidden" name="card" value=(kept(values, "card"));
                        p.result { "This member gets the printed card you scanned." }
                    }
                    label for="card_number" { "Pre-printed card number (leave empty for a new one)" }
                    input #card_number name="card_number" inputmode="numeric" autocomplete="off" value=(kept(values, "card_number"));
                    (field_error(err, "card_number"))
                }
                label.check { input #marketing_consent type="checkbox" name="marketing_consent" checked[!kept(values, "marketing_consent").is_empty()];
                    "Agrees to receive marketing messages" }
                (form_error(err, &["name", "email", "phone", "birthday", "card_number"]))
                button type="submit" { "Save" }
            }
        },
    )
}

/// One-time tokens for the till forms: a double tap or a resubmit is applied once.
#[derive(Debug, Clone)]
pub struct TillTokens {
    /// Earn by purchase amount.
    pub earn_amount: String,
    /// Earn a number of points.
    pub earn_points: String,
    /// Redeem a reward.
    pub redeem: String,
    /// Adjust.
    pub adjust: String,
    /// Reverse an entry.
    pub reverse: String,
}

/// What a till action did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// For a person, e.g. "Added 12 points".
    pub message: String,
    /// Whether the same form was sent before and this is its first answer again.
    pub replayed: bool,
}

/// Everything the member page shows.
pub struct MemberView<'a> {
    /// The member.
    pub member: &'a Member,
    /// A page of their history.
    pub history: &'a Page<LedgerEntry>,
    /// The catalogue.
    pub rewards: &'a [Reward],
    /// Currency and time zone.
    pub settings: &'a Settings,
    /// Fresh form tokens.
    pub tokens: &'a TillTokens,
    /// The last action's outcome.
    pub outcome: Option<&'a Outcome>,
    /// A refused form.
    pub problem: Option<&'a Problem>,
    /// API key names, so history says which key made a change.
    pub key_names: &'a std::collections::HashMap<String, String>,
    /// The member's next points to expire, if a policy is on.
    pub next_expiry: Option<&'a crate::domain::expiry::Expiring>,
    /// The member who referred this one, if on file.
    pub referrer: Option<&'a Member>,
    /// The member's own referral link, while referrals are on.
    pub referral_link: Option<&'a str>,
}

/// The element a refused till form puts the focus on: the field that failed.
fn failing_field(p: &Problem) -> Option<&'static str> {
    match (p.form, &p.error) {
        ("earn-amount", _) => Some("amount"),
        ("earn-points", _) => Some("points"),
        ("redeem", _) => Some("reward_id"),
        (
            "adjust",
            DomainError::Invalid {
                field: "reason", ..
            },
        ) => Some("reason"),
        ("adjust", _) => Some("adjust-points"),
        _ => None,
    }
}

/// The member page: the till first (balance, amount, redeem), then the rest, details, history.
pub fn show(chrome: &Chrome, v: &MemberView) -> Markup {
    let m = v.member;
    let base = format!("/admin/members/{}", m.id.as_str());
    let zone = v.settings.time_zone.zone();
    let typed = |form: &str, field: &str| {
        Problem::values(v.problem, form).map_or(String::new(), |k| kept(k, field).to_owned())
    };
    let blocked = m.status == MemberStatus::Blocked;
    // The reward a refused redemption chose stays offered, so the person sees what failed.
    let chosen = typed("redeem", "reward_id");
    let offered: Vec<&Reward> = v
        .rewards
        .iter()
        .filter(|r| r.active && (r.cost <= m.balance || r.id == chosen))
        .collect();
    let failing = v
        .problem
        .and_then(failing_field)
        .filter(|f| *f != "reward_id" || !offered.is_empty());
    let bad = |id: &str| failing == Some(id);
    let invalid = |id: &str| bad(id).then_some("true");
    let described = |id: &str| bad(id).then_some(REFUSED_ID);
    let err = |form: &str| Problem::for_form(v.problem, form);
    page(
        display_name(m),
        chrome,
        Section::Members,
        html! {
            @if let Some(o) = v.outcome {
                (banner(Tone::Done, html! {
                    strong { (o.message) }
                    @if o.replayed { " (already applied: this form was sent before, nothing changed twice)" }
                    " New balance: " (thousands(m.balance)) " " (words::noun(m.balance, "point", "points")) "."
                }, false))
            }
            @if let Some(p) = v.problem {
                (banner(Tone::Refused, html! { (sentence(&p.error)) }, failing.is_none()))
            }
            (search_box_focused("", v.problem.is_none()))
            h1 { (display_name(m))
                @if m.status == MemberStatus::Blocked { " " span.error { "(blocked)" } }
                @if m.status == MemberStatus::Erased { " " span.error #erased { "(erased)" } } }
            @if m.erasure_requested_at.is_some() && m.status != MemberStatus::Erased {
                div.problem #erasure-requested role="status" {
                    "This customer asked for their account to be erased."
                    @if chrome.owner {
                        form #erase method="post" action={ (base) "/erase" } {
                            (csrf(chrome))
                            button.danger type="submit" { "Erase now: remove their details, close the card, let the points lapse" }
                        }
                    } @else { " An owner can confirm it." }
                }
            }
            div.grid.till {
                section.card #till {
                    div.balance-line {
                        div { p.muted { "Balance" }
                            p.balance #balance data-value=(m.balance) { (thousands(m.balance)) }
                            @if let Some(e) = v.next_expiry { p.muted #next-expiry { (e.notice()) "." } } }
                        p { "Card " strong #card-number { (m.card_number.as_str()) } }
                    }
                    form #earn-amount method="post" action={ (base) "/earn" } {
                        (csrf(chrome))
                        input type="hidden" name="form_token" value=(v.tokens.earn_amount);
                        label for="amount" { "Purchase amount (" (v.settings.currency.as_str()) ")" }
                        div.field-row {
                            input #amount name="amount" inputmode="decimal" autocomplete="off" required
                                value=(typed("earn-amount", "amount"))
                                autofocus[bad("amount")] aria-invalid=[invalid("amount")] aria-describedby=[described("amount")];
                            button type="submit" { "Work out points" }
                        }
                        (field_note(err("earn-amount").as_ref(), "amount"))
                    }
                    @if offered.is_empty() {
                        p.muted #no-reward { "No reward is within this balance yet." }
                    } @else {
                        form #redeem method="post" action={ (base) "/redeem" } {
                            (csrf(chrome))
                            input type="hidden" name="form_token" value=(v.tokens.redeem);
                            label for="reward_id" { "Redeem a reward" }
                            div.field-row {
                                select #reward_id name="reward_id" required
                                    autofocus[bad("reward_id")] aria-invalid=[invalid("reward_id")] aria-describedby=[described("reward_id")] {
                                    @for r in &offered { option value=(r.id) selected[r.id == chosen] { (r.name) " — " (words::count(r.cost, "point", "points")) } }
                                }
                                button type="submit" { "Redeem" }
                            }
                        }
                    }
                }
                section.card {
                    h2 { "Add a number of points" }
                    form #earn-points method="post" action={ (base) "/earn" } {
                        (csrf(chrome))
                        input type="hidden" name="form_token" value=(v.tokens.earn_points);
                        label for="points" { "Points" }
                        div.field-row {
                            input #points name="points" type="number" min="1" step="1" inputmode="numeric" required
                                value=(typed("earn-points", "points"))
                                autofocus[bad("points")] aria-invalid=[invalid("points")] aria-describedby=[described("points")];
                            button type="submit" { "Add points" }
                        }
                        (field_note(err("earn-points").as_ref(), "points"))
                    }
                    h2 { "Adjust" }
                    form #adjust method="post" action={ (base) "/adjust" } {
                        (csrf(chrome))
                        input type="hidden" name="form_token" value=(v.tokens.adjust);
                        label for="adjust-points" { "Points (use − to take away)" }
                        input #adjust-points name="points" type="number" step="1" required value=(typed("adjust", "points"))
                            autofocus[bad("adjust-points")] aria-invalid=[invalid("adjust-points")] aria-describedby=[described("adjust-points")];
                        (field_note(err("adjust").as_ref(), "points"))
                        label for="reason" { "Reason (required)" }
                        input #reason name="reason" required autocomplete="off" value=(typed("adjust", "reason"))
                            autofocus[bad("reason")] aria-invalid=[invalid("reason")] aria-describedby=[described("reason")];
                        (field_note(err("adjust").as_ref(), "reason"))
                        button.secondary type="submit" { "Adjust" }
                    }
                }
                section.card #details {
                    h2 { "Details" }
                    p { "Lifetime points: " span #lifetime data-value=(m.lifetime_earned) { (thousands(m.lifetime_earned)) } }
                    (crate::views::tiers::member_line(&v.settings.tiers, m, crate::clock::now(), &zone))
                    (crate::views::rules::member_lines(m, v.referrer, v.referral_link, &zone))
                    p.muted { "Member since " (local_time(m.created_at, &zone)) }
                    @if let Some(e) = &m.email { p { (e.as_str()) } }
                    @if let Some(p) = &m.phone { p { (p.as_str()) } }
                    p { @if m.marketing_consent_at.is_some() { "Agreed to marketing." } @else { "No marketing consent." } }
                    @if let Some(at) = m.notices.off_at {
                        p #notices-off { "Email notices: off since " (local_time(at, &zone)) " (unsubscribed)." }
                    }
                    p { a href={ (base) "/edit" } { "Edit details" } " · "
                        a href={ "/c/" (m.card_token.as_str()) } { "Card page" } " · "
                        a href={ "/admin/cards?members=" (m.id.as_str()) } { "Print card" } }
                    div.actions {
                        form #new-card method="post" action={ (base) "/new-card" } {
                            (csrf(chrome))
                            button.secondary type="submit" { "Lost card: issue a new one" }
                        }
                        form #reset-customer-password method="post" action={ (base) "/customer-password" } {
                            (csrf(chrome))
                            button.secondary type="submit" { "Forgot password: let them set a new one" }
                        }
                        @if blocked {
                            form #unblock method="post" action={ (base) "/unblock" } {
                                (csrf(chrome))
                                button.secondary type="submit" { "Unblock" }
                            }
                        } @else {
                            // A second step that works without JavaScript: the form is inside.
                            details.confirm #block {
                                summary.button.danger { "Block…" }
                                form #block-confirm method="post" action={ (base) "/block" } {
                                    (csrf(chrome))
                                    p { "No points can be added or redeemed until they are unblocked." }
                                    button.danger type="submit" { "Yes, block " (display_name(m)) }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "History" }
                @if v.history.items.is_empty() { p.muted { "No points yet." } }
                div.table-wrap role="region" tabindex="0" aria-label="History" { table.cards #history {
                    thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "What" } th.num scope="col" { "Points" } th.num scope="col" { "Balance after" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody { @for e in &v.history.items {
                        @let b = &e.body;
                        @let reward = b.reward_id.as_deref().and_then(|id| v.rewards.iter().find(|r| r.id == id)).map(|r| r.name.as_str());
                        @let key_name = match &b.source {
                            Actor::ApiKey { key_id } => v.key_names.get(key_id).map(String::as_str),
                            _ => None,
                        };
                        tr {
                            td.seq data-label="Entry" { (b.seq) }
                            td.when data-label="When" { (local_time(b.created_at, &zone)) }
                            td.what.title { span.kind { (words::entry_label(b.kind, reward)) }
                                @if let Some(a) = &b.amount { " for " (Money::to_decimal(a)) " " (a.currency.as_str()) }
                                @if let Some(r) = b.reason.as_deref().filter(|r| Some(*r) != reward) { ": " (r) }
                                @if let Some(s) = b.reverses { " (undoes #" (s) ")" }
                                br; span.muted.by { "by " (words::actor(&b.source, key_name)) } }
                            td.points.figure data-label="Points" { @if b.points > 0 { "+" } (thousands(b.points)) }
                            td.num data-label="Balance after" { (thousands(b.balance_after)) }
                            td.act { @if b.kind != EntryKind::Reversal {
                                details.confirm.undo {
                                    summary.button.secondary { "Reverse" span.visually-hidden { " entry " (b.seq) } "…" }
                                    form.reverse method="post" action={ (base) "/reverse" } {
                                        (csrf(chrome))
                                        input type="hidden" name="form_token" value=(v.tokens.reverse);
                                        input type="hidden" name="seq" value=(b.seq);
                                        button.danger type="submit" { "Yes, reverse entry " (b.seq) }
                                    }
                                }
                            } }
                        }
                    } }
                } }
                @if let Some(next) = &v.history.next {
                    p.pager { a rel="next" href={ (base) "?before=" (next) } { "Older entries →" } }
                }
            }
        },
    )
}

/// The step between typing an amount and adding its points: staff see the points first.
pub fn earn_preview(
    chrome: &Chrome,
    m: &Member,
    amount: &Money,
    points: i64,
    token: &str,
) -> Markup {
    let base = format!("/admin/members/{}", m.id.as_str());
    page(
        "Confirm points",
        chrome,
        Section::Members,
        html! {
            h1 { "Add points for " (display_name(m)) }
            p #preview { (amount.to_decimal()) " " (amount.currency.as_str()) " earns " strong { (words::count(points, "point", "points")) } "." }
            form #confirm-earn method="post" action={ (base) "/earn" } {
                (csrf(chrome))
                input type="hidden" name="form_token" value=(token);
                input type="hidden" name="amount" value=(amount.to_decimal());
                input type="hidden" name="confirm" value="yes";
                button type="submit" autofocus { "Confirm" }
            }
            p { a href=(base) { "Cancel" } }
        },
    )
}

/// The import form.
pub fn import_form(chrome: &Chrome, err: Option<&DomainError>) -> Markup {
    page(
        "Import members",
        chrome,
        Section::Members,
        html! {
            h1 { "Import members from CSV" }
            p { "Columns (all optional per row): " code { "name,email,phone,card_number,balance" }
                ". You will see every line checked before anything is saved." }
            form #import method="post" action="/admin/members/import" enctype="multipart/form-data" {
                (csrf(chrome))
                label for="file" { "CSV file" }
                input #file name="file" type="file" accept=".csv,text/csv" required;
                (field_error(err, "file"))
                (form_error(err, &["file"]))
                button type="submit" { "Check the file" }
            }
        },
    )
}

/// What an import would do; the confirm button appears only when every line is good.
pub fn import_preview(chrome: &Chrome, preview: &ImportPreview, import_id: Option<&str>) -> Markup {
    let errors = preview.errors();
    let not_shown = preview.not_shown();
    page(
        "Import preview",
        chrome,
        Section::Members,
        html! {
            h1 { "Import preview" }
            p #import-summary {
                (words::count(i64::try_from(preview.total).unwrap_or(i64::MAX), "line", "lines")) ": " (preview.total - errors) " can be imported, " (errors) " cannot. "
                @if errors == 0 { span.ok { "All can be imported." } }
                @else { span.error { "Fix the lines with problems and upload the file again; nothing was saved." } }
            }
            @if not_shown > 0 {
                p #import-not-shown {
                    "Showing " (words::count(i64::try_from(preview.lines.len()).unwrap_or(i64::MAX), "line", "lines")) " (the first ones, then every problem up to a limit); "
                    (not_shown) " more are not shown but were checked"
                    @if import_id.is_some() { " and will be imported" } "."
                }
            }
            div.table-wrap role="region" tabindex="0" aria-label="Checked lines" { table.cards #import-preview {
                thead { tr { th scope="col" { "Line" } th scope="col" { "Member" } th scope="col" { "Problem" } } }
                tbody { @for l in &preview.lines {
                    tr.error[l.error.is_some()] {
                        td.figure data-label="Line" { (l.line) } td.title data-label="Member" { (l.summary) } td data-label="Problem" { (l.error.as_deref().unwrap_or("")) }
                    }
                } }
            } }
            @if let Some(id) = import_id {
                form #import-confirm method="post" action="/admin/members/import/confirm" {
                    (csrf(chrome))
                    input type="hidden" name="import_id" value=(id);
                    button type="submit" { "Import " (words::count(i64::try_from(preview.total).unwrap_or(i64::MAX), "member", "members")) }
                }
            }
            p { a href="/admin/members/import" { "Upload another file" } }
        },
    )
}

/// After an import.
pub fn imported(chrome: &Chrome, count: usize) -> Markup {
    page(
        "Imported",
        chrome,
        Section::Members,
        html! {
            h1 { "Import done" }
            p.result #result role="status" { "Imported " (words::count(i64::try_from(count).unwrap_or(i64::MAX), "member", "members")) "." }
            p { a href="/admin/members" { "See the members" } }
        },
    )
}
