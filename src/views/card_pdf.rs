//! The card sheet as a PDF, drawn with the same geometry as the print page: QR modules and
//! barcode bars as filled rectangles, text in the PDF's built-in Helvetica (nothing embedded).

use super::admin::cards::{Brand, Paper, PrintCard, SCAN_LINE};
use super::codes::{barcode_modules, qr_modules};
use super::pdf_logo::LogoImage;
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

/// The band across the card's top, in mm.
const BAND_H: f32 = 14.0;
/// The logo's largest height and width in the band, in mm.
const LOGO_H: f32 = 10.0;
const LOGO_W: f32 = 22.0;

/// The logo's printed width and height in mm, its shape kept.
fn logo_size(logo: &LogoImage) -> (f32, f32) {
    let aspect = logo.width as f32 / logo.height.max(1) as f32;
    if LOGO_H * aspect > LOGO_W {
        (LOGO_W, LOGO_W / aspect)
    } else {
        (LOGO_H * aspect, LOGO_H)
    }
}

/// `text` cut with dots to about `width_mm` at `size` pt of Helvetica (whose letters
/// average about half their size across).
fn fit(text: &str, width_mm: f32, size: f32) -> String {
    let per_char = size * 0.55 / PT_PER_MM;
    let room = (width_mm / per_char).max(1.0) as usize;
    if text.chars().count() <= room {
        text.to_owned()
    } else {
        // Three dots: the ellipsis character is outside Latin-1, which is all `latin1` keeps.
        let cut: String = text.chars().take(room.saturating_sub(3)).collect();
        format!("{}...", cut.trim_end())
    }
}

/// The band in the brand colour across the card's top, the logo and the business name on it.
fn band(c: &mut Content, brand: &Brand, logo: Option<&LogoImage>, x: f32, y: f32) {
    let pad = 3.5;
    let bottom = y + CARD_H - BAND_H;
    let [r, g, b] = brand.rgb();
    c.set_fill_rgb(r, g, b);
    c.rect(mm(x), mm(bottom), mm(CARD_W), mm(BAND_H));
    c.fill_nonzero();
    let mut text_x = x + pad;
    if let Some(logo) = logo {
        let (w, h) = logo_size(logo);
        c.save_state();
        c.transform([
            mm(w),
            0.0,
            0.0,
            mm(h),
            mm(text_x),
            mm(bottom + (BAND_H - h) / 2.0),
        ]);
        c.x_object(Name(b"Logo"));
        c.restore_state();
        text_x += w + 2.5;
    }
    let ink = if brand.dark_text() { 0.0 } else { 1.0 };
    c.set_fill_rgb(ink, ink, ink);
    let size = 12.0;
    c.begin_text();
    c.set_font(Name(b"F1"), size);
    // The baseline a third of a letter below the middle, so capitals sit centred on the band.
    c.next_line(mm(text_x), mm(bottom + BAND_H / 2.0) - size * 0.35);
    let name = fit(&brand.name, x + CARD_W - pad - text_x, size);
    c.show(Str(&latin1(&name)));
    c.end_text();
    c.set_fill_rgb(0.0, 0.0, 0.0);
}

/// Draws one card whose bottom-left corner is at (`x`, `y`) mm.
fn card(
    c: &mut Content,
    card: &PrintCard,
    (x, y): (f32, f32),
    base_url: &str,
    brand: &Brand,
    logo: Option<&LogoImage>,
) {
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
    band(c, brand, logo, x, y);

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
    c.set_font(Name(b"F1"), 9.0);
    c.next_line(mm(tx), mm(y + pad + 19.0));
    c.show(Str(SCAN_LINE.as_bytes()));
    c.end_text();
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

/// Every card on as many pages as they need, in the brand's colour with its logo when given.
pub fn render(
    cards: &[PrintCard],
    paper: Paper,
    base_url: &str,
    brand: &Brand,
    logo: Option<&LogoImage>,
) -> Vec<u8> {
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
    // One image for every card on every page.
    let next = i32::try_from(4 + 2 * ids.len()).unwrap_or(i32::MAX - 1);
    let (image, mask) = (Ref::new(next), Ref::new(next + 1));
    if let Some(l) = logo {
        let (w, h) = (
            i32::try_from(l.width).unwrap_or(1),
            i32::try_from(l.height).unwrap_or(1),
        );
        let mut xo = pdf.image_xobject(image, &l.rgb);
        xo.width(w).height(h).bits_per_component(8);
        xo.color_space_name(Name(b"DeviceRGB"));
        if l.alpha.is_some() {
            xo.s_mask(mask);
        }
        xo.finish();
        if let Some(alpha) = &l.alpha {
            let mut m = pdf.image_xobject(mask, alpha);
            m.width(w).height(h).bits_per_component(8);
            m.color_space_name(Name(b"DeviceGray"));
            m.finish();
        }
    }
    for (chunk, (page_id, content_id)) in pages.iter().zip(&ids) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, mm(pw), mm(ph)));
        page.parent(tree);
        page.contents(*content_id);
        let mut resources = page.resources();
        resources.fonts().pair(Name(b"F1"), font);
        if logo.is_some() {
            resources.x_objects().pair(Name(b"Logo"), image);
        }
        resources.finish();
        page.finish();

        let mut c = Content::new();
        c.set_fill_rgb(0.0, 0.0, 0.0);
        for (i, pc) in chunk.iter().enumerate() {
            let (col, row) = ((i % 2) as f32, (i / 2) as f32);
            let x = left + col * (CARD_W + col_gap);
            let y = ph - top - CARD_H - row * (CARD_H + row_gap);
            card(&mut c, pc, (x, y), base_url, brand, logo);
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
        let brand = Brand {
            name: "Café Zoë".into(),
            palette: crate::domain::contrast::Palette::for_brand(
                crate::domain::contrast::Rgb::new(0xf2, 0x8c, 0x28),
            ),
            logo: true,
        };
        let logo = LogoImage {
            width: 2,
            height: 1,
            rgb: vec![0; 6],
            alpha: Some(vec![255, 0]),
        };
        let pdf = render(&cards, Paper::A4, "https://x.example", &brand, Some(&logo));
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(
            text.matches("/Type /Page\n").count()
                + text.matches("/Type /Page ").count()
                + text.matches("/Type /Page/").count(),
            2
        );
        assert!(text.contains("/Count 2"));
        assert!(text.contains("/SMask"), "the logo's transparency is kept");
        assert_eq!(
            text.matches("/Subtype /Image").count(),
            2,
            "one logo and its mask"
        );
        assert!(text.contains(SCAN_LINE));
    }

    #[test]
    fn a_long_name_is_cut_to_the_band_and_the_logo_keeps_its_shape() {
        assert_eq!(fit("Café", 50.0, 12.0), "Café");
        let cut = fit(&"Bakery ".repeat(10), 50.0, 12.0);
        assert!(cut.ends_with("...") && cut.chars().count() < 30, "{cut}");
        let wide = LogoImage {
            width: 400,
            height: 100,
            rgb: Vec::new(),
            alpha: None,
        };
        assert_eq!(logo_size(&wide), (22.0, 5.5));
        let tall = LogoImage {
            width: 100,
            height: 200,
            ..wide
        };
        assert_eq!(logo_size(&tall), (5.0, 10.0));
    }
}
