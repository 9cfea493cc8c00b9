//! Member search, the member page, create and edit, block, export and import.

use super::session::{AdminForm, Staff, multipart_file};
use super::{PageError, PageResult, form_token, member_id, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::birthday::Birthday;
use crate::domain::card::{CardNumber, CardToken};
use crate::domain::email::Email;
use crate::domain::member::{
    MemberId, MemberPatch, MemberQuery, MemberStatus, NewMember, optional,
};
use crate::domain::text::{PersonName, Phone};
use crate::http::AppState;
use crate::member_csv::Source;
use crate::progress::Progress;
use crate::service::ServiceError;
use crate::views::Page;
use crate::views::admin::members::{self as view, MemberView, Outcome, TillTokens};
use crate::views::admin::{Chrome, Kept, Problem};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAGE_SIZE: usize = 50;

/// Files waiting after a preview for the confirm button, kept here so the preview page need
/// not carry the whole file back and forth.
///
/// At most `MAX_PENDING` files (each within the body limit) for `PENDING_FOR`: the oldest is
/// dropped first, and a dropped file is simply uploaded again.
#[derive(Clone, Default)]
pub struct PendingImports(Arc<Mutex<VecDeque<PendingImport>>>);

struct PendingImport {
    id: String,
    staff: String,
    at: Instant,
    csv: String,
}

const MAX_PENDING: usize = 4;
const PENDING_FOR: Duration = Duration::from_secs(30 * 60);

impl PendingImports {
    /// Keeps `csv` for `staff` and returns the id the confirm form sends back.
    fn put(&self, staff: &str, csv: String) -> Result<String, PageError> {
        let id = form_token()?;
        let mut q = self.lock()?;
        q.retain(|p| p.at.elapsed() < PENDING_FOR && p.staff != staff);
        while q.len() >= MAX_PENDING {
            q.pop_front();
        }
        q.push_back(PendingImport {
            id: id.clone(),
            staff: staff.to_owned(),
            at: Instant::now(),
            csv,
        });
        Ok(id)
    }

    /// Takes the file `staff` previewed as `id`, once.
    fn take(&self, staff: &str, id: &str) -> Result<Option<String>, PageError> {
        let mut q = self.lock()?;
        let found = q.iter().position(|p| {
            p.staff == staff
                && p.at.elapsed() < PENDING_FOR
                && crate::crypto::constant_time_eq(&p.id, id)
        });
        Ok(found.and_then(|i| q.remove(i)).map(|p| p.csv))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, VecDeque<PendingImport>>, PageError> {
        self.0
            .lock()
            .map_err(|_| PageError::Internal("pending imports poisoned".into()))
    }
}
const HISTORY_SIZE: usize = 20;

/// The search box's query.
#[derive(Debug, serde::Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// Lists members; a scanned card number goes straight to its member.
pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(s): Query<Search>,
) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let q = s.q.trim();
    let digits: String = q
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let mut notice = None;
    if digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
        match CardNumber::parse(&digits) {
            Ok(card) => match state.loyalty.member_by_card(card.clone()).await {
                Ok(m) => return Ok(see_other(&format!("/admin/members/{}", m.id.as_str()))),
                Err(ServiceError::Domain(DomainError::NotFound(_))) => {
                    // A printed blank card: start a member with it.
                    if let Some(b) = state.loyalty.blank_card(Some(card), None).await? {
                        return Ok(see_other(&format!(
                            "/admin/members/new?card={}",
                            b.card_token.as_str()
                        )));
                    }
                    notice = Some(format!("No member has card number {digits}."));
                }
                Err(e) => return Err(e.into()),
            },
            Err(_) => {
                notice = Some(format!(
                    "{digits} is not a valid card number (the check digit is wrong): scan or type it again."
                ));
            }
        }
    }
    let page = if notice.is_some() {
        crate::storage::members::Page {
            items: Vec::new(),
            next: None,
        }
    } else {
        state
            .loyalty
            .search_members(MemberQuery::parse(q), s.after, PAGE_SIZE)
            .await?
    };
    Ok(Page(view::list(&chrome, q, notice.as_deref(), &page)).into_response())
}

/// A printed card to start a member with.
#[derive(Debug, serde::Deserialize)]
pub struct CardParam {
    card: Option<String>,
}

