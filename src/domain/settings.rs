//! The business's settings.

use super::DomainError;
use super::contrast::{Palette, Rgb};
use super::earning::EarningRule;
use super::money::Currency;
use super::text::clean;

/// Settings that shape what members see and how they earn.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Shown on cards and pages.
    pub business_name: String,
    /// The currency purchase amounts are in.
    pub currency: Currency,
    /// How purchase amounts become points.
    pub earning: EarningRule,
    /// Where dates and hours are shown (added in schema v3; older rows read as UTC).
    #[serde(default)]
    pub time_zone: TimeZoneName,
    /// The business's colour on the customer pages.
    #[serde(default)]
    pub brand_colour: Colour,
    /// The uploaded logo's type, if there is one.
    #[serde(default)]
    pub logo: Option<LogoType>,
    /// Whether customers may join on their own at `/join`.
    #[serde(default = "yes")]
    pub self_signup: bool,
    /// The marketing consent sentence customers see; stored with each consent given.
    #[serde(default = "default_consent_wording")]
    pub consent_wording: String,
    /// Who gets owner alerts by email.
    #[serde(default)]
    pub alert_emails: super::alerts::Recipients,
    /// Where owner alerts are posted.
    #[serde(default)]
    pub alert_webhook: Option<super::alerts::WebhookUrl>,
    /// What body the webhook gets.
    #[serde(default)]
    pub alert_webhook_format: super::alerts::WebhookFormat,
    /// When points expire; `None`: never.
    #[serde(default)]
    pub expiry: Option<super::expiry::ExpiryPolicy>,
    /// Tiers and their earning multipliers (off by default).
    #[serde(default)]
    pub tiers: super::tiers::TierSettings,
    /// Referral points (off by default).
    #[serde(default)]
    pub referrals: super::referral::ReferralSettings,
    /// Birthday points (off by default).
    #[serde(default)]
    pub birthday: super::birthday::BirthdaySettings,
    /// Bonus campaigns, at most `campaigns::MAX_CAMPAIGNS` (none by default).
    #[serde(default)]
    pub campaigns: Vec<super::campaigns::Campaign>,
    /// Email notices to members (all off by default).
    #[serde(default)]
    pub notices: super::notices::NoticeSettings,
}

fn yes() -> bool {
    true
}

fn default_consent_wording() -> String {
    "Send me news and offers by email or text message. I can stop this at any time.".to_owned()
}

/// Parses the consent sentence: 10 to 300 characters.
pub fn parse_consent_wording(raw: &str) -> Result<String, DomainError> {
    let s = clean("consent_wording", raw, 300)?;
    if s.chars().count() < 10 {
        return Err(DomainError::invalid(
            "consent_wording",
            "must be a full sentence (at least 10 characters)",
        ));
    }
    Ok(s)
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            business_name: "My Business".to_owned(),
            currency: Currency::EUR,
            earning: EarningRule::default(),
            time_zone: TimeZoneName::default(),
            brand_colour: Colour::default(),
            logo: None,
            self_signup: true,
            consent_wording: default_consent_wording(),
            alert_emails: super::alerts::Recipients::default(),
            alert_webhook: None,
            alert_webhook_format: super::alerts::WebhookFormat::default(),
            expiry: None,
            tiers: super::tiers::TierSettings::default(),
            referrals: super::referral::ReferralSettings::default(),
            birthday: super::birthday::BirthdaySettings::default(),
            campaigns: Vec::new(),
            notices: super::notices::NoticeSettings::default(),
        }
    }
}

/// Parses a business name: 1 to 80 characters.
pub fn parse_business_name(raw: &str) -> Result<String, DomainError> {
    clean("business_name", raw, 80)
}

/// Parses points per currency unit: 0 to 10 000.
pub fn parse_points_per_unit(n: i64) -> Result<u32, DomainError> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= 10_000)
        .ok_or_else(|| DomainError::invalid("points_per_unit", "must be between 0 and 10000"))
}

/// An IANA time zone name that the bundled time zone database knows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl Default for TimeZoneName {
    fn default() -> Self {
        Self("UTC".to_owned())
    }
}

impl TimeZoneName {
    /// Parses a name such as `Europe/Berlin`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) if !name.is_empty() => Ok(Self(name.to_owned())),
            _ => Err(DomainError::invalid(
                "time_zone",
                "must be a time zone name such as Europe/London or America/New_York",
            )),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's rules; UTC if the database no longer knows the name.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// A colour as `#rrggbb`, lower case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Colour(String);

impl Default for Colour {
    fn default() -> Self {
        Self("#1f5f8b".to_owned())
    }
}

impl Colour {
    /// Parses `#rrggbb` (the value an HTML colour input sends).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_ascii_lowercase();
        let ok =
            s.len() == 7 && s.starts_with('#') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(DomainError::invalid(
                "brand_colour",
                "must be a colour written as #rrggbb",
            ));
        }
        Ok(Self(s))
    }

    /// The `#rrggbb` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How the pages use this colour so that text on and around it stays readable.
    pub fn palette(&self) -> Palette {
        // Parsing made it `#rrggbb`; the default is only there for a value stored by hand.
        let rgb = Rgb::from_hex(&self.0).unwrap_or(Rgb::new(0x1f, 0x5f, 0x8b));
        Palette::for_brand(rgb)
    }
}

/// The image types a logo may have, told apart by their first bytes, not by what the browser claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogoType {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

/// The largest logo accepted.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

impl LogoType {
    /// Checks an uploaded logo's size and type. SVG is refused: it can carry script.
    pub fn sniff(bytes: &[u8]) -> Result<Self, DomainError> {
        if bytes.is_empty() {
            return Err(DomainError::invalid("logo", "choose an image file"));
        }
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(DomainError::invalid(
                "logo",
                format!("must be at most {} KiB", MAX_LOGO_BYTES / 1024),
            ));
        }
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Ok(Self::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Ok(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Ok(Self::Webp)
        } else {
            Err(DomainError::invalid(
                "logo",
                "must be a PNG, JPEG or WebP image",
            ))
        }
    }

    /// The MIME type to serve it with.
    pub fn mime(&self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_checked_against_the_database() {
        assert!(TimeZoneName::parse("Europe/Berlin").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("").is_err());
    }

    #[test]
    fn colours_are_hex_triplets() {
        assert_eq!(Colour::parse("#AABBCC").map(|c| c.0), Ok("#aabbcc".into()));
        assert!(Colour::parse("red").is_err());
        assert!(Colour::parse("#abc").is_err());
    }

    #[test]
    fn logos_are_sniffed_not_trusted() {
        assert_eq!(LogoType::sniff(b"\x89PNG\r\n\x1a\n...."), Ok(LogoType::Png));
        assert_eq!(LogoType::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(LogoType::Webp));
        assert!(LogoType::sniff(b"<svg onload=alert(1)>").is_err());
        assert!(LogoType::sniff(&vec![0xff; MAX_LOGO_BYTES + 1]).is_err());
    }
}
