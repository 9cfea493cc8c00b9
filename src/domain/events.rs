//! Outbound events: what FealTY tells the owner's other tools (a plugin, an automation) when a
//! member joins or points change, how each delivery is signed, and when a failed one is tried
//! again. No HTTP or storage here.

use super::DomainError;
use std::time::Duration;
use time::OffsetDateTime;

/// Most endpoints an owner may register: each event is sent to every one.
pub const MAX_ENDPOINTS: usize = 5;

/// How long a delivery is retried before it is given up (and recorded as such).
pub const GIVE_UP: Duration = Duration::from_secs(24 * 3600);

/// The longest wait between two attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The header that carries `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "FealTY-Signature";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EventType {
    /// A member was created (at the till, through the API, by joining or by an import).
    #[serde(rename = "member.created")]
    MemberCreated,
    /// Points were earned.
    #[serde(rename = "points.earned")]
    PointsEarned,
    /// Points were redeemed.
    #[serde(rename = "points.redeemed")]
    PointsRedeemed,
    /// An earlier entry was reversed.
    #[serde(rename = "points.reversed")]
    PointsReversed,
}

impl EventType {
    /// The type as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MemberCreated => "member.created",
            Self::PointsEarned => "points.earned",
            Self::PointsRedeemed => "points.redeemed",
            Self::PointsReversed => "points.reversed",
        }
    }

    /// The event a ledger entry of `kind` raises; adjustments and expiries raise none.
    pub fn for_entry(kind: super::ledger::EntryKind) -> Option<EventType> {
        use super::ledger::EntryKind;
        match kind {
            EntryKind::Earn => Some(Self::PointsEarned),
            EntryKind::Redeem => Some(Self::PointsRedeemed),
            EntryKind::Reversal => Some(Self::PointsReversed),
            EntryKind::Adjust | EntryKind::Expire => None,
        }
    }
}

/// What an event says: only what a plugin needs to match the member and the order, no name,
/// email or phone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventData {
    /// The member's id.
    pub member_id: String,
    /// The member's card number.
    pub card_number: String,
    /// Points changed (signed); absent for `member.created`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    /// The balance after the change.
    pub balance_after: i64,
    /// The ledger entry's sequence number; absent for `member.created`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<u64>,
    /// The entry's outside reference (an order id), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The JSON body of an event: built once when it is queued, so every attempt and every
/// endpoint gets the same bytes.
pub fn body(id: &str, kind: EventType, at: OffsetDateTime, data: &EventData) -> String {
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "id": id,
        "type": kind.as_str(),
        "created_at": at,
        "data": data,
    })
    .to_string()
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds): HMAC-SHA256
/// under the endpoint's secret over `"{timestamp}.{body}"`, hex.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mac =
        crate::crypto::hmac_sha256_hex(secret.as_bytes(), format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={mac}")
}

/// The wait after `attempts` failed attempts (at least 1): `first`, doubling, at most
/// [`MAX_WAIT`].
pub fn retry_after(attempts: u32, first: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    first
        .saturating_mul(1u32 << doublings)
        .min(MAX_WAIT.max(first))
}

