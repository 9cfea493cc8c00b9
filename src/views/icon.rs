//! The home-screen icon, drawn in the business's colour: a stamp-card ring on a coloured square.

use bytes::Bytes;
use std::sync::{Arc, Mutex, PoisonError};

/// Icons kept: one per size the pages link to.
const KEPT: usize = 2;

/// Icons drawn once per colour and size: anyone may ask for them, and drawing one costs
/// milliseconds. A new colour replaces the icons of the old one, so a few are held at most.
#[derive(Debug, Clone, Default)]
pub struct Icons(Arc<Mutex<Vec<(String, u32, Bytes)>>>);

impl Icons {
    /// The icon of `size` pixels in `colour`, drawn now unless kept.
    pub fn get(&self, colour: &str, size: u32) -> Result<Bytes, png::EncodingError> {
        let hit = |(c, s, _): &&(String, u32, Bytes)| c == colour && *s == size;
        if let Some((_, _, icon)) = self.lock().iter().find(hit) {
            return Ok(icon.clone());
        }
        let drawn = Bytes::from(png(colour, size)?);
        let mut kept = self.lock();
        kept.retain(|(c, s, _)| c == colour && *s != size);
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((colour.to_owned(), size, drawn.clone()));
        Ok(drawn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, u32, Bytes)>> {
        // Every change under the lock is one call on the vector: a panic leaves it whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A square PNG of `size` pixels in `colour` (`#rrggbb`).
pub fn png(colour: &str, size: u32) -> Result<Vec<u8>, png::EncodingError> {
    let hex = |i: usize| u8::from_str_radix(colour.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    let brand = [hex(1), hex(3), hex(5)];
    let s = size as f32;
    let (outer, inner) = (s * 0.34, s * 0.24);
    let mut pixels = Vec::with_capacity((size * size * 3) as usize);
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x as f32 + 0.5 - s / 2.0, y as f32 + 0.5 - s / 2.0);
            let d = (dx * dx + dy * dy).sqrt();
            let ring = d <= outer && d >= inner;
            let dot = d <= s * 0.1;
            pixels.extend_from_slice(if ring || dot {
                &[255, 255, 255]
            } else {
                &brand
            });
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, size, size);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&pixels)?;
    w.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    #[test]
    fn icons_are_pngs_of_the_asked_size() {
        let bytes = super::png("#1f5f8b", 192).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 192);
    }

    #[test]
    fn icons_are_drawn_once_per_colour_and_size_and_a_few_are_kept() {
        let icons = super::Icons::default();
        let small = icons.get("#1f5f8b", 192).unwrap();
        assert_eq!(small, super::png("#1f5f8b", 192).unwrap());
        // Bytes from a kept icon share its memory.
        assert_eq!(icons.get("#1f5f8b", 192).unwrap().as_ptr(), small.as_ptr());
        icons.get("#1f5f8b", 512).unwrap();
        let red = icons.get("#aa0000", 192).unwrap();
        assert_eq!(red, super::png("#aa0000", 192).unwrap());
        assert!(icons.lock().len() <= super::KEPT);
        assert!(icons.lock().iter().all(|(c, _, _)| c == "#aa0000"));
    }
}
