//! Colour contrast (WCAG 2.x): which text colour stays readable on the brand colour, and a
//! darker shade of it for links and focus rings on light pages.

/// A colour in sRGB, 8 bits a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

/// White, the light text colour.
pub const WHITE: Rgb = Rgb::new(0xff, 0xff, 0xff);
/// The near black used as the dark text colour.
pub const NEAR_BLACK: Rgb = Rgb::new(0x11, 0x11, 0x11);
/// The page background links and rings sit on (`--bg` in the stylesheet; white cards are lighter).
pub const PAGE: Rgb = Rgb::new(0xf6, 0xf7, 0xf9);

/// Text needs 4.5:1 against its background (WCAG 1.4.3, level AA).
pub const TEXT_RATIO: f64 = 4.5;
/// Borders, focus rings and bars need 3:1 (WCAG 1.4.11, level AA).
pub const GRAPHIC_RATIO: f64 = 3.0;

impl Rgb {
    /// The colour with these channels.
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// Reads `#rrggbb` (case-insensitive).
    pub fn from_hex(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.is_ascii() {
            return None;
        }
        let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        Some(Self::new(channel(0)?, channel(2)?, channel(4)?))
    }

    /// `#rrggbb`, lower case.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }

    /// WCAG relative luminance: 0 for black, 1 for white.
    pub fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.r) + 0.7152 * linear(self.g) + 0.0722 * linear(self.b)
    }

    /// This colour moved `share` (0 to 1) of the way to black, hue kept.
    fn darker(self, share: f64) -> Self {
        let keep = (1.0 - share).clamp(0.0, 1.0);
        // Channels stay within 0..=255: a u8 times a factor in 0..=1, rounded.
        let scale = |c: u8| (f64::from(c) * keep).round().clamp(0.0, 255.0) as u8;
        Self::new(scale(self.r), scale(self.g), scale(self.b))
    }
}

/// The WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white).
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    let (light, dark) = if la >= lb { (la, lb) } else { (lb, la) };
    (light + 0.05) / (dark + 0.05)
}

/// The first shade of `colour`, darkening in small steps, that reaches `ratio` against
/// `background` (black always does for a light background).
pub fn darkened_until(colour: Rgb, background: Rgb, ratio: f64) -> Rgb {
    const STEPS: u32 = 100;
    (0..=STEPS)
        .map(|i| colour.darker(f64::from(i) / f64::from(STEPS)))
        .find(|c| contrast(*c, background) >= ratio)
        .unwrap_or(Rgb::new(0, 0, 0))
}

/// How the pages use a brand colour so that everything on or around it stays readable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Palette {
    /// The colour the business chose.
    pub brand: Rgb,
    /// The background of the header bar, buttons and progress: the brand colour itself when a
    /// text colour reaches 4.5:1 on it, otherwise a darker shade that white text reaches it on.
    pub fill: Rgb,
    /// Text on `fill`: near black or white, whichever contrasts more.
    pub on_fill: Rgb,
    /// Links and focus rings on the light page: the brand colour darkened to 4.5:1 there.
    pub link: Rgb,
}

impl Palette {
    /// The palette for `brand`.
    pub fn for_brand(brand: Rgb) -> Self {
        let best_text = |fill: Rgb| {
            if contrast(WHITE, fill) >= contrast(NEAR_BLACK, fill) {
                WHITE
            } else {
                NEAR_BLACK
            }
        };
        let text = best_text(brand);
        let fill = if contrast(text, brand) >= TEXT_RATIO {
            brand
        } else {
            darkened_until(brand, WHITE, TEXT_RATIO)
        };
        Self {
            brand,
            fill,
            on_fill: best_text(fill),
            link: darkened_until(brand, PAGE, TEXT_RATIO),
        }
    }

    /// Whether the brand colour is used as chosen (false: `fill` replaces it on bars and buttons).
    pub fn brand_is_readable(&self) -> bool {
        self.fill == self.brand
    }