/// An endpoint's URL: http or https, with a host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    /// Parses a URL.
    pub fn parse(raw: &str) -> Result<EndpointUrl, DomainError> {
        super::text::web_address("url", raw).map(EndpointUrl)
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet delivered; tried again at `next_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Failed for [`GIVE_UP`], or dropped from a full outbox; no more attempts.
    GaveUp,
}

impl DeliveryState {
    /// For people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::GaveUp => "gave up",
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The endpoint's id.
    pub endpoint: String,
    /// The event's id (the receiver dedupes by it).
    pub event_id: String,
    /// The event's type.
    pub kind: EventType,
    /// The body sent.
    pub body: String,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt, while pending.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_at: Option<OffsetDateTime>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl Delivery {
    /// A delivery due at once.
    pub fn new(
        endpoint: &str,
        event_id: &str,
        kind: EventType,
        body: &str,
        now: OffsetDateTime,
    ) -> Delivery {
        Delivery {
            endpoint: endpoint.to_owned(),
            event_id: event_id.to_owned(),
            kind,
            body: body.to_owned(),
            created: now,
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: Some(now),
            last_error: None,
        }
    }

    /// Records an attempt at `now`: delivered, or failed with `error` (tried again after
    /// [`retry_after`], or given up once the next try would come after [`GIVE_UP`]).
    pub fn attempted(&mut self, now: OffsetDateTime, error: Option<String>, first: Duration) {
        self.attempts = self.attempts.saturating_add(1);
        match error {
            None => {
                self.state = DeliveryState::Delivered;
                self.next_at = None;
            }
            Some(e) => {
                self.last_error = Some(e);
                let next = now + retry_after(self.attempts, first);
                if next - self.created > GIVE_UP {
                    self.state = DeliveryState::GaveUp;
                    self.next_at = None;
                } else {
                    self.next_at = Some(next);
                }
            }
        }
    }

    /// Gives up without another attempt (the outbox is full or the endpoint was removed).
    pub fn give_up(&mut self, why: &str) {
        self.state = DeliveryState::GaveUp;
        self.next_at = None;
        self.last_error = Some(why.to_owned());
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn signature_is_hmac_over_timestamp_dot_body() {
        // Worked independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(sig, signature("whsec_other", 1_700_000_000, r#"{"a":1}"#));
        assert_ne!(sig, signature("whsec_test", 1_700_000_001, r#"{"a":1}"#));
    }

    #[test]
    fn backoff_doubles_to_an_hour() {
        let first = Duration::from_secs(30);
        assert_eq!(retry_after(1, first), Duration::from_secs(30));
        assert_eq!(retry_after(2, first), Duration::from_secs(60));
        assert_eq!(retry_after(4, first), Duration::from_secs(240));
        assert_eq!(retry_after(9, first), MAX_WAIT);
        assert_eq!(retry_after(u32::MAX, first), MAX_WAIT);
    }

    #[test]
    fn failures_are_retried_for_a_day_then_given_up() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let mut d = Delivery::new("ep", "evt_1", EventType::PointsEarned, "{}", t0);
        let mut now = t0;
        let mut attempts = 0;
        while d.state == DeliveryState::Pending {
            d.attempted(now, Some("500".into()), Duration::from_secs(30));
            attempts += 1;
            if let Some(next) = d.next_at {
                assert!(next > now);
                now = next;
            }
        }
        assert_eq!(d.state, DeliveryState::GaveUp);
        assert!(now - t0 <= GIVE_UP);
        assert!(now - t0 > GIVE_UP - time::Duration::hours(1));
        assert!((20..40).contains(&attempts), "{attempts}");
        assert_eq!(d.last_error.as_deref(), Some("500"));
    }

    #[test]
    fn success_ends_the_delivery() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let mut d = Delivery::new("ep", "evt_1", EventType::MemberCreated, "{}", t0);
        d.attempted(t0, Some("refused".into()), Duration::from_secs(30));
        d.attempted(
            t0 + time::Duration::seconds(30),
            None,
            Duration::from_secs(30),
        );
        assert_eq!(d.state, DeliveryState::Delivered);
        assert_eq!(d.attempts, 2);
        assert_eq!(d.next_at, None);
    }

    #[test]
    fn body_has_id_type_time_and_data_only() {
        let data = EventData {
            member_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            card_number: "100000000009".into(),
            points: Some(12),
            balance_after: 40,
            entry: Some(7),
            reference: Some("order-1".into()),
        };
        let b = body(
            "evt_1",
            EventType::PointsEarned,
            datetime!(2026-01-01 12:00 UTC),
            &data,
        );
        let v: serde_json::Value = serde_json::from_str(&b).expect("json");
        assert_eq!(v["id"], "evt_1");
        assert_eq!(v["type"], "points.earned");
        assert_eq!(v["created_at"], "2026-01-01T12:00:00Z");
        assert_eq!(v["data"]["points"], 12);
        assert_eq!(v["data"]["balance_after"], 40);
        assert_eq!(v["data"]["reference"], "order-1");
        assert_eq!(v["data"].as_object().map(|o| o.len()), Some(6));
    }

    #[test]
    fn urls_need_http_and_a_host() {
        for ok in ["https://example.com/hook", "http://127.0.0.1:9000/x"] {
            assert!(EndpointUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ftp://example.com",
            "example.com",
            "https://",
            "https://:80/x",
            "https://a b",
        ] {
            assert!(EndpointUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
