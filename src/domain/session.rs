//! Log-in sessions: who is signed in, until when, and the token their forms must carry.

use time::{Duration, OffsetDateTime};

/// How long a session lasts after log-in: a long shift, not a week.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Principal {
    /// A staff account of the admin pages.
    Staff {
        /// The account's username.
        username: String,
    },
    /// A customer signed in to their account page.
    Member {
        /// The member's id.
        member_id: String,
    },
}

/// A stored session; the cookie holds a secret whose hash is the session's key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Who is signed in.
    pub principal: Principal,
    /// The anti-CSRF token every form of this session carries.
    pub csrf: String,
    /// When the session began.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl Session {
    /// A session starting `now`.
    pub fn start(principal: Principal, csrf: String, now: OffsetDateTime) -> Self {
        Self {
            principal,
            csrf,
            created_at: now,
            expires_at: now + SESSION_LIFETIME,
        }
    }

    /// Whether the session still works at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }

    /// The staff username, for staff sessions.
    pub fn staff_username(&self) -> Option<&str> {
        match &self.principal {
            Principal::Staff { username } => Some(username),
            Principal::Member { .. } => None,
        }
    }

    /// The member id, for customer sessions.
    pub fn member_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::Member { member_id } => Some(member_id),
            Principal::Staff { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_after_their_lifetime() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let s = Session::start(
            Principal::Staff {
                username: "ann".into(),
            },
            "c".into(),
            t0,
        );
        assert!(s.is_live(t0 + Duration::hours(11)));
        assert!(!s.is_live(t0 + SESSION_LIFETIME));
    }
}
