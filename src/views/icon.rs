//! The home-screen icon, drawn in the business's colour: a stamp-card ring on a coloured square.

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
}