/// The create form (with a printed blank card's number filled in when one was scanned).
pub async fn new(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<CardParam>,
) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let mut kept = Kept::new();
    if let Some(token) = q.card.as_deref().and_then(|c| CardToken::parse(c).ok())
        && let Some(b) = state.loyalty.blank_card(None, Some(token)).await?
    {
        kept.insert("card_number".into(), b.card_number.as_str().to_owned());
        kept.insert("card".into(), b.card_token.as_str().to_owned());
    }
    Ok(Page(view::form(&chrome, None, &kept, None)).into_response())
}

/// What the member forms send.
#[derive(Debug, serde::Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    card_number: String,
    marketing_consent: Option<String>,
    card: Option<String>,
    #[serde(default)]
    birthday: String,
}

fn new_member(f: &MemberForm) -> Result<NewMember, DomainError> {
    Ok(NewMember {
        name: optional(&f.name, PersonName::parse)?,
        email: optional(&f.email, Email::parse)?,
        phone: optional(&f.phone, Phone::parse)?,
        marketing_consent: f.marketing_consent.is_some(),
        card_number: optional(&f.card_number, CardNumber::parse)?,
        card_token: f.card.as_deref().and_then(|c| CardToken::parse(c).ok()),
        marketing_consent_text: None,
        birthday: optional(&f.birthday, Birthday::parse)?,
        referral: None,
    })
}

