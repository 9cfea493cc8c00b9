//! The one error type of the domain layer.

/// A rule was broken; each variant has a stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field's value is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field, as named in requests.
        field: &'static str,
        /// What is wrong with it, for a person.
        message: String,
    },
    /// The named thing does not exist.
    #[error("{} not found.", super::words::sentence_start(.0))]
    NotFound(&'static str),
    /// A redemption or negative change would take the balance below zero.
    #[error("Not enough points: the balance is {balance}, the change is {change}.")]
    InsufficientPoints {
        /// The balance before the change.
        balance: i64,
        /// The change that was refused.
        change: i64,
    },
    /// The entry was reversed already.
    #[error("Entry {0} has already been reversed.")]
    AlreadyReversed(u64),
    /// Reversals themselves cannot be reversed.
    #[error("Entry {0} is a reversal and cannot be reversed.")]
    NotReversible(u64),
    /// The member is blocked and cannot earn or redeem.
    #[error("This member is blocked.")]
    MemberBlocked,
    /// The member's account was erased: it is closed to every change of points.
    #[error("This member's account was erased; its points cannot change.")]
    MemberErased,
    /// The reward is not active.
    #[error("This reward is not offered any more.")]
    RewardInactive,
    /// A unique value is taken by another record.
    #[error("{} is already in use.", super::words::sentence_start(.what))]
    Taken {
        /// What is taken, e.g. "email".
        what: &'static str,
    },
    /// The same idempotency key was used with a different request.
    #[error("This Idempotency-Key was used with a different request.")]
    IdempotencyMismatch,
    /// A number left the range points and money can hold.
    #[error("The amount is too large.")]
    Overflow,
}

impl DomainError {
    /// Shorthand for an invalid field; the message is made a sentence here, once, so every
    /// page and API answer shows it with a capital letter and a full stop.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: super::words::sentence(&message.into()),
        }
    }

    /// The stable machine-readable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::NotFound(_) => "not_found",
            Self::InsufficientPoints { .. } => "insufficient_points",
            Self::AlreadyReversed(_) => "already_reversed",
            Self::NotReversible(_) => "not_reversible",
            Self::MemberBlocked => "member_blocked",
            Self::MemberErased => "member_erased",
            Self::RewardInactive => "reward_inactive",
            Self::Taken { .. } => "already_in_use",
            Self::IdempotencyMismatch => "idempotency_key_reused",
            Self::Overflow => "overflow",
        }
    }
}
