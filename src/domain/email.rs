//! Email addresses, normalised so that one person has one key.

use super::DomainError;

/// A lower-cased, trimmed email address with a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321's path limit, less the brackets).
    pub const MAX_LEN: usize = 254;

    /// Parses an address: a local part of ASCII letters, digits and `!#$%&'*+-/=?^_`{|}~`,
    /// with single dots between them (at most 64 characters); one `@`; a domain of two or more
    /// dot-separated labels of ASCII letters, digits and inner hyphens (each at most 63
    /// characters); at most 254 characters in all. No spaces, quotes, brackets, `<>()[]\,;:"`
    /// or control and format characters anywhere, so an address is also safe to show and to put
    /// in a header. ASCII only: few mail systems deliver to internationalised local parts, an
    /// internationalised domain is typed in its `xn--` form, and the rule can then be stated
    /// exactly in the API document.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::invalid("email", "is not a valid email address");
        let trimmed = raw.trim();
        if trimmed.len() > Self::MAX_LEN * 4 {
            return Err(bad());
        }
        let s = trimmed.to_lowercase();
        if s.chars().count() > Self::MAX_LEN {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if !local_part_ok(local) || !domain_ok(domain) {
            return Err(bad());
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn local_part_ok(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    !local.is_empty()
        && local.chars().count() <= 64
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext))
}

fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse(" Anna@Example.COM ").map(|e| e.0),
            Ok("anna@example.com".into())
        );
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "anna@example.com",
            "anna.lee+loyalty@mail.example.co.uk",
            "o'neil@example.ie",
            "user_1-x@sub-domain.example.com",
            "jorg@xn--bcher-kva.de",
        ] {
            assert_eq!(Email::parse(ok).map(|e| e.0), Ok(ok.to_owned()), "{ok}");
        }
        let longest = format!(
            "{}@{}.{}.{}.com",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(&longest).is_ok());
        assert!(Email::parse(&format!("e{longest}")).is_err());
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@b.com",
            "a@b..com",
            "x@x.com<script>",
            "<script>@x.com",
            "a\"b@x.com",
            "a(b)@x.com",
            "a[b]@x.com",
            "a\\b@x.com",
            "a,b@x.com",
            "a;b@x.com",
            "a:b@x.com",
            "a@b@x.com",
            ".a@x.com",
            "a.@x.com",
            "a..b@x.com",
            "a@-x.com",
            "a@x-.com",
            "a@x_y.com",
            "a@x.com.",
            "a\u{202E}b@x.com",
            "a@x\u{200B}.com",
            "a\u{0}@x.com",
            "jörg@bücher.de",
            "a@😍.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
