//! Sheets of wallet-size cards to print (85.6 × 54 mm), with crop marks.

use super::{Chrome, csrf};
use crate::domain::card::{CardNumber, CardToken};
use crate::domain::contrast::{Palette, Rgb, WHITE};
use crate::domain::words;
use crate::views::codes::{barcode_svg, qr_svg};
use crate::views::head;
use maud::{DOCTYPE, Markup, html};

/// Paper sizes cards are printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// A4: 2 × 5 cards.
    A4,
    /// US Letter: 2 × 4 cards (five rows would leave no margin for the printer).
    Letter,
}

impl Paper {
    /// Reads `a4` or `letter` (A4 when absent or unknown).
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::to_ascii_lowercase).as_deref() {
            Some("letter") => Self::Letter,
            _ => Self::A4,
        }
    }

    /// Cards on one sheet.
    pub fn per_sheet(self) -> usize {
        match self {
            Self::A4 => 10,
            Self::Letter => 8,
        }
    }

    /// The value in forms and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A4 => "a4",
            Self::Letter => "letter",
        }
    }
}

/// What makes a printed card the business's own.
#[derive(Debug, Clone)]
pub struct Brand {
    /// The business's name.
    pub name: String,
    /// The brand colour and the text colour that stays readable on it.
    pub palette: Palette,
    /// Whether a logo is uploaded (served at `/brand/logo`).
    pub logo: bool,
}

impl Brand {
    /// The band's colour as red, green and blue from 0 to 1.
    pub fn rgb(&self) -> [f32; 3] {
        let Rgb { r, g, b } = self.palette.fill;
        [r, g, b].map(|c| f32::from(c) / 255.0)
    }

    /// Whether text on the band is dark rather than white, as on the pages' header bar.
    pub fn dark_text(&self) -> bool {
        self.palette.on_fill != WHITE
    }
}

/// What every card says beside its QR code.
pub const SCAN_LINE: &str = "Scan to see your points";

/// One card to print.
#[derive(Debug, Clone)]
pub struct PrintCard {
    /// The printed number.
    pub number: CardNumber,
    /// The token in its QR code.
    pub token: CardToken,
}

fn card(c: &PrintCard, base_url: &str, brand: &Brand) -> Markup {
    let url = format!("{base_url}/c/{}", c.token.as_str());
    html! {
        div.print-card {
            span.crop.tl {} span.crop.tr {} span.crop.bl {} span.crop.br {}
            div.inner {
                div.band.dark-text[brand.dark_text()] {
                    // An SVG fill rather than a CSS background: browsers leave backgrounds out
                    // of print unless asked, and the page's CSP allows no inline style.
                    svg.band-fill aria-hidden="true" focusable="false" xmlns="http://www.w3.org/2000/svg" {
                        rect width="100%" height="100%" fill=(brand.palette.fill.hex()) {}
                    }
                    @if brand.logo { img.logo src="/brand/logo" alt=""; }
                    span.business { (brand.name) }
                }
                (qr_svg(&url, None, "qr", "QR code of the card"))
                span.scan { (SCAN_LINE) }
                span.number { (c.number.as_str()) }
                (barcode_svg(&c.number, None, "barcode"))
            }
        }
    }
}

/// The printable sheets, with the forms that choose what to print.
pub fn sheets(
    chrome: &Chrome,
    brand: &Brand,
    cards: &[PrintCard],
    paper: Paper,
    base_url: &str,
    pdf_link: Option<&str>,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Print cards"))
            body.print { main {
                div.print-controls {
                    p { a href="/admin/members" { "← Members" } }
                    h1 { "Print cards" }
                    @if cards.is_empty() {
                        p { "Tick members on the " a href="/admin/members" { "members page" } " and press “Print cards”, or print blank cards to hand out." }
                    } @else {
                        @let n = i64::try_from(cards.len()).unwrap_or(i64::MAX);
                        @let pages = i64::try_from(cards.len().div_ceil(paper.per_sheet())).unwrap_or(i64::MAX);
                        p { (words::count(n, "card", "cards")) " on " (pages) " "
                            @if paper == Paper::A4 { "A4" } @else { "US Letter" } " " (words::noun(pages, "sheet", "sheets")) ". Print at 100% (actual size), no margins."
                            @if let Some(l) = pdf_link { " " a #pdf href=(l) { "Download as PDF" } } }
                    }
                    form #blank-cards method="post" action="/admin/cards/blank" {
                        (csrf(chrome))
                        label for="n" { "Blank cards to print (for customers who join later)" }
                        input #n name="n" type="number" min="1" max="200" value="10" required;
                        label for="paper" { "Paper" }
                        select #paper name="paper" {
                            option value="a4" selected[paper == Paper::A4] { "A4" }
                            option value="letter" selected[paper == Paper::Letter] { "US Letter" }
                        }
                        button type="submit" { "Make blank cards" }
                    }
                }
                @for chunk in cards.chunks(paper.per_sheet()) {
                    section.sheet.letter[paper == Paper::Letter] {
                        @for c in chunk { (card(c, base_url, brand)) }
                    }
                }
            } }
        }
    }
}
