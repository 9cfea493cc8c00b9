//! The append-only points ledger: entry kinds, balance rules and the hash chain.

use super::DomainError;
use super::actor::Actor;
use super::ledger_hash::HashInput;
use super::money::Money;
use time::OffsetDateTime;

/// The largest number of points one entry or one reward may move.
pub const MAX_POINTS: i64 = 1_000_000_000_000;

/// The largest purchase amount, in minor units, one entry may earn points for.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// A SHA-256 link of the hash chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryHash(pub [u8; 32]);

impl EntryHash {
    /// The hash as lower-case hex, as exported and shown.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn parse_hex(raw: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(raw, &mut out).ok()?;
        Some(Self(out))
    }
}

impl std::fmt::Display for EntryHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The `prev_hash` of the first entry: all zeros.
pub const GENESIS_HASH: EntryHash = EntryHash([0; 32]);

/// What kind of change an entry is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Points for a purchase or an action.
    Earn,
    /// Points spent (negative).
    Redeem,
    /// A correction by staff, with a reason (either sign).
    Adjust,
    /// Points that lapsed (negative); reserved for an expiry policy.
    Expire,
    /// The exact opposite of an earlier entry.
    Reversal,
}

/// An entry's content: everything the hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBody {
    /// Global sequence number, from 1, without gaps.
    pub seq: u64,
    /// The member whose points moved.
    pub member_id: String,
    /// The kind of change.
    pub kind: EntryKind,
    /// Points added (positive) or taken (negative); never zero.
    pub points: i64,
    /// The member's balance after this entry.
    pub balance_after: i64,
    /// Why (required for adjustments).
    pub reason: Option<String>,
    /// Who made the change.
    pub source: Actor,
    /// An outside reference such as an order id.
    pub reference: Option<String>,
    /// The idempotency key the change was made with.
    pub idempotency_key: Option<String>,
    /// For a reversal: the entry it reverses.
    pub reverses: Option<u64>,
    /// For a redemption of a catalogue reward: the reward.
    pub reward_id: Option<String>,
    /// For earning by purchase: the amount.
    pub amount: Option<Money>,
    /// When the entry was made (UTC).
    pub created_at: OffsetDateTime,
}

/// A ledger entry with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The content.
    pub body: EntryBody,
    /// The previous entry's hash, or zeros for the first.
    pub prev_hash: EntryHash,
    /// SHA-256 over the frozen hash input of the previous hash and this entry's content.
    pub hash: EntryHash,
    /// Which frozen layout `hash` covers.
    pub hash_input: HashInput,
}

impl LedgerEntry {
    /// Seals `body` onto the chain after `prev_hash`, with the current hash input.
    pub fn seal(body: EntryBody, prev_hash: EntryHash) -> Self {
        let hash_input = HashInput::CURRENT;
        Self {
            hash: EntryHash(hash_input.hash(&prev_hash.0, &body)),
            body,
            prev_hash,
            hash_input,
        }
    }

    /// Whether this entry's hash matches its content and `prev_hash`.
    pub fn hash_is_valid(&self) -> bool {
        self.hash_input.hash(&self.prev_hash.0, &self.body) == self.hash.0
    }
}

/// A point change as asked for, before it meets a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointsChange {
    /// Add points (positive).
    Earn(i64),
    /// Spend points (positive amount; the entry is negative).
    Redeem(i64),
    /// Correct by any non-zero amount.
    Adjust(i64),
}

impl PointsChange {
    /// Checks the size of the change: earn and redeem take 1..=MAX_POINTS, adjust any non-zero within it.
    pub fn parse(kind: EntryKind, points: i64) -> Result<Self, DomainError> {
        let in_range = |p: i64| (1..=MAX_POINTS).contains(&p);
        match kind {
            EntryKind::Earn if in_range(points) => Ok(Self::Earn(points)),
            EntryKind::Redeem if in_range(points) => Ok(Self::Redeem(points)),
            EntryKind::Adjust if points != 0 && in_range(points.saturating_abs()) => {
                Ok(Self::Adjust(points))
            }
            EntryKind::Earn | EntryKind::Redeem => Err(DomainError::invalid(
                "points",
                format!("must be between 1 and {MAX_POINTS}"),
            )),
            EntryKind::Adjust => Err(DomainError::invalid(
                "points",
                format!("must be non-zero and at most {MAX_POINTS} either way"),
            )),
            EntryKind::Expire | EntryKind::Reversal => Err(DomainError::invalid(
                "kind",
                "must be earn, redeem or adjust",
            )),
        }
    }

    /// The entry kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            Self::Earn(_) => EntryKind::Earn,
            Self::Redeem(_) => EntryKind::Redeem,
            Self::Adjust(_) => EntryKind::Adjust,
        }
    }

    /// The signed points of the entry.
    pub fn signed(&self) -> i64 {
        match *self {
            Self::Earn(p) | Self::Adjust(p) => p,
            Self::Redeem(p) => -p,
        }
    }
}

