//! QR codes and Code 128 barcodes as SVG, drawn on the server: a phone camera or a till
//! scanner reads them from a screen or a printed card.

use crate::domain::card::CardNumber;
use maud::{Markup, PreEscaped, html};

/// Modules of empty margin around a QR code, as the standard asks.
const QUIET: usize = 4;

/// A QR code's dark modules: its width and a row-major grid.
pub fn qr_modules(text: &str) -> Option<(usize, Vec<bool>)> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Some((code.width(), dark))
}

/// Code 128 (character set C, digits in pairs) of a card number: 1 is a bar, 0 a space, one module each.
pub fn barcode_modules(number: &CardNumber) -> Option<Vec<u8>> {
    barcoders::sym::code128::Code128::new(format!("\u{0106}{}", number.as_str()))
        .ok()
        .map(|c| c.encode())
}

/// A QR code of `text` as an SVG; `id` and `class` let pages and tests find it.
pub fn qr_svg(text: &str, id: Option<&str>, class: &str, label: &str) -> Markup {
    let Some((width, dark)) = qr_modules(text) else {
        return html! {};
    };
    let size = width + 2 * QUIET;
    let mut path = String::new();
    for (i, d) in dark.iter().enumerate() {
        if *d {
            let (x, y) = (i % width + QUIET, i / width + QUIET);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    html! {
        svg id=[id] class=(class) role="img" aria-label=(label) viewBox={ "0 0 " (size) " " (size) }
            shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg" {
            rect width=(size) height=(size) fill="#fff" {}
            path d=(PreEscaped(path)) fill="#000" {}
        }
    }
}

/// A Code 128 barcode of a card number as an SVG, with quiet zones of ten modules.
pub fn barcode_svg(number: &CardNumber, id: Option<&str>, class: &str) -> Markup {
    let Some(bars) = barcode_modules(number) else {
        return html! {};
    };
    let quiet = 10;
    let width = bars.len() + 2 * quiet;
    let mut path = String::new();
    for (i, b) in bars.iter().enumerate() {
        if *b == 1 {
            path.push_str(&format!("M{} 0h1v40h-1z", i + quiet));
        }
    }
    html! {
        svg id=[id] class=(class) role="img" aria-label={ "Barcode of card " (number.as_str()) }
            viewBox={ "0 0 " (width) " 40" } preserveAspectRatio="none"
            shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg" {
            rect width=(width) height="40" fill="#fff" {}
            path d=(PreEscaped(path)) fill="#000" {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn codes_are_drawn_for_card_urls_and_numbers() {
        let (w, dark) = qr_modules("https://rewards.example.com/c/AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(dark.len(), w * w);
        assert!(dark.iter().any(|d| *d));
        let card = CardNumber::parse("412345678905").unwrap();
        let bars = barcode_modules(&card).unwrap();
        // Start C (11) + 6 digit pairs (6 x 11) + check (11) + stop (13).
        assert_eq!(bars.len(), 11 + 66 + 11 + 13);
        let svg = barcode_svg(&card, Some("b"), "barcode").into_string();
        assert!(svg.contains("id=\"b\""));
    }
}
