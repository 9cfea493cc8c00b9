//! Staff accounts for the admin pages.

use super::DomainError;

/// A staff username: 1 to 32 of a-z, 0-9, `.`, `_`, `-`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Parses a username.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty()
            || s.len() > 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            return Err(DomainError::invalid(
                "username",
                "must be 1 to 32 letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(Self(s))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a staff member may do in the admin pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including settings, staff and API keys.
    Owner,
    /// Members and points.
    Staff,
}

impl Role {
    /// Parses `owner` or `staff`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "owner" => Ok(Self::Owner),
            "staff" => Ok(Self::Staff),
            _ => Err(DomainError::invalid("role", "must be owner or staff")),
        }
    }
}

/// A password as typed; checked for length only, since long passphrases beat rules.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts 10 to 1024 characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        if n < 10 {
            return Err(DomainError::invalid(
                "password",
                "must be at least 10 characters",
            ));
        }
        if n > 1024 {
            return Err(DomainError::invalid("password", "is too long"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password text, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A stored staff account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaffUser {
    /// Log-in name.
    pub username: Username,
    /// Owner or staff.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// When the account was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercase_and_plain() {
        assert_eq!(
            Username::parse(" Anna.B ").map(|u| u.0),
            Ok("anna.b".into())
        );
        assert!(Username::parse("anna b").is_err());
        assert!(Username::parse("").is_err());
    }

    #[test]
    fn passwords_have_a_minimum_length_and_hide_in_debug() {
        assert!(Password::parse("short").is_err());
        let p = Password::parse("correct horse battery");
        assert_eq!(
            p.map(|p| format!("{p:?}")).ok(),
            Some("Password([redacted])".into())
        );
    }
}