/// A member's point totals and whether they may use the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Current balance.
    pub balance: i64,
    /// Lifetime earned.
    pub lifetime_earned: i64,
    /// Blocked members cannot earn or redeem.
    pub blocked: bool,
    /// Erased accounts are closed: they take no entry of any kind.
    pub erased: bool,
}

impl Account {
    /// The account after an entry of `kind` moving `points`; for a reversal, `reversed` is the original's kind.
    ///
    /// Refuses anything that would take the balance below zero.
    pub fn apply(
        &self,
        kind: EntryKind,
        points: i64,
        reversed: Option<EntryKind>,
    ) -> Result<Account, DomainError> {
        if points == 0 {
            return Err(DomainError::invalid("points", "must not be zero"));
        }
        if self.erased {
            return Err(DomainError::MemberErased);
        }
        if self.blocked && matches!(kind, EntryKind::Earn | EntryKind::Redeem) {
            return Err(DomainError::MemberBlocked);
        }
        let balance = self
            .balance
            .checked_add(points)
            .ok_or(DomainError::Overflow)?;
        if balance < 0 {
            return Err(DomainError::InsufficientPoints {
                balance: self.balance,
                change: points,
            });
        }
        let earned_part = match (kind, reversed) {
            (EntryKind::Earn, _) | (EntryKind::Reversal, Some(EntryKind::Earn)) => points,
            _ => 0,
        };
        let lifetime_earned = self
            .lifetime_earned
            .checked_add(earned_part)
            .ok_or(DomainError::Overflow)?;
        Ok(Account {
            balance,
            lifetime_earned,
            ..*self
        })
    }
}

/// Why points moved, as a person typed it: what an entry's `reason` is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    /// The longest reason, in characters.
    pub const MAX_CHARS: usize = 500;

    /// Parses a reason: 1 to 500 characters after trimming, no control or format characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        super::text::clean("reason", raw, Self::MAX_CHARS).map(Self)
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, for the entry.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Parses an entry's optional reason (see `Reason::parse`); adjustments must have one.
pub fn parse_reason(kind: EntryKind, raw: Option<&str>) -> Result<Option<Reason>, DomainError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Reason::parse(r).map(Some),
        None if kind == EntryKind::Adjust => Err(DomainError::invalid(
            "reason",
            "an adjustment needs a reason",
        )),
        None => Ok(None),
    }
}

/// Parses an outside reference such as an order id (up to 200 characters).
pub fn parse_reference(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    raw.map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| super::text::clean("reference", r, 200))
        .transpose()
}