    /// The contrast of the text on the header bar and buttons.
    pub fn text_ratio(&self) -> f64 {
        contrast(self.on_fill, self.fill)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;

    fn hex(s: &str) -> Rgb {
        Rgb::from_hex(s).expect("a #rrggbb colour")
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn luminance_and_ratio_match_the_wcag_definition() {
        assert!(near(WHITE.luminance(), 1.0));
        assert!(near(Rgb::new(0, 0, 0).luminance(), 0.0));
        assert!(near(contrast(WHITE, Rgb::new(0, 0, 0)), 21.0));
        assert!(near(contrast(WHITE, WHITE), 1.0));
        // Known pairs: the default brand, an orange, the light yellow, the lightest AA grey.
        assert!(
            near(contrast(WHITE, hex("#1f5f8b")), 6.84),
            "{}",
            contrast(WHITE, hex("#1f5f8b"))
        );
        assert!(
            near(contrast(WHITE, hex("#f28c28")), 2.45),
            "{}",
            contrast(WHITE, hex("#f28c28"))
        );
        assert!(
            near(contrast(WHITE, hex("#f4c542")), 1.63),
            "{}",
            contrast(WHITE, hex("#f4c542"))
        );
        assert!(near(contrast(hex("#767676"), WHITE), 4.54));
        // Order does not matter.
        assert_eq!(
            contrast(hex("#f4c542"), WHITE),
            contrast(WHITE, hex("#f4c542"))
        );
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_a_colour() {
        assert_eq!(hex("#F4C542").hex(), "#f4c542");
        for bad in ["f4c542", "#f4c54", "#f4c5422", "#g4c542", "#ééé"] {
            assert_eq!(Rgb::from_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_on_the_brand_is_white_on_dark_and_near_black_on_light_colours() {
        let dark = Palette::for_brand(hex("#1f5f8b"));
        assert_eq!((dark.fill, dark.on_fill), (hex("#1f5f8b"), WHITE));
        let light = Palette::for_brand(hex("#f4c542"));
        assert_eq!((light.fill, light.on_fill), (hex("#f4c542"), NEAR_BLACK));
        let orange = Palette::for_brand(hex("#f28c28"));
        assert_eq!(orange.on_fill, NEAR_BLACK);
        for p in [dark, light, orange] {
            assert!(p.brand_is_readable());
            assert!(p.text_ratio() >= TEXT_RATIO, "{p:?}");
        }
    }

    #[test]
    fn a_colour_neither_text_reads_on_is_replaced_by_a_darker_shade() {
        // Mid colours: white and near black both stay under 4.5:1.
        for mid in ["#797979", "#d9480f", "#2b8a3e", "#0c8599"] {
            let p = Palette::for_brand(hex(mid));
            assert!(
                contrast(WHITE, p.brand) < TEXT_RATIO && contrast(NEAR_BLACK, p.brand) < TEXT_RATIO,
                "{mid} is not a mid colour"
            );
            assert!(!p.brand_is_readable(), "{mid}");
            assert!(p.text_ratio() >= TEXT_RATIO, "{mid}: {p:?}");
            assert!(p.fill.luminance() < p.brand.luminance(), "{mid}");
        }
    }

    #[test]
    fn links_are_darkened_only_as_far_as_needed() {
        for c in [
            "#f4c542", "#f28c28", "#ffffff", "#1f5f8b", "#000000", "#5a2a82",
        ] {
            let p = Palette::for_brand(hex(c));
            assert!(contrast(p.link, PAGE) >= TEXT_RATIO, "{c}: {p:?}");
            assert!(contrast(p.link, WHITE) >= TEXT_RATIO, "{c}: {p:?}");
            assert!(contrast(p.link, PAGE) >= GRAPHIC_RATIO);
        }
        // A dark brand colour is used for links as it is.
        assert_eq!(Palette::for_brand(hex("#1f5f8b")).link, hex("#1f5f8b"));
        // A light one is darkened, keeping its hue (red stays the strongest channel).
        let link = Palette::for_brand(hex("#f4c542")).link;
        assert_ne!(link, hex("#f4c542"));
        assert!(link.r >= link.g && link.g >= link.b, "{link:?}");
    }
}
