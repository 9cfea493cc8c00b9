//! The logo made ready for a PDF: decoded from PNG to plain samples, shrunk to what a card
//! prints, with its transparency kept as a separate mask.

use std::io::Cursor;

/// Pixels the decoder may read at most: a 256 KiB file can hold a huge flat image, and this
/// bounds the memory one PDF takes whatever was uploaded.
const MAX_PIXELS: u64 = 4_000_000;
/// The most pixels the printed logo keeps across and down (10 mm tall at 600 dpi is ~240).
const MAX_SIDE: u32 = 480;

/// A decoded logo: 8-bit RGB samples and, when it has transparency, 8-bit alpha.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoImage {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Red, green, blue per pixel, row by row.
    pub rgb: Vec<u8>,
    /// Opacity per pixel, when any pixel is not opaque.
    pub alpha: Option<Vec<u8>>,
}

/// Decodes a PNG logo, or `None` when it cannot be read or is too large to decode.
pub fn from_png(bytes: &[u8]) -> Option<LogoImage> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().ok()?;
    let (w, h) = reader.info().size();
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return None;
    }
    let mut buf = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut buf).ok()?;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return None,
    };
    let stride = frame.line_size;
    // Nearest-neighbour: every `step`-th pixel, enough for a logo a centimetre tall.
    let step = w.max(h).div_ceil(MAX_SIDE).max(1);
    let (out_w, out_h) = (w.div_ceil(step), h.div_ceil(step));
    let mut rgb = Vec::with_capacity(out_w as usize * out_h as usize * 3);
    let mut alpha = Vec::with_capacity(out_w as usize * out_h as usize);
    for y in (0..h).step_by(step as usize) {
        let row = buf.get(y as usize * stride..)?;
        for x in (0..w).step_by(step as usize) {
            let px = row.get(x as usize * channels..x as usize * channels + channels)?;
            let (colour, a) = match px {
                [g] => ([*g, *g, *g], 255),
                [g, a] => ([*g, *g, *g], *a),
                [r, g, b] => ([*r, *g, *b], 255),
                [r, g, b, a] => ([*r, *g, *b], *a),
                _ => return None,
            };
            rgb.extend_from_slice(&colour);
            alpha.push(a);
        }
    }
    let alpha = alpha.iter().any(|a| *a != 255).then_some(alpha);
    Some(LogoImage {
        width: out_w,
        height: out_h,
        rgb,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    fn png(w: u32, h: u32, colour: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(colour);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(data).unwrap();
        out
    }

    #[test]
    fn an_opaque_logo_has_no_mask_and_a_transparent_one_keeps_it() {
        let opaque = from_png(&png(2, 1, png::ColorType::Rgb, &[255, 0, 0, 0, 0, 255])).unwrap();
        assert_eq!((opaque.width, opaque.height), (2, 1));
        assert_eq!(opaque.rgb, vec![255, 0, 0, 0, 0, 255]);
        assert_eq!(opaque.alpha, None);
        let clear = from_png(&png(1, 1, png::ColorType::GrayscaleAlpha, &[9, 0])).unwrap();
        assert_eq!(clear.rgb, vec![9, 9, 9]);
        assert_eq!(clear.alpha, Some(vec![0]));
    }

    #[test]
    fn a_large_logo_is_shrunk_and_a_huge_or_broken_one_left_out() {
        let big = from_png(&png(960, 10, png::ColorType::Grayscale, &vec![0; 9600])).unwrap();
        assert_eq!((big.width, big.height), (480, 5));
        assert_eq!(from_png(b"\x89PNG\r\n\x1a\nnot really"), None);
        let huge = png(3000, 2000, png::ColorType::Grayscale, &vec![0; 6_000_000]);
        assert_eq!(from_png(&huge), None);
    }
}