/// Checks that `original` may be reversed, given whether it already was.
pub fn check_reversible(original: &EntryBody, already_reversed: bool) -> Result<(), DomainError> {
    if original.kind == EntryKind::Reversal {
        return Err(DomainError::NotReversible(original.seq));
    }
    if already_reversed {
        return Err(DomainError::AlreadyReversed(original.seq));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(balance: i64) -> Account {
        Account {
            balance,
            lifetime_earned: balance,
            blocked: false,
            erased: false,
        }
    }

    fn body(seq: u64, points: i64) -> EntryBody {
        EntryBody {
            seq,
            member_id: "01JD2Z3Q8M6V4T0X9K1N5R7B2C".into(),
            kind: EntryKind::Earn,
            points,
            balance_after: points,
            reason: None,
            source: Actor::System,
            reference: Some("order-1".into()),
            idempotency_key: None,
            reverses: None,
            reward_id: None,
            amount: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn overdraw_is_refused() {
        let a = account(10);
        assert_eq!(
            a.apply(EntryKind::Redeem, -10, None).map(|a| a.balance),
            Ok(0)
        );
        assert_eq!(
            a.apply(EntryKind::Redeem, -11, None),
            Err(DomainError::InsufficientPoints {
                balance: 10,
                change: -11
            })
        );
        assert!(a.apply(EntryKind::Adjust, -11, None).is_err());
        // Reversing an earn the member already spent is an overdraw too.
        assert!(
            account(3)
                .apply(EntryKind::Reversal, -5, Some(EntryKind::Earn))
                .is_err()
        );
    }

    #[test]
    fn lifetime_counts_earns_and_their_reversals_only() -> Result<(), DomainError> {
        let a = account(0).apply(EntryKind::Earn, 50, None)?;
        assert_eq!((a.balance, a.lifetime_earned), (50, 50));
        let a = a.apply(EntryKind::Redeem, -20, None)?;
        assert_eq!((a.balance, a.lifetime_earned), (30, 50));
        let a = a.apply(EntryKind::Adjust, 5, None)?;
        assert_eq!((a.balance, a.lifetime_earned), (35, 50));
        let a = a.apply(EntryKind::Reversal, -10, Some(EntryKind::Earn))?;
        assert_eq!((a.balance, a.lifetime_earned), (25, 40));
        let a = a.apply(EntryKind::Reversal, 20, Some(EntryKind::Redeem))?;
        assert_eq!((a.balance, a.lifetime_earned), (45, 40));
        Ok(())
    }

    #[test]
    fn blocked_members_cannot_earn_or_redeem_but_can_be_corrected() {
        let a = Account {
            blocked: true,
            ..account(10)
        };
        assert_eq!(
            a.apply(EntryKind::Earn, 1, None),
            Err(DomainError::MemberBlocked)
        );
        assert_eq!(
            a.apply(EntryKind::Redeem, -1, None),
            Err(DomainError::MemberBlocked)
        );
        assert!(a.apply(EntryKind::Adjust, -1, None).is_ok());
    }

    #[test]
    fn erased_accounts_take_no_entry_at_all() {
        let a = Account {
            erased: true,
            ..account(0)
        };
        for (kind, points, reversed) in [
            (EntryKind::Earn, 5, None),
            (EntryKind::Adjust, 5, None),
            (EntryKind::Reversal, 5, Some(EntryKind::Expire)),
            (EntryKind::Reversal, 5, Some(EntryKind::Redeem)),
        ] {
            assert_eq!(
                a.apply(kind, points, reversed),
                Err(DomainError::MemberErased),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(
            account(i64::MAX).apply(EntryKind::Adjust, 1, None),
            Err(DomainError::Overflow)
        );
    }

    #[test]
    fn change_sizes_are_checked() {
        assert_eq!(
            PointsChange::parse(EntryKind::Redeem, 5).map(|c| c.signed()),
            Ok(-5)
        );
        assert_eq!(
            PointsChange::parse(EntryKind::Adjust, -5).map(|c| c.signed()),
            Ok(-5)
        );
        assert!(PointsChange::parse(EntryKind::Earn, 0).is_err());
        assert!(PointsChange::parse(EntryKind::Earn, -1).is_err());
        assert!(PointsChange::parse(EntryKind::Adjust, 0).is_err());
        assert!(PointsChange::parse(EntryKind::Adjust, i64::MIN).is_err());
        assert!(PointsChange::parse(EntryKind::Earn, MAX_POINTS + 1).is_err());
        assert!(PointsChange::parse(EntryKind::Reversal, 1).is_err());
    }

    #[test]
    fn the_chain_detects_edits_and_reordering() {
        let e1 = LedgerEntry::seal(body(1, 10), GENESIS_HASH);
        let e2 = LedgerEntry::seal(body(2, 20), e1.hash);
        assert!(e1.hash_is_valid() && e2.hash_is_valid());
        assert_eq!(e2.prev_hash, e1.hash);
        assert_ne!(e1.hash, e2.hash);

        let mut edited = e2.clone();
        edited.body.points = 2000;
        assert!(!edited.hash_is_valid());

        // The same content after a different predecessor hashes differently.
        let moved = LedgerEntry::seal(body(2, 20), GENESIS_HASH);
        assert_ne!(moved.hash, e2.hash);
    }

    #[test]
    fn adjustments_need_a_reason() {
        assert!(parse_reason(EntryKind::Adjust, None).is_err());
        assert!(parse_reason(EntryKind::Adjust, Some("  ")).is_err());
        assert_eq!(
            parse_reason(EntryKind::Adjust, Some(" typo ")).map(|r| r.map(Reason::into_string)),
            Ok(Some("typo".into()))
        );
        assert_eq!(parse_reason(EntryKind::Earn, None), Ok(None));
    }

    #[test]
    fn reasons_refuse_hidden_characters_and_huge_text() {
        for bad in [
            "\u{1b}[2J\u{1b}[31mPWNED",
            "nul\u{0}byte",
            "right\u{202E}txt.exe",
            "zero\u{200B}width",
            "joined\u{200D}text",
        ] {
            assert!(
                parse_reason(EntryKind::Reversal, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
        let huge = "x".repeat(900 * 1024);
        assert!(parse_reason(EntryKind::Reversal, Some(&huge)).is_err());
        assert!(Reason::parse(&"x".repeat(Reason::MAX_CHARS)).is_ok());
        assert!(Reason::parse("Ελληνικά 中文 Türkçe").is_ok());
    }

    #[test]
    fn reversals_happen_once_and_are_final() {
        let earn = body(1, 10);
        assert!(check_reversible(&earn, false).is_ok());
        assert_eq!(
            check_reversible(&earn, true),
            Err(DomainError::AlreadyReversed(1))
        );
        let rev = EntryBody {
            kind: EntryKind::Reversal,
            ..body(2, -10)
        };
        assert_eq!(
            check_reversible(&rev, false),
            Err(DomainError::NotReversible(2))
        );
    }
}