/// Creates a member, or shows the form again with the problem beside the field.
pub async fn create(State(state): State<AppState>, form: AdminForm<MemberForm>) -> PageResult {
    let actor = form.staff.0.actor();
    let result = match new_member(&form.value) {
        Ok(new) => state.loyalty.create_member(new, actor).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(m) => Ok(see_other(&format!("/admin/members/{}", m.id.as_str()))),
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            Ok((
                refused_status(&e),
                Page(view::form(&chrome, None, &form.kept(), Some(&e))),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The edit form.
pub async fn edit(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let m = state.loyalty.member(member_id(&id)?).await?;
    Ok(Page(view::form(
        &chrome,
        Some(&m),
        &view::member_values(&m),
        None,
    ))
    .into_response())
}

/// Saves an edit.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<MemberForm>,
) -> PageResult {
    let id = member_id(&id)?;
    let f = &form.value;
    let patch = MemberPatch::details(
        &f.name,
        &f.email,
        &f.phone,
        f.marketing_consent.is_some(),
        None,
    )
    .and_then(|p| p.with_birthday(&f.birthday));
    let result = match patch {
        Ok(p) => {
            state
                .loyalty
                .update_member(id.clone(), p, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(m) => Ok(see_other(&format!("/admin/members/{}", m.id.as_str()))),
        Err(ServiceError::Domain(e)) if !matches!(e, DomainError::NotFound(_)) => {
            let chrome = form.staff.chrome(&state).await?;
            let m = state.loyalty.member(id).await?;
            Ok((
                refused_status(&e),
                Page(view::form(&chrome, Some(&m), &form.kept(), Some(&e))),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_status(state: &AppState, id: &str, staff: &Staff, status: MemberStatus) -> PageResult {
    let id = member_id(id)?;
    let patch = MemberPatch {
        status: Some(status),
        ..MemberPatch::default()
    };
    let m = state
        .loyalty
        .update_member(id, patch, staff.0.actor())
        .await?;
    Ok(see_other(&format!("/admin/members/{}", m.id.as_str())))
}

/// Blocks a member: no earning or redeeming until unblocked.
pub async fn block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    set_status(&state, &id, &form.staff, MemberStatus::Blocked).await
}

/// Unblocks a member.
pub async fn unblock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    set_status(&state, &id, &form.staff, MemberStatus::Active).await
}

/// Which history page to show.
#[derive(Debug, serde::Deserialize)]
pub struct HistoryQuery {
    before: Option<u64>,
}

/// Fresh one-time tokens for every till form on a member page.
pub fn till_tokens() -> Result<TillTokens, PageError> {
    Ok(TillTokens {
        earn_amount: form_token()?,
        earn_points: form_token()?,
        redeem: form_token()?,
        adjust: form_token()?,
        reverse: form_token()?,
    })
}

/// Renders the member page, with an outcome or a refused form.
pub async fn render(
    state: &AppState,
    chrome: &Chrome,
    id: MemberId,
    before: Option<u64>,
    outcome: Option<&Outcome>,
    problem: Option<&Problem>,
) -> Result<maud::Markup, PageError> {
    let mut member = state.loyalty.member(id.clone()).await?;
    let settings = state.loyalty.settings().await?;
    if settings.referrals.enabled && member.status == MemberStatus::Active {
        member = state.loyalty.with_referral_code(member).await?;
    }
    let referral_link = member
        .referral_code
        .as_ref()
        .filter(|_| settings.referrals.enabled && member.status == MemberStatus::Active)
        .map(|c| format!("{}/join?ref={}", state.base_url, c.as_str()));
    let referrer = match &member.referral {
        Some(r) => state.loyalty.member(r.referrer.clone()).await.ok(),
        None => None,
    };
    let next_expiry = if member.balance > 0 {
        state.loyalty.next_expiry(id.clone()).await?
    } else {
        None
    };
    let history = state.loyalty.history(id, before, HISTORY_SIZE).await?;
    let rewards = state.loyalty.rewards().await?;
    let tokens = till_tokens()?;
    let key_names = state
        .loyalty
        .api_keys()
        .await?
        .into_iter()
        .map(|k| (k.id, k.name))
        .collect();
    Ok(view::show(
        chrome,
        &MemberView {
            member: &member,
            history: &history,
            rewards: &rewards,
            settings: &settings,
            tokens: &tokens,
            outcome,
            problem,
            key_names: &key_names,
            next_expiry: next_expiry.as_ref(),
            referrer: referrer.as_ref(),
            referral_link: referral_link.as_deref(),
        },
    ))
}

/// The member page.
pub async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let page = render(&state, &chrome, member_id(&id)?, q.before, None, None).await?;
    Ok(Page(page).into_response())
}

/// Every member as CSV, streamed from one read transaction as it is read.
pub async fn export(State(state): State<AppState>, _staff: Staff) -> PageResult {
    let body = crate::http::stream::body(move |out| async move {
        state
            .loyalty
            .export(crate::export::Format::Csv, out, Progress::hidden())
            .await
            .map(|_| ())
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"members.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// The import form.
pub async fn import_form(State(state): State<AppState>, staff: Staff) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    Ok(Page(view::import_form(&chrome, None)).into_response())
}

fn csv_text(bytes: Vec<u8>) -> Result<String, DomainError> {
    if bytes.is_empty() {
        return Err(DomainError::invalid("file", "choose a CSV file"));
    }
    String::from_utf8(bytes)
        .map_err(|_| DomainError::invalid("file", "must be a UTF-8 text (CSV) file"))
}

/// Checks an uploaded file line by line; writes nothing.
pub async fn import_preview(
    State(state): State<AppState>,
    staff: Staff,
    multipart: Multipart,
) -> PageResult {
    let bytes = multipart_file(&staff, multipart, "file").await?;
    let chrome = staff.chrome(&state).await?;
    let text = match csv_text(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Ok((
                refused_status(&e),
                Page(view::import_form(&chrome, Some(&e))),
            )
                .into_response());
        }
    };
    let staff_name = staff.0.user.username.as_str().to_owned();
    match state
        .loyalty
        .preview_import(Source::Text(text.as_str().into()))
        .await
    {
        Ok(p) => {
            let pending = if p.errors() == 0 && p.total > 0 {
                Some(state.pending_imports.put(&staff_name, text)?)
            } else {
                None
            };
            Ok(Page(view::import_preview(&chrome, &p, pending.as_deref())).into_response())
        }
        Err(ServiceError::Domain(e)) => Ok((
            refused_status(&e),
            Page(view::import_form(&chrome, Some(&e))),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// What the confirm form sends back: the id of the previewed file.
#[derive(Debug, serde::Deserialize)]
pub struct ImportConfirm {
    #[serde(default)]
    import_id: String,
}

/// Imports a previewed file: every line, or none.
pub async fn import_confirm(
    State(state): State<AppState>,
    form: AdminForm<ImportConfirm>,
) -> PageResult {
    let chrome = form.staff.chrome(&state).await?;
    let staff = form.staff.0.user.username.as_str();
    let Some(csv) = state.pending_imports.take(staff, &form.value.import_id)? else {
        let e = DomainError::invalid(
            "file",
            "this preview has expired or was imported already; upload the file again",
        );
        return Ok((
            refused_status(&e),
            Page(view::import_form(&chrome, Some(&e))),
        )
            .into_response());
    };
    match state
        .loyalty
        .import_checked(Source::Text(csv.into()), form.staff.0.actor())
        .await
    {
        Ok(n) => Ok(Page(view::imported(&chrome, n)).into_response()),
        Err(ServiceError::Domain(e)) => Ok((
            refused_status(&e),
            Page(view::import_form(&chrome, Some(&e))),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}
