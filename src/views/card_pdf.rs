//! The card sheet as a PDF, drawn with the same geometry as the print page: QR modules and
//! barcode bars as filled rectangles, text in the PDF's built-in Helvetica (nothing embedded).

use super::admin::cards::{Paper, PrintCard};
use super::codes::{barcode_modules, qr_modules};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

const PT_PER_MM: f32 = 72.0 / 25.4;
const CARD_W: f32 = 85.6;
const CARD_H: f32 = 54.0;

/// Page size and card grid (all in mm): width, height, left, top, column gap, row gap, rows.
fn geometry(paper: Paper) -> (f32, f32, f32, f32, f32, f32, usize) {
    match paper {
        Paper::A4 => (210.0, 297.0, 17.4, 9.5, 4.0, 2.0, 5),
        Paper::Letter => (215.9, 279.4, 20.15, 17.7, 4.0, 4.0, 4),
    }
}

/// Text as WinAnsi bytes; characters outside it print as `?`.
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn mm(v: f32) -> f32 {
    v * PT_PER_MM
}

/// Draws one card whose bottom-left corner is at (`x`, `y`) mm.
fn card(c: &mut Content, card: &PrintCard, x: f32, y: f32, base_url: &str, business: &str) {
    // Crop marks: the card's edges carried 2 mm outwards at each corner.
    c.set_line_width(0.4);
    for (cx, cy, dx, dy) in [
        (x, y, -1.0, -1.0),
        (x + CARD_W, y, 1.0, -1.0),
        (x, y + CARD_H, -1.0, 1.0),
        (x + CARD_W, y + CARD_H, 1.0, 1.0),
    ] {
        c.move_to(mm(cx), mm(cy)).line_to(mm(cx), mm(cy + 2.0 * dy));
        c.move_to(mm(cx), mm(cy)).line_to(mm(cx + 2.0 * dx), mm(cy));
    }
    c.stroke();

    let pad = 3.5;
    c.begin_text();
    c.set_font(Name(b"F1"), 11.0);
    c.next_line(mm(x + pad), mm(y + CARD_H - pad) - 11.0);
    c.show(Str(&latin1(business)));
    c.end_text();

    let url = format!("{base_url}/c/{}", card.token.as_str());
    if let Some((w, dark)) = qr_modules(&url) {
        let side = 24.0;
        let module = side / (w + 8) as f32;
        let (qx, qy) = (x + pad, y + pad);
        for (i, d) in dark.iter().enumerate() {
            if *d {
                let (col, row) = ((i % w + 4) as f32, (i / w + 4) as f32);
                c.rect(
                    mm(qx + col * module),
                    mm(qy + side - (row + 1.0) * module),
                    mm(module),
                    mm(module),
                );
            }
        }
        c.fill_nonzero();
    }

    let tx = x + pad + 24.0 + 3.0;
    c.begin_text();
    c.set_font(Name(b"F1"), 12.0);
    c.next_line(mm(tx), mm(y + pad + 13.0));
    c.show(Str(card.number.as_str().as_bytes()));
    c.end_text();

    if let Some(bars) = barcode_modules(&card.number) {
        let width = 52.0;
        let module = width / bars.len() as f32;
        for (i, b) in bars.iter().enumerate() {
            if *b == 1 {
                c.rect(
                    mm(tx + i as f32 * module),
                    mm(y + pad),
                    mm(module),
                    mm(10.0),
                );
            }
        }
        c.fill_nonzero();
    }
}

/// Every card on as many pages as they need.
pub fn render(cards: &[PrintCard], paper: Paper, base_url: &str, business: &str) -> Vec<u8> {
    let (pw, ph, left, top, col_gap, row_gap, rows) = geometry(paper);
    let per_page = rows * 2;
    let pages: Vec<&[PrintCard]> = cards.chunks(per_page).collect();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let ids: Vec<(Ref, Ref)> = (0..pages.len())
        .map(|i| {
            let n = i32::try_from(4 + 2 * i).unwrap_or(i32::MAX - 1);
            (Ref::new(n), Ref::new(n + 1))
        })
        .collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|(p, _)| *p))
        .count(i32::try_from(ids.len()).unwrap_or(i32::MAX));
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for (chunk, (page_id, content_id)) in pages.iter().zip(&ids) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, mm(pw), mm(ph)));
        page.parent(tree);
        page.contents(*content_id);
        page.resources().fonts().pair(Name(b"F1"), font);
        page.finish();

        let mut c = Content::new();
        c.set_fill_rgb(0.0, 0.0, 0.0);
        for (i, pc) in chunk.iter().enumerate() {
            let (col, row) = ((i % 2) as f32, (i / 2) as f32);
            let x = left + col * (CARD_W + col_gap);
            let y = ph - top - CARD_H - row * (CARD_H + row_gap);
            card(&mut c, pc, x, y, base_url, business);
        }
        let data = c.finish();
        pdf.stream(*content_id, &data);
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::card::{CardNumber, CardToken};

    #[test]
    fn eleven_cards_make_two_a4_pages() {
        let card = PrintCard {
            number: CardNumber::parse("412345678905").unwrap(),
            token: CardToken::from_random([7; 16]),
        };
        let cards = vec![card; 11];
        let pdf = render(&cards, Paper::A4, "https://x.example", "Café Zoë");
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(
            text.matches("/Type /Page\n").count()
                + text.matches("/Type /Page ").count()
                + text.matches("/Type /Page/").count(),
            2
        );
        assert!(text.contains("/Count 2"));
    }
}
