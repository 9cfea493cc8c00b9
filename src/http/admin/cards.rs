//! Printing cards: sheets for chosen members, blank cards for people who join later, and the
//! member-page actions about cards (a new card, a customer's password, erasure).

use super::session::{AdminForm, Staff};
use super::{PageError, PageResult, member_id, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::member::MemberId;
use crate::domain::settings::LogoType;
use crate::http::AppState;
use crate::service::ServiceError;
use crate::views::Page;
use crate::views::admin::cards::{self as view, Brand, Paper, PrintCard};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;

/// Reads `members=ID&members=ID&paper=a4` (repeated keys, which serde forms do not take).
fn print_query(raw: Option<&str>) -> (Vec<MemberId>, Paper) {
    let mut ids = Vec::new();
    let mut paper = None;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "members" => {
                if let Ok(id) = MemberId::parse(&v) {
                    ids.push(id);
                }
            }
            "paper" => paper = Some(v.into_owned()),
            _ => {}
        }
    }
    (ids, Paper::parse(paper.as_deref()))
}

/// The business's name, colour and whether it has a logo, for the printed cards.
async fn brand(state: &AppState) -> Result<Brand, PageError> {
    let s = state.loyalty.settings().await?;
    Ok(Brand {
        name: s.business_name,
        palette: s.brand_colour.palette(),
        logo: s.logo.is_some(),
    })
}

async fn member_cards(state: &AppState, ids: Vec<MemberId>) -> Result<Vec<PrintCard>, PageError> {
    Ok(state
        .loyalty
        .members_by_id(ids)
        .await?
        .into_iter()
        .map(|m| PrintCard {
            number: m.card_number,
            token: m.card_token,
        })
        .collect())
}

/// Sheets of the chosen members' cards (or just the forms when none are chosen).
pub async fn sheet(
    State(state): State<AppState>,
    staff: Staff,
    RawQuery(q): RawQuery,
) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let (ids, paper) = print_query(q.as_deref());
    let cards = member_cards(&state, ids).await?;
    let pdf = format!("/admin/cards.pdf?{}", q.unwrap_or_default());
    let link = (!cards.is_empty()).then_some(pdf.as_str());
    let brand = brand(&state).await?;
    Ok(Page(view::sheets(
        &chrome,
        &brand,
        &cards,
        paper,
        &state.base_url,
        link,
    ))
    .into_response())
}

/// The same sheets as a PDF.
pub async fn pdf(
    State(state): State<AppState>,
    _staff: Staff,
    RawQuery(q): RawQuery,
) -> PageResult {
    let (ids, paper) = print_query(q.as_deref());
    let cards = member_cards(&state, ids).await?;
    if cards.is_empty() {
        return Err(PageError::Refused(DomainError::invalid(
            "members",
            "choose at least one member",
        )));
    }
    let brand = brand(&state).await?;
    let logo = state.loyalty.logo().await?;
    let base_url = state.base_url.clone();
    // Decoding the logo and drawing every card is CPU work: off the async threads.
    let bytes = tokio::task::spawn_blocking(move || {
        // PNG logos go into the PDF; other types print on the web sheet only (no decoder here).
        let logo = match logo {
            Some((LogoType::Png, bytes)) => crate::views::pdf_logo::from_png(&bytes),
            _ => None,
        };
        crate::views::card_pdf::render(&cards, paper, &base_url, &brand, logo.as_ref())
    })
    .await
    .map_err(|e| PageError::Internal(format!("drawing the cards' PDF: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cards.pdf\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

/// What the blank-cards form sends.
#[derive(Debug, serde::Deserialize)]
pub struct BlankForm {
    #[serde(default)]
    n: String,
    paper: Option<String>,
}

/// Makes blank cards and shows them ready to print.
pub async fn blank(State(state): State<AppState>, form: AdminForm<BlankForm>) -> PageResult {
    let chrome = form.staff.chrome(&state).await?;
    let brand = brand(&state).await?;
    let paper = Paper::parse(form.value.paper.as_deref());
    let n = form.value.n.trim().parse::<usize>().unwrap_or(0);
    match state
        .loyalty
        .create_blank_cards(n, form.staff.0.actor())
        .await
    {
        Ok(cards) => {
            let cards: Vec<PrintCard> = cards
                .into_iter()
                .map(|b| PrintCard {
                    number: b.card_number,
                    token: b.card_token,
                })
                .collect();
            Ok(Page(view::sheets(
                &chrome,
                &brand,
                &cards,
                paper,
                &state.base_url,
                None,
            ))
            .into_response())
        }
        Err(ServiceError::Domain(e)) => {
            let page = view::sheets(&chrome, &brand, &[], paper, &state.base_url, None);
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Issues a new card (number and token); the old card stops working.
pub async fn new_card(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    let m = state
        .loyalty
        .new_card(member_id(&id)?, form.staff.0.actor())
        .await?;
    Ok(see_other(&format!("/admin/members/{}", m.id.as_str())))
}

/// Clears a customer's password (they set a new one on their card page).
pub async fn reset_customer_password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    let id = member_id(&id)?;
    state
        .loyalty
        .reset_customer_secret(id.clone(), form.staff.0.actor())
        .await?;
    Ok(see_other(&format!("/admin/members/{}", id.as_str())))
}

/// Erases a member who asked for it (owners only).
pub async fn erase(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<super::login::Empty>,
) -> PageResult {
    if !form.staff.0.is_owner() {
        return Err(PageError::Forbidden("Only an owner can erase a member."));
    }
    let m = state
        .loyalty
        .erase_member(member_id(&id)?, form.staff.0.actor())
        .await?;
    Ok(see_other(&format!("/admin/members/{}", m.id.as_str())))
}
